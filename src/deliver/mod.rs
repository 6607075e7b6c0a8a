//! From the outbox to the sinks: the plugin pipeline decides, per event,
//! which sinks get it; one worker per sink delivers, retries with backoff and
//! dead-letters what it cannot deliver. All state lives in the store, so a
//! restart resumes where the last run stopped.

mod batch;
pub mod epusdt;
mod mqtt;
mod nats;
mod pipeline;
mod postgres;
mod redis;
mod telegram;
mod webhook;
pub use webhook::signature;

use crate::clock::now_ms;
use crate::config::{Config, SinkConfig, SinkKind};
use crate::plugin::{PluginEngine, PluginSpec, PluginStatus};
use crate::store::{Delivery, DeliveryStatus, Store};
use backon::BackoffBuilder;
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

pub use batch::{run as run_batched, BatchClient};
pub use pipeline::{Outcome, Pipeline};

/// The fields of an event that routing and headers need.
#[derive(Deserialize)]
pub struct EventView<'a> {
    #[serde(borrow)]
    pub id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub chain: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub network: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub address: std::borrow::Cow<'a, str>,
    /// Empty for an `address.*` event, which has none.
    #[serde(borrow, default)]
    pub direction: std::borrow::Cow<'a, str>,
    pub asset: AssetView,
}

#[derive(Deserialize)]
pub struct AssetView {
    pub symbol: String,
}

/// What `/v1/status` shows of delivery.
#[derive(Default)]
pub struct DeliveryState {
    plugins: Mutex<Vec<PluginStatus>>,
    /// The pipeline's position in the event feed.
    dispatched: std::sync::atomic::AtomicU64,
    pub sinks: Vec<String>,
    /// Wakes the sink workers (new deliveries, a manual retry).
    wake: Arc<Notify>,
}

