//! Chain sources: each knows one node protocol and turns its blocks into the
//! normalized [`Block`] the scanner commits.
//!
//! A source is split in two: a [`Node`] (cheap to clone, fetches raw blocks,
//! many requests in flight) and a [`Decoder`] (decodes and matches in height
//! order, keeping whatever per-chain state matching needs).

pub mod bitcoin;
pub mod evm;
pub mod failover;
pub mod limit;
pub mod mempool;
pub mod rpc;
pub mod skim;
mod start;
pub mod tron;
pub mod zmq;

pub use start::{start, Launch, StartError, Started};

use crate::address::{AddressKey, KeyKind};
use crate::amount::Amount;
use crate::store::StoreError;
use crate::transfer::{
    Asset, BlockRef, Direction, Freeze, FreezeChange, Hash32, Risk, RiskFlag, Transfer,
    TransferStatus,
};
use crate::watch::Lookup;
use std::future::Future;

/// The topic of `Transfer(address,address,uint256)`, the ERC-20 and TRC-20
/// event.
pub const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// The blacklist events of the stablecoins' issuers, as `eth_getLogs`
/// filters by them: Tether's `AddedBlackList(address)`,
/// `RemovedBlackList(address)`, `DestroyedBlackFunds(address,uint256)`,
/// Circle's `Blacklisted(address)`, `UnBlacklisted(address)`.
pub static BLACKLIST_TOPICS: std::sync::LazyLock<[[u8; 32]; 5]> = std::sync::LazyLock::new(|| {
    [
        "AddedBlackList(address)",
        "RemovedBlackList(address)",
        "DestroyedBlackFunds(address,uint256)",
        "Blacklisted(address)",
        "UnBlacklisted(address)",
    ]
    .map(|s| alloy::primitives::keccak256(s.as_bytes()).0)
});

/// A log's 32-byte word from hex (with or without `0x`).
fn word(hex: &str) -> Option<[u8; 32]> {
    let h = hex.strip_prefix("0x").unwrap_or(hex);
    let mut b = [0u8; 32];
    const_hex::decode_to_slice(h, &mut b).ok()?;
    Some(b)
}

/// What a blacklist log of a listed token says, and about which 20-byte
/// account: Tether's events carry it in the data (or, in some deployments,
/// as an indexed topic), Circle's as a topic. `None` for any other log.
pub(crate) fn blacklist_change<T: AsRef<str>>(
    topics: &[T],
    data: Option<&str>,
) -> Option<Result<([u8; 20], FreezeChange), ()>> {
    let topic = word(topics.first()?.as_ref())?;
    let which = BLACKLIST_TOPICS.iter().position(|t| *t == topic)?;
    let data = data
        .map(|d| d.strip_prefix("0x").unwrap_or(d))
        .unwrap_or("");
    let mut words = (0..data.len() / 64).map(|i| word(&data[i * 64..i * 64 + 64]));
    let account = match topics.get(1) {
        Some(t) => word(t.as_ref()),
        None => words.next().flatten(),
    };
    let parsed = account
        .filter(|w| w[..12].iter().all(|b| *b == 0))
        .and_then(|w| {
            let mut a = [0u8; 20];
            a.copy_from_slice(&w[12..]);
            let change = match which {
                0 | 3 => FreezeChange::Frozen,
                1 | 4 => FreezeChange::Unfrozen,
                _ => {
                    let balance = words.next().flatten()?;
                    FreezeChange::Destroyed(ruint::aliases::U256::from_be_bytes(balance).into())
                }
            };
            Some((a, change))
        });
    Some(parsed.ok_or(()))
}

/// A block reduced to what paywatch keeps: its place in the chain and the
/// transfers that touch watched addresses.
#[derive(Debug, Clone)]
pub struct Block {
    pub height: u64,
    pub hash: Hash32,
    pub parent: Hash32,
    /// Unix seconds.
    pub time: u64,
    pub transfers: Vec<Transfer>,
    /// Blacklist changes of listed tokens, in block order.
    pub freezes: Vec<Freeze>,
    /// Malformed transactions or logs that were skipped.
    pub skipped: u64,
}

