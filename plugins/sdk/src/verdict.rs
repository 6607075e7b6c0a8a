//! The verdict a plugin returns for an event: forward, drop or delay.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest delay paywatch accepts: 7 days, in milliseconds.
pub const MAX_DELAY_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// How many times one event can be delayed. [`Event::delayed`] counts the
/// delays so far; a plugin that delays should forward or drop an event whose
/// count has reached this.
///
/// [`Event::delayed`]: crate::Event::delayed
pub const MAX_DELAYS: u32 = 1000;

/// What paywatch does with an event.
///
/// Serialized as the ABI's verdict JSON:
///
/// ```
/// use paywatch_plugin::Verdict;
/// use serde_json::json;
///
/// let to_json = |v: Verdict| serde_json::to_value(v).unwrap();
/// assert_eq!(to_json(Verdict::forward_all()), json!({"action": "forward"}));
/// assert_eq!(
///     to_json(Verdict::forward_to(["shop"]).with_payload(json!({"order": 42}))),
///     json!({"action": "forward", "sinks": ["shop"], "payload": {"order": 42}}),
/// );
/// assert_eq!(
///     to_json(Verdict::drop("below 10 USDT")),
///     json!({"action": "drop", "reason": "below 10 USDT"}),
/// );
/// assert_eq!(to_json(Verdict::delay(60_000)), json!({"action": "delay", "ms": 60000}));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Verdict {
    /// Deliver the event to `sinks` (the names of `[[sink]]` sections), or
    /// to every sink when `sinks` is `None`. An empty list forwards to none
    /// and lets the next plugin decide. `payload`, when set, is the JSON body
    /// delivered instead of the event.
    Forward {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sinks: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<serde_json::Value>,
    },
    /// The event goes no further down the pipeline; `reason` is logged.
    /// Forwards collected from earlier plugins are still delivered.
    Drop { reason: String },
    /// Hold the event back for `ms` milliseconds, then call this plugin with
    /// it again (with [`Event::delayed`](crate::Event::delayed) one higher).
    Delay { ms: u64 },
}

impl Verdict {
    /// Forward the event to every sink.
    pub fn forward_all() -> Self {
        Verdict::Forward {
            sinks: None,
            payload: None,
        }
    }

    /// Forward the event to the named sinks.
    ///
    /// ```
    /// # use paywatch_plugin::Verdict;
    /// let v = Verdict::forward_to(["shop", "audit"]);
    /// let v = Verdict::forward_to(vec![String::from("shop")]);
    /// ```
    pub fn forward_to<I, S>(sinks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Verdict::Forward {
            sinks: Some(sinks.into_iter().map(Into::into).collect()),
            payload: None,
        }
    }

    /// Forward the event to the named sinks, or to every sink for `None`;
    /// handy with an optional `sinks` setting.
    pub fn forward(sinks: Option<Vec<String>>) -> Self {
        Verdict::Forward {
            sinks,
            payload: None,
        }
    }

    /// Forward to no sink: the event goes on to the next plugin, which
    /// decides where it goes.
    pub fn pass() -> Self {
        Verdict::forward_to(Vec::<String>::new())
    }

    /// Deliver `payload` instead of the event. Only a forward carries a
    /// payload: on a drop or a delay this does nothing.
    pub fn with_payload(self, payload: serde_json::Value) -> Self {
        match self {
            Verdict::Forward { sinks, .. } => Verdict::Forward {
                sinks,
                payload: Some(payload),
            },
            other => other,
        }
    }

    /// Drop the event, giving the reason paywatch logs.
    pub fn drop(reason: impl Into<String>) -> Self {
        Verdict::Drop {
            reason: reason.into(),
        }
    }

    /// Hold the event back for a while: milliseconds as a `u64`, or a
    /// [`Duration`]. The time is kept within what paywatch accepts, 1 ms to
    /// 7 days ([`MAX_DELAY_MS`]).
    ///
    /// ```
    /// # use paywatch_plugin::Verdict;
    /// use std::time::Duration;
    /// assert_eq!(Verdict::delay(Duration::from_secs(60)), Verdict::delay(60_000));
    /// assert_eq!(Verdict::delay(0), Verdict::Delay { ms: 1 });
    /// ```
    pub fn delay(after: impl IntoMillis) -> Self {
        Verdict::Delay {
            ms: after.into_millis().clamp(1, MAX_DELAY_MS),
        }
    }
}

/// A span of time that [`Verdict::delay`] takes: a `u64` of milliseconds or
/// a [`Duration`].
pub trait IntoMillis {
    /// The span in whole milliseconds, rounded up.
    fn into_millis(self) -> u64;
}

impl IntoMillis for u64 {
    fn into_millis(self) -> u64 {
        self
    }
}

impl IntoMillis for Duration {
    fn into_millis(self) -> u64 {
        let ms = self.as_millis() + u128::from(self.subsec_nanos() % 1_000_000 != 0);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_json(v: &Verdict) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn serializes_as_the_abi_says() {
        assert_eq!(to_json(&Verdict::forward_all()), r#"{"action":"forward"}"#);
        assert_eq!(
            to_json(&Verdict::forward_to(["shop"]).with_payload(json!({"order": 42}))),
            r#"{"action":"forward","sinks":["shop"],"payload":{"order":42}}"#
        );
        assert_eq!(
            to_json(&Verdict::pass()),
            r#"{"action":"forward","sinks":[]}"#
        );
        assert_eq!(
            to_json(&Verdict::drop("below 10 USDT")),
            r#"{"action":"drop","reason":"below 10 USDT"}"#
        );
        assert_eq!(
            to_json(&Verdict::delay(60_000)),
            r#"{"action":"delay","ms":60000}"#
        );
    }

    #[test]
    fn reads_the_abi_examples() {
        let read = |s: &str| serde_json::from_str::<Verdict>(s).unwrap();
        assert_eq!(
            read(r#"{"action": "forward", "sinks": ["shop"], "payload": {"order": 42}}"#),
            Verdict::forward_to(["shop"]).with_payload(json!({"order": 42}))
        );
        assert_eq!(
            read(r#"{"action": "drop", "reason": "below 10 USDT"}"#),
            Verdict::drop("below 10 USDT")
        );
        assert_eq!(
            read(r#"{"action": "delay", "ms": 60000}"#),
            Verdict::delay(60_000)
        );
    }

    #[test]
    fn delay_stays_in_range() {
        assert_eq!(Verdict::delay(0), Verdict::Delay { ms: 1 });
        assert_eq!(
            Verdict::delay(u64::MAX),
            Verdict::Delay { ms: MAX_DELAY_MS }
        );
        assert_eq!(
            Verdict::delay(Duration::from_micros(1500)),
            Verdict::Delay { ms: 2 }
        );
        assert_eq!(
            Verdict::delay(Duration::from_secs(u64::MAX)),
            Verdict::Delay { ms: MAX_DELAY_MS }
        );
    }

    #[test]
    fn payload_only_rides_on_a_forward() {
        let payload = json!({"x": 1});
        assert_eq!(
            Verdict::drop("r").with_payload(payload.clone()),
            Verdict::drop("r")
        );
        assert_eq!(
            Verdict::forward(None).with_payload(payload.clone()),
            Verdict::Forward {
                sinks: None,
                payload: Some(payload)
            }
        );
    }
}
