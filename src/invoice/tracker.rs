//! Moves invoices through their states from the payment events in the
//! feed, and expires the ones nobody paid. Each step writes the changed
//! invoices, the `invoice.*` events they cause and the tracker's position
//! in one batch, so a restart neither loses nor repeats a transition.

use crate::amount::Amount;
use crate::clock::now_secs;
use crate::event::EventType;
use crate::invoice_record::{
    Candidate, Invoice, InvoiceEvent, InvoiceEventType, InvoicePayment, InvoiceStatus,
    TrackerEvent, UnmatchedPayment,
};
use crate::store::{Store, StoreError};
use crate::transfer::{Asset, BlockRef, Direction, Risk, Transfer, WatchRef};
use serde::Deserialize;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const BATCH: usize = 512;

#[derive(Deserialize)]
pub(super) struct PaymentView {
    pub(super) id: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) chain: String,
    pub(super) network: String,
    pub(super) direction: String,
    pub(super) address: String,
    pub(super) txid: String,
    pub(super) index: u32,
    pub(super) amount: Amount,
    /// Absent for a mempool transaction.
    #[serde(default)]
    pub(super) block: Option<BlockRef>,
    /// 0 for a mempool transaction.
    #[serde(default)]
    pub(super) confirmations: Option<u64>,
    pub(super) asset: Asset,
    #[serde(default)]
    pub(super) mempool: Option<MempoolView>,
    #[serde(default)]
    pub(super) output_kept: Option<bool>,
    #[serde(default)]
    pub(super) watch: WatchRef,
    /// The other side: the receiver of an outgoing payment.
    #[serde(default)]
    pub(super) counterparty: Option<String>,
    /// What risk screening found.
    #[serde(default)]
    pub(super) risk: Risk,
}

#[derive(Deserialize)]
pub(super) struct MempoolView {
    rbf: bool,
    full_rbf: bool,
}

/// How the tracker treats one chain's invoices.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChainPolicy {
    pub zero_conf: ZeroConf,
    /// The chain's `confirmations`: the depth of its `payment.confirmed`.
    pub confirmations: u64,
    /// Seconds a shared-address invoice keeps its unique amount after it
    /// expired or was cancelled (`amount_reuse_after`).
    pub amount_reuse_after: u64,
}

/// When a mempool payment counts as confirmed for an invoice, per chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZeroConf {
    pub enabled: bool,
    /// Also when the transaction can be replaced.
    pub rbf: bool,
}

impl PaymentView {
    /// A mined transfer as its `payment.detected` event shows it: what an
    /// attach by hand credits.
    pub(super) fn of_transfer(t: &Transfer, network: &str) -> Self {
        let e = crate::event::Event::for_transfer(EventType::Detected, network, t, 0);
        PaymentView {
            id: e.id,
            kind: EventType::Detected.name().to_string(),
            chain: t.chain.clone(),
            network: network.to_string(),
            direction: "in".into(),
            address: t.address.clone(),
            txid: t.txid.to_string(),
            index: t.index,
            amount: t.amount,
            block: Some(t.block),
            confirmations: None,
            asset: t.asset.clone(),
            mempool: None,
            output_kept: None,
            watch: t.watch.clone(),
            counterparty: t.counterparty.clone(),
            risk: t.risk.clone(),
        }
    }

    fn height(&self) -> u64 {
        self.block.as_ref().map_or(0, |b| b.height)
    }

    /// A mempool payment the chain's policy accepts at zero confirmations.
    fn zero_conf_ok(&self, policy: ZeroConf) -> bool {
        match &self.mempool {
            Some(m) => policy.enabled && (policy.rbf || !(m.rbf || m.full_rbf)),
            None => false,
        }
    }
}

fn rank(s: InvoiceStatus) -> u8 {
    match s {
        InvoiceStatus::Pending => 0,
        InvoiceStatus::Underpaid => 1,
        InvoiceStatus::Paid | InvoiceStatus::PaidLate => 2,
        InvoiceStatus::Confirmed | InvoiceStatus::Settled | InvoiceStatus::Held => 3,
        InvoiceStatus::Expired
        | InvoiceStatus::Cancelled
        | InvoiceStatus::Invalid
        | InvoiceStatus::Rejected => 0,
    }
}

