//! Example plugin: limits how many events per minute go out for each
//! address, holding back the rest so that none is lost.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! max_per_minute = 10   # optional, 10 when left out
//! sinks = ["shop"]      # optional; every sink when left out
//! ```
//!
//! Each chain and address has a one-minute window, opened by its first
//! event and kept in the plugin's store. Within the window, the first
//! `max_per_minute` events are forwarded; later ones are delayed until the
//! window closes and then counted in the next one. `payment.reorged` events
//! are never delayed or counted. An event that has been delayed as often as
//! paywatch allows is forwarded anyway.

use paywatch_plugin::{config, export_plugin, kv, log, now_ms, Event, Verdict, MAX_DELAYS};
use std::rc::Rc;

export_plugin!(on_event, init = init);

/// The length of a window, in milliseconds.
const WINDOW_MS: u64 = 60_000;

/// The configuration, checked.
#[derive(Debug)]
struct Settings {
    max_per_minute: u64,
    sinks: Option<Vec<String>>,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let max_per_minute = config::<u64>("max_per_minute")?.unwrap_or(10);
        if max_per_minute == 0 {
            return Err("config `max_per_minute`: must be at least 1".into());
        }
        Ok(Settings {
            max_per_minute,
            sinks: config("sinks")?,
        })
    }

    fn forward(&self) -> Verdict {
        Verdict::forward(self.sinks.clone())
    }
}

/// Reads and checks the configuration, so that a mistake stops paywatch at
/// startup.
pub fn init() -> Result<(), String> {
    paywatch_plugin::load_settings(Settings::load).map(|_| ())
}

/// The configuration `init` read (read now if `init` did not run).
fn settings() -> Result<Rc<Settings>, String> {
    paywatch_plugin::settings(Settings::load)
}

/// One address's window, stored as 16 bytes: its start and its count, both
/// little-endian `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start_ms: u64,
    count: u64,
}

impl Window {
    fn encode(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.start_ms.to_le_bytes());
        bytes[8..].copy_from_slice(&self.count.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        let (start, count) = bytes.split_at(8);
        Some(Window {
            start_ms: u64::from_le_bytes(start.try_into().ok()?),
            count: u64::from_le_bytes(count.try_into().ok()?),
        })
    }

    /// Whether the window is open at `now_ms` (a clock set back closes it).
    fn is_open(self, now_ms: u64) -> bool {
        now_ms >= self.start_ms && now_ms - self.start_ms < WINDOW_MS
    }
}

