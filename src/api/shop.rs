//! The shop protocols' routes — Epusdt and BEpusdt (`api::epusdt`), EPay
//! (`api::epay`) — and what they share: finding the merchant a request
//! is signed by, and turning a shop's order into an invoice. These routes
//! take no API key: each request carries its merchant's signature.

use super::{epay, epusdt, gmpay, ApiError, AppState, Peer, ReqBody, Resp};
use crate::amount::{from_base, to_base};
use crate::config::{EpusdtConfig, MerchantConfig};
use crate::invoice::service::{CreateError, CreateRequest};
use crate::invoice_record::Invoice;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

/// Answers a shop protocol's request; gives `req` back when the path is
/// not one of theirs.
pub(super) async fn route(
    state: &AppState,
    method: &Method,
    segments: &[&str],
    req: Request<ReqBody>,
) -> Result<Result<Resp, ApiError>, Request<ReqBody>> {
    let post = method == Method::POST;
    let get = method == Method::GET;
    let get_or_post = post || get;
    let known = matches!(
        segments,
        [
            "api",
            "v1",
            "order",
            "create-transaction" | "cancel-transaction"
        ] | ["submit.php" | "mapi.php" | "api.php"]
            | [
                "payments",
                "epay",
                "v1",
                "order",
                "create-transaction",
                "submit.php"
            ]
            | ["payments", "gmpay", "v1", "order", "create-transaction"]
            | ["payments", "gmpay", "v1", "config"]
            | [
                "pay",
                "check-status" | "checkout-counter" | "checkout-counter-resp" | "submit-tx-hash",
                _
            ]
            | ["pay", "switch-network"]
    );
    if !known {
        return Err(req);
    }
    let Some(cfg) = &state.epusdt else {
        return Ok(Err(ApiError::not_found(
            "the shop protocols are off (no [epusdt] section)",
        )));
    };
    Ok(match segments {
        ["api", "v1", "order", "create-transaction"] if post => {
            epusdt::create(state, cfg, req).await
        }
        ["api", "v1", "order", "cancel-transaction"] if post => {
            epusdt::cancel(state, cfg, req).await
        }
        ["submit.php"]
        | ["payments", "epay", "v1", "order", "create-transaction", "submit.php"]
            if get_or_post =>
        {
            epay::submit(state, cfg, req).await
        }
        ["mapi.php"] if get_or_post => epay::mapi(state, cfg, req).await,
        ["payments", "gmpay", "v1", "order", "create-transaction"] if post => {
            let rid = gmpay::request_id(&req);
            gmpay::create(state, cfg, req, &rid).await
        }
        ["payments", "gmpay", "v1", "config"] if get => {
            Ok(gmpay::config(state, cfg, &gmpay::request_id(&req)))
        }
        ["pay", "check-status", id] if get => {
            gmpay::check_status(state, id, &gmpay::request_id(&req))
        }
        ["pay", "checkout-counter-resp", id] if get => {
            gmpay::checkout_counter(state, cfg, id, &gmpay::request_id(&req))
        }
        ["pay", "checkout-counter", id] if get => Ok(gmpay::to_checkout(state, cfg, id)),
        ["pay", "switch-network"] if post => {
            let rid = gmpay::request_id(&req);
            gmpay::switch_network(state, cfg, req, &rid).await
        }
        ["pay", "submit-tx-hash", id] if post => {
            let rid = gmpay::request_id(&req);
            gmpay::submit_tx_hash(state, req, id, &rid).await
        }
        ["api.php"] if get_or_post => epay::query(state, req).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on /{}", segments.join("/")),
        )),
    })
}

/// The address a request came from.
pub(super) fn peer(req: &Request<ReqBody>) -> Option<std::net::IpAddr> {
    req.extensions().get::<Peer>().map(|p| p.0)
}

/// Why a shop's request was refused, for each protocol to word as its
/// own error.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The signature does not verify, no merchant has the `pid`, or the
    /// merchant may not order from the request's address.
    Signature(String),
    /// A parameter is missing or wrong.
    Invalid(String),
    /// The order id has an invoice with another amount.
    Exists(String),
    /// No unique amount is free, or there is no usable rate: try later.
    Busy(String),
    Internal(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Signature(m)
            | Refusal::Invalid(m)
            | Refusal::Exists(m)
            | Refusal::Busy(m)
            | Refusal::Internal(m) => m,
        }
    }
}