impl DeliveryState {
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.plugins.lock().expect("status lock").clone()
    }

    pub fn dispatched_seq(&self) -> u64 {
        self.dispatched.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The running pipeline and sink workers.
pub struct Deliverer {
    pub state: Arc<DeliveryState>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub dispatcher: Option<std::thread::JoinHandle<()>>,
}

/// Loads the plugins (refusing to start when one cannot load) and starts the
/// pipeline thread and one worker per sink. Without sinks nothing starts:
/// events stay readable through `/v1/events`.
pub fn start(
    config: &Config,
    store: Arc<Store>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Deliverer> {
    let mut sinks = config.sinks.clone();
    if config.epusdt.is_some() {
        sinks.push(SinkConfig {
            name: "epusdt".into(),
            kind: SinkKind::Epusdt {
                merchants: config.merchants.clone(),
            },
            timeout: Duration::from_secs(10),
            retry: crate::config::RetryPolicy::default(),
            concurrency: 16,
            batch: 1,
        });
    }
    let sink_names: Arc<[String]> = sinks.iter().map(|s| s.name.clone()).collect();
    let state = Arc::new(DeliveryState {
        sinks: sink_names.to_vec(),
        ..Default::default()
    });
    if sinks.is_empty() {
        return Ok(Deliverer {
            state,
            tasks: Vec::new(),
            dispatcher: None,
        });
    }
    let engine = PluginEngine::new(Some(config.data_dir.join("plugin-cache")))?;
    let mut plugins = Vec::new();
    for p in &config.plugins {
        let plugin = engine.load(PluginSpec {
            name: &p.name,
            path: &p.path,
            config: &p.config,
            limits: &p.limits,
            kv: store.clone(),
            sinks: sink_names.clone(),
            capture_logs: false,
        })?;
        tracing::info!(plugin = %p.name, path = %p.path.display(), "plugin loaded");
        plugins.push(plugin);
    }
    let pipeline = Pipeline::new(plugins, sink_names.clone());
    let wake = state.wake.clone();
    let mut tasks = Vec::new();
    for sink in &sinks {
        if let Some(client) = batch::BatchClient::new(sink, &config.chains)? {
            tasks.push(tokio::spawn(batch::run(
                sink.clone(),
                client,
                store.clone(),
                wake.clone(),
                stop.clone(),
            )));
            continue;
        }
        let client = SinkClient::new(sink)?;
        tasks.push(tokio::spawn(run_sink(
            sink.clone(),
            client,
            store.clone(),
            wake.clone(),
            stop.clone(),
        )));
    }
    let dispatcher = {
        let (store, state, wake) = (store.clone(), state.clone(), wake.clone());
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("plugin-pipeline".into())
            .spawn(move || pipeline::dispatch(engine, pipeline, store, state, wake, stop, handle))?
    };
    Ok(Deliverer {
        state,
        tasks,
        dispatcher: Some(dispatcher),
    })
}

/// A connection to one sink.
pub enum SinkClient {
    Webhook(webhook::Webhook),
    /// The shop protocols' callbacks.
    Epusdt(Box<ShopCallbacks>),
    Nats(Box<nats::Nats>),
}

impl SinkClient {
    pub fn new(sink: &SinkConfig) -> anyhow::Result<Self> {
        Ok(match &sink.kind {
            SinkKind::Webhook { url, secret } => SinkClient::Webhook(webhook::Webhook::new(
                url.clone(),
                secret.clone(),
                sink.timeout,
            )?),
            SinkKind::Epusdt { merchants } => {
                let client = || {
                    reqwest::Client::builder()
                        .timeout(sink.timeout)
                        // As for webhooks: a redirected POST loses its body.
                        .redirect(reqwest::redirect::Policy::none())
                };
                SinkClient::Epusdt(Box::new(ShopCallbacks {
                    // Names are resolved to public addresses only.
                    public: client()
                        .dns_resolver(Arc::new(crate::invoice::notify::PublicOnly))
                        .build()?,
                    any: client().build()?,
                    merchants: merchants.clone(),
                }))
            }
            SinkKind::Nats {
                url,
                subject,
                stream,
            } => SinkClient::Nats(Box::new(nats::Nats::new(
                url.clone(),
                subject.clone(),
                stream.clone(),
                sink.timeout,
            ))),
            SinkKind::Postgres(_)
            | SinkKind::Redis(_)
            | SinkKind::Mqtt(_)
            | SinkKind::Telegram(_) => {
                anyhow::bail!("sink `{}` is delivered in batches", sink.name)
            }
        })
    }

    /// One attempt: `Ok` when the sink accepted `body`.
    pub async fn send(
        &self,
        d: &Delivery,
        body: &[u8],
        event: &EventView<'_>,
    ) -> Result<(), SendError> {
        match self {
            SinkClient::Webhook(w) => w.send(d, body, event).await,
            SinkClient::Nats(n) => n.send(body, event).await,
            SinkClient::Epusdt(shop) => shop.send(body).await,
        }
    }
}

/// Why a sink did not accept an event; the message is what
/// `GET /v1/deliveries` shows as `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection, or it broke: the error and its causes.
    #[error("{0}")]
    Unreachable(String),
    #[error(
        "{url} answered {status}, to {location}: redirects are not followed, \
         set the sink's url to where the receiver is"
    )]
    Redirected {
        url: url::Url,
        status: reqwest::StatusCode,
        location: String,
    },
    #[error("{url} answered {status}: {text}")]
    Refused {
        url: url::Url,
        status: reqwest::StatusCode,
        text: String,
    },
    /// A shop that did not answer `ok` or `success`.
    #[error("{url} answered {status} `{text}` (expected `ok` or `success`)")]
    NotOk {
        url: String,
        status: reqwest::StatusCode,
        text: String,
    },
    #[error("not an event: {0}")]
    NotAnEvent(#[source] serde_json::Error),
    #[error(transparent)]
    NotifyUrl(#[from] crate::invoice::notify::UrlError),
    /// The NATS server refused or did not acknowledge.
    #[error("{0}")]
    Nats(String),
    /// A PostgreSQL, Redis, MQTT or Telegram sink failed; worth trying again.
    #[error("{0}")]
    Sink(String),
    /// The sink turned this one event down and would again: it goes to the
    /// dead-letter list at once, and the events after it go on.
    #[error("{0}")]
    Rejected(String),
    /// The sink asked paywatch to wait before sending again.
    #[error("{text} (asked to wait {after:?})")]
    RateLimited { after: Duration, text: String },
}

impl SendError {
    /// Whether trying again cannot help.
    pub fn is_final(&self) -> bool {
        matches!(self, SendError::Rejected(_))
    }

    /// How long the sink asked to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::RateLimited { after, .. } => Some(*after),
            _ => None,
        }
    }
}

/// The shop protocols' callbacks: two clients (one that reaches public
/// addresses only) and the merchants whose secrets sign them.
pub struct ShopCallbacks {
    public: reqwest::Client,
    any: reqwest::Client,
    merchants: Vec<crate::config::MerchantConfig>,
}

