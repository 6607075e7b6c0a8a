//! EPay (易支付), the merchant protocol of 彩虹易支付 and the sites built
//! on it, as BEpusdt and Epusdt serve it:
//!
//! - `submit.php` (also at `/payments/epay/v1/order/create-transaction/submit.php`),
//!   GET query or POST form: `pid`, `type`, `out_trade_no`, `notify_url`,
//!   `return_url`, `name`, `money`, `param`, `sign`, `sign_type` (`MD5`);
//!   BEpusdt's `fiat`, `rate` and `timeout` too. Creates the order and
//!   sends the buyer (302) to its checkout page; an error is answered as
//!   plain text, as those servers do.
//! - `mapi.php`: the same, answered as JSON: `code` 1, `msg`, `trade_no`,
//!   `payurl` (the checkout page) and `qrcode` (the payment URI a wallet
//!   scans); `code` -1 and `msg` on an error.
//! - `api.php?act=order`: `pid`, `key` (the merchant's secret) and
//!   `out_trade_no` or `trade_no`: the order and `status` 1 once paid.
//!
//! `sign` is the MD5 (lower-case hex) of the non-empty parameters other
//! than `sign` and `sign_type`, sorted by name, as `k=v&…` with values as
//! sent, followed by the merchant's secret. `type` names the chain and
//! asset (`[epusdt]`'s `trade_types`: `usdt` and BEpusdt's names such as
//! `usdt.trc20`). When the order is paid the `epusdt` sink calls
//! `notify_url` with a GET carrying `pid`, `trade_no`, `out_trade_no`,
//! `type`, `name`, `money`, `trade_status=TRADE_SUCCESS`, `param`, `sign`
//! and `sign_type`; the buyer is sent back to `return_url` with the same
//! signed parameters only once the order is confirmed.

use super::http::{json_response, query_map, read_body, redirect, MAX_BODY};
use super::shop::{self, Refusal, ShopOrder};
use super::{ApiError, AppState, ReqBody, Resp};
use crate::config::{EpusdtConfig, MerchantConfig};
use crate::deliver::epusdt::epay_sign;
use crate::invoice_record::{Invoice, InvoiceStatus};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map};
use std::collections::BTreeMap;

/// The request's parameters: its query, and for a POST its form too.
async fn params(req: Request<ReqBody>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params = query_map(req.uri().query());
    if req.method() == Method::POST {
        let (_, body) = read_body(req, &["application/x-www-form-urlencoded"], MAX_BODY).await?;
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    Ok(params)
}

fn text_response(status: StatusCode, text: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The merchant `pid` names, once `sign` verifies with its secret.
fn signer<'a>(
    state: &'a AppState,
    params: &BTreeMap<String, String>,
    from: Option<std::net::IpAddr>,
) -> Result<&'a MerchantConfig, Refusal> {
    let pid = params
        .get("pid")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Refusal::Signature("pid is required".into()))?;
    let m = shop::merchant_by_pid(state, pid, from)?;
    if params
        .get("sign_type")
        .is_some_and(|t| !t.is_empty() && !t.eq_ignore_ascii_case("MD5"))
    {
        return Err(Refusal::Signature(
            "sign_type: only MD5 is supported".into(),
        ));
    }
    let given = params.get("sign").map(String::as_str).unwrap_or("");
    let want = epay_sign(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        m.secret.expose(),
    );
    if !super::auth::constant_time_eq(given.to_ascii_lowercase().as_bytes(), want.as_bytes()) {
        return Err(Refusal::Signature(
            "sign: the signature does not verify".into(),
        ));
    }
    Ok(m)
}

/// Creates the order the request describes.
async fn order(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Result<Invoice, Refusal>, ApiError> {
    let from = shop::peer(&req);
    let params = params(req).await?;
    Ok(order_from(state, cfg, &params, from))
}

fn order_from(
    state: &AppState,
    cfg: &EpusdtConfig,
    params: &BTreeMap<String, String>,
    from: Option<std::net::IpAddr>,
) -> Result<Invoice, Refusal> {
    let merchant = signer(state, params, from)?;
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let (Some(out_trade_no), Some(money)) = (get("out_trade_no"), get("money")) else {
        return Err(Refusal::Invalid(
            "out_trade_no and money are required".into(),
        ));
    };
    let kind = get("type").unwrap_or_else(|| "usdt".into());
    let timeout = match get("timeout").map(|t| t.parse::<u64>()) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return Err(Refusal::Invalid(
                "timeout: not a whole number of seconds".into(),
            ))
        }
    };
    let mut extra = Map::new();
    extra.insert("pid".into(), merchant.id.clone().into());
    extra.insert("type".into(), kind.clone().into());
    if let Some(p) = get("param") {
        extra.insert("param".into(), p.into());
    }
    if let Some(r) = get("return_url") {
        extra.insert("return_url".into(), r.into());
    }
    shop::create(
        state,
        cfg,
        ShopOrder {
            merchant,
            protocol: "epay",
            order_id: out_trade_no,
            money,
            fiat: get("fiat").unwrap_or_else(|| "CNY".into()),
            trade_type: Some(kind),
            target: None,
            notify_url: get("notify_url"),
            redirect_url: get("return_url"),
            name: get("name"),
            timeout,
            rate: get("rate"),
            extra,
            choice: None,
        },
    )
}