/// Why a node request failed; decides how the scanner reports it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No answer: connection refused or reset, timeout.
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The node answered with an error.
    #[error("node error: {0}")]
    Rpc(String),
    /// The node answered something that is not a valid answer.
    #[error("invalid answer from node: {0}")]
    Invalid(String),
    /// The node refused for the request rate (HTTP 429, "limit exceeded");
    /// requests to it wait for the pause it asked for.
    #[error("node rate limit: {0}")]
    RateLimited(String),
}

/// Why a fetched block could not be turned into a [`Block`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("block {height}: {detail}")]
    Malformed { height: u64, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Requests to one node. Implementations must be safe to call concurrently.
pub trait Node: Clone + Send + Sync + 'static {
    type Raw: Send + 'static;
    /// Checks, once before scanning, that the node serves the configured
    /// chain. An error is reported and retried like any other.
    fn verify(&self) -> impl Future<Output = Result<(), NodeError>> + Send {
        async { Ok(()) }
    }
    /// Height of the node's best block.
    fn tip(&self) -> impl Future<Output = Result<u64, NodeError>> + Send;
    /// Hash of the node's best-chain block at `height`.
    fn hash_at(&self, height: u64) -> impl Future<Output = Result<Hash32, NodeError>> + Send;
    /// The node's best-chain block at `height`, ready to decode.
    fn fetch(&self, height: u64) -> impl Future<Output = Result<Self::Raw, NodeError>> + Send;

    /// Most blocks [`Node::fetch_many`] asks for in one request.
    fn batch_size(&self) -> u64 {
        1
    }

    /// The blocks `start .. start + count`, in height order. Nodes with a
    /// range call override this; the default fetches one block at a time.
    fn fetch_many(
        &self,
        start: u64,
        count: u64,
    ) -> impl Future<Output = Result<Vec<(u64, Self::Raw)>, NodeError>> + Send {
        async move {
            let mut out = Vec::with_capacity(count as usize);
            for h in start..start + count {
                out.push((h, self.fetch(h).await?));
            }
            Ok(out)
        }
    }

    /// The node's own finality mark (TRON's solidified block), when the chain
    /// is configured to confirm by it rather than by depth.
    fn finalized(&self) -> impl Future<Output = Result<Option<u64>, NodeError>> + Send {
        async { Ok(None) }
    }

    /// Whether the node has the block `hash` at all (on its best chain or
    /// not); `None` when it cannot tell. A node whose tip is below what is
    /// indexed and that has never seen the indexed tip is behind (restarted
    /// on an older copy, or another backend), not reorganized.
    fn knows(&self, _hash: Hash32) -> impl Future<Output = Result<Option<bool>, NodeError>> + Send {
        async { Ok(None) }
    }
}

/// Decodes fetched blocks and matches them against the watched set, in
/// height order.
pub trait Decoder: Send + 'static {
    type Raw: Send + 'static;
    fn decode(&mut self, height: u64, raw: Self::Raw) -> Result<Block, DecodeError>;
    /// Called after `block` is durably committed (for decoders that keep
    /// state between blocks).
    fn committed(&mut self, _block: &Block) {}
    /// Called after a reorg removed `removed` from the store.
    fn rewound(&mut self, _removed: &[Transfer]) {}
}

/// Collects the transfers of one block of an account chain (EVM, TRON) that
/// touch watched addresses, and counts what had to be skipped.
pub(crate) struct Matches<'a, L> {
    pub chain: &'a str,
    pub block: BlockRef,
    pub watches: &'a L,
    /// The display form of an address key.
    pub display: fn(&[u8]) -> String,
    /// The form of this chain's address keys.
    pub kind: KeyKind,
    pub transfers: Vec<Transfer>,
    pub freezes: Vec<Freeze>,
    pub skipped: u64,
}

impl<'a, L: Lookup> Matches<'a, L> {
    pub fn new(
        chain: &'a str,
        block: BlockRef,
        watches: &'a L,
        display: fn(&[u8]) -> String,
        kind: KeyKind,
    ) -> Self {
        Matches {
            chain,
            block,
            watches,
            display,
            kind,
            transfers: Vec::new(),
            freezes: Vec::new(),
            skipped: 0,
        }
    }

    /// Marks the transfers recorded since `start` as made by a contract on
    /// the counterparty's behalf.
    pub fn on_behalf_since(&mut self, start: usize) {
        for t in &mut self.transfers[start..] {
            t.risk.set(RiskFlag::ContractSender);
        }
    }

