//! GMPay, the order API of the current Epusdt:
//!
//! - `POST /payments/gmpay/v1/order/create-transaction`, a JSON or form
//!   body: `pid`, `order_id` (at most 32 characters), `currency` (the fiat
//!   of `amount`), `token` and `network` (the asset and its network:
//!   `tron`, `ethereum`, `binance`, `polygon`, `base`, `arbitrum`, each the
//!   configured chain of that kind or chain id, or `[epusdt.gmpay_networks]`),
//!   `amount` (more than 0.01), `notify_url`, `redirect_url`, `name`,
//!   `payment_type` and `signature`. The signature is over every parameter
//!   but `signature`, null and empty ones left out, numbers written as Go's
//!   `FormatFloat(f, 'f', -1, 64)`, each `k=v` sorted and joined with `&`:
//!   HMAC-SHA256 keyed with the merchant's secret (lower-case hex), or the
//!   MD5 of the text and the secret, as the merchant's `gmpay_sign` allows.
//!   The answer: `status_code` 200 with `trade_id`, `order_id`, `amount`,
//!   `currency`, `actual_amount`, `receive_address`, `token`, `status` 1,
//!   `expiration_time` (Unix seconds) and `payment_url`; a failure is HTTP
//!   400 (401 for the signature) with GMPay's errno and message.
//! - `GET /pay/check-status/{trade_id}`: `trade_id` and `status` (1
//!   waiting, 2 paid, 3 expired).
//! - `GET /pay/checkout-counter-resp/{trade_id}`: the order as GMPay's
//!   cashier shows it; `GET /pay/checkout-counter/{trade_id}` sends the
//!   buyer to paywatch's checkout page.
//! - `POST /pay/switch-network` `{trade_id, token, network}`: the buyer
//!   pays an open, unpaid order on another network. Once per order, as
//!   GMPay allows: a second invoice (its own `trade_id`, address and
//!   amount) is made, and the two are the options of one order, so that
//!   the first paid wins and the other is closed.
//! - `POST /pay/submit-tx-hash/{trade_id}` `{block_transaction_id}`: the
//!   buyer names the transaction that paid; it is credited only if it is
//!   in a block paywatch scanned, pays the order's address exactly its
//!   amount in its asset, is not older than the order (by its block's
//!   time, allowing for producers' clocks: two hours on Bitcoin, five
//!   minutes elsewhere) and is credited to no other order.
//! - `GET /payments/gmpay/v1/config`: the networks and tokens orders may
//!   name.
//!
//! Every answer carries `request_id`: the request's `X-Request-ID`, or a
//! new UUID, also sent back as the `X-Request-Id` header.
//!
//! When the order is paid, the `epusdt` sink POSTs GMPay's callback, signed
//! with the algorithm the order was created with (EPay's GET for an order
//! with `payment_type` `Epay`).

use super::http::json_text_response;
use super::shop::{self, Refusal, ShopOrder};
use super::{ApiError, AppState, ReqBody, Resp};
use crate::clock::now_secs;
use crate::config::{EpusdtConfig, GmpaySign};
use crate::deliver::epusdt::{gmpay_canonical, gmpay_sign, SignAlgorithm};
use crate::invoice::gojson;
use crate::invoice_record::{Choice, ChoiceOption, Invoice, InvoiceStatus};
use crate::transfer::{Direction, Hash32};
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use serde_json::{json, Map, Value};

