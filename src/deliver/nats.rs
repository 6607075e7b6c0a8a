//! NATS JetStream sink: publishes each delivery and waits for the stream's
//! acknowledgement. `Nats-Msg-Id` is the event id, so the stream drops a
//! message paywatch sends again after a restart.

use super::{EventView, SendError};
use async_nats::jetstream;
use std::time::Duration;
use tokio::sync::Mutex;

pub struct Nats {
    url: String,
    subject: String,
    stream: Option<String>,
    timeout: Duration,
    context: Mutex<Option<jetstream::Context>>,
}

/// A subject token made only of characters NATS allows in one.
fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The subject for `event`: `{chain}`, `{network}`, `{type}`, `{asset}` and
/// `{direction}` replaced (`{type}` keeps its dot: `payment.detected`).
pub fn render_subject(template: &str, event: &EventView<'_>) -> String {
    render(template, event, token)
}

/// `template` with `{chain}`, `{network}`, `{type}`, `{asset}` and
/// `{direction}` replaced from `event`, each part of a value made safe by
/// `clean` (the dots of `{type}` kept).
pub fn render(template: &str, event: &EventView<'_>, clean: fn(&str) -> String) -> String {
    template
        .replace("{chain}", &clean(&event.chain))
        .replace("{network}", &clean(&event.network))
        .replace(
            "{type}",
            &event
                .kind
                .split('.')
                .map(clean)
                .collect::<Vec<_>>()
                .join("."),
        )
        .replace("{asset}", &clean(&event.asset.symbol))
        .replace("{direction}", &clean(&event.direction))
}

impl Nats {
    pub fn new(url: String, subject: String, stream: Option<String>, timeout: Duration) -> Self {
        Nats {
            url,
            subject,
            stream,
            timeout,
            context: Mutex::new(None),
        }
    }

    async fn context(&self) -> Result<jetstream::Context, SendError> {
        let mut slot = self.context.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            .name("paywatch")
            .connect(self.url.as_str())
            .await
            .map_err(|e| SendError::Unreachable(format!("cannot connect to {}: {e}", self.url)))?;
        let js = jetstream::new(client);
        if let Some(name) = &self.stream {
            let prefix = self.subject.split('{').next().unwrap_or_default();
            let subjects = if prefix.is_empty() {
                vec![">".to_string()]
            } else if prefix.ends_with('.') {
                vec![format!("{prefix}>")]
            } else {
                vec![self.subject.clone()]
            };
            js.get_or_create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects,
                duplicate_window: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                SendError::Nats(format!("cannot create or open the stream `{name}`: {e}"))
            })?;
        }
        *slot = Some(js.clone());
        Ok(js)
    }

    pub async fn send(&self, body: &[u8], event: &EventView<'_>) -> Result<(), SendError> {
        let js = self.context().await?;
        let subject = render_subject(&self.subject, event);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id.as_ref());
        headers.insert("Paywatch-Event-Type", event.kind.as_ref());
        let ack = js
            .publish_with_headers(subject.clone(), headers, body.to_vec().into())
            .await
            .map_err(|e| SendError::Nats(format!("publish to {subject}: {e}")))?;
        ack.await
            .map_err(|e| SendError::Nats(format!("no acknowledgement for {subject}: {e}")))?;
        Ok(())
    }
}
