//! The time, from paywatch's clock.

use crate::host;

/// Milliseconds since the Unix epoch.
///
/// In native tests this is the system clock unless
/// [`testing::set_now_ms`](crate::testing::set_now_ms) set it.
pub fn now_ms() -> u64 {
    u64::try_from(host::now_ms()).unwrap_or(0)
}