/// Ends an open invoice as `status` (expired or cancelled); on a shared
/// address its amount stays reserved for `reuse_after` seconds.
pub(super) fn close(inv: &mut Invoice, status: InvoiceStatus, reuse_after: u64) {
    inv.closed = Some(status);
    inv.status = status;
    reserve(inv, reuse_after);
}

/// On a shared or pool address, keeps what the invoice holds (its unique
/// amount or its address) for `reuse_after` seconds from now.
pub(super) fn reserve(inv: &mut Invoice, reuse_after: u64) {
    if inv.derivation_index.is_none() {
        inv.amount_reserved_until = Some(now_secs().saturating_add(reuse_after));
    }
}

/// An `invoice.*` event: the invoice, and the payment event that caused it.
pub(super) fn event(
    inv: &Invoice,
    kind: InvoiceEventType,
    trigger: Option<&PaymentView>,
    key: u64,
) -> TrackerEvent {
    TrackerEvent::Invoice(Box::new(InvoiceEvent {
        id: format!("invoice:{}:{}:{key}", inv.id, kind.suffix()),
        kind,
        seq: 0,
        chain: inv.chain.clone(),
        network: inv.network.clone(),
        direction: Direction::In,
        address: inv.address.clone(),
        asset: inv.asset.clone(),
        amount: inv.received(false),
        watch: WatchRef {
            label: Some(inv.order_id.clone()),
            metadata: inv.metadata.clone(),
        },
        invoice: inv.clone(),
        txid: trigger.map(|t| t.txid.clone()),
        index: trigger.map(|t| t.index),
        block: trigger.and_then(|t| t.block),
        confirmations: trigger.and_then(|t| t.confirmations),
        payment_event: trigger.map(|t| t.id.clone()),
        refund: None,
        own_key: false,
    }))
}

/// `invoice.unmatched_payment` for payment `p`, event `key` of the feed.
fn unmatched(p: &PaymentView, key: u64, candidates: &[&Invoice]) -> TrackerEvent {
    TrackerEvent::Unmatched(Box::new(UnmatchedPayment {
        id: format!("invoice:unmatched_payment:{key}"),
        kind: "invoice.unmatched_payment",
        seq: 0,
        chain: p.chain.clone(),
        network: p.network.clone(),
        direction: Direction::In,
        address: p.address.clone(),
        asset: p.asset.clone(),
        amount: p.amount,
        watch: p.watch.clone(),
        txid: p.txid.clone(),
        index: p.index,
        block: p.block,
        confirmations: p.confirmations,
        payment_event: p.id.clone(),
        candidates: candidates
            .iter()
            .map(|inv| Candidate {
                id: inv.id.clone(),
                order_id: inv.order_id.clone(),
                amount_due: inv.amount_due.clone(),
                least_payable: inv.least_payable().to_whole(inv.asset.decimals),
            })
            .collect(),
    }))
}

