//! Several endpoints for one chain, seen by the scanner as one node. Each
//! poll asks every endpoint for its tip and cross-checks them: an endpoint
//! more than `max_lag_blocks` behind the highest, or whose block at the
//! height they all have differs from the majority's, serves no block until
//! it agrees again. A request goes to the preferred trusted endpoint
//! (highest `priority`, then fewest failures, then fastest) and fails over
//! to the next on any error, so the scanner's place is never lost. A block
//! and its receipts or transaction info come from one endpoint: a fetch is
//! one call to one node.

use super::{Node, NodeError};
pub use crate::status::{EndpointState, EndpointView, EndpointsView};
use crate::transfer::Hash32;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a tip probe may take before the endpoint counts as failing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an endpoint is unhealthy before the log names it (and again
/// as long as it stays so).
const LONG_UNHEALTHY: Duration = Duration::from_secs(600);
/// The longest an endpoint is left alone after failing.
const MAX_REST: Duration = Duration::from_secs(30);

/// Whether an endpoint's blocks may be used, from the last cross-check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trust {
    Trusted,
    Lagging,
    /// On another chain than the endpoints that agree. Only agreeing
    /// with a trusted endpoint, or holding the block the endpoints last
    /// agreed on, lifts it: a request failing or every other endpoint
    /// going quiet does not.
    Forked,
}

struct Health {
    view: EndpointView,
    trust: Trust,
    /// Its last request failed.
    failing: bool,
    rest_until: Option<Instant>,
    consecutive: u32,
    unhealthy_since: Option<Instant>,
    /// When [`Failover::warn_long_unhealthy`] last named it.
    warned: Option<Instant>,
}

struct Endpoint<N> {
    node: N,
    health: Mutex<Health>,
}

struct Inner<N> {
    chain: String,
    endpoints: Vec<Endpoint<N>>,
    max_lag: u64,
    /// The height and block at which two or more endpoints last agreed.
    anchor: Mutex<Option<(u64, Hash32)>>,
}

impl Health {
    /// Sets the trust and updates the shown state and the time since the
    /// endpoint was last healthy.
    fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
        self.refresh();
    }

    fn refresh(&mut self) {
        self.view.state = match (self.trust, self.failing) {
            (Trust::Forked, _) => EndpointState::Forked,
            (Trust::Lagging, _) => EndpointState::Lagging,
            (Trust::Trusted, true) => EndpointState::Failing,
            (Trust::Trusted, false) => EndpointState::Healthy,
        };
        let healthy = self.view.state == EndpointState::Healthy;
        match (healthy, self.unhealthy_since) {
            (true, Some(_)) => self.unhealthy_since = None,
            (false, None) => self.unhealthy_since = Some(Instant::now()),
            _ => {}
        }
    }
}

/// The endpoints of one chain, as one [`Node`].
pub struct Failover<N> {
    inner: Arc<Inner<N>>,
}

impl<N> Clone for Failover<N> {
    fn clone(&self) -> Self {
        Failover {
            inner: self.inner.clone(),
        }
    }
}

impl<N: Node> Failover<N> {
    /// `endpoints`: each node with its display name and priority.
    pub fn new(chain: &str, endpoints: Vec<(N, String, i32)>, max_lag: u64) -> Self {
        let endpoints = endpoints
            .into_iter()
            .map(|(node, endpoint, priority)| Endpoint {
                node,
                health: Mutex::new(Health {
                    view: EndpointView {
                        endpoint,
                        priority,
                        state: EndpointState::Healthy,
                        tip: None,
                        lag: None,
                        latency_ms: 0.0,
                        requests: 0,
                        errors: 0,
                        last_error: None,
                        unhealthy_for_secs: None,
                    },
                    trust: Trust::Trusted,
                    failing: false,
                    rest_until: None,
                    consecutive: 0,
                    unhealthy_since: None,
                    warned: None,
                }),
            })
            .collect();
        Failover {
            inner: Arc::new(Inner {
                chain: chain.to_string(),
                endpoints,
                max_lag,
                anchor: Mutex::new(None),
            }),
        }
    }

