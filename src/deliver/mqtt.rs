//! MQTT sink (3.1.1 or 5): each event is published at QoS 1 to the topic its
//! template names, and a delivery counts once the broker's `PUBACK` for it
//! came back. A batch goes out on one connection, in feed order, which the
//! broker keeps per topic. With MQTT 5 the event id and type travel as
//! user properties (`paywatch-event-id`, `paywatch-event-type`); QoS 1 is
//! at-least-once, so subscribers deduplicate by the event id.

use super::batch::Item;
use super::{nats, EventView, SendError};
use crate::config::{MqttSink, MqttVersion};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the connection's event loop reports.
enum Note {
    /// A publish left with this packet id (in the order they were queued).
    Sent(u16),
    /// The broker acknowledged it; `Err` with a v5 reason code other than
    /// success.
    Acked(u16, Result<(), String>),
    Failed(String),
}

enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

struct Connection {
    client: Client,
    notes: mpsc::UnboundedReceiver<Note>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Mqtt {
    config: MqttSink,
    timeout: Duration,
    batch: usize,
    tls: Option<rumqttc::TlsConfiguration>,
    connection: Option<Connection>,
}

/// A topic level may not hold the wildcards; `/` inside a value would add
/// a level.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '+' | '#' | '/' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

impl Mqtt {
    pub fn new(config: MqttSink, timeout: Duration, batch: usize) -> anyhow::Result<Self> {
        let tls = if config.tls {
            Some(match &config.ca_file {
                Some(f) => rumqttc::TlsConfiguration::Simple {
                    ca: std::fs::read(f).map_err(|e| {
                        anyhow::anyhow!("ca_file: cannot read {}: {e}", f.display())
                    })?,
                    alpn: None,
                    client_auth: None,
                },
                None => {
                    let mut roots = rumqttc::tokio_rustls::rustls::RootCertStore::empty();
                    let found = rustls_native_certs::load_native_certs();
                    for cert in found.certs {
                        let _ = roots.add(cert);
                    }
                    if roots.is_empty() {
                        anyhow::bail!("mqtts: no trusted root certificates found on this system (set ca_file)");
                    }
                    rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(
                        rumqttc::tokio_rustls::rustls::ClientConfig::builder()
                            .with_root_certificates(roots)
                            .with_no_client_auth(),
                    ))
                }
            })
        } else {
            None
        };
        Ok(Mqtt {
            config,
            timeout,
            batch,
            tls,
            connection: None,
        })
    }