    /// Records a listed token's blacklist change about `address`.
    pub fn freeze(
        &mut self,
        token: &crate::config::Token,
        address: &[u8],
        change: FreezeChange,
        txid: Hash32,
        index: u32,
    ) -> Result<(), DecodeError> {
        let Some(key) = AddressKey::from_slice(self.kind, address) else {
            self.skipped += 1;
            return Ok(());
        };
        let watch = self.watches.lookup(address)?.map(|w| w.as_ref());
        self.freezes.push(Freeze {
            contract: token.contract.clone(),
            address: key,
            address_display: (self.display)(address),
            change,
            asset: Asset {
                symbol: token.symbol.clone(),
                decimals: token.decimals,
                contract: Some(token.display.clone()),
            },
            txid,
            index,
            watch,
        });
        Ok(())
    }

    /// A transfer from `from` to `to`: `out` if the sender is watched, `in`
    /// if the receiver is.
    pub fn pair(
        &mut self,
        txid: Hash32,
        index: u32,
        from: &[u8],
        to: &[u8],
        amount: Amount,
        asset: impl Fn() -> Asset,
    ) -> Result<(), DecodeError> {
        self.one(txid, index, Direction::Out, from, Some(to), amount, &asset)?;
        self.one(txid, index, Direction::In, to, Some(from), amount, &asset)
    }

    /// One side of a transfer, recorded when `address` is watched (only
    /// then are the addresses and the asset formatted); `counterparty` is
    /// the other side's key, when there is one.
    #[allow(clippy::too_many_arguments)]
    pub fn one(
        &mut self,
        txid: Hash32,
        index: u32,
        direction: Direction,
        address: &[u8],
        counterparty: Option<&[u8]>,
        amount: Amount,
        asset: impl Fn() -> Asset,
    ) -> Result<(), DecodeError> {
        let Some(w) = self.watches.lookup(address)? else {
            return Ok(());
        };
        let Some(key) = AddressKey::from_slice(self.kind, address) else {
            return Err(DecodeError::Malformed {
                height: self.block.height,
                detail: format!(
                    "watched key {} is not a {:?} address key",
                    hex::encode(address),
                    self.kind
                ),
            });
        };
        self.transfers.push(Transfer {
            chain: self.chain.to_string(),
            txid,
            index,
            direction,
            address: (self.display)(address),
            address_key: key,
            counterparty: counterparty.map(self.display),
            asset: asset(),
            amount,
            block: self.block,
            status: TransferStatus::Detected,
            watch: w.as_ref(),
            risk: Risk::default(),
        });
        Ok(())
    }

    /// Logs and counts what was skipped, and returns the block.
    pub fn finish(self, hash: Hash32, parent: Hash32) -> Block {
        if self.skipped > 0 {
            tracing::warn!(
                chain = self.chain,
                height = self.block.height,
                skipped = self.skipped,
                "malformed transactions or logs skipped"
            );
            metrics::counter!(crate::telemetry::DECODE_SKIPPED, "chain" => self.chain.to_string())
                .increment(self.skipped);
        }
        Block {
            height: self.block.height,
            hash,
            parent,
            time: self.block.time,
            transfers: self.transfers,
            freezes: self.freezes,
            skipped: self.skipped,
        }
    }
}

/// An error and its causes, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// One JSON value as a node sent it: a slice of the answer's body, kept
/// without copying it or parsing it again before the block is decoded.
#[derive(Clone, Debug)]
pub struct RawJson {
    body: bytes::Bytes,
    start: usize,
    end: usize,
}

impl RawJson {
    pub fn as_bytes(&self) -> &[u8] {
        &self.body[self.start..self.end]
    }
}

impl From<String> for RawJson {
    fn from(s: String) -> Self {
        let end = s.len();
        RawJson {
            body: bytes::Bytes::from(s),
            start: 0,
            end,
        }
    }
}

/// The bytes as a node sent them, before any check that they are JSON.
impl From<Vec<u8>> for RawJson {
    fn from(b: Vec<u8>) -> Self {
        let end = b.len();
        RawJson {
            body: bytes::Bytes::from(b),
            start: 0,
            end,
        }
    }
}

impl From<Box<serde_json::value::RawValue>> for RawJson {
    fn from(v: Box<serde_json::value::RawValue>) -> Self {
        RawJson::from(String::from(Box::<str>::from(v)))
    }
}
