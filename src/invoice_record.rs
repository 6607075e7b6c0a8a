//! An invoice (payment request) as stored and served.

use crate::amount::{to_base, Amount, AmountError};
use crate::transfer::{Asset, BlockRef, Direction, WatchRef};
use ruint::aliases::U256;
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
    /// Marked paid by hand (`POST /v1/invoices/{id}/settle`): final.
    Settled,
    /// Marked invalid by hand (`POST /v1/invoices/{id}/invalidate`): final
    /// unless settled by hand later.
    Invalid,
    /// Paid and confirmed, but a payment was flagged (`sanctioned`,
    /// `frozen_sender`, `lookalike`) and the invoice holds flagged
    /// payments (`hold_flagged`): waits for `release` or `reject`.
    Held,
    /// A held invoice turned down by hand (`POST /v1/invoices/{id}/reject`):
    /// final unless settled by hand later.
    Rejected,
}

impl InvoiceStatus {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// Whether payments may still complete the invoice on time.
    pub fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Pending | InvoiceStatus::Underpaid)
    }

    /// Set by hand: payments still count towards `paid`, but the status
    /// stays.
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            InvoiceStatus::Settled | InvoiceStatus::Invalid | InvoiceStatus::Rejected
        )
    }

    /// The status as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            InvoiceStatus::Pending => "pending",
            InvoiceStatus::Underpaid => "underpaid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Confirmed => "confirmed",
            InvoiceStatus::Expired => "expired",
            InvoiceStatus::PaidLate => "paid_late",
            InvoiceStatus::Cancelled => "cancelled",
            InvoiceStatus::Settled => "settled",
            InvoiceStatus::Invalid => "invalid",
            InvoiceStatus::Held => "held",
            InvoiceStatus::Rejected => "rejected",
        }
    }
}

/// What was done to an invoice by hand, kept in its `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualAction {
    /// `settled`, `invalidated` or `payment_attached`.
    pub action: ManualKind,
    /// Unix seconds.
    pub at: u64,
    /// The name of the API key that did it; absent when the API needs no
    /// key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The status before.
    pub from: InvoiceStatus,
    /// The transaction attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualKind {
    Settled,
    Invalidated,
    PaymentAttached,
    Released,
    Rejected,
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
    /// What risk screening found about the payment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<crate::transfer::RiskFlag>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub chain: String,
    pub network: String,
    pub order_id: String,
    /// The merchant whose order this is (`[[merchant]] id`); its order ids
    /// are its own, apart from every other merchant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<String>,
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
    /// fixed `amount`, locked for the invoice's life unless the chain's
    /// `relock_after` prices a pending invoice again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Where the checkout page sends the buyer once the invoice is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// How far short of `amount_due` the payments may fall and still pay
    /// the invoice; absent when they must reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underpayment_tolerance: Option<Tolerance>,
    /// Paid within the tolerance: what the payments fell short of
    /// `amount_due` by, whole units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_short: Option<String>,
    /// What was done by hand, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<ManualAction>,
    /// The address is one of the chain's `address_pool`, this invoice's
    /// while it is open and for `amount_reuse_after` once it ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pooled: bool,
    /// The confirmations this invoice waits for, when its request set
    /// them (0: a mempool payment confirms it); else the chain's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// Refunds requested (`POST /v1/invoices/{id}/refunds`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<Refund>,
    /// The invoice with payment options this one is an option of: made
    /// when the buyer chose this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// Another option of the same choice was paid first: this one was
    /// closed, and whatever it receives is an excess to refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// A payment flagged `sanctioned`, `frozen_sender` or `lookalike`
    /// holds the invoice at `held` instead of `confirmed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold_flagged: bool,
    /// Released by hand from `held`: flags no longer hold it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
}

/// An order the buyer may pay on one of several networks: priced in fiat,
/// each option gets its address and amount (an [`Invoice`] of its own)
/// when the buyer chooses it. The first option paid wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// `inv_…`, like an invoice's: the checkout link is the same.
    pub id: String,
    pub order_id: String,
    /// The fiat price and its currency.
    pub price: String,
    pub currency: String,
    pub options: Vec<ChoiceOption>,
    /// Unix seconds.
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// A share (`"1%"`) every option's invoice takes as its tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underpayment_tolerance: Option<String>,
    /// The rate adjustment every option's invoice takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_adjust: Option<String>,
    /// Whether flagged payments hold every option's invoice; each chain's
    /// `hold_flagged` when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_flagged: Option<bool>,
}

