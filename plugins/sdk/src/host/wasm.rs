//! The `paywatch` imports. Only the ones a plugin calls end up in its
//! module: the linker drops the rest.

use crate::log::Level;

#[link(wasm_import_module = "paywatch")]
unsafe extern "C" {
    #[link_name = "log"]
    fn paywatch_log(level: i32, ptr: *const u8, len: usize);
    #[link_name = "config_get"]
    fn paywatch_config_get(key_ptr: *const u8, key_len: usize, out: *mut u8, cap: usize) -> i32;
    #[link_name = "kv_get"]
    fn paywatch_kv_get(key_ptr: *const u8, key_len: usize, out: *mut u8, cap: usize) -> i32;
    #[link_name = "kv_set"]
    fn paywatch_kv_set(
        key_ptr: *const u8,
        key_len: usize,
        val_ptr: *const u8,
        val_len: usize,
    ) -> i32;
    #[link_name = "kv_delete"]
    fn paywatch_kv_delete(key_ptr: *const u8, key_len: usize) -> i32;
    #[link_name = "now_ms"]
    fn paywatch_now_ms() -> i64;
}

/// A first guess at a value's size; larger values take a second call.
const FIRST_READ: usize = 512;

pub(crate) fn log(level: Level, msg: &str) {
    // SAFETY: `msg` is valid for `len` bytes for the duration of the call.
    unsafe { paywatch_log(level as i32, msg.as_ptr(), msg.len()) }
}

pub(crate) fn config_get(key: &str) -> Result<Vec<u8>, i32> {
    // SAFETY: the key and the buffer are valid for the stated lengths.
    read(|out, cap| unsafe { paywatch_config_get(key.as_ptr(), key.len(), out, cap) })
}

pub(crate) fn kv_get(key: &str) -> Result<Vec<u8>, i32> {
    // SAFETY: the key and the buffer are valid for the stated lengths.
    read(|out, cap| unsafe { paywatch_kv_get(key.as_ptr(), key.len(), out, cap) })
}

pub(crate) fn kv_set(key: &str, value: &[u8]) -> i32 {
    // SAFETY: the key and the value are valid for the stated lengths.
    unsafe { paywatch_kv_set(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
}

pub(crate) fn kv_delete(key: &str) -> i32 {
    // SAFETY: the key is valid for the stated length.
    unsafe { paywatch_kv_delete(key.as_ptr(), key.len()) }
}

pub(crate) fn now_ms() -> i64 {
    // SAFETY: takes no arguments.
    unsafe { paywatch_now_ms() }
}

/// Reads a value with the host's convention: the call returns the value's
/// length, and writes the value only when it fits in the buffer; otherwise
/// the call is made again with a buffer of that length.
fn read(call: impl Fn(*mut u8, usize) -> i32) -> Result<Vec<u8>, i32> {
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_READ);
    // A value does not change between the two calls (the plugin is the only
    // writer of its store); the bound only guards against a host that
    // misreports lengths.
    for _ in 0..3 {
        let len = call(buf.as_mut_ptr(), buf.capacity());
        let len = usize::try_from(len).map_err(|_| len)?;
        if len <= buf.capacity() {
            // SAFETY: the host wrote `len` bytes at the start of the buffer.
            unsafe { buf.set_len(len) };
            return Ok(buf);
        }
        buf.reserve_exact(len);
    }
    Err(super::TOO_LARGE)
}
