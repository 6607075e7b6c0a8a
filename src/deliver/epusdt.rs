//! The shop protocols' side of the `epusdt` sink: the signed callback each
//! protocol's shop expects, and the signatures (MD5 over the non-empty
//! parameters other than the signature, sorted by name, as `k=v&k=v…`,
//! followed by the merchant's secret, lower-case hex). The order-creating
//! half is `api::epusdt` and `api::epay`.
//!
//! - Epusdt: a JSON POST when the order is paid (`status` 2).
//! - BEpusdt: the same JSON POST on every change BEpusdt reports: paid
//!   (2), expired (3), cancelled (4), seen and confirming (5), failed (6);
//!   `actual_amount` as a string, as BEpusdt sends it.
//! - EPay: a GET to `notify_url` with the signed order in its query, once
//!   the order is paid (`trade_status=TRADE_SUCCESS`).
//! - GMPay: a JSON POST when the order is paid, signed as its create
//!   request was (MD5, as GMPay signs; or HMAC-SHA256 keyed with the
//!   secret); or, for an order created with `payment_type` `Epay`, EPay's
//!   GET. An order the buyer switched to another network is paid by its
//!   second invoice, which calls back with the first one's `trade_id` and
//!   the shop's `order_id`.

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
    md5_hex(&pairs.join("&"), token)
}

/// The MD5 of `text` followed by `secret`, lower-case hex: how Epusdt,
/// BEpusdt, EPay and GMPay's MD5 mode sign their sorted parameters.
fn md5_hex(text: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(text.as_bytes());
    md5.update(secret.as_bytes());
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

/// A GMPay signature's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgorithm {
    HmacSha256,
    Md5,
}

impl SignAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            SignAlgorithm::HmacSha256 => "hmac_sha256",
            SignAlgorithm::Md5 => "md5",
        }
    }
}

/// GMPay's text to sign: every parameter but `signature`, null and empty
/// ones left out, numbers as Go's `FormatFloat(f, 'f', -1, 64)` writes
/// them, each `k=v` sorted and joined with `&`. `None` when a parameter
/// is a boolean, an object or an array (GMPay refuses those).
pub fn gmpay_canonical(params: &Map<String, Value>) -> Option<String> {
    let mut pairs = Vec::new();
    for (k, v) in params {
        if k == "signature" {
            continue;
        }
        let text = match v {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            // Rust writes an f64 as the shortest round trip, never with an
            // exponent: as Go's 'f' with precision -1.
            Value::Number(n) => format!("{}", n.as_f64()?),
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => return None,
        };
        if !text.is_empty() {
            pairs.push(format!("{k}={text}"));
        }
    }
    pairs.sort();
    Some(pairs.join("&"))
}

