//! Creating invoices: the asset and amount checked, an address chosen (a
//! derived one, or the shared one with a unique amount), the address
//! watched, and the payment URI written.

use super::rates::{price_to_base, RateError, Rates, PRICE_DECIMALS};
use super::uri::{bitcoin_uri, evm_uri, tron_uri, UriParts};
use crate::address::derive::AccountKey;
use crate::address::AddressFormat;
use crate::amount::{from_base, to_base, AmountError};
use crate::clock::now_secs;
use crate::config::{ChainConfig, ChainKind, ConfirmationBounds, InvoiceSource};
use crate::invoice_record::{
    Invoice, InvoiceStatus, Pricing, RateAdjust, Tolerance, ToleranceError, ToleranceRule,
};
use crate::store::{Inserted, InvoiceInsert, NewInvoice, Store, StoreError};
use crate::transfer::Asset;
use crate::transfer::WatchRecord;
use crate::watch::Matcher;
use ruint::aliases::U256;
use std::sync::{Arc, Mutex};

/// The longest an invoice may stay open.
const MAX_EXPIRES_IN: u64 = 30 * 86400;
const MAX_ORDER_ID: usize = 128;
/// Bitcoin's supply bound, in satoshis: no payment can be larger.
const BITCOIN_MAX_SATS: u64 = 21_000_000 * 100_000_000;

/// Whether `c` is a control or format character (Unicode categories Cc and
/// Cf: bidi overrides and isolates, zero-width spaces and joiners, …), which
/// can make one order id look like another on the checkout page.
pub fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format
    )
}

/// Why an invoice was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("{1}")]
    Conflict(&'static str, String),
    /// No usable exchange rate right now; worth retrying later.
    #[error("{1}")]
    Unavailable(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new invoice id: `inv_`, the time in Unix milliseconds (12 hex
/// digits) and 64 random bits, so ids sort by creation time and a checkout
/// link cannot be guessed.
pub fn new_invoice_id() -> String {
    format!(
        "inv_{:012x}{:016x}",
        crate::clock::now_ms(),
        rand::random::<u64>()
    )
}

/// A fiat price and its currency as a request gives them: the price in
/// at most [`PRICE_DECIMALS`] places, the currency code upper-cased.
pub fn check_price(price: &str, currency: &str) -> Result<(String, String), CreateError> {
    let base = to_base(price, PRICE_DECIMALS)
        .map_err(|m| CreateError::Invalid("invalid_price", format!("price: {m}")))?;
    let code = currency.trim().to_uppercase();
    if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CreateError::Invalid(
            "invalid_currency",
            format!("currency: `{currency}` is not a currency code such as \"CNY\""),
        ));
    }
    Ok((from_base(base, PRICE_DECIMALS), code))
}

/// Where the checkout page sends the buyer: an http(s) URL, any host (the
/// buyer's browser goes there, not paywatch).
pub fn check_redirect_url(url: Option<&str>) -> Result<Option<String>, CreateError> {
    match url.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u) => {
            super::notify::check("redirect_url", u, true)
                .map_err(|e| CreateError::Invalid("invalid_redirect_url", e.to_string()))?;
            Ok(Some(u.to_string()))
        }
    }
}

/// An order id: trimmed, 1 to [`MAX_ORDER_ID`] bytes, no control or format
/// characters (which could make one order look like another).
pub fn check_order_id(order_id: &str) -> Result<String, CreateError> {
    let order_id = order_id.trim();
    if order_id.is_empty() || order_id.len() > MAX_ORDER_ID || order_id.chars().any(is_invisible) {
        return Err(CreateError::Invalid(
            "invalid_order_id",
            format!(
                "order_id: 1 to {MAX_ORDER_ID} bytes, no control or format characters \
                 (bidi controls, zero-width spaces)"
            ),
        ));
    }
    Ok(order_id.to_string())
}

/// Seconds an invoice stays open: as asked, else `default`; 1 s to 30
/// days.
pub fn check_expires_in(asked: Option<i64>, default: u64) -> Result<u64, CreateError> {
    let expires_in = asked.unwrap_or(default as i64);
    if expires_in <= 0 || expires_in as u64 > MAX_EXPIRES_IN {
        return Err(CreateError::Invalid(
            "invalid_expires_in",
            format!("expires_in: {expires_in} is not between 1 and {MAX_EXPIRES_IN} seconds"),
        ));
    }
    Ok(expires_in as u64)
}

