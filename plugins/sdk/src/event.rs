//! The event a plugin is called with, as `GET /v1/events` serves it: one
//! payment to or from a watched address, a change of an invoice, or a token
//! issuer freezing or releasing a watched address.

use crate::amount;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// [`Event::kind`] of a transfer seen in a block, or, with
/// [`Event::status`] `"mempool"`, of an incoming transaction seen in a
/// Bitcoin node's mempool.
pub const DETECTED: &str = "payment.detected";
/// [`Event::kind`] of a transfer that reached the chain's confirmation
/// threshold.
pub const CONFIRMED: &str = "payment.confirmed";
/// [`Event::kind`] of a reported transfer whose block left the best chain.
pub const REORGED: &str = "payment.reorged";
/// [`Event::kind`] of a mempool payment that another mempool transaction,
/// spending the same inputs, replaced ([`Event::replaced_by`],
/// [`Event::output_kept`]).
pub const REPLACED: &str = "payment.replaced";
/// [`Event::kind`] of a mempool payment whose inputs a transaction in a
/// block spent ([`Event::conflicting_txid`]).
pub const DOUBLE_SPENT: &str = "payment.double_spent";
/// [`Event::kind`] of a mempool payment that left the mempool unmined with
/// its inputs unspent (evicted or expired).
pub const DROPPED: &str = "payment.dropped";
/// [`Event::kind`] of a transfer risk screening flagged
/// ([`Risk::is_flagged`]), sent beside its [`DETECTED`]. A zero-value or
/// dust transfer, which paywatch does not report with [`DETECTED`] and
/// [`CONFIRMED`] unless configured to, has only this event, and only when
/// it has a flag besides being zero-value or dust.
pub const FLAGGED: &str = "payment.flagged";
/// [`Event::kind`] of a listed stablecoin's issuer freezing a watched
/// address: what is paid to it in that token ([`Event::asset`]) can no
/// longer be moved. [`Event::destroyed`] is set when the issuer burned the
/// frozen balance.
pub const ADDRESS_FROZEN: &str = "address.frozen";
/// [`Event::kind`] of a listed stablecoin's issuer taking a watched address
/// off its blacklist.
pub const ADDRESS_UNFROZEN: &str = "address.unfrozen";
/// [`Event::status`] of an event about a transaction in the mempool.
pub const MEMPOOL: &str = "mempool";

