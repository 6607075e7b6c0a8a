//! Ethereum and other EVM chains: blocks and receipts from the user's node
//! over JSON-RPC (alloy transport), matched for native transfers of top-level
//! transactions, `Transfer` logs of listed ERC-20 tokens and, optionally,
//! native value moved by contracts (`trace_block`).
//!
//! Node answers are read with borrowed parsing of just the fields paywatch
//! needs, so blocks without signatures or with new transaction types decode
//! as well as any other.

use super::skim::{self, Json, Skim};
use super::{
    error_chain, rpc_answer, Block, DecodeError, Decoder, Matches, Node, NodeError, RawJson,
};
use crate::address::evm::display;
use crate::config::{EvmConfig, Token};
use crate::transfer::{Asset, BlockRef, Direction, Hash32};
use crate::watch::{Lookup, Matcher};
use alloy::primitives::U256;
use alloy::providers::{Provider, RootProvider};
use futures_util::StreamExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `Transfer(address,address,uint256)`.
const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// Index offset of internal (trace) transfers, apart from the transaction's
/// own transfer (0) and its logs (`log index + 1`).
pub const INTERNAL_INDEX_BASE: u32 = 1 << 30;

// ---- node answers (only the fields paywatch reads) ------------------------------

#[derive(Deserialize)]
struct BlockJson<'a> {
    #[serde(borrow)]
    hash: Option<Cow<'a, str>>,
    #[serde(rename = "parentHash", borrow)]
    parent_hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    transactions: Vec<TxJson<'a>>,
}

#[derive(Deserialize)]
struct TxJson<'a> {
    #[serde(borrow)]
    hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ReceiptJson<'a> {
    #[serde(rename = "transactionHash", borrow)]
    transaction_hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    logs: Vec<LogJson<'a>>,
}

#[derive(Deserialize)]
struct LogJson<'a> {
    #[serde(borrow)]
    address: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    topics: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(rename = "logIndex", borrow)]
    log_index: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TraceJson<'a> {
    #[serde(borrow)]
    action: Option<TraceAction<'a>>,
    #[serde(rename = "transactionHash", borrow)]
    transaction_hash: Option<Cow<'a, str>>,
    #[serde(rename = "traceAddress", default)]
    trace_address: Vec<u64>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TraceAction<'a> {
    #[serde(rename = "callType", borrow)]
    call_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

/// One block as fetched: `eth_getBlockByNumber(n, true)`, its
/// `eth_getBlockReceipts` and, with internal transfers on, `trace_block`.
pub struct EvmRaw {
    pub block: RawJson,
    pub receipts: RawJson,
    pub traces: Option<RawJson>,
}

fn quantity(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn u256(s: &str) -> Option<U256> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

fn address20(s: &str) -> Option<[u8; 20]> {
    let h = s.strip_prefix("0x")?;
    let mut out = [0u8; 20];
    const_hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

fn topic_address(t: &str) -> Option<[u8; 20]> {
    let h = t.strip_prefix("0x")?;
    if h.len() != 64 {
        return None;
    }
    let mut word = [0u8; 32];
    const_hex::decode_to_slice(h, &mut word).ok()?;
    // An address topic is 12 zero bytes and the address.
    if word[..12].iter().any(|b| *b != 0) {
        return None;
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&word[12..]);
    Some(out)
}

fn word_u256(data: &str) -> Option<U256> {
    let h = data.strip_prefix("0x")?;
    if h.len() != 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

fn is_transfer_topic(t: &str) -> bool {
    let Some(h) = t.strip_prefix("0x") else {
        return false;
    };
    let mut b = [0u8; 32];
    const_hex::decode_to_slice(h, &mut b).is_ok() && b == TRANSFER_TOPIC
}

// ---- the same answers through the fast reader (see `skim.rs`) --------------------

fn skim_block(doc: &[u8]) -> skim::Result<BlockJson<'_>> {
    let mut s = Skim::new(doc);
    let mut o = s.object()?;
    let mut b = BlockJson {
        hash: None,
        parent_hash: None,
        number: None,
        timestamp: None,
        transactions: Vec::new(),
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"hash") => b.hash = s.opt_str()?,
            k if skim::is(k, b"parentHash") => b.parent_hash = s.opt_str()?,
            k if skim::is(k, b"number") => b.number = s.opt_str()?,
            k if skim::is(k, b"timestamp") => b.timestamp = s.opt_str()?,
            k if skim::is(k, b"transactions") => {
                let mut a = s.array()?;
                while s.next(&mut a)? {
                    b.transactions.push(skim_tx(&mut s)?);
                }
            }
            _ => s.skip()?,
        }
    }
    s.end()?;
    Ok(b)
}

