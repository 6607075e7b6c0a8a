//! The plugin pipeline and the thread that feeds it from the outbox.

use super::{DeliveryState, EventView};
use crate::clock::now_ms;
use crate::plugin::{Plugin, PluginEngine, Verdict};
use crate::store::{Delivery, DeliveryStatus, DispatchBatch, Store, Target};
use serde_json::value::RawValue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Events handled per database batch.
const BATCH: usize = 256;
/// An event can be held back at most this many times.
const MAX_DELAYS: u32 = 1000;

/// What the pipeline decided for one event.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Sinks to deliver to, each once, with the body a plugin chose.
    pub forwards: Vec<(String, Option<Box<RawValue>>)>,
    /// Plugins that failed on the event, with the cause.
    pub failed: Vec<(String, String)>,
    /// The plugin that held the event back, and for how long.
    pub delay: Option<(String, u64)>,
    /// The plugin that dropped the event, and why.
    pub dropped: Option<(String, String)>,
}

/// The configured plugins, in order.
pub struct Pipeline {
    plugins: Vec<Plugin>,
    sinks: Arc<[String]>,
}

impl Pipeline {
    pub fn new(plugins: Vec<Plugin>, sinks: Arc<[String]>) -> Self {
        Pipeline { plugins, sinks }
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// Where a plugin sits in the pipeline.
    pub fn position(&self, plugin: &str) -> Option<usize> {
        self.plugins.iter().position(|p| p.name() == plugin)
    }

    /// Passes one event (stored JSON) through the plugins from `start`;
    /// `delayed` is how often it has been held back so far.
    pub fn run(&mut self, event: &[u8], start: usize, delayed: u32) -> Outcome {
        let mut out = Outcome::default();
        if self.plugins.is_empty() {
            out.forwards = self.sinks.iter().map(|s| (s.clone(), None)).collect();
            return out;
        }
        let input = with_delayed(event, delayed);
        for plugin in self.plugins.iter_mut().skip(start) {
            let name = plugin.name().to_string();
            let verdict = plugin.call(&input);
            let action = match &verdict {
                Ok(Verdict::Forward { .. }) => "forward",
                Ok(Verdict::Drop { .. }) => "drop",
                Ok(Verdict::Delay { .. }) => "delay",
                Err(_) => "failed",
            };
            metrics::counter!(crate::telemetry::PLUGIN_VERDICTS, "plugin" => name.clone(), "action" => action)
                .increment(1);
            match verdict {
                Ok(Verdict::Forward { sinks, payload }) => {
                    let targets: Vec<String> = match sinks {
                        Some(list) => list,
                        None => self.sinks.to_vec(),
                    };
                    for s in targets {
                        if !out.forwards.iter().any(|(f, _)| *f == s) {
                            out.forwards.push((s, payload.clone()));
                        }
                    }
                }
                Ok(Verdict::Drop { reason }) => {
                    out.dropped = Some((name, reason));
                    break;
                }
                Ok(Verdict::Delay { ms }) => {
                    if delayed >= MAX_DELAYS {
                        out.failed.push((
                            name,
                            format!("held back {MAX_DELAYS} times already; not delayed again"),
                        ));
                        continue;
                    }
                    out.delay = Some((name, ms));
                    break;
                }
                Err(e) => {
                    if matches!(e, crate::plugin::CallError::Disabled { .. }) {
                        tracing::debug!(plugin = %name, "event set aside: plugin {e}");
                    } else {
                        tracing::warn!(plugin = %name, "plugin failed on an event: {e}");
                    }
                    out.failed.push((name, e.to_string()));
                }
            }
        }
        out
    }
}

/// The event JSON with `"delayed": n` added.
fn with_delayed(event: &[u8], delayed: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(event.len() + 16);
    match event.iter().rposition(|b| *b == b'}') {
        Some(end) => {
            v.extend_from_slice(&event[..end]);
            v.extend_from_slice(format!(",\"delayed\":{delayed}}}").as_bytes());
        }
        None => v.extend_from_slice(event),
    }
    v
}

/// Turns an outcome into delivery records and delays.
fn record(batch: &mut DispatchBatch, seq: u64, event: &[u8], delayed: u32, out: Outcome) {
    let Ok(view) = serde_json::from_slice::<EventView>(event) else {
        tracing::error!(seq, "stored event cannot be read; skipped by the pipeline");
        return;
    };
    let now = now_ms();
    let base = |target: Target| Delivery {
        id: Delivery::id_for(seq, &target),
        seq,
        event_id: view.id.to_string(),
        sink: None,
        plugin: None,
        chain: view.chain.to_string(),
        address: view.address.to_string(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        created_ms: now,
        since_ms: now,
        next_attempt_ms: now,
        delivered_ms: None,
        last_error: None,
        delayed: 0,
        payload: None,
    };
    for (sink, payload) in out.forwards {
        let mut d = base(Target::Sink(sink.clone()));
        d.sink = Some(sink);
        d.payload = payload;
        batch.deliveries.push(d);
    }
    for (plugin, error) in out.failed {
        let mut d = base(Target::Plugin(plugin.clone()));
        d.plugin = Some(plugin);
        d.status = DeliveryStatus::Dead;
        d.attempts = 1;
        d.last_error = Some(error);
        d.delayed = delayed;
        batch.deliveries.push(d);
    }
    if let Some((plugin, ms)) = out.delay {
        batch.delays.push((now + ms, seq, plugin, delayed + 1));
    }
    if let Some((plugin, reason)) = out.dropped {
        tracing::debug!(plugin = %plugin, event = %view.id, "event dropped: {reason}");
    }
}

/// The pipeline thread: handles held events that are due, then new events,
/// and sleeps until either appears.
pub(super) fn dispatch(
    engine: PluginEngine,
    mut pipeline: Pipeline,
    store: Arc<Store>,
    state: Arc<DeliveryState>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    rt: tokio::runtime::Handle,
) {
    let _engine = engine;
    let mut events = store.subscribe();
    let publish = |pipeline: &Pipeline| {
        *state.plugins.lock().expect("status lock") =
            pipeline.plugins().iter().map(|p| p.status()).collect();
    };
    publish(&pipeline);
    loop {
        if *stop.borrow() {
            return;
        }
        match step(&mut pipeline, &store) {
            Ok(progress) => {
                publish(&pipeline);
                if let Ok(c) = store.dispatch_cursor() {
                    state.dispatched.store(c, Ordering::Relaxed);
                    metrics::gauge!(crate::telemetry::DISPATCHED_SEQ).set(c as f64);
                    metrics::gauge!(crate::telemetry::OUTBOX_DEPTH)
                        .set(store.last_seq().saturating_sub(c) as f64);
                }
                if progress.delivered {
                    wake.notify_waiters();
                }
                if progress.busy {
                    continue;
                }
            }
            Err(e) => tracing::error!("plugin pipeline: {e}"),
        }
        // Sleep until a new event, the next held event, or a stop.
        let wait = match store.next_delay_ms() {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).clamp(1, 1000)),
            _ => Duration::from_secs(1),
        };
        rt.block_on(async {
            tokio::select! {
                _ = events.changed() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        });
    }
}

struct Progress {
    /// More work may be waiting right away.
    busy: bool,
    /// New sink deliveries were recorded.
    delivered: bool,
}

fn step(pipeline: &mut Pipeline, store: &Store) -> Result<Progress, crate::store::StoreError> {
    let mut batch = DispatchBatch::default();
    let due = store.due_delays(now_ms(), BATCH)?;
    let held = due.len();
    for d in due {
        if let Some(event) = store.event_json(d.seq)? {
            // A plugin removed from the configuration: start over; sinks
            // already given the event do not get it twice.
            let start = pipeline.position(&d.plugin).unwrap_or(0);
            let out = pipeline.run(&event, start, d.delayed);
            if out.failed.iter().all(|(p, _)| *p != d.plugin) {
                batch.resolved.push((d.seq, d.plugin.clone()));
            }
            record(&mut batch, d.seq, &event, d.delayed, out);
        }
        batch.done.push(d);
    }
    let cursor = store.dispatch_cursor()?;
    let new = store.events_after_raw(cursor, BATCH)?;
    let fresh = new.len();
    for (seq, event) in new {
        let out = pipeline.run(&event, 0, 0);
        record(&mut batch, seq, &event, 0, out);
        batch.cursor = Some(seq);
    }
    if held == 0 && fresh == 0 {
        return Ok(Progress {
            busy: false,
            delivered: false,
        });
    }
    let created = store.commit_dispatch(batch)?;
    Ok(Progress {
        busy: held == BATCH || fresh == BATCH,
        delivered: !created.is_empty(),
    })
}
