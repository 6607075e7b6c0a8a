//! The event a plugin is called with: one payment to or from a watched
//! address, as `GET /v1/events` serves it.

use crate::amount;
use serde::{Deserialize, Deserializer, Serialize};
use std::cmp::Ordering;

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
/// [`Event::status`] of an event about a transaction in the mempool.
pub const MEMPOOL: &str = "mempool";

/// One payment event.
///
/// Fields that later versions of paywatch add are ignored when the event is
/// read; serializing an `Event` (for a forward payload, say) writes the
/// fields listed here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id, the same on every delivery of this event
    /// (`chain:txid:index:direction:block:type`; for a mempool event
    /// `chain:txid:index:in:mempool:kind`).
    pub id: String,
    /// [`DETECTED`], [`CONFIRMED`] or [`REORGED`]; for mempool events also
    /// [`REPLACED`], [`DOUBLE_SPENT`] or [`DROPPED`]; `invoice.*` for
    /// invoice events. `type` in the JSON.
    #[serde(rename = "type")]
    pub kind: String,
    /// Position in paywatch's feed, strictly increasing across all chains.
    pub seq: u64,
    /// The chain's name in paywatch's configuration: `bitcoin`, `tron`, …
    pub chain: String,
    /// `mainnet`, `testnet`, …
    pub network: String,
    /// `in` when value arrived at the watched address, `out` when it left.
    pub direction: String,
    /// The watched address, in the chain's display form.
    pub address: String,
    /// The other side, in the chain's display form: who sent an incoming
    /// transfer, who received an outgoing one. Always known on EVM and
    /// TRON; on Bitcoin read from the transaction's first input (or, for an
    /// outgoing transfer, its first output to an unwatched address), `None`
    /// where the script does not tell (taproot, P2PK, a coinbase) and for
    /// invoice events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// The transaction id. Empty for invoice events no payment caused
    /// (`invoice.expired`, `invoice.cancelled`).
    #[serde(default)]
    pub txid: String,
    /// The output, input or log index of the transfer in its transaction.
    #[serde(default)]
    pub index: u32,
    /// The block the transfer was mined in (zeroes when there is none: a
    /// mempool event, or an invoice event no mined payment caused).
    #[serde(default, deserialize_with = "null_as_default")]
    pub block: Block,
    /// Confirmations when the event was made; the block itself counts as one.
    /// 0 for a mempool event.
    #[serde(default)]
    pub confirmations: u64,
    /// What was moved.
    pub asset: Asset,
    /// The amount as an integer string in the asset's base units: satoshi
    /// for BTC, wei for ETH, 10^-6 USDT for USDT-TRC20. [`Asset::decimals`]
    /// gives the scale, so `"125500000"` with 6 decimals is 125.5 USDT and
    /// `"50000"` with 8 is 0.0005 BTC. It may exceed 2^128, so do not parse
    /// it as a number: [`Event::amount_decimal`] gives it in whole units and
    /// [`Event::amount_cmp`] compares it with a whole-unit amount, exactly.
    pub amount: String,
    /// The watch the address matched.
    pub watch: Watch,
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

    /// Whether this is an `invoice.*` event (it carries the invoice in
    /// [`Event::invoice`]).
    pub fn is_invoice(&self) -> bool {
        self.kind.starts_with("invoice.")
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

    /// Whether value arrived at the watched address.
    pub fn is_incoming(&self) -> bool {
        self.direction == "in"
    }

    /// Whether value left the watched address.
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

    #[test]
    fn round_trips_through_json() {
        let event: Event = serde_json::from_str(EVENT).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "payment.detected");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