fn skim_tx<'a>(s: &mut Skim<'a>) -> skim::Result<TxJson<'a>> {
    let mut o = s.object()?;
    let mut t = TxJson {
        hash: None,
        from: None,
        to: None,
        value: None,
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"hash") => t.hash = s.opt_str()?,
            k if skim::is(k, b"from") => t.from = s.opt_str()?,
            k if skim::is(k, b"to") => t.to = s.opt_str()?,
            k if skim::is(k, b"value") => t.value = s.opt_str()?,
            _ => s.skip()?,
        }
    }
    Ok(t)
}

/// Logs of contracts other than the listed tokens are only walked over:
/// their topics and data are never read.
fn skim_receipts<'a>(
    doc: &'a [u8],
    is_token: &dyn Fn(&[u8; 20]) -> bool,
) -> skim::Result<Vec<ReceiptJson<'a>>> {
    let mut s = Skim::new(doc);
    let mut out = Vec::new();
    let mut a = s.array()?;
    while s.next(&mut a)? {
        let mut o = s.object()?;
        let mut r = ReceiptJson {
            transaction_hash: None,
            status: None,
            logs: Vec::new(),
        };
        while let Some(k) = s.key(&mut o)? {
            match k {
                k if skim::is(k, b"transactionHash") => r.transaction_hash = s.opt_str()?,
                k if skim::is(k, b"status") => r.status = s.opt_str()?,
                k if skim::is(k, b"logs") => {
                    let mut logs = s.array()?;
                    while s.next(&mut logs)? {
                        if let Some(log) = skim_log(&mut s, is_token)? {
                            r.logs.push(log);
                        }
                    }
                }
                _ => s.skip()?,
            }
        }
        out.push(r);
    }
    s.end()?;
    Ok(out)
}

/// A log, or `None` for a log of a contract that is not a listed token:
/// the matcher would pass over it.
fn skim_log<'a>(
    s: &mut Skim<'a>,
    is_token: &dyn Fn(&[u8; 20]) -> bool,
) -> skim::Result<Option<LogJson<'a>>> {
    let mut o = s.object()?;
    let mut l = LogJson {
        address: None,
        topics: Vec::new(),
        data: None,
        log_index: None,
    };
    // Nodes write `address` first: a log of any other contract is left
    // there, the rest of it unread.
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"address") => {
                l.address = s.opt_str()?;
                // A malformed address is kept, for the matcher to count.
                let other = l
                    .address
                    .as_deref()
                    .and_then(address20)
                    .is_some_and(|a| !is_token(&a));
                if other {
                    s.leave_object()?;
                    return Ok(None);
                }
            }
            k if skim::is(k, b"topics") => l.topics = s.strs()?,
            k if skim::is(k, b"data") => l.data = s.opt_str()?,
            k if skim::is(k, b"logIndex") => l.log_index = s.opt_str()?,
            _ => s.skip()?,
        }
    }
    Ok(Some(l))
}

fn skim_traces(doc: &[u8]) -> skim::Result<Vec<TraceJson<'_>>> {
    let mut s = Skim::new(doc);
    let mut out = Vec::new();
    let mut a = s.array()?;
    while s.next(&mut a)? {
        let mut o = s.object()?;
        let mut t = TraceJson {
            action: None,
            transaction_hash: None,
            trace_address: Vec::new(),
            kind: None,
            error: None,
        };
        while let Some(k) = s.key(&mut o)? {
            match k {
                k if skim::is(k, b"action") && !s.null()? => {
                    let mut act = s.object()?;
                    let mut action = TraceAction {
                        call_type: None,
                        from: None,
                        to: None,
                        value: None,
                    };
                    while let Some(k) = s.key(&mut act)? {
                        match k {
                            k if skim::is(k, b"callType") => action.call_type = s.opt_str()?,
                            k if skim::is(k, b"from") => action.from = s.opt_str()?,
                            k if skim::is(k, b"to") => action.to = s.opt_str()?,
                            k if skim::is(k, b"value") => action.value = s.opt_str()?,
                            _ => s.skip()?,
                        }
                    }
                    t.action = Some(action);
                }
                k if skim::is(k, b"action") => {}
                k if skim::is(k, b"transactionHash") => t.transaction_hash = s.opt_str()?,
                k if skim::is(k, b"traceAddress") => {
                    let mut path = s.array()?;
                    while s.next(&mut path)? {
                        t.trace_address.push(s.u64()?);
                    }
                }
                k if skim::is(k, b"type") => t.kind = s.opt_str()?,
                k if skim::is(k, b"error") => t.error = s.opt_str()?,
                _ => s.skip()?,
            }
        }
        out.push(t);
    }
    s.end()?;
    Ok(out)
}

