//! Epusdt's and BEpusdt's order routes, so that a shop integrated with
//! either switches by changing its base URL:
//!
//! - `POST /api/v1/order/create-transaction` with `order_id`, `amount`
//!   (fiat), `notify_url`, `redirect_url`, and `signature`: MD5 over the
//!   non-empty parameters other than `signature`, sorted by name, as
//!   `k=v&k=v…`, followed by the merchant's secret (lower-case hex). The
//!   merchant is the one named by `pid`, or else the one whose secret the
//!   signature verifies with. BEpusdt's parameters — `trade_type`, `fiat`,
//!   `timeout`, `rate`, `name` — make a BEpusdt order: its answer and its
//!   callbacks are BEpusdt's (every status change, not only the payment).
//!   An Epusdt order is answered as Epusdt does: `status_code`, `message`,
//!   `data` with `trade_id` (the invoice id), `order_id`, `amount`,
//!   `actual_amount` (the asset amount, four decimals), `token` (the
//!   address to pay), `expiration_time` (Unix seconds) and `payment_url`.
//! - `POST /api/v1/order/cancel-transaction` with `trade_id` and
//!   `signature` (BEpusdt): cancels an order nothing was paid to yet.
//! - Numbers are written as Epusdt (Go) writes them (`72`, not `72.0`;
//!   see [`crate::invoice::gojson`]), and signed as its `FormatFloat(f, 'f', -1)`.
//! - `notify_url` and `redirect_url` must be `http(s)`; loopback, private
//!   and link-local addresses only with the merchant's
//!   `allow_private_notify` ([`crate::invoice::notify`]).

use super::shop::{self, Refusal, ShopOrder};
use crate::config::{EpusdtConfig, MerchantConfig};
use crate::deliver::epusdt::{float, param_text, sign};
use crate::invoice::gojson;
use crate::invoice_record::InvoiceStatus;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};

use super::http::json_text_response;
use super::{ApiError, AppState, ReqBody, Resp};

/// BEpusdt's parameters beyond Epusdt's: one of them makes a BEpusdt order.
const BEPUSDT_FIELDS: [&str; 6] = ["trade_type", "fiat", "timeout", "rate", "name", "address"];

/// Epusdt's answer envelope around `data` (JSON text), as Go writes it.
fn answer(status_code: u32, message: &str, data: &str) -> String {
    format!(
        r#"{{"status_code":{status_code},"message":{},"data":{data},"request_id":""}}"#,
        gojson::string(message)
    )
}

/// BEpusdt's failure: `status_code` 400 and the message.
fn bepusdt_failure(message: &str) -> String {
    format!(
        r#"{{"status_code":400,"message":{}}}"#,
        gojson::string(message)
    )
}

/// The merchant that signed `params`: the one `pid` names, or else the
/// one whose secret verifies the signature; every secret is tried, each
/// in constant time.
fn signer<'a>(
    state: &'a AppState,
    params: &Map<String, Value>,
    from: Option<std::net::IpAddr>,
) -> Result<&'a MerchantConfig, Refusal> {
    let given = params
        .get("signature")
        .and_then(Value::as_str)
        .unwrap_or("");
    let verifies = |m: &MerchantConfig| {
        super::auth::constant_time_eq(given.as_bytes(), sign(params, m.secret.expose()).as_bytes())
    };
    let bad = || Refusal::Signature("signature verification failed".into());
    match params.get("pid").and_then(param_text) {
        Some(pid) => {
            let m = shop::merchant_by_pid(state, &pid, from)?;
            verifies(m).then_some(m).ok_or_else(bad)
        }
        None => {
            let mut found = None;
            for m in &state.merchants {
                if verifies(m) {
                    found = Some(m);
                }
            }
            let m = found.ok_or_else(bad)?;
            shop::allowed(m, from)?;
            Ok(m)
        }
    }
}

