//! The glue that [`export_plugin!`](crate::export_plugin) puts between
//! paywatch's calls and the plugin's functions: buffers handed to paywatch,
//! the event read, the verdict written and kept until the next call, and
//! failures turned into the ABI's negative codes.

use crate::{log, Event, Verdict};
use std::cell::RefCell;

/// The signature of a plugin's event handler.
pub type EventHandler = fn(&Event) -> Result<Verdict, String>;
/// The signature of a plugin's init function.
pub type InitHandler = fn() -> Result<(), String>;

/// Returned when the plugin's function gave an error.
pub const ERR_HANDLER: i32 = -1;
/// Returned when the input was not what the ABI promises.
pub const ERR_INPUT: i32 = -2;
/// Returned when the verdict could not be written.
pub const ERR_VERDICT: i32 = -3;

thread_local! {
    /// Buffers `alloc` handed to paywatch and not taken back yet.
    static HANDED_OUT: RefCell<Vec<*mut [u8]>> = const { RefCell::new(Vec::new()) };
    /// The last verdict's JSON; paywatch reads it after the call returns.
    static VERDICT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The init function of a plugin that has none.
pub fn no_init() -> Result<(), String> {
    Ok(())
}

/// Allocates `len` zeroed bytes for paywatch to write into; null when the
/// memory cannot be had.
pub fn alloc_buffer(len: usize) -> *mut u8 {
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        return std::ptr::null_mut();
    }
    buf.resize(len, 0u8);
    let raw = Box::into_raw(buf.into_boxed_slice());
    HANDED_OUT.with(|out| out.borrow_mut().push(raw));
    raw.cast()
}

/// Takes back a buffer [`alloc_buffer`] handed out at `ptr`, to be freed
/// when dropped; `None` when no buffer starts there or it is shorter than
/// `len`.
pub fn take_buffer(ptr: *const u8, len: usize) -> Option<Box<[u8]>> {
    let raw = HANDED_OUT.with(|out| {
        let mut out = out.borrow_mut();
        let at = out
            .iter()
            .position(|&raw| raw.cast_const().cast::<u8>() == ptr && len <= raw.len())?;
        Some(out.swap_remove(at))
    })?;
    // SAFETY: `raw` came from `Box::into_raw` in `alloc_buffer` and has just
    // left the list, so the box is rebuilt once.
    Some(unsafe { Box::from_raw(raw) })
}

/// Reads the event in `input`, calls `handler` and writes its verdict; the
/// verdict's JSON stays at the returned address until the next call.
pub fn handle_event(input: &[u8], handler: EventHandler) -> Result<(*const u8, usize), i32> {
    let event: Event = serde_json::from_slice(input).map_err(|e| {
        log::error(&format!("the event cannot be read: {e}"));
        ERR_INPUT
    })?;
    let verdict = handler(&event).map_err(|msg| {
        log::error(&msg);
        ERR_HANDLER
    })?;
    VERDICT.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        match serde_json::to_writer(&mut *buf, &verdict) {
            Ok(()) => Ok((buf.as_ptr(), buf.len())),
            Err(e) => {
                log::error(&format!("the verdict cannot be written: {e}"));
                Err(ERR_VERDICT)
            }
        }
    })
}

/// Calls the plugin's `init`; `0` on success. Off WebAssembly, the
/// configuration in `input` becomes what [`config`](crate::config) reads;
/// on WebAssembly, `config` asks paywatch.
pub fn handle_init(input: &[u8], init: InitHandler) -> i32 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let config = if input.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_slice(input) {
                Ok(config) => config,
                Err(e) => {
                    log::error(&format!("the configuration cannot be read: {e}"));
                    return ERR_INPUT;
                }
            }
        };
        crate::host::fake::with(|fake| fake.config = config);
    }
    #[cfg(target_arch = "wasm32")]
    let _ = input;
    match init() {
        Ok(()) => 0,
        Err(msg) => {
            log::error(&msg);
            ERR_HANDLER
        }
    }
}

/// `on_event`'s return value for a verdict at `ptr`, `len` bytes long.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (i64::from(ptr) << 32) | i64::from(len)
}

/// The `alloc` export.
#[cfg(target_arch = "wasm32")]
pub fn alloc(len: i32) -> i32 {
    match usize::try_from(len) {
        Ok(len) => alloc_buffer(len) as i32,
        Err(_) => 0,
    }
}

