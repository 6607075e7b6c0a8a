//! Unit tests for plugins, run natively with `cargo test`.
//!
//! Off WebAssembly, [`config`](crate::config), [`kv`](crate::kv),
//! [`log`](crate::log) and [`now_ms`](crate::now_ms) work on an in-memory
//! stand-in for paywatch, one per thread. This module sets it up and reads
//! it back. Start each test with [`clear`]: a test thread may have run
//! another test before.
//!
//! ```
//! use paywatch_plugin::{config, log, testing, Event, Verdict};
//! use serde_json::json;
//!
//! fn on_event(event: &Event) -> Result<Verdict, String> {
//!     let sinks: Option<Vec<String>> = config("sinks")?;
//!     log::info(&format!("forwarding {}", event.id));
//!     Ok(Verdict::forward(sinks))
//! }
//!
//! testing::clear();
//! testing::set_config(json!({"sinks": ["shop"]}));
//! let verdict = on_event(&testing::sample_event()).unwrap();
//! assert_eq!(verdict, Verdict::forward_to(["shop"]));
//! assert_eq!(testing::logs().len(), 1);
//! ```

use crate::host::fake;
use crate::log::Level;
use crate::Event;

/// The event of the ABI's example: 125.5 USDT (`amount` `"125500000"` in
/// base units, `asset.decimals` 6) in to a TRON address, in block 71234567,
/// watch label `order-42`. Change its fields to make the event a test needs;
/// `amount` is in base units of the asset's `decimals`.
pub const SAMPLE_EVENT: &str = r#"{
  "id": "tron:6c3f2d:1:in:9a1b2c3d4e5f6071:detected",
  "type": "payment.detected",
  "seq": 1042,
  "chain": "tron",
  "network": "mainnet",
  "direction": "in",
  "address": "TXYZ9w2bBfV4H6jTqJtG6Gx1v1Uy5kP8aQ",
  "counterparty": "TP4MZM8iDVEfRbtbvcidqVQBt4SQ9Pfi8R",
  "txid": "6c3f2d",
  "index": 1,
  "block": { "height": 71234567, "hash": "00000000043ee5c79a1b2c3d4e5f6071", "time": 1763700000 },
  "confirmations": 1,
  "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
  "amount": "125500000",
  "watch": { "label": "order-42", "metadata": { "order": 42 } },
  "risk": { "flags": [] },
  "delayed": 0
}"#;

/// [`SAMPLE_EVENT`], parsed.
pub fn sample_event() -> Event {
    serde_json::from_str(SAMPLE_EVENT).expect("SAMPLE_EVENT is a valid event")
}

/// The ABI's example of an address event: Tether froze the watched TRON
/// address of [`SAMPLE_EVENT`] (`address.frozen`, no `direction`, `amount`
/// or `counterparty`), in block 71251876, watch label `order-42`.
pub const SAMPLE_ADDRESS_EVENT: &str = r#"{
  "id": "tron:3b1f0c:2:frozen:5a6b7c8d9e0f1a2b:frozen",
  "type": "address.frozen",
  "seq": 2305,
  "chain": "tron",
  "network": "mainnet",
  "address": "TXYZ9w2bBfV4H6jTqJtG6Gx1v1Uy5kP8aQ",
  "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
  "txid": "3b1f0c",
  "index": 2,
  "block": { "height": 71251876, "hash": "00000000043f38a45a6b7c8d9e0f1a2b", "time": 1763751942 },
  "watch": { "label": "order-42", "metadata": { "order": 42 } },
  "delayed": 0
}"#;

/// [`SAMPLE_ADDRESS_EVENT`], parsed.
pub fn sample_address_event() -> Event {
    serde_json::from_str(SAMPLE_ADDRESS_EVENT).expect("SAMPLE_ADDRESS_EVENT is a valid event")
}

/// Forgets the configuration, the log, the store and a set time.
pub fn clear() {
    fake::reset();
    crate::config::forget_settings();
}