/// The merchant with id `pid`, if its request comes from an allowed
/// address.
pub(super) fn merchant_by_pid<'a>(
    state: &'a AppState,
    pid: &str,
    from: Option<std::net::IpAddr>,
) -> Result<&'a MerchantConfig, Refusal> {
    let m = state
        .merchants
        .iter()
        .find(|m| m.id == pid.trim())
        .ok_or_else(|| Refusal::Signature(format!("pid: no merchant `{}`", pid.trim())))?;
    allowed(m, from)?;
    Ok(m)
}

/// Whether `m` may order from `from`.
pub(super) fn allowed(m: &MerchantConfig, from: Option<std::net::IpAddr>) -> Result<(), Refusal> {
    match from {
        Some(ip) if !m.allows_ip(ip) => Err(Refusal::Signature(format!(
            "merchant `{}` may not order from {ip} (its allowed_ips)",
            m.id
        ))),
        _ => Ok(()),
    }
}

/// A shop's order, in the terms the protocols share.
pub(super) struct ShopOrder<'a> {
    pub merchant: &'a MerchantConfig,
    /// `epusdt`, `bepusdt` or `epay`: how its callbacks are sent.
    pub protocol: &'static str,
    pub order_id: String,
    /// The price in `fiat`, at most two decimals.
    pub money: String,
    pub fiat: String,
    /// BEpusdt's `trade_type` or EPay's `type`; the `[epusdt]` chain and
    /// asset when `None`.
    pub trade_type: Option<String>,
    /// The chain and asset, named otherwise than by a payment type
    /// (GMPay's network and token); before `trade_type`.
    pub target: Option<(String, String)>,
    /// The merchant's default when `None`.
    pub notify_url: Option<String>,
    pub redirect_url: Option<String>,
    pub name: Option<String>,
    /// Seconds the order stays open.
    pub timeout: Option<u64>,
    /// BEpusdt's `rate`: `7.4` fixed, `~1.02`, `+0.3`, `-0.1` on the market rate.
    pub rate: Option<String>,
    /// More of the order for its callbacks (EPay's `pid`, `type`, `param`).
    pub extra: serde_json::Map<String, Value>,
    /// The order with options this invoice is one of (a GMPay order
    /// switched to another network).
    pub choice: Option<String>,
}

/// The shortest time a BEpusdt order may stay open, in seconds (its
/// documented minimum).
const MIN_TIMEOUT: u64 = 120;