/// A request for a new invoice.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub chain: String,
    pub asset: String,
    /// The amount in the asset, whole units; or `price` and `currency`.
    pub amount: Option<String>,
    /// A fiat price, converted at the current rate when the invoice is made.
    pub price: Option<String>,
    pub currency: Option<String>,
    pub order_id: String,
    /// The merchant the order is for (`[[merchant]] id`): its order ids
    /// are apart from other merchants'.
    #[serde(default)]
    pub merchant: Option<String>,
    pub expires_in: Option<i64>,
    /// Where the checkout page sends the buyer once paid and confirmed.
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// `"1%"`, or an amount of the asset: payments this much short of the
    /// amount due still pay the invoice. Replaces the chain's setting.
    pub underpayment_tolerance: Option<String>,
    /// Confirmations this invoice waits for, within the chain's
    /// `min_confirmations` and `max_confirmations`; 0 is zero-conf.
    pub confirmations: Option<u64>,
    /// Hold a flagged payment (`sanctioned`, `frozen_sender`,
    /// `lookalike`) at `held` instead of confirming; the chain's
    /// `hold_flagged` when absent.
    #[serde(default)]
    pub hold_flagged: Option<bool>,
    /// An adjustment of the market rate for this invoice (`"~1.02"`,
    /// `"+0.3"`, `"-0.1"`), instead of the chain's; with `price` only.
    pub rate_adjust: Option<String>,
    /// Decimal places a converted price is rounded up to, when fewer than
    /// the asset's (the Epusdt front asks for four).
    #[serde(skip)]
    pub round_to: Option<u8>,
    /// The choice (invoice with payment options) the new invoice is an
    /// option of.
    #[serde(skip)]
    pub choice: Option<String>,
}

/// What the request asks for: an asset amount, or a fiat price.
enum Requested {
    Amount(U256),
    Price { price: String, currency: String },
}

enum Flavor {
    Bitcoin,
    Evm(u64),
    Tron,
}

enum Source {
    Derived(AccountKey),
    Shared {
        address: String,
        step: String,
        max_open: u32,
    },
    /// Addresses handed out in turn; the store holds the pool.
    Pool,
}

