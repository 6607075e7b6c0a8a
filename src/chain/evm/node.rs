//! An EVM node over HTTP JSON-RPC: the block, its receipts (or, on a node
//! without `eth_getBlockReceipts`, what `eth_getLogs` and per-transaction
//! receipts give) and its traces, kept as the node sent them for the
//! decoder; and `newHeads` over WebSocket to learn of blocks at once.

use super::wire::{hex_quantity, quantity, u256, BlockBrief};
use super::{EvmRaw, Traces};
use crate::chain::rpc::RpcClient;
use crate::chain::{error_chain, Node, NodeError, RawJson, BLACKLIST_TOPICS, TRANSFER_TOPIC};
use crate::config::{EvmConfig, TraceApi};
use crate::transfer::Hash32;
use alloy::providers::{Provider, RootProvider};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An EVM node over HTTP JSON-RPC.
#[derive(Clone)]
pub struct EvmNode {
    rpc: RpcClient,
    cfg: Arc<EvmConfig>,
    /// Set once the node answered that it has no `eth_getBlockReceipts`.
    no_block_receipts: Arc<AtomicBool>,
    /// Set once the node answered that it has no `trace_block` (with
    /// `trace_api = "auto"`): `debug_traceBlockByNumber` from then on.
    no_trace_block: Arc<AtomicBool>,
}

/// Receipt requests in flight when a node lacks `eth_getBlockReceipts`.
const RECEIPT_CONCURRENCY: usize = 16;

