//! Each chain's scan status: what `/v1/status`, `paywatch status` and the
//! metrics show, written by the chain's scanner and read by everyone else.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    Starting,
    Syncing,
    Following,
    NodeUnreachable,
    /// The node answers, but with errors or data that cannot be used.
    Degraded,
}

/// What `/v1/status` shows for one chain; written by its scanner.
pub struct ChainStatus {
    pub name: String,
    pub kind: &'static str,
    pub network: String,
    pub confirmations: u64,
    /// The first height the chain is scanned from.
    pub start_height: u64,
    pub(crate) node_tip: AtomicU64,
    pub(crate) indexed: AtomicU64,
    pub(crate) skipped: AtomicU64,
    /// Rescans started since the daemon started.
    pub(crate) rescans: AtomicU64,
    inner: Mutex<StatusInner>,
    /// The chain's endpoints, once its node client is built.
    endpoints: Mutex<Option<EndpointsView>>,
}

struct StatusInner {
    state: ScanState,
    last_error: Option<String>,
    /// Commit times of the most recent blocks, for blocks/s.
    recent: VecDeque<Instant>,
}

#[derive(Serialize)]
pub struct StatusView {
    pub chain: String,
    pub kind: &'static str,
    pub network: String,
    pub state: ScanState,
    pub node_tip: Option<u64>,
    pub indexed_height: Option<u64>,
    pub lag: Option<u64>,
    /// Share of the blocks from `start_height` to the node's tip that are
    /// indexed, in percent with one decimal; `None` before both are known.
    pub synced_percent: Option<f64>,
    pub start_height: u64,
    pub blocks_per_second: f64,
    pub confirmations: u64,
    /// Malformed transactions or logs skipped since start.
    pub decode_skipped: u64,
    /// Rescans started since the daemon started (`POST
    /// /v1/chains/{chain}/rescan`); a client sees its rescan begin when
    /// this grows.
    pub rescans: u64,
    pub last_error: Option<String>,
    /// Each endpoint's state, tip, lag, latency and errors.
    pub endpoints: Vec<EndpointView>,
}

/// How much of `start..=tip` is indexed when `indexed` is the newest
/// committed height, in percent with one decimal, rounded down so that
/// 100 means all of it.
pub fn synced_percent(start: u64, indexed: Option<u64>, tip: u64) -> f64 {
    let Some(total) = tip.saturating_add(1).checked_sub(start).filter(|t| *t > 0) else {
        return 100.0;
    };
    let done = indexed
        .map_or(0, |h| h.saturating_add(1).saturating_sub(start))
        .min(total);
    let tenths = (u128::from(done) * 1000 / u128::from(total)) as f64;
    tenths / 10.0
}

/// A height not known yet.
pub(crate) const UNKNOWN: u64 = u64::MAX;

