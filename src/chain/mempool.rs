//! Bitcoin's mempool: unconfirmed transactions paying watched addresses,
//! reported at zero confirmations, and what becomes of them.
//!
//! Transactions arrive by bitcoind's ZMQ `rawtx` topic (published when a
//! transaction enters the mempool and again, for every transaction of a
//! block, when the block connects) and by a periodic `getrawmempool`
//! reconciliation, which is also the whole mechanism without ZMQ and runs
//! at once after a ZMQ reconnect. Where the node publishes the `sequence`
//! topic, a removal (`R`) of a tracked transaction is settled at once
//! instead of at the next reconciliation. Each tracked transaction keeps its inputs,
//! so that:
//!
//! - a transaction in the mempool spending one of them replaced it
//!   (`payment.replaced`, with `replaced_by` and whether the watched output
//!   survives in the replacement);
//! - a transaction in a block spending one of them double-spent it
//!   (`payment.double_spent`);
//! - a tracked transaction that left the mempool is settled once the block
//!   scanner has caught up with the node: mined (the block flow,
//!   `payment.detected` and `payment.confirmed` with the same transfer
//!   identity, carries on; nothing more is said), inputs spent by someone
//!   else (`payment.double_spent`), or inputs unspent (`payment.dropped`:
//!   evicted or expired).
//!
//! Entries and their events are written together, so a restart neither
//! loses a tracked transaction nor reports one twice.

use super::bitcoin::{btc_asset, display_hash, tx_sender, txid_of, BitcoinNode};
use super::NodeError;
use crate::address::bitcoin::display_script;
use crate::amount::Amount;
use crate::config::MempoolConfig;
use crate::event::{EventType, MempoolEvent, MempoolFlags, MempoolStatus};
use crate::status::ChainStatus;
use crate::store::Store;
use crate::transfer::{Direction, Hash32, Risk, WatchRef};
use crate::watch::{Lookup, Matcher};
use bitcoin::hashes::Hash;
use bitcoin::{Network, OutPoint, Transaction, Txid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// A watched output of a tracked transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Output {
    index: u32,
    address: String,
    /// scriptPubKey; hex in JSON.
    address_key: bitcoin::ScriptBuf,
    amount: u64,
    watch: WatchRef,
    /// What risk screening found when it was seen.
    #[serde(default)]
    risk: Risk,
}

/// A mempool transaction paying a watched address.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tracked {
    txid: Hash32,
    /// Outpoints spent, as `txid:vout`.
    inputs: Vec<String>,
    outputs: Vec<Output>,
    /// The sender its first input tells (see `chain::bitcoin::counterparty`).
    #[serde(default)]
    counterparty: Option<String>,
    flags: MempoolFlags,
    /// Unconfirmed transactions it spent from when it was seen.
    #[serde(default)]
    parents: Vec<Hash32>,
    /// Unix seconds when first seen.
    seen_at: u64,
    /// The node's height when the transaction was found gone from the
    /// mempool; it is settled once the scanner has indexed that height.
    #[serde(default)]
    left_at: Option<u64>,
}

fn display(txid: Txid) -> Hash32 {
    display_hash(txid.to_byte_array())
}

fn outpoint(s: &str) -> Option<OutPoint> {
    s.parse().ok()
}

enum Message {
    RawTx(Vec<u8>),
    /// The node removed a transaction from its mempool for a reason other
    /// than a block (`sequence` topic, label `R`).
    Removed(Txid),
    /// The subscription was (re)established: anything may have been missed.
    Resync,
}

/// Follows one chain's mempool until stopped.
pub struct MempoolWatcher {
    chain: String,
    network: String,
    net: Network,
    cfg: MempoolConfig,
    node: BitcoinNode,
    matcher: Arc<Matcher>,
    store: Arc<Store>,
    status: Arc<ChainStatus>,
    tracked: HashMap<Txid, Tracked>,
    /// Inputs of tracked transactions, to spot conflicts.
    spent: HashMap<OutPoint, Txid>,
    /// Mempool transactions already looked at that pay no watched address.
    seen: HashSet<Txid>,
    /// Flags what is seen (without changing any record).
    screen: crate::risk::Screen,
}

