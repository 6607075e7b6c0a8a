//! `[chain.invoices]`: where a chain's invoice addresses come from and
//! how its invoices are paid.

use super::chain::ChainConfig;
use crate::address::derive::AccountKey;
use crate::address::WatchAddress;
use crate::invoice_record::{RateAdjust, ToleranceRule};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInvoices {
    xpub: Option<String>,
    script_type: Option<String>,
    gap_limit: Option<u32>,
    shared_address: Option<String>,
    address_pool: Option<Vec<String>>,
    unique_amount_step: Option<String>,
    max_open: Option<u32>,
    default_expires_in: Option<u64>,
    zero_conf: Option<bool>,
    zero_conf_rbf: Option<bool>,
    amount_reuse_after: Option<String>,
    max_amount: Option<std::collections::BTreeMap<String, String>>,
    underpayment_tolerance: Option<RawPerAsset>,
    min_confirmations: Option<u64>,
    max_confirmations: Option<u64>,
    rate_adjust: Option<RawPerAsset>,
    relock_after: Option<String>,
    relock_grace: Option<String>,
    refund_from: Option<Vec<String>>,
    #[serde(default)]
    hold_flagged: bool,
}

/// One setting for every asset (`underpayment_tolerance = "1%"`), or a
/// table by asset.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPerAsset {
    All(String),
    ByAsset(std::collections::BTreeMap<String, String>),
}

/// `underpayment_tolerance`: how far short of its amount due an invoice
/// may be paid and still count as paid.
#[derive(Debug, Clone, Default)]
pub struct ToleranceConfig {
    /// A share (`"1%"`) for every asset without an entry of its own.
    pub all: Option<ToleranceRule>,
    /// By asset symbol (any case): a share or an amount of that asset,
    /// whole units as written.
    pub by_asset: std::collections::BTreeMap<String, String>,
}

/// `rate_adjust`: `"~1.02"` for every asset, or a table by asset.
#[derive(Debug, Clone, Default)]
pub struct RateAdjustConfig {
    pub all: Option<RateAdjust>,
    pub by_asset: std::collections::BTreeMap<String, RateAdjust>,
}

/// Where invoice addresses come from.
#[derive(Debug, Clone)]
pub enum InvoiceSource {
    /// A fresh address per invoice from an account public key (or a
    /// Bitcoin output descriptor), receive branch `0/i`.
    Derived(AccountKey),
    /// One address; open invoices get distinct amounts (the requested amount
    /// plus a multiple of `step`, whole units, at most `max_open` steps).
    Shared {
        address: WatchAddress,
        step: String,
        max_open: u32,
    },
    /// The merchant's own addresses, handed out in rotation: one invoice
    /// per address at a time (more can be added through the API).
    Pool(Vec<WatchAddress>),
}

#[derive(Debug, Clone)]
pub struct InvoiceConfig {
    pub source: InvoiceSource,
    pub gap_limit: u32,
    /// Seconds an invoice stays open when the request does not say.
    pub default_expires_in: u64,
    /// A mempool payment confirms the invoice at once (Bitcoin with
    /// `[chain.mempool]`); otherwise invoices confirm at the chain's
    /// `confirmations`.
    pub zero_conf: bool,
    /// With `zero_conf`, also a transaction that can be replaced (signals
    /// BIP-125, or the node runs full-RBF).
    pub zero_conf_rbf: bool,
    /// On a shared address, how long an amount stays reserved for an
    /// invoice after it expired or was cancelled.
    pub amount_reuse_after: Duration,
    /// The largest amount an invoice may ask for, by asset symbol (any
    /// case), whole units as written.
    pub max_amount: std::collections::BTreeMap<String, String>,
    pub underpayment_tolerance: ToleranceConfig,
    /// How the market rate is adjusted for invoices priced in fiat: for
    /// every asset, and by asset symbol (any case) where set.
    pub rate_adjust: RateAdjustConfig,
    /// An open invoice priced in fiat and not yet paid is priced again at
    /// the current rate once its price is this old; `None`: prices stay
    /// for the invoice's life.
    pub relock_after: Option<Duration>,
    /// After a re-lock, how long a payment of the old amount still pays.
    pub relock_grace: Duration,
    /// The confirmations an invoice may ask for instead of the chain's
    /// (0: a mempool payment confirms it); `None` where the node's
    /// finality mark confirms payments, not a depth.
    pub confirmations: Option<ConfirmationBounds>,
    /// The merchant's addresses refunds may be paid from besides the
    /// invoice's own (watched, so the payment is seen).
    pub refund_from: Vec<WatchAddress>,
    /// Invoices hold a payment flagged `sanctioned`, `frozen_sender` or
    /// `lookalike` at `held` for a person to release or reject (an
    /// invoice's request may say otherwise).
    pub hold_flagged: bool,
}

