//! The per-chain scanner: keeps the cursor, links each block to its parent,
//! walks back to the common ancestor on a reorg, and commits every block with
//! its transfers and events in one batch.
//!
//! While catching up, `prefetch` blocks are requested at once and committed in
//! height order; near the tip the same loop fetches one block at a time.

use crate::chain::{Block, DecodeError, Decoder, Node, NodeError};
use crate::event::{confirmations, AddressEvent, Event, EventType};
use crate::risk::Screen;
use crate::status::{eta, ChainStatus, ScanState, UNKNOWN};
use crate::store::{BlockChanges, BlockCommit, Store, StoreError};
use crate::telemetry;
use crate::transfer::{Hash32, Transfer, TransferStatus};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

/// Most blocks fetched per round before the tip is asked again.
const ROUND: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reorg deeper than the {0} blocks kept; rescan from an earlier height")]
    ReorgTooDeep(u64),
    #[error(
        "the node is behind: its tip is {tip} and {indexed} is indexed; waiting for it to catch up"
    )]
    NodeBehind { tip: u64, indexed: u64 },
}

/// When a transfer counts as confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// At `confirmations` blocks deep.
    Depth,
    /// At or below the node's own finality mark ([`Node::finalized`]).
    Node,
}

/// Settings the scanner needs from the chain's config.
pub struct ScanSettings {
    pub finality: Finality,
    pub chain: String,
    pub network: String,
    pub start_height: u64,
    pub confirmations: u64,
    pub prefetch: usize,
    pub poll_interval: Duration,
    pub max_reorg_depth: u64,
}

pub struct Scanner<N: Node, D: Decoder<Raw = N::Raw>> {
    settings: ScanSettings,
    store: Arc<Store>,
    node: N,
    decoder: D,
    status: Arc<ChainStatus>,
    /// The node's finality mark as last read (with [`Finality::Node`]).
    finalized: Option<u64>,
    /// Whether [`Node::verify`] has passed.
    verified: bool,
    /// When the last sync progress line was logged.
    last_progress: Instant,
    /// Rung when the node announces a block: the tip is asked at once.
    wake: Option<Arc<tokio::sync::Notify>>,
    /// Sets each transfer's risk flags before it is committed.
    screen: Screen,
}

/// How often a progress line is logged while catching up.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

impl<N: Node, D: Decoder<Raw = N::Raw>> Scanner<N, D> {
    pub fn new(
        settings: ScanSettings,
        store: Arc<Store>,
        node: N,
        decoder: D,
        status: Arc<ChainStatus>,
        screen: Screen,
    ) -> Self {
        Scanner {
            screen,
            settings,
            store,
            node,
            decoder,
            status,
            finalized: None,
            verified: false,
            last_progress: Instant::now(),
            wake: None,
        }
    }