#[derive(Debug, Deserialize)]
struct StatusOnly {
    status: Option<String>,
    #[serde(rename = "contractAddress")]
    contract_address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HeaderOnly {
    hash: Option<String>,
    number: Option<String>,
}

impl EvmNode {
    pub fn new(cfg: EvmConfig) -> Self {
        let rpc = RpcClient::new(
            reqwest::Client::new(),
            cfg.rpc_url.clone(),
            "2.0",
            cfg.timeout,
            Arc::new(crate::chain::limit::Limits::new(cfg.max_rps)),
        );
        EvmNode {
            rpc,
            no_trace_block: Arc::new(AtomicBool::new(cfg.trace_api == TraceApi::DebugTrace)),
            cfg: Arc::new(cfg),
            no_block_receipts: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Receipts for a node without `eth_getBlockReceipts`: the block's
    /// `Transfer` and blacklist logs from `eth_getLogs`, and the status of every
    /// transaction that moves native value from `eth_getTransactionReceipt`.
    /// A transaction without value needs no status: only successful
    /// transactions leave logs.
    async fn receipts_from_logs(&self, block: &RawJson) -> Result<RawJson, NodeError> {
        let brief: BlockBrief = serde_json::from_slice(block.as_bytes())
            .map_err(|e| NodeError::Invalid(format!("eth_getBlockByNumber: {e}")))?;
        let Some(hash) = brief.hash.as_deref() else {
            return Err(NodeError::Invalid("eth_getBlockByNumber: no hash".into()));
        };
        // Transfers and the issuers' blacklist changes: any of them first.
        let topics: Vec<String> = std::iter::once(&TRANSFER_TOPIC)
            .chain(BLACKLIST_TOPICS.iter())
            .map(|t| format!("0x{}", hex::encode(t)))
            .collect();
        let logs: Vec<serde_json::Value> = self
            .call(
                "eth_getLogs",
                json!([{"blockHash": hash, "topics": [topics]}]),
            )
            .await?;
        let valued: Vec<String> = brief
            .transactions
            .iter()
            .filter(|t| {
                t.value
                    .as_deref()
                    .and_then(u256)
                    .is_some_and(|v| !v.is_zero())
            })
            .filter_map(|t| t.hash.as_deref().map(str::to_string))
            .collect();
        let node = self.clone();
        let requests = valued.clone().into_iter().map(move |h| {
            let node = node.clone();
            async move {
                node.call::<Option<StatusOnly>>("eth_getTransactionReceipt", json!([h]))
                    .await
            }
        });
        let statuses: Vec<Result<Option<StatusOnly>, NodeError>> =
            futures_util::stream::iter(requests)
                .buffered(RECEIPT_CONCURRENCY)
                .collect()
                .await;
        let mut status_of = std::collections::HashMap::new();
        for (h, st) in valued.iter().zip(statuses) {
            let (status, made) = st?
                .map(|r| (r.status.unwrap_or_default(), r.contract_address))
                .unwrap_or_default();
            status_of.insert(h.as_str(), (status, made));
        }
        let receipts: Vec<serde_json::Value> = brief
            .transactions
            .iter()
            .map(|t| {
                let h = t.hash.as_deref().unwrap_or_default();
                let tx_logs: Vec<&serde_json::Value> =
                    logs.iter().filter(|l| l["transactionHash"] == h).collect();
                let (status, made) = status_of
                    .get(h)
                    .cloned()
                    .unwrap_or_else(|| ("0x1".into(), None));
                json!({"transactionHash": h, "status": status, "contractAddress": made, "logs": tx_logs})
            })
            .collect();
        serde_json::to_string(&receipts)
            .map(RawJson::from)
            .map_err(|e| NodeError::Invalid(format!("receipts: {e}")))
    }

    /// A call whose result is kept as the node sent it, `None` for null:
    /// blocks, receipts and traces are read in place by the decoder.
    async fn raw_call(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<Option<RawJson>, NodeError> {
        self.rpc.call_raw(method, params, None).await
    }

    async fn call<R: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<R, NodeError> {
        self.rpc.call(method, params, None).await
    }

    async fn header(&self, tag: String) -> Result<Option<HeaderOnly>, NodeError> {
        self.call("eth_getBlockByNumber", json!([tag, false])).await
    }

    /// Checks that the node serves the configured chain.
    pub async fn check_chain_id(&self) -> Result<(), NodeError> {
        let id: String = self.call("eth_chainId", json!([])).await?;
        let id = quantity(&id)
            .ok_or_else(|| NodeError::Invalid(format!("eth_chainId: `{id}` is not a quantity")))?;
        if id != self.cfg.chain_id {
            return Err(NodeError::Invalid(format!(
                "the node serves chain id {id}, but chain_id = {} is configured",
                self.cfg.chain_id
            )));
        }
        Ok(())
    }
}

impl Node for EvmNode {
    type Raw = EvmRaw;

    async fn verify(&self) -> Result<(), NodeError> {
        self.check_chain_id().await
    }

    async fn tip(&self) -> Result<u64, NodeError> {
        let n: String = self.call("eth_blockNumber", json!([])).await?;
        quantity(&n).ok_or_else(|| NodeError::Invalid(format!("eth_blockNumber: `{n}`")))
    }

    async fn hash_at(&self, height: u64) -> Result<Hash32, NodeError> {
        let h = self
            .header(hex_quantity(height))
            .await?
            .ok_or_else(|| NodeError::Rpc(format!("eth_getBlockByNumber: no block {height}")))?;
        h.hash
            .as_deref()
            .and_then(|h| Hash32::from_hex(h).ok())
            .ok_or_else(|| NodeError::Invalid(format!("eth_getBlockByNumber {height}: no hash")))
    }

    async fn fetch(&self, height: u64) -> Result<EvmRaw, NodeError> {
        let tag = hex_quantity(height);
        let block = self.raw_call("eth_getBlockByNumber", json!([&tag, true]));
        let receipts = async {
            if self.no_block_receipts.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match self.raw_call("eth_getBlockReceipts", json!([&tag])).await {
                Err(NodeError::Rpc(e)) if e.contains("(code -32601)") => {
                    tracing::warn!(error = %e, "the node has no eth_getBlockReceipts; using eth_getLogs and per-transaction receipts");
                    self.no_block_receipts.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                other => other.map(Some),
            }
        };
        let traces = async {
            if !self.cfg.internal_transfers {
                return Ok(None);
            }
            if !self.no_trace_block.load(Ordering::Relaxed) {
                match self.raw_call("trace_block", json!([&tag])).await {
                    Err(NodeError::Rpc(e))
                        if e.contains("(code -32601)") && self.cfg.trace_api == TraceApi::Auto =>
                    {
                        tracing::warn!(error = %e, "the node has no trace_block; using debug_traceBlockByNumber with the callTracer");
                        self.no_trace_block.store(true, Ordering::Relaxed);
                    }
                    other => return other.map(|t| Some(t.map(Traces::Parity))),
                }
            }
            self.raw_call(
                "debug_traceBlockByNumber",
                json!([&tag, {"tracer": "callTracer"}]),
            )
            .await
            .map(|t| Some(t.map(Traces::CallTracer)))
        };
        let (block, receipts, traces) = tokio::try_join!(block, receipts, traces)?;
        let missing = || NodeError::Rpc(format!("the node has no block {height} (yet)"));
        let block = block.ok_or_else(missing)?;
        let receipts = match receipts {
            Some(r) => r.ok_or_else(missing)?,
            None => self.receipts_from_logs(&block).await?,
        };
        Ok(EvmRaw {
            block,
            receipts,
            traces: traces.map(|t| t.ok_or_else(missing)).transpose()?,
        })
    }

    async fn knows(&self, hash: Hash32) -> Result<Option<bool>, NodeError> {
        let h = hash.to_string();
        let h = if h.starts_with("0x") {
            h
        } else {
            format!("0x{h}")
        };
        let header: Option<HeaderOnly> = self.call("eth_getBlockByHash", json!([h, false])).await?;
        Ok(Some(header.is_some()))
    }

    async fn finalized(&self) -> Result<Option<u64>, NodeError> {
        let Some(tag) = &self.cfg.finality_tag else {
            return Ok(None);
        };
        let h = self.header(tag.clone()).await?;
        Ok(h.and_then(|h| h.number.as_deref().and_then(quantity)))
    }
}

/// Follows the node's `newHeads` over WebSocket and rings `wake` for each
/// announced block, so that the scanner fetches it at once. Polling goes on
/// beside it and covers whatever a dropped connection missed. Reconnects,
/// with a growing pause, until `stop` turns true.
pub async fn follow_new_heads(
    chain: String,
    ws_url: url::Url,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut pause = Duration::from_millis(200);
    // A failure is logged as a warning once until the next connection.
    let mut warned = false;
    loop {
        let mut connected = false;
        let session = async {
            let connect = alloy::transports::ws::WsConnect::new(ws_url.as_str())
                // paywatch reconnects itself, with its own pause.
                .with_max_retries(0);
            let client = alloy::rpc::client::ClientBuilder::default()
                .ws(connect)
                .await
                .map_err(|e| error_chain(&e))?;
            let provider = RootProvider::<alloy::network::Ethereum>::new(client);
            let mut sub = provider
                .subscribe::<_, serde::de::IgnoredAny>(("newHeads",))
                .await
                .map_err(|e| error_chain(&e))?;
            connected = true;
            tracing::info!(%chain, ws_url = %ws_url, "following newHeads");
            // Blocks may have come while not connected.
            wake.notify_one();
            loop {
                match sub.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => wake.notify_one(),
                    Err(RecvError::Closed) => {
                        return Err::<(), String>("the node closed the subscription".into())
                    }
                }
            }
        };
        let error = tokio::select! {
            r = session => r.err().unwrap_or_default(),
            _ = stop.changed() => return,
        };
        if connected {
            pause = Duration::from_millis(200);
            warned = false;
        }
        if warned {
            tracing::debug!(%chain, ws_url = %ws_url, %error, "newHeads subscription failed");
        } else {
            warned = true;
            tracing::warn!(%chain, ws_url = %ws_url, %error, "no newHeads subscription; polling until it is back");
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}
