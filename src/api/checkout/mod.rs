//! The hosted checkout page a shop sends its buyer to: `GET {path}/{id}`
//! shows what to pay, where and on which network (and the fiat price, when
//! the invoice was priced in fiat), with the QR code, a countdown, the live
//! status and each payment's confirmations, in English or Chinese. The
//! server writes the invoice into the page, so a browser without
//! JavaScript shows it too; the script then keeps it live.
//!
//! Everything under `{path}` is public and read-only, so it can be exposed
//! through the merchant's reverse proxy while the API stays private: the
//! page, its own static files, the QR code and a status document that holds
//! only the invoice's public fields (never its metadata). The one change a
//! buyer makes is the choice of network on the page of an invoice with
//! payment options (`?option=n`), which makes that option's invoice once. The page runs
//! under a strict Content-Security-Policy: no inline script, no third-party
//! origin.

mod render;
mod view;

use crate::config::{ChainConfig, CheckoutConfig};
use crate::invoice::service::InvoiceChain;
use crate::invoice_record::Invoice;
use crate::store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use render::{escape, Frame, Texts};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use view::{PageChain, QrContent};

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/checkout.js");
const STYLE: &str = include_str!("assets/checkout.css");

/// The policy every checkout response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The longest a status request waits for a change.
const MAX_WAIT: u64 = 30;
/// How often a waiting status request looks again while a payment counts
/// confirmations (new blocks that complete none write no event to wake it).
const RECHECK: Duration = Duration::from_secs(3);

type Resp = Response<Full<Bytes>>;

/// The checkout page's settings, its texts, its theme stylesheet and what
/// it needs of each chain.
pub struct Checkout {
    cfg: CheckoutConfig,
    texts: Texts,
    theme_css: String,
    chains: BTreeMap<String, PageChain>,
    /// The shop protocols' merchants, whose secret signs an EPay buyer's
    /// way back.
    merchants: Vec<crate::config::MerchantConfig>,
}

/// An invoice the page shows: the invoice, its chain's invoice settings,
/// what the page knows of the chain, and the chain's last indexed height.
struct Found<'a> {
    inv: Invoice,
    chain: Arc<InvoiceChain>,
    page: &'a PageChain,
    tip: Option<u64>,
    merchants: &'a [crate::config::MerchantConfig],
}

impl Found<'_> {
    fn view(&self) -> Value {
        let mut v = view::public_view(&self.inv, &self.chain, self.page, self.tip);
        // An EPay buyer goes back with the signed order, once it is paid.
        if let Some(back) = crate::api::epay::signed_return(&self.inv, self.merchants) {
            v["redirect_url"] = back.into();
        }
        v
    }
}

impl Checkout {
    pub fn new(cfg: CheckoutConfig, chains: &[ChainConfig]) -> Self {
        let t = &cfg.theme;
        let theme_css = format!(
            ":root{{--pw-accent:{};--pw-accent-text:{};--pw-bg:{};--pw-card:{};--pw-text:{}}}\n",
            t.accent, t.accent_text, t.background, t.card, t.text
        );
        Checkout {
            texts: Texts::new(&cfg.text),
            cfg,
            theme_css,
            chains: chains
                .iter()
                .map(|c| (c.name.clone(), PageChain::new(c)))
                .collect(),
            merchants: Vec::new(),
        }
    }

