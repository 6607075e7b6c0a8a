//! Payment events: the durable, ordered feed that plugins, sinks and the
//! `/v1/events` API read. Every event is written in the same RocksDB batch as
//! the block change that caused it.

use crate::amount::Amount;
use crate::transfer::{
    Asset, BlockRef, Direction, Freeze, FreezeChange, Hash32, Risk, Transfer, WatchRef,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// A transfer was seen in a block.
    #[serde(rename = "payment.detected")]
    Detected,
    /// A transfer reached the chain's confirmation threshold.
    #[serde(rename = "payment.confirmed")]
    Confirmed,
    /// A reported transfer left the best chain.
    #[serde(rename = "payment.reorged")]
    Reorged,
    /// A mempool payment was replaced by another transaction (BIP-125 or
    /// full-RBF); `output_kept` tells whether the replacement pays the
    /// same address at least as much.
    #[serde(rename = "payment.replaced")]
    Replaced,
    /// A mempool payment's inputs were spent by another transaction.
    #[serde(rename = "payment.double_spent")]
    DoubleSpent,
    /// A mempool payment left the mempool unmined and unspent.
    #[serde(rename = "payment.dropped")]
    Dropped,
    /// Risk screening flagged a transfer (sent beside `payment.detected`).
    #[serde(rename = "payment.flagged")]
    Flagged,
}

impl EventType {
    /// The type as events spell it (`payment.detected`, …).
    pub fn name(self) -> &'static str {
        match self {
            EventType::Detected => "payment.detected",
            EventType::Confirmed => "payment.confirmed",
            EventType::Reorged => "payment.reorged",
            EventType::Replaced => "payment.replaced",
            EventType::DoubleSpent => "payment.double_spent",
            EventType::Dropped => "payment.dropped",
            EventType::Flagged => "payment.flagged",
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            EventType::Detected => "detected",
            EventType::Confirmed => "confirmed",
            EventType::Reorged => "reorged",
            EventType::Replaced => "replaced",
            EventType::DoubleSpent => "double_spent",
            EventType::Dropped => "dropped",
            EventType::Flagged => "flagged",
        }
    }
}

/// One event as stored in the outbox and served by the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id, the same on every delivery of this event:
    /// `chain:txid:index:direction:block:type`, where `block` is the last 8
    /// bytes of the block hash (hex). That part tells apart a transaction mined, reorged out and mined again.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Position in the feed, strictly increasing across all chains.
    pub seq: u64,
    pub chain: String,
    pub network: String,
    pub direction: Direction,
    pub address: String,
    /// Who sent an incoming transfer, who received an outgoing one;
    /// `null` where the chain does not tell (see
    /// [`Transfer::counterparty`]). Absent from events stored before it
    /// was recorded.
    #[serde(default)]
    pub counterparty: Option<String>,
    pub txid: Hash32,
    pub index: u32,
    pub block: BlockRef,
    pub confirmations: u64,
    pub asset: Asset,
    pub amount: Amount,
    pub watch: WatchRef,
    /// What risk screening found. Absent from events stored before it.
    #[serde(default)]
    pub risk: Risk,
}

impl Event {
    /// Builds the event for `transfer`; `seq` is assigned by the store when
    /// the event is committed.
    pub fn for_transfer(kind: EventType, network: &str, t: &Transfer, confirmations: u64) -> Self {
        let id = format!(
            "{}:{}:{}:{}:{}:{}",
            t.chain,
            t.txid,
            t.index,
            t.direction.as_str(),
            hex::encode(&t.block.hash.bytes[24..]),
            kind.suffix()
        );
        Event {
            id,
            kind,
            seq: 0,
            chain: t.chain.clone(),
            network: network.to_string(),
            direction: t.direction,
            address: t.address.clone(),
            counterparty: t.counterparty.clone(),
            txid: t.txid,
            index: t.index,
            block: t.block,
            confirmations,
            asset: t.asset.clone(),
            amount: t.amount,
            watch: t.watch.clone(),
            risk: t.risk.clone(),
        }
    }
}