// ---- decoding and matching ---------------------------------------------------------

/// What the decoder needs to know about the chain.
pub struct EvmAssets {
    pub native: Asset,
    pub tokens: Vec<Token>,
}

/// Decodes one block with its receipts (and traces) and matches it;
/// malformed transactions and logs are skipped and counted.
pub fn scan_block(
    chain: &str,
    assets: &EvmAssets,
    height: u64,
    raw: &EvmRaw,
    watches: &impl Lookup,
) -> Result<Block, DecodeError> {
    scan_block_with(Json::Skim, chain, assets, height, raw, watches)
}

/// [`scan_block`] with a choice of JSON reader.
pub fn scan_block_with(
    json: Json,
    chain: &str,
    assets: &EvmAssets,
    height: u64,
    raw: &EvmRaw,
    watches: &impl Lookup,
) -> Result<Block, DecodeError> {
    let malformed = |detail: String| DecodeError::Malformed { height, detail };
    let block: BlockJson = match json {
        Json::Skim => skim_block(raw.block.as_bytes()).map_err(|e| e.to_string()),
        Json::Serde => serde_json::from_slice(raw.block.as_bytes()).map_err(|e| e.to_string()),
    }
    .map_err(|e| malformed(format!("not a block object: {e}")))?;
    let number = block.number.as_deref().and_then(quantity);
    if number != Some(height) {
        return Err(malformed(format!("node sent block {number:?}")));
    }
    let hash = block
        .hash
        .as_deref()
        .and_then(|h| Hash32::from_hex(h).ok())
        .ok_or_else(|| malformed("block hash is missing or not 32-byte hex".into()))?;
    let parent = block
        .parent_hash
        .as_deref()
        .and_then(|h| Hash32::from_hex(h).ok())
        .ok_or_else(|| malformed("parentHash is missing or not 32-byte hex".into()))?;
    let time = block
        .timestamp
        .as_deref()
        .and_then(quantity)
        .ok_or_else(|| malformed("timestamp is missing or not a quantity".into()))?;
    let receipts: Vec<ReceiptJson> = match json {
        Json::Skim => skim_receipts(raw.receipts.as_bytes(), &|a| {
            assets.tokens.iter().any(|t| t.contract == a)
        })
        .map_err(|e| e.to_string()),
        Json::Serde => serde_json::from_slice(raw.receipts.as_bytes()).map_err(|e| e.to_string()),
    }
    .map_err(|e| malformed(format!("receipts are not an array of receipts: {e}")))?;
    if receipts.len() != block.transactions.len() {
        return Err(malformed(format!(
            "{} receipts for {} transactions",
            receipts.len(),
            block.transactions.len()
        )));
    }
    let mut m = Matches::new(chain, BlockRef { height, hash, time }, watches, display);

    for (tx, receipt) in block.transactions.iter().zip(&receipts) {
        let Some(txid) = tx.hash.as_deref().and_then(|h| Hash32::from_hex(h).ok()) else {
            m.skipped += 1;
            continue;
        };
        if receipt
            .transaction_hash
            .as_deref()
            .and_then(|h| Hash32::from_hex(h).ok())
            != Some(txid)
        {
            return Err(malformed(format!(
                "receipts are not in transaction order at {txid}"
            )));
        }
        let success = match receipt.status.as_deref().map(quantity) {
            Some(Some(s)) => s == 1,
            _ => {
                // Pre-Byzantium receipts have no status; paywatch needs it.
                m.skipped += 1;
                continue;
            }
        };
        if !success {
            continue;
        }
        // Native value of the transaction itself.
        if let Some(value) = tx.value.as_deref() {
            match u256(value) {
                Some(v) if v.is_zero() => {}
                Some(v) => {
                    let from = tx.from.as_deref().and_then(address20);
                    // `to` is null for a contract creation.
                    let to = tx.to.as_deref().map(address20);
                    match (from, to) {
                        (Some(from), Some(Some(to))) => {
                            m.pair(txid, 0, &from, &to, v.into(), || assets.native.clone())?
                        }
                        (Some(from), None) => {
                            m.one(txid, 0, Direction::Out, &from, v.into(), || {
                                assets.native.clone()
                            })?
                        }
                        _ => m.skipped += 1,
                    }
                }
                None => m.skipped += 1,
            }
        }
        for log in &receipt.logs {
            let Some(contract) = log.address.as_deref().and_then(address20) else {
                m.skipped += 1;
                continue;
            };
            let Some(token) = assets.tokens.iter().find(|t| t.contract == contract) else {
                continue;
            };
            if !log.topics.first().is_some_and(|t| is_transfer_topic(t)) {
                continue;
            }
            let index = log.log_index.as_deref().and_then(quantity);
            let parsed = (log.topics.len() == 3)
                .then(|| {
                    Some((
                        topic_address(&log.topics[1])?,
                        topic_address(&log.topics[2])?,
                    ))
                })
                .flatten()
                .zip(log.data.as_deref().and_then(word_u256))
                .zip(
                    index
                        .and_then(|i| u32::try_from(i).ok())
                        .filter(|i| *i < INTERNAL_INDEX_BASE - 1),
                );
            let Some((((from, to), amount), index)) = parsed else {
                m.skipped += 1;
                continue;
            };
            let asset = || Asset {
                symbol: token.symbol.clone(),
                decimals: token.decimals,
                contract: Some(token.display.clone()),
            };
            m.pair(txid, index + 1, &from, &to, amount.into(), asset)?;
        }
    }

    if let Some(traces) = &raw.traces {
        let traces: Vec<TraceJson> = match json {
            Json::Skim => skim_traces(traces.as_bytes()).map_err(|e| e.to_string()),
            Json::Serde => serde_json::from_slice(traces.as_bytes()).map_err(|e| e.to_string()),
        }
        .map_err(|e| malformed(format!("traces are not an array of traces: {e}")))?;
        for (i, t) in traces.iter().enumerate() {
            // Top-level calls are the transactions themselves, counted above.
            let internal_call = t.kind.as_deref() == Some("call")
                && !t.trace_address.is_empty()
                && t.error.is_none();
            let Some(action) = t.action.as_ref().filter(|_| internal_call) else {
                continue;
            };
            if action.call_type.as_deref() != Some("call") {
                continue;
            }
            let Some(value) = action.value.as_deref().and_then(u256) else {
                m.skipped += 1;
                continue;
            };
            if value.is_zero() {
                continue;
            }
            let from = action.from.as_deref().and_then(address20);
            let to = action.to.as_deref().and_then(address20);
            let txid = t
                .transaction_hash
                .as_deref()
                .and_then(|h| Hash32::from_hex(h).ok());
            let (Some(from), Some(to), Some(txid)) = (from, to, txid) else {
                m.skipped += 1;
                continue;
            };
            let index = INTERNAL_INDEX_BASE + i as u32;
            m.pair(txid, index, &from, &to, value.into(), || {
                assets.native.clone()
            })?;
        }
    }

    Ok(m.finish(hash, parent))
}

