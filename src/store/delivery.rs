//! Delivery state, the plugin pipeline's cursor and delays, and the plugins'
//! key-value stores.
//!
//! | family           | key                                   | value            |
//! |------------------|---------------------------------------|------------------|
//! | `deliveries`     | `seq tag name` (tag `s` sink, `p` plugin) | delivery JSON |
//! | `delivery_queue` | `P sink 0 seq`                        | empty (pending)  |
//! |                  | `D seq tag name`                      | empty (dead)     |
//! |                  | `T due-ms seq plugin`                 | times delayed    |
//! | `plugin_kv`      | `plugin 0 key`                        | value            |
//! | `meta`           | `dispatch`, `kvsize/<plugin>`         | cursor, bytes used |
//!
//! Delivery writes are not synced one by one: the events they come from are
//! durable in the outbox, and a delivery lost to a power cut is made again
//! from there (delivery is at-least-once).

use super::{corrupt, Store, StoreError, CF_META, CF_OUTBOX};
use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

pub(super) const CF_DELIVERIES: &str = "deliveries";
pub(super) const CF_QUEUE: &str = "delivery_queue";
pub(super) const CF_PLUGIN_KV: &str = "plugin_kv";
const KEY_DISPATCH: &[u8] = b"dispatch";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Accepted by the sink (or, for a plugin, handled on a retry).
    Delivered,
    /// Given up; waits on the dead-letter list for a manual retry.
    Dead,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// One event on its way to one sink, or one event a plugin failed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// `<seq>.<sink>` or `<seq>.plugin.<plugin>`.
    pub id: String,
    pub seq: u64,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub chain: String,
    pub address: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_ms: u64,
    /// Retries give up this long after this time (creation or a manual retry).
    pub since_ms: u64,
    pub next_attempt_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// For a plugin's dead letter: how often the event had been delayed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delayed: u32,
    /// The body to deliver instead of the event, from a plugin's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Box<RawValue>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a delivery goes: a sink or (for a dead letter) a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sink(String),
    Plugin(String),
}

impl Delivery {
    pub fn target(&self) -> Target {
        match (&self.sink, &self.plugin) {
            (Some(s), _) => Target::Sink(s.clone()),
            (None, Some(p)) => Target::Plugin(p.clone()),
            (None, None) => Target::Sink(String::new()),
        }
    }

    pub fn id_for(seq: u64, target: &Target) -> String {
        match target {
            Target::Sink(s) => format!("{seq}.{s}"),
            Target::Plugin(p) => format!("{seq}.plugin.{p}"),
        }
    }
}

/// Parses a delivery id into its event sequence number and target.
pub fn parse_delivery_id(id: &str) -> Option<(u64, Target)> {
    let (seq, rest) = id.split_once('.')?;
    let seq = seq.parse().ok()?;
    let target = match rest.strip_prefix("plugin.") {
        Some(p) if !p.is_empty() => Target::Plugin(p.to_string()),
        _ if !rest.is_empty() && !rest.contains('.') => Target::Sink(rest.to_string()),
        _ => return None,
    };
    Some((seq, target))
}

fn record_key(seq: u64, target: &Target) -> Vec<u8> {
    let (tag, name) = match target {
        Target::Sink(s) => (b's', s),
        Target::Plugin(p) => (b'p', p),
    };
    let mut k = Vec::with_capacity(9 + name.len());
    k.extend_from_slice(&seq.to_be_bytes());
    k.push(tag);
    k.extend_from_slice(name.as_bytes());
    k
}

fn pending_prefix(sink: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(sink.len() + 10);
    k.push(b'P');
    k.extend_from_slice(sink.as_bytes());
    k.push(0);
    k
}