/// One way to pay a [`Choice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub chain: String,
    /// The asset's symbol.
    pub asset: String,
    /// What buyers are told the network is, e.g. `TRON (TRC-20)`.
    pub network: String,
    /// The option's invoice, once the buyer chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
}

/// Where a refund is: the merchant pays it from its own wallet, paywatch
/// sees the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Waiting for the merchant's payment.
    Requested,
    /// The payment is in a block, not yet confirmed.
    Sent,
    /// The payment is confirmed.
    Completed,
}

/// A refund of (part of) an invoice's payments to its buyer. paywatch
/// holds no keys: it prepares the payment (URI and QR) for the merchant's
/// wallet and follows it on chain, from the invoice's address or one of
/// the chain's `refund_from` addresses to `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `<invoice id>-r<n>`, n from 1.
    pub id: String,
    pub status: RefundStatus,
    /// Whole units of the invoice's asset.
    pub amount: String,
    pub amount_base: Amount,
    /// Who gets it, in the chain's display form.
    pub address: String,
    /// The merchant's addresses a payment of it is taken from.
    pub from: Vec<String>,
    /// What the merchant's wallet pays: `address`, `amount` and asset.
    pub payment_uri: String,
    /// `payment_uri` as a QR code.
    pub qr_svg_url: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The name of the API key that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The payment that pays it, once seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

impl Refund {
    /// Not yet completed: still watched for.
    pub fn is_open(&self) -> bool {
        self.status != RefundStatus::Completed
    }
}

/// An invoice's underpayment tolerance: the rule it was given and what
/// that allows on its amount due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tolerance {
    /// As set, normalised: `"1%"`, or an amount of the asset (`"0.5"`).
    pub rule: String,
    /// How much less than `amount_due` pays the invoice, whole units.
    pub amount: String,
    /// `amount` in base units.
    pub amount_base: Amount,
}

/// An underpayment tolerance before it meets an invoice: a share of the
/// amount due or an amount of the asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToleranceRule {
    /// Millionths of the amount due (`"1%"` is 10 000).
    Share(u32),
    /// Base units of the asset.
    Amount(U256),
}

/// Why a tolerance was refused; the text is quoted as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToleranceError {
    #[error(
        "`{0}` is not a share below 100% with at most 4 decimal places, such as \"1%\" or \"0.5%\""
    )]
    Share(String),
    #[error("{0}")]
    Amount(AmountError),
}

/// Millionths in 100%.
const WHOLE: u32 = 1_000_000;

impl ToleranceRule {
    /// `"1%"`, `"0.25%"`, or an amount of an asset with `decimals` places;
    /// `"0"` and `"0%"` allow nothing.
    pub fn parse(text: &str, decimals: u8) -> Result<Self, ToleranceError> {
        let t = text.trim();
        let zero_ok = |r: Result<U256, AmountError>| match r {
            Err(AmountError::Zero(_)) => Ok(U256::ZERO),
            r => r,
        };
        match t.strip_suffix('%') {
            Some(share) => {
                let share = share.trim_end();
                let units = zero_ok(to_base(share, 4))
                    .ok()
                    .filter(|u| *u < U256::from(WHOLE))
                    .ok_or_else(|| ToleranceError::Share(text.into()))?;
                Ok(ToleranceRule::Share(units.to::<u32>()))
            }
            None => zero_ok(to_base(t, decimals))
                .map(ToleranceRule::Amount)
                .map_err(ToleranceError::Amount),
        }
    }

    /// Whether the text is a share rather than an amount.
    pub fn is_share(text: &str) -> bool {
        text.trim().ends_with('%')
    }

    /// What the rule allows on `due` base units: a share is rounded down.
    pub fn on(self, due: U256) -> U256 {
        match self {
            ToleranceRule::Share(m) => {
                // due < 2^256 and m < 2^20: the product is checked, and a
                // due so large that it overflows is a share of the quotient.
                match due.checked_mul(U256::from(m)) {
                    Some(p) => p / U256::from(WHOLE),
                    None => (due / U256::from(WHOLE)) * U256::from(m),
                }
            }
            ToleranceRule::Amount(a) => a,
        }
    }