    /// A reader of the endpoints' state for the status page and metrics.
    pub fn view(&self) -> EndpointsView {
        let inner = self.inner.clone();
        Arc::new(move || {
            inner
                .endpoints
                .iter()
                .map(|e| {
                    let h = e.health.lock().expect("endpoint lock");
                    let mut v = h.view.clone();
                    v.unhealthy_for_secs = h.unhealthy_since.map(|t| t.elapsed().as_secs());
                    v
                })
                .collect()
        })
    }

    /// The first endpoint's node (for what runs beside the scanner, such
    /// as the mempool watcher).
    pub fn primary(&self) -> &N {
        &self.inner.endpoints[0].node
    }

    fn record<T>(&self, i: usize, started: Instant, result: &Result<T, NodeError>) {
        let e = &self.inner.endpoints[i];
        let mut h = e.health.lock().expect("endpoint lock");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        h.view.requests += 1;
        h.view.latency_ms = if h.view.requests == 1 {
            ms
        } else {
            h.view.latency_ms * 0.8 + ms * 0.2
        };
        match result {
            Ok(_) => {
                h.consecutive = 0;
                h.rest_until = None;
                h.failing = false;
            }
            Err(err) => {
                h.view.errors += 1;
                h.consecutive = h.consecutive.saturating_add(1);
                let rest = Duration::from_millis(500)
                    .saturating_mul(1 << h.consecutive.min(6))
                    .min(MAX_REST);
                h.rest_until = Some(Instant::now() + rest);
                h.failing = true;
                h.view.last_error = Some(err.to_string());
                if self.inner.endpoints.len() > 1 {
                    tracing::warn!(chain = %self.inner.chain, endpoint = %h.view.endpoint, error = %err, "endpoint failed; the next one takes over");
                }
            }
        }
        h.refresh();
    }

    /// The endpoints to ask for a block at `height` (or anything when
    /// `None`), best first: trusted ones that are not resting, then
    /// trusted resting ones as a last resort. Lagging and forked ones
    /// serve nothing.
    fn order(&self, height: Option<u64>) -> Vec<usize> {
        let now = Instant::now();
        let mut ready = Vec::new();
        let mut resting = Vec::new();
        for (i, e) in self.inner.endpoints.iter().enumerate() {
            let h = e.health.lock().expect("endpoint lock");
            let trusted = h.trust == Trust::Trusted;
            let has = match (height, h.view.tip) {
                (Some(want), Some(tip)) => tip >= want,
                _ => true,
            };
            if !trusted || !has {
                continue;
            }
            let key = (
                -h.view.priority,
                h.consecutive,
                (h.view.latency_ms * 1000.0) as u64,
                i,
            );
            if h.rest_until.is_some_and(|t| t > now) {
                resting.push((key, i));
            } else {
                ready.push((key, i));
            }
        }
        ready.sort();
        resting.sort();
        ready.into_iter().chain(resting).map(|(_, i)| i).collect()
    }

