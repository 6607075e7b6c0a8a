//! The raw host calls, in one place: paywatch's `paywatch` imports on
//! WebAssembly, an in-memory stand-in elsewhere. The public modules (`log`,
//! `kv`, `config`, `clock`) are built on these and never on the imports.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod fake;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use fake::{config_get, kv_delete, kv_get, kv_set, log, now_ms};
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{config_get, kv_delete, kv_get, kv_set, log, now_ms};

/// Host error code: no such key.
pub(crate) const ABSENT: i32 = -1;
/// Host error code: a range outside memory, a key that is not UTF-8.
pub(crate) const BAD_ARGUMENT: i32 = -2;
/// Host error code: a key or value over its limit.
pub(crate) const TOO_LARGE: i32 = -3;
/// Host error code: the plugin's store is full.
pub(crate) const STORE_FULL: i32 = -4;

/// The longest key paywatch's store takes, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 256;
/// The largest value paywatch's store takes, in bytes.
pub(crate) const MAX_VALUE_LEN: usize = 64 * 1024;