    /// The rule as invoices show it: `"1%"`, or the amount in whole units.
    pub fn display(self, decimals: u8) -> String {
        match self {
            ToleranceRule::Share(m) => {
                format!("{}%", crate::amount::from_base(U256::from(m), 4))
            }
            ToleranceRule::Amount(a) => crate::amount::from_base(a, decimals),
        }
    }
}

/// A merchant's adjustment of the market rate, as BEpusdt writes it:
/// `"~1.02"` multiplies the rate, `"+0.3"` adds to it and `"-0.1"` takes
/// from it (in the invoice's currency per asset unit). A higher rate means
/// fewer asset units for the same price: `"~0.98"` charges 2% more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateAdjust {
    /// By this factor, scaled by 10^18.
    Times(U256),
    Plus(U256),
    Minus(U256),
}

/// Why a rate adjustment was refused; the text is quoted as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustError {
    #[error(
        "`{0}` is not a rate adjustment: `~` and a factor (\"~1.02\"), or `+` or `-` and an amount (\"+0.3\")"
    )]
    Syntax(String),
    #[error("`{adjust}` takes the rate {rate} to nothing or below")]
    NotPositive { adjust: String, rate: String },
}

impl RateAdjust {
    pub fn parse(text: &str) -> Result<Self, AdjustError> {
        let t = text.trim();
        let bad = || AdjustError::Syntax(text.into());
        let (op, figure) = t.split_at_checked(1).ok_or_else(bad)?;
        // A plain decimal: digits and at most one point, no exponent.
        if figure.is_empty()
            || figure.starts_with('.')
            || figure.ends_with('.')
            || !figure.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(bad());
        }
        let value = crate::amount::parse_rate(figure).map_err(|_| bad())?;
        match op {
            "~" if !value.is_zero() => Ok(RateAdjust::Times(value)),
            "+" => Ok(RateAdjust::Plus(value)),
            "-" => Ok(RateAdjust::Minus(value)),
            _ => Err(bad()),
        }
    }

    /// The adjusted rate; a product is rounded down to 10^-18.
    pub fn apply(self, rate: U256) -> Result<U256, AdjustError> {
        let scale = U256::from(10u8).pow(U256::from(crate::amount::RATE_DECIMALS));
        let out = match self {
            RateAdjust::Times(f) => rate
                .checked_mul(f)
                .map(|p| p / scale)
                .unwrap_or((rate / scale).saturating_mul(f)),
            RateAdjust::Plus(a) => rate.saturating_add(a),
            RateAdjust::Minus(a) => rate.saturating_sub(a),
        };
        if out.is_zero() {
            return Err(AdjustError::NotPositive {
                adjust: self.to_string(),
                rate: crate::amount::from_base_rate(rate),
            });
        }
        Ok(out)
    }
}

impl std::fmt::Display for RateAdjust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateAdjust::Times(v) => write!(f, "~{}", crate::amount::from_base_rate(*v)),
            RateAdjust::Plus(v) => write!(f, "+{}", crate::amount::from_base_rate(*v)),
            RateAdjust::Minus(v) => write!(f, "-{}", crate::amount::from_base_rate(*v)),
        }
    }
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
    /// With a `rate_adjust`: the market rate before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_rate: Option<String>,
    /// The adjustment that made `rate` from `source_rate`, normalised
    /// (`"~1.02"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_adjust: Option<String>,
    /// Decimal places the converted amount was rounded up to, when fewer
    /// than the asset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places: Option<u8>,
    /// Unix seconds the price was last converted (at creation, or at the
    /// last re-lock); 0 for an invoice from before re-locking existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub locked_at: u64,
    /// Times the invoice was re-priced (`relock_after`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub relocks: u64,
    /// The amount due before the last re-lock, which still pays the
    /// invoice when it arrives before `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousPrice>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What an invoice asked for before it was re-priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousPrice {
    /// Whole units.
    pub amount_due: String,
    pub amount_due_base: Amount,
    /// The least total that paid it (its tolerance taken off), base units.
    pub least_payable: Amount,
    /// Unix seconds: payments reaching `least_payable` until then pay the
    /// invoice (`relock_grace`).
    pub until: u64,
    /// Payments reached it in time: the invoice stays paid at this price.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub honoured: bool,
}

impl Invoice {
    /// The least total that pays the invoice: `amount_due` less its
    /// tolerance.
    pub fn least_payable(&self) -> Amount {
        let tol = self
            .underpayment_tolerance
            .as_ref()
            .map_or(Amount::default(), |t| t.amount_base);
        self.amount_due_base.checked_sub(tol).unwrap_or_default()
    }