/// `POST /api/v1/order/create-transaction`.
pub(super) async fn create(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    let from = shop::peer(&req);
    let answer = match shop::params(req, false).await? {
        None => answer(10009, "the request body is not a JSON object", "null"),
        Some(params) => {
            let bepusdt = BEPUSDT_FIELDS
                .iter()
                .any(|k| params.get(*k).and_then(param_text).is_some());
            create_transaction(state, cfg, &params, from, bepusdt)
        }
    };
    Ok(json_text_response(StatusCode::OK, answer))
}

/// Handles `create-transaction`; the answer is always HTTP 200 with the
/// protocol's `status_code`: Epusdt's (200, 401 bad signature,
/// 400/10002/10004/10005/10009 …) or BEpusdt's (200 or 400).
fn create_transaction(
    state: &AppState,
    cfg: &EpusdtConfig,
    params: &Map<String, Value>,
    from: Option<std::net::IpAddr>,
    bepusdt: bool,
) -> String {
    let fail = |code: u32, m: &str| {
        if bepusdt {
            bepusdt_failure(m)
        } else {
            answer(code, m, "null")
        }
    };
    let merchant = match signer(state, params, from) {
        Ok(m) => m,
        Err(r) => return fail(401, r.message()),
    };
    let text = |k: &str| params.get(k).and_then(param_text);
    let (Some(order_id), Some(amount)) = (text("order_id"), text("amount")) else {
        return fail(10009, "order_id and amount are required");
    };
    // BEpusdt's `address` picks the receiving wallet: here it may only
    // name the address the order gets anyway, the chain's shared address.
    if let Some(asked) = text("address") {
        let chain = match text("trade_type") {
            Some(t) => cfg.trade_type(&t).map(|(chain, _)| chain.clone()),
            None => Some(cfg.chain.clone()),
        };
        let shared = chain
            .as_ref()
            .and_then(|c| state.invoices.get(c))
            .and_then(|inv| Some((inv.parse_address(&asked).ok()?, inv.shared_address()?)));
        match shared {
            Some((asked, shared)) if asked == shared => {}
            _ => {
                return fail(
                    10004,
                    &format!(
                        "address: `{asked}` is not where this server receives the order's payments \
                         (each order is paid to the address its chain's [chain.invoices] assigns; \
                         name only a shared_address, or leave it empty)"
                    ),
                )
            }
        }
    }
    let timeout = match text("timeout").map(|t| t.parse::<u64>()) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => return fail(10004, "timeout: not a whole number of seconds"),
    };
    let order = ShopOrder {
        merchant,
        protocol: if bepusdt { "bepusdt" } else { "epusdt" },
        order_id,
        money: amount,
        fiat: text("fiat").unwrap_or_else(|| "CNY".into()),
        trade_type: text("trade_type"),
        target: None,
        notify_url: text("notify_url"),
        redirect_url: text("redirect_url"),
        name: text("name"),
        timeout,
        rate: text("rate"),
        extra: Map::new(),
        choice: None,
    };
    let inv = match shop::create(state, cfg, order) {
        Ok(inv) => inv,
        Err(Refusal::Exists(m)) => return fail(10002, &m),
        Err(Refusal::Busy(m)) if m.contains("rate") => return fail(503, &m),
        Err(Refusal::Busy(m)) => return fail(10005, &m),
        Err(Refusal::Invalid(m)) if m.starts_with("notify_url") => return fail(10009, &m),
        Err(Refusal::Invalid(m)) => return fail(10004, &m),
        Err(r) => return fail(400, r.message()),
    };
    let meta = &inv.metadata["epusdt"];
    // The order's amount as stored (a repeated request may spell it differently).
    let stored = meta["amount"].as_str().unwrap_or_default();
    let payment_url = shop::payment_url(state, cfg, &inv.id);
    if bepusdt {
        let remaining = inv.expires_at.saturating_sub(crate::clock::now_secs());
        let data = gojson::object(&[
            ("fiat", &meta["fiat"]),
            ("trade_type", &meta["trade_type"]),
            ("trade_id", &inv.id.as_str().into()),
            ("order_id", &inv.order_id.as_str().into()),
            ("status", &status_code(inv.status).into()),
            ("amount", &stored.into()),
            ("actual_amount", &inv.amount_due.as_str().into()),
            ("token", &inv.address.as_str().into()),
            ("expiration_time", &remaining.into()),
            ("payment_url", &payment_url.into()),
        ]);
        return answer(200, "success", &data);
    }
    let (Some(amount), Some(actual)) = (float(stored), float(&inv.amount_due)) else {
        return answer(
            400,
            &format!(
                "invoice {}: amount `{stored}` or amount_due `{}` is not a number",
                inv.id, inv.amount_due
            ),
            "null",
        );
    };
    let data = gojson::object(&[
        ("trade_id", &inv.id.as_str().into()),
        ("order_id", &inv.order_id.as_str().into()),
        ("amount", &amount),
        ("actual_amount", &actual),
        ("token", &inv.address.as_str().into()),
        ("expiration_time", &inv.expires_at.into()),
        ("payment_url", &payment_url.into()),
    ]);
    answer(200, "success", &data)
}