/// One event: a payment (`payment.*`), a change of an invoice
/// (`invoice.*`, with [`Event::invoice`]) or of a watched address's
/// standing with a token's issuer (`address.*`). All of them are read into
/// this one type; fields an event kind does not have are left empty.
///
/// Fields that later versions of paywatch add are ignored when the event is
/// read; serializing an `Event` (for a forward payload, say) writes the
/// fields listed here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id, the same on every delivery of this event
    /// (`chain:txid:index:direction:block:type`; for a mempool event
    /// `chain:txid:index:in:mempool:kind`; for an address event
    /// `chain:txid:index:frozen:block:frozen` or `…:unfrozen`).
    pub id: String,
    /// [`DETECTED`], [`CONFIRMED`], [`REORGED`] or [`FLAGGED`]; for mempool
    /// events also [`REPLACED`], [`DOUBLE_SPENT`] or [`DROPPED`];
    /// `invoice.*` for invoice events; [`ADDRESS_FROZEN`] or
    /// [`ADDRESS_UNFROZEN`] for address events. Kinds this SDK does not
    /// name are read all the same. `type` in the JSON.
    #[serde(rename = "type")]
    pub kind: String,
    /// Position in paywatch's feed, strictly increasing across all chains.
    pub seq: u64,
    /// The chain's name in paywatch's configuration: `bitcoin`, `tron`, …
    pub chain: String,
    /// `mainnet`, `testnet`, …
    pub network: String,
    /// `in` when value arrived at the watched address, `out` when it left;
    /// empty for address events, which move nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub direction: String,
    /// The watched address, in the chain's display form.
    pub address: String,
    /// The other side, in the chain's display form: who sent an incoming
    /// transfer, who received an outgoing one. Always known on EVM and
    /// TRON; on Bitcoin read from the transaction's first input (or, for an
    /// outgoing transfer, its first output to an unwatched address), `None`
    /// where the script does not tell (taproot, P2PK, a coinbase) and for
    /// invoice and address events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// The transaction id. Empty for invoice events no payment caused
    /// (`invoice.expired`, `invoice.cancelled`).
    #[serde(default)]
    pub txid: String,
    /// The output, input or log index of the transfer in its transaction
    /// (of the blacklist log, for an address event).
    #[serde(default)]
    pub index: u32,
    /// The block the transfer was mined in (zeroes when there is none: a
    /// mempool event, or an invoice event no mined payment caused).
    #[serde(default, deserialize_with = "null_as_default")]
    pub block: Block,
    /// Confirmations when the event was made; the block itself counts as one.
    /// 0 for a mempool event and for an address event.
    #[serde(default)]
    pub confirmations: u64,
    /// What was moved; for an address event, the token whose issuer froze
    /// or released the address.
    pub asset: Asset,
    /// The amount as an integer string in the asset's base units: satoshi
    /// for BTC, wei for ETH, 10^-6 USDT for USDT-TRC20. [`Asset::decimals`]
    /// gives the scale, so `"125500000"` with 6 decimals is 125.5 USDT and
    /// `"50000"` with 8 is 0.0005 BTC. It may exceed 2^128, so do not parse
    /// it as a number: [`Event::amount_decimal`] gives it in whole units and
    /// [`Event::amount_cmp`] compares it with a whole-unit amount, exactly.
    /// Empty for address events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub amount: String,
    /// The watch the address matched.
    pub watch: Watch,
    /// What paywatch's risk screening found about a payment's transfer. No
    /// flags on invoice and address events, nor on payment events stored
    /// by versions of paywatch without risk screening. Written only when
    /// there are flags.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Risk::has_no_flags"
    )]
    pub risk: Risk,
    /// For [`ADDRESS_FROZEN`]: the frozen balance the issuer burned (Tether's
    /// `DestroyedBlackFunds`), an integer string in base units of
    /// [`Event::asset`] like [`Event::amount`]; `None` when the issuer only
    /// froze the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<String>,
    /// For `invoice.*` events: the invoice (id, order_id, status, amount_due,
    /// paid, …), as `GET /v1/invoices/{id}` serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<serde_json::Value>,
    /// [`MEMPOOL`] for an event about a transaction in a Bitcoin node's
    /// mempool (it has no block); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For a mempool event: what the node said about the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mempool: Option<Mempool>,
    /// For [`REPLACED`]: the transaction that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// For [`REPLACED`]: whether the replacement still pays the watched
    /// address at least the same amount (it is then reported as a
    /// [`DETECTED`] of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kept: Option<bool>,
    /// For [`DOUBLE_SPENT`]: the mined transaction that spent the inputs;
    /// `None` when paywatch found the double spend without seeing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicting_txid: Option<String>,
    /// How many times a [`Verdict::delay`](crate::Verdict::delay) has held
    /// this event back; `0` the first time.
    #[serde(default)]
    pub delayed: u32,
}

/// One thing paywatch's risk screening can find about a transfer, decided
/// from what paywatch already knows when the transfer's block is committed.
/// Written in snake case in the JSON (`zero_value`, `frozen_sender`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RiskFlag {
    /// The transfer moves nothing (a token transfer of 0, the usual address
    /// poisoning).
    ZeroValue,
    /// The amount is below the asset's dust threshold.
    Dust,
    /// The counterparty is not an address the watched address dealt with,
    /// but shares the first and last characters of one it did: address
    /// poisoning.
    Lookalike,
    /// The counterparty is blacklisted by the issuer of a listed
    /// stablecoin.
    FrozenSender,
    /// The watched address itself is frozen by the issuer of the token paid.
    FrozenAddress,
    /// The counterparty is on the operator's sanctions list.
    Sanctioned,
    /// A token or internal transfer made by a contract (or a spender with an
    /// allowance) on the counterparty's behalf, not by a transaction the
    /// counterparty sent. Many honest payments, exchange withdrawals among
    /// them, carry it: it alone does not make a transfer
    /// [flagged](Risk::is_flagged).
    ContractSender,
    /// A flag this SDK does not know (one a later version of paywatch
    /// added), as the JSON spells it.
    Other(String),
}

impl RiskFlag {
    /// The flags this SDK knows, in the order paywatch lists them.
    pub const KNOWN: [RiskFlag; 7] = [
        RiskFlag::ZeroValue,
        RiskFlag::Dust,
        RiskFlag::Lookalike,
        RiskFlag::FrozenSender,
        RiskFlag::FrozenAddress,
        RiskFlag::Sanctioned,
        RiskFlag::ContractSender,
    ];

    /// The flag spelt as in the JSON: `zero_value`, `dust`, …
    pub fn as_str(&self) -> &str {
        match self {
            RiskFlag::ZeroValue => "zero_value",
            RiskFlag::Dust => "dust",
            RiskFlag::Lookalike => "lookalike",
            RiskFlag::FrozenSender => "frozen_sender",
            RiskFlag::FrozenAddress => "frozen_address",
            RiskFlag::Sanctioned => "sanctioned",
            RiskFlag::ContractSender => "contract_sender",
            RiskFlag::Other(name) => name,
        }
    }