/// The store key of an address's window. A key too long for the store is
/// replaced by a hash of the address.
fn window_key(event: &Event) -> String {
    let key = format!("window/{}/{}", event.chain, event.address);
    if key.len() <= kv::MAX_KEY_LEN {
        return key;
    }
    format!(
        "window/{}/#{:016x}",
        event.chain,
        fnv1a(event.address.as_bytes())
    )
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Forwards the event while its address is within the limit, delays it
/// until the window closes otherwise.
pub fn on_event(event: &Event) -> Result<Verdict, String> {
    let settings = settings()?;
    if event.is_reorged() {
        return Ok(settings.forward());
    }
    let key = window_key(event);
    let now = now_ms();
    let mut window = kv::get(&key)
        .and_then(|bytes| Window::decode(&bytes))
        .filter(|window| window.is_open(now))
        .unwrap_or(Window {
            start_ms: now,
            count: 0,
        });
    if window.count >= settings.max_per_minute {
        if event.delayed < MAX_DELAYS {
            return Ok(Verdict::delay(WINDOW_MS - (now - window.start_ms)));
        }
        log::warn(&format!(
            "event {} was delayed {} times: forwarded over the limit",
            event.id, event.delayed
        ));
        return Ok(settings.forward());
    }
    window.count += 1;
    if let Err(e) = kv::set(&key, &window.encode()) {
        // Better to let events through than to hold them back on a store
        // that cannot count them.
        log::warn(&format!("cannot store the window of {key}: {e}"));
    }
    Ok(settings.forward())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin::{kv::KvError, log::Level, testing, REORGED};
    use serde_json::json;

    const T0: u64 = 1_763_700_000_000;

    fn setup(config: serde_json::Value) {
        testing::clear();
        testing::set_now_ms(T0);
        testing::set_config(config);
        init().expect("the configuration is valid");
    }

    #[test]
    fn delays_past_the_limit_until_the_window_closes() {
        setup(json!({"max_per_minute": 3, "sinks": ["shop"]}));
        let event = testing::sample_event();
        for _ in 0..3 {
            assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["shop"]));
            testing::advance_ms(1_000);
        }
        // 3 s into the window: the 4th waits the remaining 57 s.
        assert_eq!(on_event(&event).unwrap(), Verdict::delay(57_000));
        testing::advance_ms(57_000);
        let mut again = event.clone();
        again.delayed = 1;
        assert_eq!(on_event(&again).unwrap(), Verdict::forward_to(["shop"]));
    }

    #[test]
    fn the_default_limit_is_ten() {
        setup(json!({}));
        let event = testing::sample_event();
        for _ in 0..10 {
            assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        }
        assert_eq!(on_event(&event).unwrap(), Verdict::delay(WINDOW_MS));
    }

    #[test]
    fn each_address_has_its_own_window() {
        setup(json!({"max_per_minute": 1}));
        let mut event = testing::sample_event();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        assert!(matches!(on_event(&event).unwrap(), Verdict::Delay { .. }));
        event.address = "TOther".into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        event.chain = "ethereum".into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
    }

    #[test]
    fn a_reorg_is_never_delayed_nor_counted() {
        setup(json!({"max_per_minute": 1}));
        let event = testing::sample_event();
        let mut reorged = event.clone();
        reorged.kind = REORGED.into();
        assert_eq!(on_event(&reorged).unwrap(), Verdict::forward_all());
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        assert_eq!(on_event(&reorged).unwrap(), Verdict::forward_all());
        assert!(testing::kv_entries()
            .iter()
            .all(|(_, v)| { Window::decode(v).is_some_and(|w| w.count == 1) }));
    }

    #[test]
    fn an_event_delayed_too_often_goes_through() {
        setup(json!({"max_per_minute": 1}));
        let mut event = testing::sample_event();
        on_event(&event).unwrap();
        event.delayed = MAX_DELAYS - 1;
        assert!(matches!(on_event(&event).unwrap(), Verdict::Delay { .. }));
        event.delayed = MAX_DELAYS;
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        assert_eq!(testing::logs()[0].0, Level::Warn);
    }

    #[test]
    fn a_clock_set_back_opens_a_new_window() {
        setup(json!({"max_per_minute": 1}));
        let event = testing::sample_event();
        on_event(&event).unwrap();
        testing::set_now_ms(T0 - 5_000);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
    }

    #[test]
    fn a_full_store_lets_events_through() {
        setup(json!({"max_per_minute": 1}));
        testing::set_kv_quota(0);
        let event = testing::sample_event();
        for _ in 0..3 {
            assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
        }
        let logs = testing::logs();
        assert_eq!(logs.len(), 3);
        assert!(
            logs[0].1.ends_with(&KvError::StoreFull.to_string()),
            "{logs:?}"
        );
    }

    #[test]
    fn a_long_address_is_hashed_into_the_key() {
        let mut event = testing::sample_event();
        event.address = "a".repeat(300);
        let key = window_key(&event);
        assert!(key.len() <= kv::MAX_KEY_LEN);
        assert!(key.starts_with("window/tron/#"), "{key}");
    }

    #[test]
    fn windows_round_trip_through_bytes() {
        let window = Window {
            start_ms: T0,
            count: 7,
        };
        assert_eq!(Window::decode(&window.encode()), Some(window));
        assert_eq!(Window::decode(b"short"), None);
    }

    #[test]
    fn refuses_a_zero_limit() {
        testing::clear();
        testing::set_config(json!({"max_per_minute": 0}));
        assert_eq!(
            init().unwrap_err(),
            "config `max_per_minute`: must be at least 1"
        );
    }
}