/// BEpusdt's order status: 1 waiting, 2 paid, 3 expired, 4 cancelled,
/// 5 seen and confirming, 6 failed.
pub(super) fn status_code(s: InvoiceStatus) -> u8 {
    match s {
        InvoiceStatus::Pending | InvoiceStatus::Underpaid => 1,
        InvoiceStatus::Paid => 5,
        InvoiceStatus::Confirmed | InvoiceStatus::Settled | InvoiceStatus::PaidLate => 2,
        InvoiceStatus::Expired => 3,
        InvoiceStatus::Cancelled => 4,
        _ => 6,
    }
}

/// `POST /api/v1/order/cancel-transaction` (BEpusdt): `trade_id` and
/// `signature`. Only an order nothing was paid to yet is cancelled.
pub(super) async fn cancel(
    state: &AppState,
    _cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    let from = shop::peer(&req);
    let text = match shop::params(req, false).await? {
        None => bepusdt_failure("the request body is not a JSON object"),
        Some(params) => cancel_transaction(state, &params, from),
    };
    Ok(json_text_response(StatusCode::OK, text))
}

fn cancel_transaction(
    state: &AppState,
    params: &Map<String, Value>,
    from: Option<std::net::IpAddr>,
) -> String {
    let merchant = match signer(state, params, from) {
        Ok(m) => m,
        Err(r) => return bepusdt_failure(r.message()),
    };
    let Some(trade_id) = params.get("trade_id").and_then(param_text) else {
        return bepusdt_failure("trade_id is required");
    };
    match shop::owned_invoice(state, merchant, &trade_id) {
        Err(r) => return bepusdt_failure(r.message()),
        Ok(None) => return bepusdt_failure(&format!("no order {trade_id}")),
        Ok(Some(inv)) if inv.status != InvoiceStatus::Pending => {
            return bepusdt_failure(&format!(
                "order {trade_id} is {}; only an order nothing was paid to can be cancelled",
                inv.status.name()
            ))
        }
        Ok(Some(_)) => {}
    }
    let reuse_after = |chain: &str| super::invoices::reuse_after(state, chain);
    match tokio::task::block_in_place(|| {
        crate::invoice::tracker::cancel(&state.store, &trade_id, reuse_after)
    }) {
        Ok(Some(Ok(_))) => answer(
            200,
            "success",
            &gojson::object(&[("trade_id", &trade_id.as_str().into())]),
        ),
        Ok(Some(Err(status))) => bepusdt_failure(&format!(
            "order {trade_id} is {}; it cannot be cancelled",
            status.name()
        )),
        Ok(None) => bepusdt_failure(&format!("no order {trade_id}")),
        Err(e) => bepusdt_failure(&e.to_string()),
    }
}
