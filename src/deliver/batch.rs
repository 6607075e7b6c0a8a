//! The run loop of the batching sinks (PostgreSQL, Redis, MQTT, Telegram):
//! they take their pending deliveries strictly in feed order, up to `batch`
//! at a time, so a table, a stream or a chat always holds a prefix of the
//! feed. A batch that fails waits as a whole; an event the sink turns down
//! for good goes to the dead-letter list at once and the rest go on.

use super::{backoff, conclude, mqtt, postgres, redis, telegram, SendError};
use crate::clock::now_ms;
use crate::config::{ChainConfig, SinkConfig, SinkKind};
use crate::store::{Delivery, DeliveryStatus, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// One delivery of a batch, with the event it carries.
pub struct Item {
    pub delivery: Delivery,
    /// The event as the feed holds it.
    pub event: Vec<u8>,
}

impl Item {
    /// What the sink is sent: the plugin's payload when it gave one, else
    /// the event.
    pub fn body(&self) -> &[u8] {
        self.delivery
            .payload
            .as_ref()
            .map_or(self.event.as_slice(), |p| p.get().as_bytes())
    }
}

/// A connection to one batching sink.
pub enum BatchClient {
    Postgres(Box<postgres::Postgres>),
    Redis(Box<redis::Redis>),
    Mqtt(Box<mqtt::Mqtt>),
    Telegram(Box<telegram::Telegram>),
}

impl BatchClient {
    pub fn new(sink: &SinkConfig, chains: &[ChainConfig]) -> anyhow::Result<Option<Self>> {
        Ok(Some(match &sink.kind {
            SinkKind::Postgres(p) => {
                BatchClient::Postgres(Box::new(postgres::Postgres::new(p.clone(), sink.timeout)))
            }
            SinkKind::Redis(r) => {
                BatchClient::Redis(Box::new(redis::Redis::new(r.clone(), sink.timeout)?))
            }
            SinkKind::Mqtt(m) => BatchClient::Mqtt(Box::new(mqtt::Mqtt::new(
                m.clone(),
                sink.timeout,
                sink.batch,
            )?)),
            SinkKind::Telegram(t) => {
                let explorers: HashMap<String, crate::config::Explorer> = chains
                    .iter()
                    .map(|c| (c.name.clone(), c.explorer.clone()))
                    .collect();
                BatchClient::Telegram(Box::new(telegram::Telegram::new(
                    t.clone(),
                    explorers,
                    sink.timeout,
                )?))
            }
            _ => return Ok(None),
        }))
    }

    /// Sends `items` in order; one result per item.
    async fn send(&mut self, items: &[Item]) -> Vec<Result<(), SendError>> {
        match self {
            BatchClient::Postgres(p) => p.send(items).await,
            BatchClient::Redis(r) => r.send(items).await,
            BatchClient::Mqtt(m) => m.send(items).await,
            BatchClient::Telegram(t) => t.send(items).await,
        }
    }
}

/// Delivers one batching sink's pending deliveries until `stop`.
pub async fn run(
    sink: SinkConfig,
    mut client: BatchClient,
    store: Arc<Store>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let name = sink.name.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let notified = wake.notified();
        let pending = match store.pending_deliveries(&name, sink.batch) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(sink = %name, "cannot read pending deliveries: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        if let Ok(n) = store.pending_count(&name, 4096) {
            metrics::gauge!(crate::telemetry::DELIVERIES_PENDING, "sink" => name.clone())
                .set(n as f64);
        }
        let now = now_ms();
        // The batch: the feed-order prefix of due deliveries. One not due
        // yet keeps everything after it waiting, so nothing overtakes it.
        let due = pending
            .iter()
            .take_while(|d| d.next_attempt_ms <= now)
            .count();
        if due == 0 {
            let wait = pending.first().map_or(Duration::from_secs(5), |d| {
                Duration::from_millis(d.next_attempt_ms.saturating_sub(now).min(5000))
            });
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let mut items = Vec::with_capacity(due);
        let mut gone = Vec::new();
        for mut d in pending.into_iter().take(due) {
            match store.event_json(d.seq) {
                Ok(Some(event)) => items.push(Item { delivery: d, event }),
                Ok(None) => {
                    d.status = DeliveryStatus::Dead;
                    d.last_error = Some("the event is no longer in the outbox".into());
                    gone.push(d);
                }
                Err(e) => {
                    tracing::error!(sink = %name, "cannot read event {}: {e}", d.seq);
                    break;
                }
            }
        }
        if !gone.is_empty() {
            if let Err(e) = store.save_deliveries(&gone) {
                tracing::error!(sink = %name, "cannot record dead deliveries: {e}");
            }
        }
        if items.is_empty() {
            continue;
        }
        let started = Instant::now();
        let results = tokio::select! {
            r = client.send(&items) => r,
            _ = stop.changed() => return,
        };
        metrics::histogram!(crate::telemetry::DELIVERY_SECONDS, "sink" => name.clone())
            .record(started.elapsed().as_secs_f64());
        let done = record(&sink, items, results);
        if let Err(e) = store.save_deliveries(&done) {
            tracing::error!(sink = %name, "cannot record {} delivery attempts: {e}", done.len());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// The deliveries of `items` after their attempt: delivered, failed (all
/// wait the same time, so they are tried again together and in order) or
/// dead.
fn record(
    sink: &SinkConfig,
    items: Vec<Item>,
    results: Vec<Result<(), SendError>>,
) -> Vec<Delivery> {
    let now = now_ms();
    // The wait: the backoff of the first failed delivery, or longer when
    // the sink asked for it.
    let wait = items
        .iter()
        .zip(&results)
        .filter_map(|(i, r)| match r {
            Err(e) if !e.is_final() => Some(
                backoff(sink, i.delivery.attempts + 1).max(e.retry_after().unwrap_or_default()),
            ),
            _ => None,
        })
        .max()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    let mut results = results.into_iter();
    let mut told = false;
    for item in items {
        let mut d = item.delivery;
        let result = results
            .next()
            .unwrap_or_else(|| Err(SendError::Sink("the sink gave no answer".into())));
        d.attempts += 1;
        // One warning per batch: its deliveries failed together.
        let outcome = conclude(sink, &mut d, result, wait, now, !told);
        told |= outcome == "failed";
        metrics::counter!(crate::telemetry::DELIVERIES, "sink" => sink.name.clone(), "outcome" => outcome)
            .increment(1);
        out.push(d);
    }
    out
}
