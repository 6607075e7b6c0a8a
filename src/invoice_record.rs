//! An invoice (payment request) as stored and served.

use crate::amount::Amount;
use crate::transfer::{Asset, BlockRef, Direction, WatchRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Nothing received yet.
    Pending,
    /// Payments seen that add up to less than the amount due.
    Underpaid,
    /// The amount due has been seen in blocks, not yet confirmed.
    Paid,
    /// The amount due is confirmed.
    Confirmed,
    /// Expired before the amount due was seen.
    Expired,
    /// The amount due arrived after the invoice expired or was cancelled.
    PaidLate,
    /// Cancelled before it was paid.
    Cancelled,
}

impl InvoiceStatus {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// Whether payments may still complete the invoice on time.
    pub fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Pending | InvoiceStatus::Underpaid)
    }
}

/// One transfer counted towards an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicePayment {
    pub txid: String,
    pub index: u32,
    pub amount: Amount,
    /// 0 while unconfirmed.
    pub height: u64,
    pub confirmed: bool,
    /// Seen in the mempool, not (yet) in a block.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mempool: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub chain: String,
    pub network: String,
    pub order_id: String,
    pub asset: Asset,
    /// The requested amount, whole units.
    pub amount: String,
    /// What the customer must send, whole units (the requested amount plus,
    /// on a shared address, the invoice's unique increment).
    pub amount_due: String,
    /// `amount_due` in base units.
    pub amount_due_base: Amount,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derivation_index: Option<u32>,
    pub payment_uri: String,
    pub qr_svg_url: String,
    /// Unix seconds.
    pub created_at: u64,
    pub expires_at: u64,
    pub status: InvoiceStatus,
    /// Received so far (blocks seen), whole units.
    pub paid: String,
    /// Received beyond the amount due, whole units; `None` when not overpaid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excess: Option<String>,
    pub payments: Vec<InvoicePayment>,
    /// `expired` or `cancelled` when the invoice ended unpaid; a later full
    /// payment then makes it `paid_late`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<InvoiceStatus>,
    /// On a shared address, once the invoice expired or was cancelled:
    /// until when (Unix seconds) its unique amount stays reserved for it, so
    /// a late payment of exactly that amount credits this invoice and no
    /// new one is handed the amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_reserved_until: Option<u64>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Set when the invoice was priced in fiat: the price and the rate that
    /// fixed `amount`, locked for the invoice's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Where the checkout page sends the buyer once the invoice is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// A fiat price and the rate it was converted at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    /// The price as requested, normalised (`"199.00"` is kept as `"199"`).
    pub price: String,
    /// Upper case, e.g. `CNY`.
    pub currency: String,
    /// Currency per asset unit.
    pub rate: String,
    /// The rate sources that agreed on it.
    pub rate_sources: Vec<String>,
    /// Unix seconds of the oldest figure behind the rate.
    pub rate_as_of: u64,
}

impl Invoice {
    /// What its payments add up to: all of them, or the confirmed ones.
    pub fn received(&self, confirmed_only: bool) -> Amount {
        self.payments
            .iter()
            .filter(|p| p.confirmed || !confirmed_only)
            .map(|p| p.amount)
            .sum()
    }
}

/// What happened to an invoice: the `type` of an `invoice.*` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InvoiceEventType {
    #[serde(rename = "invoice.underpaid")]
    Underpaid,
    #[serde(rename = "invoice.paid")]
    Paid,
    #[serde(rename = "invoice.confirmed")]
    Confirmed,
    #[serde(rename = "invoice.overpaid")]
    Overpaid,
    #[serde(rename = "invoice.paid_late")]
    PaidLate,
    #[serde(rename = "invoice.expired")]
    Expired,
    #[serde(rename = "invoice.cancelled")]
    Cancelled,
    /// A block reorg took a payment away.
    #[serde(rename = "invoice.reorged")]
    Reorged,
    /// A mempool payment was replaced, double-spent or dropped.
    #[serde(rename = "invoice.reverted")]
    Reverted,
}

impl InvoiceEventType {
    /// The type as events spell it (`invoice.paid`, …).
    pub fn name(self) -> &'static str {
        match self {
            InvoiceEventType::Underpaid => "invoice.underpaid",
            InvoiceEventType::Paid => "invoice.paid",
            InvoiceEventType::Confirmed => "invoice.confirmed",
            InvoiceEventType::Overpaid => "invoice.overpaid",
            InvoiceEventType::PaidLate => "invoice.paid_late",
            InvoiceEventType::Expired => "invoice.expired",
            InvoiceEventType::Cancelled => "invoice.cancelled",
            InvoiceEventType::Reorged => "invoice.reorged",
            InvoiceEventType::Reverted => "invoice.reverted",
        }
    }

    /// What happened, without the `invoice.` prefix.
    pub fn suffix(self) -> &'static str {
        &self.name()["invoice.".len()..]
    }
}

/// An `invoice.*` event: the invoice as it is after the change, and the
/// payment event that caused it (its `txid`, `index`, `block` and
/// `confirmations` where that event has them).
#[derive(Clone, Debug, Serialize)]
pub struct InvoiceEvent {
    /// `invoice:<id>:<what>:<key>`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: InvoiceEventType,
    pub seq: u64,
    pub chain: String,
    pub network: String,
    pub direction: Direction,
    pub address: String,
    pub asset: Asset,
    /// Received so far, mempool payments included.
    pub amount: Amount,
    /// The order id as `label`, and the invoice's metadata.
    pub watch: WatchRef,
    pub invoice: Invoice,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Absent for a mempool payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<BlockRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// The `id` of the payment event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_event: Option<String>,
}