    /// The flag spelt `name` in the JSON; [`RiskFlag::Other`] when this SDK
    /// does not know it.
    pub fn from_name(name: &str) -> RiskFlag {
        RiskFlag::KNOWN
            .into_iter()
            .find(|flag| flag.as_str() == name)
            .unwrap_or_else(|| RiskFlag::Other(name.to_owned()))
    }
}

impl fmt::Display for RiskFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RiskFlag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RiskFlag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(RiskFlag::from_name(&name))
    }
}

/// What paywatch's risk screening found about a payment's transfer: its
/// flags, each once, in paywatch's order (that of [`RiskFlag::KNOWN`] for
/// the flags this SDK knows).
///
/// ```
/// use paywatch_plugin::RiskFlag;
///
/// let mut event = paywatch_plugin::testing::sample_event();
/// assert!(!event.risk.is_flagged());
/// event.risk.flags = vec![RiskFlag::ContractSender];
/// assert!(!event.risk.is_flagged(), "contract_sender alone is no alert");
/// event.risk.flags = vec![RiskFlag::ZeroValue, RiskFlag::Lookalike];
/// assert!(event.risk.is_flagged() && event.risk.is_dust());
/// assert!(event.risk.has(RiskFlag::Lookalike));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    #[serde(default, deserialize_with = "null_as_default")]
    pub flags: Vec<RiskFlag>,
}

impl Risk {
    /// Whether the transfer has `flag`.
    pub fn has(&self, flag: RiskFlag) -> bool {
        self.flags.contains(&flag)
    }

    /// Whether the transfer has any flag but [`RiskFlag::ContractSender`]:
    /// what makes paywatch send [`FLAGGED`]. A flag this SDK does not know
    /// counts.
    pub fn is_flagged(&self) -> bool {
        self.flags
            .iter()
            .any(|flag| *flag != RiskFlag::ContractSender)
    }

    /// Whether the transfer is [`RiskFlag::ZeroValue`] or [`RiskFlag::Dust`]:
    /// it never counts toward an invoice.
    pub fn is_dust(&self) -> bool {
        self.has(RiskFlag::ZeroValue) || self.has(RiskFlag::Dust)
    }

    /// Whether `self` has no flags; an event without flags leaves `risk`
    /// out when serialized.
    fn has_no_flags(&self) -> bool {
        self.flags.is_empty()
    }
}

/// Where a transfer was mined.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub height: u64,
    pub hash: String,
    /// The block's timestamp, in seconds since the Unix epoch.
    pub time: u64,
}

/// What the node said about a mempool transaction when paywatch first saw
/// it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mempool {
    /// The transaction signals replaceability (BIP-125).
    #[serde(default)]
    pub rbf: bool,
    /// The node replaces any unconfirmed transaction, signalled or not
    /// (full-RBF), as the chain's configuration says.
    #[serde(default)]
    pub full_rbf: bool,
    /// Satoshi per virtual byte; `None` when the node did not tell the fee.
    #[serde(default)]
    pub fee_rate: Option<f64>,
    /// The transaction spends outputs of other unconfirmed transactions.
    #[serde(default)]
    pub unconfirmed_inputs: bool,
}

impl Mempool {
    /// Whether the transaction can be replaced: it signals BIP-125 or the
    /// node runs full-RBF.
    pub fn replaceable(&self) -> bool {
        self.rbf || self.full_rbf
    }
}

/// Reads `null` like an absent field: the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The chain's native coin (`contract` is `None`) or a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// `BTC`, `TRX`, `USDT`, …
    pub symbol: String,
    /// How many decimal places the asset has: an event's
    /// [`amount`](Event::amount) counts units of 10^-`decimals` of it (8 for
    /// BTC, 18 for ETH, 6 for USDT on TRON).
    pub decimals: u8,
    /// The token's contract address; `None` for the native coin.
    pub contract: Option<String>,
}

/// The watch an address matched, as the merchant registered it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub label: Option<String>,
    /// Whatever JSON the watch was registered with; `null` when none.
    #[serde(default)]
    pub metadata: serde_json::Value,
}

impl Event {
    /// Whether this is a `payment.detected` event.
    pub fn is_detected(&self) -> bool {
        self.kind == DETECTED
    }

    /// Whether this is a `payment.confirmed` event.
    pub fn is_confirmed(&self) -> bool {
        self.kind == CONFIRMED
    }

    /// Whether this is a `payment.flagged` event. The other events of a
    /// flagged transfer ([`DETECTED`], [`CONFIRMED`], …) carry its flags
    /// too: [`Risk::is_flagged`] on [`Event::risk`] tells of any payment
    /// event whether it is flagged.
    pub fn is_flagged(&self) -> bool {
        self.kind == FLAGGED
    }

