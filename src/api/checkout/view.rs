//! What a buyer may see of an invoice: the public status document the page
//! carries and polls, with each payment's confirmations and explorer link,
//! the fiat price it was priced at, and what its QR code holds by default.

use crate::config::{ChainConfig, ChainKind, Explorer};
use crate::invoice::service::InvoiceChain;
use crate::invoice_record::{Invoice, InvoicePayment, InvoiceStatus, Pricing};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the page needs of a chain beyond its invoices.
pub(super) struct PageChain {
    kind: Kind,
    /// Confirmations at which a payment counts; `None` when the node's
    /// finality mark decides (EVM `finality`, TRON `solidified`).
    required: Option<u64>,
    explorer: Explorer,
}

#[derive(Clone, Copy)]
enum Kind {
    Bitcoin,
    Evm,
    Tron,
}

impl PageChain {
    pub(super) fn new(c: &ChainConfig) -> Self {
        let (kind, by_node) = match &c.kind {
            ChainKind::Bitcoin(_) => (Kind::Bitcoin, false),
            ChainKind::Evm(e) => (Kind::Evm, e.finality_tag.is_some()),
            ChainKind::Tron(t) => (Kind::Tron, t.solidified),
        };
        PageChain {
            kind,
            required: (!by_node).then_some(c.confirmations),
            explorer: c.explorer.clone(),
        }
    }

    /// What the QR code holds when the buyer has not chosen: the payment
    /// URI where common wallets read it and it cannot mislead, else the
    /// bare address.
    ///
    /// - Bitcoin: BIP-21 is read by nearly every wallet.
    /// - EVM native coin: EIP-681 starts with the payee's address, so even
    ///   a wallet that keeps only the address pays the right one.
    /// - EVM token: the EIP-681 URI starts with the token's contract; a
    ///   wallet that does not read the `transfer` form would send to the
    ///   contract. The address alone is safe.
    /// - TRON: there is no URI standard and most TRON wallets (and
    ///   exchange apps) scan only addresses.
    pub(super) fn qr_default(&self, inv: &Invoice) -> QrContent {
        match (self.kind, &inv.asset.contract) {
            (Kind::Bitcoin, _) | (Kind::Evm, None) => QrContent::Uri,
            (Kind::Evm, Some(_)) | (Kind::Tron, _) => QrContent::Address,
        }
    }
}

/// What a QR code on the page holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum QrContent {
    /// The payment URI (address, amount, network).
    Uri,
    /// The bare address.
    Address,
}

impl QrContent {
    pub(super) fn name(self) -> &'static str {
        match self {
            QrContent::Uri => "uri",
            QrContent::Address => "address",
        }
    }
}

/// The invoice's public fields; `tip` is the chain's last indexed height.
/// Never its metadata, rate sources or chain name.
pub(super) fn public_view(
    inv: &Invoice,
    chain: &InvoiceChain,
    page: &PageChain,
    tip: Option<u64>,
) -> Value {
    let due = inv.amount_due_base.base();
    let left = due.saturating_sub(inv.received(false).base());
    let remaining = crate::amount::from_base(left, inv.asset.decimals);
    // Once part is paid, the wallet is asked for what is still due.
    let payment_uri = if inv.status == InvoiceStatus::Underpaid && !left.is_zero() {
        chain.payment_uri(&inv.address, &inv.asset, left, &inv.order_id)
    } else {
        inv.payment_uri.clone()
    };
    let redirect = match inv.status {
        InvoiceStatus::Confirmed | InvoiceStatus::Settled => inv.redirect_url.clone(),
        _ => None,
    };
    let mut view = json!({
        "id": inv.id,
        "order_id": inv.order_id,
        "status": buyer_status(inv.status),
        "asset": inv.asset.symbol,
        "network": chain.network_label(&inv.asset),
        "address": inv.address,
        "address_explorer_url": page.explorer.address(&inv.address),
        "amount_due": inv.amount_due,
        "paid": inv.paid,
        "remaining": remaining,
        "excess": inv.excess,
        "pricing": inv.pricing.as_ref().map(pricing_view),
        "payment_uri": payment_uri,
        "qr_default": page.qr_default(inv).name(),
        "expires_at": inv.expires_at,
        "payments": inv.payments.iter().map(|p| payment_view(p, inv, page, tip)).collect::<Vec<_>>(),
        "redirect_url": redirect,
        "amount_reserved_until": inv.amount_reserved_until,
        // What the buyer is owed back and where it is; never the address.
        "refunds": inv.refunds.iter().map(|r| json!({
            "amount": r.amount,
            "status": r.status,
            "explorer_url": r.txid.as_deref().and_then(|t| page.explorer.tx(t)),
        })).collect::<Vec<_>>(),
    });
    let digest = Sha256::digest(serde_json::to_vec(&view).expect("a JSON value serializes"));
    view["version"] = hex::encode(&digest[..8]).into();
    view["now"] = crate::clock::now_secs().into();
    view
}