    /// Whether a payment of it is mined but not yet as deep as the
    /// invoice's own `confirmations` ask: the tracker checks it again as
    /// blocks arrive.
    pub fn awaits_depth(&self) -> bool {
        self.confirmations.is_some_and(|c| c > 0)
            && self
                .payments
                .iter()
                .any(|p| !p.confirmed && !p.mempool && p.height > 0)
    }

    /// The amount due before a re-lock, while it still pays the invoice
    /// at `now`, base units.
    pub fn previous_due(&self, now: u64) -> Option<Amount> {
        let prev = self.pricing.as_ref()?.previous.as_ref()?;
        (now <= prev.until).then_some(prev.amount_due_base)
    }

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
    /// Re-priced at a newer rate (`relock_after`).
    #[serde(rename = "invoice.repriced")]
    Repriced,
    /// Marked paid by hand.
    #[serde(rename = "invoice.settled")]
    Settled,
    /// Marked invalid by hand.
    #[serde(rename = "invoice.invalidated")]
    Invalidated,
    /// A transaction credited by hand.
    #[serde(rename = "invoice.payment_attached")]
    PaymentAttached,
    /// Paid and confirmed with a flagged payment: held for a decision.
    #[serde(rename = "invoice.held")]
    Held,
    /// A held invoice released by hand.
    #[serde(rename = "invoice.released")]
    Released,
    /// A held invoice turned down by hand.
    #[serde(rename = "invoice.rejected")]
    Rejected,
    /// A refund was asked for.
    #[serde(rename = "refund.requested")]
    RefundRequested,
    /// The merchant's payment of a refund is in a block.
    #[serde(rename = "refund.sent")]
    RefundSent,
    /// The merchant's payment of a refund is confirmed.
    #[serde(rename = "refund.completed")]
    RefundCompleted,
    /// A reorg took the payment of a refund away: requested again.
    #[serde(rename = "refund.reorged")]
    RefundReorged,
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
            InvoiceEventType::Repriced => "invoice.repriced",
            InvoiceEventType::Settled => "invoice.settled",
            InvoiceEventType::Invalidated => "invoice.invalidated",
            InvoiceEventType::PaymentAttached => "invoice.payment_attached",
            InvoiceEventType::Held => "invoice.held",
            InvoiceEventType::Released => "invoice.released",
            InvoiceEventType::Rejected => "invoice.rejected",
            InvoiceEventType::RefundRequested => "refund.requested",
            InvoiceEventType::RefundSent => "refund.sent",
            InvoiceEventType::RefundCompleted => "refund.completed",
            InvoiceEventType::RefundReorged => "refund.reorged",
        }
    }

    /// What happened, as event ids spell it: without the `invoice.`
    /// prefix, `refund_` and the step for a refund.
    pub fn suffix(self) -> &'static str {
        match self {
            InvoiceEventType::RefundRequested => "refund_requested",
            InvoiceEventType::RefundSent => "refund_sent",
            InvoiceEventType::RefundCompleted => "refund_completed",
            InvoiceEventType::RefundReorged => "refund_reorged",
            _ => &self.name()["invoice.".len()..],
        }
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
    /// The refund a `refund.*` event is about, as it is after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<Refund>,
    /// The id ends in the event's own `seq` rather than a payment event's:
    /// for a change no payment event caused in this batch (by hand, or a
    /// payment buried deep enough), so it never repeats another's id.
    #[serde(skip)]
    pub own_key: bool,
}

/// `invoice.unmatched_payment`: a payment to a shared invoice address that
/// credits no invoice, because no invoice's amount names it or because
/// more than one lies within its tolerance, or one to a pool address no
/// invoice holds. paywatch never guesses: the merchant looks into it.
#[derive(Clone, Debug, Serialize)]
pub struct UnmatchedPayment {
    /// `invoice:unmatched_payment:<n>`, `n` the `seq` of the payment event.
    pub id: String,
    /// Always `invoice.unmatched_payment`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub seq: u64,
    pub chain: String,
    pub network: String,
    pub direction: Direction,
    pub address: String,
    pub asset: Asset,
    /// The payment, base units.
    pub amount: Amount,
    pub watch: WatchRef,
    pub txid: String,
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<BlockRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    /// The `id` of the payment event.
    pub payment_event: String,
    /// The open invoices whose tolerance reaches down to the payment (two
    /// or more, smallest amount due first), or none.
    pub candidates: Vec<Candidate>,
}