    /// Runs `op` on the endpoints in `order`, failing over on errors.
    async fn each<T, F, Fut>(&self, height: Option<u64>, op: F) -> Result<T, NodeError>
    where
        F: Fn(N) -> Fut,
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let order = self.order(height);
        let mut last = None;
        for i in order {
            let started = Instant::now();
            let result = op(self.inner.endpoints[i].node.clone()).await;
            self.record(i, started, &result);
            match result {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            NodeError::Unreachable(match height {
                Some(h) => format!("no trusted endpoint has block {h} yet"),
                None => "no trusted endpoint".into(),
            })
        }))
    }

    /// Logs, every ten minutes, each endpoint that has not been healthy
    /// for ten minutes.
    fn warn_long_unhealthy(&self) {
        for e in &self.inner.endpoints {
            let mut h = e.health.lock().expect("endpoint lock");
            let Some(since) = h.unhealthy_since else {
                continue;
            };
            if since.elapsed() < LONG_UNHEALTHY
                || h.warned.is_some_and(|w| w.elapsed() < LONG_UNHEALTHY)
            {
                continue;
            }
            h.warned = Some(Instant::now());
            tracing::warn!(
                chain = %self.inner.chain,
                endpoint = %h.view.endpoint,
                state = ?h.view.state,
                minutes = since.elapsed().as_secs() / 60,
                last_error = h.view.last_error.as_deref().unwrap_or(""),
                "endpoint unhealthy for long"
            );
        }
    }

    fn health(&self, i: usize) -> std::sync::MutexGuard<'_, Health> {
        self.inner.endpoints[i]
            .health
            .lock()
            .expect("endpoint lock")
    }

    /// `ask` of endpoint `i`, given [`PROBE_TIMEOUT`] to answer, its
    /// outcome recorded.
    async fn probe<T>(
        &self,
        i: usize,
        what: &str,
        ask: impl std::future::Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let started = Instant::now();
        let r = tokio::time::timeout(PROBE_TIMEOUT, ask)
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::Unreachable(format!(
                    "{what}: no answer within {PROBE_TIMEOUT:?}"
                )))
            });
        self.record(i, started, &r);
        r
    }

    /// Each endpoint's block hash at `height`, asked side by side; those
    /// that do not answer in time are left out.
    async fn hashes_at(&self, ids: &[usize], height: u64) -> Vec<(usize, Hash32)> {
        let what = format!("block hash at {height}");
        let answers = futures_util::future::join_all(ids.iter().map(|&i| {
            let what = &what;
            async move {
                let node = &self.inner.endpoints[i].node;
                (i, self.probe(i, what, node.hash_at(height)).await)
            }
        }))
        .await;
        answers
            .into_iter()
            .filter_map(|(i, r)| r.ok().map(|h| (i, h)))
            .collect()
    }

    /// Marks lagging and forked endpoints from the tips just read and
    /// returns the highest tip of a trusted endpoint.
    ///
    /// Lag is measured from the highest tip of an endpoint not on a fork,
    /// so a forked endpoint running ahead cannot make the agreeing ones
    /// look behind. The endpoints within `max_lag_blocks` of it are
    /// compared at the height they all have: the hash most of them hold
    /// is the chain, as long as at least one endpoint not already on a
    /// fork holds it (on a tie: the most such endpoints, then priority).
    /// An endpoint on a fork is trusted again only when it agrees with
    /// such an endpoint, or, when none answers, when it holds the block
    /// at which two or more endpoints last agreed: endpoints that agree
    /// going quiet never hands the chain to one found on another.
    async fn cross_check(&self, tips: &[(usize, u64)]) -> Result<u64, NodeError> {
        let forked = |i: usize| self.health(i).trust == Trust::Forked;
        let best = tips
            .iter()
            .filter(|t| !forked(t.0))
            .map(|t| t.1)
            .max()
            .or_else(|| tips.iter().map(|t| t.1).max())
            .expect("at least one tip");
        let mut level: Vec<(usize, u64)> = Vec::new();
        for &(i, tip) in tips {
            let lag = best.saturating_sub(tip);
            let mut h = self.health(i);
            h.view.tip = Some(tip);
            h.view.lag = Some(lag);
            if lag <= self.inner.max_lag {
                level.push((i, tip));
            } else if h.trust == Trust::Trusted {
                tracing::warn!(chain = %self.inner.chain, endpoint = %h.view.endpoint, lag, "endpoint lags: not trusted for new blocks");
                h.set_trust(Trust::Lagging);
            }
        }
        let at = level
            .iter()
            .map(|l| l.1)
            .min()
            .expect("the best tip is level");
        let alone = level.len() == 1 && !forked(level[0].0);
        if alone {
            self.health(level[0].0).set_trust(Trust::Trusted);
        } else {
            let ids: Vec<usize> = level.iter().map(|l| l.0).collect();
            let hashes = self.hashes_at(&ids, at).await;
            // Per hash: endpoints, those not on a fork, best priority.
            let mut votes: HashMap<Hash32, (usize, usize, i32)> = HashMap::new();
            for &(i, hash) in &hashes {
                let h = self.health(i);
                let v = votes.entry(hash).or_insert((0, 0, i32::MIN));
                v.0 += 1;
                v.1 += usize::from(h.trust != Trust::Forked);
                v.2 = v.2.max(h.view.priority);
            }
            let winner = votes
                .iter()
                .filter(|(_, v)| v.1 > 0)
                .max_by_key(|(_, v)| **v)
                .map(|(h, v)| (*h, v.0));
            match winner {
                Some((winner, count)) => {
                    if count >= 2 {
                        *self.inner.anchor.lock().expect("anchor lock") = Some((at, winner));
                    }
                    for (i, hash) in hashes {
                        let mut h = self.health(i);
                        if hash == winner {
                            h.set_trust(Trust::Trusted);
                        } else {
                            if h.trust != Trust::Forked {
                                tracing::warn!(chain = %self.inner.chain, endpoint = %h.view.endpoint, height = at, "endpoint serves another block than the others: not trusted until it agrees");
                            }
                            h.set_trust(Trust::Forked);
                        }
                    }
                }
                None => {
                    let anchor = *self.inner.anchor.lock().expect("anchor lock");
                    if let Some((height, block)) = anchor {
                        let holders: Vec<usize> = level
                            .iter()
                            .filter(|l| l.1 >= height && forked(l.0))
                            .map(|l| l.0)
                            .collect();
                        for (i, hash) in self.hashes_at(&holders, height).await {
                            if hash == block {
                                self.health(i).set_trust(Trust::Trusted);
                            }
                        }
                    }
                }
            }
        }
        tips.iter()
            .filter(|t| self.health(t.0).trust == Trust::Trusted)
            .map(|t| t.1)
            .max()
            .ok_or_else(|| {
                NodeError::Unreachable(
                    "no trusted endpoint answered: those that answered lag or are on a fork".into(),
                )
            })
    }
}

