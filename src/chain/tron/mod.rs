//! TRON: blocks from a java-tron full node's HTTP API, matched for TRX
//! (`TransferContract`), TRC-10 (`TransferAssetContract`) and TRC-20
//! `Transfer` logs of listed tokens, in and out.
//!
//! Node answers come in two forms: `visible=true` (base58 addresses) and the
//! default hex form (`41…` addresses, hex asset names); both are read. Token
//! transfers are taken from the transaction info logs only, never from call
//! data: a transfer made inside another contract only shows in the logs.

use super::skim::{self, First, Json, Skim};
use super::{error_chain, Block, DecodeError, Decoder, Matches, Node, NodeError};
use crate::address::tron::display;
use crate::config::{Token, TronConfig};
use crate::transfer::{Asset, BlockRef, Hash32};
use crate::watch::{Lookup, Matcher};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

/// `Transfer(address,address,uint256)`.
const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];
/// Most blocks `getblockbylimitnext` returns per call.
const RANGE_LIMIT: u64 = 100;
/// Transaction-info requests in flight while fetching a range.
const INFO_CONCURRENCY: usize = 8;

/// A TRON address: 21 bytes, `0x41` then the 20-byte account id.
pub type TronAddress = [u8; 21];

/// An address as a node writes it: base58, `41…` hex (21 bytes) or, in
/// logs, bare 20-byte hex.
fn node_address(s: &str) -> Option<TronAddress> {
    let mut out = [0u8; 21];
    if s.len() == 34 && s.starts_with('T') {
        let v = bs58::decode(s).with_check(None).into_vec().ok()?;
        if v.len() != 21 {
            return None;
        }
        out.copy_from_slice(&v);
    } else if s.len() == 42 {
        const_hex::decode_to_slice(s, &mut out).ok()?;
    } else if s.len() == 40 {
        out[0] = 0x41;
        const_hex::decode_to_slice(s, &mut out[1..]).ok()?;
    } else {
        return None;
    }
    (out[0] == 0x41).then_some(out)
}

/// The address in the low 20 bytes of a 32-byte log topic.
fn topic_address(topic: &str) -> Option<TronAddress> {
    let t = topic.strip_prefix("0x").unwrap_or(topic);
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 21];
    out[0] = 0x41;
    const_hex::decode_to_slice(&t[24..], &mut out[1..]).ok()?;
    Some(out)
}

pub fn trx_asset() -> Asset {
    Asset {
        symbol: "TRX".into(),
        decimals: 6,
        contract: None,
    }
}

// ---- node answers (only the fields paywatch reads) ------------------------------

#[derive(Deserialize)]
struct BlockJson<'a> {
    #[serde(rename = "blockID", borrow)]
    block_id: Option<Cow<'a, str>>,
    block_header: Option<HeaderJson<'a>>,
    #[serde(default, borrow)]
    transactions: Vec<TxJson<'a>>,
}

#[derive(Deserialize)]
struct HeaderJson<'a> {
    #[serde(borrow)]
    raw_data: HeaderRawJson<'a>,
}

#[derive(Deserialize)]
struct HeaderRawJson<'a> {
    #[serde(default)]
    number: u64,
    #[serde(rename = "parentHash", borrow)]
    parent_hash: Option<Cow<'a, str>>,
    #[serde(default)]
    timestamp: u64,
}

#[derive(Deserialize)]
struct TxJson<'a> {
    #[serde(rename = "txID", borrow)]
    txid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    ret: First<RetJson<'a>>,
    #[serde(borrow)]
    raw_data: Option<TxRawJson<'a>>,
}

#[derive(Deserialize)]
struct RetJson<'a> {
    #[serde(rename = "contractRet", borrow)]
    contract_ret: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TxRawJson<'a> {
    #[serde(default, borrow)]
    contract: First<ContractJson<'a>>,
}

#[derive(Deserialize)]
struct ContractJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parameter: Option<ParamJson<'a>>,
}

#[derive(Deserialize)]
struct ParamJson<'a> {
    #[serde(borrow)]
    value: Option<ValueJson<'a>>,
}

#[derive(Deserialize)]
struct ValueJson<'a> {
    amount: Option<u64>,
    #[serde(borrow)]
    owner_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    asset_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InfoJson<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    result: Option<Cow<'a, str>>,
    #[serde(borrow)]
    receipt: Option<ReceiptJson<'a>>,
    #[serde(default, borrow)]
    log: Vec<LogJson<'a>>,
}

#[derive(Deserialize)]
struct ReceiptJson<'a> {
    #[serde(borrow)]
    result: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct LogJson<'a> {
    #[serde(borrow)]
    address: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    topics: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
}

/// One block as fetched: the `getblockbynum` object and the
/// `gettransactioninfobyblocknum` array, both as the node sent them.
pub struct TronRaw {
    pub block: Vec<u8>,
    pub info: Vec<u8>,
}

