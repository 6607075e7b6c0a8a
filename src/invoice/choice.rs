//! Invoices with payment options: the buyer picks the network.
//!
//! An order priced in fiat may offer several ways to pay (USDT on TRON,
//! USDT on Ethereum, BTC). The choice is stored on its own; an option gets
//! its address and amount, as an ordinary invoice of its chain, only when
//! the buyer chooses it (on the checkout page or through the API), so an
//! option nobody picks uses no derivation index, unique amount or pool
//! address.
//!
//! The first option paid wins. The other options' invoices are closed
//! (`cancelled`, their addresses still watched) and marked
//! `superseded_by` the winner: whatever they receive afterwards, and
//! whatever they had received, is reported as an excess to refund
//! (`invoice.overpaid`), never as a second payment of the order.

use super::rates::Rates;
use super::service::{self, CreateError, CreateRequest, InvoiceChain};
use super::tracker::{close, count, event};
use crate::clock::now_secs;
use crate::invoice_record::{
    Choice, ChoiceOption, Invoice, InvoiceEventType, InvoiceStatus, ToleranceRule, TrackerEvent,
};
use crate::store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The most options one order offers.
pub const MAX_OPTIONS: usize = 8;

/// How long an order with options stays open when the request does not
/// say: its options' chains may each have a default of their own.
const DEFAULT_EXPIRES_IN: u64 = 1800;

/// The chains that take invoices, by name.
pub type Chains = BTreeMap<String, Arc<InvoiceChain>>;

/// `POST /v1/invoices` with `options`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceRequest {
    pub options: Vec<OptionRequest>,
    pub price: Option<String>,
    pub currency: Option<String>,
    pub order_id: String,
    pub expires_in: Option<i64>,
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// A share (`"1%"`): an amount would differ by asset.
    pub underpayment_tolerance: Option<String>,
    pub rate_adjust: Option<String>,
    /// Whether flagged payments hold every option's invoice (each chain's
    /// `hold_flagged` when absent).
    #[serde(default)]
    pub hold_flagged: Option<bool>,
}

/// One option of a [`ChoiceRequest`].
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionRequest {
    pub chain: String,
    pub asset: String,
}

/// Why an option could not be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    #[error("{0}")]
    NotFound(String),
    /// The choice's state does not allow it (409).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// Creating the option's invoice failed.
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether an option's invoice pays the order: paid in full, on time or
/// late, or settled by hand.
pub fn pays(inv: &Invoice) -> bool {
    inv.superseded_by.is_none()
        && matches!(
            inv.status,
            InvoiceStatus::Paid
                | InvoiceStatus::Confirmed
                | InvoiceStatus::PaidLate
                | InvoiceStatus::Settled
        )
}