    /// The merchants whose EPay buyers this page sends back.
    pub fn with_merchants(mut self, merchants: Vec<crate::config::MerchantConfig>) -> Self {
        self.merchants = merchants;
        self
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
        rates: &crate::invoice::rates::Rates,
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
                match self.find(store, invoices, id) {
                    Some(found) => self.page(&found, lang, q.get("qr").map(String::as_str)),
                    None => match self.choice(store, invoices, rates, id, &q, lang) {
                        Some(r) => r,
                        None => self.not_found(&q, accept_language),
                    },
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
            [id, "qr.svg"] => {
                let address_only = match q.get("address_only").map(String::as_str) {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_parameter",
                            &format!("`address_only` must be true or false, not `{other}`"),
                        )
                    }
                };
                match self.find(store, invoices, id) {
                    Some(found) => {
                        let text = if address_only {
                            found.inv.address.clone()
                        } else {
                            s(&found.view()["payment_uri"]).to_string()
                        };
                        match crate::invoice::uri::qr_svg(&text) {
                            Ok(svg) => asset(svg.as_bytes(), "image/svg+xml"),
                            Err(e) => error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "internal",
                                &e.to_string(),
                            ),
                        }
                    }
                    None => error(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        "no such payment request",
                    ),
                }
            }
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

    fn frame<'a>(&'a self, lang: &'a str, logo_url: Option<&'a str>) -> Frame<'a> {
        Frame {
            lang,
            texts: &self.texts,
            shop_name: &self.cfg.shop_name,
            logo_url,
        }
    }

    fn logo_url(&self) -> Option<String> {
        self.cfg
            .logo
            .as_ref()
            .map(|_| format!("{}/assets/logo", self.cfg.path))
    }

    /// The page: the invoice rendered for browsers without JavaScript, and
    /// the same state as JSON for the script that keeps it live. `qr` is
    /// the buyer's choice of what the QR code holds (`uri` or `address`).
    fn page(&self, found: &Found<'_>, lang: &str, qr: Option<&str>) -> Resp {
        let base = &self.cfg.path;
        let inv = &found.inv;
        let view = found.view();
        let qr = match qr {
            Some("uri") => QrContent::Uri,
            Some("address") => QrContent::Address,
            _ => found.page.qr_default(inv),
        };
        let qr_url = format!("{base}/{}/qr.svg", inv.id);
        let logo_url = self.logo_url();
        let state = json!({
            "lang": lang,
            "base": base,
            "status_url": format!("{base}/{}/status", inv.id),
            "qr_url": qr_url,
            "qr": qr.name(),
            "shop": {
                "name": self.cfg.shop_name,
                "logo_url": logo_url,
            },
            "text": self.texts.json(),
            "invoice": view,
        });
        let to_pay = if inv.status == crate::invoice_record::InvoiceStatus::Underpaid {
            s(&view["remaining"])
        } else {
            s(&view["amount_due"])
        };
        let title = if self.cfg.shop_name.is_empty() {
            format!("{to_pay} {}", inv.asset.symbol)
        } else {
            format!("{} · {to_pay} {}", self.cfg.shop_name, inv.asset.symbol)
        };
        let card = render::invoice_card(&self.frame(lang, logo_url.as_deref()), &view, qr, &qr_url);
        let body = fill(
            PAGE,
            &[
                ("LANG", if lang == "zh" { "zh-CN" } else { "en" }),
                ("TITLE", &escape(&title)),
                ("BASE", &escape(base)),
                ("NOSCRIPT", &card),
                ("STATE", &script_json(&state)),
            ],
        );
        html(StatusCode::OK, body)
    }

    fn not_found(&self, q: &BTreeMap<String, String>, accept: Option<&str>) -> Resp {
        let lang = self.language(q, accept);
        let logo_url = self.logo_url();
        html(
            StatusCode::NOT_FOUND,
            render::not_found_page(&self.frame(lang, logo_url.as_deref()), &self.cfg.path),
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
            let Some(view) =
                tokio::task::block_in_place(|| self.find(store, invoices, id).map(|f| f.view()))
            else {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such payment request",
                );
            };
            let answer = |view: &Value| {
                let mut r = crate::api::json_response(StatusCode::OK, view);
                secure(&mut r);
                r
            };
            if since.as_deref() != view["version"].as_str()
                || tokio::time::Instant::now() >= deadline
            {
                return answer(&view);
            }
            let recheck = view::counts_confirmations(&view);
            tokio::select! {
                r = rx.changed() => if r.is_err() { return error(StatusCode::SERVICE_UNAVAILABLE, "stopping", "the server is stopping") },
                _ = tokio::time::sleep(RECHECK), if recheck => {}
                _ = tokio::time::sleep_until(deadline) => return answer(&view),
            }
        }
    }

    /// The invoice `id` and its chain, when both exist.
    fn find(
        &self,
        store: &Store,
        invoices: &BTreeMap<String, Arc<InvoiceChain>>,
        id: &str,
    ) -> Option<Found<'_>> {
        if !well_formed(id) {
            return None;
        }
        let inv = store.invoice(id).ok()??;
        let chain = invoices.get(&inv.chain)?.clone();
        let page = self.chains.get(&inv.chain)?;
        let tip = store.cursor(&inv.chain).ok().flatten().map(|(h, _)| h);
        Some(Found {
            inv,
            chain,
            page,
            tip,
            merchants: &self.merchants,
        })
    }
}