impl Invoice {
    /// Recomputes the status from the payments; returns the events the
    /// change causes. A status set by hand stays: payments only change
    /// what was paid.
    pub(super) fn settle(
        &mut self,
        trigger: Option<&PaymentView>,
        key: u64,
        reuse_after: u64,
    ) -> Vec<TrackerEvent> {
        // Another option of its order was paid first: everything it gets
        // is an excess to refund, and its status stays.
        if self.superseded_by.is_some() {
            let seen = self.received(false);
            let had = Amount::from_whole(&self.paid, self.asset.decimals).unwrap_or_default();
            self.paid = seen.to_whole(self.asset.decimals);
            self.excess = (!seen.is_zero()).then(|| seen.to_whole(self.asset.decimals));
            return if seen > had {
                vec![event(self, InvoiceEventType::Overpaid, trigger, key)]
            } else {
                Vec::new()
            };
        }
        let due = self.amount_due_base;
        // What pays it: the amount due, less the tolerance.
        let mut enough = self.least_payable();
        let seen = self.received(false);
        // Re-priced: the old price still pays when reached within the
        // grace period, and then for good.
        if let Some(prev) = self.pricing.as_mut().and_then(|p| p.previous.as_mut()) {
            if !prev.honoured && seen >= prev.least_payable && now_secs() <= prev.until {
                prev.honoured = true;
            }
            if prev.honoured {
                enough = enough.min(prev.least_payable);
            }
        }
        let confirmed = self.received(true);
        let before = self.status;
        let had_excess = self.excess.is_some();
        let paid_before = self.paid.clone();
        self.paid = seen.to_whole(self.asset.decimals);
        self.excess = seen
            .checked_sub(due)
            .filter(|x| !x.is_zero())
            .map(|x| x.to_whole(self.asset.decimals));
        self.status = match self.closed {
            _ if before.is_manual() => before,
            Some(_) if seen >= enough => InvoiceStatus::PaidLate,
            Some(closed) => closed,
            None if seen.is_zero() => InvoiceStatus::Pending,
            None if seen < enough => InvoiceStatus::Underpaid,
            None if confirmed >= enough && self.held() => InvoiceStatus::Held,
            None if confirmed >= enough => InvoiceStatus::Confirmed,
            None => InvoiceStatus::Paid,
        };
        self.amount_short = match self.status {
            _ if before.is_manual() => self.amount_short.take(),
            InvoiceStatus::Paid
            | InvoiceStatus::Confirmed
            | InvoiceStatus::Held
            | InvoiceStatus::PaidLate => due
                .checked_sub(seen)
                .filter(|x| !x.is_zero())
                .map(|x| x.to_whole(self.asset.decimals)),
            _ => None,
        };
        let mut out: Vec<TrackerEvent> = Vec::new();
        let after = self.status;
        // A pool address stays this invoice's a while after it is paid, so
        // a second payment from its buyer does not credit the next holder.
        if self.pooled
            && after != before
            && matches!(after, InvoiceStatus::Confirmed | InvoiceStatus::PaidLate)
        {
            let until = now_secs().saturating_add(reuse_after);
            self.amount_reserved_until =
                Some(self.amount_reserved_until.map_or(until, |u| u.max(until)));
        }
        if rank(after) < rank(before) || (before == InvoiceStatus::PaidLate && after != before) {
            // A block reorg, or a mempool payment replaced, double-spent
            // or dropped.
            let why = match trigger.map(|t| t.kind.as_str()) {
                Some("payment.reorged") | None => InvoiceEventType::Reorged,
                Some(_) => InvoiceEventType::Reverted,
            };
            out.push(event(self, why, trigger, key));
            // A block reorg after expiry keeps the invoice open (the
            // payment was on time and is likely mined again); a mempool
            // payment that is gone will not come back.
            if why == InvoiceEventType::Reverted
                && self.status.is_open()
                && self.expires_at <= now_secs()
            {
                close(self, InvoiceStatus::Expired, reuse_after);
                out.push(event(
                    self,
                    InvoiceEventType::Expired,
                    None,
                    self.expires_at,
                ));
            }
            return out;
        }
        match after {
            InvoiceStatus::Underpaid if self.paid != paid_before => {
                out.push(event(self, InvoiceEventType::Underpaid, trigger, key))
            }
            InvoiceStatus::PaidLate if before != after => {
                out.push(event(self, InvoiceEventType::PaidLate, trigger, key))
            }
            InvoiceStatus::Paid if before != after => {
                out.push(event(self, InvoiceEventType::Paid, trigger, key))
            }
            InvoiceStatus::Confirmed | InvoiceStatus::Held if before != after => {
                if rank(before) < rank(InvoiceStatus::Paid) {
                    out.push(event(self, InvoiceEventType::Paid, trigger, key));
                }
                let kind = if after == InvoiceStatus::Held {
                    InvoiceEventType::Held
                } else {
                    InvoiceEventType::Confirmed
                };
                out.push(event(self, kind, trigger, key));
            }
            _ => {}
        }
        if self.excess.is_some() && !had_excess {
            out.push(event(self, InvoiceEventType::Overpaid, trigger, key));
        }
        out
    }

    /// Held for a decision: it holds flagged payments, one of its payments
    /// is flagged so, and nobody released it yet.
    pub(super) fn held(&self) -> bool {
        self.hold_flagged
            && !self.released
            && self
                .payments
                .iter()
                .any(|p| p.flags.iter().any(|f| f.holds()))
    }

    /// Whether payment event `p` finds the payment confirmed for this
    /// invoice: at the chain's policy, or at the invoice's own
    /// `confirmations` (0: zero-conf under the chain's RBF rule; more:
    /// that deep, which a later block may reach instead).
    fn counts_confirmed(&self, p: &PaymentView, policy: &ChainPolicy) -> bool {
        let confirmed_event = p.kind == "payment.confirmed";
        match self.confirmations {
            None => confirmed_event || p.zero_conf_ok(policy.zero_conf),
            Some(0) => {
                p.block.is_some()
                    || p.zero_conf_ok(ZeroConf {
                        enabled: true,
                        rbf: policy.zero_conf.rbf,
                    })
            }
            Some(c) => {
                p.block.is_some()
                    && ((confirmed_event && c <= policy.confirmations)
                        || p.confirmations.unwrap_or(0) >= c)
            }
        }
    }

