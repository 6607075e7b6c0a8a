//! The hosted checkout page a shop sends its buyer to: `GET {path}/{id}`
//! shows what to pay, where and on which network, with the QR code, a
//! countdown and the live status, in English or Chinese.
//!
//! Everything under `{path}` is public and read-only, so it can be exposed
//! through the merchant's reverse proxy while the API stays private: the
//! page, its own static files, the QR code and a status document that holds
//! only the invoice's public fields (never its metadata). The page runs
//! under a strict Content-Security-Policy: no inline script, no third-party
//! origin.

use crate::config::CheckoutConfig;
use crate::invoice::service::InvoiceChain;
use crate::invoice_record::{Invoice, InvoiceStatus};
use crate::store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/checkout.js");
const STYLE: &str = include_str!("assets/checkout.css");

/// The policy every checkout response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The longest a status request waits for a change.
const MAX_WAIT: u64 = 30;

type Resp = Response<Full<Bytes>>;

/// The checkout page's settings and its theme stylesheet.
pub struct Checkout {
    cfg: CheckoutConfig,
    theme_css: String,
}

impl Checkout {
    pub fn new(cfg: CheckoutConfig) -> Self {
        let t = &cfg.theme;
        let theme_css = format!(
            ":root{{--pw-accent:{};--pw-accent-text:{};--pw-bg:{};--pw-card:{};--pw-text:{}}}\n",
            t.accent, t.accent_text, t.background, t.card, t.text
        );
        Checkout { cfg, theme_css }
    }

    /// Where the page lives, e.g. `/pay`.
    pub fn path(&self) -> &str {
        &self.cfg.path
    }

    /// The link a shop sends its buyer to for invoice `id`.
    pub fn url(&self, id: &str) -> String {
        format!("{}{}/{id}", self.cfg.public_url, self.cfg.path)
    }

    /// Answers a request for `rest`, the path below `{path}/`.
    pub async fn handle(
        &self,
        store: &Store,
        invoices: &BTreeMap<String, Arc<InvoiceChain>>,
        rest: &str,
        query: Option<&str>,
        accept_language: Option<&str>,
    ) -> Resp {
        let segments: Vec<&str> = rest.split('/').collect();
        let q: BTreeMap<String, String> = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        match segments.as_slice() {
            ["assets", "checkout.js"] => asset(SCRIPT.as_bytes(), "text/javascript; charset=utf-8"),
            ["assets", "checkout.css"] => asset(STYLE.as_bytes(), "text/css; charset=utf-8"),
            ["assets", "theme.css"] => asset(self.theme_css.as_bytes(), "text/css; charset=utf-8"),
            ["assets", "logo"] => match &self.cfg.logo {
                Some((bytes, kind)) => asset(bytes, kind),
                None => self.not_found(&q, accept_language),
            },
            [id] if !id.is_empty() => {
                let lang = self.language(&q, accept_language);
                match find(store, invoices, id) {
                    Some((inv, chain)) => self.page(&inv, &chain, lang),
                    None => self.not_found(&q, accept_language),
                }
            }
            [id, "status"] => {
                let since = q.get("since").cloned();
                let wait = match q.get("wait").map(|w| (w, w.parse::<u64>())) {
                    None => 0,
                    Some((_, Ok(w))) if w <= MAX_WAIT => w,
                    Some((w, _)) => {
                        return crate::api::ApiError::bad_request(
                            "invalid_parameter",
                            format!("`wait` must be an integer from 0 to {MAX_WAIT}, not `{w}`"),
                        )
                        .into_response()
                    }
                };
                self.status(store, invoices, id, since, wait).await
            }
            [id, "qr.svg"] => match find(store, invoices, id) {
                Some((inv, chain)) => match crate::invoice::uri::qr_svg(
                    public_view(&inv, &chain)["payment_uri"]
                        .as_str()
                        .unwrap_or(""),
                ) {
                    Ok(svg) => asset(svg.as_bytes(), "image/svg+xml"),
                    Err(e) => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        &e.to_string(),
                    ),
                },
                None => error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such payment request",
                ),
            },
            _ => self.not_found(&q, accept_language),
        }
    }

    /// `en` or `zh`: `?lang=` first, then the browser's languages in order
    /// of preference, then the configured default.
    fn language(&self, q: &BTreeMap<String, String>, accept: Option<&str>) -> &'static str {
        let pick = |tag: &str| {
            let tag = tag.trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                Some("zh")
            } else if tag.starts_with("en") {
                Some("en")
            } else {
                None
            }
        };
        if let Some(l) = q.get("lang").and_then(|l| pick(l)) {
            return l;
        }
        if let Some(accept) = accept {
            let mut tags: Vec<(f32, usize, &str)> = accept
                .split(',')
                .enumerate()
                .filter_map(|(i, part)| {
                    let mut it = part.split(';');
                    let tag = it.next()?.trim();
                    let q = it
                        .find_map(|p| p.trim().strip_prefix("q="))
                        .and_then(|v| v.trim().parse::<f32>().ok())
                        .unwrap_or(1.0);
                    (q > 0.0).then_some((q, i, tag))
                })
                .collect();
            tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(l) = tags.iter().find_map(|(_, _, t)| pick(t)) {
                return l;
            }
        }
        if self.cfg.default_language == "zh" {
            "zh"
        } else {
            "en"
        }
    }

    fn page(&self, inv: &Invoice, chain: &InvoiceChain, lang: &str) -> Resp {
        let base = &self.cfg.path;
        let view = public_view(inv, chain);
        let state = json!({
            "lang": lang,
            "base": base,
            "status_url": format!("{base}/{}/status", inv.id),
            "qr_url": format!("{base}/{}/qr.svg", inv.id),
            "shop": {
                "name": self.cfg.shop_name,
                "logo_url": self.cfg.logo.as_ref().map(|_| format!("{base}/assets/logo")),
            },
            "text": self.cfg.text,
            "invoice": view,
        });
        let title = if self.cfg.shop_name.is_empty() {
            format!(
                "{} {}",
                view["amount_due"].as_str().unwrap_or(""),
                inv.asset.symbol
            )
        } else {
            format!(
                "{} · {} {}",
                self.cfg.shop_name,
                view["amount_due"].as_str().unwrap_or(""),
                inv.asset.symbol
            )
        };
        let noscript = format!(
            "<p>{} {} · {}</p><p><code>{}</code></p>",
            escape(view["remaining"].as_str().unwrap_or("")),
            escape(&inv.asset.symbol),
            escape(view["network"].as_str().unwrap_or("")),
            escape(&inv.address),
        );
        let body = PAGE
            .replace("{{LANG}}", if lang == "zh" { "zh-CN" } else { "en" })
            .replace("{{TITLE}}", &escape(&title))
            .replace("{{BASE}}", &escape(base))
            .replace("{{NOSCRIPT}}", &noscript)
            .replace("{{STATE}}", &script_json(&state));
        html(StatusCode::OK, body)
    }

    fn not_found(&self, q: &BTreeMap<String, String>, accept: Option<&str>) -> Resp {
        let (lang, text) = match self.language(q, accept) {
            "zh" => ("zh-CN", "找不到该付款请求。请回到商店重新下单。"),
            _ => (
                "en",
                "This payment request does not exist. Please go back to the shop.",
            ),
        };
        html(
            StatusCode::NOT_FOUND,
            format!(
                "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <meta name=\"robots\" content=\"noindex\"><title>404</title></head>\
                 <body><p>{text}</p></body></html>"
            ),
        )
    }

    /// The public status document; with `since`, waits up to `wait` seconds
    /// for it to differ from that version.
    async fn status(
        &self,
        store: &Store,
        invoices: &BTreeMap<String, Arc<InvoiceChain>>,
        id: &str,
        since: Option<String>,
        wait: u64,
    ) -> Resp {
        let mut rx = store.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            rx.borrow_and_update();
            let Some((inv, chain)) = tokio::task::block_in_place(|| find(store, invoices, id))
            else {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such payment request",
                );
            };
            let view = public_view(&inv, &chain);
            if since.as_deref() != view["version"].as_str() || wait == 0 {
                let mut r = crate::api::json_response(StatusCode::OK, &view);
                secure(&mut r);
                return r;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return error(StatusCode::SERVICE_UNAVAILABLE, "stopping", "the server is stopping") },
                _ = tokio::time::sleep_until(deadline) => {
                    let mut r = crate::api::json_response(StatusCode::OK, &view);
                    secure(&mut r);
                    return r;
                }
            }
        }
    }
}