/// Sets the plugin's configuration, a JSON object whose keys
/// [`config`](crate::config) reads.
pub fn set_config(config: serde_json::Value) {
    fake::with(|f| f.config = config);
}

/// The lines logged since the last [`clear`] or [`take_logs`], oldest
/// first.
pub fn logs() -> Vec<(Level, String)> {
    fake::with(|f| f.logs.clone())
}

/// Like [`logs`], and forgets them.
pub fn take_logs() -> Vec<(Level, String)> {
    fake::with(|f| std::mem::take(&mut f.logs))
}

/// Makes [`now_ms`](crate::now_ms) return `ms` until it is set again or
/// [`clear`]ed.
pub fn set_now_ms(ms: u64) {
    fake::with(|f| f.now_ms = Some(ms));
}

/// Moves the time [`now_ms`](crate::now_ms) returns forward by `ms`; from
/// the system clock's time if none was set.
pub fn advance_ms(ms: u64) {
    fake::with(|f| {
        let now = f.now_ms.unwrap_or_else(fake::system_ms);
        f.now_ms = Some(now.saturating_add(ms));
    });
}

/// Everything in the plugin's store, in key order.
pub fn kv_entries() -> Vec<(String, Vec<u8>)> {
    fake::with(|f| f.kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Sets how many bytes (keys and values) the store holds before
/// [`KvError::StoreFull`](crate::kv::KvError::StoreFull); 16 MiB, paywatch's
/// default, until then.
pub fn set_kv_quota(bytes: usize) {
    fake::with(|f| f.kv_quota = bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config, config_raw, kv, log, now_ms};
    use serde_json::json;

    #[test]
    fn clear_forgets_everything() {
        set_config(json!({"a": 1}));
        log::info("hello");
        kv::set("k", b"v").unwrap();
        set_now_ms(5);
        clear();
        assert_eq!(config_raw("a"), None);
        assert!(logs().is_empty());
        assert!(kv_entries().is_empty());
        assert_ne!(now_ms(), 5);
    }

    #[test]
    fn the_sample_event_is_125_5_usdt() {
        let event = sample_event();
        assert_eq!(event.asset.symbol, "USDT");
        assert_eq!(event.asset.decimals, 6);
        assert_eq!(event.amount, "125500000");
        assert_eq!(event.amount_decimal().as_deref(), Some("125.5"));
        assert!(!event.risk.is_flagged());
    }

    #[test]
    fn the_sample_address_event_freezes_the_sample_address() {
        let event = sample_address_event();
        assert!(event.is_address() && event.kind == crate::ADDRESS_FROZEN);
        assert_eq!(event.address, sample_event().address);
        assert_eq!((event.direction.as_str(), event.amount.as_str()), ("", ""));
        assert_eq!(event.destroyed, None);
    }

    #[test]
    fn config_reads_keys_of_the_object() {
        clear();
        set_config(json!({"min": {"USDT": "10"}, "n": 3}));
        assert_eq!(config_raw("min").as_deref(), Some(r#"{"USDT":"10"}"#));
        assert_eq!(config::<u32>("n"), Ok(Some(3)));
        assert_eq!(config::<u32>("absent"), Ok(None));
        let err = config::<String>("n").unwrap_err();
        assert_eq!(err.key, "n");
        assert!(
            err.to_string().starts_with("config `n`: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn logs_keep_level_and_order() {
        clear();
        log::error("e");
        log::warn("w");
        log::info("i");
        log::debug("d");
        assert_eq!(
            take_logs(),
            [
                (Level::Error, "e".to_string()),
                (Level::Warn, "w".to_string()),
                (Level::Info, "i".to_string()),
                (Level::Debug, "d".to_string()),
            ]
        );
        assert!(logs().is_empty());
    }

    #[test]
    fn time_can_be_set_and_advanced() {
        clear();
        set_now_ms(1_000);
        advance_ms(500);
        assert_eq!(now_ms(), 1_500);
    }
}