// ---- the same answers through the fast reader (see `skim.rs`) --------------------

fn skim_block(doc: &[u8]) -> skim::Result<BlockJson<'_>> {
    let mut s = Skim::new(doc);
    let mut o = s.object()?;
    let mut b = BlockJson {
        block_id: None,
        block_header: None,
        transactions: Vec::new(),
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"blockID") => b.block_id = s.opt_str()?,
            k if skim::is(k, b"block_header") && !s.null()? => {
                let mut h = s.object()?;
                let mut raw_data = None;
                while let Some(k) = s.key(&mut h)? {
                    match k {
                        k if skim::is(k, b"raw_data") => raw_data = Some(skim_header_raw(&mut s)?),
                        _ => s.skip()?,
                    }
                }
                b.block_header = Some(HeaderJson {
                    raw_data: raw_data.ok_or(skim::SkimError {
                        at: 0,
                        what: "block_header without raw_data",
                    })?,
                });
            }
            k if skim::is(k, b"block_header") => {}
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

fn skim_header_raw<'a>(s: &mut Skim<'a>) -> skim::Result<HeaderRawJson<'a>> {
    let mut o = s.object()?;
    let mut h = HeaderRawJson {
        number: 0,
        parent_hash: None,
        timestamp: 0,
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"number") => h.number = s.u64()?,
            k if skim::is(k, b"parentHash") => h.parent_hash = s.opt_str()?,
            k if skim::is(k, b"timestamp") => h.timestamp = s.u64()?,
            _ => s.skip()?,
        }
    }
    Ok(h)
}

fn skim_tx<'a>(s: &mut Skim<'a>) -> skim::Result<TxJson<'a>> {
    let mut o = s.object()?;
    let mut t = TxJson {
        txid: None,
        ret: First(None),
        raw_data: None,
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"txID") => t.txid = s.opt_str()?,
            k if skim::is(k, b"ret") => {
                let mut a = s.array()?;
                while s.next(&mut a)? {
                    if t.ret.0.is_some() {
                        s.skip()?;
                        continue;
                    }
                    let mut r = s.object()?;
                    let mut contract_ret = None;
                    while let Some(k) = s.key(&mut r)? {
                        match k {
                            k if skim::is(k, b"contractRet") => contract_ret = s.opt_str()?,
                            _ => s.skip()?,
                        }
                    }
                    t.ret.0 = Some(RetJson { contract_ret });
                }
            }
            k if skim::is(k, b"raw_data") && !s.null()? => {
                let mut r = s.object()?;
                let mut contract = First(None);
                while let Some(k) = s.key(&mut r)? {
                    match k {
                        k if skim::is(k, b"contract") => {
                            let mut a = s.array()?;
                            while s.next(&mut a)? {
                                if contract.0.is_some() {
                                    s.skip()?;
                                } else {
                                    contract.0 = Some(skim_contract(s)?);
                                }
                            }
                        }
                        _ => s.skip()?,
                    }
                }
                t.raw_data = Some(TxRawJson { contract });
            }
            k if skim::is(k, b"raw_data") => {}
            _ => s.skip()?,
        }
    }
    Ok(t)
}

fn skim_contract<'a>(s: &mut Skim<'a>) -> skim::Result<ContractJson<'a>> {
    let mut o = s.object()?;
    let mut c = ContractJson {
        kind: None,
        parameter: None,
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"type") => c.kind = s.opt_str()?,
            k if skim::is(k, b"parameter") && !s.null()? => {
                let mut p = s.object()?;
                let mut value = None;
                while let Some(k) = s.key(&mut p)? {
                    match k {
                        k if skim::is(k, b"value") && !s.null()? => value = Some(skim_value(s)?),
                        k if skim::is(k, b"value") => value = None,
                        _ => s.skip()?,
                    }
                }
                c.parameter = Some(ParamJson { value });
            }
            k if skim::is(k, b"parameter") => {}
            _ => s.skip()?,
        }
    }
    Ok(c)
}

fn skim_value<'a>(s: &mut Skim<'a>) -> skim::Result<ValueJson<'a>> {
    let mut o = s.object()?;
    let mut v = ValueJson {
        amount: None,
        owner_address: None,
        to_address: None,
        asset_name: None,
    };
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"amount") => v.amount = s.opt_u64()?,
            k if skim::is(k, b"owner_address") => v.owner_address = s.opt_str()?,
            k if skim::is(k, b"to_address") => v.to_address = s.opt_str()?,
            k if skim::is(k, b"asset_name") => v.asset_name = s.opt_str()?,
            _ => s.skip()?,
        }
    }
    Ok(v)
}