/// `submit.php`: the order, then the buyer to its checkout page.
pub(super) async fn submit(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    Ok(match order(state, cfg, req).await? {
        Ok(inv) => {
            let to = shop::payment_url(state, cfg, &inv.id);
            if HeaderValue::from_str(&to).is_ok() {
                redirect(StatusCode::FOUND, &to)
            } else {
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the checkout page's address is not a valid header",
                )
            }
        }
        Err(e) => text_response(StatusCode::OK, e.message()),
    })
}

/// `mapi.php`: the order, answered as JSON.
pub(super) async fn mapi(
    state: &AppState,
    cfg: &EpusdtConfig,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    Ok(match order(state, cfg, req).await? {
        Ok(inv) => json_response(
            StatusCode::OK,
            &json!({
                "code": 1,
                "msg": "success",
                "trade_no": inv.id,
                "payurl": shop::payment_url(state, cfg, &inv.id),
                "qrcode": inv.payment_uri,
            }),
        ),
        Err(e) => failure(e.message()),
    })
}

fn failure(msg: &str) -> Resp {
    json_response(StatusCode::OK, &json!({"code": -1, "msg": msg}))
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix seconds, as EPay writes times.
fn epay_time(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// `api.php?act=order`: one order of the merchant, found by `trade_no` or
/// `out_trade_no`, authenticated by `key` (the merchant's secret).
pub(super) async fn query(state: &AppState, req: Request<ReqBody>) -> Result<Resp, ApiError> {
    let from = shop::peer(&req);
    let params = params(req).await?;
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("act") != Some("order") {
        return Ok(failure("act: only `order` is supported"));
    }
    let merchant = match get("pid").map(|p| shop::merchant_by_pid(state, p, from)) {
        None => return Ok(failure("pid is required")),
        Some(Err(e)) => return Ok(failure(e.message())),
        Some(Ok(m)) => m,
    };
    let key = get("key").unwrap_or("");
    if !super::auth::constant_time_eq(key.as_bytes(), merchant.secret.expose().as_bytes()) {
        return Ok(failure("key: not the merchant's key"));
    }
    let found = match (get("trade_no"), get("out_trade_no")) {
        (Some(id), _) => shop::owned_invoice(state, merchant, id),
        (None, Some(order)) => shop::merchant_order(state, merchant, order)
            .map(|i| i.filter(|i| i.metadata.get("epusdt").is_some())),
        (None, None) => return Ok(failure("trade_no or out_trade_no is required")),
    };
    let inv = match found {
        Err(e) => return Ok(failure(e.message())),
        Ok(None) => return Ok(failure("no such order")),
        Ok(Some(inv)) => inv,
    };
    let meta = &inv.metadata["epusdt"];
    let paid = matches!(
        inv.status,
        InvoiceStatus::Confirmed | InvoiceStatus::Settled
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "code": 1,
            "msg": "success",
            "trade_no": inv.id,
            "out_trade_no": inv.order_id,
            "api_trade_no": inv.payments.last().map(|p| p.txid.as_str()).unwrap_or(""),
            "type": meta["type"].as_str().or(meta["trade_type"].as_str()).unwrap_or(""),
            "pid": merchant.id,
            "addtime": epay_time(inv.created_at),
            // The time it was paid is not kept apart from the invoice's events.
            "endtime": "",
            "name": meta["name"].as_str().unwrap_or(""),
            "money": meta["amount"].as_str().unwrap_or(""),
            "status": u8::from(paid),
            "param": meta["param"].as_str().unwrap_or(""),
            "buyer": "",
        }),
    ))
}

/// The buyer's way back to an EPay order's `return_url`, with the signed
/// order, for a confirmed order only; `None` for any other invoice.
pub fn signed_return(inv: &Invoice, merchants: &[MerchantConfig]) -> Option<String> {
    if !matches!(
        inv.status,
        InvoiceStatus::Confirmed | InvoiceStatus::Settled
    ) {
        return None;
    }
    let meta = inv.metadata.get("epusdt")?;
    if meta["protocol"] != "epay" {
        return None;
    }
    let back = meta["return_url"].as_str()?;
    let m = merchants
        .iter()
        .find(|m| m.recorded_id() == inv.merchant.as_deref())?;
    let query =
        crate::deliver::epusdt::epay_query(&inv.id, &inv.order_id, meta, m.secret.expose())?;
    let sep = if back.contains('?') { '&' } else { '?' };
    Some(format!("{back}{sep}{query}"))
}
