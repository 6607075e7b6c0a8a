//! Ethereum and other EVM chains: blocks and receipts from the user's node
//! over JSON-RPC (alloy transport), matched for native transfers of top-level
//! transactions, `Transfer` logs of listed ERC-20 tokens and, optionally,
//! native value moved by contracts (`trace_block` or
//! `debug_traceBlockByNumber`); the listed tokens'
//! blacklist logs are read in the same pass.
//!
//! Node answers are read with borrowed parsing of just the fields paywatch
//! needs, so blocks without signatures or with new transaction types decode
//! as well as any other.

mod node;
mod trace;
mod wire;

pub use node::{follow_new_heads, EvmNode};

use super::skim::{read_with, Cx, Json};
use super::{blacklist_change, Block, DecodeError, Decoder, Matches, RawJson};
use crate::address::evm::display;
use crate::address::KeyKind;
use crate::config::Token;
use crate::transfer::{Asset, BlockRef, Direction, Hash32};
use crate::watch::{Lookup, Matcher};
use std::sync::Arc;
use wire::{
    address20, is_transfer_topic, quantity, topic_address, u256, word_u256, BlockJson, ReceiptJson,
};

/// Index offset of internal (trace) transfers, apart from the transaction's
/// own transfer (0) and its logs (`log index + 1`).
pub const INTERNAL_INDEX_BASE: u32 = 1 << 30;

/// One block as fetched: `eth_getBlockByNumber(n, true)`, its
/// `eth_getBlockReceipts` and, with internal transfers on, its traces.
pub struct EvmRaw {
    pub block: RawJson,
    pub receipts: RawJson,
    pub traces: Option<Traces>,
}

/// A block's traces, in the form the node gave them.
pub enum Traces {
    /// `trace_block`.
    Parity(RawJson),
    /// `debug_traceBlockByNumber` with `{"tracer": "callTracer"}`.
    CallTracer(RawJson),
}

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
    let block: BlockJson = read_with(json, raw.block.as_bytes(), &Cx::default())
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
    // Logs of other contracts are left unread; a malformed address is
    // read on, for the matcher to count.
    let is_token = |a: &str| {
        address20(a).is_none_or(|a| {
            assets
                .tokens
                .iter()
                .any(|t| t.contract.as_bytes() == a.as_slice())
        })
    };
    let receipts: Vec<ReceiptJson> = read_with(
        json,
        raw.receipts.as_bytes(),
        &Cx {
            keep: Some(&is_token),
        },
    )
    .map_err(|e| malformed(format!("receipts are not an array of receipts: {e}")))?;
    if receipts.len() != block.transactions.len() {
        return Err(malformed(format!(
            "{} receipts for {} transactions",
            receipts.len(),
            block.transactions.len()
        )));
    }
    let mut m = Matches::new(
        chain,
        BlockRef { height, hash, time },
        watches,
        display,
        KeyKind::Evm,
    );

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
                        // A creation pays the contract it made.
                        (Some(from), None) => {
                            let made = receipt.contract_address.as_deref().and_then(address20);
                            m.one(
                                txid,
                                0,
                                Direction::Out,
                                &from,
                                made.as_ref().map(|a| a.as_slice()),
                                v.into(),
                                || assets.native.clone(),
                            )?
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
            let Some(token) = assets
                .tokens
                .iter()
                .find(|t| t.contract.as_bytes() == contract.as_slice())
            else {
                continue;
            };
            let index = log.log_index.as_deref().and_then(quantity);
            if !log.topics.first().is_some_and(|t| is_transfer_topic(t)) {
                match blacklist_change(&log.topics, log.data.as_deref()) {
                    None => {}
                    Some(Ok((account, change))) => {
                        match index.and_then(|i| u32::try_from(i).ok()) {
                            Some(i) if i < INTERNAL_INDEX_BASE - 1 => {
                                m.freeze(token, &account, change, txid, i + 1)?
                            }
                            _ => m.skipped += 1,
                        }
                    }
                    Some(Err(())) => m.skipped += 1,
                }
                continue;
            }
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
            let start = m.transfers.len();
            m.pair(txid, index + 1, &from, &to, amount.into(), asset)?;
            // Moved by a spender or a contract, not by the sender's own call.
            if m.transfers.len() > start && tx.from.as_deref().and_then(address20) != Some(from) {
                m.on_behalf_since(start);
            }
        }
    }

    if let Some(traces) = &raw.traces {
        let calls = match traces {
            Traces::Parity(doc) => trace::from_trace_block(json, doc.as_bytes()),
            Traces::CallTracer(doc) => {
                trace::from_call_tracer(doc.as_bytes()).and_then(|(calls, traced)| {
                    if traced == block.transactions.len() {
                        Ok(calls)
                    } else {
                        Err(format!(
                            "{traced} traced transactions for {}",
                            block.transactions.len()
                        ))
                    }
                })
            }
        }
        .map_err(malformed)?;
        for c in calls {
            let Some(value) = c.value.as_deref().and_then(u256) else {
                m.skipped += 1;
                continue;
            };
            if value.is_zero() {
                continue;
            }
            // The block's own hash for the transaction: the trace must
            // agree where it names one.
            let named = c.txid.as_deref().map(Hash32::from_hex);
            let listed =
                c.tx.and_then(|i| block.transactions.get(i))
                    .and_then(|t| t.hash.as_deref())
                    .and_then(|h| Hash32::from_hex(h).ok());
            let txid = match (named, listed) {
                (Some(Ok(n)), Some(l)) if n != l => {
                    return Err(malformed(format!(
                        "the trace of transaction {} names {n}, the block {l}",
                        c.tx.unwrap_or_default()
                    )))
                }
                (Some(Ok(n)), _) => Some(n),
                (_, listed) => listed,
            };
            let from = c.from.as_deref().and_then(address20);
            let to = c.to.as_deref().and_then(address20);
            let (Some(from), Some(to), Some(txid)) = (from, to, txid) else {
                m.skipped += 1;
                continue;
            };
            let Some(index) = u32::try_from(c.position)
                .ok()
                .and_then(|p| INTERNAL_INDEX_BASE.checked_add(p))
            else {
                m.skipped += 1;
                continue;
            };
            let start = m.transfers.len();
            m.pair(txid, index, &from, &to, value.into(), || {
                assets.native.clone()
            })?;
            m.on_behalf_since(start);
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