    /// Whether this is a `payment.*` event (it carries the transfer's
    /// [`Event::risk`]).
    pub fn is_payment(&self) -> bool {
        self.kind.starts_with("payment.")
    }

    /// Whether this is an `invoice.*` event (it carries the invoice in
    /// [`Event::invoice`]).
    pub fn is_invoice(&self) -> bool {
        self.kind.starts_with("invoice.")
    }

    /// Whether this is an `address.*` event ([`ADDRESS_FROZEN`],
    /// [`ADDRESS_UNFROZEN`]): about the watched address itself, with no
    /// [`direction`](Event::direction), [`amount`](Event::amount) or
    /// [`counterparty`](Event::counterparty).
    pub fn is_address(&self) -> bool {
        self.kind.starts_with("address.")
    }

    /// Whether this is a `payment.reorged` event: a payment reported before
    /// is no longer in the best chain.
    pub fn is_reorged(&self) -> bool {
        self.kind == REORGED
    }

    /// Whether this event is about a transaction in the mempool, not yet
    /// in a block (its [`Event::block`] is zeroes).
    pub fn is_mempool(&self) -> bool {
        self.status.as_deref() == Some(MEMPOOL)
    }

    /// Whether this is a `payment.replaced`, `payment.double_spent` or
    /// `payment.dropped` event: a mempool payment reported before will not
    /// be mined as shown.
    pub fn is_mempool_gone(&self) -> bool {
        [REPLACED, DOUBLE_SPENT, DROPPED].contains(&self.kind.as_str())
    }

    /// Whether value arrived at the watched address (never for an address
    /// event).
    pub fn is_incoming(&self) -> bool {
        self.direction == "in"
    }

    /// Whether value left the watched address (never for an address event).
    pub fn is_outgoing(&self) -> bool {
        self.direction == "out"
    }

    /// The watch's label, if it has one.
    pub fn label(&self) -> Option<&str> {
        self.watch.label.as_deref()
    }

    /// The amount in the asset's whole units, a decimal string (see
    /// [`amount::from_base_units`]); `None` when [`amount`](Event::amount) is
    /// not an integer in base units.
    ///
    /// ```
    /// let event = paywatch_plugin::testing::sample_event();
    /// assert_eq!((event.amount.as_str(), event.asset.decimals), ("125500000", 6));
    /// assert_eq!(event.amount_decimal().as_deref(), Some("125.5")); // USDT
    /// ```
    pub fn amount_decimal(&self) -> Option<String> {
        amount::from_base_units(&self.amount, self.asset.decimals)
    }

