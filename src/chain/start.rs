//! Starting one configured chain: its node client and decoder, and what
//! runs beside them (Bitcoin's mempool watcher, a ZMQ `hashblock` or
//! `newHeads` subscription that wakes the scanner). The scanner itself is
//! the caller's: [`Launch`] receives the node and decoder, whatever their
//! kind.

use super::bitcoin::{BitcoinDecoder, BitcoinNode};
use super::evm::{EvmAssets, EvmDecoder, EvmNode};
use super::failover::Failover;
use super::mempool::MempoolWatcher;
use super::tron::{TronDecoder, TronNode};
use super::{Decoder, Node, NodeError};
use crate::config::{ChainConfig, ChainKind};
use crate::status::ChainStatus;
use crate::store::{Store, StoreError};
use crate::transfer::Asset;
use crate::watch::Matcher;
use std::sync::Arc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Why a chain did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The outputs a Bitcoin decoder spends from could not be read.
    #[error("chain {chain}: cannot load received outputs")]
    ReceivedOutputs {
        chain: String,
        #[source]
        source: StoreError,
    },
    /// The node serves another chain than the one configured.
    #[error("chain {chain}: {detail}")]
    WrongChain { chain: String, detail: String },
    /// Risk screening's state could not be read.
    #[error("chain {chain}: cannot load risk screening's state")]
    Risk {
        chain: String,
        #[source]
        source: StoreError,
    },
    /// Every endpoint is a pruned node without the next block to scan.
    #[error("chain {chain}: {detail}")]
    Pruned { chain: String, detail: String },
    /// The node client cannot be built.
    #[error("chain {chain}: {source}")]
    Node {
        chain: String,
        #[source]
        source: NodeError,
    },
}

/// Refuses to start a Bitcoin chain whose every endpoint is a pruned
/// node that no longer has the next block to scan (`start_height`, or the
/// block after the indexed tip): it would fail on that block forever. An
/// endpoint that does not answer yet is not counted against the start.
async fn check_pruning(
    chain: &ChainConfig,
    store: &Store,
    nodes: &[(BitcoinNode, String, i32)],
) -> Result<(), StartError> {
    let next = match store.cursor(&chain.name) {
        Ok(Some((h, _))) => h + 1,
        _ => chain.start_height,
    };
    let mut pruned = Vec::new();
    for (node, name, _) in nodes {
        match node.prune_height().await {
            Ok(Some(p)) if p > next => pruned.push(format!("{name} keeps blocks from {p} on")),
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(chain = %chain.name, endpoint = %name, error = %e, "cannot ask whether the node is pruned yet");
                return Ok(());
            }
        }
    }
    if pruned.is_empty() {
        return Ok(());
    }
    let from = if next == chain.start_height {
        format!("start_height = {next}")
    } else {
        format!("block {next}, after the indexed tip")
    };
    Err(StartError::Pruned {
        chain: chain.name.clone(),
        detail: format!(
            "paywatch must scan from {from}, but the node is pruned: {}. Set start_height \
             at or above the prune height (payments before it are not seen), or use a node \
             that keeps those blocks",
            pruned.join("; ")
        ),
    })
}

/// How a started chain is handed its scanner.
pub struct Started {
    /// Tasks running beside the scanner, stopped by the same signal.
    pub tasks: Vec<JoinHandle<()>>,
    /// Rung when the node announces a block, for a fetch at once.
    pub wake: Option<Arc<Notify>>,
    /// The node tells finality (a `finalized`/`safe` tag, TRON's
    /// solidified block) rather than depth alone.
    pub node_finality: bool,
}

/// Runs the scanner of a chain whose node and decoder [`start`] built.
pub trait Launch {
    type Output;
    fn launch<N, D>(self, node: N, decoder: D, started: &Started) -> Self::Output
    where
        N: Node,
        D: Decoder<Raw = N::Raw>;
}