/// GMPay's signature of `canonical` with `secret`, lower-case hex.
pub fn gmpay_sign(canonical: &str, secret: &str, algorithm: SignAlgorithm) -> String {
    match algorithm {
        SignAlgorithm::HmacSha256 => {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(canonical.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        SignAlgorithm::Md5 => md5_hex(canonical, secret),
    }
}

/// A callback to send: a JSON POST, or a GET when `body` is `None` (the
/// URL then carries the parameters).
#[derive(Debug)]
pub struct Callback {
    pub url: String,
    pub body: Option<String>,
}

/// The protocol an order came in by, from its invoice's metadata.
fn protocol(meta: &Value) -> &str {
    meta["protocol"].as_str().unwrap_or("epusdt")
}

/// BEpusdt's status for an invoice event; `None` for events it has none for.
fn bepusdt_status(kind: &str) -> Option<u8> {
    Some(match kind {
        "invoice.confirmed" | "invoice.settled" => 2,
        "invoice.expired" => 3,
        "invoice.cancelled" => 4,
        "invoice.paid" => 5,
        "invoice.invalidated" | "invoice.rejected" => 6,
        _ => return None,
    })
}

/// The callback an invoice event owes the shop whose order the invoice
/// is, signed with `secret`; `None` when it owes none (not a shop order,
/// or an event its protocol does not report).
pub fn callback(event: &Value, secret: &str) -> Option<Callback> {
    let kind = event["type"].as_str()?;
    let inv = &event["invoice"];
    let meta = inv["metadata"].get("epusdt")?;
    let paid = matches!(kind, "invoice.confirmed" | "invoice.settled");
    let notify_url = meta["notify_url"].as_str()?.to_string();
    let txid = inv["payments"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p["txid"].as_str())
        .unwrap_or("")
        .to_string();
    // The order's own trade id and order id, where the invoice is the one
    // a GMPay order switched to.
    let trade_id = meta.get("parent").unwrap_or(&inv["id"]).clone();
    let order_id = meta.get("order_id").unwrap_or(&inv["order_id"]).clone();
    match protocol(meta) {
        "gmpay" if paid && meta["payment_type"] == "Epay" => {
            // GMPay's EPay-style notification: `type` is `alipay`, `money`
            // the fiat amount with four decimals.
            let money = crate::amount::to_base(meta["amount"].as_str()?, 4).ok()?;
            let whole = crate::amount::from_base(money, 4);
            let (int, frac) = whole.split_once('.').unwrap_or((&whole, ""));
            let mut epay = meta.clone();
            epay["type"] = meta.get("type").cloned().unwrap_or("alipay".into());
            epay["amount"] = format!("{int}.{frac:0<4}").into();
            let query = epay_query(trade_id.as_str()?, order_id.as_str()?, &epay, secret)?;
            let sep = if notify_url.contains('?') { '&' } else { '?' };
            Some(Callback {
                url: format!("{notify_url}{sep}{query}"),
                body: None,
            })
        }
        "gmpay" => {
            if !paid {
                return None;
            }
            let algorithm = match meta["sign"].as_str() {
                Some("hmac_sha256") => SignAlgorithm::HmacSha256,
                _ => SignAlgorithm::Md5,
            };
            let mut fields = vec![
                ("pid", meta["pid"].clone()),
                ("trade_id", trade_id),
                ("order_id", order_id),
                ("amount", float(meta["amount"].as_str()?)?),
                ("actual_amount", float(inv["amount_due"].as_str()?)?),
                ("receive_address", inv["address"].clone()),
                ("token", meta["token"].clone()),
                ("block_transaction_id", Value::from(txid)),
                ("status", 2.into()),
            ];
            let body = signed_json(&mut fields, |params| {
                Some(gmpay_sign(&gmpay_canonical(params)?, secret, algorithm))
            })?;
            Some(Callback {
                url: notify_url,
                body: Some(body),
            })
        }
        "epay" => {
            if !paid {
                return None;
            }
            let query = epay_query(trade_id.as_str()?, order_id.as_str()?, meta, secret)?;
            let sep = if notify_url.contains('?') { '&' } else { '?' };
            Some(Callback {
                url: format!("{notify_url}{sep}{query}"),
                body: None,
            })
        }
        "bepusdt" => {
            let status = bepusdt_status(kind)?;
            // BEpusdt's fields in its order, `actual_amount` a string.
            let mut fields = vec![
                ("trade_id", inv["id"].clone()),
                ("order_id", inv["order_id"].clone()),
                ("amount", float(meta["amount"].as_str()?)?),
                ("actual_amount", inv["amount_due"].clone()),
                ("token", inv["address"].clone()),
                ("block_transaction_id", Value::from(txid)),
                ("status", status.into()),
            ];
            Some(Callback {
                url: notify_url,
                body: Some(signed_json(&mut fields, |p| Some(sign(p, secret)))?),
            })
        }
        _ => {
            if !paid {
                return None;
            }
            // Epusdt's fields in its order.
            let mut fields = vec![
                ("trade_id", inv["id"].clone()),
                ("order_id", inv["order_id"].clone()),
                ("amount", float(meta["amount"].as_str()?)?),
                ("actual_amount", float(inv["amount_due"].as_str()?)?),
                ("token", inv["address"].clone()),
                ("block_transaction_id", Value::from(txid)),
                ("status", 2.into()),
            ];
            Some(Callback {
                url: notify_url,
                body: Some(signed_json(&mut fields, |p| Some(sign(p, secret)))?),
            })
        }
    }
}

/// The fields as Go writes them, with the signature `sign` makes of them
/// put in before the last (`status`), as Epusdt, BEpusdt and GMPay order
/// them; `None` when `sign` cannot sign them.
fn signed_json(
    fields: &mut Vec<(&str, Value)>,
    sign: impl FnOnce(&Map<String, Value>) -> Option<String>,
) -> Option<String> {
    let params: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    fields.insert(fields.len() - 1, ("signature", sign(&params)?.into()));
    Some(gojson::object(
        &fields.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>(),
    ))
}

/// EPay's signature: MD5 of the non-empty parameters but `sign` and
/// `sign_type`, sorted by name, as `k=v&…` (values as sent, not
/// URL-encoded), followed by the secret; lower-case hex.
pub fn epay_sign<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, secret: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && *k != "sign" && *k != "sign_type")
        .collect();
    pairs.sort();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    md5_hex(&text, secret)
}

