//! Example plugin: forwards every event.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! sinks = ["shop", "audit"]   # optional; every sink when left out
//! ```

use paywatch_plugin::{config, export_plugin, Event, Verdict};

export_plugin!(on_event, init = init);

/// Checks the configuration, so that a mistake stops paywatch at startup
/// instead of failing every event.
pub fn init() -> Result<(), String> {
    sinks()?;
    Ok(())
}

/// Forwards the event to the configured sinks, or to every sink.
pub fn on_event(_event: &Event) -> Result<Verdict, String> {
    Ok(Verdict::forward(sinks()?))
}

/// The `sinks` setting: `None` for every sink.
fn sinks() -> Result<Option<Vec<String>>, String> {
    Ok(config("sinks")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin::testing;
    use serde_json::json;

    #[test]
    fn forwards_to_every_sink_by_default() {
        testing::clear();
        init().unwrap();
        let verdict = on_event(&testing::sample_event()).unwrap();
        assert_eq!(verdict, Verdict::forward_all());
    }

    #[test]
    fn forwards_to_the_configured_sinks() {
        testing::clear();
        testing::set_config(json!({"sinks": ["shop", "audit"]}));
        init().unwrap();
        let mut event = testing::sample_event();
        event.kind = paywatch_plugin::REORGED.into();
        assert_eq!(
            on_event(&event).unwrap(),
            Verdict::forward_to(["shop", "audit"])
        );
    }

    #[test]
    fn refuses_sinks_that_are_not_a_list() {
        testing::clear();
        testing::set_config(json!({"sinks": "shop"}));
        let err = init().unwrap_err();
        assert!(err.starts_with("config `sinks`: invalid type"), "{err}");
    }
}
