//! The event a plugin is called with: one payment to or from a watched
//! address, as `GET /v1/events` serves it.

use crate::amount;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// [`Event::kind`] of a transfer seen in a block.
pub const DETECTED: &str = "payment.detected";
/// [`Event::kind`] of a transfer that reached the chain's confirmation
/// threshold.
pub const CONFIRMED: &str = "payment.confirmed";
/// [`Event::kind`] of a reported transfer whose block left the best chain.
pub const REORGED: &str = "payment.reorged";

/// One payment event.
///
/// Fields that later versions of paywatch add are ignored when the event is
/// read; serializing an `Event` (for a forward payload, say) writes the
/// fields listed here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id, the same on every delivery of this event
    /// (`chain:txid:index:direction:block:type`).
    pub id: String,
    /// [`DETECTED`], [`CONFIRMED`] or [`REORGED`]; `type` in the JSON.
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
    /// The transaction id. Empty for invoice events no payment caused
    /// (`invoice.expired`, `invoice.cancelled`).
    #[serde(default)]
    pub txid: String,
    /// The output, input or log index of the transfer in its transaction.
    #[serde(default)]
    pub index: u32,
    /// The block the transfer was mined in (zeroes when there is none).
    #[serde(default)]
    pub block: Block,
    /// Confirmations when the event was made; the block itself counts as one.
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

    #[test]
    fn round_trips_through_json() {
        let event: Event = serde_json::from_str(EVENT).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "payment.detected");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