pub struct EvmDecoder {
    chain: String,
    assets: EvmAssets,
    matcher: Arc<Matcher>,
}

impl EvmDecoder {
    pub fn new(chain: &str, assets: EvmAssets, matcher: Arc<Matcher>) -> Self {
        EvmDecoder {
            chain: chain.to_string(),
            assets,
            matcher,
        }
    }
}

impl Decoder for EvmDecoder {
    type Raw = EvmRaw;

    fn decode(&mut self, height: u64, raw: EvmRaw) -> Result<Block, DecodeError> {
        scan_block(
            &self.chain,
            &self.assets,
            height,
            &raw,
            self.matcher.as_ref(),
        )
    }
}

// ---- node -------------------------------------------------------------------------

/// An EVM node over HTTP JSON-RPC.
#[derive(Clone)]
pub struct EvmNode {
    provider: RootProvider,
    /// For the block, receipts and traces: their answers are read in place
    /// by the fast reader rather than parsed into values first.
    http: reqwest::Client,
    cfg: Arc<EvmConfig>,
    /// Set once the node answered that it has no `eth_getBlockReceipts`.
    no_block_receipts: Arc<AtomicBool>,
}

/// Receipt requests in flight when a node lacks `eth_getBlockReceipts`.
const RECEIPT_CONCURRENCY: usize = 16;