impl<N: Node> Node for Failover<N> {
    type Raw = N::Raw;

    async fn verify(&self) -> Result<(), NodeError> {
        let mut last = None;
        let mut any = false;
        for i in 0..self.inner.endpoints.len() {
            let started = Instant::now();
            let r = self.inner.endpoints[i].node.verify().await;
            self.record(i, started, &r);
            match r {
                Ok(()) => any = true,
                Err(e) => last = Some(e),
            }
        }
        match (any, last) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Ok(()),
        }
    }

    async fn tip(&self) -> Result<u64, NodeError> {
        if self.inner.endpoints.len() == 1 {
            let started = Instant::now();
            let r = self.inner.endpoints[0].node.tip().await;
            self.record(0, started, &r);
            if let Ok(t) = &r {
                let mut h = self.inner.endpoints[0]
                    .health
                    .lock()
                    .expect("endpoint lock");
                h.view.tip = Some(*t);
                h.view.lag = Some(0);
            }
            return r;
        }
        let now = Instant::now();
        let asked: Vec<usize> = (0..self.inner.endpoints.len())
            .filter(|&i| {
                let h = self.inner.endpoints[i]
                    .health
                    .lock()
                    .expect("endpoint lock");
                h.rest_until.is_none_or(|t| t <= now)
            })
            .collect();
        let answers = futures_util::future::join_all(asked.iter().map(|&i| async move {
            let node = &self.inner.endpoints[i].node;
            (i, self.probe(i, "tip", node.tip()).await)
        }))
        .await;
        let mut tips = Vec::new();
        let mut last = None;
        for (i, r) in answers {
            match r {
                Ok(t) => tips.push((i, t)),
                Err(e) => last = Some(e),
            }
        }
        if tips.is_empty() {
            return Err(last.unwrap_or_else(|| {
                NodeError::Unreachable("every endpoint is resting after failures".into())
            }));
        }
        let tip = self.cross_check(&tips).await;
        self.warn_long_unhealthy();
        tip
    }

    async fn hash_at(&self, height: u64) -> Result<Hash32, NodeError> {
        self.each(Some(height), |n| async move { n.hash_at(height).await })
            .await
    }

    async fn fetch(&self, height: u64) -> Result<Self::Raw, NodeError> {
        self.each(Some(height), |n| async move { n.fetch(height).await })
            .await
    }

    fn batch_size(&self) -> u64 {
        self.inner.endpoints[0].node.batch_size()
    }

    async fn fetch_many(&self, start: u64, count: u64) -> Result<Vec<(u64, Self::Raw)>, NodeError> {
        let last = start + count.saturating_sub(1);
        self.each(
            Some(last),
            |n| async move { n.fetch_many(start, count).await },
        )
        .await
    }

    async fn finalized(&self) -> Result<Option<u64>, NodeError> {
        self.each(None, |n| async move { n.finalized().await })
            .await
    }

    async fn knows(&self, hash: Hash32) -> Result<Option<bool>, NodeError> {
        self.each(None, |n| async move { n.knows(hash).await })
            .await
    }
}