fn pending_key(sink: &str, seq: u64) -> Vec<u8> {
    let mut k = pending_prefix(sink);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn dead_key(seq: u64, target: &Target) -> Vec<u8> {
    let mut k = vec![b'D'];
    k.extend_from_slice(&record_key(seq, target));
    k
}

fn kv_key(plugin: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(plugin.len() + 1 + key.len());
    k.extend_from_slice(plugin.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

fn kv_size_key(plugin: &str) -> Vec<u8> {
    format!("kvsize/{plugin}").into_bytes()
}

fn u64_of(v: &[u8], what: &'static str) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(
        v.try_into().map_err(|_| corrupt(what, "not 8 bytes"))?,
    ))
}

/// A held event whose delay has passed.
#[derive(Debug, Clone)]
pub struct DueDelay {
    key: Vec<u8>,
    pub seq: u64,
    pub plugin: String,
    pub delayed: u32,
}

/// Everything one step of the plugin pipeline changes, written at once.
#[derive(Default)]
pub struct DispatchBatch {
    /// The newest event handled (moves the pipeline's cursor).
    pub cursor: Option<u64>,
    /// New sink deliveries (skipped when one exists for the same event and
    /// sink) and plugin dead letters (replacing an earlier one).
    pub deliveries: Vec<Delivery>,
    /// Events to hand to a plugin again: `(due ms, seq, plugin, times delayed)`.
    pub delays: Vec<(u64, u64, String, u32)>,
    /// Delays that were handled.
    pub done: Vec<DueDelay>,
    /// Plugin dead letters resolved by a successful retry.
    pub resolved: Vec<(u64, String)>,
}

impl Store {
    /// The sequence number of the newest event the pipeline has handled.
    pub fn dispatch_cursor(&self) -> Result<u64, StoreError> {
        match self.db.get_cf(self.cf(CF_META), KEY_DISPATCH)? {
            None => Ok(0),
            Some(v) => u64_of(&v, "dispatch cursor"),
        }
    }

    /// The stored JSON of event `seq`, exactly as `/v1/events` serves it.
    pub fn event_json(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_OUTBOX), seq.to_be_bytes())?)
    }

    /// Writes one pipeline step; returns the sink deliveries actually created.
    pub fn commit_dispatch(&self, b: DispatchBatch) -> Result<Vec<String>, StoreError> {
        let _guard = self.delivery_lock.lock().expect("delivery lock");
        let (records, queue) = (self.cf(CF_DELIVERIES), self.cf(CF_QUEUE));
        let mut batch = WriteBatch::default();
        let mut created = Vec::new();
        for d in &b.deliveries {
            let target = d.target();
            let key = record_key(d.seq, &target);
            let mut d = d.clone();
            match &target {
                Target::Sink(sink) => {
                    if self.db.get_pinned_cf(records, &key)?.is_some() {
                        continue;
                    }
                    batch.put_cf(queue, pending_key(sink, d.seq), []);
                    created.push(sink.clone());
                }
                Target::Plugin(_) => {
                    if let Some(old) = self.db.get_pinned_cf(records, &key)? {
                        let old: Delivery =
                            serde_json::from_slice(&old).map_err(|e| corrupt("delivery", e))?;
                        d.attempts += old.attempts;
                        d.created_ms = old.created_ms;
                    }
                    batch.put_cf(queue, dead_key(d.seq, &target), []);
                }
            }
            batch.put_cf(records, &key, encode(&d));
        }
        for (seq, plugin) in &b.resolved {
            let target = Target::Plugin(plugin.clone());
            let key = record_key(*seq, &target);
            if let Some(v) = self.db.get_pinned_cf(records, &key)? {
                let mut d: Delivery =
                    serde_json::from_slice(&v).map_err(|e| corrupt("delivery", e))?;
                if d.status != DeliveryStatus::Dead {
                    d.status = DeliveryStatus::Delivered;
                    d.delivered_ms = Some(crate::clock::now_ms());
                    batch.put_cf(records, &key, encode(&d));
                }
            }
        }
        for (due, seq, plugin, delayed) in &b.delays {
            let mut k = vec![b'T'];
            k.extend_from_slice(&due.to_be_bytes());
            k.extend_from_slice(&seq.to_be_bytes());
            k.extend_from_slice(plugin.as_bytes());
            batch.put_cf(queue, k, delayed.to_be_bytes());
        }
        for d in &b.done {
            batch.delete_cf(queue, &d.key);
        }
        if let Some(c) = b.cursor {
            batch.put_cf(self.cf(CF_META), KEY_DISPATCH, c.to_be_bytes());
        }
        self.written(self.db.write(batch))?;
        Ok(created)
    }

    /// Held events due at `now_ms`, oldest due first.
    pub fn due_delays(&self, now_ms: u64, limit: usize) -> Result<Vec<DueDelay>, StoreError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_QUEUE),
            IteratorMode::From(b"T", rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if k.first() != Some(&b'T') || k.len() < 17 || out.len() >= limit {
                break;
            }
            if u64_of(&k[1..9], "delay")? > now_ms {
                break;
            }
            out.push(DueDelay {
                seq: u64_of(&k[9..17], "delay")?,
                plugin: String::from_utf8_lossy(&k[17..]).into_owned(),
                delayed: u32::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| corrupt("delay", "not 4 bytes"))?,
                ),
                key: k.to_vec(),
            });
        }
        Ok(out)
    }

    /// When the next held event is due (Unix ms), if any is held.
    pub fn next_delay_ms(&self) -> Result<Option<u64>, StoreError> {
        let mut iter = self.db.iterator_cf(
            self.cf(CF_QUEUE),
            IteratorMode::From(b"T", rocksdb::Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (k, _) = item?;
                if k.first() == Some(&b'T') && k.len() >= 9 {
                    return Ok(Some(u64_of(&k[1..9], "delay")?));
                }
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// A sink's pending deliveries in event order, at most `limit`.
    pub fn pending_deliveries(
        &self,
        sink: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let prefix = pending_prefix(sink);
        let iter = self.db.iterator_cf(
            self.cf(CF_QUEUE),
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let seq = u64_of(&k[prefix.len()..], "pending delivery")?;
            if let Some(d) = self.get_record(seq, &Target::Sink(sink.to_string()))? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// How many deliveries wait for `sink`, counted up to `cap`.
    pub fn pending_count(&self, sink: &str, cap: usize) -> Result<usize, StoreError> {
        let prefix = pending_prefix(sink);
        let iter = self.db.iterator_cf(
            self.cf(CF_QUEUE),
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        let mut n = 0;
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || n >= cap {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    fn get_record(&self, seq: u64, target: &Target) -> Result<Option<Delivery>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_DELIVERIES), record_key(seq, target))?
        {
            None => Ok(None),
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|e| corrupt("delivery", e))?,
            )),
        }
    }

    /// Records the outcome of an attempt: the record, and the queues its
    /// status puts it in.
    pub fn save_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        self.save_deliveries(std::slice::from_ref(d))
    }

    /// Records several delivery attempts in one write (a batching sink's
    /// batch).
    pub fn save_deliveries(&self, ds: &[Delivery]) -> Result<(), StoreError> {
        let _guard = self.delivery_lock.lock().expect("delivery lock");
        let mut batch = WriteBatch::default();
        for d in ds {
            self.stage_delivery(&mut batch, d);
        }
        self.written(self.db.write(batch))?;
        Ok(())
    }

    fn stage_delivery(&self, batch: &mut WriteBatch, d: &Delivery) {
        let target = d.target();
        let queue = self.cf(CF_QUEUE);
        batch.put_cf(
            self.cf(CF_DELIVERIES),
            record_key(d.seq, &target),
            encode(d),
        );
        if let Target::Sink(sink) = &target {
            match d.status {
                DeliveryStatus::Pending => batch.put_cf(queue, pending_key(sink, d.seq), []),
                _ => batch.delete_cf(queue, pending_key(sink, d.seq)),
            }
        }
        match d.status {
            DeliveryStatus::Dead => batch.put_cf(queue, dead_key(d.seq, &target), []),
            _ => batch.delete_cf(queue, dead_key(d.seq, &target)),
        }
    }

    /// One delivery by id.
    pub fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        match parse_delivery_id(id) {
            Some((seq, target)) => self.get_record(seq, &target),
            None => Ok(None),
        }
    }

    /// Deliveries with `status` (every status when `None`), in event order,
    /// starting after the delivery `after`; at most `limit`.
    pub fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        sink: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let wanted = |d: &Delivery| sink.is_none_or(|s| d.sink.as_deref() == Some(s));
        let after_key = after
            .and_then(parse_delivery_id)
            .map(|(s, t)| record_key(s, &t));
        let mut out = Vec::new();
        if status == Some(DeliveryStatus::Dead) {
            let start = match &after_key {
                Some(k) => [&[b'D'][..], k, &[0]].concat(),
                None => vec![b'D'],
            };
            let iter = self.db.iterator_cf(
                self.cf(CF_QUEUE),
                IteratorMode::From(&start, rocksdb::Direction::Forward),
            );
            for item in iter {
                let (k, _) = item?;
                if k.first() != Some(&b'D') || out.len() >= limit {
                    break;
                }
                if let Some(v) = self.db.get_pinned_cf(self.cf(CF_DELIVERIES), &k[1..])? {
                    let d: Delivery =
                        serde_json::from_slice(&v).map_err(|e| corrupt("delivery", e))?;
                    if wanted(&d) {
                        out.push(d);
                    }
                }
            }
            return Ok(out);
        }
        let start = match &after_key {
            Some(k) => [&k[..], &[0]].concat(),
            None => Vec::new(),
        };
        let iter = self.db.iterator_cf(
            self.cf(CF_DELIVERIES),
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (_, v) = item?;
            let d: Delivery = serde_json::from_slice(&v).map_err(|e| corrupt("delivery", e))?;
            if status.is_none_or(|s| s == d.status) && wanted(&d) {
                out.push(d);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Puts a dead delivery back: a sink delivery becomes pending with a
    /// fresh retry window, a plugin's dead letter is handed to the plugin
    /// again. Returns the updated record; `None` when there is no such
    /// delivery, `Some(Err(status))` when it is not dead.
    pub fn retry_delivery(
        &self,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<Result<Delivery, DeliveryStatus>>, StoreError> {
        let Some(mut d) = self.delivery(id)? else {
            return Ok(None);
        };
        if d.status != DeliveryStatus::Dead {
            return Ok(Some(Err(d.status)));
        }
        d.since_ms = now_ms;
        d.next_attempt_ms = now_ms;
        match d.target() {
            Target::Sink(_) => {
                d.status = DeliveryStatus::Pending;
                self.save_delivery(&d)?;
            }
            Target::Plugin(p) => {
                d.status = DeliveryStatus::Pending;
                self.save_delivery(&d)?;
                self.commit_dispatch(DispatchBatch {
                    delays: vec![(now_ms, d.seq, p, d.delayed)],
                    ..Default::default()
                })?;
            }
        }
        Ok(Some(Ok(d)))
    }

    /// Pending and dead deliveries per sink, and dead letters per plugin
    /// (keyed `plugin.<name>`).
    pub fn delivery_counts(&self) -> Result<BTreeMap<String, (u64, u64)>, StoreError> {
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for item in self.db.iterator_cf(self.cf(CF_QUEUE), IteratorMode::Start) {
            let (k, _) = item?;
            match k.first() {
                Some(b'P') => {
                    let name_end = k.len().saturating_sub(9);
                    let name = String::from_utf8_lossy(&k[1..name_end]).into_owned();
                    counts.entry(name).or_default().0 += 1;
                }
                Some(b'D') if k.len() > 10 => {
                    let name = String::from_utf8_lossy(&k[10..]).into_owned();
                    let name = if k[9] == b'p' {
                        format!("plugin.{name}")
                    } else {
                        name
                    };
                    counts.entry(name).or_default().1 += 1;
                }
                _ => {}
            }
        }
        Ok(counts)
    }

    fn kv_used(&self, plugin: &str) -> Result<u64, StoreError> {
        match self.db.get_cf(self.cf(CF_META), kv_size_key(plugin))? {
            None => Ok(0),
            Some(v) => u64_of(&v, "kv size"),
        }
    }
}

/// Plugin key-value storage (the `kv_*` host functions), under the delivery
/// lock so that a plugin's quota is counted exactly.
impl Store {
    pub fn plugin_kv_get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_PLUGIN_KV), kv_key(plugin, key))?)
    }

    /// Stores `value` unless the plugin's keys and values would then take
    /// more than `quota` bytes; `Ok(false)` when they would.
    pub fn plugin_kv_set(
        &self,
        plugin: &str,
        key: &[u8],
        value: &[u8],
        quota: u64,
    ) -> Result<bool, StoreError> {
        let _guard = self.delivery_lock.lock().expect("delivery lock");
        let k = kv_key(plugin, key);
        let old = self
            .db
            .get_pinned_cf(self.cf(CF_PLUGIN_KV), &k)?
            .map_or(0, |v| (key.len() + v.len()) as u64);
        let used = self.kv_used(plugin)?.saturating_sub(old);
        let new = used.saturating_add((key.len() + value.len()) as u64);
        if new > quota {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_PLUGIN_KV), &k, value);
        batch.put_cf(self.cf(CF_META), kv_size_key(plugin), new.to_be_bytes());
        self.db.write(batch)?;
        Ok(true)
    }

    pub fn plugin_kv_delete(&self, plugin: &str, key: &[u8]) -> Result<(), StoreError> {
        let _guard = self.delivery_lock.lock().expect("delivery lock");
        let k = kv_key(plugin, key);
        let Some(old) = self
            .db
            .get_pinned_cf(self.cf(CF_PLUGIN_KV), &k)?
            .map(|v| (key.len() + v.len()) as u64)
        else {
            return Ok(());
        };
        let used = self.kv_used(plugin)?.saturating_sub(old);
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_PLUGIN_KV), &k);
        batch.put_cf(self.cf(CF_META), kv_size_key(plugin), used.to_be_bytes());
        self.db.write(batch)?;
        Ok(())
    }
}