/// Starts `chain`: builds its node client and decoder and hands them to
/// `launch`, with the tasks it started beside them.
pub async fn start<L: Launch>(
    chain: &ChainConfig,
    matcher: Arc<Matcher>,
    store: &Arc<Store>,
    status: Arc<ChainStatus>,
    stop: watch::Receiver<bool>,
    risk: &crate::risk::RiskSetup,
    launch: L,
) -> Result<(L::Output, Started), StartError> {
    let node_error = |source| StartError::Node {
        chain: chain.name.clone(),
        source,
    };
    let mut started = Started {
        tasks: Vec::new(),
        wake: None,
        node_finality: false,
    };
    let out = match &chain.kind {
        ChainKind::Bitcoin(btc) => {
            let decoder = BitcoinDecoder::new(&chain.name, btc.network, matcher.clone(), store)
                .map_err(|source| StartError::ReceivedOutputs {
                    chain: chain.name.clone(),
                    source,
                })?;
            let nodes = chain
                .endpoints
                .iter()
                .map(|e| {
                    let mut cfg = btc.clone();
                    cfg.rpc_url = e.url.clone();
                    if let Some(auth) = &e.auth {
                        cfg.auth = auth.clone();
                    }
                    cfg.max_rps = e.max_rps;
                    (
                        BitcoinNode::new(cfg, chain.prefetch),
                        e.display(),
                        e.priority,
                    )
                })
                .collect::<Vec<_>>();
            check_pruning(chain, store, &nodes).await?;
            let failover = Failover::new(&chain.name, nodes, chain.max_lag_blocks);
            status.set_endpoints(failover.view());
            let node = failover.primary().clone();
            if let Some(m) = &btc.mempool {
                let watcher = MempoolWatcher::new(
                    &chain.name,
                    chain.network_name(),
                    btc.network,
                    m.clone(),
                    node.clone(),
                    matcher,
                    store.clone(),
                    status,
                    risk.screen(chain, store)
                        .map_err(|source| StartError::Risk {
                            chain: chain.name.clone(),
                            source,
                        })?,
                );
                started.tasks.push(tokio::spawn(watcher.run(stop.clone())));
            }
            if let Some(endpoint) = &btc.zmq_hashblock {
                let wake = Arc::new(Notify::new());
                let ring = wake.clone();
                started.tasks.push(tokio::spawn(super::zmq::subscribe(
                    chain.name.clone(),
                    endpoint.clone(),
                    "hashblock",
                    move |_| {
                        ring.notify_one();
                        true
                    },
                    stop,
                )));
                started.wake = Some(wake);
            }
            drop(node);
            launch.launch(failover, decoder, &started)
        }
        ChainKind::Tron(tron) => {
            started.node_finality = tron.solidified;
            let decoder = TronDecoder::new(&chain.name, tron.tokens.clone(), matcher);
            let mut nodes = Vec::new();
            for e in &chain.endpoints {
                let mut cfg = tron.clone();
                cfg.http_url = e.url.clone();
                cfg.api_key = e.api_key.clone();
                cfg.max_rps = e.max_rps;
                nodes.push((
                    TronNode::new(cfg).map_err(node_error)?,
                    e.display(),
                    e.priority,
                ));
            }
            let failover = Failover::new(&chain.name, nodes, chain.max_lag_blocks);
            status.set_endpoints(failover.view());
            launch.launch(failover, decoder, &started)
        }
        ChainKind::Evm(evm) => {
            started.node_finality = evm.finality_tag.is_some();
            let assets = EvmAssets {
                native: Asset {
                    symbol: evm.native_symbol.clone(),
                    decimals: 18,
                    contract: None,
                },
                tokens: evm.tokens.clone(),
            };
            let decoder = EvmDecoder::new(&chain.name, assets, matcher);
            let nodes = chain
                .endpoints
                .iter()
                .map(|e| {
                    let mut cfg = evm.clone();
                    cfg.rpc_url = e.url.clone();
                    cfg.max_rps = e.max_rps;
                    (EvmNode::new(cfg), e.display(), e.priority)
                })
                .collect();
            let failover = Failover::new(&chain.name, nodes, chain.max_lag_blocks);
            status.set_endpoints(failover.view());
            let node = failover.primary().clone();
            // A node that answers with another chain id stops the start;
            // one that does not answer yet is checked again by the scanner.
            match node.check_chain_id().await {
                Err(NodeError::Invalid(detail)) => {
                    return Err(StartError::WrongChain {
                        chain: chain.name.clone(),
                        detail,
                    })
                }
                Err(e) => {
                    tracing::warn!(chain = %chain.name, error = %e, "cannot check the chain id yet")
                }
                Ok(()) => {}
            }
            // The chain's `ws_url` and each endpoint's: any announcement
            // wakes the scanner.
            let ws_urls: Vec<_> = evm
                .ws_url
                .iter()
                .chain(chain.endpoints.iter().filter_map(|e| e.ws_url.as_ref()))
                .cloned()
                .collect();
            if !ws_urls.is_empty() {
                let wake = Arc::new(Notify::new());
                for ws_url in ws_urls {
                    started
                        .tasks
                        .push(tokio::spawn(super::evm::follow_new_heads(
                            chain.name.clone(),
                            ws_url,
                            wake.clone(),
                            stop.clone(),
                        )));
                }
                started.wake = Some(wake);
            }
            launch.launch(failover, decoder, &started)
        }
    };
    Ok((out, started))
}