/// Why addresses were not added to a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("chain {0} takes invoices on an xpub or a shared address, not an address pool")]
    NotAPool(String),
    #[error("addresses[{0}]: {1}")]
    Invalid(usize, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Watches one of the merchant's own addresses that invoices use, with
/// `label` and the metadata mark `mark: true` that tells its payments
/// apart; a watch that exists already is kept as it is.
fn watch_marked(
    chain: &str,
    matcher: &Matcher,
    store: &Store,
    a: &crate::address::WatchAddress,
    label: &str,
    mark: &str,
) -> Result<(), StoreError> {
    let rec = WatchRecord {
        chain: chain.to_string(),
        address: a.display.clone(),
        label: Some(label.into()),
        metadata: serde_json::json!({ mark: true }),
        created_at: now_secs(),
    };
    if let Inserted::Created(_) = store.insert_watch(chain, a.key.as_bytes(), rec)? {
        matcher.add_keys([a.key.as_bytes()])?;
    }
    Ok(())
}

/// Watches pool addresses, marked as the pool's, so that a payment to one
/// is told apart even while no invoice holds it.
fn watch_pool(
    chain: &str,
    matcher: &Matcher,
    store: &Store,
    addresses: &[crate::address::WatchAddress],
) -> Result<usize, StoreError> {
    for a in addresses {
        watch_marked(chain, matcher, store, a, "invoice pool", "invoice_pool")?;
    }
    let displays: Vec<String> = addresses.iter().map(|a| a.display.clone()).collect();
    store.add_pool_addresses(chain, &displays)
}

/// Why a chain's invoices cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invoices.unique_amount_step for {symbol}: {source}")]
    Step { symbol: String, source: AmountError },
    #[error("invoices.max_amount: `{0}` is not an asset of this chain")]
    UnknownAsset(String),
    #[error("invoices.max_amount.{symbol}: {source}")]
    MaxAmount { symbol: String, source: AmountError },
    #[error("invoices.underpayment_tolerance: `{0}` is not an asset of this chain")]
    ToleranceAsset(String),
    #[error("invoices.underpayment_tolerance.{symbol}: {source}")]
    Tolerance {
        symbol: String,
        source: ToleranceError,
    },
    #[error("invoices.rate_adjust: `{0}` is not an asset of this chain")]
    RateAdjustAsset(String),
    #[error("watching the shared, pool or refund_from addresses: {0}")]
    Store(#[from] StoreError),
}

/// Invoices on one chain.
pub struct InvoiceChain {
    chain: String,
    network: String,
    /// What buyers are told the network is, e.g. `TRON` or `Ethereum`.
    network_label: String,
    flavor: Flavor,
    /// The native coin first, then the tokens.
    assets: Vec<Asset>,
    source: Source,
    default_expires_in: u64,
    amount_reuse_after: std::time::Duration,
    /// The largest amount per asset symbol, base units.
    max_amount: std::collections::HashMap<String, U256>,
    /// The underpayment tolerance by asset symbol, where one is set.
    tolerance: std::collections::HashMap<String, ToleranceRule>,
    /// The rate adjustment by asset symbol, where one is set.
    rate_adjust: std::collections::HashMap<String, RateAdjust>,
    /// What an invoice may ask for instead of the default confirmations.
    confirmations: Option<ConfirmationBounds>,
    relock_after: Option<std::time::Duration>,
    relock_grace: std::time::Duration,
    matcher: Arc<Matcher>,
    format: AddressFormat,
    /// `refund_from`, display form.
    refund_from: Vec<String>,
    /// Invoices hold flagged payments unless their request says not.
    hold_flagged: bool,
    /// One creation at a time: derivation indexes and unique amounts.
    creating: Mutex<()>,
}

impl InvoiceChain {
    /// The invoice settings of `chain`, with its account key parsed and a
    /// shared address watched; `None` when the chain has no `[chain.invoices]`.
    pub fn new(
        chain: &ChainConfig,
        matcher: Arc<Matcher>,
        store: &Store,
    ) -> Result<Option<Self>, SetupError> {
        let Some(cfg) = &chain.invoices else {
            return Ok(None);
        };
        let (flavor, mut assets) = match &chain.kind {
            ChainKind::Bitcoin(_) => (
                Flavor::Bitcoin,
                vec![Asset {
                    symbol: "BTC".into(),
                    decimals: 8,
                    contract: None,
                }],
            ),
            ChainKind::Evm(e) => (
                Flavor::Evm(e.chain_id),
                vec![Asset {
                    symbol: e.native_symbol.clone(),
                    decimals: 18,
                    contract: None,
                }],
            ),
            ChainKind::Tron(_) => (
                Flavor::Tron,
                vec![Asset {
                    symbol: "TRX".into(),
                    decimals: 6,
                    contract: None,
                }],
            ),
        };
        let tokens = match &chain.kind {
            ChainKind::Evm(e) => e.tokens.clone(),
            ChainKind::Tron(t) => t.tokens.clone(),
            ChainKind::Bitcoin(_) => Vec::new(),
        };
        assets.extend(tokens.into_iter().map(|t| Asset {
            symbol: t.symbol,
            decimals: t.decimals,
            contract: Some(t.display),
        }));
        let source = match &cfg.source {
            InvoiceSource::Derived(key) => Source::Derived(key.clone()),
            InvoiceSource::Shared {
                address: parsed,
                step,
                max_open,
            } => {
                for a in &assets {
                    to_base(step, a.decimals).map_err(|source| SetupError::Step {
                        symbol: a.symbol.clone(),
                        source,
                    })?;
                }
                // The shared address is always watched.
                watch_marked(
                    &chain.name,
                    &matcher,
                    store,
                    parsed,
                    "invoices",
                    "shared_invoice_address",
                )?;
                Source::Shared {
                    address: parsed.display.clone(),
                    step: step.clone(),
                    max_open: *max_open,
                }
            }
            InvoiceSource::Pool(addresses) => {
                watch_pool(&chain.name, &matcher, store, addresses)?;
                Source::Pool
            }
        };
        // Watched, so that a refund paid from one is seen going out.
        for a in &cfg.refund_from {
            watch_marked(&chain.name, &matcher, store, a, "refunds", "refund_from")?;
        }
        let mut max_amount = per_asset(
            &assets,
            None,
            &cfg.max_amount,
            SetupError::UnknownAsset,
            |asset, symbol, text| {
                to_base(text, asset.decimals).map_err(|source| SetupError::MaxAmount {
                    symbol: symbol.to_string(),
                    source,
                })
            },
        )?;
        let tolerance = per_asset(
            &assets,
            cfg.underpayment_tolerance.all,
            &cfg.underpayment_tolerance.by_asset,
            SetupError::ToleranceAsset,
            |asset, symbol, text| {
                ToleranceRule::parse(text, asset.decimals).map_err(|source| SetupError::Tolerance {
                    symbol: symbol.to_string(),
                    source,
                })
            },
        )?;
        let rate_adjust = per_asset(
            &assets,
            cfg.rate_adjust.all,
            &cfg.rate_adjust.by_asset,
            SetupError::RateAdjustAsset,
            |_, _, adjust| Ok(*adjust),
        )?;
        if matches!(chain.kind, ChainKind::Bitcoin(_)) {
            let cap = U256::from(BITCOIN_MAX_SATS);
            let bound = max_amount.entry("BTC".to_string()).or_insert(cap);
            *bound = (*bound).min(cap);
        }
        Ok(Some(InvoiceChain {
            chain: chain.name.clone(),
            network: chain.network_name().to_string(),
            network_label: network_label(chain),
            flavor,
            assets,
            source,
            default_expires_in: cfg.default_expires_in,
            amount_reuse_after: cfg.amount_reuse_after,
            max_amount,
            tolerance,
            rate_adjust,
            confirmations: cfg.confirmations,
            relock_after: cfg.relock_after,
            relock_grace: cfg.relock_grace,
            matcher,
            format: chain.address_format(),
            refund_from: cfg.refund_from.iter().map(|a| a.display.clone()).collect(),
            hold_flagged: cfg.hold_flagged,
            creating: Mutex::new(()),
        }))
    }

    /// `text` as an address of this chain, in its display form.
    pub fn parse_address(&self, text: &str) -> Result<String, String> {
        self.format
            .parse(text.trim())
            .map(|a| a.display)
            .map_err(|e| e.to_string())
    }

    pub fn is_bitcoin(&self) -> bool {
        matches!(self.flavor, Flavor::Bitcoin)
    }

    /// The addresses a refund of an invoice at `address` may be paid
    /// from: that one, then the chain's `refund_from`.
    pub fn refund_sources(&self, address: &str) -> Vec<String> {
        let mut from = vec![address.to_string()];
        from.extend(self.refund_from.iter().filter(|a| *a != address).cloned());
        from
    }

    /// How long a shared-address amount stays reserved for an invoice that
    /// expired or was cancelled.
    pub fn amount_reuse_after(&self) -> std::time::Duration {
        self.amount_reuse_after
    }

    /// Whether `base` units of `asset` are no more than its `max_amount`.
    fn within_max(&self, asset: &Asset, base: U256) -> bool {
        self.max_amount
            .get(&asset.symbol)
            .is_none_or(|bound| base <= *bound)
    }

    /// The largest amount a shared-address invoice asking `base` could be
    /// handed (`max_open - 1` steps up); `None` when it would wrap past
    /// 2^256 - 1 or pass `max_amount`.
    fn largest_unique(&self, asset: &Asset, base: U256, step: U256, max_open: u32) -> Option<U256> {
        step.checked_mul(U256::from(max_open.saturating_sub(1)))
            .and_then(|s| base.checked_add(s))
            .filter(|l| self.within_max(asset, *l))
    }

    /// The least amount from `base` up to `largest`, in steps of `step`,
    /// that no invoice holds on the shared address.
    fn free_unique_due(
        &self,
        store: &Store,
        address: &str,
        asset: &Asset,
        base: U256,
        step: U256,
        largest: U256,
    ) -> Result<Option<U256>, StoreError> {
        let now = now_secs();
        let mut due = base;
        while due <= largest {
            if store
                .unique_amount_owner(&self.chain, address, &asset.symbol, due, now)?
                .is_none()
            {
                return Ok(Some(due));
            }
            due = match due.checked_add(step) {
                Some(d) => d,
                None => break,
            };
        }
        Ok(None)
    }

    /// Whether open invoices priced in fiat are re-priced, and how often
    /// to look.
    pub fn relock_after(&self) -> Option<std::time::Duration> {
        self.relock_after
    }

    /// Prices again, at the current rate, every pending invoice priced in
    /// fiat whose price is older than `relock_after`: a new amount due
    /// (on a shared address, a free unique amount), `invoice.repriced`,
    /// and the old amount kept payable for `relock_grace`. An invoice whose
    /// pair has no usable rate now keeps its price and is tried again
    /// later. Returns how many were re-priced.
    pub fn relock_due(&self, store: &Store, rates: &Rates) -> Result<usize, StoreError> {
        let Some(after) = self.relock_after else {
            return Ok(0);
        };
        let now = now_secs();
        let stale = |inv: &Invoice| {
            inv.status == InvoiceStatus::Pending
                && inv.expires_at > now
                && inv
                    .pricing
                    .as_ref()
                    .is_some_and(|p| p.locked_at.max(inv.created_at) + after.as_secs() <= now)
        };
        let due: Vec<String> = store
            .open_invoices(&self.chain)?
            .into_iter()
            .filter(stale)
            .map(|inv| inv.id)
            .collect();
        let mut repriced = 0;
        for id in due {
            let _guard = self.creating.lock().expect("invoice creation lock");
            let _edit = store.invoice_edit();
            // Read again under the locks: a payment may have come.
            let Some(mut inv) = store.invoice(&id)?.filter(|inv| stale(inv)) else {
                continue;
            };
            match self.reprice(store, rates, &mut inv, now)? {
                None => continue,
                Some(changed) => {
                    let mut events = Vec::new();
                    if changed {
                        repriced += 1;
                        events.push(
                            super::tracker::event(
                                &inv,
                                crate::invoice_record::InvoiceEventType::Repriced,
                                None,
                                0,
                            )
                            .keyed_by_own_seq(),
                        );
                    }
                    store.commit_invoices(std::slice::from_ref(&inv), events, None)?;
                }
            }
        }
        Ok(repriced)
    }

    /// Converts `inv`'s price again. `None` when no rate or amount is to be
    /// had now; `Some(true)` when the amount due changed, `Some(false)`
    /// when only the rate's time did.
    fn reprice(
        &self,
        store: &Store,
        rates: &Rates,
        inv: &mut Invoice,
        now: u64,
    ) -> Result<Option<bool>, StoreError> {
        let Some(pricing) = inv.pricing.clone() else {
            return Ok(None);
        };
        let Ok((rate, quote)) = rates.quote(&inv.asset.symbol, &pricing.currency) else {
            return Ok(None);
        };
        let adjust = pricing
            .rate_adjust
            .as_deref()
            .and_then(|a| RateAdjust::parse(a).ok());
        let Some(rate_used) = (match adjust {
            Some(a) => a.apply(rate).ok(),
            None => Some(rate),
        }) else {
            return Ok(None);
        };
        let places = pricing.places.unwrap_or(inv.asset.decimals);
        let Ok(base) = price_to_base(&pricing.price, rate_used, inv.asset.decimals, places) else {
            return Ok(None);
        };
        // What create would refuse, a re-lock does not do: the invoice
        // keeps its price.
        let tolerance_rule = match &inv.underpayment_tolerance {
            Some(t) => match ToleranceRule::parse(&t.rule, inv.asset.decimals) {
                Ok(rule) => Some(rule),
                Err(_) => return Ok(None),
            },
            None => None,
        };
        if !self.within_max(&inv.asset, base) || tolerance_rule.is_some_and(|r| r.on(base) >= base)
        {
            return Ok(None);
        }
        let due = match &self.source {
            Source::Shared {
                address,
                step,
                max_open,
            } if to_base(&inv.amount, inv.asset.decimals).ok() != Some(base) => {
                let Ok(step) = to_base(step, inv.asset.decimals) else {
                    return Ok(None);
                };
                let Some(largest) = self.largest_unique(&inv.asset, base, step, *max_open) else {
                    return Ok(None);
                };
                match self.free_unique_due(store, address, &inv.asset, base, step, largest)? {
                    Some(d) => d,
                    None => return Ok(None),
                }
            }
            Source::Shared { .. } => inv.amount_due_base.base(),
            Source::Derived(_) | Source::Pool => base,
        };
        let least = inv.least_payable();
        let p = inv.pricing.as_mut().expect("priced");
        p.rate = super::rates::rate_text(rate_used);
        p.source_rate = adjust.map(|_| quote.rate.clone());
        p.rate_sources = quote.sources;
        p.rate_as_of = quote.as_of;
        p.locked_at = now;
        if due == inv.amount_due_base.base() {
            return Ok(Some(false));
        }
        p.relocks += 1;
        p.previous = Some(crate::invoice_record::PreviousPrice {
            amount_due: inv.amount_due.clone(),
            amount_due_base: inv.amount_due_base,
            least_payable: least,
            until: now.saturating_add(self.relock_grace.as_secs()),
            honoured: false,
        });
        inv.amount = from_base(base, inv.asset.decimals);
        inv.amount_due = from_base(due, inv.asset.decimals);
        inv.amount_due_base = due.into();
        inv.payment_uri = self.payment_uri(&inv.address, &inv.asset, due, &inv.order_id);
        if let (Some(t), Some(rule)) = (&mut inv.underpayment_tolerance, tolerance_rule) {
            let tol = rule.on(due);
            t.amount = from_base(tol, inv.asset.decimals);
            t.amount_base = tol.into();
        }
        Ok(Some(true))
    }

    /// The address every invoice of the chain is paid to, when the chain
    /// takes invoices on a shared address (display form).
    pub fn shared_address(&self) -> Option<&str> {
        match &self.source {
            Source::Shared { address, .. } => Some(address),
            _ => None,
        }
    }

    /// Whether invoices take their addresses from a pool.
    pub fn is_pool(&self) -> bool {
        matches!(self.source, Source::Pool)
    }

    /// Adds the merchant's addresses to the chain's pool and watches them;
    /// returns how many were new. All are checked before any is added.
    pub fn add_to_pool(&self, store: &Store, addresses: &[String]) -> Result<usize, PoolError> {
        if !self.is_pool() {
            return Err(PoolError::NotAPool(self.chain.clone()));
        }
        let parsed = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                self.format
                    .parse(a)
                    .map_err(|e| PoolError::Invalid(i, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(watch_pool(&self.chain, &self.matcher, store, &parsed)?)
    }

    /// The assets invoices on this chain can ask for.
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    /// Creates the invoice, or returns the one with the same order id when
    /// the request is the same (`false`: not newly created).
    pub fn create(
        &self,
        store: &Store,
        rates: &Rates,
        req: CreateRequest,
    ) -> Result<(Invoice, bool), CreateError> {
        let invalid = |code: &'static str, m: String| CreateError::Invalid(code, m);
        let asset = asset_named(&self.assets, req.asset.trim())
            .ok_or_else(|| {
                invalid(
                    "unknown_asset",
                    format!(
                        "asset `{}` is not one chain {} takes invoices in ({})",
                        req.asset,
                        self.chain,
                        self.assets
                            .iter()
                            .map(|a| a.symbol.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?
            .clone();
        let requested = match (&req.amount, &req.price, &req.currency) {
            (Some(a), None, None) => Requested::Amount(
                to_base(a, asset.decimals)
                    .map_err(|m| invalid("invalid_amount", format!("amount: {m}")))?,
            ),
            (None, Some(p), Some(c)) => {
                let (price, currency) = check_price(p, c)?;
                Requested::Price { price, currency }
            }
            _ => {
                return Err(invalid(
                    "invalid_amount",
                    "give either `amount` (in the asset) or `price` with `currency` (in fiat)"
                        .into(),
                ))
            }
        };
        if req.rate_adjust.is_some() && req.price.is_none() {
            return Err(invalid(
                "invalid_rate_adjust",
                "rate_adjust: goes with `price` and `currency`; an amount in the asset has no rate"
                    .into(),
            ));
        }
        let redirect_url = check_redirect_url(req.redirect_url.as_deref())?;
        let order_id = check_order_id(&req.order_id)?;
        let expires_in = check_expires_in(req.expires_in, self.default_expires_in)?;
        let confirmations = match (req.confirmations, self.confirmations) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "invalid_confirmations",
                    format!(
                        "confirmations: chain {} counts a payment as confirmed at its node's \
                         finality mark, not at a depth an invoice can choose",
                        self.chain
                    ),
                ))
            }
            (Some(c), Some(b)) if c < b.min || c > b.max => {
                return Err(invalid(
                    "invalid_confirmations",
                    format!(
                        "confirmations: {c} is not between {} and {} (the chain's \
                         min_confirmations and max_confirmations{})",
                        b.min,
                        b.max,
                        if b.min == 0 { "; 0 is zero-conf" } else { "" }
                    ),
                ))
            }
            (Some(c), Some(_)) => Some(c),
        };
        let metadata = match req.metadata {
            serde_json::Value::Null => serde_json::json!({}),
            m @ serde_json::Value::Object(_) => m,
            _ => {
                return Err(invalid(
                    "invalid_metadata",
                    "metadata: must be a JSON object".into(),
                ))
            }
        };
        let _guard = self.creating.lock().expect("invoice creation lock");
        if let Some(existing) =
            store.invoice_by_order(&self.chain, req.merchant.as_deref(), &order_id)?
        {
            let same = existing.asset == asset
                && match (&requested, &existing.pricing) {
                    (Requested::Amount(base), None) => {
                        existing.amount == from_base(*base, asset.decimals)
                    }
                    (Requested::Price { price, currency }, Some(p)) => {
                        p.price == *price && p.currency == *currency
                    }
                    _ => false,
                };
            return if same {
                Ok((existing, false))
            } else {
                let priced = match &existing.pricing {
                    Some(p) => format!(" ({} {})", p.price, p.currency),
                    None => String::new(),
                };
                Err(CreateError::Conflict(
                    "invoice_exists",
                    format!(
                        "order {order_id} already has invoice {} for {} {}{priced}",
                        existing.id, existing.amount, existing.asset.symbol
                    ),
                ))
            };
        }
        // A price is converted once, here, and the amount then stays.
        let (base, pricing) = match requested {
            Requested::Amount(base) => (base, None),
            Requested::Price { price, currency } => {
                let (rate, quote) = rates.quote(&asset.symbol, &currency).map_err(|e| match e {
                    RateError::NotConfigured(_) => invalid("rate_not_configured", e.to_string()),
                    RateError::Unavailable { .. } => {
                        CreateError::Unavailable("rate_unavailable", e.to_string())
                    }
                })?;
                let adjust = match req.rate_adjust.as_deref() {
                    Some(t) => Some(RateAdjust::parse(t).map_err(|e| {
                        invalid("invalid_rate_adjust", format!("rate_adjust: {e}"))
                    })?),
                    None => self.rate_adjust.get(&asset.symbol).copied(),
                };
                let (rate, source_rate) = match adjust {
                    None => (rate, None),
                    Some(a) => (
                        a.apply(rate).map_err(|e| {
                            invalid("invalid_rate_adjust", format!("rate_adjust: {e}"))
                        })?,
                        Some(quote.rate.clone()),
                    ),
                };
                let places = req.round_to.unwrap_or(asset.decimals).min(asset.decimals);
                let base = price_to_base(&price, rate, asset.decimals, places)
                    .map_err(|e| invalid("invalid_price", e.to_string()))?;
                (
                    base,
                    Some(Pricing {
                        price,
                        currency,
                        rate: super::rates::rate_text(rate),
                        rate_sources: quote.sources,
                        rate_as_of: quote.as_of,
                        source_rate,
                        rate_adjust: adjust.map(|a| a.to_string()),
                        places: (places < asset.decimals).then_some(places),
                        locked_at: now_secs(),
                        relocks: 0,
                        previous: None,
                    }),
                )
            }
        };
        let amount = from_base(base, asset.decimals);
        if let Some(bound) = self.max_amount.get(&asset.symbol) {
            if base > *bound {
                return Err(invalid(
                    "invalid_amount",
                    format!(
                        "amount: {amount} {} is more than the largest payable amount on chain {}, {}",
                        asset.symbol,
                        self.chain,
                        from_base(*bound, asset.decimals)
                    ),
                ));
            }
        }
        // The tolerance is checked against the requested amount: a share
        // stays below any amount due, and a shared address's amount due is
        // never less than the requested one.
        let tolerance_rule = match req.underpayment_tolerance.as_deref() {
            Some(t) => Some((
                ToleranceRule::parse(t, asset.decimals).map_err(|e| {
                    invalid(
                        "invalid_underpayment_tolerance",
                        format!("underpayment_tolerance: {e}"),
                    )
                })?,
                true,
            )),
            None => self.tolerance.get(&asset.symbol).map(|r| (*r, false)),
        };
        if let Some((rule, given)) = tolerance_rule {
            if rule.on(base) >= base {
                let whose = if given {
                    "underpayment_tolerance".to_string()
                } else {
                    format!(
                        "the chain's invoices.underpayment_tolerance for {}",
                        asset.symbol
                    )
                };
                return Err(invalid(
                    "invalid_underpayment_tolerance",
                    format!(
                        "{whose} ({} {}) is not less than the amount {amount} {}: \
                         it would let a payment of nothing pay the invoice",
                        rule.display(asset.decimals),
                        asset.symbol,
                        asset.symbol
                    ),
                ));
            }
        }
        let (address, key, derivation_index, due, unique) = match &self.source {
            Source::Derived(k) => {
                let index = store.next_derivation_index(&self.chain)?;
                let derived = k
                    .receive_address(index)
                    .map_err(|e| invalid("derivation_failed", e.to_string()))?;
                let parsed = self
                    .format
                    .parse(&derived)
                    .map_err(|e| invalid("derivation_failed", e.to_string()))?;
                (parsed.display, Some(parsed.key), Some(index), base, None)
            }
            Source::Shared {
                address,
                step,
                max_open,
            } => {
                let step = to_base(step, asset.decimals).map_err(|e| {
                    invalid(
                        "invalid_amount",
                        format!("invoices.unique_amount_step for {}: {e}", asset.symbol),
                    )
                })?;
                // The largest amount this invoice could be handed must be
                // payable: no wrapping past 2^256 - 1, nor past the bound.
                let largest = self
                    .largest_unique(&asset, base, step, *max_open)
                    .ok_or_else(|| {
                        invalid(
                            "invalid_amount",
                            format!(
                                "amount: {amount} {} plus the shared address's unique steps is more than can be paid on chain {}",
                                asset.symbol, self.chain
                            ),
                        )
                    })?;
                let found = self.free_unique_due(store, address, &asset, base, step, largest)?;
                let due = found.ok_or_else(|| {
                    CreateError::Conflict(
                        "too_many_open_invoices",
                        format!(
                            "{max_open} open invoices for {amount} {} already use every unique amount on the shared address; wait for one to end",
                            asset.symbol
                        ),
                    )
                })?;
                (address.clone(), None, None, due, Some(due))
            }
            Source::Pool => {
                let address = store
                    .free_pool_address(&self.chain, now_secs())?
                    .ok_or_else(|| {
                        let held = store
                            .pool_counts(&self.chain, now_secs())
                            .unwrap_or_default();
                        CreateError::Conflict(
                            "pool_exhausted",
                            format!(
                                "every address of chain {}'s pool ({}) is held by an open invoice \
                                 or kept for a late payer; add addresses or wait for one to end",
                                self.chain, held.reserved
                            ),
                        )
                    })?;
                (address, None, None, base, None)
            }
        };
        // Ids sort by creation time: milliseconds, then a random part.
        // The random part keeps the public checkout link unguessable.
        let id = new_invoice_id();
        let amount_due = from_base(due, asset.decimals);
        let underpayment_tolerance = tolerance_rule
            .map(|(rule, _)| (rule, rule.on(due)))
            .filter(|(_, tol)| !tol.is_zero())
            .map(|(rule, tol)| Tolerance {
                rule: rule.display(asset.decimals),
                amount: from_base(tol, asset.decimals),
                amount_base: tol.into(),
            });
        let payment_uri = self.payment_uri(&address, &asset, due, &order_id);
        let now = now_secs();
        let invoice = Invoice {
            qr_svg_url: format!("/v1/invoices/{id}/qr.svg"),
            id,
            chain: self.chain.clone(),
            network: self.network.clone(),
            order_id: order_id.clone(),
            merchant: req.merchant.clone(),
            asset,
            amount,
            amount_due,
            amount_due_base: due.into(),
            address: address.clone(),
            derivation_index,
            payment_uri,
            created_at: now,
            expires_at: now + expires_in,
            status: InvoiceStatus::Pending,
            paid: "0".into(),
            excess: None,
            payments: Vec::new(),
            closed: None,
            amount_reserved_until: None,
            metadata,
            pricing,
            redirect_url,
            underpayment_tolerance,
            amount_short: None,
            history: Vec::new(),
            confirmations,
            hold_flagged: req.hold_flagged.unwrap_or(self.hold_flagged),
            released: false,
            pooled: matches!(self.source, Source::Pool),
            refunds: Vec::new(),
            choice: req.choice.clone(),
            superseded_by: None,
        };
        if let Some(key) = key {
            let rec = WatchRecord {
                chain: self.chain.clone(),
                address: address.clone(),
                label: Some(order_id.clone()),
                metadata: serde_json::json!({"invoice": invoice.id, "order_id": order_id}),
                created_at: now,
            };
            if let Inserted::Created(_) = store.insert_watch(&self.chain, key.as_bytes(), rec)? {
                self.matcher.add_keys([key.as_bytes()])?;
            }
        }
        match store.insert_invoice(NewInvoice {
            invoice: &invoice,
            derivation_index,
            unique_due: unique,
        })? {
            InvoiceInsert::Created => {
                metrics::counter!(crate::telemetry::INVOICES, "chain" => invoice.chain.clone(),
                    "asset" => invoice.asset.symbol.clone(), "outcome" => "created")
                .increment(1);
                Ok((invoice, true))
            }
            InvoiceInsert::Existing(e) => Ok((*e, false)),
        }
    }

    /// The URI a wallet opens to pay `due` base units of `asset` to `address`.
    /// The symbols of the assets the chain takes invoices in.
    pub fn asset_symbols(&self) -> Vec<String> {
        self.assets.iter().map(|a| a.symbol.clone()).collect()
    }

    /// The decimals of the asset named `symbol`, if the chain takes it.
    pub fn asset_decimals(&self, symbol: &str) -> Option<u8> {
        asset_named(&self.assets, symbol).map(|a| a.decimals)
    }

    pub fn payment_uri(&self, address: &str, asset: &Asset, due: U256, label: &str) -> String {
        let amount = from_base(due, asset.decimals);
        let parts = UriParts {
            address,
            amount: &amount,
            base: due,
            label: Some(label),
            contract: asset.contract.as_deref(),
        };
        match self.flavor {
            Flavor::Bitcoin => bitcoin_uri(&parts),
            Flavor::Evm(chain_id) => evm_uri(&parts, chain_id),
            Flavor::Tron => tron_uri(&parts),
        }
    }

    /// The network as a buyer should read it, with the token standard for
    /// a token: `TRON (TRC-20)`, `Ethereum (ERC-20)`, `Bitcoin`.
    pub fn network_label(&self, asset: &Asset) -> String {
        let standard = match (&self.flavor, &asset.contract) {
            (_, None) | (Flavor::Bitcoin, _) => return self.network_label.clone(),
            (Flavor::Tron, Some(_)) => "TRC-20",
            (Flavor::Evm(56 | 97), Some(_)) => "BEP-20",
            (Flavor::Evm(_), Some(_)) => "ERC-20",
        };
        format!("{} ({standard})", self.network_label)
    }
}

/// A setting by asset symbol: `all` for every asset, then each entry of
/// `by_asset` (its symbol in any case, `unknown` when no asset has it)
/// made into the setting by `value`.
fn per_asset<T: Copy, V>(
    assets: &[Asset],
    all: Option<T>,
    by_asset: &std::collections::BTreeMap<String, V>,
    unknown: fn(String) -> SetupError,
    value: impl Fn(&Asset, &str, &V) -> Result<T, SetupError>,
) -> Result<std::collections::HashMap<String, T>, SetupError> {
    let mut out = std::collections::HashMap::new();
    if let Some(all) = all {
        for a in assets {
            out.insert(a.symbol.clone(), all);
        }
    }
    for (symbol, v) in by_asset {
        let asset = asset_named(assets, symbol).ok_or_else(|| unknown(symbol.clone()))?;
        out.insert(asset.symbol.clone(), value(asset, symbol, v)?);
    }
    Ok(out)
}

/// The asset of `assets` whose symbol is `symbol` in any case.
fn asset_named<'a>(assets: &'a [Asset], symbol: &str) -> Option<&'a Asset> {
    assets
        .iter()
        .find(|a| a.symbol.eq_ignore_ascii_case(symbol))
}

/// The network's name for buyers.
fn network_label(chain: &ChainConfig) -> String {
    match &chain.kind {
        ChainKind::Bitcoin(b) => match b.network {
            bitcoin::Network::Bitcoin => "Bitcoin".into(),
            _ => format!("Bitcoin {}", b.network_name),
        },
        ChainKind::Tron(t) if t.network == "mainnet" => "TRON".into(),
        ChainKind::Tron(t) => format!("TRON {}", t.network),
        ChainKind::Evm(e) => match e.chain_id {
            1 => "Ethereum".into(),
            10 => "OP Mainnet".into(),
            56 => "BNB Smart Chain".into(),
            97 => "BNB Smart Chain testnet".into(),
            137 => "Polygon".into(),
            8453 => "Base".into(),
            42161 => "Arbitrum One".into(),
            43114 => "Avalanche C-Chain".into(),
            11155111 => "Ethereum Sepolia".into(),
            31337 => "Anvil".into(),
            id => format!("EVM chain {id}"),
        },
    }
}

/// Re-prices, until `stop`, the stale invoices of every chain with
/// `relock_after`, looking a tenth of its window apart (from 100 ms to 5 s).
pub async fn run_relock(
    chains: Vec<Arc<InvoiceChain>>,
    store: Arc<Store>,
    rates: Arc<Rates>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(window) = chains.iter().filter_map(|c| c.relock_after()).min() else {
        return;
    };
    let every = (window / 10).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(5),
    );
    loop {
        for c in &chains {
            if let Err(e) = tokio::task::block_in_place(|| c.relock_due(&store, &rates)) {
                tracing::error!(chain = %c.chain, "re-pricing invoices: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
