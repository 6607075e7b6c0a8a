//! Refunds, watch-only. paywatch holds no keys and sends nothing: a refund
//! is a payment request the other way, a URI and QR code for the
//! merchant's own wallet, which paywatch then follows on chain. The
//! merchant pays from the invoice's address or one of the chain's
//! `refund_from` addresses (both watched), so the payment shows as an
//! outgoing transfer whose counterparty is the buyer:
//!
//! | status      | when                                                        | event              |
//! |-------------|-------------------------------------------------------------|--------------------|
//! | `requested` | `POST /v1/invoices/{id}/refunds`                            | `refund.requested` |
//! | `sent`      | a mined outgoing transfer pays at least its amount to its address | `refund.sent` |
//! | `completed` | that transfer is confirmed                                  | `refund.completed` |
//!
//! A reorg that takes the transfer away moves the refund back to
//! `requested` (`refund.reorged`). A payment to another address, in
//! another asset, of less than the amount, or from an address that is not
//! the merchant's does not count.

use super::manual::{check_note, ByHand, ManualError};
use super::service::InvoiceChain;
use super::tracker::{count, event, PaymentView};
use crate::amount::{to_base, Amount};
use crate::clock::now_secs;
use crate::invoice_record::{Invoice, InvoiceEventType, Refund, RefundStatus, TrackerEvent};
use crate::store::Store;
use crate::transfer::{Direction, Hash32};

/// `POST /v1/invoices/{id}/refunds`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Whole units of the invoice's asset.
    pub amount: String,
    /// The invoice's asset; no other is taken.
    #[serde(default)]
    pub asset: Option<String>,
    /// Where the buyer gets it; on account chains the sender of the
    /// invoice's payments when absent.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// An `invoice.*`-shaped event about refund `r` of `inv`.
fn refund_event(
    inv: &Invoice,
    kind: InvoiceEventType,
    r: &Refund,
    trigger: Option<&PaymentView>,
    key: u64,
) -> TrackerEvent {
    let mut e = event(inv, kind, trigger, key);
    if let TrackerEvent::Invoice(e) = &mut e {
        e.direction = Direction::Out;
        e.amount = r.amount_base;
        e.refund = Some(r.clone());
    }
    e
}

/// Asks for a refund of `r.amount` from invoice `id`: checked against what
/// its payments brought in (less earlier refunds), recorded, and announced
/// with `refund.requested`.
pub fn request(
    store: &Store,
    chain: &InvoiceChain,
    id: &str,
    r: RefundRequest,
    by: Option<String>,
) -> Result<Invoice, ManualError> {
    let who = ByHand {
        by,
        note: check_note(r.note.as_deref())?,
    };
    let _edit = store.invoice_edit();
    let mut inv = store
        .invoice(id)?
        .ok_or_else(|| ManualError::NotFound(id.into()))?;
    if let Some(asset) = r.asset.as_deref() {
        if !asset.eq_ignore_ascii_case(&inv.asset.symbol) {
            return Err(ManualError::Invalid(
                "invalid_asset",
                format!(
                    "asset: a refund is paid in the invoice's asset, {}, not `{asset}`",
                    inv.asset.symbol
                ),
            ));
        }
    }
    let decimals = inv.asset.decimals;
    let amount: Amount = to_base(r.amount.trim(), decimals)
        .map_err(|e| ManualError::Invalid("invalid_amount", format!("amount: {e}")))?
        .into();
    if amount.is_zero() {
        return Err(ManualError::Invalid(
            "invalid_amount",
            "amount: a refund is more than 0".into(),
        ));
    }
    let paid = inv.received(false);
    let refunded = inv
        .refunds
        .iter()
        .try_fold(Amount::default(), |sum, x| sum.checked_add(x.amount_base));
    let total = refunded.and_then(|sum| sum.checked_add(amount));
    if total.is_none_or(|t| t > paid) {
        return Err(ManualError::Conflict(
            "refund_exceeds_paid",
            format!(
                "invoice `{id}` was paid {} {sym}{}; a refund of {} {sym} is more than that",
                paid.to_whole(decimals),
                match refunded {
                    Some(x) if !x.is_zero() =>
                        format!(", of which {} is refunded already", x.to_whole(decimals)),
                    _ => String::new(),
                },
                amount.to_whole(decimals),
                sym = inv.asset.symbol,
            ),
        ));
    }
    let from = chain.refund_sources(&inv.address);
    let address = match r.address.as_deref() {
        Some(a) => chain
            .parse_address(a)
            .map_err(|e| ManualError::Invalid("invalid_address", format!("address: {e}")))?,
        None => sender_of(store, chain, &inv)?,
    };
    if from.contains(&address) {
        return Err(ManualError::Invalid(
            "invalid_address",
            format!("address: {address} is the merchant's own address, not the buyer's"),
        ));
    }
    let rid = format!("{}-r{}", inv.id, inv.refunds.len() + 1);
    let refund = Refund {
        qr_svg_url: format!("/v1/invoices/{}/qr.svg?refund={rid}", inv.id),
        id: rid,
        status: RefundStatus::Requested,
        amount: amount.to_whole(decimals),
        amount_base: amount,
        payment_uri: chain.payment_uri(
            &address,
            &inv.asset,
            amount.base(),
            &format!("refund {}", inv.order_id),
        ),
        address,
        from,
        created_at: now_secs(),
        by: who.by,
        note: who.note,
        txid: None,
        index: None,
        height: None,
    };
    inv.refunds.push(refund.clone());
    let e =
        refund_event(&inv, InvoiceEventType::RefundRequested, &refund, None, 0).keyed_by_own_seq();
    count(&store.commit_invoices(std::slice::from_ref(&inv), vec![e], None)?);
    Ok(inv)
}