/// The few fields of a transaction the `eth_getLogs` fallback needs.
#[derive(Deserialize)]
struct TxBrief<'a> {
    #[serde(borrow)]
    hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BlockBrief<'a> {
    #[serde(default, borrow)]
    transactions: Vec<TxBrief<'a>>,
}

#[derive(Debug, Deserialize)]
struct StatusOnly {
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HeaderOnly {
    hash: Option<String>,
    number: Option<String>,
}

impl EvmNode {
    pub fn new(cfg: EvmConfig) -> Self {
        let provider = RootProvider::new_http(cfg.rpc_url.clone());
        EvmNode {
            provider,
            http: reqwest::Client::new(),
            cfg: Arc::new(cfg),
            no_block_receipts: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Receipts for a node without `eth_getBlockReceipts`: the block's
    /// `Transfer` logs from `eth_getLogs`, and the status of every
    /// transaction that moves native value from `eth_getTransactionReceipt`.
    /// A transaction without value needs no status: only successful
    /// transactions leave logs.
    async fn receipts_from_logs(&self, block: &RawJson) -> Result<RawJson, NodeError> {
        let brief: BlockBrief = serde_json::from_slice(block.as_bytes())
            .map_err(|e| NodeError::Invalid(format!("eth_getBlockByNumber: {e}")))?;
        let Some(hash) = serde_json::from_slice::<HeaderOnly>(block.as_bytes())
            .ok()
            .and_then(|h| h.hash)
        else {
            return Err(NodeError::Invalid("eth_getBlockByNumber: no hash".into()));
        };
        let topic = format!("0x{}", hex::encode(TRANSFER_TOPIC));
        let logs: Vec<serde_json::Value> = self
            .call(
                "eth_getLogs",
                (serde_json::json!({"blockHash": hash, "topics": [topic]}),),
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
                node.call::<_, Option<StatusOnly>>("eth_getTransactionReceipt", (h,))
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
            let st = st?.and_then(|r| r.status).unwrap_or_default();
            status_of.insert(h.as_str(), st);
        }
        let receipts: Vec<serde_json::Value> = brief
            .transactions
            .iter()
            .map(|t| {
                let h = t.hash.as_deref().unwrap_or_default();
                let tx_logs: Vec<&serde_json::Value> =
                    logs.iter().filter(|l| l["transactionHash"] == h).collect();
                let status = status_of.get(h).cloned().unwrap_or_else(|| "0x1".into());
                serde_json::json!({"transactionHash": h, "status": status, "logs": tx_logs})
            })
            .collect();
        serde_json::to_string(&receipts)
            .map(RawJson::from)
            .map_err(|e| NodeError::Invalid(format!("receipts: {e}")))
    }

    /// A call whose result is kept as the node sent it, `None` for null.
    /// Errors are classified as those through alloy's transport.
    async fn raw_call(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<Option<RawJson>, NodeError> {
        let request =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let exchange = async {
            let response = self
                .http
                .post(self.cfg.rpc_url.clone())
                .json(&request)
                .send()
                .await
                .map_err(|e| NodeError::Unreachable(format!("{method}: {}", error_chain(&e))))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| NodeError::Unreachable(format!("{method}: {}", error_chain(&e))))?;
            Ok::<_, NodeError>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.cfg.timeout, exchange).await {
            Err(_) => {
                return Err(NodeError::Unreachable(format!(
                    "{method}: no answer within {:?}",
                    self.cfg.timeout
                )))
            }
            Ok(r) => r?,
        };
        let answer = match rpc_answer(body) {
            Ok(a) => a,
            Err(_) if !status.is_success() => {
                return Err(NodeError::Rpc(format!(
                    "{method}: HTTP {}",
                    status.as_u16()
                )))
            }
            Err(e) => return Err(NodeError::Invalid(format!("{method}: {e}"))),
        };
        match answer.error {
            Some(e) => Err(NodeError::Rpc(format!("{method}: {e}"))),
            None if !status.is_success() => Err(NodeError::Rpc(format!(
                "{method}: HTTP {}",
                status.as_u16()
            ))),
            None => Ok(answer.result),
        }
    }

    async fn call<P, R>(&self, method: &'static str, params: P) -> Result<R, NodeError>
    where
        P: alloy::rpc::json_rpc::RpcSend,
        R: alloy::rpc::json_rpc::RpcRecv,
    {
        let request = self.provider.raw_request::<P, R>(method.into(), params);
        match tokio::time::timeout(self.cfg.timeout, request).await {
            Err(_) => Err(NodeError::Unreachable(format!(
                "{method}: no answer within {:?}",
                self.cfg.timeout
            ))),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify(method, e)),
        }
    }

    async fn header(&self, tag: String) -> Result<Option<HeaderOnly>, NodeError> {
        self.call("eth_getBlockByNumber", (tag, false)).await
    }

    /// Checks that the node serves the configured chain.
    pub async fn check_chain_id(&self) -> Result<(), NodeError> {
        let id: String = self.call("eth_chainId", ()).await?;
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

fn classify(method: &str, e: alloy::transports::TransportError) -> NodeError {
    use alloy::transports::{RpcError, TransportErrorKind};
    match e {
        RpcError::ErrorResp(p) => {
            NodeError::Rpc(format!("{method}: {} (code {})", p.message, p.code))
        }
        RpcError::Transport(TransportErrorKind::HttpError(h)) => {
            NodeError::Rpc(format!("{method}: HTTP {}", h.status))
        }
        RpcError::Transport(k) => NodeError::Unreachable(format!("{method}: {k}")),
        RpcError::NullResp => NodeError::Invalid(format!("{method}: null answer")),
        other => NodeError::Invalid(format!("{method}: {other}")),
    }
}

fn hex_quantity(n: u64) -> String {
    format!("0x{n:x}")
}

impl Node for EvmNode {
    type Raw = EvmRaw;

    async fn verify(&self) -> Result<(), NodeError> {
        self.check_chain_id().await
    }

    async fn tip(&self) -> Result<u64, NodeError> {
        let n: String = self.call("eth_blockNumber", ()).await?;
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
        let block = self.raw_call("eth_getBlockByNumber", serde_json::json!([&tag, true]));
        let receipts = async {
            if self.no_block_receipts.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match self
                .raw_call("eth_getBlockReceipts", serde_json::json!([&tag]))
                .await
            {
                Err(NodeError::Rpc(e)) if e.contains("(code -32601)") => {
                    tracing::warn!(error = %e, "the node has no eth_getBlockReceipts; using eth_getLogs and per-transaction receipts");
                    self.no_block_receipts.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                other => other.map(Some),
            }
        };
        let traces = async {
            if self.cfg.internal_transfers {
                self.raw_call("trace_block", serde_json::json!([&tag]))
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
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
        let header: Option<HeaderOnly> = self.call("eth_getBlockByHash", (h, false)).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::evm::parse_address;

    #[test]
    fn addresses_in_any_case_are_checksummed_on_output() {
        let want = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
        for s in [
            want,
            "0xdac17f958d2ee523a2206206994597c13d831ec7",
            "0xDAC17F958D2EE523A2206206994597C13D831EC7",
        ] {
            assert_eq!(parse_address(s).unwrap().display, want, "{s}");
        }
    }

    #[test]
    fn malformed_addresses_are_named() {
        let e = parse_address("0xdAC17F958D2ee523a2206206994597C13D831eC7").unwrap_err();
        assert!(e.0.contains("checksum"), "{e}");
        assert!(parse_address("dac17f958d2ee523a2206206994597c13d831ec7")
            .unwrap_err()
            .0
            .contains("0x"));
        assert!(parse_address("0xdac17f958d2ee523a2206206994597c13d831e").is_err());
        assert!(parse_address("0xzac17f958d2ee523a2206206994597c13d831ec7").is_err());
    }

    #[test]
    fn topics_and_words() {
        let t = "0x000000000000000000000000dac17f958d2ee523a2206206994597c13d831ec7";
        assert_eq!(
            hex::encode(topic_address(t).unwrap()),
            "dac17f958d2ee523a2206206994597c13d831ec7"
        );
        assert!(topic_address(
            "0x0100000000000000000000000000000000000000000000000000000000000000"
        )
        .is_none());
        let big = format!("0x{}", "f".repeat(64));
        assert_eq!(word_u256(&big).unwrap(), U256::MAX);
        assert!(word_u256("0x01").is_none());
    }
}