/// What happened to a watched address itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressEventType {
    /// A listed stablecoin's issuer blacklisted the address: what is paid
    /// to it in that token can no longer be moved.
    #[serde(rename = "address.frozen")]
    Frozen,
    /// The issuer took the address off its blacklist.
    #[serde(rename = "address.unfrozen")]
    Unfrozen,
}

impl AddressEventType {
    pub fn name(self) -> &'static str {
        match self {
            AddressEventType::Frozen => "address.frozen",
            AddressEventType::Unfrozen => "address.unfrozen",
        }
    }
}

/// `address.frozen` / `address.unfrozen`: a blacklist log of a listed
/// token about a watched address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressEvent {
    /// `chain:txid:index:frozen:block:type`, as payment events' ids.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: AddressEventType,
    pub seq: u64,
    pub chain: String,
    pub network: String,
    pub address: String,
    /// The token whose issuer froze or released the address.
    pub asset: Asset,
    pub txid: Hash32,
    pub index: u32,
    pub block: BlockRef,
    pub watch: WatchRef,
    /// Tether's `DestroyedBlackFunds`: the frozen balance the issuer burned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<Amount>,
}

impl AddressEvent {
    /// The event a blacklist change of a watched address causes; `None`
    /// for an address that is not watched.
    pub fn for_freeze(chain: &str, network: &str, block: BlockRef, f: &Freeze) -> Option<Self> {
        let watch = f.watch.clone()?;
        let (kind, destroyed) = match f.change {
            FreezeChange::Frozen => (AddressEventType::Frozen, None),
            FreezeChange::Unfrozen => (AddressEventType::Unfrozen, None),
            FreezeChange::Destroyed(a) => (AddressEventType::Frozen, Some(a)),
        };
        Some(AddressEvent {
            id: format!(
                "{chain}:{}:{}:frozen:{}:{}",
                f.txid,
                f.index,
                hex::encode(&block.hash.bytes[24..]),
                kind.name().trim_start_matches("address.")
            ),
            kind,
            seq: 0,
            chain: chain.to_string(),
            network: network.to_string(),
            address: f.address_display.clone(),
            asset: f.asset.clone(),
            txid: f.txid,
            index: f.index,
            block,
            watch,
            destroyed,
        })
    }
}

/// What the node says about a mempool transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MempoolFlags {
    /// Signals replaceability (BIP-125): an input with nSequence below
    /// 0xfffffffe, or the node's own `bip125-replaceable`.
    pub rbf: bool,
    /// The node replaces any unconfirmed transaction (full-RBF policy).
    pub full_rbf: bool,
    /// Satoshi per virtual byte, when the node tells the fee.
    pub fee_rate: Option<f64>,
    /// Spends outputs of other unconfirmed transactions.
    pub unconfirmed_inputs: bool,
}

/// A `payment.*` event of a watched output of a mempool transaction: no
/// block, no confirmations, `status: "mempool"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MempoolEvent {
    /// `chain:txid:index:in:mempool:type`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub seq: u64,
    pub chain: String,
    pub network: String,
    pub direction: Direction,
    pub address: String,
    /// The sender the transaction's first input tells, or `null`.
    pub counterparty: Option<String>,
    pub txid: Hash32,
    pub index: u32,
    pub confirmations: u64,
    pub status: MempoolStatus,
    pub asset: Asset,
    pub amount: Amount,
    pub watch: WatchRef,
    /// What risk screening found (no blacklist or history update comes
    /// from the mempool).
    pub risk: Risk,
    pub mempool: MempoolFlags,
    /// `payment.replaced`: the replacing transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<Hash32>,
    /// `payment.replaced`: whether the replacement still pays this
    /// address at least as much.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_kept: Option<bool>,
    /// `payment.double_spent`: the spending transaction, `null` when the
    /// node no longer tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicting_txid: Option<Option<Hash32>>,
}

/// The `status` of every mempool event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MempoolStatus {
    Mempool,
}

/// Confirmations of something mined at `height` when the best indexed block
/// is `tip` (the block itself counts as one).
pub fn confirmations(tip: u64, height: u64) -> u64 {
    if tip >= height {
        tip - height + 1
    } else {
        0
    }
}