/// `min_confirmations` and `max_confirmations`, around what invoices wait
/// for by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmationBounds {
    /// 0 with `zero_conf`, else the chain's `confirmations`.
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// Where `max_confirmations` goes when not set: at least this deep.
const DEFAULT_MAX_CONFIRMATIONS: u64 = 100;

/// Reads `[chain.invoices]` of `chain`: its account key or shared address
/// are parsed here, as that chain's addresses.
pub(super) fn invoice_config(
    raw: RawInvoices,
    chain: &ChainConfig,
) -> Result<InvoiceConfig, String> {
    let pool = raw.address_pool;
    let source = match (raw.xpub, raw.shared_address) {
        (Some(_), Some(_)) => {
            return Err("invoices: set either `xpub` or `shared_address`, not both".into())
        }
        _ if pool.is_some()
            && (raw.unique_amount_step.is_some()
                || raw.max_open.is_some()
                || raw.script_type.is_some()) =>
        {
            return Err(
                "invoices: `address_pool` takes no `unique_amount_step`, `max_open` or `script_type`"
                    .into(),
            )
        }
        (None, None) if pool.is_some() => {
            let format = chain.address_format();
            let mut parsed = Vec::new();
            for (i, a) in pool.into_iter().flatten().enumerate() {
                let address = format
                    .parse(&a)
                    .map_err(|e| format!("invoices.address_pool[{i}]: {e}"))?;
                if parsed.iter().any(|p: &WatchAddress| p.key == address.key) {
                    return Err(format!(
                        "invoices.address_pool[{i}]: `{a}` is in the pool twice"
                    ));
                }
                parsed.push(address);
            }
            InvoiceSource::Pool(parsed)
        }
        _ if pool.is_some() => {
            return Err(
                "invoices: set one of `xpub`, `shared_address` or `address_pool`".into(),
            )
        }
        (None, None) => {
            return Err(
                "invoices: set `xpub` (an address per invoice), `shared_address` with \
                 `unique_amount_step`, or `address_pool` (addresses handed out in turn)"
                    .into(),
            )
        }
        (Some(key), None) => {
            if raw.unique_amount_step.is_some() || raw.max_open.is_some() {
                return Err(
                    "invoices: `unique_amount_step` and `max_open` go with `shared_address`".into(),
                );
            }
            let key = AccountKey::parse(&key, chain.address_kind(), raw.script_type.as_deref())
                .map_err(|e| format!("invoices.xpub: {e}"))?;
            InvoiceSource::Derived(key)
        }
        (None, Some(address)) => {
            if raw.script_type.is_some() {
                return Err("invoices: `script_type` goes with `xpub`".into());
            }
            let step = raw.unique_amount_step.ok_or(
                "invoices: a shared address needs `unique_amount_step` (e.g. \"0.01\") to tell invoices apart",
            )?;
            let address = chain
                .address_format()
                .parse(&address)
                .map_err(|e| format!("invoices.shared_address: {e}"))?;
            crate::amount::to_base(&step, 18)
                .map_err(|e| format!("invoices.unique_amount_step: {e}"))?;
            InvoiceSource::Shared {
                address,
                step,
                max_open: raw.max_open.unwrap_or(100).clamp(1, 100_000),
            }
        }
    };
    if raw.amount_reuse_after.is_some() && matches!(source, InvoiceSource::Derived(_)) {
        return Err(
            "invoices: `amount_reuse_after` goes with `shared_address` or `address_pool`".into(),
        );
    }
    let amount_reuse_after = match raw.amount_reuse_after.as_deref() {
        None => Duration::from_secs(86400),
        Some(t) => humantime::parse_duration(t).map_err(|e| {
            format!("invoices.amount_reuse_after: `{t}` is not a duration such as \"24h\": {e}")
        })?,
    };
    let default_expires_in = raw.default_expires_in.unwrap_or(1800);
    if !(60..=30 * 86400).contains(&default_expires_in) {
        return Err("invoices.default_expires_in: between 60 and 2592000 seconds".into());
    }
    let underpayment_tolerance = match raw.underpayment_tolerance {
        None => ToleranceConfig::default(),
        Some(RawPerAsset::All(t)) => {
            if !ToleranceRule::is_share(&t) {
                return Err(format!(
                    "invoices.underpayment_tolerance: `{t}` is an amount, and amounts differ by asset: \
                     give a share such as \"1%\", or a table such as {{ USDT = \"0.5\" }}"
                ));
            }
            // A share needs no decimals: it is the same rule for every asset.
            let rule = ToleranceRule::parse(&t, 0)
                .map_err(|e| format!("invoices.underpayment_tolerance: {e}"))?;
            ToleranceConfig {
                all: Some(rule),
                by_asset: Default::default(),
            }
        }
        Some(RawPerAsset::ByAsset(by_asset)) => {
            for (symbol, t) in &by_asset {
                if ToleranceRule::is_share(t) {
                    ToleranceRule::parse(t, 0)
                        .map_err(|e| format!("invoices.underpayment_tolerance.{symbol}: {e}"))?;
                }
            }
            ToleranceConfig {
                all: None,
                by_asset,
            }
        }
    };
    let by_node = match &chain.kind {
        super::ChainKind::Evm(e) => e.finality_tag.is_some(),
        super::ChainKind::Tron(t) => t.solidified,
        super::ChainKind::Bitcoin(_) => false,
    };
    let zero_conf = raw.zero_conf.unwrap_or(false);
    let confirmations = if by_node {
        if raw.min_confirmations.is_some() || raw.max_confirmations.is_some() {
            return Err(
                "invoices: `min_confirmations` and `max_confirmations` need a chain confirmed by \
                 depth: this one's node marks payments final (`finality` or `solidified`)"
                    .into(),
            );
        }
        None
    } else {
        let default = if zero_conf { 0 } else { chain.confirmations };
        let min = raw.min_confirmations.unwrap_or(default);
        let max = raw
            .max_confirmations
            .unwrap_or(default.max(DEFAULT_MAX_CONFIRMATIONS));
        if min > default || max < default {
            return Err(format!(
                "invoices: min_confirmations ({min}) to max_confirmations ({max}) must include what \
                 invoices wait for by default ({default}: {})",
                if zero_conf {
                    "zero_conf"
                } else {
                    "the chain's confirmations"
                }
            ));
        }
        Some(ConfirmationBounds { default, min, max })
    };
    let parse_adjust = |key: &str, t: &str| {
        RateAdjust::parse(t).map_err(|e| format!("invoices.rate_adjust{key}: {e}"))
    };
    let rate_adjust = match raw.rate_adjust {
        None => RateAdjustConfig::default(),
        Some(RawPerAsset::All(t)) => RateAdjustConfig {
            all: Some(parse_adjust("", &t)?),
            by_asset: Default::default(),
        },
        Some(RawPerAsset::ByAsset(m)) => RateAdjustConfig {
            all: None,
            by_asset: m
                .iter()
                .map(|(symbol, t)| Ok((symbol.clone(), parse_adjust(&format!(".{symbol}"), t)?)))
                .collect::<Result<_, String>>()?,
        },
    };
    let duration = |key: &str, t: Option<String>| {
        t.map(|t| {
            humantime::parse_duration(&t).map_err(|e| {
                format!("invoices.{key}: `{t}` is not a duration such as \"15m\": {e}")
            })
        })
        .transpose()
    };
    let relock_after = duration("relock_after", raw.relock_after)?;
    if relock_after.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err("invoices.relock_after: at least 1s".into());
    }
    let relock_grace =
        duration("relock_grace", raw.relock_grace)?.unwrap_or(Duration::from_secs(300));
    let mut refund_from: Vec<WatchAddress> = Vec::new();
    for (i, a) in raw.refund_from.unwrap_or_default().iter().enumerate() {
        let parsed = chain
            .address_format()
            .parse(a)
            .map_err(|e| format!("invoices.refund_from[{i}]: {e}"))?;
        if refund_from.iter().any(|r| r.key == parsed.key) {
            return Err(format!("invoices.refund_from[{i}]: `{a}` is listed twice"));
        }
        refund_from.push(parsed);
    }
    Ok(InvoiceConfig {
        hold_flagged: raw.hold_flagged,
        refund_from,
        relock_after,
        relock_grace,
        rate_adjust,
        confirmations,
        underpayment_tolerance,
        source,
        gap_limit: raw.gap_limit.unwrap_or(20).max(1),
        default_expires_in,
        zero_conf,
        amount_reuse_after,
        max_amount: raw.max_amount.unwrap_or_default(),
        zero_conf_rbf: raw.zero_conf_rbf.unwrap_or(false),
    })
}