/// Records an order with payment options, or returns the one recorded for
/// its order id when the request is the same (`false`: not new).
pub fn create(
    store: &Store,
    chains: &Chains,
    rates: &Rates,
    r: ChoiceRequest,
) -> Result<(Choice, bool), CreateError> {
    let invalid = |code: &'static str, m: String| CreateError::Invalid(code, m);
    if !(2..=MAX_OPTIONS).contains(&r.options.len()) {
        return Err(invalid(
            "invalid_options",
            format!("options: 2 to {MAX_OPTIONS} ways to pay, each {{\"chain\",\"asset\"}}"),
        ));
    }
    let (Some(price), Some(currency)) = (r.price.as_deref(), r.currency.as_deref()) else {
        return Err(invalid(
            "invalid_amount",
            "an invoice with options is priced in fiat: give `price` and `currency` (each \
             option's amount comes from its rate)"
                .into(),
        ));
    };
    let (price, currency) = service::check_price(price, currency)?;
    let order_id = service::check_order_id(&r.order_id)?;
    let expires_in = service::check_expires_in(r.expires_in, DEFAULT_EXPIRES_IN)?;
    let redirect_url = service::check_redirect_url(r.redirect_url.as_deref())?;
    if let Some(t) = &r.underpayment_tolerance {
        if !ToleranceRule::is_share(t) || ToleranceRule::parse(t, 0).is_err() {
            return Err(invalid(
                "invalid_underpayment_tolerance",
                format!(
                    "underpayment_tolerance: `{t}` is not a share below 100% such as \"1%\" (the \
                     options' assets differ, so an amount cannot apply to all)"
                ),
            ));
        }
    }
    let mut options: Vec<ChoiceOption> = Vec::with_capacity(r.options.len());
    for (i, o) in r.options.iter().enumerate() {
        let name = o.chain.trim();
        let Some(chain) = chains.get(name) else {
            return Err(invalid(
                "invalid_options",
                format!("options[{i}]: chain `{name}` takes no invoices (no [chain.invoices])"),
            ));
        };
        let Some(asset) = chain
            .assets()
            .iter()
            .find(|a| a.symbol.eq_ignore_ascii_case(o.asset.trim()))
        else {
            return Err(invalid(
                "invalid_options",
                format!(
                    "options[{i}]: chain {name} takes no invoices in `{}` ({})",
                    o.asset,
                    chain
                        .assets()
                        .iter()
                        .map(|a| a.symbol.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if options.iter().any(|x| x.chain == name) {
            return Err(invalid(
                "invalid_options",
                format!("options[{i}]: chain {name} is offered twice; one option per chain"),
            ));
        }
        if !rates.has_pair(&asset.symbol, &currency) {
            return Err(invalid(
                "rate_not_configured",
                format!(
                    "options[{i}]: no [[rate]] for {}/{currency}: the option could not be priced",
                    asset.symbol
                ),
            ));
        }
        options.push(ChoiceOption {
            chain: name.to_string(),
            asset: asset.symbol.clone(),
            network: chain.network_label(asset),
            invoice: None,
        });
    }
    let now = now_secs();
    let choice = Choice {
        id: service::new_invoice_id(),
        order_id,
        price,
        currency,
        options,
        created_at: now,
        expires_at: now.saturating_add(expires_in),
        redirect_url,
        metadata: match r.metadata {
            serde_json::Value::Null => serde_json::json!({}),
            m => m,
        },
        underpayment_tolerance: r.underpayment_tolerance,
        rate_adjust: r.rate_adjust,
        hold_flagged: r.hold_flagged,
    };
    let same = |c: &Choice| {
        c.price == choice.price
            && c.currency == choice.currency
            && c.hold_flagged == choice.hold_flagged
            && c.options.len() == choice.options.len()
            && c.options
                .iter()
                .zip(&choice.options)
                .all(|(a, b)| a.chain == b.chain && a.asset == b.asset)
    };
    // An invoice of the order on one of the chains would be taken for an
    // option's when the buyer picks it.
    for o in &choice.options {
        if let Some(inv) = store.invoice_by_order(&o.chain, None, &choice.order_id)? {
            if inv.choice.is_none() {
                return Err(CreateError::Conflict(
                    "invoice_exists",
                    format!(
                        "order {} has invoice {} on chain {} already",
                        choice.order_id, inv.id, o.chain
                    ),
                ));
            }
        }
    }
    match store.insert_choice(&choice)? {
        None => Ok((choice, true)),
        Some(existing) if same(&existing) => Ok((existing, false)),
        Some(existing) => Err(CreateError::Conflict(
            "invoice_exists",
            format!(
                "order {} has invoice {} with other options or another price",
                existing.order_id, existing.id
            ),
        )),
    }
}

/// Option `n` of choice `id`: its invoice, made now when the buyer picks
/// it first (`true`: new). Refused once another option paid the order, or
/// after the choice expired.
pub fn choose(
    store: &Store,
    chains: &Chains,
    rates: &Rates,
    id: &str,
    n: usize,
) -> Result<(Invoice, bool), ChooseError> {
    let not_found = || ChooseError::NotFound(format!("no invoice `{id}` with an option {n}"));
    let (choice, chain) = {
        let _edit = store.invoice_edit();
        let choice = store.choice(id)?.ok_or_else(not_found)?;
        let option = choice.options.get(n).ok_or_else(not_found)?;
        let children = children(store, &choice)?;
        if let Some(w) = children.iter().find(|c| pays(c)) {
            if option.invoice.as_deref() == Some(w.id.as_str()) {
                return Ok((w.clone(), false));
            }
            return Err(paid_with(w));
        }
        if let Some(inv) = children
            .into_iter()
            .find(|c| option.invoice.as_deref() == Some(c.id.as_str()))
        {
            return Ok((inv, false));
        }
        if choice.expires_at <= now_secs() {
            return Err(ChooseError::Conflict(
                "invoice_expired",
                format!("invoice `{id}` expired: ask the shop for a new one"),
            ));
        }
        let chain = chains.get(&option.chain).cloned().ok_or_else(|| {
            ChooseError::Conflict(
                "invoices_not_configured",
                format!("chain {} takes no invoices any more", option.chain),
            )
        })?;
        (choice, chain)
    };
    let option = &choice.options[n];
    // Made outside the edit lock: creating takes the chain's creation lock
    // first, as a re-lock does.
    let req = CreateRequest {
        chain: option.chain.clone(),
        asset: option.asset.clone(),
        amount: None,
        price: Some(choice.price.clone()),
        currency: Some(choice.currency.clone()),
        order_id: choice.order_id.clone(),
        merchant: None,
        expires_in: Some(choice.expires_at.saturating_sub(now_secs()).max(1) as i64),
        redirect_url: choice.redirect_url.clone(),
        metadata: choice.metadata.clone(),
        underpayment_tolerance: choice.underpayment_tolerance.clone(),
        confirmations: None,
        hold_flagged: choice.hold_flagged,
        rate_adjust: choice.rate_adjust.clone(),
        round_to: None,
        choice: Some(choice.id.clone()),
    };
    let (mut inv, created) = chain.create(store, rates, req)?;
    if inv.choice.as_deref() != Some(id) {
        return Err(ChooseError::Conflict(
            "invoice_exists",
            format!(
                "order {} has invoice {} on chain {} that is not one of its options",
                choice.order_id, inv.id, option.chain
            ),
        ));
    }
    let _edit = store.invoice_edit();
    let mut choice = store.choice(id)?.ok_or_else(not_found)?;
    let winner = children(store, &choice)?
        .into_iter()
        .find(|c| pays(c) && c.id != inv.id);
    choice.options[n].invoice = Some(inv.id.clone());
    store.put_choice(&choice)?;
    // Another option was paid while this one was being made.
    if let Some(w) = winner {
        if inv.superseded_by.is_none() {
            let mut events = Vec::new();
            supersede(
                &mut inv,
                &w.id,
                chain.amount_reuse_after().as_secs(),
                &mut events,
            );
            count(&store.commit_invoices(std::slice::from_ref(&inv), events, None)?);
        }
        return Err(paid_with(&w));
    }
    Ok((inv, created))
}

fn paid_with(w: &Invoice) -> ChooseError {
    ChooseError::Conflict(
        "invoice_paid",
        format!(
            "the order is paid with {} on chain {} (invoice {})",
            w.asset.symbol, w.chain, w.id
        ),
    )
}

/// Why an order could not be switched to another network.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The first invoice is no longer open and unpaid, or was switched
    /// already.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes an open, unpaid invoice and `second`, made for the same order
/// on another network with `choice: Some(choice.id)`, the two options of
/// `choice` (whose option for `first` names it already): whichever is paid first pays the order, the other is closed,
/// as for an order created with options. Refused (and `second` closed)
/// when `first` was paid, closed or switched meanwhile.
pub fn link_switch(
    store: &Store,
    mut choice: Choice,
    first: &str,
    second: &Invoice,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<Invoice, SwitchError> {
    let _edit = store.invoice_edit();
    let mut inv = store
        .invoice(first)?
        .ok_or_else(|| SwitchError::Conflict(format!("no invoice `{first}`")))?;
    let open = inv.status == InvoiceStatus::Pending && inv.payments.is_empty();
    if !open || inv.choice.is_some() {
        let mut second = store.invoice(&second.id)?.unwrap_or_else(|| second.clone());
        let mut events = Vec::new();
        let reuse = reuse_after(&second.chain);
        supersede(&mut second, &inv.id, reuse, &mut events);
        count(&store.commit_invoices(&[second], events, None)?);
        return Err(SwitchError::Conflict(format!(
            "invoice `{first}` is {}{}: it cannot be switched",
            inv.status.name(),
            if inv.choice.is_some() {
                " and switched already"
            } else {
                ""
            }
        )));
    }
    if let Some(o) = choice
        .options
        .iter_mut()
        .find(|o| o.invoice.is_none() && o.chain == second.chain && o.asset == second.asset.symbol)
    {
        o.invoice = Some(second.id.clone());
    }
    store.put_choice(&choice)?;
    inv.choice = Some(choice.id.clone());
    count(&store.commit_invoices(std::slice::from_ref(&inv), Vec::new(), None)?);
    Ok(inv)
}

/// The invoices made for the choice's options so far.
pub fn children(store: &Store, choice: &Choice) -> Result<Vec<Invoice>, StoreError> {
    let mut out = Vec::new();
    for o in &choice.options {
        if let Some(inv) = o.invoice.as_deref().map(|i| store.invoice(i)).transpose()? {
            out.extend(inv);
        }
    }
    Ok(out)
}

/// Closes option invoice `inv` because `winner` paid the order: open, it
/// is cancelled; what it received is an excess to refund.
fn supersede(inv: &mut Invoice, winner: &str, reuse_after: u64, out: &mut Vec<TrackerEvent>) {
    inv.superseded_by = Some(winner.to_string());
    if inv.status.is_open() {
        close(inv, InvoiceStatus::Cancelled, reuse_after);
        out.push(event(inv, InvoiceEventType::Cancelled, None, 0).keyed_by_own_seq());
    }
    let got = inv.received(false);
    if !got.is_zero() {
        inv.excess = Some(got.to_whole(inv.asset.decimals));
        out.push(event(inv, InvoiceEventType::Overpaid, None, 0).keyed_by_own_seq());
    }
}

/// After a tracker step: an option invoice that now pays its order wins,
/// and its siblings are superseded, in the same batch.
pub(super) fn decide(
    store: &Store,
    touched: &mut HashMap<String, Invoice>,
    out: &mut Vec<TrackerEvent>,
    reuse_after: impl Fn(&str) -> u64,
) -> Result<(), StoreError> {
    let mut winners: Vec<(String, String)> = touched
        .values()
        .filter(|inv| pays(inv))
        .filter_map(|inv| Some((inv.choice.clone()?, inv.id.clone())))
        .collect();
    winners.sort();
    for (cid, winner) in winners {
        // A sibling that won earlier in this loop superseded this one.
        if touched
            .get(&winner)
            .is_some_and(|w| w.superseded_by.is_some())
        {
            continue;
        }
        let Some(choice) = store.choice(&cid)? else {
            continue;
        };
        for id in choice.options.iter().filter_map(|o| o.invoice.as_deref()) {
            if id == winner {
                continue;
            }
            let Some(mut sibling) = touched
                .remove(id)
                .map(Ok)
                .or_else(|| store.invoice(id).transpose())
                .transpose()?
            else {
                continue;
            };
            if sibling.superseded_by.is_none() {
                let reuse = reuse_after(&sibling.chain);
                supersede(&mut sibling, &winner, reuse, out);
            }
            touched.insert(sibling.id.clone(), sibling);
        }
    }
    Ok(())
}

/// The choice as the API shows it: each option with its invoice (or
/// `null`), `paid_by` the option invoice that paid the order, and a
/// `status` summing them up: the paying invoice's status; else `expired`
/// past `expires_at`; else `underpaid` when an option received part of
/// its amount, `pending` otherwise.
pub fn view(
    choice: &Choice,
    children: &[Invoice],
    invoice_json: impl Fn(&Invoice) -> serde_json::Value,
) -> serde_json::Value {
    let winner = children.iter().find(|c| pays(c));
    let status = match winner {
        Some(w) => w.status.name(),
        None if choice.expires_at <= now_secs() => "expired",
        None if children
            .iter()
            .any(|c| c.status == InvoiceStatus::Underpaid) =>
        {
            "underpaid"
        }
        None => "pending",
    };
    let options: Vec<serde_json::Value> = choice
        .options
        .iter()
        .map(|o| {
            let inv = o
                .invoice
                .as_deref()
                .and_then(|id| children.iter().find(|c| c.id == id));
            serde_json::json!({
                "chain": o.chain,
                "asset": o.asset,
                "network": o.network,
                "invoice": inv.map(&invoice_json),
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "id": choice.id,
        "kind": "choice",
        "order_id": choice.order_id,
        "price": choice.price,
        "currency": choice.currency,
        "status": status,
        "paid_by": winner.map(|w| w.id.clone()),
        "options": options,
        "created_at": choice.created_at,
        "expires_at": choice.expires_at,
        "metadata": choice.metadata,
    });
    for (k, x) in [
        ("redirect_url", &choice.redirect_url),
        ("underpayment_tolerance", &choice.underpayment_tolerance),
        ("rate_adjust", &choice.rate_adjust),
    ] {
        if let Some(x) = x {
            v[k] = x.clone().into();
        }
    }
    if let Some(h) = choice.hold_flagged {
        v["hold_flagged"] = h.into();
    }
    v
}
