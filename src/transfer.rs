//! The normalized payment record every chain produces: one value moved to or
//! from a watched address by one transaction, at one position in a block.
//!
//! Amounts are base-unit integers (satoshi, wei, sun): [`Amount`], written
//! as decimal strings in JSON so that 256-bit token amounts survive untouched.

use crate::address::{AddressError, AddressKey};
use crate::amount::Amount;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A 32-byte hash (block hash or transaction id) in the byte order a chain's
/// explorers display it, so that `to_string` is the familiar hex form. EVM
/// hashes are shown with `0x` (as they were read); equality and ordering
/// look at the bytes only.
#[derive(Clone, Copy, Default)]
pub struct Hash32 {
    pub bytes: [u8; 32],
    /// Shown with a `0x` prefix.
    pub prefixed: bool,
}

impl Hash32 {
    /// A hash shown as plain hex.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Hash32 {
            bytes,
            prefixed: false,
        }
    }

    /// Reads 64 hex digits; a `0x` prefix is kept for display. Every
    /// transaction id of every block goes through here, so the decoding is
    /// const-hex's vectorized one.
    pub fn from_hex(s: &str) -> Result<Self, const_hex::FromHexError> {
        let (body, prefixed) = match s.strip_prefix("0x") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let mut bytes = [0u8; 32];
        const_hex::decode_to_slice(body, &mut bytes)?;
        Ok(Hash32 { bytes, prefixed })
    }
}

impl PartialEq for Hash32 {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Hash32 {}

impl std::hash::Hash for Hash32 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}

impl PartialOrd for Hash32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hash32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefixed {
            f.write_str("0x")?;
        }
        f.write_str(&hex::encode(self.bytes))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({self})")
    }
}

impl Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hash32::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether value arrived at (`in`) or left (`out`) a watched address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_byte(self) -> u8 {
        match self {
            Direction::In => 0,
            Direction::Out => 1,
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Direction::In),
            1 => Some(Direction::Out),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// What was moved: the chain's native coin (`contract: None`) or a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub symbol: String,
    pub decimals: u8,
    pub contract: Option<String>,
}

/// The watch a transfer matched, copied into the transfer so that events carry
/// the merchant's own label even after the watch is removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchRef {
    pub label: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
}

/// Where a transfer was mined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    pub height: u64,
    pub hash: Hash32,
    pub time: u64,
}

/// The lifecycle of a stored transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// In a block, below the chain's confirmation threshold.
    Detected,
    /// At or past the threshold; `payment.confirmed` has been emitted.
    Confirmed,
}

/// One matched transfer as stored and as served by the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredTransfer")]
pub struct Transfer {
    pub chain: String,
    pub txid: Hash32,
    /// Output index (`in`) or input index (`out`) for Bitcoin; log index or
    /// position for account chains.
    pub index: u32,
    pub direction: Direction,
    /// Display form of the watched address (or script hex).
    pub address: String,
    /// What the watched address is matched by; hex in JSON.
    pub address_key: AddressKey,
    /// The other side, in the chain's display form: who sent an incoming
    /// transfer, who received an outgoing one. Always known on account
    /// chains; on Bitcoin read from the transaction's first input (or
    /// output), `None` where the script does not tell (see
    /// [`crate::chain::bitcoin::counterparty`]).
    pub counterparty: Option<String>,
    pub asset: Asset,
    /// Base units; a decimal string in JSON.
    pub amount: Amount,
    pub block: BlockRef,
    pub status: TransferStatus,
    pub watch: WatchRef,
    /// What risk screening found, decided when the block was committed.
    pub risk: Risk,
}

impl Transfer {
    /// The identity of this transfer inside its chain: stable across restarts,
    /// and distinct for the same transaction mined again in another block.
    pub fn key(&self) -> TransferKey {
        TransferKey {
            txid: self.txid,
            direction: self.direction,
            index: self.index,
        }
    }
}

/// A [`Transfer`] as JSON holds it: the key as hex, its kind told by the
/// address's display form.
#[derive(Deserialize)]
struct StoredTransfer {
    chain: String,
    txid: Hash32,
    index: u32,
    direction: Direction,
    address: String,
    address_key: String,
    /// Absent from transfers stored before counterparties were recorded.
    #[serde(default)]
    counterparty: Option<String>,
    asset: Asset,
    amount: Amount,
    block: BlockRef,
    status: TransferStatus,
    watch: WatchRef,
    /// Absent from transfers stored before risk screening.
    #[serde(default)]
    risk: Risk,
}

impl TryFrom<StoredTransfer> for Transfer {
    type Error = AddressError;

    fn try_from(t: StoredTransfer) -> Result<Self, AddressError> {
        let bytes = hex::decode(&t.address_key).map_err(|e| {
            AddressError(format!("address_key `{}` is not hex: {e}", t.address_key))
        })?;
        let address_key = AddressKey::from_display(&t.address, bytes).ok_or_else(|| {
            AddressError(format!(
                "address_key `{}` is not the key of address `{}`",
                t.address_key, t.address
            ))
        })?;
        Ok(Transfer {
            chain: t.chain,
            txid: t.txid,
            index: t.index,
            direction: t.direction,
            address: t.address,
            address_key,
            counterparty: t.counterparty,
            asset: t.asset,
            amount: t.amount,
            block: t.block,
            status: t.status,
            watch: t.watch,
            risk: t.risk,
        })
    }
}