/// The request's id: its `X-Request-ID` as sent, or a new UUID.
pub(super) fn request_id(req: &Request<ReqBody>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// GMPay's answer envelope, with the request id in it and in the
/// `X-Request-Id` header.
fn envelope(rid: &str, http: StatusCode, status_code: u32, message: &str, data: &str) -> Resp {
    let mut r = json_text_response(
        http,
        format!(
            r#"{{"status_code":{status_code},"message":{},"data":{data},"request_id":{}}}"#,
            gojson::string(message),
            gojson::string(rid)
        ),
    );
    if let Ok(v) = HeaderValue::from_str(rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// A success with `data`.
fn ok(rid: &str, data: &str) -> Resp {
    envelope(rid, StatusCode::OK, 200, "success", data)
}

/// A failure with GMPay's errno: HTTP 401 for the signature, else 400.
/// The message is GMPay's, then paywatch's reason.
fn fail(rid: &str, errno: u32, reason: &str) -> Resp {
    let text = match errno {
        401 => "signature verification failed",
        10002 => "order already exists",
        10004 => "invalid payment amount",
        10005 => "no available amount channel",
        10006 => "rate calculation failed",
        10007 => "block transaction already processed",
        10008 => "order does not exist",
        10010 => "order status already changed",
        10011 => "exceeded maximum sub-order limit",
        10012 => "cannot switch network on a sub-order",
        10013 => "order is not awaiting payment",
        10014 => "chain is not enabled",
        10016 => "supported asset not found",
        10038 => "manual payment verification failed",
        10041 => "invalid notify url",
        400 => "system error",
        _ => "failed to parse request params",
    };
    let message = if reason.is_empty() {
        text.to_string()
    } else {
        format!("{text}: {reason}")
    };
    let http = if errno == 401 {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    envelope(rid, http, errno, &message, "null")
}

/// `POST /payments/gmpay/v1/order/create-transaction`.
pub(super) async fn create(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
    rid: &str,
) -> Result<Resp, ApiError> {
    let from = shop::peer(&req);
    let Some(params) = shop::params(req, true).await? else {
        return Ok(fail(rid, 401, "the body is not a JSON object or a form"));
    };
    Ok(create_transaction(state, cfg, &params, from, rid))
}

fn create_transaction(
    state: &AppState,
    cfg: &EpusdtConfig,
    params: &Map<String, Value>,
    from: Option<std::net::IpAddr>,
    rid: &str,
) -> Resp {
    let fail = |errno, reason: &str| fail(rid, errno, reason);
    // The signature first: a wrongly signed request learns nothing else.
    let pid = match params.get("pid") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.as_f64().map(|f| format!("{f}")).unwrap_or_default(),
        _ => return fail(401, "pid is required"),
    };
    let merchant = match shop::merchant_by_pid(state, &pid, from) {
        Ok(m) => m,
        Err(r) => return fail(401, r.message()),
    };
    let Some(canonical) = gmpay_canonical(params) else {
        return fail(401, "a parameter is a boolean, an object or an array");
    };
    let given = params
        .get("signature")
        .and_then(Value::as_str)
        .unwrap_or("");
    let secret = merchant.secret.expose();
    let matches = |a: SignAlgorithm| {
        super::auth::constant_time_eq(
            given.as_bytes(),
            gmpay_sign(&canonical, secret, a).as_bytes(),
        )
    };
    let algorithm = match merchant.gmpay_sign {
        GmpaySign::HmacSha256 => {
            matches(SignAlgorithm::HmacSha256).then_some(SignAlgorithm::HmacSha256)
        }
        GmpaySign::Md5 => matches(SignAlgorithm::Md5).then_some(SignAlgorithm::Md5),
        GmpaySign::Dual => [SignAlgorithm::HmacSha256, SignAlgorithm::Md5]
            .into_iter()
            .find(|a| matches(*a)),
    };
    let Some(algorithm) = algorithm else {
        return fail(401, "");
    };
    let text = |k: &str| match params.get(k) {
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (Some(order_id), Some(currency), Some(notify_url)) =
        (text("order_id"), text("currency"), text("notify_url"))
    else {
        return fail(
            10009,
            "order_id, currency, amount and notify_url are required",
        );
    };
    if order_id.chars().count() > 32 {
        return fail(10009, "order_id: at most 32 characters");
    }
    // A JSON number as Go renders it (GMPay signs and reads it so).
    let amount = match params.get("amount") {
        Some(Value::Number(n)) => n.as_f64().map(|f| format!("{f}")),
        Some(Value::String(s)) => Some(s.trim().to_string()),
        _ => None,
    };
    // More than 0.01, compared as a decimal (in units of 10^-8), not a float.
    let cent = ruint::aliases::U256::from(1_000_000u64);
    let Some(amount) = amount.filter(|a| crate::amount::to_base(a, 8).is_ok_and(|v| v > cent))
    else {
        return fail(10009, "amount: a number more than 0.01");
    };
    let (token, network) = match (text("token"), text("network")) {
        (Some(t), Some(n)) => (t.to_uppercase(), n.to_lowercase()),
        (None, None) => {
            return fail(
                10009,
                "token and network: paywatch needs both (an order without them, chosen later at checkout, is not supported)",
            )
        }
        _ => return fail(10009, "token and network go together"),
    };
    let Some(chain) = cfg.gmpay_networks.get(&network) else {
        return fail(10014, &format!("network `{network}`"));
    };
    let Some(invoices) = state.invoices.get(chain) else {
        return fail(10014, &format!("network `{network}`"));
    };
    if invoices.asset_decimals(&token).is_none() {
        return fail(10016, &format!("{token} on {network}"));
    }
    if let Err(e) =
        crate::invoice::notify::check("notify_url", &notify_url, merchant.allow_private_notify)
    {
        return fail(10041, &e.to_string());
    }
    // An order id is created once, whatever became of its order.
    let exists = match shop::merchant_order(state, merchant, &order_id) {
        Ok(found) => found.is_some(),
        Err(r) => return fail(400, r.message()),
    };
    if exists {
        return fail(10002, &order_id);
    }
    let mut extra = Map::new();
    extra.insert("pid".into(), merchant.id.clone().into());
    extra.insert("token".into(), token.clone().into());
    extra.insert("network".into(), network.clone().into());
    extra.insert("sign".into(), algorithm.name().into());
    // GMPay's only special payment type: its callback is then EPay's.
    if text("payment_type").is_some_and(|t| t.eq_ignore_ascii_case("epay")) {
        extra.insert("payment_type".into(), "Epay".into());
    }
    let order = ShopOrder {
        merchant,
        protocol: "gmpay",
        order_id,
        money: amount,
        fiat: currency.to_uppercase(),
        trade_type: None,
        target: Some((chain.clone(), token.clone())),
        notify_url: Some(notify_url),
        redirect_url: text("redirect_url"),
        name: text("name"),
        timeout: None,
        rate: None,
        extra,
        choice: None,
    };
    let inv = match shop::create(state, cfg, order) {
        Ok(inv) => inv,
        Err(Refusal::Exists(m)) => return fail(10002, &m),
        Err(Refusal::Busy(m)) if m.contains("rate") => return fail(10006, &m),
        Err(Refusal::Busy(m)) => return fail(10005, &m),
        Err(Refusal::Invalid(m)) if m.starts_with("amount") => return fail(10004, &m),
        Err(Refusal::Invalid(m)) if m.contains("rate") => return fail(10006, &m),
        Err(Refusal::Invalid(m)) => return fail(10009, &m),
        Err(r) => return fail(400, r.message()),
    };
    let meta = &inv.metadata["epusdt"];
    let number = |s: &str| crate::deliver::epusdt::float(s).unwrap_or(Value::Null);
    let data = gojson::object(&[
        ("trade_id", &inv.id.as_str().into()),
        ("order_id", &inv.order_id.as_str().into()),
        ("amount", &number(meta["amount"].as_str().unwrap_or(""))),
        ("currency", &meta["fiat"]),
        ("actual_amount", &number(&inv.amount_due)),
        ("receive_address", &inv.address.as_str().into()),
        ("token", &token.as_str().into()),
        ("status", &1.into()),
        ("expiration_time", &inv.expires_at.into()),
        (
            "payment_url",
            &shop::payment_url(state, cfg, &inv.id).into(),
        ),
    ]);
    ok(rid, &data)
}

/// GMPay's status of an order: 1 waiting, 2 paid, 3 expired (or ended
/// unpaid another way).
fn status(s: InvoiceStatus) -> u8 {
    match s {
        InvoiceStatus::Confirmed | InvoiceStatus::Settled | InvoiceStatus::PaidLate => 2,
        InvoiceStatus::Pending | InvoiceStatus::Underpaid | InvoiceStatus::Paid => 1,
        _ => 3,
    }
}

/// A shop order by its id (any protocol's: GMPay's cashier serves them
/// all).
fn shop_order(state: &AppState, trade_id: &str) -> Result<Option<Invoice>, ApiError> {
    Ok(state
        .store
        .invoice(trade_id)
        .map_err(ApiError::internal)?
        .filter(|i| i.metadata.get("epusdt").is_some()))
}

/// The invoice whose status the order has. For an order switched to
/// another network (its two invoices the options of one choice): the one
/// that pays it (paid and waiting for confirmations too), else one still
/// open, else `inv` itself.
fn deciding(state: &AppState, inv: Invoice) -> Result<Invoice, ApiError> {
    let Some(cid) = &inv.choice else {
        return Ok(inv);
    };
    let Some(choice) = state.store.choice(cid).map_err(ApiError::internal)? else {
        return Ok(inv);
    };
    let options =
        crate::invoice::choice::children(&state.store, &choice).map_err(ApiError::internal)?;
    let paid = options.iter().find(|o| crate::invoice::choice::pays(o));
    let open = options.iter().find(|o| o.status.is_open());
    Ok(paid.or(open).cloned().unwrap_or(inv))
}

/// `GET /pay/check-status/{trade_id}`: any shop order's status, by its
/// unguessable id.
pub(super) fn check_status(state: &AppState, trade_id: &str, rid: &str) -> Result<Resp, ApiError> {
    Ok(match shop_order(state, trade_id)? {
        None => fail(rid, 10008, ""),
        Some(inv) => {
            let status = status(deciding(state, inv.clone())?.status);
            ok(
                rid,
                &gojson::object(&[
                    ("trade_id", &inv.id.as_str().into()),
                    ("status", &status.into()),
                ]),
            )
        }
    })
}

/// GMPay's name of the network an invoice is on.
fn network_of(cfg: &EpusdtConfig, inv: &Invoice) -> String {
    let meta = &inv.metadata["epusdt"];
    if let Some(n) = meta["network"].as_str() {
        return n.to_string();
    }
    cfg.gmpay_networks
        .iter()
        .find(|(_, chain)| **chain == inv.chain)
        .map_or_else(|| inv.chain.clone(), |(n, _)| n.clone())
}

/// The order as GMPay's cashier shows it (`CheckoutCounterResponse`);
/// its times in milliseconds, as GMPay gives them there.
fn counter(state: &AppState, cfg: &EpusdtConfig, inv: &Invoice) -> Result<String, ApiError> {
    let meta = &inv.metadata["epusdt"];
    let number = |s: &str| crate::deliver::epusdt::float(s).unwrap_or(Value::Null);
    let epay = meta["payment_type"] == "Epay" || meta["protocol"] == "epay";
    let selected = meta.get("parent").is_some() || inv.choice.is_some() || meta["selected"] == true;
    let token = meta["token"]
        .as_str()
        .map_or_else(|| inv.asset.symbol.clone(), str::to_string);
    let status = status(deciding(state, inv.clone())?.status);
    Ok(gojson::object(&[
        ("trade_id", &inv.id.as_str().into()),
        ("amount", &number(meta["amount"].as_str().unwrap_or(""))),
        ("actual_amount", &number(&inv.amount_due)),
        ("token", &token.into()),
        ("currency", &meta["fiat"]),
        ("receive_address", &inv.address.as_str().into()),
        ("network", &network_of(cfg, inv).into()),
        ("status", &status.into()),
        ("payment_type", &if epay { "epay" } else { "gmpay" }.into()),
        (
            "expiration_time",
            &inv.expires_at.saturating_mul(1000).into(),
        ),
        (
            "redirect_url",
            &meta["redirect_url"].as_str().unwrap_or("").into(),
        ),
        ("payment_url", &"".into()),
        ("created_at", &inv.created_at.saturating_mul(1000).into()),
        ("is_selected", &selected.into()),
    ]))
}

/// `GET /pay/checkout-counter-resp/{trade_id}`.
pub(super) fn checkout_counter(
    state: &AppState,
    cfg: &EpusdtConfig,
    trade_id: &str,
    rid: &str,
) -> Result<Resp, ApiError> {
    Ok(match shop_order(state, trade_id)? {
        None => fail(rid, 10008, ""),
        Some(inv) => ok(rid, &counter(state, cfg, &inv)?),
    })
}

/// `GET /pay/checkout-counter/{trade_id}`: to the order's checkout page.
pub(super) fn to_checkout(state: &AppState, cfg: &EpusdtConfig, trade_id: &str) -> Resp {
    super::http::redirect(
        StatusCode::MOVED_PERMANENTLY,
        &shop::payment_url(state, cfg, trade_id),
    )
}

/// `POST /pay/switch-network`.
pub(super) async fn switch_network(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
    rid: &str,
) -> Result<Resp, ApiError> {
    let Some(params) = shop::params(req, true).await? else {
        return Ok(fail(rid, 10009, "the body is not a JSON object or a form"));
    };
    let text = |k: &str| {
        params
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let (Some(trade_id), Some(token), Some(network)) =
        (text("trade_id"), text("token"), text("network"))
    else {
        return Ok(fail(rid, 10009, "trade_id, token and network are required"));
    };
    let (token, network) = (token.to_uppercase(), network.to_lowercase());
    tokio::task::block_in_place(|| switch(state, cfg, trade_id, &token, &network, rid))
}

fn switch(
    state: &AppState,
    cfg: &EpusdtConfig,
    trade_id: &str,
    token: &str,
    network: &str,
    rid: &str,
) -> Result<Resp, ApiError> {
    let fail = |errno, reason: &str| Ok(fail(rid, errno, reason));
    let Some(first) = shop_order(state, trade_id)? else {
        return fail(10008, "");
    };
    let meta = &first.metadata["epusdt"];
    if meta.get("parent").is_some() {
        return fail(10012, "");
    }
    let Some(chain) = cfg.gmpay_networks.get(network) else {
        return fail(10014, &format!("network `{network}`"));
    };
    let Some(invoices) = state.invoices.get(chain) else {
        return fail(10014, &format!("network `{network}`"));
    };
    if invoices.asset_decimals(token).is_none() {
        return fail(10016, &format!("{token} on {network}"));
    }
    let Some(merchant) = state
        .merchants
        .iter()
        .find(|m| m.recorded_id() == first.merchant.as_deref())
    else {
        return fail(10008, "its merchant is no longer configured");
    };
    if !merchant.allows_asset(chain, token) {
        return fail(
            10016,
            &format!("{token} on {network} (the merchant's assets)"),
        );
    }
    let is_target = |inv: &Invoice| inv.chain == *chain && inv.asset.symbol == token;
    // Switched before: the invoice on that network again, or no further.
    if let Some(cid) = &first.choice {
        let choice = state.store.choice(cid).map_err(ApiError::internal)?;
        let options = choice
            .map(|c| crate::invoice::choice::children(&state.store, &c))
            .transpose()
            .map_err(ApiError::internal)?
            .unwrap_or_default();
        return match options.iter().find(|o| is_target(o)) {
            Some(o) if o.status.is_open() => Ok(ok(rid, &counter(state, cfg, o)?)),
            Some(_) => fail(10013, ""),
            None => fail(10011, "an order switches network once"),
        };
    }
    if first.status != InvoiceStatus::Pending || !first.payments.is_empty() {
        return fail(10013, &format!("it is {}", first.status.name()));
    }
    if is_target(&first) {
        let inv = mark_selected(state, &first.id)?;
        return Ok(ok(rid, &counter(state, cfg, &inv)?));
    }
    let now = now_secs();
    let option = |chain: &str, asset: &str, invoice: Option<String>| ChoiceOption {
        chain: chain.to_string(),
        asset: asset.to_string(),
        network: network.to_string(),
        invoice,
    };
    let choice = Choice {
        id: crate::invoice::service::new_invoice_id(),
        order_id: first.order_id.clone(),
        price: meta["amount"].as_str().unwrap_or("").to_string(),
        currency: meta["fiat"].as_str().unwrap_or("").to_string(),
        options: vec![
            option(&first.chain, &first.asset.symbol, Some(first.id.clone())),
            option(chain, token, None),
        ],
        created_at: now,
        expires_at: first.expires_at,
        redirect_url: first.redirect_url.clone(),
        metadata: json!({}),
        underpayment_tolerance: None,
        rate_adjust: None,
        hold_flagged: None,
    };
    let text = |k: &str| meta[k].as_str().map(str::to_string);
    let mut extra = Map::new();
    for k in ["pid", "sign", "payment_type"] {
        if let Some(v) = meta.get(k) {
            extra.insert(k.into(), v.clone());
        }
    }
    extra.insert("token".into(), token.into());
    extra.insert("network".into(), network.into());
    extra.insert("parent".into(), first.id.as_str().into());
    extra.insert("order_id".into(), first.order_id.as_str().into());
    let order = ShopOrder {
        merchant,
        protocol: "gmpay",
        // Its own order id, as GMPay gives a sub-order: the shop's order
        // id, the token and the network.
        order_id: format!("{}@{token}.{network}", first.order_id),
        money: text("amount").unwrap_or_default(),
        fiat: text("fiat").unwrap_or_default(),
        trade_type: None,
        target: Some((chain.clone(), token.to_string())),
        notify_url: text("notify_url"),
        redirect_url: text("redirect_url"),
        name: text("name"),
        timeout: None,
        rate: None,
        extra,
        choice: Some(choice.id.clone()),
    };
    let second = match shop::create(state, cfg, order) {
        Ok(inv) => inv,
        Err(Refusal::Busy(m)) if m.contains("rate") => return fail(10006, &m),
        Err(Refusal::Busy(m)) => return fail(10005, &m),
        Err(Refusal::Invalid(m)) if m.starts_with("amount") => return fail(10004, &m),
        Err(Refusal::Exists(m)) => return fail(10011, &m),
        Err(r) => return fail(10009, r.message()),
    };
    let reuse_after = |chain: &str| super::invoices::reuse_after(state, chain);
    match crate::invoice::choice::link_switch(&state.store, choice, &first.id, &second, reuse_after)
    {
        Ok(_) => {}
        Err(crate::invoice::choice::SwitchError::Conflict(m)) => return fail(10010, &m),
        Err(crate::invoice::choice::SwitchError::Store(e)) => return Err(ApiError::internal(e)),
    }
    Ok(ok(rid, &counter(state, cfg, &second)?))
}

/// Records that the buyer chose the network the order is on.
fn mark_selected(state: &AppState, id: &str) -> Result<Invoice, ApiError> {
    let _edit = state.store.invoice_edit();
    let mut inv = state
        .store
        .invoice(id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no invoice `{id}`")))?;
    if inv.metadata["epusdt"]["selected"] != true {
        inv.metadata["epusdt"]["selected"] = true.into();
        state
            .store
            .commit_invoices(std::slice::from_ref(&inv), Vec::new(), None)
            .map_err(ApiError::internal)?;
    }
    Ok(inv)
}

/// `POST /pay/submit-tx-hash/{trade_id}` `{"block_transaction_id": …}`.
pub(super) async fn submit_tx_hash(
    state: &AppState,
    req: Request<ReqBody>,
    trade_id: &str,
    rid: &str,
) -> Result<Resp, ApiError> {
    let Some(params) = shop::params(req, true).await? else {
        return Ok(fail(rid, 10009, "the body is not a JSON object or a form"));
    };
    let Some(txid) = params
        .get("block_transaction_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(fail(rid, 10009, "block_transaction_id is required"));
    };
    tokio::task::block_in_place(|| submit(state, trade_id, txid, rid))
}

fn submit(state: &AppState, trade_id: &str, txid: &str, rid: &str) -> Result<Resp, ApiError> {
    use crate::invoice::manual::{attach, ByHand, ManualError};
    let fail = |errno, reason: &str| Ok(fail(rid, errno, reason));
    let Some(inv) = shop_order(state, trade_id)? else {
        return fail(10008, "");
    };
    if status(inv.status) != 1 || inv.superseded_by.is_some() {
        return fail(10013, &format!("it is {}", inv.status.name()));
    }
    let Ok(hash) = Hash32::from_hex(txid.trim_start_matches("0x").trim_start_matches("0X")) else {
        return fail(
            10038,
            &format!("`{txid}` is not a 32-byte hex transaction id"),
        );
    };
    let found: Vec<_> = state
        .store
        .transfers_by_txid(&inv.chain, &hash)
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|t| {
            t.direction == Direction::In
                && t.address == inv.address
                && t.asset.symbol == inv.asset.symbol
                && t.asset.contract == inv.asset.contract
        })
        .collect();
    let Some(paying) = found.iter().find(|t| t.amount == inv.amount_due_base) else {
        return fail(
            10038,
            &if found.is_empty() {
                format!(
                    "transaction {txid} is in no block paywatch has scanned with a payment of {} to {}",
                    inv.asset.symbol, inv.address
                )
            } else {
                format!(
                    "transaction {txid} does not pay exactly {} {}",
                    inv.amount_due, inv.asset.symbol
                )
            },
        );
    };
    // Block times are the producer's clock: a Bitcoin block's may trail
    // the real time by an hour or more, other chains' by seconds.
    let bitcoin = state
        .invoices
        .get(&inv.chain)
        .is_some_and(|c| c.is_bitcoin());
    let skew = if bitcoin { 2 * 3600 } else { 300 };
    if paying.block.time.saturating_add(skew) < inv.created_at {
        return fail(
            10038,
            &format!(
                "transaction {txid} is in a block of {}, before the order was created ({})",
                paying.block.time, inv.created_at
            ),
        );
    }
    let canonical = paying.txid.to_string();
    let credited = |i: &Invoice| {
        i.payments.iter().any(|p| {
            p.index == paying.index && Hash32::from_hex(&p.txid).is_ok_and(|h| h == paying.txid)
        })
    };
    let answer = |inv: &Invoice| -> Result<Resp, ApiError> {
        Ok(ok(
            rid,
            &gojson::object(&[
                ("trade_id", &inv.id.as_str().into()),
                ("status", &status(inv.status).into()),
                ("block_transaction_id", &canonical.as_str().into()),
            ]),
        ))
    };
    if credited(&inv) {
        return answer(&inv);
    }
    let who = ByHand {
        by: None,
        note: Some("transaction named at the checkout (GMPay submit-tx-hash)".into()),
    };
    let reuse_after = |chain: &str| super::invoices::reuse_after(state, chain);
    match attach(&state.store, &inv.id, &canonical, &who, reuse_after) {
        Ok(inv) => answer(&inv),
        Err(ManualError::Conflict("payment_already_credited", m)) => fail(10007, &m),
        Err(ManualError::Store(e)) => Err(ApiError::internal(e)),
        Err(e) => fail(10038, &e.to_string()),
    }
}

/// `GET /payments/gmpay/v1/config`: the networks orders may name, each
/// with the tokens its chain takes invoices in.
pub(super) fn config(state: &AppState, cfg: &EpusdtConfig, rid: &str) -> Resp {
    let assets: Vec<Value> = cfg
        .gmpay_networks
        .iter()
        .filter_map(|(network, chain)| {
            let inv = state.invoices.get(chain)?;
            let mut tokens: Vec<String> = inv.asset_symbols();
            tokens.sort();
            Some(json!({"network": network, "display_name": chain, "tokens": tokens}))
        })
        .collect();
    let data = json!({
        "supported_assets": assets,
        "site": {"cashier_name": "", "logo_url": "", "website_title": "", "support_link": "",
                 "background_color": "", "background_image_url": ""},
        "epay": {"default_token": cfg.asset.to_uppercase(), "default_currency": "cny",
                 "default_network": ""},
        "okpay": {"enabled": false, "allow_tokens": []},
        "version": concat!("paywatch ", env!("CARGO_PKG_VERSION")),
    });
    ok(rid, &data.to_string())
}
