//! Epusdt's side of the `epusdt` sink: the signed callback an Epusdt shop
//! expects when its order is paid, and the signature both directions use
//! (MD5 over the non-empty parameters other than `signature`, sorted by
//! name, as `k=v&k=v…`, followed by the API token, lower-case hex). The
//! order-creating half is `api::epusdt`.

use crate::invoice::gojson;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

/// The text a parameter contributes to the signature; `None` leaves it out.
pub(crate) fn param_text(v: &Value) -> Option<String> {
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

/// A decimal amount as a Go `float64`.
pub(crate) fn float(text: &str) -> Option<Value> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::from)
}

/// The callback for an `invoice.confirmed` event of an Epusdt order, or an
/// `invoice.settled` one (the order marked paid by hand: the shop learns
/// it as it learns a payment): where to send it and the signed
/// body as Epusdt writes it (its fields in Epusdt's order, numbers as Go
/// writes them); `None` for any other event.
pub fn callback(event: &Value, token: &str) -> Option<(String, String)> {
    if event["type"] != "invoice.confirmed" && event["type"] != "invoice.settled" {
        return None;
    }
    let inv = &event["invoice"];
    let meta = inv["metadata"].get("epusdt")?;
    let notify_url = meta["notify_url"].as_str()?.to_string();
    let block_transaction_id = inv["payments"]
        .as_array()
        .and_then(|p| p.last())
        .map_or_else(|| Value::from(""), |p| p["txid"].clone());
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
    use serde_json::json;

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

    fn event(kind: &str, payments: Value) -> Value {
        json!({"type": kind, "invoice": {
            "id": "inv_1", "order_id": "42", "amount_due": "3.5", "address": "TAddr",
            "payments": payments,
            "metadata": {"epusdt": {"notify_url": "https://shop.example/n", "amount": "25"}},
        }})
    }

    #[test]
    fn an_order_settled_by_hand_is_called_back_as_paid() {
        let (url, body) = callback(&event("invoice.settled", json!([])), "t").unwrap();
        assert_eq!(url, "https://shop.example/n");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (&v["status"], &v["block_transaction_id"]),
            (&json!(2), &json!(""))
        );
        let paid = event("invoice.confirmed", json!([{"txid": "ab"}]));
        let v: Value = serde_json::from_str(&callback(&paid, "t").unwrap().1).unwrap();
        assert_eq!(v["block_transaction_id"], "ab");
        for other in [
            "invoice.invalidated",
            "invoice.paid",
            "invoice.payment_attached",
        ] {
            assert!(callback(&event(other, json!([])), "t").is_none(), "{other}");
        }
    }
}