fn skim_infos(doc: &[u8]) -> skim::Result<Vec<InfoJson<'_>>> {
    let mut s = Skim::new(doc);
    let mut out = Vec::new();
    let mut a = s.array()?;
    while s.next(&mut a)? {
        let mut o = s.object()?;
        let mut info = InfoJson {
            id: None,
            result: None,
            receipt: None,
            log: Vec::new(),
        };
        while let Some(k) = s.key(&mut o)? {
            match k {
                k if skim::is(k, b"id") => info.id = s.opt_str()?,
                k if skim::is(k, b"result") => info.result = s.opt_str()?,
                k if skim::is(k, b"receipt") && !s.null()? => {
                    let mut r = s.object()?;
                    let mut result = None;
                    while let Some(k) = s.key(&mut r)? {
                        match k {
                            k if skim::is(k, b"result") => result = s.opt_str()?,
                            _ => s.skip()?,
                        }
                    }
                    info.receipt = Some(ReceiptJson { result });
                }
                k if skim::is(k, b"receipt") => {}
                k if skim::is(k, b"log") => {
                    let mut logs = s.array()?;
                    while s.next(&mut logs)? {
                        let mut l = s.object()?;
                        let mut log = LogJson {
                            address: None,
                            topics: Vec::new(),
                            data: None,
                        };
                        while let Some(k) = s.key(&mut l)? {
                            match k {
                                k if skim::is(k, b"address") => log.address = s.opt_str()?,
                                k if skim::is(k, b"topics") => log.topics = s.strs()?,
                                k if skim::is(k, b"data") => log.data = s.opt_str()?,
                                _ => s.skip()?,
                            }
                        }
                        info.log.push(log);
                    }
                }
                _ => s.skip()?,
            }
        }
        out.push(info);
    }
    s.end()?;
    Ok(out)
}

// ---- decoding and matching ---------------------------------------------------------

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
    let block: BlockJson = match json {
        Json::Skim => skim_block(&raw.block).map_err(|e| e.to_string()),
        Json::Serde => serde_json::from_slice(&raw.block).map_err(|e| e.to_string()),
    }
    .map_err(|e| malformed(format!("block is not a java-tron block object: {e}")))?;
    let header = block
        .block_header
        .ok_or_else(|| malformed("block has no block_header".into()))?
        .raw_data;
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
        let parsed = match json {
            Json::Skim => skim_infos(&raw.info).map_err(|e| e.to_string()),
            Json::Serde => serde_json::from_slice(&raw.info).map_err(|e| e.to_string()),
        };
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
    let mut out = Matches::new(chain, block_ref, watches, display);

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
        if info.log.is_empty() {
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
            let Some(token) = tokens.iter().find(|t| t.contract == contract) else {
                continue;
            };
            let is_transfer = log.topics.first().is_some_and(|t| {
                let t = t.strip_prefix("0x").unwrap_or(t);
                let mut b = [0u8; 32];
                const_hex::decode_to_slice(t, &mut b).is_ok() && b == TRANSFER_TOPIC
            });
            if !is_transfer {
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
            out.pair(txid, 1 + i as u32, &from, &to, amount.into(), asset)?;
        }
    }

    Ok(out.finish(hash, parent))
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

// ---- node -------------------------------------------------------------------------

/// A java-tron node's HTTP API (`/wallet/*`, `/walletsolidity/*`).
#[derive(Clone)]
pub struct TronNode {
    http: reqwest::Client,
    cfg: Arc<TronConfig>,
}

#[derive(Deserialize)]
struct NowBlock {
    block_header: Option<NowHeader>,
}

#[derive(Deserialize)]
struct NowHeader {
    raw_data: NowRaw,
}

#[derive(Deserialize)]
struct NowRaw {
    number: Option<u64>,
}

#[derive(Deserialize)]
struct BlockIdOnly {
    #[serde(rename = "blockID")]
    block_id: Option<String>,
}

#[derive(Deserialize)]
struct Range<'a> {
    #[serde(default, borrow)]
    block: Vec<&'a RawValue>,
}