    /// Asks the node's tip whenever `wake` is notified, not only every
    /// `poll_interval`.
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Scans until `shutdown` turns true. Errors are reported in the status,
    /// logged and retried with backoff (0.2 s doubling to 15 s, plus up to
    /// as much again of jitter); the loop never gives up.
    pub async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut rescans: tokio::sync::mpsc::Receiver<u64>,
    ) {
        let backoff_builder = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(15))
            .with_jitter()
            .without_max_times();
        let mut backoff = backoff_builder.build();
        if let Ok(Some((h, _))) = self.store.cursor(&self.settings.chain) {
            self.status.committed(h);
        }
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Ok(from) = rescans.try_recv() {
                if let Err(e) = self.rescan_from(from).await {
                    warn!(chain = %self.settings.chain, from, error = %e, "rescan failed");
                    self.status
                        .set_error(ScanState::Degraded, format!("rescan from {from}: {e}"));
                }
            }
            let stop = shutdown.clone();
            let outcome = tokio::select! {
                r = self.step(&stop) => r,
                _ = shutdown.changed() => break,
            };
            let outcome_ok = outcome.is_ok();
            let pause = match outcome {
                Ok(true) => {
                    backoff = backoff_builder.build();
                    continue;
                }
                Ok(false) => {
                    backoff = backoff_builder.build();
                    self.settings.poll_interval
                }
                Err(e) => {
                    let state = match &e {
                        ScanError::Node(NodeError::Unreachable(_)) => ScanState::NodeUnreachable,
                        _ => ScanState::Degraded,
                    };
                    let delay = backoff.next().unwrap_or(Duration::from_secs(30));
                    warn!(chain = %self.settings.chain, error = %e, retry_in = ?delay, "scan failed");
                    self.status.set_error(state, e.to_string());
                    delay
                }
            };
            let wake = self.wake.clone();
            let woken = async {
                match wake {
                    Some(w) => w.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                // A failing node is retried after its backoff, not sooner.
                _ = woken, if outcome_ok => {}
                _ = shutdown.changed() => break,
            }
        }
        info!(chain = %self.settings.chain, "scanner stopped");
    }

    /// One round: reads the node's tip and commits what is new. Returns
    /// whether anything changed.
    async fn step(&mut self, shutdown: &watch::Receiver<bool>) -> Result<bool, ScanError> {
        let chain = self.settings.chain.clone();
        if !self.verified {
            timed(&chain, "verify", self.node.verify()).await?;
            self.verified = true;
        }
        let tip = timed(&chain, "tip", self.node.tip()).await?;
        self.status.node_tip.store(tip, Ordering::Relaxed);
        let mut cursor = self.store.cursor(&chain)?;
        if self.settings.finality == Finality::Node {
            let mark = timed(&chain, "finalized", self.node.finalized()).await?;
            if mark != self.finalized {
                let previous = std::mem::replace(&mut self.finalized, mark);
                if let (Some((h, _)), Some(upto)) = (cursor, self.confirm_upto(u64::MAX)) {
                    let upto = upto.min(h);
                    let s = &self.settings;
                    let events = match tokio::task::block_in_place(|| {
                        let rows = self.store.stage_confirm(&s.chain, upto)?;
                        if rows.changes.is_empty() {
                            return Ok::<_, StoreError>(Vec::new());
                        }
                        let events = confirmed_events(
                            &s.network,
                            h,
                            &rows.changes,
                            self.screen.report_dust(),
                        );
                        Ok(self.store.write_rows(rows, events)?.1)
                    }) {
                        Ok(events) => events,
                        Err(e) => {
                            // Try again next round.
                            self.finalized = previous;
                            return Err(e.into());
                        }
                    };
                    count_events(&s.chain, &events);
                    if !events.is_empty() {
                        info!(chain = %s.chain, finalized = upto, events = events.len(), "finalized");
                    }
                }
            }
        }
        let next = cursor
            .map(|(h, _)| h + 1)
            .unwrap_or(self.settings.start_height);
        if next > tip {
            // Nothing new; make sure what we have is still the node's chain
            // (a node can swap its tip, or go back in height).
            if let Some((h, hash)) = cursor {
                if h > tip {
                    // Below what is indexed. A node that has never seen the
                    // indexed tip is behind (restarted on an older copy,
                    // another backend behind a balancer): that removes
                    // nothing, the scanner waits. One that has seen it and
                    // left it (invalidateblock, a shorter heavier chain)
                    // has reorganized.
                    let ours = self.store.header_hash(&chain, tip)?;
                    let theirs = timed(&chain, "hash_at", self.node.hash_at(tip)).await?;
                    let same_below = ours.is_none_or(|o| o == theirs);
                    if same_below
                        && timed(&chain, "hash_at", self.node.knows(hash)).await? == Some(false)
                    {
                        return Err(ScanError::NodeBehind { tip, indexed: h });
                    }
                    self.reorg(tip).await?;
                    return Ok(true);
                }
                if timed(&chain, "hash_at", self.node.hash_at(h)).await? != hash {
                    self.reorg(h).await?;
                    return Ok(true);
                }
            }
            self.status.set_state(ScanState::Following);
            return Ok(false);
        }
        self.status.set_state(if tip - next >= 6 {
            ScanState::Syncing
        } else {
            ScanState::Following
        });
        let end = tip.min(next + ROUND - 1);
        let node = self.node.clone();
        let batch = self.node.batch_size().max(1);
        let label = chain.clone();
        let mut batches = futures_util::stream::iter((next..=end).step_by(batch as usize))
            .map(move |start| {
                let node = node.clone();
                let label = label.clone();
                let count = batch.min(end - start + 1);
                async move { timed(&label, "fetch", node.fetch_many(start, count)).await }
            })
            .buffered(self.settings.prefetch);
        while let Some(fetched) = batches.next().await {
            for (height, raw) in fetched? {
                let block = tokio::task::block_in_place(|| self.decoder.decode(height, raw))?;
                if let Some((ph, phash)) = cursor {
                    if ph + 1 != height {
                        return Err(ScanError::Node(NodeError::Invalid(format!(
                            "asked for block {}, got block {height}",
                            ph + 1
                        ))));
                    }
                    if block.parent != phash {
                        info!(chain = %chain, height, "block does not link to the stored parent; reorg");
                        drop(batches);
                        self.reorg(ph).await?;
                        return Ok(true);
                    }
                }
                let committed = (height, block.hash);
                self.commit(block)?;
                cursor = Some(committed);
                if tip > height && self.last_progress.elapsed() >= PROGRESS_EVERY {
                    self.last_progress = Instant::now();
                    let rate = self.status.view().blocks_per_second;
                    let eta = eta(tip - height, rate);
                    info!(
                        chain = %chain,
                        height,
                        tip,
                        blocks_per_second = format_args!("{rate:.1}"),
                        eta = %eta,
                        "sync progress"
                    );
                }
                if *shutdown.borrow() {
                    return Ok(true);
                }
            }
        }
        Ok(true)
    }

    /// The highest height whose transfers count as confirmed when `height`
    /// is the newest committed block.
    fn confirm_upto(&self, height: u64) -> Option<u64> {
        match self.finalized {
            Some(f) => Some(f.min(height)),
            None if self.settings.finality == Finality::Node => None,
            None => (height + 1).checked_sub(self.settings.confirmations.max(1)),
        }
    }

    fn commit(&mut self, mut block: Block) -> Result<(), ScanError> {
        let confirm_upto = self.confirm_upto(block.height);
        let s = &self.settings;
        let screen = &self.screen;
        let events = tokio::task::block_in_place(|| {
            let history = screen.screen(&mut block.transfers, &block.freezes)?;
            let rows = self.store.stage_block(BlockCommit {
                chain: &s.chain,
                height: block.height,
                hash: block.hash,
                transfers: block.transfers.clone(),
                confirm_upto,
                keep_headers: s.max_reorg_depth + 1,
                history,
                freezes: &block.freezes,
            })?;
            let events = block_events(
                &s.network,
                block.height,
                &rows.changes,
                screen.report_dust(),
            );
            let at = crate::transfer::BlockRef {
                height: block.height,
                hash: block.hash,
                time: block.time,
            };
            let frozen = rows
                .changes
                .new_freezes
                .iter()
                .filter_map(|i| {
                    AddressEvent::for_freeze(&s.chain, &s.network, at, &block.freezes[*i])
                })
                .collect();
            Ok::<_, StoreError>(self.store.write_rows_with(rows, events, frozen)?.1)
        })?;
        self.screen.committed(&block.transfers, &block.freezes);
        self.decoder.committed(&block);
        self.status.committed(block.height);
        count_block(&s.chain, &block, &events);
        self.status
            .skipped
            .fetch_add(block.skipped, Ordering::Relaxed);
        if !events.is_empty() {
            info!(chain = %s.chain, height = block.height, events = events.len(), "block committed");
        }
        Ok(())
    }

    /// Scans again from `from`: the cursor moves to the block before it, and
    /// blocks committed again add only transfers not recorded yet.
    async fn rescan_from(&mut self, from: u64) -> Result<(), ScanError> {
        let chain = self.settings.chain.clone();
        let to = match from.checked_sub(1) {
            Some(h) => Some((h, timed(&chain, "hash_at", self.node.hash_at(h)).await?)),
            None => None,
        };
        tokio::task::block_in_place(|| self.store.rewind_cursor(&chain, to))?;
        self.status.rescans.fetch_add(1, Ordering::Relaxed);
        match to {
            Some((h, _)) => self.status.committed(h),
            None => self.status.indexed.store(UNKNOWN, Ordering::Relaxed),
        }
        info!(chain = %chain, from, "rescanning");
        Ok(())
    }

    /// Finds the newest stored block at or below `from` that is still on the
    /// node's chain and removes everything above it.
    async fn reorg(&mut self, from: u64) -> Result<(), ScanError> {
        let chain = self.settings.chain.clone();
        let mut h = from;
        let ancestor: Option<(u64, Hash32)> = loop {
            if h < self.settings.start_height {
                break None;
            }
            match self.store.header_hash(&chain, h)? {
                Some(stored) => {
                    if timed(&chain, "hash_at", self.node.hash_at(h)).await? == stored {
                        break Some((h, stored));
                    }
                }
                None => return Err(ScanError::ReorgTooDeep(self.settings.max_reorg_depth)),
            }
            if h == 0 {
                break None;
            }
            h -= 1;
        };
        let (removed, events) = tokio::task::block_in_place(|| {
            let rows = self.store.stage_rewind(&chain, ancestor)?;
            let report_dust = self.screen.report_dust();
            let events = rows
                .changes
                .iter()
                .filter(|t| t.risk.reported(report_dust))
                .map(|t| Event::for_transfer(EventType::Reorged, &self.settings.network, t, 0))
                .collect();
            self.store.write_rows(rows, events)
        })?;
        // The rewind put the blacklists back as they were at the ancestor.
        tokio::task::block_in_place(|| self.screen.reload_frozen())?;
        self.decoder.rewound(&removed);
        let depth = from + 1 - ancestor.map_or(self.settings.start_height, |(h, _)| h + 1);
        metrics::counter!(telemetry::REORGS, "chain" => chain.clone()).increment(1);
        metrics::histogram!(telemetry::REORG_DEPTH, "chain" => chain.clone()).record(depth as f64);
        count_events(&chain, &events);
        warn!(
            chain = %chain,
            ancestor = ?ancestor.map(|a| a.0),
            removed = removed.len(),
            events = events.len(),
            "reorg: rolled back to the common ancestor"
        );
        match ancestor {
            Some((h, _)) => self.status.committed(h),
            None => self.status.indexed.store(UNKNOWN, Ordering::Relaxed),
        }
        Ok(())
    }
}

