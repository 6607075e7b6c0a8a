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
//! - `GET /payments/gmpay/v1/config`: the networks and tokens orders may
//!   name.
//!
//! When the order is paid, the `epusdt` sink POSTs GMPay's callback, signed
//! with the algorithm the order was created with.

use super::http::json_text_response;
use super::shop::{self, Refusal, ShopOrder};
use super::{ApiError, AppState, ReqBody, Resp};
use crate::config::{EpusdtConfig, GmpaySign};
use crate::deliver::epusdt::{gmpay_canonical, gmpay_sign, SignAlgorithm};
use crate::invoice::gojson;
use crate::invoice_record::InvoiceStatus;
use hyper::{Request, StatusCode};
use serde_json::{json, Map, Value};

/// GMPay's answer envelope.
fn envelope(http: StatusCode, status_code: u32, message: &str, data: &str) -> Resp {
    json_text_response(
        http,
        format!(
            r#"{{"status_code":{status_code},"message":{},"data":{data},"request_id":""}}"#,
            gojson::string(message)
        ),
    )
}

/// A failure with GMPay's errno: HTTP 401 for the signature, else 400.
/// The message is GMPay's, then paywatch's reason.
fn fail(errno: u32, reason: &str) -> Resp {
    let text = match errno {
        401 => "signature verification failed",
        10002 => "order already exists",
        10004 => "invalid payment amount",
        10005 => "no available amount channel",
        10006 => "rate calculation failed",
        10008 => "order does not exist",
        10014 => "chain is not enabled",
        10016 => "supported asset not found",
        10041 => "invalid notify url",
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
    envelope(http, errno, &message, "null")
}

/// `POST /payments/gmpay/v1/order/create-transaction`.
pub(super) async fn create(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    let from = shop::peer(&req);
    let Some(params) = shop::params(req, true).await? else {
        return Ok(fail(401, "the body is not a JSON object or a form"));
    };
    Ok(create_transaction(state, cfg, &params, from))
}

fn create_transaction(
    state: &AppState,
    cfg: &EpusdtConfig,
    params: &Map<String, Value>,
    from: Option<std::net::IpAddr>,
) -> Resp {
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
    envelope(StatusCode::OK, 200, "success", &data)
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

/// `GET /pay/check-status/{trade_id}`: any shop order's status, by its
/// unguessable id.
pub(super) fn check_status(state: &AppState, trade_id: &str) -> Result<Resp, ApiError> {
    let inv = state
        .store
        .invoice(trade_id)
        .map_err(ApiError::internal)?
        .filter(|i| i.metadata.get("epusdt").is_some());
    Ok(match inv {
        None => fail(10008, ""),
        Some(inv) => envelope(
            StatusCode::OK,
            200,
            "success",
            &gojson::object(&[
                ("trade_id", &inv.id.as_str().into()),
                ("status", &status(inv.status).into()),
            ]),
        ),
    })
}

/// `GET /payments/gmpay/v1/config`: the networks orders may name, each
/// with the tokens its chain takes invoices in.
pub(super) fn config(state: &AppState, cfg: &EpusdtConfig) -> Resp {
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
    envelope(StatusCode::OK, 200, "success", &data.to_string())
}
