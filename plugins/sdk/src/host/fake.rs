//! An in-memory stand-in for paywatch, one per thread, so that a plugin's
//! unit tests run natively. It keeps paywatch's limits and error codes;
//! `testing` sets it up and reads it.

use super::{ABSENT, MAX_KEY_LEN, MAX_VALUE_LEN, STORE_FULL, TOO_LARGE};
use crate::log::Level;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// paywatch's default store quota (`kv_quota_mib = 16`).
pub(crate) const DEFAULT_KV_QUOTA: usize = 16 * 1024 * 1024;

pub(crate) struct Fake {
    pub(crate) config: serde_json::Value,
    pub(crate) logs: Vec<(Level, String)>,
    pub(crate) kv: BTreeMap<String, Vec<u8>>,
    /// Bytes of keys and values stored.
    pub(crate) kv_used: usize,
    pub(crate) kv_quota: usize,
    /// The time `now_ms` returns; the system clock when `None`.
    pub(crate) now_ms: Option<u64>,
}

impl Fake {
    const fn new() -> Self {
        Fake {
            config: serde_json::Value::Null,
            logs: Vec::new(),
            kv: BTreeMap::new(),
            kv_used: 0,
            kv_quota: DEFAULT_KV_QUOTA,
            now_ms: None,
        }
    }
}

thread_local! {
    static FAKE: RefCell<Fake> = const { RefCell::new(Fake::new()) };
}

/// Runs `f` on this thread's stand-in.
pub(crate) fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
    FAKE.with(|fake| f(&mut fake.borrow_mut()))
}

/// Puts this thread's stand-in back as it was at the start.
pub(crate) fn reset() {
    with(|fake| *fake = Fake::new());
}

pub(crate) fn log(level: Level, msg: &str) {
    // Shown with a failing test's output.
    eprintln!("[plugin {}] {msg}", level.name());
    with(|fake| fake.logs.push((level, msg.to_owned())));
}

pub(crate) fn config_get(key: &str) -> Result<Vec<u8>, i32> {
    with(|fake| match fake.config.get(key) {
        Some(value) => Ok(serde_json::to_vec(value).expect("a JSON value always serializes")),
        None => Err(ABSENT),
    })
}

pub(crate) fn kv_get(key: &str) -> Result<Vec<u8>, i32> {
    if key.len() > MAX_KEY_LEN {
        return Err(TOO_LARGE);
    }
    with(|fake| fake.kv.get(key).cloned().ok_or(ABSENT))
}

pub(crate) fn kv_set(key: &str, value: &[u8]) -> i32 {
    if key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
        return TOO_LARGE;
    }
    with(|fake| {
        let old = fake.kv.get(key).map_or(0, |v| key.len() + v.len());
        let used = fake.kv_used - old + key.len() + value.len();
        if used > fake.kv_quota {
            return STORE_FULL;
        }
        fake.kv.insert(key.to_owned(), value.to_vec());
        fake.kv_used = used;
        0
    })
}

pub(crate) fn kv_delete(key: &str) -> i32 {
    if key.len() > MAX_KEY_LEN {
        return TOO_LARGE;
    }
    with(|fake| {
        if let Some(old) = fake.kv.remove(key) {
            fake.kv_used -= key.len() + old.len();
        }
        0
    })
}

pub(crate) fn now_ms() -> i64 {
    let ms = with(|fake| fake.now_ms).unwrap_or_else(system_ms);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

pub(crate) fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