/// The `init` export.
#[cfg(target_arch = "wasm32")]
pub fn init(ptr: i32, len: i32, init: InitHandler) -> i32 {
    match input(ptr, len) {
        Ok(buf) => handle_init(&buf[..len as usize], init),
        Err(code) => code,
    }
}

/// The `on_event` export.
#[cfg(target_arch = "wasm32")]
pub fn on_event(ptr: i32, len: i32, handler: EventHandler) -> i64 {
    let buf = match input(ptr, len) {
        Ok(buf) => buf,
        Err(code) => return code.into(),
    };
    match handle_event(&buf[..len as usize], handler) {
        Ok((verdict, verdict_len)) => pack(verdict as u32, verdict_len as u32),
        Err(code) => code.into(),
    }
}

/// The buffer paywatch wrote the input into; freed when dropped.
#[cfg(target_arch = "wasm32")]
fn input(ptr: i32, len: i32) -> Result<Box<[u8]>, i32> {
    usize::try_from(len)
        .ok()
        .and_then(|len| take_buffer(ptr as u32 as *const u8, len))
        .ok_or_else(|| {
            log::error(&format!(
                "the input at {ptr} ({len} bytes) is not in a buffer from `alloc`"
            ));
            ERR_INPUT
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use crate::testing;

    fn forward(_: &Event) -> Result<Verdict, String> {
        Ok(Verdict::forward_to(["shop"]))
    }

    fn fail(event: &Event) -> Result<Verdict, String> {
        Err(format!("cannot decide on {}", event.id))
    }

    fn verdict_at((ptr, len): (*const u8, usize)) -> Verdict {
        // SAFETY: the verdict buffer is not touched until the next call.
        let json = unsafe { std::slice::from_raw_parts(ptr, len) };
        serde_json::from_slice(json).expect("the verdict is JSON")
    }

    #[test]
    fn buffers_go_out_and_come_back_once() {
        let ptr = alloc_buffer(4);
        assert!(!ptr.is_null());
        // SAFETY: the buffer is 4 bytes long; paywatch writes into it.
        unsafe { ptr.copy_from_nonoverlapping(b"abcd".as_ptr(), 4) };
        assert!(take_buffer(ptr, 5).is_none(), "longer than the buffer");
        let buf = take_buffer(ptr, 3).expect("handed out");
        assert_eq!(&buf[..], b"abcd");
        assert!(take_buffer(ptr, 3).is_none(), "taken back already");
        assert!(take_buffer(b"x".as_ptr(), 1).is_none(), "never handed out");
        let empty = alloc_buffer(0);
        assert_eq!(take_buffer(empty, 0).as_deref(), Some(&[][..]));
    }

    #[test]
    fn a_verdict_is_written_as_json() {
        testing::clear();
        let out = handle_event(testing::SAMPLE_EVENT.as_bytes(), forward).unwrap();
        assert_eq!(verdict_at(out), Verdict::forward_to(["shop"]));
    }

    #[test]
    fn a_bad_event_is_code_minus_2() {
        testing::clear();
        assert_eq!(handle_event(b"{\"id\": 1}", forward), Err(-2));
        let logs = testing::logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, Level::Error);
        assert!(
            logs[0].1.starts_with("the event cannot be read"),
            "{logs:?}"
        );
    }

    #[test]
    fn a_handler_error_is_logged_and_code_minus_1() {
        testing::clear();
        assert_eq!(
            handle_event(testing::SAMPLE_EVENT.as_bytes(), fail),
            Err(-1)
        );
        let want = format!("cannot decide on {}", testing::sample_event().id);
        assert_eq!(testing::logs(), [(Level::Error, want)]);
    }

    #[test]
    fn init_stores_the_configuration() {
        fn init() -> Result<(), String> {
            match crate::config::<u32>("n")? {
                Some(n) if n > 0 => Ok(()),
                _ => Err("`n` must be set and above 0".into()),
            }
        }
        testing::clear();
        assert_eq!(handle_init(br#"{"n": 3}"#, init), 0);
        assert_eq!(handle_init(br#"{"n": 0}"#, init), -1);
        assert_eq!(handle_init(b"", init), -1);
        assert_eq!(handle_init(b"{", init), -2);
        assert_eq!(handle_init(b"", no_init), 0);
    }

    #[test]
    fn pack_puts_the_pointer_high() {
        assert_eq!(pack(0x10, 0x20), 0x10_0000_0020);
        assert_eq!(pack(0x7fff_ffff, u32::MAX), 0x7fff_ffff_ffff_ffff);
    }
}