    /// Applies one payment event to the invoice; `true` when it counted.
    fn apply(&mut self, p: &PaymentView, policy: &ChainPolicy) -> bool {
        let pos = self
            .payments
            .iter()
            .position(|x| x.txid == p.txid && x.index == p.index);
        let confirmed = self.counts_confirmed(p, policy);
        match (p.kind.as_str(), pos) {
            ("payment.detected", None) => self.payments.push(InvoicePayment {
                txid: p.txid.clone(),
                index: p.index,
                amount: p.amount,
                height: p.height(),
                confirmed,
                mempool: p.mempool.is_some(),
                flags: p.risk.flags.clone(),
            }),
            // Seen in the mempool, now mined: the same payment.
            ("payment.detected", Some(i)) if p.block.is_some() && self.payments[i].mempool => {
                self.payments[i].height = p.height();
                self.payments[i].mempool = false;
                if self.confirmations.is_some() {
                    self.payments[i].confirmed |= confirmed;
                }
            }
            ("payment.replaced" | "payment.double_spent" | "payment.dropped", Some(i))
                if self.payments[i].mempool =>
            {
                self.payments.remove(i);
            }
            // Not yet counted: nothing to take back.
            ("payment.replaced" | "payment.double_spent" | "payment.dropped", None) => {
                return false
            }
            ("payment.confirmed", Some(i)) => self.payments[i].confirmed |= confirmed,
            ("payment.confirmed", None) => self.payments.push(InvoicePayment {
                txid: p.txid.clone(),
                index: p.index,
                amount: p.amount,
                height: p.height(),
                confirmed,
                mempool: false,
                flags: p.risk.flags.clone(),
            }),
            ("payment.reorged", Some(i)) => {
                self.payments.remove(i);
            }
            _ => return false,
        }
        true
    }
}

