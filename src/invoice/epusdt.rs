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
//!   see [`super::gojson`]), and signed as its `FormatFloat(f, 'f', -1)`.
//! - `notify_url` and `redirect_url` must be `http(s)`; loopback, private
//!   and link-local addresses only with `allow_private_notify`
//!   ([`super::notify`]).

use super::amount::to_base;
use super::gojson;
use super::rates::Rates;
use super::service::{CreateError, CreateRequest, InvoiceChain};
use crate::config::EpusdtConfig;
use crate::store::Store;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

/// The text a parameter contributes to the signature; `None` leaves it out.
fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if !n.is_u64() && !n.is_i64() => format!("{f}"),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Epusdt's signature of `params` with `token`.
pub fn sign(params: &Map<String, Value>, token: &str) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .filter_map(|(k, v)| param_text(v).map(|t| format!("{k}={t}")))
        .collect();
    pairs.sort();
    let mut md5 = Md5::new();
    md5.update(pairs.join("&").as_bytes());
    md5.update(token.as_bytes());
    hex::encode(md5.finalize())
}

/// Epusdt's answer envelope around `data` (JSON text), as Go writes it.
fn answer(status_code: u32, message: &str, data: &str) -> String {
    format!(
        r#"{{"status_code":{status_code},"message":{},"data":{data},"request_id":""}}"#,
        gojson::string(message)
    )
}

/// A decimal amount as a Go `float64`.
fn float(text: &str) -> Option<Value> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
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
    if !crate::api::constant_time_eq(
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
    if let Err(e) = super::notify::check("notify_url", &notify_url, cfg.allow_private_notify) {
        return answer(10009, &e, "null");
    }
    if let Some(r) = text("redirect_url") {
        if let Err(e) = super::notify::check("redirect_url", &r, cfg.allow_private_notify) {
            return answer(10004, &e, "null");
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

/// The callback for an `invoice.confirmed` event of an Epusdt order:
/// where to send it and the signed body as Epusdt writes it (its fields in
/// Epusdt's order, numbers as Go writes them); `None` for any other event.
pub fn callback(event: &Value, token: &str) -> Option<(String, String)> {
    if event["type"] != "invoice.confirmed" {
        return None;
    }
    let inv = &event["invoice"];
    let meta = inv["metadata"].get("epusdt")?;
    let notify_url = meta["notify_url"].as_str()?.to_string();
    let block_transaction_id = inv["payments"]
        .as_array()
        .and_then(|p| p.last())
        .map_or(Value::Null, |p| p["txid"].clone());
    // Epusdt's fields in its order; the signature goes in before the last,
    // `status`.
    let mut fields = vec![
        ("trade_id", inv["id"].clone()),
        ("order_id", inv["order_id"].clone()),
        ("amount", float(meta["amount"].as_str()?)?),
        ("actual_amount", float(inv["amount_due"].as_str()?)?),
        ("token", inv["address"].clone()),
        ("block_transaction_id", block_transaction_id),
        ("status", 2.into()),
    ];
    let params: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    fields.insert(fields.len() - 1, ("signature", sign(&params, token).into()));
    let text = gojson::object(&fields.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>());
    Some((notify_url, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_epusdt_documentation() {
        // The worked example of Epusdt's API documentation.
        let params = json!({
            "order_id": "20220201030210321",
            "amount": 42,
            "notify_url": "http://example.com/notify",
            "redirect_url": "http://example.com/redirect",
        });
        assert_eq!(
            sign(params.as_object().unwrap(), "epusdt_password_xasddawqe"),
            "1cd4b52df5587cfb1968b0c0c6e156cd"
        );
    }
}