/// The signed parameters of a paid EPay order, as its notification and
/// its buyer's return carry them (URL-encoded query text): `pid`,
/// `trade_no`, `out_trade_no`, `type`, `name`, `money`, `trade_status`,
/// `param` when the order had one, `sign` and `sign_type`.
pub fn epay_query(
    trade_no: &str,
    out_trade_no: &str,
    meta: &Value,
    secret: &str,
) -> Option<String> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let params = [
        ("pid", text(&meta["pid"])),
        ("trade_no", trade_no.to_string()),
        ("out_trade_no", out_trade_no.to_string()),
        ("type", text(&meta["type"])),
        ("name", text(&meta["name"])),
        ("money", meta["amount"].as_str()?.to_string()),
        ("trade_status", "TRADE_SUCCESS".to_string()),
        ("param", text(&meta["param"])),
    ];
    let sign = epay_sign(params.iter().map(|(k, v)| (*k, v.as_str())), secret);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    q.append_pair("sign", &sign);
    q.append_pair("sign_type", "MD5");
    Some(q.finish())
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
        let c = callback(&event("invoice.settled", json!([])), "t").unwrap();
        assert_eq!(c.url, "https://shop.example/n");
        let v: Value = serde_json::from_str(&c.body.unwrap()).unwrap();
        assert_eq!(
            (&v["status"], &v["block_transaction_id"]),
            (&json!(2), &json!(""))
        );
        let paid = event("invoice.confirmed", json!([{"txid": "ab"}]));
        let v: Value = serde_json::from_str(&callback(&paid, "t").unwrap().body.unwrap()).unwrap();
        assert_eq!(v["block_transaction_id"], "ab");
        for other in [
            "invoice.invalidated",
            "invoice.paid",
            "invoice.payment_attached",
        ] {
            assert!(callback(&event(other, json!([])), "t").is_none(), "{other}");
        }
    }

    #[test]
    fn gmpay_signs_like_its_own_test_vectors() {
        // GMPay's unit-test vector: null, empty and `signature` left out.
        let params = json!({"signature": "ignored", "pid": "1000", "empty": "", "nil": null,
                            "name": "VIP", "amount": 100});
        let text = gmpay_canonical(params.as_object().unwrap()).unwrap();
        assert_eq!(text, "amount=100&name=VIP&pid=1000");
        assert_eq!(
            gmpay_sign(&text, "test-secret", SignAlgorithm::HmacSha256),
            "ced9141fab53a83d1178f903e7c22d8a2a7033520f31e319934e92455a008b6c"
        );
        assert_eq!(
            gmpay_sign(&text, "test-secret", SignAlgorithm::Md5),
            "2203e5d2a13264c188f7fac194a632f8"
        );
        // Its documented create request, `100.00` written as Go writes it.
        let order: Value = serde_json::from_str(
            r#"{"pid":"1000","order_id":"ORD202605230001","currency":"cny","token":"usdt",
                "network":"tron","amount":100.00,"notify_url":"https://merchant.example/notify",
                "redirect_url":"https://merchant.example/return","name":"VIP"}"#,
        )
        .unwrap();
        let text = gmpay_canonical(order.as_object().unwrap()).unwrap();
        assert_eq!(
            gmpay_sign(&text, "epusdt_secret_key", SignAlgorithm::HmacSha256),
            "6f874b1919d95081835e2809b620e354a5866f5a6dbb2e432d1627f1eb10059d"
        );
        assert_eq!(
            gmpay_sign(&text, "epusdt_secret_key", SignAlgorithm::Md5),
            "476412c422f4dd75c3d533f5c47a9cac"
        );
        assert!(gmpay_canonical(json!({"a": true}).as_object().unwrap()).is_none());
    }
}
