//! Example plugin: sends each event to the sinks of the first route it
//! matches.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! default = ["audit"]        # optional; when left out, unmatched events are dropped
//!
//! [[plugin.config.routes]]
//! chain = "tron"             # every condition is optional; all given must hold
//! asset = "USDT"
//! label_prefix = "order-"
//! type = "payment.confirmed"
//! sinks = ["shop"]
//!
//! [[plugin.config.routes]]
//! asset = "BTC"
//! sinks = ["shop", "accounting"]
//! ```
//!
//! The routes are tried in order and the first whose conditions all hold
//! decides: the event is forwarded to its `sinks` (`[]` forwards to none and
//! leaves the event to the next plugin). An event no route matches goes to
//! the `default` sinks, or is dropped with the reason `no route` when there
//! are none.

use paywatch_plugin::{
    config, export_plugin, log, Event, Verdict, CONFIRMED, DETECTED, DOUBLE_SPENT, DROPPED,
    REORGED, REPLACED,
};
use serde::Deserialize;
use std::rc::Rc;

export_plugin!(on_event, init = init);

/// One route; `None` conditions match every event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    chain: Option<String>,
    /// The asset's symbol.
    asset: Option<String>,
    /// The start of the watch's label; an event without a label does not
    /// match.
    label_prefix: Option<String>,
    /// The event type.
    #[serde(rename = "type")]
    kind: Option<String>,
    sinks: Vec<String>,
}

impl Route {
    fn matches(&self, event: &Event) -> bool {
        self.chain
            .as_ref()
            .is_none_or(|chain| *chain == event.chain)
            && self
                .asset
                .as_ref()
                .is_none_or(|asset| *asset == event.asset.symbol)
            && self.kind.as_ref().is_none_or(|kind| *kind == event.kind)
            && self.label_prefix.as_ref().is_none_or(|prefix| {
                event
                    .label()
                    .is_some_and(|label| label.starts_with(prefix.as_str()))
            })
    }
}

/// The configuration, checked.
#[derive(Debug)]
struct Settings {
    routes: Vec<Route>,
    default: Vec<String>,
}

impl Settings {
    fn load() -> Result<Self, String> {
        let routes: Vec<Route> = config("routes")?.unwrap_or_default();
        for (i, route) in routes.iter().enumerate() {
            if let Some(kind) = &route.kind {
                let known = [
                    DETECTED,
                    CONFIRMED,
                    REORGED,
                    REPLACED,
                    DOUBLE_SPENT,
                    DROPPED,
                ];
                if !known.contains(&kind.as_str()) {
                    return Err(format!(
                        "config `routes[{i}].type`: {kind:?} is not an event type ({})",
                        known.join(", ")
                    ));
                }
            }
        }
        let default: Vec<String> = config("default")?.unwrap_or_default();
        if routes.is_empty() && default.is_empty() {
            log::warn("no `routes` and no `default` configured: every event is dropped");
        }
        Ok(Settings { routes, default })
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

/// Forwards the event to the sinks of the first route it matches.
pub fn on_event(event: &Event) -> Result<Verdict, String> {
    let settings = settings()?;
    if let Some(route) = settings.routes.iter().find(|route| route.matches(event)) {
        return Ok(Verdict::forward_to(route.sinks.iter().cloned()));
    }
    if settings.default.is_empty() {
        return Ok(Verdict::drop("no route"));
    }
    Ok(Verdict::forward_to(settings.default.iter().cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin::testing;
    use serde_json::json;

    fn setup(config: serde_json::Value) {
        testing::clear();
        testing::set_config(config);
        init().expect("the configuration is valid");
    }

    fn routes() -> serde_json::Value {
        json!({
            "routes": [
                {"chain": "tron", "asset": "USDT", "label_prefix": "order-",
                 "type": "payment.confirmed", "sinks": ["shop"]},
                {"asset": "USDT", "sinks": ["treasury"]},
                {"chain": "bitcoin", "sinks": ["shop", "accounting"]},
                {"label_prefix": "test-", "sinks": []},
            ],
            "default": ["audit"],
        })
    }

    #[test]
    fn the_first_matching_route_wins() {
        setup(routes());
        let mut event = testing::sample_event(); // tron USDT order-42, detected
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
        event.kind = CONFIRMED.into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["shop"]));
        event.watch.label = Some("invoice-7".into());
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
    }

    #[test]
    fn a_label_prefix_needs_a_label() {
        setup(routes());
        let mut event = testing::sample_event();
        event.asset.symbol = "TRX".into();
        event.watch.label = Some("test-1".into());
        assert_eq!(on_event(&event).unwrap(), Verdict::pass());
        event.watch.label = None;
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["audit"]));
    }

    #[test]
    fn conditions_are_anded() {
        setup(routes());
        let mut event = testing::sample_event();
        event.chain = "bitcoin".into();
        event.asset.symbol = "BTC".into();
        assert_eq!(
            on_event(&event).unwrap(),
            Verdict::forward_to(["shop", "accounting"])
        );
    }

    #[test]
    fn without_a_default_an_unmatched_event_is_dropped() {
        setup(json!({"routes": [{"chain": "bitcoin", "sinks": ["shop"]}]}));
        assert_eq!(
            on_event(&testing::sample_event()).unwrap(),
            Verdict::drop("no route")
        );
    }

    #[test]
    fn refuses_an_unknown_event_type() {
        testing::clear();
        testing::set_config(json!({"routes": [{"type": "payment.confirm", "sinks": []}]}));
        let err = init().unwrap_err();
        assert!(
            err.starts_with("config `routes[0].type`: \"payment.confirm\" is not an event type"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_misspelt_condition() {
        testing::clear();
        testing::set_config(json!({"routes": [{"lable_prefix": "order-", "sinks": []}]}));
        let err = init().unwrap_err();
        assert!(err.contains("unknown field `lable_prefix`"), "{err}");
    }

    #[test]
    fn refuses_a_route_without_sinks() {
        testing::clear();
        testing::set_config(json!({"routes": [{"chain": "tron"}]}));
        let err = init().unwrap_err();
        assert!(err.contains("missing field `sinks`"), "{err}");
    }
}