/// Whether the view changes with the next block: a payment still counts
/// its confirmations.
pub(super) fn counts_confirmations(view: &Value) -> bool {
    view["payments"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["confirmations"].is_u64()))
}

fn payment_view(p: &InvoicePayment, inv: &Invoice, page: &PageChain, tip: Option<u64>) -> Value {
    // Counted only while it matters: a confirmed payment's depth would
    // change the document with every block for nothing.
    let confirmations = match (p.confirmed, p.height, tip) {
        (true, _, _) => None,
        (false, 0, _) => Some(0),
        (false, h, Some(tip)) => Some(crate::event::confirmations(tip, h)),
        (false, _, None) => None,
    };
    json!({
        "txid": p.txid,
        "amount": p.amount.to_whole(inv.asset.decimals),
        "confirmed": p.confirmed,
        "mempool": p.mempool,
        "confirmations": confirmations,
        "confirmations_required": inv.confirmations.or(page.required),
        "explorer_url": page.explorer.tx(&p.txid),
    })
}

fn pricing_view(p: &Pricing) -> Value {
    json!({
        "price": p.price,
        "currency": p.currency,
        "price_text": price_text(&p.price, &p.currency),
        "rate": p.rate,
        "rate_as_of": p.rate_as_of,
    })
}

/// A fiat price as buyers read it, its value unchanged: the currency's
/// sign, the amount with thousands separated and padded to the currency's
/// minor unit (never rounded), and the code, e.g. `¥1,199.00 CNY`.
pub(super) fn price_text(price: &str, currency: &str) -> String {
    let (sign, minor) = currency_format(currency);
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let mut frac = frac.to_string();
    while frac.len() < minor {
        frac.push('0');
    }
    let amount = if frac.is_empty() {
        grouped
    } else {
        format!("{grouped}.{frac}")
    };
    format!("{sign}{amount} {currency}")
}

/// A currency's sign (empty when it has none of its own) and how many
/// decimal places its minor unit has.
fn currency_format(code: &str) -> (&'static str, usize) {
    match code {
        "CNY" | "RMB" => ("¥", 2),
        "JPY" => ("¥", 0),
        "USD" => ("$", 2),
        "EUR" => ("€", 2),
        "GBP" => ("£", 2),
        "HKD" => ("HK$", 2),
        "TWD" => ("NT$", 2),
        "SGD" => ("S$", 2),
        "AUD" => ("A$", 2),
        "CAD" => ("CA$", 2),
        "NZD" => ("NZ$", 2),
        "MXN" => ("MX$", 2),
        "BRL" => ("R$", 2),
        "KRW" => ("₩", 0),
        "VND" => ("₫", 0),
        "INR" => ("₹", 2),
        "RUB" => ("₽", 2),
        "UAH" => ("₴", 2),
        "TRY" => ("₺", 2),
        "ILS" => ("₪", 2),
        "PHP" => ("₱", 2),
        "THB" => ("฿", 2),
        "NGN" => ("₦", 2),
        "CLP" | "ISK" | "PYG" | "UGX" | "XAF" | "XOF" | "IDR" => ("", 0),
        "KWD" | "BHD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => ("", 3),
        _ => ("", 2),
    }
}

/// The status a buyer is shown: nothing about risk screening. A held
/// invoice is paid and waiting, as far as the buyer can tell; a rejected
/// one is invalid.
fn buyer_status(status: InvoiceStatus) -> InvoiceStatus {
    match status {
        InvoiceStatus::Held => InvoiceStatus::Paid,
        InvoiceStatus::Rejected => InvoiceStatus::Invalid,
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fiat_price_keeps_its_value_and_gets_the_currency_s_minor_unit() {
        assert_eq!(price_text("199", "CNY"), "¥199.00 CNY");
        assert_eq!(price_text("27.5", "USD"), "$27.50 USD");
        assert_eq!(price_text("1234567.891", "EUR"), "€1,234,567.891 EUR");
        assert_eq!(price_text("1500", "JPY"), "¥1,500 JPY");
        assert_eq!(price_text("0.5", "KWD"), "0.500 KWD");
        assert_eq!(price_text("999", "XYZ"), "999.00 XYZ");
        assert_eq!(price_text("100000", "CNY"), "¥100,000.00 CNY");
    }
}