/// Follows the feed until `stop`; `policies` by chain name.
pub async fn run(
    store: Arc<Store>,
    policies: HashMap<String, ChainPolicy>,
    mut stop: watch::Receiver<bool>,
) {
    let mut events = store.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let busy = match tokio::task::block_in_place(|| step(&store, &policies)) {
            Ok(busy) => busy,
            Err(e) => {
                tracing::error!("invoice tracker: {e}");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = events.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One batch; `true` when more may be waiting.
fn step(store: &Store, policies: &HashMap<String, ChainPolicy>) -> Result<bool, StoreError> {
    let _edit = store.invoice_edit();
    let cursor = store.invoice_cursor()?;
    let batch = store.events_after_raw(cursor, BATCH)?;
    let mut touched: HashMap<String, Invoice> = HashMap::new();
    let mut out = Vec::new();
    let mut last = None;
    for (seq, raw) in &batch {
        last = Some(*seq);
        let Ok(p) = serde_json::from_slice::<PaymentView>(raw) else {
            continue; // invoice events and anything else
        };
        // Zero-value and dust transfers never count toward an invoice
        // (reported only with `report_dust`); `payment.flagged` repeats a
        // payment's other event.
        if !p.kind.starts_with("payment.") || p.kind == "payment.flagged" || p.risk.is_dust() {
            continue;
        }
        // An outgoing payment may pay a refund to its receiver.
        if p.direction == "out" {
            if let Some(to) = p.counterparty.as_deref() {
                for inv in store.invoices_refunding(&p.chain, to)? {
                    let mut inv = touched.remove(&inv.id).unwrap_or(inv);
                    out.extend(super::refund::follow(&mut inv, &p, *seq));
                    touched.insert(inv.id.clone(), inv);
                }
            }
            continue;
        }
        if p.direction != "in" {
            continue;
        }
        let mut candidates: Vec<Invoice> = Vec::new();
        for inv in store.invoices_at(&p.chain, &p.address)? {
            candidates.push(touched.remove(&inv.id).unwrap_or(inv));
        }
        let asset_matches = |inv: &Invoice| {
            inv.asset.symbol == p.asset.symbol && inv.asset.contract == p.asset.contract
        };
        // On a shared address the amount tells the invoice; on a derived
        // one there is one invoice.
        let has = |inv: &Invoice| {
            inv.payments
                .iter()
                .any(|x| x.txid == p.txid && x.index == p.index)
        };
        // The chain's shared invoice address is watched with this mark,
        // so a payment to it is told apart even before any invoice used it.
        let shared = p.watch.metadata["shared_invoice_address"] == true
            || candidates.iter().any(|inv| inv.derivation_index.is_none());
        // A pool address credits the invoice holding it, whatever the
        // amount; while none does, the payment is reported.
        let pooled =
            p.watch.metadata["invoice_pool"] == true || candidates.iter().any(|inv| inv.pooled);
        let chosen = if pooled {
            match candidates.iter().position(has) {
                Some(i) => Some(i),
                None => {
                    let owner = store.pool_owner(&p.chain, &p.address, now_secs())?;
                    match owner.and_then(|id| candidates.iter().position(|inv| inv.id == id)) {
                        // Only when detected: a payment made before the
                        // holder got the address is not its buyer's.
                        Some(i) => Some(i).filter(|&i| {
                            asset_matches(&candidates[i]) && p.kind == "payment.detected"
                        }),
                        None => {
                            if p.kind == "payment.detected" && p.block.is_some() {
                                out.push(unmatched(&p, *seq, &[]));
                            }
                            None
                        }
                    }
                }
            }
        } else if !shared {
            candidates.iter().position(asset_matches)
        } else if let Some(i) = candidates.iter().position(has) {
            Some(i)
        } else {
            // The invoice that holds exactly this amount: an open one, or
            // one that ended recently and keeps it for its late payer.
            // Never an older or newer invoice that merely asked for the
            // same amount.
            let owner = store.unique_amount_owner(
                &p.chain,
                &p.address,
                &p.asset.symbol,
                p.amount.base(),
                now_secs(),
            )?;
            // Only when the payment is detected: a payment that credited
            // nothing then (made before any invoice held its amount) does
            // not pay an invoice handed that amount before it confirmed.
            let exact = owner
                .filter(|_| p.kind == "payment.detected")
                .and_then(|id| {
                    candidates.iter().position(|inv| {
                        inv.id == id
                            && asset_matches(inv)
                            && (inv.amount_due_base == p.amount
                                || inv.previous_due(now_secs()) == Some(p.amount))
                            && inv.payments.is_empty()
                    })
                });
            // Short of every amount due: the one invoice whose tolerance
            // reaches down to it, and none when two or more do. Decided
            // when the payment is detected: a later event of a payment
            // left unmatched (its confirmation, once another candidate
            // was paid) does not credit it after all.
            let now = now_secs();
            let short = || {
                if p.kind != "payment.detected" {
                    return None;
                }
                let within: Vec<usize> = candidates
                    .iter()
                    .enumerate()
                    .filter(|(_, inv)| {
                        asset_matches(inv)
                            && inv.payments.is_empty()
                            && holds_amount(inv, now)
                            && inv.least_payable() <= p.amount
                            && p.amount < inv.amount_due_base
                    })
                    .map(|(i, _)| i)
                    .collect();
                match within[..] {
                    [one] => Some(one),
                    _ => {
                        // Reported once, when mined (a mempool sighting
                        // may never be).
                        if p.block.is_some() {
                            let mut named: Vec<&Invoice> =
                                within.iter().map(|&i| &candidates[i]).collect();
                            named.sort_by_key(|inv| (inv.amount_due_base, inv.created_at));
                            out.push(unmatched(&p, *seq, &named));
                        }
                        None
                    }
                }
            };
            exact.or_else(short)
        };
        if let Some(i) = chosen {
            let mut inv = candidates.swap_remove(i);
            let policy = policies.get(&p.chain).copied().unwrap_or_default();
            // A replacement that keeps the invoice's output is reported
            // with it, in the same batch: the payment moves to the new
            // transaction without the invoice going back and forth.
            let quiet = p.kind == "payment.replaced" && p.output_kept == Some(true);
            if inv.apply(&p, &policy) && !quiet {
                out.extend(inv.settle(Some(&p), *seq, policy.amount_reuse_after));
            }
            touched.insert(inv.id.clone(), inv);
        }
        for inv in candidates {
            touched.insert(inv.id.clone(), inv);
        }
    }
    deepen(store, policies, &mut touched, &mut out)?;
    super::choice::decide(store, &mut touched, &mut out, |chain| {
        policies.get(chain).map_or(0, |p| p.amount_reuse_after)
    })?;
    let now = now_secs();
    for inv in store.expired_invoices(now, BATCH)? {
        let mut inv = touched.remove(&inv.id).unwrap_or(inv);
        if inv.status.is_open() && inv.expires_at <= now {
            let reuse_after = policies.get(&inv.chain).map_or(0, |p| p.amount_reuse_after);
            close(&mut inv, InvoiceStatus::Expired, reuse_after);
            out.push(event(&inv, InvoiceEventType::Expired, None, inv.expires_at));
        }
        touched.insert(inv.id.clone(), inv);
    }
    if last.is_none() && touched.is_empty() {
        return Ok(false);
    }
    let changed: Vec<Invoice> = touched.into_values().collect();
    count(&store.commit_invoices(&changed, out, last)?);
    Ok(batch.len() == BATCH)
}

/// Confirms the payments of invoices with their own `confirmations` that
/// new blocks have buried deep enough: no payment event says so when the
/// invoice's depth is not the chain's.
fn deepen(
    store: &Store,
    policies: &HashMap<String, ChainPolicy>,
    touched: &mut HashMap<String, Invoice>,
    out: &mut Vec<TrackerEvent>,
) -> Result<(), StoreError> {
    for (chain, policy) in policies {
        let Some((tip, _)) = store.cursor(chain)? else {
            continue;
        };
        let mut waiting: Vec<Invoice> = Vec::new();
        for inv in store.invoices_awaiting_depth(chain)? {
            waiting.push(touched.remove(&inv.id).unwrap_or(inv));
        }
        let ids: Vec<String> = touched
            .values()
            .filter(|inv| inv.chain == *chain && inv.awaits_depth())
            .map(|inv| inv.id.clone())
            .collect();
        waiting.extend(ids.iter().filter_map(|id| touched.remove(id)));
        for mut inv in waiting {
            let need = inv.confirmations.unwrap_or(policy.confirmations);
            let mut deeper = false;
            for p in &mut inv.payments {
                if !p.confirmed
                    && !p.mempool
                    && p.height > 0
                    && crate::event::confirmations(tip, p.height) >= need
                {
                    p.confirmed = true;
                    deeper = true;
                }
            }
            if deeper {
                let events = inv.settle(None, 0, policy.amount_reuse_after);
                out.extend(events.into_iter().map(TrackerEvent::keyed_by_own_seq));
            }
            touched.insert(inv.id.clone(), inv);
        }
    }
    Ok(())
}

/// Whether a shared-address invoice still holds its amount: open, or
/// ended and keeping it for a late payer.
fn holds_amount(inv: &Invoice, now: u64) -> bool {
    inv.status.is_open() || inv.amount_reserved_until.is_some_and(|u| u > now)
}

/// Counts written events: `paywatch_events_total` by type, and
/// `paywatch_invoices_total` by what happened to the invoice.
pub(super) fn count(events: &[TrackerEvent]) {
    for e in events {
        let (chain, symbol) = match e {
            TrackerEvent::Invoice(e) => (&e.chain, &e.asset.symbol),
            TrackerEvent::Unmatched(e) => (&e.chain, &e.asset.symbol),
        };
        metrics::counter!(crate::telemetry::EVENTS, "chain" => chain.clone(), "type" => e.name())
            .increment(1);
        metrics::counter!(crate::telemetry::INVOICES, "chain" => chain.clone(),
            "asset" => symbol.clone(), "outcome" => e.outcome())
        .increment(1);
    }
}

/// Cancels an open invoice; returns it, or the status that prevents it.
/// `reuse_after` gives a chain's `amount_reuse_after`.
pub fn cancel(
    store: &Store,
    id: &str,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Option<Result<Invoice, InvoiceStatus>>, StoreError> {
    let _edit = store.invoice_edit();
    let Some(mut inv) = store.invoice(id)? else {
        return Ok(None);
    };
    if !inv.status.is_open() {
        return Ok(Some(Err(inv.status)));
    }
    let reuse = reuse_after(&inv.chain);
    close(&mut inv, InvoiceStatus::Cancelled, reuse);
    let e = vec![event(&inv, InvoiceEventType::Cancelled, None, 0)];
    count(&store.commit_invoices(std::slice::from_ref(&inv), e, None)?);
    Ok(Some(Ok(inv)))
}
