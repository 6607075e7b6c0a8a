//! The plugin's key-value store.
//!
//! The store belongs to the plugin (no other plugin sees it) and survives
//! restarts of paywatch. Keys are at most 256 bytes, values at most 64 KiB,
//! and a plugin stores at most its quota (`kv_quota_mib` in its `[[plugin]]`
//! section, 16 MiB unless configured).
//!
//! ```
//! use paywatch_plugin::kv;
//!
//! kv::set("last-seq", &1042u64.to_le_bytes())?;
//! assert_eq!(kv::get("last-seq"), Some(1042u64.to_le_bytes().to_vec()));
//! kv::delete("last-seq")?;
//! assert_eq!(kv::get("last-seq"), None);
//! # Ok::<(), kv::KvError>(())
//! ```

use crate::host;
use std::fmt;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = host::MAX_KEY_LEN;
/// The largest value, in bytes.
pub const MAX_VALUE_LEN: usize = host::MAX_VALUE_LEN;

/// Why the store refused a write or a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvError {
    /// The key is longer than [`MAX_KEY_LEN`] or the value larger than
    /// [`MAX_VALUE_LEN`].
    TooLarge,
    /// The plugin's store is full (its `kv_quota_mib`).
    StoreFull,
    /// paywatch refused the arguments.
    BadArgument,
    /// An error code this SDK does not know.
    Other(i32),
}

impl KvError {
    fn from_code(code: i32) -> Self {
        match code {
            host::TOO_LARGE => KvError::TooLarge,
            host::STORE_FULL => KvError::StoreFull,
            host::BAD_ARGUMENT => KvError::BadArgument,
            other => KvError::Other(other),
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::TooLarge => write!(
                f,
                "key or value too large (at most {MAX_KEY_LEN} and {MAX_VALUE_LEN} bytes)"
            ),
            KvError::StoreFull => f.write_str("the plugin's store is full"),
            KvError::BadArgument => f.write_str("paywatch refused the arguments"),
            KvError::Other(code) => write!(f, "store error code {code}"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<KvError> for String {
    fn from(e: KvError) -> String {
        e.to_string()
    }
}

/// The value stored under `key`, `None` when there is none (or the key is
/// longer than [`MAX_KEY_LEN`]).
pub fn get(key: &str) -> Option<Vec<u8>> {
    host::kv_get(key).ok()
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    match host::kv_set(key, value) {
        0 => Ok(()),
        code => Err(KvError::from_code(code)),
    }
}

/// Removes `key`; succeeds also when there was nothing under it.
pub fn delete(key: &str) -> Result<(), KvError> {
    match host::kv_delete(key) {
        0 => Ok(()),
        code => Err(KvError::from_code(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn keeps_the_hosts_limits() {
        testing::clear();
        let long_key = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(set(&long_key, b"v"), Err(KvError::TooLarge));
        assert_eq!(get(&long_key), None);
        assert_eq!(delete(&long_key), Err(KvError::TooLarge));
        assert_eq!(
            set("k", &vec![0; MAX_VALUE_LEN + 1]),
            Err(KvError::TooLarge)
        );
        assert_eq!(set("k", &vec![0; MAX_VALUE_LEN]), Ok(()));
    }

    #[test]
    fn counts_the_quota() {
        testing::clear();
        testing::set_kv_quota(10);
        assert_eq!(set("a", b"12345"), Ok(()));
        assert_eq!(set("b", b"12345"), Err(KvError::StoreFull));
        // Replacing a value frees the old one first.
        assert_eq!(set("a", b"123456789"), Ok(()));
        assert_eq!(delete("a"), Ok(()));
        assert_eq!(delete("a"), Ok(()));
        assert_eq!(set("b", b"12345"), Ok(()));
    }
}