    /// Compares the amount, in the asset's whole units, with `other`, a
    /// decimal amount in whole units (`"200"`, `"0.0005"`), exactly (see
    /// [`amount::cmp`]); `None` when the event's amount is not an integer in
    /// base units or `other` is not a decimal amount.
    ///
    /// ```
    /// # use std::cmp::Ordering;
    /// let event = paywatch_plugin::testing::sample_event(); // 125.5 USDT
    /// assert_eq!(event.amount_cmp("200"), Some(Ordering::Less));
    /// assert_eq!(event.amount_cmp("125.50"), Some(Ordering::Equal));
    /// assert_eq!(event.amount_cmp("125.4999999999"), Some(Ordering::Greater));
    /// ```
    pub fn amount_cmp(&self, other: &str) -> Option<Ordering> {
        amount::cmp(&self.amount_decimal()?, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{
        "id": "tron:6c3f:1:in:9a1b2c3d4e5f6071:detected",
        "type": "payment.detected",
        "seq": 1042,
        "chain": "tron",
        "network": "mainnet",
        "direction": "in",
        "address": "TXYZ",
        "txid": "6c3f",
        "index": 1,
        "block": { "height": 71234567, "hash": "0000", "time": 1763700000 },
        "confirmations": 1,
        "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
        "amount": "125500000",
        "watch": { "label": "order-42", "metadata": { "order": 42 } },
        "delayed": 0
    }"#;

    #[test]
    fn reads_the_abi_example() {
        let event: Event = serde_json::from_str(EVENT).expect("the ABI example parses");
        assert_eq!(event.kind, DETECTED);
        assert!(event.is_detected() && event.is_incoming());
        assert_eq!(event.block.height, 71_234_567);
        assert_eq!(event.asset.decimals, 6);
        assert_eq!(event.label(), Some("order-42"));
        assert_eq!(event.watch.metadata["order"], 42);
        assert_eq!(event.amount, "125500000");
        assert_eq!(event.amount_decimal().as_deref(), Some("125.5"));
        assert_eq!(event.amount_cmp("125.5"), Some(Ordering::Equal));
        assert_eq!(event.amount_cmp("125500000"), Some(Ordering::Less));
    }

    #[test]
    fn amounts_are_read_in_base_units_of_the_asset() {
        let mut event: Event = serde_json::from_str(EVENT).unwrap();
        event.asset = Asset {
            symbol: "BTC".into(),
            decimals: 8,
            contract: None,
        };
        event.amount = "50000".into();
        assert_eq!(event.amount_decimal().as_deref(), Some("0.0005"));
        assert_eq!(event.amount_cmp("0.001"), Some(Ordering::Less));
        assert_eq!(event.amount_cmp("0.0005"), Some(Ordering::Equal));

        // A uint256 amount of an 18-decimal token, beyond any float.
        event.asset.decimals = 18;
        event.amount =
            "115792089237316195423570985008687907853269984665640564039457584007913129639935".into();
        assert_eq!(
            event.amount_cmp(
                "115792089237316195423570985008687907853269984665640564039457.584007913129639934"
            ),
            Some(Ordering::Greater)
        );

        for bad in ["0.0005", "1e3", "-1", ""] {
            event.amount = bad.into();
            assert_eq!(event.amount_decimal(), None, "{bad:?}");
            assert_eq!(event.amount_cmp("1"), None, "{bad:?}");
        }
        event.amount = "1".into();
        assert_eq!(event.amount_cmp("one"), None);
    }

    #[test]
    fn ignores_unknown_fields_and_defaults_delayed() {
        let mut value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("delayed");
        object.insert("added_later".into(), serde_json::json!({"x": 1}));
        object["watch"].as_object_mut().unwrap().remove("metadata");
        let event: Event = serde_json::from_value(value).expect("extra fields are ignored");
        assert_eq!(event.delayed, 0);
        assert!(event.watch.metadata.is_null());
    }

    #[test]
    fn native_coin_has_no_contract() {
        let json = EVENT.replace(
            r#""contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t""#,
            r#""contract": null"#,
        );
        let event: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(event.asset.contract, None);
    }

    /// A mempool payment as paywatch reports it: no block, 0 confirmations.
    const MEMPOOL_EVENT: &str = r#"{
        "id": "btc:5f0c:0:in:mempool:detected",
        "type": "payment.detected",
        "seq": 1043,
        "chain": "btc",
        "network": "regtest",
        "direction": "in",
        "address": "bcrt1q",
        "txid": "5f0c",
        "index": 0,
        "confirmations": 0,
        "status": "mempool",
        "asset": { "symbol": "BTC", "decimals": 8, "contract": null },
        "amount": "50000",
        "watch": { "label": "shop", "metadata": {} },
        "mempool": { "rbf": true, "full_rbf": false, "fee_rate": 7.75, "unconfirmed_inputs": false },
        "delayed": 0
    }"#;

    #[test]
    fn reads_a_mempool_payment() {
        let event: Event = serde_json::from_str(MEMPOOL_EVENT).expect("a mempool event parses");
        assert!(event.is_detected() && event.is_mempool() && !event.is_mempool_gone());
        assert_eq!(event.block, Block::default(), "no block");
        assert_eq!(event.confirmations, 0);
        let mempool = event.mempool.as_ref().expect("the mempool object");
        assert!(mempool.rbf && !mempool.full_rbf && !mempool.unconfirmed_inputs);
        assert!(mempool.replaceable());
        assert_eq!(mempool.fee_rate, Some(7.75));
        assert_eq!(event.amount_decimal().as_deref(), Some("0.0005"));
        assert_eq!(
            (
                &event.replaced_by,
                event.output_kept,
                &event.conflicting_txid
            ),
            (&None, None, &None)
        );
        // What a plugin forwards keeps the mempool fields.
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["status"], MEMPOOL);
        assert_eq!(json["mempool"]["fee_rate"], 7.75);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    #[test]
    fn reads_what_became_of_a_mempool_payment() {
        let mut value: serde_json::Value = serde_json::from_str(MEMPOOL_EVENT).unwrap();
        value["id"] = "btc:5f0c:0:in:mempool:replaced".into();
        value["type"] = REPLACED.into();
        value["replaced_by"] = "7a1e".into();
        value["output_kept"] = true.into();
        value["mempool"]["fee_rate"] = serde_json::Value::Null;
        let event: Event = serde_json::from_value(value.clone()).unwrap();
        assert!(event.is_mempool() && event.is_mempool_gone() && !event.is_detected());
        assert_eq!(event.replaced_by.as_deref(), Some("7a1e"));
        assert_eq!(event.output_kept, Some(true));
        assert_eq!(event.mempool.unwrap().fee_rate, None);

        let object = value.as_object_mut().unwrap();
        object.remove("replaced_by");
        object.remove("output_kept");
        object.insert("type".into(), DOUBLE_SPENT.into());
        object.insert("conflicting_txid".into(), "9d4b".into());
        let event: Event = serde_json::from_value(value.clone()).unwrap();
        assert!(event.is_mempool_gone());
        assert_eq!(event.conflicting_txid.as_deref(), Some("9d4b"));
        // Found by reconciliation: the conflicting transaction is unknown.
        value["conflicting_txid"] = serde_json::Value::Null;
        let event: Event = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(event.conflicting_txid, None);

        value["type"] = DROPPED.into();
        value.as_object_mut().unwrap().remove("conflicting_txid");
        assert!(serde_json::from_value::<Event>(value)
            .unwrap()
            .is_mempool_gone());
    }

    #[test]
    fn reads_an_invoice_event_caused_by_a_mempool_payment() {
        // Invoice events copy the payment's block, which a mempool payment
        // does not have: `null`.
        let json = r#"{
            "id": "invoice:inv_0192a6f1c3d47e2a91b5c06d3f18:paid:1043",
            "type": "invoice.paid",
            "seq": 1044,
            "chain": "btc",
            "network": "regtest",
            "direction": "in",
            "address": "bcrt1q",
            "asset": { "symbol": "BTC", "decimals": 8, "contract": null },
            "amount": "100000",
            "watch": { "label": "A1001", "metadata": null },
            "invoice": { "id": "inv_0192a6f1c3d47e2a91b5c06d3f18", "status": "paid" },
            "txid": "5f0c",
            "index": 0,
            "block": null,
            "confirmations": 0,
            "payment_event": "btc:5f0c:0:in:mempool:detected"
        }"#;
        let event: Event = serde_json::from_str(json).expect("a null block parses");
        assert!(event.is_invoice() && !event.is_mempool());
        assert_eq!(event.block, Block::default());
        assert_eq!(event.txid, "5f0c");
    }