impl TronNode {
    pub fn new(cfg: TronConfig) -> Result<Self, NodeError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &cfg.api_key {
            let mut v = reqwest::header::HeaderValue::from_str(key.expose())
                .map_err(|_| NodeError::Invalid("api_key is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert("TRON-PRO-API-KEY", v);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| NodeError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        Ok(TronNode {
            http,
            cfg: Arc::new(cfg),
        })
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<bytes::Bytes, NodeError> {
        let url = self
            .cfg
            .http_url
            .join(path)
            .map_err(|e| NodeError::Invalid(format!("{path}: {e}")))?;
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(format!("{path}: {}", error_chain(&e))))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| NodeError::Unreachable(format!("{path}: {}", error_chain(&e))))?;
        if !status.is_success() {
            let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(NodeError::Rpc(format!("{path}: HTTP {status}: {snippet}")));
        }
        // java-tron reports failures as `{"Error": "..."}` with status 200.
        if bytes.len() < 4096 {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let Some(e) = v.get("Error").or_else(|| v.get("error")) {
                    return Err(NodeError::Rpc(format!("{path}: {e}")));
                }
            }
        }
        Ok(bytes)
    }

    async fn now_height(&self, path: &str) -> Result<u64, NodeError> {
        let bytes = self.post(path, serde_json::json!({})).await?;
        let b: NowBlock = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("{path}: {e}")))?;
        b.block_header
            .and_then(|h| h.raw_data.number)
            .ok_or_else(|| NodeError::Invalid(format!("{path}: no block_header.raw_data.number")))
    }

    async fn info(&self, height: u64) -> Result<Vec<u8>, NodeError> {
        let bytes = self
            .post(
                "wallet/gettransactioninfobyblocknum",
                serde_json::json!({ "num": height }),
            )
            .await?;
        Ok(bytes.to_vec())
    }
}

impl Node for TronNode {
    type Raw = TronRaw;

    async fn tip(&self) -> Result<u64, NodeError> {
        self.now_height("wallet/getnowblock").await
    }

    async fn hash_at(&self, height: u64) -> Result<Hash32, NodeError> {
        let bytes = self
            .post("wallet/getblockbynum", serde_json::json!({ "num": height }))
            .await?;
        let b: BlockIdOnly = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("getblockbynum {height}: {e}")))?;
        b.block_id
            .as_deref()
            .and_then(|h| Hash32::from_hex(h).ok())
            .ok_or_else(|| NodeError::Invalid(format!("getblockbynum {height}: no blockID")))
    }

    async fn knows(&self, hash: Hash32) -> Result<Option<bool>, NodeError> {
        let bytes = self
            .post(
                "wallet/getblockbyid",
                serde_json::json!({ "value": hash.to_string() }),
            )
            .await?;
        let b: BlockIdOnly = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("getblockbyid {hash}: {e}")))?;
        Ok(Some(b.block_id.is_some()))
    }

    async fn fetch(&self, height: u64) -> Result<TronRaw, NodeError> {
        let (block, info) = tokio::try_join!(
            self.post("wallet/getblockbynum", serde_json::json!({ "num": height })),
            self.info(height),
        )?;
        Ok(TronRaw {
            block: block.to_vec(),
            info,
        })
    }

    fn batch_size(&self) -> u64 {
        RANGE_LIMIT
    }

    async fn fetch_many(&self, start: u64, count: u64) -> Result<Vec<(u64, TronRaw)>, NodeError> {
        if count <= 1 {
            return Ok(vec![(start, self.fetch(start).await?)]);
        }
        let count = count.min(RANGE_LIMIT);
        let infos = futures_util::stream::iter(start..start + count)
            .map(|h| self.info(h))
            .buffered(INFO_CONCURRENCY)
            .collect::<Vec<_>>();
        let range = self.post(
            "wallet/getblockbylimitnext",
            serde_json::json!({ "startNum": start, "endNum": start + count }),
        );
        let (range, infos) = tokio::join!(range, infos);
        let range = range?;
        let parsed: Range = serde_json::from_slice(&range)
            .map_err(|e| NodeError::Invalid(format!("getblockbylimitnext {start}: {e}")))?;
        if parsed.block.len() as u64 != count {
            return Err(NodeError::Invalid(format!(
                "getblockbylimitnext {start}..{}: {} blocks instead of {count}",
                start + count,
                parsed.block.len()
            )));
        }
        let mut out = Vec::with_capacity(count as usize);
        for ((h, block), info) in (start..).zip(parsed.block).zip(infos) {
            out.push((
                h,
                TronRaw {
                    block: block.get().as_bytes().to_vec(),
                    info: info?,
                },
            ));
        }
        Ok(out)
    }

    async fn finalized(&self) -> Result<Option<u64>, NodeError> {
        if !self.cfg.solidified {
            return Ok(None);
        }
        Ok(Some(self.now_height("walletsolidity/getnowblock").await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::tron::parse_address;

    #[test]
    fn base58_and_hex_forms_are_the_same_address() {
        let a = parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
        let b = parse_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.display, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t");
    }

    #[test]
    fn bad_checksum_is_named() {
        let e = parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u").unwrap_err();
        assert!(e.0.contains("checksum"), "{e}");
        assert!(parse_address("41a614f803").is_err());
        assert!(parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").is_err());
    }

    #[test]
    fn node_forms_of_addresses() {
        let full = node_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c").unwrap();
        assert_eq!(
            node_address("a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            Some(full)
        );
        assert_eq!(
            node_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            Some(full)
        );
        assert_eq!(
            node_address("42a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            None
        );
        assert_eq!(node_address("xyz"), None);
    }

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