impl MempoolWatcher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: &str,
        network: &str,
        net: Network,
        cfg: MempoolConfig,
        node: BitcoinNode,
        matcher: Arc<Matcher>,
        store: Arc<Store>,
        status: Arc<ChainStatus>,
        screen: crate::risk::Screen,
    ) -> Self {
        MempoolWatcher {
            screen,
            chain: chain.to_string(),
            network: network.to_string(),
            net,
            cfg,
            node,
            matcher,
            store,
            status,
            tracked: HashMap::new(),
            spent: HashMap::new(),
            seen: HashSet::new(),
        }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        match self.store.mempool_entries::<Tracked>(&self.chain) {
            Ok(list) => {
                for t in list {
                    self.track(t);
                }
            }
            Err(e) => {
                warn!(chain = %self.chain, error = %e, "cannot read the tracked mempool transactions");
                return;
            }
        }
        let (tx, mut rx) = mpsc::channel(QUEUE);
        if let Some(endpoint) = self.cfg.zmq_rawtx.clone() {
            tokio::spawn(subscribe(
                self.chain.clone(),
                endpoint,
                "rawtx",
                tx.clone(),
                stop.clone(),
            ));
        }
        if let Some(endpoint) = self.cfg.zmq_sequence.clone() {
            tokio::spawn(subscribe(
                self.chain.clone(),
                endpoint,
                "sequence",
                tx,
                stop.clone(),
            ));
        }
        let mut tick = tokio::time::interval(self.cfg.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                m = rx.recv() => match m {
                    Some(Message::RawTx(raw)) => match bitcoin::consensus::deserialize::<Transaction>(&raw) {
                        Ok(t) => {
                            if let Err(e) = self.on_tx(t).await {
                                debug!(chain = %self.chain, error = %e, "mempool transaction left for the next reconciliation");
                            }
                        }
                        Err(e) => warn!(chain = %self.chain, error = %e, "ZMQ rawtx does not decode"),
                    },
                    Some(Message::Resync) => self.reconcile_logged().await,
                    Some(Message::Removed(id)) => {
                        if let Err(e) = self.removed(id).await {
                            debug!(chain = %self.chain, error = %e, "mempool removal left for the next reconciliation");
                        }
                    }
                    None => {}
                },
                _ = tick.tick() => self.reconcile_logged().await,
            }
        }
    }

    fn track(&mut self, t: Tracked) {
        let id = txid_of(&t.txid);
        for i in &t.inputs {
            if let Some(op) = outpoint(i) {
                self.spent.insert(op, id);
            }
        }
        self.tracked.insert(id, t);
    }

    fn untrack(&mut self, id: &Txid) -> Option<Tracked> {
        let t = self.tracked.remove(id)?;
        for i in &t.inputs {
            if let Some(op) = outpoint(i) {
                if self.spent.get(&op) == Some(id) {
                    self.spent.remove(&op);
                }
            }
        }
        Some(t)
    }

    async fn rpc(&self, method: &'static str, params: Vec<Value>) -> Result<Value, NodeError> {
        self.node.raw_call(method, params).await
    }

    /// Looks at one transaction from ZMQ or the mempool listing.
    async fn on_tx(&mut self, tx: Transaction) -> Result<(), NodeError> {
        let id = tx.compute_txid();
        if self.tracked.contains_key(&id) {
            return Ok(());
        }
        let mut conflicts: Vec<Txid> = Vec::new();
        for input in &tx.input {
            if let Some(t) = self.spent.get(&input.previous_output) {
                if *t != id && !conflicts.contains(t) {
                    conflicts.push(*t);
                }
            }
        }
        let mut outputs = Vec::new();
        let mut sender = None;
        let asset = btc_asset();
        for (vout, out) in tx.output.iter().enumerate() {
            let script = out.script_pubkey.as_bytes();
            if let Some(w) = self
                .matcher
                .lookup(script)
                .map_err(|e| NodeError::Invalid(e.to_string()))?
            {
                let sender = sender.get_or_insert_with(|| tx_sender(self.net, &tx, &[]));
                let address = display_script(self.net, script);
                let risk = self
                    .screen
                    .peek(&crate::risk::Probe {
                        direction: Direction::In,
                        address: &address,
                        address_key: script,
                        counterparty: sender.as_deref(),
                        asset: &asset,
                        amount: Amount::from(out.value.to_sat()),
                        risk: Risk::default(),
                    })
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                outputs.push(Output {
                    index: vout as u32,
                    address,
                    address_key: out.script_pubkey.clone(),
                    amount: out.value.to_sat(),
                    watch: w.as_ref(),
                    risk,
                });
            }
        }
        if conflicts.is_empty() && outputs.is_empty() {
            self.seen.insert(id);
            return Ok(());
        }
        // In the mempool, or (from a block's rawtx) mined or gone?
        let entry = match self
            .rpc("getmempoolentry", vec![json!(id.to_string())])
            .await
        {
            Ok(v) => Some(v),
            Err(NodeError::Rpc(_)) => None,
            Err(e) => return Err(e),
        };
        let mut events = Vec::new();
        let mut changes: Vec<([u8; 32], Option<Tracked>)> = Vec::new();
        for c in conflicts {
            let Some(old) = self.untrack(&c) else {
                continue;
            };
            for o in &old.outputs {
                let e = if entry.is_some() {
                    MempoolEvent {
                        replaced_by: Some(display(id)),
                        output_kept: Some(tx.output.iter().any(|n| {
                            n.script_pubkey == o.address_key && n.value.to_sat() >= o.amount
                        })),
                        ..self.event(EventType::Replaced, &old, o)
                    }
                } else {
                    MempoolEvent {
                        conflicting_txid: Some(Some(display(id))),
                        ..self.event(EventType::DoubleSpent, &old, o)
                    }
                };
                events.push(e);
            }
            info!(chain = %self.chain, txid = %old.txid, by = %display(id), "tracked mempool transaction {}", if entry.is_some() { "replaced" } else { "double-spent" });
            changes.push((old.txid.bytes, None));
        }
        if let (Some(entry), false) = (&entry, outputs.is_empty()) {
            let t = Tracked {
                txid: display(id),
                inputs: tx
                    .input
                    .iter()
                    .map(|i| i.previous_output.to_string())
                    .collect(),
                outputs,
                counterparty: sender.flatten(),
                flags: self.flags(&tx, entry),
                parents: entry["depends"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| Hash32::from_hex(v.as_str()?).ok())
                    .collect(),
                seen_at: crate::clock::now_secs(),
                left_at: None,
            };
            for o in &t.outputs {
                events.push(self.event(EventType::Detected, &t, o));
            }
            changes.push((t.txid.bytes, Some(t.clone())));
            self.track(t);
        }
        self.seen.insert(id);
        self.write(changes, events)
    }

    fn write(
        &self,
        changes: Vec<([u8; 32], Option<Tracked>)>,
        events: Vec<MempoolEvent>,
    ) -> Result<(), NodeError> {
        if changes.is_empty() && events.is_empty() {
            return Ok(());
        }
        for e in &events {
            metrics::counter!(crate::telemetry::EVENTS, "chain" => self.chain.clone(), "type" => e.kind.name())
                .increment(1);
        }
        let refs: Vec<([u8; 32], Option<&Tracked>)> =
            changes.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        self.store
            .mempool_update(&self.chain, &refs, events)
            .map_err(|e| NodeError::Invalid(format!("cannot store mempool changes: {e}")))
    }

    fn flags(&self, tx: &Transaction, entry: &Value) -> MempoolFlags {
        let signals = tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe);
        let fee = entry["fees"]["base"]
            .as_f64()
            .or_else(|| entry["fee"].as_f64())
            .map(|btc| (btc * 1e8).round());
        let size = entry["vsize"].as_f64().or_else(|| entry["size"].as_f64());
        MempoolFlags {
            rbf: entry["bip125-replaceable"].as_bool().unwrap_or(false) || signals,
            full_rbf: self.cfg.full_rbf,
            fee_rate: match (fee, size) {
                (Some(f), Some(s)) if s > 0.0 => Some((f / s * 100.0).round() / 100.0),
                _ => None,
            },
            unconfirmed_inputs: entry["depends"].as_array().is_some_and(|d| !d.is_empty()),
        }
    }

    /// A `payment.*` event for a watched output of a mempool transaction.
    fn event(&self, kind: EventType, t: &Tracked, o: &Output) -> MempoolEvent {
        MempoolEvent {
            id: format!(
                "{}:{}:{}:in:mempool:{}",
                self.chain,
                t.txid,
                o.index,
                kind.suffix()
            ),
            kind,
            seq: 0,
            chain: self.chain.clone(),
            network: self.network.clone(),
            direction: Direction::In,
            address: o.address.clone(),
            counterparty: t.counterparty.clone(),
            txid: t.txid,
            index: o.index,
            confirmations: 0,
            status: MempoolStatus::Mempool,
            asset: btc_asset(),
            amount: Amount::from(o.amount),
            watch: o.watch.clone(),
            risk: o.risk.clone(),
            mempool: t.flags.clone(),
            replaced_by: None,
            output_kept: None,
            conflicting_txid: None,
        }
    }

    async fn reconcile_logged(&mut self) {
        if let Err(e) = self.reconcile().await {
            warn!(chain = %self.chain, error = %e, "mempool reconciliation failed");
        }
    }

    /// Compares with the node's mempool: new transactions are looked at,
    /// gone ones settled.
    async fn reconcile(&mut self) -> Result<(), NodeError> {
        let listed = self.rpc("getrawmempool", vec![]).await?;
        let ids: HashSet<Txid> = listed
            .as_array()
            .ok_or_else(|| NodeError::Invalid("getrawmempool is not a list".into()))?
            .iter()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
        for id in &ids {
            if self.seen.contains(id) || self.tracked.contains_key(id) {
                continue;
            }
            let hex_tx = match self
                .rpc("getrawtransaction", vec![json!(id.to_string())])
                .await
            {
                Ok(v) => v,
                // Left the mempool since the listing.
                Err(NodeError::Rpc(_)) => continue,
                Err(e) => return Err(e),
            };
            let raw = hex::decode(hex_tx.as_str().unwrap_or_default())
                .map_err(|e| NodeError::Invalid(format!("transaction {id} is not hex: {e}")))?;
            let tx: Transaction = bitcoin::consensus::deserialize(&raw).map_err(|e| {
                NodeError::Invalid(format!("transaction {id} does not decode: {e}"))
            })?;
            self.on_tx(tx).await?;
        }
        self.seen.retain(|t| ids.contains(t));
        // Gone from the mempool: remember the node's height, and settle once
        // the scanner has indexed it.
        let gone: Vec<Txid> = self
            .tracked
            .iter()
            .filter(|(id, t)| !ids.contains(*id) && t.left_at.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !gone.is_empty() {
            let height = self
                .rpc("getblockcount", vec![])
                .await?
                .as_u64()
                .unwrap_or(0);
            let mut changes = Vec::new();
            for id in gone {
                if let Some(t) = self.tracked.get_mut(&id) {
                    t.left_at = Some(height);
                    changes.push((t.txid.bytes, Some(t.clone())));
                }
            }
            self.write(changes, Vec::new())?;
        }
        // Back in the mempool (a reorg, a rebroadcast): tracked as before.
        let back: Vec<Txid> = self
            .tracked
            .iter()
            .filter(|(id, t)| ids.contains(*id) && t.left_at.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in back {
            if let Some(t) = self.tracked.get_mut(&id) {
                t.left_at = None;
                let t = t.clone();
                self.write(vec![(t.txid.bytes, Some(t))], Vec::new())?;
            }
        }
        let indexed = self.status.indexed_height().unwrap_or(0);
        let due: Vec<Txid> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.left_at.is_some_and(|h| indexed >= h))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.settle(id).await?;
        }
        Ok(())
    }

    /// The node says a tracked transaction left its mempool (not for a
    /// block): settled at once when the scanner is caught up.
    async fn removed(&mut self, id: Txid) -> Result<(), NodeError> {
        if !self.tracked.contains_key(&id) {
            return Ok(());
        }
        if self.tracked.get(&id).is_some_and(|t| t.left_at.is_none()) {
            let height = self
                .rpc("getblockcount", vec![])
                .await?
                .as_u64()
                .unwrap_or(0);
            let Some(t) = self.tracked.get_mut(&id) else {
                return Ok(());
            };
            t.left_at = Some(height);
            let t = t.clone();
            self.write(vec![(t.txid.bytes, Some(t))], Vec::new())?;
        }
        let left = self
            .tracked
            .get(&id)
            .and_then(|t| t.left_at)
            .unwrap_or(u64::MAX);
        if self.status.indexed_height().unwrap_or(0) >= left {
            self.settle(id).await?;
        }
        Ok(())
    }

    /// Whether `op` is spent on the chain (not merely by another mempool
    /// transaction). An output of an unconfirmed parent is not in the
    /// chain's UTXO set yet; it counts as unspent while the parent is in
    /// the mempool.
    async fn spent_on_chain(&self, op: OutPoint, parents: &[Hash32]) -> Result<bool, NodeError> {
        // The parent was unconfirmed: gone from the mempool too, it was
        // evicted with its child (a parent mined meanwhile would leave this
        // spend a double spend, reported here as dropped; both mean the
        // payment will not come).
        if parents.contains(&display(op.txid)) {
            return Ok(false);
        }
        let out = self
            .rpc(
                "gettxout",
                vec![json!(op.txid.to_string()), json!(op.vout), json!(false)],
            )
            .await?;
        if !out.is_null() {
            return Ok(false);
        }
        match self
            .rpc("getmempoolentry", vec![json!(op.txid.to_string())])
            .await
        {
            Ok(_) => Ok(false),
            Err(NodeError::Rpc(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// A tracked transaction gone from the mempool, with the scanner caught
    /// up: mined, double-spent or dropped. One whose inputs another mempool
    /// transaction spends was replaced: that transaction's arrival (ZMQ, or
    /// the next listing) reports it.
    async fn settle(&mut self, id: Txid) -> Result<(), NodeError> {
        let Some(t) = self.tracked.get(&id).cloned() else {
            return Ok(());
        };
        let mined = !self
            .store
            .transfers_by_txid(&self.chain, &t.txid)
            .map_err(|e| NodeError::Invalid(e.to_string()))?
            .is_empty();
        let mut events = Vec::new();
        if !mined {
            let mut spent = false;
            let mut in_pool = false;
            for i in &t.inputs {
                let Some(op) = outpoint(i) else { continue };
                if self.spent_on_chain(op, &t.parents).await? {
                    spent = true;
                    break;
                }
                let out = self
                    .rpc(
                        "gettxout",
                        vec![json!(op.txid.to_string()), json!(op.vout), json!(true)],
                    )
                    .await?;
                in_pool |= out.is_null();
            }
            if in_pool && !spent {
                return Ok(());
            }
            let kind = if spent {
                EventType::DoubleSpent
            } else {
                EventType::Dropped
            };
            info!(chain = %self.chain, txid = %t.txid, "tracked mempool transaction {}", if spent { "double-spent" } else { "dropped" });
            for o in &t.outputs {
                events.push(MempoolEvent {
                    // The spender is not known here.
                    conflicting_txid: spent.then_some(None),
                    ..self.event(kind, &t, o)
                });
            }
        }
        self.untrack(&id);
        self.write(vec![(t.txid.bytes, None)], events)
    }
}

/// ZMQ messages waiting for the mempool follower. Beyond this it is behind:
/// messages are dropped and one reconciliation (`getrawmempool`) recovers
/// what they said.
const QUEUE: usize = 4096;

/// Forwards `rawtx` bodies and `sequence` removals to the watcher; every
/// (re)connection asks for a reconciliation.
async fn subscribe(
    chain: String,
    endpoint: String,
    topic: &'static str,
    tx: mpsc::Sender<Message>,
    stop: watch::Receiver<bool>,
) {
    // Set when a message was dropped on a full queue: a reconciliation is
    // then queued first, and it finds what the dropped messages said.
    let mut missed = false;
    let name = chain.clone();
    super::zmq::subscribe(
        chain,
        endpoint,
        topic,
        move |body| {
            use mpsc::error::TrySendError;
            let msg = match (topic, body) {
                (_, None) => Message::Resync,
                ("rawtx", Some(b)) => Message::RawTx(b.to_vec()),
                // 32-byte hash (as shown), label, optional sequence.
                ("sequence", Some(b)) if b.len() >= 33 && b[32] == b'R' => {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(&b[..32]);
                    h.reverse();
                    Message::Removed(Txid::from_byte_array(h))
                }
                _ => return true,
            };
            if missed {
                match tx.try_send(Message::Resync) {
                    Ok(()) => missed = false,
                    Err(TrySendError::Full(_)) => return true,
                    Err(TrySendError::Closed(_)) => return false,
                }
            }
            match tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    warn!(chain = %name, topic, "mempool follower is behind: ZMQ messages dropped until a reconciliation");
                    missed = true;
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        },
        stop,
    )
    .await
}
