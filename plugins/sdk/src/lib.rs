//! Write paywatch plugins in Rust.
//!
//! A paywatch plugin is a WebAssembly module that paywatch calls once for
//! every payment event. It reads the [`Event`] and answers with a
//! [`Verdict`]: forward the event to some sinks, drop it, or hold it back for
//! a while. The plugin does no I/O itself; paywatch delivers, signs and
//! retries. The interface is described in `plugins/ABI.md` (ABI version 1);
//! this crate implements it, so a plugin is one function:
//!
//! ```
//! use paywatch_plugin::{export_plugin, Event, Verdict};
//!
//! export_plugin!(on_event);
//!
//! fn on_event(event: &Event) -> Result<Verdict, String> {
//!     if event.is_reorged() || event.asset.symbol == "USDT" {
//!         Ok(Verdict::forward_all())
//!     } else {
//!         Ok(Verdict::drop(format!("{} is not USDT", event.asset.symbol)))
//!     }
//! }
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip1` (or `wasm32-unknown-unknown`)
//! and name the `.wasm` file in a `[[plugin]]` section of paywatch's
//! configuration.
//!
//! # What the SDK gives a plugin
//!
//! - [`Event`] and [`Verdict`], the input and the output of a call; an
//!   event's [`Risk`] tells what paywatch's risk screening flagged;
//! - [`export_plugin!`], which exports the functions paywatch calls;
//! - [`config`] and [`config_raw`], the plugin's configuration;
//! - [`kv`], a key-value store that belongs to the plugin and survives
//!   restarts;
//! - [`log`], lines in paywatch's log under the plugin's name;
//! - [`now_ms`], the time;
//! - [`amount`], exact conversion and comparison of amounts: an event's
//!   amount is an integer in the asset's base units (satoshi, wei, …), which
//!   [`Event::amount_decimal`] and [`Event::amount_cmp`] read in whole units.
//!
//! # Testing a plugin
//!
//! On the WebAssembly target the functions above call paywatch. On any other
//! target they work on an in-memory stand-in, one per thread, that the
//! [`testing`] module sets up and inspects, so a plugin's unit tests run
//! with a plain `cargo test`:
//!
//! ```
//! use paywatch_plugin::{testing, Event, Verdict};
//!
//! fn on_event(_event: &Event) -> Result<Verdict, String> {
//!     Ok(Verdict::forward_all())
//! }
//!
//! testing::clear();
//! let event = testing::sample_event();
//! assert_eq!(on_event(&event), Ok(Verdict::forward_all()));
//! ```

pub mod amount;
mod clock;
mod config;
mod event;
mod export;
// The glue between paywatch's calls and the plugin's functions, used by
// `export_plugin!`; not part of the API.
#[doc(hidden)]
#[path = "rt.rs"]
pub mod __rt;
mod host;
pub mod kv;
pub mod log;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod verdict;

pub use clock::now_ms;
pub use config::{config, config_raw, load_settings, settings, ConfigError};
pub use event::{
    Asset, Block, Event, Mempool, Risk, RiskFlag, Watch, ADDRESS_FROZEN, ADDRESS_UNFROZEN,
    CONFIRMED, DETECTED, DOUBLE_SPENT, DROPPED, FLAGGED, MEMPOOL, REORGED, REPLACED,
};
pub use verdict::{IntoMillis, Verdict, MAX_DELAYS, MAX_DELAY_MS};

/// The plugin ABI version this SDK implements; a plugin built with it
/// exports `paywatch_abi_v1`.
pub const ABI_VERSION: u32 = 1;
