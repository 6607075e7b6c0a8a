//! An Epusdt-compatible front for invoices, so that a shop integrated with
//! Epusdt switches by changing its base URL:
//!
//! - `POST /api/v1/order/create-transaction` with `order_id`, `amount`
//!   (CNY), `notify_url`, optional `redirect_url`, and `signature`: MD5 over
//!   the non-empty parameters other than `signature`, sorted by name, as
//!   `k=v&k=v…`, followed by the API token (lower-case hex). The answer has
//!   Epusdt's shape: `status_code`, `message`, `data` with `trade_id` (the
//!   invoice id), `order_id`, `amount`, `actual_amount` (the asset amount,
//!   four decimals), `token` (the address to pay), `expiration_time` (Unix
//!   seconds) and `payment_url`.
//! - When the invoice is confirmed, the `epusdt` sink POSTs Epusdt's callback
//!   to `notify_url`: `trade_id`, `order_id`, `amount`, `actual_amount`,
//!   `token`, `block_transaction_id`, `status` (2, paid) and `signature`,
//!   signed the same way; the shop answers `ok`. Failed callbacks are
//!   retried and dead-lettered like every other delivery.
//! - Numbers are written as Epusdt (Go) writes them (`72`, not `72.0`;
//!   see [`crate::invoice::gojson`]), and signed as its `FormatFloat(f, 'f', -1)`.
//! - `notify_url` and `redirect_url` must be `http(s)`; loopback, private
//!   and link-local addresses only with `allow_private_notify`
//!   ([`crate::invoice::notify`]).

use crate::amount::to_base;
use crate::config::EpusdtConfig;
use crate::deliver::epusdt::{float, param_text, sign};
use crate::invoice::gojson;
use crate::invoice::rates::Rates;
use crate::invoice::service::{CreateError, CreateRequest, InvoiceChain};
use crate::store::Store;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use super::http::{json_text_response, read_body, MAX_BODY};
use super::{ApiError, AppState, ReqBody, Resp};

/// `POST /api/v1/order/create-transaction`: authenticated by the request's
/// own signature, not by an API key.
pub(super) async fn create(state: &AppState, req: Request<ReqBody>) -> Result<Resp, ApiError> {
    let Some(cfg) = &state.epusdt else {
        return Err(ApiError::not_found(
            "the Epusdt-compatible endpoint is off (no [epusdt] section)",
        ));
    };
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let chain = state
        .invoices
        .get(&cfg.chain)
        .ok_or_else(|| ApiError::internal("the [epusdt] chain takes no invoices"))?;
    // The buyer goes to the checkout page; without it, to the QR code.
    let payment_url = |id: &str| match &state.checkout {
        Some(c) => format!("{}{}/{id}", cfg.public_url, c.path()),
        None => format!("{}/v1/invoices/{id}/qr.svg", cfg.public_url),
    };
    let answer = tokio::task::block_in_place(|| {
        create_transaction(cfg, chain, &state.store, &state.rates, payment_url, &body)
    });
    Ok(json_text_response(StatusCode::OK, answer))
}

/// Epusdt's answer envelope around `data` (JSON text), as Go writes it.
fn answer(status_code: u32, message: &str, data: &str) -> String {
    format!(
        r#"{{"status_code":{status_code},"message":{},"data":{data},"request_id":""}}"#,
        gojson::string(message)
    )
}

/// Handles `create-transaction`; the answer is always HTTP 200 with
/// Epusdt's `status_code` (200, 401 bad signature, 400/10002/10004/10009 …).
pub fn create_transaction(
    cfg: &EpusdtConfig,
    chain: &InvoiceChain,
    store: &Store,
    rates: &Rates,
    payment_url: impl Fn(&str) -> String,
    body: &[u8],
) -> String {
    let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(body) else {
        return answer(10009, "the request body is not a JSON object", "null");
    };
    let given = params
        .get("signature")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !super::auth::constant_time_eq(
        given.as_bytes(),
        sign(&params, cfg.token.expose()).as_bytes(),
    ) {
        return answer(401, "signature verification failed", "null");
    }
    let text = |k: &str| params.get(k).and_then(param_text);
    let (Some(order_id), Some(amount), Some(notify_url)) =
        (text("order_id"), text("amount"), text("notify_url"))
    else {
        return answer(
            10009,
            "order_id, amount and notify_url are required",
            "null",
        );
    };
    if let Err(e) =
        crate::invoice::notify::check("notify_url", &notify_url, cfg.allow_private_notify)
    {
        return answer(10009, &e.to_string(), "null");
    }
    if let Some(r) = text("redirect_url") {
        if let Err(e) = crate::invoice::notify::check("redirect_url", &r, cfg.allow_private_notify)
        {
            return answer(10004, &e.to_string(), "null");
        }
    }
    // Epusdt prices orders in CNY, at most two decimals.
    if let Err(e) = to_base(&amount, 2) {
        return answer(10004, &format!("amount: {e}"), "null");
    }
    let request = CreateRequest {
        chain: cfg.chain.clone(),
        asset: cfg.asset.clone(),
        amount: None,
        price: Some(amount.clone()),
        currency: Some("CNY".into()),
        order_id,
        expires_in: cfg.expires_in.map(|e| e as i64),
        redirect_url: text("redirect_url"),
        round_to: Some(4),
        choice: None,
        underpayment_tolerance: None,
        confirmations: None,
        hold_flagged: None,
        rate_adjust: None,
        metadata: json!({"epusdt": {
            "amount": amount.trim(),
            "notify_url": notify_url,
            "redirect_url": text("redirect_url"),
        }}),
    };
    match chain.create(store, rates, request) {
        Ok((inv, _)) => {
            // The order's amount as stored (a repeated request may spell it differently).
            let stored = inv.metadata["epusdt"]["amount"].as_str().unwrap_or(&amount);
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
                ("payment_url", &payment_url(&inv.id).into()),
            ]);
            answer(200, "success", &data)
        }
        Err(CreateError::Conflict("invoice_exists", m)) => answer(10002, &m, "null"),
        Err(CreateError::Conflict(_, m)) => answer(10005, &m, "null"),
        Err(CreateError::Unavailable(_, m)) => answer(503, &m, "null"),
        Err(CreateError::Invalid(_, m)) => answer(10004, &m, "null"),
        Err(CreateError::Store(e)) => answer(400, &e.to_string(), "null"),
    }
}