impl ShopCallbacks {
    /// Sends the callback an event owes its order's shop; most events owe
    /// none. The shop must answer `ok` or `success` (any case).
    async fn send(&self, body: &[u8]) -> Result<(), SendError> {
        let event: serde_json::Value =
            serde_json::from_slice(body).map_err(SendError::NotAnEvent)?;
        let merchant = event["invoice"]["merchant"].as_str();
        let Some(m) = self.merchants.iter().find(|m| m.recorded_id() == merchant) else {
            if event["invoice"]["metadata"].get("epusdt").is_some() {
                return Err(SendError::Rejected(format!(
                    "invoice {}: its merchant `{}` is no longer configured; its callback cannot be signed",
                    event["invoice"]["id"],
                    merchant.unwrap_or("")
                )));
            }
            return Ok(());
        };
        let Some(callback) = epusdt::callback(&event, m.secret.expose()) else {
            return Ok(());
        };
        // Errors name the URL without its query (an EPay callback's
        // parameters and signature).
        let url = callback.url.split('?').next().unwrap_or("").to_string();
        // Checked again when sent: an order stored before the rule, or under
        // a config that allowed private addresses, is not called now.
        let target =
            crate::invoice::notify::check("notify_url", &callback.url, m.allow_private_notify)?;
        let client = if m.allow_private_notify {
            &self.any
        } else {
            &self.public
        };
        let request = match callback.body {
            Some(json) => client
                .post(target)
                .header("content-type", "application/json")
                .body(json),
            None => client.get(target),
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Unreachable(format!("{url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer = text.trim();
        if status.is_success()
            && (answer.eq_ignore_ascii_case("ok") || answer.eq_ignore_ascii_case("success"))
        {
            Ok(())
        } else {
            Err(SendError::NotOk {
                url,
                status,
                text: text.chars().take(100).collect(),
            })
        }
    }
}

/// The wait before attempt `attempts + 1`, growing from `first` to `max`
/// with jitter.
fn backoff(sink: &SinkConfig, attempts: u32) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(sink.retry.first)
        .with_max_delay(sink.retry.max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempts.saturating_sub(1) as usize)
        .unwrap_or(sink.retry.max)
        .min(sink.retry.max)
}

/// Delivers one sink's pending deliveries until `stop`: the oldest pending
/// delivery of each address goes first, so an address's events arrive in
/// order; different addresses go in parallel.
pub async fn run_sink(
    sink: SinkConfig,
    client: SinkClient,
    store: Arc<Store>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let client = Arc::new(client);
    let name = sink.name.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let notified = wake.notified();
        let pending = match store.pending_deliveries(&name, 4096) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(sink = %name, "cannot read pending deliveries: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        metrics::gauge!(crate::telemetry::DELIVERIES_PENDING, "sink" => name.clone())
            .set(pending.len() as f64);
        let now = now_ms();
        // Per address, the due deliveries up to the first one that is not
        // due yet, in feed order: each such run goes out one after the
        // other, different addresses in parallel.
        let mut runs: Vec<Vec<Delivery>> = Vec::new();
        let mut by_address: HashMap<(String, String), Option<usize>> = HashMap::new();
        let mut next_due = u64::MAX;
        for d in pending {
            let key = (d.chain.clone(), d.address.clone());
            let due = d.next_attempt_ms <= now;
            if !due {
                next_due = next_due.min(d.next_attempt_ms);
            }
            match by_address.get(&key).copied() {
                Some(None) => {}
                Some(Some(run)) if due => runs[run].push(d),
                Some(Some(_)) => {
                    by_address.insert(key, None);
                }
                None if due => {
                    by_address.insert(key, Some(runs.len()));
                    runs.push(vec![d]);
                }
                None => {
                    by_address.insert(key, None);
                }
            }
        }
        if runs.is_empty() {
            let wait = match next_due {
                u64::MAX => Duration::from_secs(5),
                due => Duration::from_millis(due.saturating_sub(now).min(5000)),
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        futures_util::stream::iter(runs)
            .map(|run| async {
                for d in run {
                    // A failure keeps the address's later events waiting.
                    if !attempt(&sink, &client, &store, d).await {
                        break;
                    }
                }
            })
            .buffer_unordered(sink.concurrency)
            .for_each(|_| async {})
            .await;
    }
}

/// Records the outcome of one attempt on `d` (its `attempts` already
/// counted): delivered, dead (turned down for good, or `wait` would pass
/// the sink's `retry_for`) or failed, tried again after `wait`. Returns the
/// outcome's metric label; `warn` logs a failure.
fn conclude(
    sink: &SinkConfig,
    d: &mut Delivery,
    result: Result<(), SendError>,
    wait: Duration,
    now: u64,
    warn: bool,
) -> &'static str {
    match result {
        Ok(()) => {
            d.status = DeliveryStatus::Delivered;
            d.delivered_ms = Some(now);
            d.last_error = None;
            "delivered"
        }
        Err(e) if e.is_final() => {
            d.status = DeliveryStatus::Dead;
            d.last_error = Some(e.to_string());
            tracing::error!(sink = %sink.name, delivery = %d.id, "the sink turned the event down, now on the dead-letter list: {e}");
            "dead"
        }
        Err(e) => {
            let give_up = d.since_ms + sink.retry.give_up_after.as_millis() as u64;
            d.last_error = Some(e.to_string());
            if now + wait.as_millis() as u64 > give_up {
                d.status = DeliveryStatus::Dead;
                tracing::error!(sink = %sink.name, delivery = %d.id, attempts = d.attempts, "delivery given up, now on the dead-letter list: {e}");
                "dead"
            } else {
                d.next_attempt_ms = now + wait.as_millis() as u64;
                if warn {
                    tracing::warn!(sink = %sink.name, delivery = %d.id, attempts = d.attempts, retry_in = ?wait, "delivery failed: {e}");
                }
                "failed"
            }
        }
    }
}

/// One delivery attempt, recorded; `true` when the sink accepted it.
async fn attempt(sink: &SinkConfig, client: &SinkClient, store: &Store, mut d: Delivery) -> bool {
    let event = match store.event_json(d.seq) {
        Ok(Some(e)) => e,
        Ok(None) => {
            d.status = DeliveryStatus::Dead;
            d.last_error = Some("the event is no longer in the outbox".into());
            let _ = store.save_delivery(&d);
            return false;
        }
        Err(e) => {
            tracing::error!(sink = %sink.name, "cannot read event {}: {e}", d.seq);
            return false;
        }
    };
    let Ok(view) = serde_json::from_slice::<EventView>(&event) else {
        d.status = DeliveryStatus::Dead;
        d.last_error = Some("the stored event cannot be read".into());
        let _ = store.save_delivery(&d);
        return false;
    };
    let body = d
        .payload
        .as_ref()
        .map_or(event.as_slice(), |p| p.get().as_bytes());
    let started = Instant::now();
    let result = match tokio::time::timeout(sink.timeout, client.send(&d, body, &view)).await {
        Ok(r) => r,
        Err(_) => Err(SendError::Timeout(sink.timeout)),
    };
    metrics::histogram!(crate::telemetry::DELIVERY_SECONDS, "sink" => sink.name.clone())
        .record(started.elapsed().as_secs_f64());
    d.attempts += 1;
    let wait = match &result {
        Err(e) => backoff(sink, d.attempts).max(e.retry_after().unwrap_or_default()),
        Ok(()) => Duration::ZERO,
    };
    let outcome = conclude(sink, &mut d, result, wait, now_ms(), true);
    metrics::counter!(crate::telemetry::DELIVERIES, "sink" => sink.name.clone(), "outcome" => outcome)
        .increment(1);
    if let Err(e) = store.save_delivery(&d) {
        tracing::error!(sink = %sink.name, delivery = %d.id, "cannot record the delivery attempt: {e}");
        return false;
    }
    d.status == DeliveryStatus::Delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline read every event through `EventView`, which wanted a
    /// `direction`: `address.frozen` and `address.unfrozen` have none, so
    /// they were skipped and reached no sink.
    #[test]
    fn address_events_reach_the_sinks() {
        let e = crate::event::AddressEvent {
            id: "tron:ab:3:frozen:0102030405060708:frozen".into(),
            kind: crate::event::AddressEventType::Frozen,
            seq: 9,
            chain: "tron".into(),
            network: "mainnet".into(),
            address: "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf".into(),
            asset: crate::transfer::Asset {
                symbol: "USDT".into(),
                decimals: 6,
                contract: Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".into()),
            },
            txid: crate::transfer::Hash32::new([0xab; 32]),
            index: 3,
            block: crate::transfer::BlockRef {
                height: 1,
                hash: crate::transfer::Hash32::new([1; 32]),
                time: 0,
            },
            watch: Default::default(),
            destroyed: None,
        };
        let json = serde_json::to_vec(&e).unwrap();
        let view: EventView = serde_json::from_slice(&json).unwrap();
        assert_eq!(view.kind, "address.frozen");
        assert_eq!(view.direction, "");
    }
}
