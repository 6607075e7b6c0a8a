//! Example plugin: sends each event to the sinks of the first route it
//! matches, and flagged events to a sink of their own.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! default = ["audit"]        # optional; when left out, unmatched events are dropped
//! flagged_sink = "security"  # optional; when left out, flagged events are routed like others
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
//! With `flagged_sink`, a flagged event is forwarded to that sink alone and
//! the routes are not tried. An event is flagged when it is a payment event
//! whose `risk` has any flag but `contract_sender` (`payment.flagged`, and
//! the `payment.detected`, `payment.confirmed`, `payment.reorged`, … of the
//! same transfer), or an `address.frozen` or `address.unfrozen` event.
//! Invoice events are routed as usual.
//!
//! Otherwise the routes are tried in order and the first whose conditions
//! all hold decides: the event is forwarded to its `sinks` (`[]` forwards to
//! none and leaves the event to the next plugin). An event no route matches
//! goes to the `default` sinks, or is dropped with the reason `no route`
//! when there are none.

use paywatch_plugin::{
    config, export_plugin, log, Event, Verdict, ADDRESS_FROZEN, ADDRESS_UNFROZEN, CONFIRMED,
    DETECTED, DOUBLE_SPENT, DROPPED, FLAGGED, REORGED, REPLACED,
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

/// Whether the event goes to the `flagged_sink`: a payment event risk
/// screening flagged, or a token issuer freezing or releasing the watched
/// address.
fn is_flagged(event: &Event) -> bool {
    (event.is_payment() && event.risk.is_flagged()) || event.is_address()
}

/// The configuration, checked.
#[derive(Debug)]
struct Settings {
    routes: Vec<Route>,
    default: Vec<String>,
    /// The sink of flagged events; `None` routes them like the others.
    flagged_sink: Option<String>,
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
                    FLAGGED,
                    ADDRESS_FROZEN,
                    ADDRESS_UNFROZEN,
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
        let flagged_sink: Option<String> = config("flagged_sink")?;
        if flagged_sink.as_ref().is_some_and(|sink| sink.is_empty()) {
            return Err("config `flagged_sink`: name a sink, or leave the key out".into());
        }
        if routes.is_empty() && default.is_empty() {
            log::warn(if flagged_sink.is_some() {
                "no `routes` and no `default` configured: every event not flagged is dropped"
            } else {
                "no `routes` and no `default` configured: every event is dropped"
            });
        }
        Ok(Settings {
            routes,
            default,
            flagged_sink,
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

/// Forwards a flagged event to the `flagged_sink`, any other to the sinks
/// of the first route it matches.
pub fn on_event(event: &Event) -> Result<Verdict, String> {
    let settings = settings()?;
    if let Some(sink) = &settings.flagged_sink {
        if is_flagged(event) {
            return Ok(Verdict::forward_to([sink.clone()]));
        }
    }
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
    use paywatch_plugin::{log::Level, testing, RiskFlag};
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

    /// [`routes`] with a sink for flagged events.
    fn routes_and_flagged_sink() -> serde_json::Value {
        let mut config = routes();
        config["flagged_sink"] = "security".into();
        config
    }

    /// The sample payment with `flags`.
    fn flagged(kind: &str, flags: &[RiskFlag]) -> Event {
        let mut event = testing::sample_event();
        event.kind = kind.into();
        event.risk.flags = flags.to_vec();
        event
    }

    #[test]
    fn flagged_payments_go_to_the_flagged_sink() {
        setup(routes_and_flagged_sink());
        let security = Verdict::forward_to(["security"]);
        for kind in [FLAGGED, DETECTED, CONFIRMED, REORGED] {
            for flags in [
                &[RiskFlag::Lookalike][..],
                &[
                    RiskFlag::ZeroValue,
                    RiskFlag::Lookalike,
                    RiskFlag::ContractSender,
                ],
                &[RiskFlag::Sanctioned],
                &[RiskFlag::FrozenSender, RiskFlag::ContractSender],
                &[RiskFlag::FrozenAddress],
                &[RiskFlag::Dust],
                &[RiskFlag::Other("mixer".into())],
            ] {
                assert_eq!(
                    on_event(&flagged(kind, flags)).unwrap(),
                    security,
                    "{kind} {flags:?}"
                );
            }
        }
    }

    #[test]
    fn contract_sender_alone_is_routed_as_usual() {
        setup(routes_and_flagged_sink());
        let event = flagged(DETECTED, &[RiskFlag::ContractSender]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
        let event = flagged(CONFIRMED, &[RiskFlag::ContractSender]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["shop"]));
        assert_eq!(
            on_event(&testing::sample_event()).unwrap(),
            Verdict::forward_to(["treasury"])
        );
    }

    #[test]
    fn address_events_go_to_the_flagged_sink() {
        setup(routes_and_flagged_sink());
        let mut event = testing::sample_address_event();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["security"]));
        event.kind = ADDRESS_UNFROZEN.into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["security"]));
    }

    #[test]
    fn invoice_events_are_not_flagged() {
        setup(routes_and_flagged_sink());
        let mut event = testing::sample_event();
        event.kind = "invoice.held".into();
        event.invoice = Some(json!({"id": "inv_1", "status": "held"}));
        // Only a payment event's own flags count.
        event.risk.flags = vec![RiskFlag::Sanctioned];
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
    }

    #[test]
    fn without_a_flagged_sink_flagged_events_are_routed_as_usual() {
        setup(routes());
        let event = flagged(CONFIRMED, &[RiskFlag::Sanctioned]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["shop"]));
        let event = flagged(FLAGGED, &[RiskFlag::Lookalike]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
        // A frozen USDT address matches the route of USDT.
        assert_eq!(
            on_event(&testing::sample_address_event()).unwrap(),
            Verdict::forward_to(["treasury"])
        );
        let mut event = testing::sample_address_event();
        event.asset.symbol = "USDC".into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["audit"]));
    }

    #[test]
    fn routes_can_match_the_new_event_types() {
        setup(json!({
            "routes": [
                {"type": "payment.flagged", "sinks": ["security"]},
                {"type": "address.frozen", "sinks": ["security", "treasury"]},
                {"type": "address.unfrozen", "sinks": ["treasury"]},
            ],
        }));
        let event = flagged(FLAGGED, &[RiskFlag::Lookalike]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["security"]));
        let mut event = testing::sample_address_event();
        assert_eq!(
            on_event(&event).unwrap(),
            Verdict::forward_to(["security", "treasury"])
        );
        event.kind = ADDRESS_UNFROZEN.into();
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["treasury"]));
    }

    #[test]
    fn a_flagged_sink_alone_drops_the_rest() {
        setup(json!({"flagged_sink": "security"}));
        assert_eq!(
            testing::logs(),
            [(
                Level::Warn,
                "no `routes` and no `default` configured: every event not flagged is dropped"
                    .to_string()
            )]
        );
        let event = flagged(DETECTED, &[RiskFlag::Sanctioned]);
        assert_eq!(on_event(&event).unwrap(), Verdict::forward_to(["security"]));
        assert_eq!(
            on_event(&testing::sample_event()).unwrap(),
            Verdict::drop("no route")
        );
    }

    #[test]
    fn refuses_an_empty_flagged_sink() {
        testing::clear();
        testing::set_config(json!({"default": ["audit"], "flagged_sink": ""}));
        assert_eq!(
            init().unwrap_err(),
            "config `flagged_sink`: name a sink, or leave the key out"
        );
        testing::set_config(json!({"default": ["audit"], "flagged_sink": ["security"]}));
        let err = init().unwrap_err();
        assert!(
            err.starts_with("config `flagged_sink`: invalid type"),
            "{err}"
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
