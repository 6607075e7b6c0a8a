//! Lines in paywatch's log, under the plugin's name.
//!
//! paywatch cuts a line at 4 KiB and keeps at most 100 lines a second per
//! plugin, so log what helps an operator, not every event.
//!
//! ```
//! use paywatch_plugin::log;
//! log::warn("no `min` configured: every event is forwarded");
//! ```

use crate::host;

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    /// The level's name in lower case: `error`, `warn`, `info`, `debug`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Logs `msg` at `level`.
pub fn log(level: Level, msg: &str) {
    host::log(level, msg);
}

/// Logs an error.
pub fn error(msg: &str) {
    log(Level::Error, msg);
}

/// Logs a warning.
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

/// Logs an informational line.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Logs a debugging line; paywatch shows it only when its log level asks.
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}
