//! TRON: blocks from a java-tron full node's HTTP API, matched for TRX
//! (`TransferContract`), TRC-10 (`TransferAssetContract`) and TRC-20
//! `Transfer` logs of listed tokens, in and out, and the listed tokens'
//! blacklist logs.
//!
//! Node answers come in two forms: `visible=true` (base58 addresses) and the
//! default hex form (`41…` addresses, hex asset names); both are read. Token
//! transfers are taken from the transaction info logs only, never from call
//! data: a transfer made inside another contract only shows in the logs.

mod node;
mod wire;

pub use node::TronNode;

use super::skim::{read_with, Cx, Json};
use super::TRANSFER_TOPIC;
use super::{blacklist_change, Block, DecodeError, Decoder, Matches};
use crate::address::tron::display;
use crate::address::KeyKind;
use crate::config::Token;
use crate::transfer::{Asset, BlockRef, Hash32};
use crate::watch::{Lookup, Matcher};
use std::sync::Arc;
use wire::{node_address, topic_address, BlockJson, InfoJson, InternalJson, TxJson, ValueJson};

/// A TRON address: 21 bytes, `0x41` then the 20-byte account id.
pub type TronAddress = [u8; 21];

pub fn trx_asset() -> Asset {
    Asset {
        symbol: "TRX".into(),
        decimals: 6,
        contract: None,
    }
}

/// One block as fetched: the `getblockbynum` object and the
/// `gettransactioninfobyblocknum` array, both as the node sent them.
pub struct TronRaw {
    pub block: Vec<u8>,
    pub info: Vec<u8>,
}

/// Decodes one block and matches it; malformed transactions and logs are
/// skipped and counted in `Block::skipped`.
pub fn scan_block(
    chain: &str,
    tokens: &[Token],
    height: u64,
    raw: &TronRaw,
    watches: &impl Lookup,
) -> Result<Block, DecodeError> {
    scan_block_with(Json::Skim, chain, tokens, height, raw, watches)
}