/// Who paid the invoice, on an account chain: the one sender of its
/// payments. A Bitcoin transaction does not say which of its inputs' owners
/// paid, so there the address must be given.
fn sender_of(store: &Store, chain: &InvoiceChain, inv: &Invoice) -> Result<String, ManualError> {
    let required = |why: String| ManualError::Invalid("address_required", why);
    if chain.is_bitcoin() {
        return Err(required(
            "address: give the buyer's address: a Bitcoin transaction does not tell which of \
             its senders paid"
                .into(),
        ));
    }
    let mut senders: Vec<String> = Vec::new();
    for p in &inv.payments {
        let Ok(hash) = Hash32::from_hex(&p.txid) else {
            continue;
        };
        for t in store.transfers_by_txid(&inv.chain, &hash)? {
            if t.direction == Direction::In && t.index == p.index && t.address == inv.address {
                if let Some(c) = t.counterparty {
                    if !senders.contains(&c) {
                        senders.push(c);
                    }
                }
            }
        }
    }
    match senders.len() {
        1 => Ok(senders.remove(0)),
        0 => Err(required(
            "address: the sender of this invoice's payments is not known; give the address to \
             refund"
                .into(),
        )),
        _ => Err(required(format!(
            "address: this invoice was paid from {}: give the one to refund",
            senders.join(", ")
        ))),
    }
}

/// Applies outgoing payment event `p` (event `key` of the feed) to the
/// refunds of `inv` it concerns; returns the events it causes.
pub(super) fn follow(inv: &mut Invoice, p: &PaymentView, key: u64) -> Vec<TrackerEvent> {
    let mut out = Vec::new();
    let Some(to) = p.counterparty.as_deref() else {
        return out;
    };
    let asset_matches =
        inv.asset.symbol == p.asset.symbol && inv.asset.contract == p.asset.contract;
    let mut changed: Vec<(usize, InvoiceEventType)> = Vec::new();
    let same = |r: &Refund| r.txid.as_deref() == Some(p.txid.as_str()) && r.index == Some(p.index);
    match p.kind.as_str() {
        "payment.detected" | "payment.confirmed" => {
            let i = inv.refunds.iter().position(&same).or_else(|| {
                // One payment pays one refund: the oldest it covers.
                let taken = inv
                    .refunds
                    .iter()
                    .any(|r| r.txid.as_deref() == Some(p.txid.as_str()));
                inv.refunds.iter().position(|r| {
                    !taken
                        && r.status == RefundStatus::Requested
                        && r.address == to
                        && r.from.contains(&p.address)
                        && asset_matches
                        && p.amount >= r.amount_base
                        && p.block.is_some()
                })
            });
            let Some(i) = i else { return out };
            let r = &mut inv.refunds[i];
            if r.status == RefundStatus::Requested {
                r.status = RefundStatus::Sent;
                r.txid = Some(p.txid.clone());
                r.index = Some(p.index);
                r.height = p.block.map(|b| b.height);
                changed.push((i, InvoiceEventType::RefundSent));
            }
            if p.kind == "payment.confirmed" && r.status == RefundStatus::Sent {
                r.status = RefundStatus::Completed;
                changed.push((i, InvoiceEventType::RefundCompleted));
            }
        }
        "payment.reorged" => {
            if let Some(i) = inv.refunds.iter().position(same) {
                let r = &mut inv.refunds[i];
                r.status = RefundStatus::Requested;
                r.txid = None;
                r.index = None;
                r.height = None;
                changed.push((i, InvoiceEventType::RefundReorged));
            }
        }
        _ => {}
    }
    for (i, kind) in changed {
        out.push(refund_event(inv, kind, &inv.refunds[i], Some(p), key));
    }
    out
}