fn encode(d: &Delivery) -> Vec<u8> {
    serde_json::to_vec(d).expect("a delivery always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_round_trip() {
        for t in [
            Target::Sink("shop".into()),
            Target::Plugin("min-amount".into()),
        ] {
            let id = Delivery::id_for(42, &t);
            assert_eq!(parse_delivery_id(&id), Some((42, t)));
        }
        assert_eq!(parse_delivery_id("x.shop"), None);
        assert_eq!(parse_delivery_id("42"), None);
        assert_eq!(parse_delivery_id("42.a.b"), None);
    }

    #[test]
    fn plugin_stores_are_separate_counted_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.plugin_kv_set("a", b"k", b"12345", 20).unwrap());
        assert!(store.plugin_kv_set("b", b"k", b"other", 20).unwrap());
        assert_eq!(store.plugin_kv_get("a", b"k").unwrap().unwrap(), b"12345");
        // Overwriting replaces the old size: 1 + 19 = 20 fits exactly.
        store.plugin_kv_set("a", b"k", &[7; 19], 20).unwrap();
        assert!(
            !store.plugin_kv_set("a", b"x", b"1", 20).unwrap(),
            "over the quota"
        );
        store.plugin_kv_delete("a", b"k").unwrap();
        store.plugin_kv_set("a", b"x", &[1; 19], 20).unwrap();
        assert_eq!(store.plugin_kv_get("a", b"k").unwrap(), None);
        assert_eq!(store.plugin_kv_get("b", b"k").unwrap().unwrap(), b"other");
        drop(store);
        // The counts survive a restart.
        let store = Store::open(dir.path()).unwrap();
        assert!(
            !store.plugin_kv_set("a", b"y", b"1", 20).unwrap(),
            "over the quota"
        );
    }
}