/// Makes (or finds again) the invoice of a shop's order.
pub(super) fn create(
    state: &AppState,
    cfg: &EpusdtConfig,
    o: ShopOrder<'_>,
) -> Result<Invoice, Refusal> {
    let (chain, asset) = match (&o.target, &o.trade_type) {
        (Some(target), _) => target.clone(),
        (None, None) => (cfg.chain.clone(), cfg.asset.to_uppercase()),
        (None, Some(t)) => cfg.trade_type(t).cloned().ok_or_else(|| {
            Refusal::Invalid(format!(
                "trade_type: `{t}` is not a payment type this server takes ({})",
                cfg.trade_types
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    if !o.merchant.allows_asset(&chain, &asset) {
        return Err(Refusal::Invalid(format!(
            "merchant `{}` may not take {asset} on {chain} (its assets)",
            o.merchant.id
        )));
    }
    let Some(invoices) = state.invoices.get(&chain) else {
        return Err(Refusal::Internal(format!(
            "chain {chain} takes no invoices"
        )));
    };
    let notify_url = o
        .notify_url
        .or_else(|| o.merchant.notify_url.clone())
        .ok_or_else(|| Refusal::Invalid("notify_url is required".into()))?;
    let private = o.merchant.allow_private_notify;
    crate::invoice::notify::check("notify_url", &notify_url, private)
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    if let Some(r) = &o.redirect_url {
        crate::invoice::notify::check("redirect_url", r, private)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
    }
    let money = o.money.trim().to_string();
    match to_base(&money, 2) {
        Ok(v) if !v.is_zero() => {}
        Ok(_) => return Err(Refusal::Invalid("amount: must be more than 0".into())),
        Err(e) => return Err(Refusal::Invalid(format!("amount: {e}"))),
    }
    let fiat = o.fiat.trim().to_uppercase();
    if fiat.is_empty() || fiat.len() > 8 || !fiat.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal::Invalid(format!(
            "fiat: `{}` is not a currency code",
            o.fiat
        )));
    }
    if let Some(t) = o.timeout {
        if t < MIN_TIMEOUT {
            return Err(Refusal::Invalid(format!(
                "timeout: {t} s is under the {MIN_TIMEOUT} s an order stays open at least"
            )));
        }
    }
    // A fixed rate makes the asset amount here; an adjustment goes to the
    // invoice, which applies it to the market rate.
    let rate = o.rate.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let (amount, price, currency, rate_adjust) = match rate {
        Some(r) if r.starts_with(['~', '+', '-']) => (
            None,
            Some(money.clone()),
            Some(fiat.clone()),
            Some(r.to_string()),
        ),
        Some(r) => {
            let decimals = invoices
                .asset_decimals(&asset)
                .ok_or_else(|| Refusal::Invalid(format!("trade_type: {chain} takes no {asset}")))?;
            let fixed = crate::amount::parse_rate(r)
                .ok()
                .filter(|v| !v.is_zero())
                .ok_or_else(|| {
                    Refusal::Invalid(format!(
                        "rate: `{r}` is not a positive number, nor ~x, +x or -x"
                    ))
                })?;
            let base = crate::invoice::rates::price_to_base(&money, fixed, decimals, 4)
                .map_err(|e| Refusal::Invalid(format!("rate: {e}")))?;
            (Some(from_base(base, decimals)), None, None, None)
        }
        None => (None, Some(money.clone()), Some(fiat.clone()), None),
    };
    let mut meta = json!({
        "protocol": o.protocol,
        "amount": money,
        "fiat": fiat,
        "notify_url": notify_url,
        "redirect_url": o.redirect_url,
        "name": o.name,
        "trade_type": o.trade_type,
    });
    if let Some(m) = meta.as_object_mut() {
        m.extend(o.extra);
        m.retain(|_, v| !v.is_null());
    }
    // An EPay buyer's return carries the signed order: made when the page
    // shows it, once the order is paid, never stored.
    let redirect_url = if o.protocol == "epay" {
        None
    } else {
        o.redirect_url
    };
    let request = CreateRequest {
        chain,
        asset,
        amount,
        price,
        currency,
        order_id: o.order_id,
        merchant: o.merchant.recorded_id().map(str::to_string),
        expires_in: o.timeout.or(cfg.expires_in).map(|e| e as i64),
        redirect_url,
        round_to: Some(4),
        choice: o.choice,
        underpayment_tolerance: None,
        confirmations: None,
        hold_flagged: None,
        rate_adjust,
        metadata: json!({ "epusdt": meta }),
    };
    tokio::task::block_in_place(|| invoices.create(&state.store, &state.rates, request))
        .map(|(inv, _)| inv)
        .map_err(|e| match e {
            CreateError::Conflict("invoice_exists", m) => Refusal::Exists(m),
            CreateError::Conflict(_, m) | CreateError::Unavailable(_, m) => Refusal::Busy(m),
            CreateError::Invalid(_, m) => Refusal::Invalid(m),
            CreateError::Store(e) => Refusal::Internal(e.to_string()),
        })
}

/// Where the buyer pays: the checkout page, or the QR code without it.
pub(super) fn payment_url(state: &AppState, cfg: &EpusdtConfig, id: &str) -> String {
    match &state.checkout {
        Some(c) => format!("{}{}/{id}", cfg.public_url, c.path()),
        None => format!("{}/v1/invoices/{id}/qr.svg", cfg.public_url),
    }
}

/// The request's parameters: a JSON object, or with `form`, a form body
/// too (its values as strings); `None` for a body that is neither.
pub(super) async fn params(
    req: Request<ReqBody>,
    form: bool,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    use super::http::{read_body, MAX_BODY};
    let types: &[&str] = if form {
        &["application/json", "application/x-www-form-urlencoded"]
    } else {
        &["application/json"]
    };
    let (ct, body) = read_body(req, types, MAX_BODY).await?;
    Ok(if ct == "application/x-www-form-urlencoded" {
        let mut m = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(&body) {
            m.entry(k.into_owned())
                .or_insert(Value::String(v.into_owned()));
        }
        Some(m)
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    })
}

/// The invoice of `merchant`'s order `order_id`, on whichever chain.
pub(super) fn merchant_order(
    state: &AppState,
    merchant: &MerchantConfig,
    order_id: &str,
) -> Result<Option<Invoice>, Refusal> {
    for chain in state.invoices.keys() {
        let found = state
            .store
            .invoice_by_order(chain, merchant.recorded_id(), order_id)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// A shop order's invoice, if `merchant` owns it.
pub(super) fn owned_invoice(
    state: &AppState,
    merchant: &MerchantConfig,
    id: &str,
) -> Result<Option<Invoice>, Refusal> {
    let inv = state
        .store
        .invoice(id)
        .map_err(|e| Refusal::Internal(e.to_string()))?;
    Ok(inv.filter(|i| {
        i.merchant.as_deref() == merchant.recorded_id() && i.metadata.get("epusdt").is_some()
    }))
}
