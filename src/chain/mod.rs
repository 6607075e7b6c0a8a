//! Chain sources: each knows one node protocol and turns its blocks into the
//! normalized [`Block`] the scanner commits.
//!
//! A source is split in two: a [`Node`] (cheap to clone, fetches raw blocks,
//! many requests in flight) and a [`Decoder`] (decodes and matches in height
//! order, keeping whatever per-chain state matching needs).

pub mod bitcoin;
pub mod tron;

use crate::store::StoreError;
use crate::transfer::{Hash32, Transfer};
use std::future::Future;

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
}

/// Decodes fetched blocks and matches them against the watched set, in
/// height order.
pub trait Decoder: Send + 'static {
    type Raw: Send + 'static;
    fn decode(&mut self, height: u64, raw: Self::Raw) -> Result<Block, DecodeError>;
    /// Called after `block` is durably committed.
    fn committed(&mut self, block: &Block);
    /// Called after a reorg removed `removed` from the store.
    fn rewound(&mut self, removed: &[Transfer]);
}