/// One thing risk screening can find about a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskFlag {
    /// Moves nothing (a token transfer of 0: the usual poisoning).
    ZeroValue,
    /// Below the asset's dust threshold.
    Dust,
    /// From or to an address this watched address never dealt with, that
    /// shares the first and last characters of one it did.
    Lookalike,
    /// The counterparty is frozen by a listed stablecoin's issuer.
    FrozenSender,
    /// The watched address itself is frozen by the issuer of the asset paid.
    FrozenAddress,
    /// The counterparty is on the operator's sanctions list.
    Sanctioned,
    /// A token or internal transfer made by a contract (or a spender with an
    /// allowance) on the counterparty's behalf, not by a transaction the
    /// counterparty sent.
    ContractSender,
}

impl RiskFlag {
    pub const ALL: [RiskFlag; 7] = [
        RiskFlag::ZeroValue,
        RiskFlag::Dust,
        RiskFlag::Lookalike,
        RiskFlag::FrozenSender,
        RiskFlag::FrozenAddress,
        RiskFlag::Sanctioned,
        RiskFlag::ContractSender,
    ];

    /// Whether an invoice with `hold_flagged` holds a payment with this
    /// flag for a person to decide: `sanctioned`, `frozen_sender`,
    /// `lookalike`.
    pub fn holds(self) -> bool {
        matches!(
            self,
            RiskFlag::Sanctioned | RiskFlag::FrozenSender | RiskFlag::Lookalike
        )
    }

    /// The flag as JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            RiskFlag::ZeroValue => "zero_value",
            RiskFlag::Dust => "dust",
            RiskFlag::Lookalike => "lookalike",
            RiskFlag::FrozenSender => "frozen_sender",
            RiskFlag::FrozenAddress => "frozen_address",
            RiskFlag::Sanctioned => "sanctioned",
            RiskFlag::ContractSender => "contract_sender",
        }
    }
}

/// The flags risk screening set on a transfer, in [`RiskFlag`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub flags: Vec<RiskFlag>,
}

impl Risk {
    pub fn has(&self, flag: RiskFlag) -> bool {
        self.flags.contains(&flag)
    }

    /// Adds `flag` once, keeping the order.
    pub fn set(&mut self, flag: RiskFlag) {
        if let Err(at) = self.flags.binary_search(&flag) {
            self.flags.insert(at, flag);
        }
    }

    /// Zero-value or dust: never counted toward an invoice.
    pub fn is_dust(&self) -> bool {
        self.has(RiskFlag::ZeroValue) || self.has(RiskFlag::Dust)
    }

    /// Worth a `payment.flagged` event: any flag but `contract_sender`,
    /// which many honest payments (exchange withdrawals) carry.
    pub fn alerts(&self) -> bool {
        self.flags.iter().any(|f| *f != RiskFlag::ContractSender)
    }

    /// Whether the transfer causes the usual `payment.*` events: not when
    /// it is zero-value or dust, unless `report_dust`.
    pub fn reported(&self, report_dust: bool) -> bool {
        report_dust || !self.is_dust()
    }

    /// Whether the transfer causes `payment.flagged`: a flag beyond
    /// `contract_sender`, and, for a transfer not reported otherwise, one
    /// beyond its being dust (a poisoning attempt, not just dust).
    pub fn flagged_event(&self, report_dust: bool) -> bool {
        let serious = |f: &RiskFlag| {
            !matches!(
                f,
                RiskFlag::ContractSender | RiskFlag::ZeroValue | RiskFlag::Dust
            )
        };
        if self.reported(report_dust) {
            self.alerts()
        } else {
            self.flags.iter().any(serious)
        }
    }

    /// A flag an invoice with `hold_flagged` holds for a person to decide
    /// (see [`RiskFlag::holds`]).
    pub fn holds(&self) -> bool {
        self.flags.iter().any(|f| f.holds())
    }
}

/// A change a listed stablecoin's issuer made to its blacklist, read from
/// the token's logs in the block scan.
#[derive(Clone, Debug, PartialEq)]
pub struct Freeze {
    /// The token contract's address key.
    pub contract: AddressKey,
    /// The blacklisted (or released) address.
    pub address: AddressKey,
    /// Its display form.
    pub address_display: String,
    pub change: FreezeChange,
    /// The token, as its transfers name it.
    pub asset: Asset,
    pub txid: Hash32,
    /// The log's position, as transfers number it.
    pub index: u32,
    /// The watch on `address`, when it is watched.
    pub watch: Option<WatchRef>,
}

/// What a blacklist log says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeChange {
    /// Tether's `AddedBlackList`, Circle's `Blacklisted`.
    Frozen,
    /// Tether's `RemovedBlackList`, Circle's `UnBlacklisted`.
    Unfrozen,
    /// Tether's `DestroyedBlackFunds`: the frozen balance was burned.
    Destroyed(Amount),
}

/// `(txid, direction, index)`: what makes a transfer unique in a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferKey {
    pub txid: Hash32,
    pub direction: Direction,
    pub index: u32,
}

/// A watch as stored and served by the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchRecord {
    pub chain: String,
    /// Display form: the address, or the scriptPubKey hex where the script
    /// has no address form.
    pub address: String,
    pub label: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Unix seconds.
    pub created_at: u64,
}

impl WatchRecord {
    pub fn as_ref(&self) -> WatchRef {
        WatchRef {
            label: self.label.clone(),
            metadata: self.metadata.clone(),
        }
    }
}
