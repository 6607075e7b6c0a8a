//! Example plugin: drops incoming payments below a minimum for their asset.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! min = { USDT = "10", BTC = "0.001" }   # asset symbol → whole units, as a string
//! sinks = ["shop"]                       # optional; every sink when left out
//! ```
//!
//! An incoming payment below its asset's minimum is dropped, with a reason
//! such as `125.5 USDT is below the minimum 200`. Everything else is
//! forwarded: payments of assets without a minimum, outgoing ones, and
//! `payment.reorged` events always, since a merchant must hear that a
//! payment it was told about is gone.
//!
//! The minimums are in whole units (`"0.001"` BTC), while an event's amount
//! is an integer in the asset's base units (`"50000"` satoshi); the plugin
//! reads the amount in whole units with the event's `asset.decimals`, so one
//! minimum holds for a token whatever its decimals on each chain, and
//! compares exactly, as decimal strings. A payment it has to compare whose
//! amount is not an integer fails the call.

use paywatch_plugin::{amount, config, export_plugin, log, Event, Verdict};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

export_plugin!(on_event, init = init);

/// The configuration, checked.
#[derive(Debug)]
struct Settings {
    /// Asset symbol → minimum amount in whole units, a valid decimal string.
    min: BTreeMap<String, String>,
    sinks: Option<Vec<String>>,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let raw: BTreeMap<String, serde_json::Value> = config("min")?.unwrap_or_default();
        let mut min = BTreeMap::new();
        for (symbol, value) in raw {
            let Some(text) = value.as_str() else {
                return Err(format!(
                    "config `min.{symbol}`: write the amount as a string (\"10\", \"0.0005\"), \
                     not {value}, so that no precision is lost"
                ));
            };
            if !amount::is_valid(text) {
                return Err(format!(
                    "config `min.{symbol}`: {text:?} is not a decimal amount such as \"10\" or \"0.0005\""
                ));
            }
            min.insert(symbol, text.to_owned());
        }
        if min.is_empty() {
            log::warn("no `min` configured: every event is forwarded");
        }
        Ok(Settings {
            min,
            sinks: config("sinks")?,
        })
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

/// Drops an incoming payment below its asset's minimum; forwards the rest.
pub fn on_event(event: &Event) -> Result<Verdict, String> {
    let settings = settings()?;
    let forward = || Verdict::forward(settings.sinks.clone());
    // Reorgs, outgoing payments and invoice events always go through.
    if event.is_reorged() || !event.is_incoming() || event.is_invoice() {
        return Ok(forward());
    }
    let Some(min) = settings.min.get(&event.asset.symbol) else {
        return Ok(forward());
    };
    // `min` is a valid decimal amount, so only the event's amount can fail
    // to compare.
    match (event.amount_cmp(min), event.amount_decimal()) {
        (Some(Ordering::Less), Some(amount)) => Ok(Verdict::drop(format!(
            "{amount} {} is below the minimum {min}",
            event.asset.symbol
        ))),
        (Some(_), Some(_)) => Ok(forward()),
        _ => Err(format!(
            "event {}: amount {:?} is not an integer in base units of {}",
            event.id, event.amount, event.asset.symbol
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin::{log::Level, testing, REORGED};
    use serde_json::json;

    fn setup(config: serde_json::Value) {
        testing::clear();
        testing::set_config(config);
        init().expect("the configuration is valid");
    }

    /// A payment of `base` base units of `symbol`, with the asset's decimals.
    fn payment(symbol: &str, base: &str) -> Event {
        let mut event = testing::sample_event();
        event.asset.symbol = symbol.into();
        event.asset.decimals = match symbol {
            "BTC" => 8,
            "USDT" | "TRX" => 6,
            "ETH" => 18,
            _ => panic!("no decimals for {symbol}"),
        };
        event.amount = base.into();
        event
    }

    #[test]
    fn drops_a_payment_below_the_minimum() {
        setup(json!({"min": {"USDT": "200"}}));
        assert_eq!(
            on_event(&payment("USDT", "125500000")).unwrap(),
            Verdict::drop("125.5 USDT is below the minimum 200")
        );
        assert_eq!(
            on_event(&testing::sample_event()).unwrap(),
            Verdict::drop("125.5 USDT is below the minimum 200")
        );
    }

    #[test]
    fn forwards_a_payment_at_or_above_the_minimum() {
        setup(json!({"min": {"USDT": "10", "BTC": "0.001"}}));
        for (symbol, base) in [
            ("USDT", "10000000"),
            ("USDT", "125500000"),
            ("BTC", "100000"),
            ("BTC", "100001"),
            ("BTC", "2100000000000000"),
        ] {
            assert_eq!(
                on_event(&payment(symbol, base)).unwrap(),
                Verdict::forward_all(),
                "{base} base units of {symbol}"
            );
        }
        assert_eq!(
            on_event(&payment("BTC", "50000")).unwrap(),
            Verdict::drop("0.0005 BTC is below the minimum 0.001")
        );
        assert_eq!(
            on_event(&payment("USDT", "9999999")).unwrap(),
            Verdict::drop("9.999999 USDT is below the minimum 10")
        );
    }

    #[test]
    fn the_same_minimum_holds_whatever_the_decimals() {
        // USDT has 6 decimals on TRON and 18 on BNB Smart Chain.
        setup(json!({"min": {"USDT": "10"}}));
        let mut event = payment("USDT", "9500000000000000000");
        event.asset.decimals = 18;
        assert_eq!(
            on_event(&event).unwrap(),
            Verdict::drop("9.5 USDT is below the minimum 10")
        );
        event.amount = "10000000000000000000".into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_all());
    }

    #[test]
    fn compares_amounts_beyond_float_precision() {
        setup(json!({"min": {"ETH": "0.100000000000000001"}}));
        assert_eq!(
            on_event(&payment("ETH", "100000000000000000")).unwrap(),
            Verdict::drop("0.1 ETH is below the minimum 0.100000000000000001")
        );
        assert_eq!(
            on_event(&payment("ETH", "100000000000000001")).unwrap(),
            Verdict::forward_all()
        );
        // A full uint256 of wei.
        assert_eq!(
            on_event(&payment(
                "ETH",
                "115792089237316195423570985008687907853269984665640564039457584007913129639935"
            ))
            .unwrap(),
            Verdict::forward_all()
        );
    }

    #[test]
    fn always_forwards_a_reorg() {
        setup(json!({"min": {"USDT": "200"}, "sinks": ["shop"]}));
        let mut event = payment("USDT", "1000000");
        event.kind = REORGED.into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["shop"]));
    }

    #[test]
    fn forwards_outgoing_payments_and_assets_without_a_minimum() {
        setup(json!({"min": {"USDT": "200"}, "sinks": ["shop"]}));
        let mut outgoing = payment("USDT", "1000000");
        outgoing.direction = "out".into();
        assert_eq!(on_event(&outgoing).unwrap(), Verdict::forward_to(["shop"]));
        assert_eq!(
            on_event(&payment("TRX", "1")).unwrap(),
            Verdict::forward_to(["shop"])
        );
    }

    #[test]
    fn without_a_minimum_everything_is_forwarded_with_a_warning() {
        setup(json!({}));
        assert_eq!(
            testing::logs(),
            [(
                Level::Warn,
                "no `min` configured: every event is forwarded".to_string()
            )]
        );
        assert_eq!(
            on_event(&payment("USDT", "0")).unwrap(),
            Verdict::forward_all()
        );
    }

    #[test]
    fn refuses_a_minimum_written_as_a_number() {
        testing::clear();
        testing::set_config(json!({"min": {"USDT": 10}}));
        let err = init().unwrap_err();
        assert!(
            err.starts_with("config `min.USDT`: write the amount as a string"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_minimum_that_is_not_an_amount() {
        testing::clear();
        testing::set_config(json!({"min": {"BTC": "5e-4"}}));
        assert_eq!(
            init().unwrap_err(),
            "config `min.BTC`: \"5e-4\" is not a decimal amount such as \"10\" or \"0.0005\""
        );
    }

    #[test]
    fn an_amount_that_is_not_in_base_units_fails_the_call() {
        setup(json!({"min": {"USDT": "10"}}));
        for bad in ["125.5", "12,5", "-1", ""] {
            let mut event = payment("USDT", bad);
            event.id = "e1".into();
            assert_eq!(
                on_event(&event).unwrap_err(),
                format!("event e1: amount {bad:?} is not an integer in base units of USDT")
            );
        }
    }
}