/// Runs one node request, recording its latency and, on failure, its error
/// kind under the operation's name.
async fn timed<T>(
    chain: &str,
    op: &'static str,
    request: impl std::future::Future<Output = Result<T, NodeError>>,
) -> Result<T, NodeError> {
    let started = Instant::now();
    let result = request.await;
    metrics::histogram!(telemetry::RPC_SECONDS, "chain" => chain.to_string(), "op" => op)
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        let kind = match e {
            NodeError::Unreachable(_) => "unreachable",
            NodeError::Rpc(_) => "rpc",
            NodeError::Invalid(_) => "invalid",
            NodeError::RateLimited(_) => "rate_limited",
        };
        metrics::counter!(telemetry::RPC_ERRORS, "chain" => chain.to_string(), "op" => op, "kind" => kind)
            .increment(1);
    }
    result
}

fn count_block(chain: &str, block: &Block, events: &[Event]) {
    metrics::counter!(telemetry::BLOCKS, "chain" => chain.to_string()).increment(1);
    for t in &block.transfers {
        metrics::counter!(telemetry::TRANSFERS, "chain" => chain.to_string(), "direction" => t.direction.as_str())
            .increment(1);
    }
    count_events(chain, events);
}

fn count_events(chain: &str, events: &[Event]) {
    for e in events {
        metrics::counter!(telemetry::EVENTS, "chain" => chain.to_string(), "type" => e.kind.name())
            .increment(1);
    }
}