    #[test]
    fn block_events_have_no_mempool_fields() {
        let event: Event = serde_json::from_str(EVENT).unwrap();
        assert!(!event.is_mempool() && !event.is_mempool_gone());
        assert_eq!(
            (event.status.as_ref(), event.mempool.as_ref()),
            (None, None)
        );
        let json = serde_json::to_value(&event).unwrap();
        for field in [
            "status",
            "mempool",
            "replaced_by",
            "output_kept",
            "conflicting_txid",
        ] {
            assert!(
                json.get(field).is_none(),
                "{field} written for a block event"
            );
        }
    }

    /// A zero-value USDT transfer from an address made to look like one the
    /// watched address was paid from: reported only as `payment.flagged`.
    const FLAGGED_EVENT: &str = r#"{
        "id": "tron:8d0e9f3b7c2a41d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2:0:in:4e5f60718293a4b5:flagged",
        "type": "payment.flagged",
        "seq": 2210,
        "chain": "tron",
        "network": "mainnet",
        "direction": "in",
        "address": "TXYZ9w2bBfV4H6jTqJtG6Gx1v1Uy5kP8aQ",
        "counterparty": "TP4MZxkq3LJr8wYdUuE5nNcR2aWv7Pfi8R",
        "txid": "8d0e9f3b7c2a41d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2",
        "index": 0,
        "block": { "height": 71240112, "hash": "00000000043f0a704e5f60718293a4b5", "time": 1763716650 },
        "confirmations": 1,
        "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
        "amount": "0",
        "watch": { "label": "order-42", "metadata": { "order": 42 } },
        "risk": { "flags": ["zero_value", "lookalike", "contract_sender"] },
        "delayed": 0
    }"#;

    #[test]
    fn reads_a_flagged_payment() {
        let event: Event = serde_json::from_str(FLAGGED_EVENT).expect("payment.flagged parses");
        assert_eq!(event.kind, FLAGGED);
        assert!(event.is_flagged() && event.is_payment() && event.is_incoming());
        assert!(!event.is_detected() && !event.is_address() && !event.is_invoice());
        assert_eq!(
            event.risk.flags,
            [
                RiskFlag::ZeroValue,
                RiskFlag::Lookalike,
                RiskFlag::ContractSender
            ]
        );
        assert!(event.risk.is_flagged() && event.risk.is_dust());
        assert!(event.risk.has(RiskFlag::Lookalike) && !event.risk.has(RiskFlag::Sanctioned));
        assert_eq!(event.amount_decimal().as_deref(), Some("0"));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json["risk"],
            serde_json::json!({"flags": ["zero_value", "lookalike", "contract_sender"]})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    #[test]
    fn risk_helpers_follow_the_flags() {
        let risk = |flags: &[RiskFlag]| Risk {
            flags: flags.to_vec(),
        };
        assert!(!Risk::default().is_flagged() && !Risk::default().is_dust());
        assert!(!risk(&[RiskFlag::ContractSender]).is_flagged());
        for flag in RiskFlag::KNOWN {
            let one = risk(std::slice::from_ref(&flag));
            assert!(one.has(flag.clone()), "{flag}");
            assert_eq!(one.is_flagged(), flag != RiskFlag::ContractSender, "{flag}");
            assert_eq!(
                one.is_dust(),
                matches!(flag, RiskFlag::ZeroValue | RiskFlag::Dust),
                "{flag}"
            );
        }
        let sanctioned = risk(&[RiskFlag::Sanctioned, RiskFlag::ContractSender]);
        assert!(sanctioned.is_flagged() && !sanctioned.is_dust());
    }

    #[test]
    fn flags_are_spelt_in_snake_case() {
        let names = RiskFlag::KNOWN.map(|flag| flag.to_string());
        assert_eq!(
            names,
            [
                "zero_value",
                "dust",
                "lookalike",
                "frozen_sender",
                "frozen_address",
                "sanctioned",
                "contract_sender"
            ]
        );
        for flag in RiskFlag::KNOWN {
            let json = serde_json::to_value(&flag).unwrap();
            assert_eq!(json, flag.as_str());
            assert_eq!(serde_json::from_value::<RiskFlag>(json).unwrap(), flag);
            assert_eq!(RiskFlag::from_name(flag.as_str()), flag);
        }
    }

    #[test]
    fn an_unknown_flag_is_kept_and_counts_as_flagged() {
        let json = FLAGGED_EVENT.replace(
            r#"["zero_value", "lookalike", "contract_sender"]"#,
            r#"["contract_sender", "mixer"]"#,
        );
        let event: Event = serde_json::from_str(&json).expect("an unknown flag parses");
        let mixer = RiskFlag::Other("mixer".into());
        assert_eq!(event.risk.flags, [RiskFlag::ContractSender, mixer.clone()]);
        assert!(event.risk.has(mixer) && event.risk.is_flagged() && !event.risk.is_dust());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["risk"]["flags"][1], "mixer");
    }

    #[test]
    fn payment_events_without_risk_have_no_flags() {
        // Stored by a paywatch without risk screening.
        let event: Event = serde_json::from_str(EVENT).unwrap();
        assert_eq!(event.risk, Risk::default());
        assert!(!event.risk.is_flagged());
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("risk").is_none(), "no flags, no risk written");

        let mut value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        for risk in [
            serde_json::json!({"flags": []}),
            serde_json::json!({"flags": null}),
            serde_json::json!({}),
            serde_json::Value::Null,
        ] {
            value["risk"] = risk.clone();
            let event: Event = serde_json::from_value(value.clone()).expect("parses");
            assert_eq!(event.risk, Risk::default(), "{risk}");
        }
        value["risk"] = serde_json::json!({"flags": ["contract_sender"], "score": 3});
        let event: Event = serde_json::from_value(value).unwrap();
        assert!(event.risk.has(RiskFlag::ContractSender) && !event.risk.is_flagged());
    }

    #[test]
    fn a_mempool_payment_carries_risk() {
        let json = MEMPOOL_EVENT.replace(
            r#""mempool": {"#,
            r#""risk": { "flags": ["sanctioned"] }, "mempool": {"#,
        );
        let event: Event = serde_json::from_str(&json).unwrap();
        assert!(event.is_mempool() && event.risk.has(RiskFlag::Sanctioned));
        assert!(event.risk.is_flagged());
    }

    /// Tether froze a watched address and burned its balance.
    const FROZEN_EVENT: &str = r#"{
        "id": "tron:3b1f0c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c:2:frozen:5a6b7c8d9e0f1a2b:frozen",
        "type": "address.frozen",
        "seq": 2305,
        "chain": "tron",
        "network": "mainnet",
        "address": "TXYZ9w2bBfV4H6jTqJtG6Gx1v1Uy5kP8aQ",
        "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
        "txid": "3b1f0c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
        "index": 2,
        "block": { "height": 71251876, "hash": "00000000043f38a45a6b7c8d9e0f1a2b", "time": 1763751942 },
        "watch": { "label": "hot-wallet", "metadata": { "team": "treasury" } },
        "destroyed": "1250000000",
        "delayed": 0
    }"#;

    #[test]
    fn reads_an_address_frozen_event() {
        let event: Event = serde_json::from_str(FROZEN_EVENT).expect("address.frozen parses");
        assert_eq!(event.kind, ADDRESS_FROZEN);
        assert!(event.is_address() && !event.is_payment() && !event.is_invoice());
        assert!(!event.is_incoming() && !event.is_outgoing());
        assert_eq!((event.direction.as_str(), event.amount.as_str()), ("", ""));
        assert_eq!(
            (event.counterparty.as_ref(), event.confirmations),
            (None, 0)
        );
        assert_eq!(event.amount_decimal(), None);
        assert_eq!(event.risk, Risk::default());
        assert_eq!(event.asset.symbol, "USDT");
        assert_eq!(event.block.height, 71_251_876);
        assert_eq!(event.index, 2);
        assert_eq!(event.label(), Some("hot-wallet"));
        assert_eq!(event.destroyed.as_deref(), Some("1250000000"));

        // What a plugin forwards has no fields the event did not have.
        let json = serde_json::to_value(&event).unwrap();
        for field in ["direction", "amount", "counterparty", "risk"] {
            assert!(json.get(field).is_none(), "{field} written: {json}");
        }
        assert_eq!(json["destroyed"], "1250000000");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    #[test]
    fn reads_an_address_unfrozen_event() {
        let mut value: serde_json::Value = serde_json::from_str(FROZEN_EVENT).unwrap();
        value["id"] = "tron:3b1f:2:frozen:5a6b7c8d9e0f1a2b:unfrozen".into();
        value["type"] = ADDRESS_UNFROZEN.into();
        value.as_object_mut().unwrap().remove("destroyed");
        let event: Event = serde_json::from_value(value).expect("address.unfrozen parses");
        assert!(event.is_address() && event.kind == ADDRESS_UNFROZEN);
        assert_eq!(event.destroyed, None);
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get("destroyed").is_none());
    }

    #[test]
    fn reads_the_invoice_events_of_a_held_invoice() {
        let held = r#"{
            "id": "invoice:inv_0192a6f1c3d47e2a91b5c06d3f18:held:2211",
            "type": "invoice.held",
            "seq": 2212,
            "chain": "tron",
            "network": "mainnet",
            "direction": "in",
            "address": "TXYZ9w2bBfV4H6jTqJtG6Gx1v1Uy5kP8aQ",
            "asset": { "symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" },
            "amount": "125500000",
            "watch": { "label": "A1001", "metadata": null },
            "invoice": {
                "id": "inv_0192a6f1c3d47e2a91b5c06d3f18",
                "order_id": "A1001",
                "status": "held",
                "amount_due": "125.5",
                "paid": "125.5",
                "hold_flagged": true,
                "payments": [{ "txid": "6c3f2d", "index": 1, "amount": "125500000",
                               "height": 71234567, "confirmed": true, "flags": ["sanctioned"] }]
            },
            "txid": "6c3f2d",
            "index": 1,
            "block": { "height": 71234567, "hash": "00000000043ee5c79a1b2c3d4e5f6071", "time": 1763700000 },
            "confirmations": 20,
            "payment_event": "tron:6c3f2d:1:in:9a1b2c3d4e5f6071:confirmed"
        }"#;
        let event: Event = serde_json::from_str(held).expect("invoice.held parses");
        assert!(event.is_invoice() && !event.is_payment() && !event.is_address());
        assert_eq!(event.kind, "invoice.held");
        assert_eq!(event.risk, Risk::default(), "the flags are the invoice's");
        let invoice = event.invoice.as_ref().unwrap();
        assert_eq!(invoice["status"], "held");
        assert_eq!(invoice["payments"][0]["flags"][0], "sanctioned");

        // Released or rejected by hand: no payment caused it.
        for (kind, status) in [
            ("invoice.released", "confirmed"),
            ("invoice.rejected", "rejected"),
        ] {
            let mut value: serde_json::Value = serde_json::from_str(held).unwrap();
            let object = value.as_object_mut().unwrap();
            for field in ["txid", "index", "block", "confirmations", "payment_event"] {
                object.remove(field);
            }
            object.insert("type".into(), kind.into());
            value["invoice"]["status"] = status.into();
            let event: Event = serde_json::from_value(value).expect("parses");
            assert!(event.is_invoice() && event.kind == kind);
            assert_eq!((event.txid.as_str(), event.block.height), ("", 0));
            assert_eq!(event.invoice.unwrap()["status"], status);
        }
    }

    #[test]
    fn reads_an_event_type_it_does_not_know() {
        let mut value: serde_json::Value = serde_json::from_str(FLAGGED_EVENT).unwrap();
        value["type"] = "payment.frozen_funds".into();
        let event: Event = serde_json::from_value(value).expect("a later event type parses");
        assert_eq!(event.kind, "payment.frozen_funds");
        assert!(event.is_payment() && event.risk.is_flagged());
        assert!(!event.is_flagged() && !event.is_detected() && !event.is_address());
    }

    #[test]
    fn round_trips_through_json() {
        let event: Event = serde_json::from_str(EVENT).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "payment.detected");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