impl Checkout {
    /// The page of an order with payment options: the options to choose
    /// from; with `?option=n`, that option's invoice made (the first time)
    /// and its page opened; once an option paid the order, that page.
    fn choice(
        &self,
        store: &Store,
        invoices: &BTreeMap<String, Arc<InvoiceChain>>,
        rates: &crate::invoice::rates::Rates,
        id: &str,
        q: &BTreeMap<String, String>,
        lang: &str,
    ) -> Option<Resp> {
        use crate::invoice::choice::{self, ChooseError};
        use crate::invoice::service::CreateError;
        if !well_formed(id) {
            return None;
        }
        let c = store.choice(id).ok()??;
        let base = &self.cfg.path;
        let open = |inv: &str| see_other(&format!("{base}/{inv}?lang={lang}"));
        if let Some(option) = q.get("option") {
            let n = option.parse::<usize>().ok()?;
            let chosen =
                tokio::task::block_in_place(|| choice::choose(store, invoices, rates, id, n));
            match chosen {
                Ok((inv, _)) => return Some(open(&inv.id)),
                // Paid with another option, or expired: the page says so.
                Err(ChooseError::Conflict(..)) => {}
                Err(ChooseError::NotFound(_)) => return None,
                Err(ChooseError::Create(CreateError::Unavailable(code, m))) => {
                    return Some(error(StatusCode::SERVICE_UNAVAILABLE, code, &m))
                }
                Err(ChooseError::Create(CreateError::Invalid(code, m)))
                | Err(ChooseError::Create(CreateError::Conflict(code, m))) => {
                    return Some(error(StatusCode::CONFLICT, code, &m))
                }
                Err(ChooseError::Create(CreateError::Store(e))) | Err(ChooseError::Store(e)) => {
                    return Some(error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        &e.to_string(),
                    ))
                }
            }
        }
        let children = choice::children(store, &c).ok()?;
        let view = choice::view(&c, &children, |inv| json!({"id": inv.id}));
        if let Some(paid) = view["paid_by"].as_str() {
            return Some(open(paid));
        }
        let logo_url = self.logo_url();
        Some(html(
            StatusCode::OK,
            render::choice_page(&self.frame(lang, logo_url.as_deref()), base, &view),
        ))
    }
}

/// Ids are `inv_` and hex digits: anything else is not looked up.
fn well_formed(id: &str) -> bool {
    id.len() <= 64
        && id
            .strip_prefix("inv_")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A `303 See Other` to `location`.
fn see_other(location: &str) -> Resp {
    let mut r = super::http::redirect(StatusCode::SEE_OTHER, location);
    secure(&mut r);
    r
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `template` with each `{{NAME}}` of `values` replaced in one pass, so
/// that nothing put in (an order id, a shop's name) is read as a
/// placeholder again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let value = after.find("}}").and_then(|j| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..j])
                .map(|(_, v)| (j, *v))
        });
        match value {
            Some((j, v)) => {
                out.push_str(v);
                rest = &after[j + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// JSON safe inside a `<script>` element.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .expect("a JSON value serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
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
    fn what_the_page_is_filled_with_is_not_filled_again() {
        assert_eq!(
            fill(
                "<p>{{A}}</p><s>{{B}}</s>{{C}}",
                &[("A", "{{B}}"), ("B", "x{{A}}")]
            ),
            "<p>{{B}}</p><s>x{{A}}</s>{{C}}"
        );
    }

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