/// The events committing a block at `height` causes, in feed order:
/// `payment.confirmed` for each earlier transfer it makes deep enough, then
/// for each new transfer `payment.detected`, `payment.flagged` when risk
/// screening flagged it and, when it is deep enough already,
/// `payment.confirmed`. Zero-value and dust transfers cause none of these
/// unless `report_dust` (but `payment.flagged` for another flag).
pub fn block_events(network: &str, height: u64, c: &BlockChanges, report_dust: bool) -> Vec<Event> {
    let mut events = confirmed_events(network, height, &c.confirmed, report_dust);
    for t in &c.recorded {
        let reported = t.risk.reported(report_dust);
        if reported {
            events.push(Event::for_transfer(EventType::Detected, network, t, 1));
        }
        if t.risk.flagged_event(report_dust) {
            events.push(Event::for_transfer(EventType::Flagged, network, t, 1));
        }
        if reported && t.status == TransferStatus::Confirmed {
            events.push(Event::for_transfer(EventType::Confirmed, network, t, 1));
        }
    }
    events
}

/// `payment.confirmed` for transfers confirmed while the tip is at `tip`.
fn confirmed_events(
    network: &str,
    tip: u64,
    confirmed: &[Transfer],
    report_dust: bool,
) -> Vec<Event> {
    confirmed
        .iter()
        .filter(|t| t.risk.reported(report_dust))
        .map(|t| {
            Event::for_transfer(
                EventType::Confirmed,
                network,
                t,
                confirmations(tip, t.block.height),
            )
        })
        .collect()
}