    fn connect(&self) -> Connection {
        let c = &self.config;
        let inflight = self.batch.clamp(1, u16::MAX as usize) as u16;
        let (tx, notes) = mpsc::unbounded_channel();
        let (client, task) = match c.version {
            MqttVersion::V311 => {
                let mut o = rumqttc::MqttOptions::new(&c.client_id, &c.host, c.port);
                o.set_keep_alive(Duration::from_secs(30))
                    .set_clean_session(true)
                    .set_inflight(inflight);
                if let (Some(u), p) = (&c.username, &c.password) {
                    o.set_credentials(u, p.as_ref().map_or("", |p| p.expose()));
                }
                if let Some(tls) = &self.tls {
                    o.set_transport(rumqttc::Transport::Tls(tls.clone()));
                }
                let (client, events) = rumqttc::AsyncClient::new(o, self.batch + 16);
                (Client::V4(client), tokio::spawn(drive_v4(events, tx)))
            }
            MqttVersion::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(&c.client_id, &c.host, c.port);
                o.set_keep_alive(Duration::from_secs(30))
                    .set_clean_start(true)
                    .set_outgoing_inflight_upper_limit(inflight);
                if let (Some(u), p) = (&c.username, &c.password) {
                    o.set_credentials(u, p.as_ref().map_or("", |p| p.expose()));
                }
                if let Some(tls) = &self.tls {
                    o.set_transport(rumqttc::Transport::Tls(tls.clone()));
                }
                let (client, events) = rumqttc::v5::AsyncClient::new(o, self.batch + 16);
                (Client::V5(client), tokio::spawn(drive_v5(events, tx)))
            }
        };
        Connection {
            client,
            notes,
            task,
        }
    }

    pub async fn send(&mut self, items: &[Item]) -> Vec<Result<(), SendError>> {
        let mut out: Vec<Option<Result<(), SendError>>> = Vec::with_capacity(items.len());
        if self.connection.is_none() {
            self.connection = Some(self.connect());
        }
        let conn = self.connection.as_mut().expect("connected above");
        // Reports left from an earlier batch are stale.
        while conn.notes.try_recv().is_ok() {}
        let mut queued = Vec::new();
        let mut failure = None;
        for (i, item) in items.iter().enumerate() {
            let Ok(view) = serde_json::from_slice::<EventView>(&item.event) else {
                out.push(Some(Err(SendError::Rejected(
                    "the stored event cannot be read".into(),
                ))));
                continue;
            };
            let topic = nats::render(&self.config.topic, &view, clean);
            let body = item.body().to_vec();
            let sent = match &conn.client {
                Client::V4(c) => c
                    .try_publish(topic.as_str(), rumqttc::QoS::AtLeastOnce, false, body)
                    .map_err(|e| e.to_string()),
                Client::V5(c) => {
                    let properties = rumqttc::v5::mqttbytes::v5::PublishProperties {
                        payload_format_indicator: Some(1),
                        content_type: Some("application/json".into()),
                        user_properties: vec![
                            ("paywatch-event-id".into(), view.id.to_string()),
                            ("paywatch-event-type".into(), view.kind.to_string()),
                        ],
                        ..Default::default()
                    };
                    c.try_publish_with_properties(
                        topic.as_str(),
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                        false,
                        body,
                        properties,
                    )
                    .map_err(|e| e.to_string())
                }
            };
            match sent {
                Ok(()) => {
                    queued.push(i);
                    out.push(None);
                }
                Err(e) => {
                    failure = Some(format!("cannot queue the publish to {topic}: {e}"));
                    out.push(None);
                    break;
                }
            }
        }
        // Packet ids come back in the order the publishes were queued.
        let mut pkids: HashMap<u16, usize> = HashMap::new();
        let mut next_sent = 0;
        let mut acked = 0;
        let deadline = tokio::time::Instant::now() + self.timeout;
        while failure.is_none() && acked < queued.len() {
            let note = match tokio::time::timeout_at(deadline, conn.notes.recv()).await {
                Ok(Some(n)) => n,
                Ok(None) => {
                    failure = Some("the MQTT connection ended".into());
                    break;
                }
                Err(_) => {
                    failure = Some(format!(
                        "no acknowledgement within {:?} for {} of {} messages",
                        self.timeout,
                        queued.len() - acked,
                        queued.len()
                    ));
                    break;
                }
            };
            match note {
                Note::Sent(pkid) => {
                    if let Some(&i) = queued.get(next_sent) {
                        pkids.insert(pkid, i);
                        next_sent += 1;
                    }
                }
                Note::Acked(pkid, result) => {
                    if let Some(i) = pkids.remove(&pkid) {
                        if out[i].is_none() {
                            acked += 1;
                            out[i] = Some(result.map_err(SendError::Sink));
                        }
                    }
                }
                Note::Failed(e) => failure = Some(e),
            }
        }
        if let Some(e) = &failure {
            tracing::debug!("MQTT batch failed: {e}");
            // A fresh connection (and packet ids) for the next attempt.
            self.connection = None;
        }
        out.extend((out.len()..items.len()).map(|_| None));
        out.into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| {
                    Err(SendError::Sink(
                        failure.clone().unwrap_or_else(|| "not acknowledged".into()),
                    ))
                })
            })
            .collect()
    }
}

fn connection_error(host: &str, e: &dyn std::fmt::Display) -> String {
    format!("MQTT broker {host}: {e}")
}

async fn drive_v4(mut events: rumqttc::EventLoop, tx: mpsc::UnboundedSender<Note>) {
    use rumqttc::{Event, Outgoing, Packet};
    let host = events.mqtt_options.broker_address();
    let host = format!("{}:{}", host.0, host.1);
    loop {
        let note = match events.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Note::Sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Note::Acked(ack.pkid, Ok(())),
            Ok(_) => continue,
            Err(e) => Note::Failed(connection_error(&host, &e)),
        };
        let failed = matches!(note, Note::Failed(_));
        if tx.send(note).is_err() || failed {
            return;
        }
    }
}

async fn drive_v5(mut events: rumqttc::v5::EventLoop, tx: mpsc::UnboundedSender<Note>) {
    use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
    use rumqttc::v5::Event;
    use rumqttc::Outgoing;
    let host = events.options.broker_address();
    let host = format!("{}:{}", host.0, host.1);
    loop {
        let note = match events.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Note::Sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Note::Acked(
                ack.pkid,
                match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                    other => Err(format!("the broker refused the message: {other:?}")),
                },
            ),
            Ok(_) => continue,
            Err(e) => Note::Failed(connection_error(&host, &e)),
        };
        let failed = matches!(note, Note::Failed(_));
        if tx.send(note).is_err() || failed {
            return;
        }
    }
}
