//! Changes a merchant makes by hand: marking an invoice settled or invalid,
//! and crediting a transaction the buyer says was theirs (`attach`). Each
//! is kept in the invoice's `history` with who made it and is an event of
//! its own.

use super::tracker::{count, event, reserve, PaymentView};
use crate::clock::now_secs;
use crate::invoice_record::{
    Invoice, InvoiceEventType, InvoicePayment, InvoiceStatus, ManualAction, ManualKind,
    TrackerEvent,
};
use crate::store::{Store, StoreError};
use crate::transfer::{Direction, Hash32, Transfer, TransferStatus};

/// The longest note kept with a change by hand, in bytes.
pub const MAX_NOTE: usize = 500;

/// Who made a change and why.
#[derive(Debug, Default, Clone)]
pub struct ByHand {
    /// The API key's name; `None` when the API needs no key.
    pub by: Option<String>,
    pub note: Option<String>,
}

/// Why a change by hand was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("no invoice `{0}`")]
    NotFound(String),
    /// The request itself is wrong (400).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The invoice's state does not allow it (409).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The transaction is not one paywatch found on chain (404).
    #[error("{1}")]
    NoTransaction(&'static str, String),
    /// The transaction does not pay this invoice (422).
    #[error("{1}")]
    NotForInvoice(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A note as given: trimmed, at most [`MAX_NOTE`] bytes, no control or
/// format characters.
pub fn check_note(note: Option<&str>) -> Result<Option<String>, ManualError> {
    let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.len() > MAX_NOTE
        || n.chars()
            .any(|c| c != '\n' && super::service::is_invisible(c))
    {
        return Err(ManualError::Invalid(
            "invalid_note",
            format!("note: at most {MAX_NOTE} bytes, no control or format characters"),
        ));
    }
    Ok(Some(n.to_string()))
}

fn record(inv: &mut Invoice, kind: ManualKind, who: &ByHand, txid: Option<String>) {
    inv.history.push(ManualAction {
        action: kind,
        at: now_secs(),
        by: who.by.clone(),
        note: who.note.clone(),
        from: inv.status,
        txid,
    });
}

/// Ends the invoice as `status` by hand; a shared-address invoice keeps
/// its unique amount for `reuse_after` seconds, so a late payment of it
/// still lands here rather than on a newer invoice.
fn mark(inv: &mut Invoice, status: InvoiceStatus, reuse_after: u64) {
    // As a cancellation would, without the `closed` it leaves: that
    // records how an invoice ended unpaid by itself.
    if inv.status.is_open() || inv.status == InvoiceStatus::Paid {
        reserve(inv, reuse_after);
    }
    inv.status = status;
}

/// Marks the invoice settled: paid, as far as the merchant is concerned
/// (paid some other way, or a shortfall accepted). Any status but
/// `confirmed` (paid in full on chain) and `settled`.
pub fn settle(
    store: &Store,
    id: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, ManualError> {
    end_by_hand(
        store,
        id,
        who,
        reuse_after,
        InvoiceStatus::Settled,
        |s| match s {
            InvoiceStatus::Confirmed => {
                Some(("not_settleable", "confirmed: it was paid in full on chain"))
            }
            InvoiceStatus::Settled => Some(("not_settleable", "settled already")),
            _ => None,
        },
    )
}

/// Marks the invoice invalid: the merchant will not fulfil it. Any status
/// but `invalid`; a later settle by hand can still undo it.
pub fn invalidate(
    store: &Store,
    id: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, ManualError> {
    end_by_hand(store, id, who, reuse_after, InvoiceStatus::Invalid, |s| {
        (s == InvoiceStatus::Invalid).then_some(("not_invalidatable", "invalid already"))
    })
}

/// Releases a held invoice: its flagged payments count as any other, and
/// it is confirmed (`invoice.released`, then `invoice.confirmed`).
pub fn release(
    store: &Store,
    id: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, ManualError> {
    let _edit = store.invoice_edit();
    let mut inv = load_unless(store, id, not_held)?;
    record(&mut inv, ManualKind::Released, who, None);
    inv.released = true;
    let follow = inv.settle(None, 0, reuse_after(&inv.chain));
    let mut e = vec![event(&inv, InvoiceEventType::Released, None, 0)];
    e.extend(follow);
    commit(store, &inv, e)?;
    Ok(inv)
}

/// Turns a held invoice down: `rejected`, final unless settled by hand
/// later (`invoice.rejected`). What to do with the funds is the
/// merchant's call (a refund, or nothing for frozen funds).
pub fn reject(
    store: &Store,
    id: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, ManualError> {
    end_by_hand(
        store,
        id,
        who,
        reuse_after,
        InvoiceStatus::Rejected,
        not_held,
    )
}

/// Release and reject take a held invoice only.
fn not_held(s: InvoiceStatus) -> Option<(&'static str, &'static str)> {
    (s != InvoiceStatus::Held).then_some((
        "not_held",
        "not held: only a held invoice is released or rejected",
    ))
}

/// The invoice `id`, unless `refused` names the code and reason its
/// status gives.
fn load_unless(
    store: &Store,
    id: &str,
    refused: impl Fn(InvoiceStatus) -> Option<(&'static str, &'static str)>,
) -> Result<Invoice, ManualError> {
    let inv = store
        .invoice(id)?
        .ok_or_else(|| ManualError::NotFound(id.into()))?;
    if let Some((code, why)) = refused(inv.status) {
        return Err(ManualError::Conflict(
            code,
            format!("invoice `{id}` is {why}"),
        ));
    }
    Ok(inv)
}

/// Moves the invoice to `to` (settled, invalid or rejected) by hand, unless
/// `refused` names the code and reason its status gives.
fn end_by_hand(
    store: &Store,
    id: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
    to: InvoiceStatus,
    refused: impl Fn(InvoiceStatus) -> Option<(&'static str, &'static str)>,
) -> Result<Invoice, ManualError> {
    let _edit = store.invoice_edit();
    let mut inv = load_unless(store, id, refused)?;
    let (kind, event_type) = match to {
        InvoiceStatus::Settled => (ManualKind::Settled, InvoiceEventType::Settled),
        InvoiceStatus::Rejected => (ManualKind::Rejected, InvoiceEventType::Rejected),
        _ => (ManualKind::Invalidated, InvoiceEventType::Invalidated),
    };
    record(&mut inv, kind, who, None);
    let reuse = reuse_after(&inv.chain);
    mark(&mut inv, to, reuse);
    let e = vec![event(&inv, event_type, None, 0)];
    commit(store, &inv, e)?;
    Ok(inv)
}

/// Writes a change by hand: its events' ids end in their own `seq`.
fn commit(store: &Store, inv: &Invoice, events: Vec<TrackerEvent>) -> Result<(), StoreError> {
    let events = events
        .into_iter()
        .map(TrackerEvent::keyed_by_own_seq)
        .collect();
    count(&store.commit_invoices(std::slice::from_ref(inv), events, None)?);
    Ok(())
}

/// Credits transaction `txid` to the invoice: paywatch looks it up in the
/// blocks it scanned, takes its outputs (or transfers) to the invoice's
/// address in the invoice's asset, and refuses a transaction it did not
/// find, one that pays no such output, and one already credited to an
/// invoice. The status then follows the payments as usual.
pub fn attach(
    store: &Store,
    id: &str,
    txid: &str,
    who: &ByHand,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, ManualError> {
    let hash = Hash32::from_hex(txid.trim()).map_err(|_| {
        ManualError::Invalid(
            "invalid_txid",
            format!("txid: `{txid}` is not a 32-byte hex transaction id"),
        )
    })?;
    let _edit = store.invoice_edit();
    let mut inv = store
        .invoice(id)?
        .ok_or_else(|| ManualError::NotFound(id.into()))?;
    if inv.status == InvoiceStatus::Invalid {
        return Err(ManualError::Conflict(
            "invoice_invalid",
            format!("invoice `{id}` is invalid; settle it by hand instead"),
        ));
    }
    let found: Vec<Transfer> = store
        .transfers_by_txid(&inv.chain, &hash)?
        .into_iter()
        .filter(|t| t.direction == Direction::In)
        .collect();
    if found.is_empty() {
        let height = store.cursor(&inv.chain)?.map_or(0, |(h, _)| h);
        return Err(ManualError::NoTransaction(
            "transaction_not_found",
            format!(
                "transaction {txid} is in no block paywatch has scanned on chain {} (up to \
                 height {height}) with an output to an address it watches: not mined yet, \
                 not on this chain, or paying none of its addresses",
                inv.chain
            ),
        ));
    }
    let ours: Vec<&Transfer> = found
        .iter()
        .filter(|t| {
            // Both in the chain's display form, as the tracker matches them.
            t.address == inv.address
                && t.asset.symbol == inv.asset.symbol
                && t.asset.contract == inv.asset.contract
        })
        .collect();
    if ours.is_empty() {
        let pays: Vec<String> = found
            .iter()
            .map(|t| {
                format!(
                    "{} {} to {}",
                    t.amount.to_whole(t.asset.decimals),
                    t.asset.symbol,
                    t.address
                )
            })
            .collect();
        return Err(ManualError::NotForInvoice(
            "transaction_not_for_invoice",
            format!(
                "transaction {txid} pays {}, not {} to {}",
                pays.join(", "),
                inv.asset.symbol,
                inv.address
            ),
        ));
    }
    let credited = |p: &InvoicePayment, t: &Transfer| {
        p.index == t.index && Hash32::from_hex(&p.txid).is_ok_and(|h| h == t.txid)
    };
    for other in store.invoices_at(&inv.chain, &inv.address)? {
        if other.id == inv.id {
            continue;
        }
        if let Some(t) = ours
            .iter()
            .find(|t| other.payments.iter().any(|p| credited(p, t)))
        {
            return Err(ManualError::Conflict(
                "payment_already_credited",
                format!(
                    "output {} of transaction {txid} is credited to invoice `{}` (order {})",
                    t.index, other.id, other.order_id
                ),
            ));
        }
    }
    let new: Vec<&Transfer> = ours
        .into_iter()
        .filter(|t| !inv.payments.iter().any(|p| credited(p, t)))
        .collect();
    let Some(first) = new.first() else {
        return Err(ManualError::Conflict(
            "payment_already_credited",
            format!("transaction {txid} is credited to this invoice already"),
        ));
    };
    let trigger = PaymentView::of_transfer(first, &inv.network);
    for t in &new {
        inv.payments.push(InvoicePayment {
            txid: t.txid.to_string(),
            index: t.index,
            amount: t.amount,
            height: t.block.height,
            confirmed: t.status == TransferStatus::Confirmed,
            mempool: false,
            flags: t.risk.flags.clone(),
        });
    }
    record(
        &mut inv,
        ManualKind::PaymentAttached,
        who,
        Some(first.txid.to_string()),
    );
    // The status follows first, so every event shows the invoice as the
    // attach left it.
    let follow = inv.settle(Some(&trigger), 0, reuse_after(&inv.chain));
    let mut e = vec![event(
        &inv,
        InvoiceEventType::PaymentAttached,
        Some(&trigger),
        0,
    )];
    e.extend(follow);
    commit(store, &inv, e)?;
    Ok(inv)
}