/// An invoice an unmatched payment could have been for.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub id: String,
    pub order_id: String,
    pub amount_due: String,
    /// The least total that pays it, whole units.
    pub least_payable: String,
}

/// What the invoice tracker writes to the feed.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum TrackerEvent {
    Invoice(Box<InvoiceEvent>),
    Unmatched(Box<UnmatchedPayment>),
}

impl TrackerEvent {
    /// The event with its id ending in its own `seq` once written (see
    /// [`InvoiceEvent::own_key`]).
    pub fn keyed_by_own_seq(mut self) -> Self {
        if let TrackerEvent::Invoice(e) = &mut self {
            e.own_key = true;
        }
        self
    }

    /// What happened, for metrics: `paid`, `unmatched_payment`,
    /// `refund_sent`, …
    pub fn outcome(&self) -> &'static str {
        match self {
            TrackerEvent::Invoice(e) => e.kind.suffix(),
            TrackerEvent::Unmatched(e) => &e.kind["invoice.".len()..],
        }
    }

    /// The event's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            TrackerEvent::Invoice(e) => e.kind.name(),
            TrackerEvent::Unmatched(e) => e.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rate_adjustments_multiply_add_and_subtract_like_bepusdt() {
        let rate = crate::amount::parse_rate("7.25").unwrap();
        let at = |a: &str| {
            crate::amount::from_base_rate(RateAdjust::parse(a).unwrap().apply(rate).unwrap())
        };
        assert_eq!(at("~1.02"), "7.395");
        assert_eq!(at("~0.98"), "7.105");
        assert_eq!(at("+0.3"), "7.55");
        assert_eq!(at("-0.1"), "7.15");
        assert_eq!(at(" ~1 "), "7.25");
        assert_eq!(RateAdjust::parse("~1.020").unwrap().to_string(), "~1.02");
        let e = RateAdjust::parse("-7.25").unwrap().apply(rate).unwrap_err();
        assert!(matches!(e, AdjustError::NotPositive { .. }), "{e}");
        for bad in [
            "1.02", "*2", "~", "~0", "+", "+-1", "~1e2", "~.5", "~1.", "+0x1", "",
        ] {
            assert!(
                matches!(RateAdjust::parse(bad), Err(AdjustError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_share_rounds_down_and_an_amount_is_in_the_assets_units() {
        let one = ToleranceRule::parse("1%", 6).unwrap();
        assert_eq!(one, ToleranceRule::Share(10_000));
        assert_eq!(one.on(U256::from(25_010_000u64)), U256::from(250_100u64));
        let tiny = ToleranceRule::parse(" 0.0001 % ", 6).unwrap();
        assert_eq!(tiny.on(U256::from(9_999u64)), U256::ZERO);
        assert_eq!(tiny.display(6), "0.0001%");
        let half = ToleranceRule::parse("0.5", 6).unwrap();
        assert_eq!(half, ToleranceRule::Amount(U256::from(500_000u64)));
        assert_eq!(half.display(6), "0.5");
        assert_eq!(
            ToleranceRule::parse("0", 6),
            Ok(ToleranceRule::Amount(U256::ZERO))
        );
        assert_eq!(ToleranceRule::parse("0%", 6), Ok(ToleranceRule::Share(0)));
    }

    #[test]
    fn a_share_of_the_largest_amount_does_not_wrap() {
        let r = ToleranceRule::parse("99.9999%", 18).unwrap();
        let t = r.on(U256::MAX);
        assert!(t < U256::MAX && t > U256::MAX / U256::from(2u8), "{t}");
    }

    #[test]
    fn shares_of_100_percent_or_more_and_bad_text_are_refused() {
        for bad in ["100%", "150%", "1.00001%", "-1%", "%", "x%", "1e2%"] {
            assert!(
                matches!(ToleranceRule::parse(bad, 6), Err(ToleranceError::Share(_))),
                "{bad}"
            );
        }
        for bad in ["0.0000001", "-1", "abc", ""] {
            assert!(
                matches!(ToleranceRule::parse(bad, 6), Err(ToleranceError::Amount(_))),
                "{bad}"
            );
        }
    }
}