/// The time `remaining` blocks take at `blocks_per_second`, for people:
/// `8m 52s`, whole seconds; `unknown` before a rate is measured.
pub fn eta(remaining: u64, blocks_per_second: f64) -> String {
    if remaining == 0 {
        return "0s".to_string();
    }
    if !(blocks_per_second > 0.0 && blocks_per_second.is_finite()) {
        return "unknown".to_string();
    }
    // At most a year (365.25 days): beyond that an estimate says nothing.
    let secs = (remaining as f64 / blocks_per_second)
        .ceil()
        .min(31_557_600.0);
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

impl ChainStatus {
    pub fn new(
        name: &str,
        kind: &'static str,
        network: &str,
        confirmations: u64,
        start_height: u64,
    ) -> Self {
        ChainStatus {
            name: name.to_string(),
            kind,
            network: network.to_string(),
            confirmations,
            start_height,
            node_tip: AtomicU64::new(UNKNOWN),
            indexed: AtomicU64::new(UNKNOWN),
            skipped: AtomicU64::new(0),
            rescans: AtomicU64::new(0),
            inner: Mutex::new(StatusInner {
                state: ScanState::Starting,
                last_error: None,
                recent: VecDeque::new(),
            }),
            endpoints: Mutex::new(None),
        }
    }

    /// Where `view` reads the chain's endpoints from.
    pub fn set_endpoints(&self, view: EndpointsView) {
        *self.endpoints.lock().unwrap_or_else(|p| p.into_inner()) = Some(view);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_state(&self, state: ScanState) {
        let mut g = self.lock();
        g.state = state;
        if matches!(state, ScanState::Syncing | ScanState::Following) {
            g.last_error = None;
        }
    }

    pub(crate) fn set_error(&self, state: ScanState, error: String) {
        let mut g = self.lock();
        g.state = state;
        g.last_error = Some(error);
    }

    pub(crate) fn committed(&self, height: u64) {
        self.indexed.store(height, Ordering::Relaxed);
        let mut g = self.lock();
        let now = Instant::now();
        g.recent.push_back(now);
        while g.recent.len() > 256
            || g.recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(30))
        {
            g.recent.pop_front();
        }
    }

    /// Height of the newest committed block, if any.
    pub fn indexed_height(&self) -> Option<u64> {
        match self.indexed.load(Ordering::Relaxed) {
            UNKNOWN => None,
            h => Some(h),
        }
    }

    pub fn view(&self) -> StatusView {
        let tip = match self.node_tip.load(Ordering::Relaxed) {
            UNKNOWN => None,
            h => Some(h),
        };
        let indexed = self.indexed_height();
        let g = self.lock();
        let rate = match (g.recent.front(), g.recent.len()) {
            (Some(first), n) if n >= 2 => {
                let span = Instant::now().duration_since(*first).as_secs_f64();
                if span > 0.0 {
                    (n - 1) as f64 / span
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        StatusView {
            chain: self.name.clone(),
            kind: self.kind,
            network: self.network.clone(),
            state: g.state,
            node_tip: tip,
            indexed_height: indexed,
            lag: tip.map(|t| t.saturating_sub(indexed.unwrap_or(0))),
            synced_percent: tip.map(|t| synced_percent(self.start_height, indexed, t)),
            start_height: self.start_height,
            blocks_per_second: (rate * 100.0).round() / 100.0,
            confirmations: self.confirmations,
            decode_skipped: self.skipped.load(Ordering::Relaxed),
            rescans: self.rescans.load(Ordering::Relaxed),
            last_error: g.last_error.clone(),
            endpoints: self
                .endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or_else(Vec::new, |f| f()),
        }
    }
}

/// The state of one node endpoint of a chain (see
/// `chain::failover::Failover`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Answering, and agreeing with the others.
    Healthy,
    /// More than `max_lag_blocks` behind the highest tip.
    Lagging,
    /// Its block at a height the others agree on differs.
    Forked,
    /// Its last request failed; it rests before it is asked again.
    Failing,
}

/// What `/v1/status` and `/metrics` show of one endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointView {
    /// The endpoint's host and port (never its credentials).
    pub endpoint: String,
    pub priority: i32,
    pub state: EndpointState,
    pub tip: Option<u64>,
    /// Blocks behind the highest tip.
    pub lag: Option<u64>,
    /// Mean answer time of recent requests, milliseconds.
    pub latency_ms: f64,
    pub requests: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Seconds since it was last healthy, while it is not.
    pub unhealthy_for_secs: Option<u64>,
}

/// Reads the endpoints' state without the node type.
pub type EndpointsView = std::sync::Arc<dyn Fn() -> Vec<EndpointView> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::{eta, synced_percent};

    #[test]
    fn sync_progress_counts_the_blocks_from_the_start_height() {
        // Blocks 100..=199 to scan, 100..=149 done.
        assert_eq!(synced_percent(100, Some(149), 199), 50.0);
        assert_eq!(synced_percent(100, None, 199), 0.0);
        assert_eq!(synced_percent(100, Some(199), 199), 100.0);
        // One block short of 100 000 is not shown as done.
        assert_eq!(synced_percent(0, Some(99_998), 99_999), 99.9);
        // A node behind the start height, or an index past a tip read
        // earlier, is all there is to do.
        assert_eq!(synced_percent(500, None, 10), 100.0);
        assert_eq!(synced_percent(0, Some(300), 200), 100.0);
        assert_eq!(synced_percent(0, Some(u64::MAX - 1), u64::MAX - 1), 100.0);
    }

    #[test]
    fn sync_eta_is_written_for_people() {
        assert_eq!(eta(5_320, 10.0), "8m 52s");
        assert_eq!(eta(1, 3.0), "1s");
        assert_eq!(eta(0, 0.0), "0s");
        assert_eq!(eta(10, 0.0), "unknown");
        assert_eq!(eta(10, f64::NAN), "unknown");
        assert_eq!(eta(u64::MAX, 1e-9), "1year");
    }
}