/// [`scan_block`] with a choice of JSON reader.
pub fn scan_block_with(
    json: Json,
    chain: &str,
    tokens: &[Token],
    height: u64,
    raw: &TronRaw,
    watches: &impl Lookup,
) -> Result<Block, DecodeError> {
    let malformed = |detail: String| DecodeError::Malformed { height, detail };
    let block: BlockJson = read_with(json, &raw.block, &Cx::default())
        .map_err(|e| malformed(format!("block is not a java-tron block object: {e}")))?;
    let header = block
        .block_header
        .and_then(|h| h.raw_data)
        .ok_or_else(|| malformed("block has no block_header.raw_data".into()))?;
    if header.number != height {
        return Err(malformed(format!("node sent block {}", header.number)));
    }
    let hash = block
        .block_id
        .as_deref()
        .and_then(|h| Hash32::from_hex(h).ok())
        .ok_or_else(|| malformed("blockID is missing or not 32-byte hex".into()))?;
    let parent = header
        .parent_hash
        .as_deref()
        .and_then(|h| Hash32::from_hex(h).ok())
        .ok_or_else(|| malformed("parentHash is missing or not 32-byte hex".into()))?;
    let infos: Vec<InfoJson> = if raw.info.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        let parsed = read_with::<Vec<InfoJson>>(json, &raw.info, &Cx::default());
        match parsed {
            Ok(v) => v,
            // java-tron answers `{}` for a block without transactions.
            Err(_)
                if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(
                    &raw.info,
                )
                .is_ok_and(|m| m.is_empty()) =>
            {
                Vec::new()
            }
            Err(e) => return Err(malformed(format!("transaction info is not an array: {e}"))),
        }
    };
    let block_ref = BlockRef {
        height,
        hash,
        time: header.timestamp / 1000,
    };
    let mut out = Matches::new(chain, block_ref, watches, display, KeyKind::Tron);

    for tx in &block.transactions {
        let Some(txid) = tx.txid.as_deref().and_then(|t| Hash32::from_hex(t).ok()) else {
            out.skipped += 1;
            continue;
        };
        let ok = tx
            .ret
            .0
            .as_ref()
            .and_then(|r| r.contract_ret.as_deref())
            .is_some_and(|r| r == "SUCCESS");
        if !ok {
            continue;
        }
        let Some(contract) = tx.raw_data.as_ref().and_then(|r| r.contract.0.as_ref()) else {
            out.skipped += 1;
            continue;
        };
        let value = contract.parameter.as_ref().and_then(|p| p.value.as_ref());
        match (contract.kind.as_deref(), value) {
            (Some("TransferContract"), Some(v)) => {
                contract_transfer(&mut out, txid, v, trx_asset)?;
            }
            (Some("TransferAssetContract"), Some(v)) => {
                let Some(id) = v.asset_name.as_deref().and_then(asset_id) else {
                    out.skipped += 1;
                    continue;
                };
                contract_transfer(&mut out, txid, v, || Asset {
                    symbol: "TRC10".into(),
                    decimals: 0,
                    contract: Some(id.clone()),
                })?;
            }
            (Some("TransferContract" | "TransferAssetContract"), None) | (None, _) => {
                out.skipped += 1;
            }
            // Other contract types move no payment.
            _ => {}
        }
    }

    for info in &infos {
        if info.log.is_empty() && info.internal_transactions.is_empty() {
            continue;
        }
        let Some(txid) = info.id.as_deref().and_then(|t| Hash32::from_hex(t).ok()) else {
            out.skipped += 1;
            continue;
        };
        let failed = info.result.as_deref() == Some("FAILED")
            || info
                .receipt
                .as_ref()
                .and_then(|r| r.result.as_deref())
                .is_some_and(|r| r != "SUCCESS");
        if failed {
            continue;
        }
        for (i, log) in info.log.iter().enumerate() {
            let Some(contract) = log.address.as_deref().and_then(node_address) else {
                out.skipped += 1;
                continue;
            };
            let Some(token) = tokens
                .iter()
                .find(|t| t.contract.as_bytes() == contract.as_slice())
            else {
                continue;
            };
            let is_transfer = log.topics.first().is_some_and(|t| {
                let t = t.strip_prefix("0x").unwrap_or(t);
                let mut b = [0u8; 32];
                const_hex::decode_to_slice(t, &mut b).is_ok() && b == TRANSFER_TOPIC
            });
            if !is_transfer {
                match blacklist_change(&log.topics, log.data.as_deref()) {
                    None => {}
                    Some(Ok((account, change))) => {
                        let mut a = [0x41u8; 21];
                        a[1..].copy_from_slice(&account);
                        out.freeze(token, &a, change, txid, 1 + i as u32)?;
                    }
                    Some(Err(())) => out.skipped += 1,
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
                .zip(log.data.as_deref().and_then(uint256));
            let Some(((from, to), amount)) = parsed else {
                out.skipped += 1;
                continue;
            };
            let asset = || Asset {
                symbol: token.symbol.clone(),
                decimals: token.decimals,
                contract: Some(token.display.clone()),
            };
            let start = out.transfers.len();
            out.pair(txid, 1 + i as u32, &from, &to, amount.into(), asset)?;
            // Moved by a spender or a contract, not by the sender's own call.
            if out.transfers.len() > start && owner_of(&block.transactions, txid) != Some(from) {
                out.on_behalf_since(start);
            }
        }
        let start = out.transfers.len();
        internal_transfers(&mut out, txid, &info.internal_transactions)?;
        out.on_behalf_since(start);
    }

    Ok(out.finish(hash, parent))
}

/// Who sent transaction `txid` of `block` (its contract's `owner_address`).
/// Looked up only for a matched token transfer.
fn owner_of(transactions: &[TxJson<'_>], txid: Hash32) -> Option<TronAddress> {
    transactions
        .iter()
        .find(|tx| tx.txid.as_deref().and_then(|t| Hash32::from_hex(t).ok()) == Some(txid))?
        .raw_data
        .as_ref()?
        .contract
        .0
        .as_ref()?
        .parameter
        .as_ref()?
        .value
        .as_ref()?
        .owner_address
        .as_deref()
        .and_then(node_address)
}

/// Where the transfers of a transaction's internal transactions are
/// numbered from: value `k` of internal transaction `n` is
/// `INTERNAL_INDEX_BASE + 16 n + k`, above any log's `1 + i`.
pub const INTERNAL_INDEX_BASE: u32 = 1 << 30;

/// Values one internal transaction may carry before the rest are skipped.
const VALUES_PER_INTERNAL: usize = 16;

/// TRX and TRC-10 moved by contracts inside a successful transaction (a
/// contract paying out, an exchange's batch withdrawal): each value of an
/// internal transaction that was not rejected, from `caller_address` to
/// `transferTo_address`.
fn internal_transfers<L: Lookup>(
    m: &mut Matches<'_, L>,
    txid: Hash32,
    internals: &[InternalJson<'_>],
) -> Result<(), DecodeError> {
    for (n, it) in internals.iter().enumerate() {
        if it.rejected
            || it
                .call_value_info
                .iter()
                .all(|v| v.call_value.unwrap_or(0) == 0)
        {
            continue;
        }
        let from = it.caller_address.as_deref().and_then(node_address);
        let to = it.transfer_to_address.as_deref().and_then(node_address);
        let (Some(from), Some(to)) = (from, to) else {
            m.skipped += 1;
            continue;
        };
        for (k, v) in it.call_value_info.iter().enumerate() {
            let Some(amount) = v.call_value.filter(|a| *a > 0) else {
                continue;
            };
            let index = (k < VALUES_PER_INTERNAL)
                .then(|| u32::try_from(n.checked_mul(VALUES_PER_INTERNAL)? + k).ok())
                .flatten()
                .and_then(|i| INTERNAL_INDEX_BASE.checked_add(i));
            let Some(index) = index else {
                m.skipped += 1;
                continue;
            };
            match v.token_id.as_deref().filter(|t| !t.is_empty() && *t != "_") {
                None => m.pair(txid, index, &from, &to, amount.into(), trx_asset)?,
                Some(t) => {
                    let Some(id) = asset_id(t) else {
                        m.skipped += 1;
                        continue;
                    };
                    m.pair(txid, index, &from, &to, amount.into(), || Asset {
                        symbol: "TRC10".into(),
                        decimals: 0,
                        contract: Some(id.clone()),
                    })?
                }
            }
        }
    }
    Ok(())
}

/// A TRC-10 asset id: plain in the visible form, hex of its ASCII otherwise.
fn asset_id(name: &str) -> Option<String> {
    if !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_digit()) {
        // Hex of ASCII digits has an even length and starts with '3'; a plain
        // id of that shape is still read as hex only when it decodes to digits.
        if let Some(decoded) = decode_hex_digits(name) {
            return Some(decoded);
        }
        return Some(name.to_string());
    }
    decode_hex_digits(name)
}

fn decode_hex_digits(name: &str) -> Option<String> {
    let bytes = hex::decode(name).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A uint256 word (hex, 64 digits).
fn uint256(data: &str) -> Option<ruint::aliases::U256> {
    let d = data.strip_prefix("0x").unwrap_or(data);
    if d.len() != 64 {
        return None;
    }
    let mut b = [0u8; 32];
    const_hex::decode_to_slice(d, &mut b).ok()?;
    Some(ruint::aliases::U256::from_be_bytes(b))
}

/// A contract-level transfer (`owner_address` to `to_address`).
fn contract_transfer<L: Lookup>(
    m: &mut Matches<'_, L>,
    txid: Hash32,
    v: &ValueJson,
    asset: impl Fn() -> Asset,
) -> Result<(), DecodeError> {
    let from = v.owner_address.as_deref().and_then(node_address);
    let to = v.to_address.as_deref().and_then(node_address);
    let (Some(from), Some(to), Some(amount)) = (from, to, v.amount) else {
        m.skipped += 1;
        return Ok(());
    };
    m.pair(txid, 0, &from, &to, amount.into(), asset)
}

pub struct TronDecoder {
    chain: String,
    tokens: Vec<Token>,
    matcher: Arc<Matcher>,
}

impl TronDecoder {
    pub fn new(chain: &str, tokens: Vec<Token>, matcher: Arc<Matcher>) -> Self {
        TronDecoder {
            chain: chain.to_string(),
            tokens,
            matcher,
        }
    }
}

impl Decoder for TronDecoder {
    type Raw = TronRaw;

    fn decode(&mut self, height: u64, raw: TronRaw) -> Result<Block, DecodeError> {
        scan_block(
            &self.chain,
            &self.tokens,
            height,
            &raw,
            self.matcher.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trc10_asset_ids_in_both_forms() {
        assert_eq!(asset_id("1004937").as_deref(), Some("1004937"));
        assert_eq!(asset_id("31303035303233").as_deref(), Some("1005023"));
        assert_eq!(asset_id("zz"), None);
    }

    #[test]
    fn uint256_amounts_keep_every_digit() {
        assert_eq!(
            uint256(&"f".repeat(64)).unwrap().to_string(),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
        assert_eq!(uint256("8e277354"), None);
    }
}