/// The invoice and its chain, when both exist.
fn find(
    store: &Store,
    invoices: &BTreeMap<String, Arc<InvoiceChain>>,
    id: &str,
) -> Option<(Invoice, Arc<InvoiceChain>)> {
    if !id.starts_with("inv_") || id.len() > 64 {
        return None;
    }
    let inv = store.invoice(id).ok()??;
    let chain = invoices.get(&inv.chain)?.clone();
    Some((inv, chain))
}

/// What a buyer may see of an invoice: never its metadata.
pub fn public_view(inv: &Invoice, chain: &InvoiceChain) -> Value {
    let due = inv.amount_due_base.base();
    let left = due.saturating_sub(inv.received(false).base());
    let remaining = crate::amount::from_base(left, inv.asset.decimals);
    // Once part is paid, the wallet is asked for what is still due.
    let payment_uri = if inv.status == InvoiceStatus::Underpaid && !left.is_zero() {
        chain.payment_uri(&inv.address, &inv.asset, left, &inv.order_id)
    } else {
        inv.payment_uri.clone()
    };
    let redirect = match inv.status {
        InvoiceStatus::Confirmed => inv.redirect_url.clone(),
        _ => None,
    };
    let mut view = json!({
        "id": inv.id,
        "order_id": inv.order_id,
        "status": inv.status,
        "asset": inv.asset.symbol,
        "network": chain.network_label(&inv.asset),
        "address": inv.address,
        "amount_due": inv.amount_due,
        "paid": inv.paid,
        "remaining": remaining,
        "excess": inv.excess,
        "payment_uri": payment_uri,
        "expires_at": inv.expires_at,
        "payments": inv.payments.iter().map(|p| json!({
            "txid": p.txid,
            "amount": p.amount.to_whole(inv.asset.decimals),
            "confirmed": p.confirmed,
        })).collect::<Vec<_>>(),
        "redirect_url": redirect,
        "amount_reserved_until": inv.amount_reserved_until,
    });
    let digest = Sha256::digest(serde_json::to_vec(&view).expect("a JSON value serializes"));
    view["version"] = hex::encode(&digest[..8]).into();
    view["now"] = crate::clock::now_secs().into();
    view
}

/// JSON safe inside a `<script>` element.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .expect("a JSON value serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers every checkout answer carries.
fn secure(r: &mut Resp) {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

fn html(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(&mut r);
    r
}

fn asset(bytes: &[u8], kind: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(bytes)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    secure(&mut r);
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    let mut r = crate::api::json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    );
    secure(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let v = json!({"name": "</script><script>alert(1)</script>&"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>'));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
