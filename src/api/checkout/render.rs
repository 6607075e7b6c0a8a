//! The page's HTML as the server writes it: the texts in both languages,
//! the invoice rendered into the page for browsers without JavaScript
//! (amount, price, status, address, QR code and payments, all escaped), and
//! the page for an unknown invoice.

use super::view::QrContent;
use serde_json::Value;
use std::collections::BTreeMap;

/// The built-in texts, by language and key.
const TEXTS: &str = include_str!("assets/text.json");

/// The page's texts: the built-in ones, with the merchant's wording over
/// them.
pub(super) struct Texts(BTreeMap<String, BTreeMap<String, String>>);

impl Texts {
    pub(super) fn new(overrides: &BTreeMap<String, BTreeMap<String, String>>) -> Self {
        let mut texts: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(TEXTS).expect("assets/text.json is a JSON object of strings");
        for (lang, words) in overrides {
            let table = texts.entry(lang.clone()).or_default();
            for (key, value) in words {
                table.insert(key.clone(), value.clone());
            }
        }
        Texts(texts)
    }

    /// All of them, for the page's script.
    pub(super) fn json(&self) -> Value {
        serde_json::to_value(&self.0).expect("strings serialize")
    }

    /// Text `key` in `lang` (English when missing), with `{name}` filled in
    /// from `vars`; other placeholders are left as they are.
    pub(super) fn t(&self, lang: &str, key: &str, vars: &[(&str, &str)]) -> String {
        let s = self
            .0
            .get(lang)
            .and_then(|t| t.get(key))
            .or_else(|| self.0.get("en").and_then(|t| t.get(key)))
            .map(String::as_str)
            .unwrap_or(key);
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let value = after[name_len..]
                .starts_with('}')
                .then(|| vars.iter().find(|(k, _)| *k == &after[..name_len]))
                .flatten();
            match value {
                Some((_, v)) => {
                    out.push_str(v);
                    rest = &after[name_len + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// As [`Texts::t`], HTML-escaped.
    fn e(&self, lang: &str, key: &str, vars: &[(&str, &str)]) -> String {
        escape(&self.t(lang, key, vars))
    }
}

/// What every page shows around the invoice.
pub(super) struct Frame<'a> {
    pub lang: &'a str,
    pub texts: &'a Texts,
    pub shop_name: &'a str,
    pub logo_url: Option<&'a str>,
}

impl Frame<'_> {
    /// The header: logo, shop name, the order and the language links.
    fn head(&self, order_id: &str) -> String {
        let (lang, tx) = (self.lang, self.texts);
        let logo = match self.logo_url {
            Some(u) => format!("<img class=\"pw-logo\" src=\"{}\" alt=\"\">", escape(u)),
            None => String::new(),
        };
        let order = if order_id.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"pw-order\">{} <span class=\"pw-order-id\" translate=\"no\">{}</span></p>",
                tx.e(lang, "order", &[]),
                escape(order_id)
            )
        };
        let link = |code: &str, tag: &str, label: &str| {
            format!(
                "<a class=\"pw-lang-opt{}\" href=\"?lang={code}\" lang=\"{tag}\" hreflang=\"{tag}\">{label}</a>",
                if lang == code { " pw-active" } else { "" }
            )
        };
        format!(
            "<header class=\"pw-head\"><div class=\"pw-brand\">{logo}<div class=\"pw-brand-text\">\
             <h1 class=\"pw-shop\">{}</h1>{order}</div></div>\
             <nav class=\"pw-lang\" aria-label=\"{}\">{}{}</nav></header>",
            escape(self.shop_name),
            tx.e(lang, "lang_switch_label", &[]),
            link("en", "en", "EN"),
            link("zh", "zh-CN", "中文"),
        )
    }

    fn foot(&self) -> String {
        format!(
            "<footer class=\"pw-foot\">{}</footer>",
            self.texts.e(self.lang, "powered_by", &[])
        )
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The invoice as the page shows it before its script runs, and all that
/// a browser without JavaScript shows: `view` is the public status
/// document, `qr` what the QR code holds, `qr_url` the QR route.
pub(super) fn invoice_card(f: &Frame<'_>, view: &Value, qr: QrContent, qr_url: &str) -> String {
    let (lang, tx) = (f.lang, f.texts);
    let st = s(&view["status"]);
    let asset = s(&view["asset"]);
    let network = s(&view["network"]);
    let payable = matches!(st, "pending" | "underpaid");
    let underpaid = st == "underpaid";
    let to_pay = if underpaid {
        s(&view["remaining"])
    } else {
        s(&view["amount_due"])
    };
    let mut h = String::with_capacity(4096);
    h.push_str(&f.head(s(&view["order_id"])));

    // The amount, and the fiat price it was priced at.
    let label = if underpaid {
        "amount_still_due"
    } else if payable {
        "send_exactly"
    } else {
        "amount_total"
    };
    // Long amounts step down as the script steps them, to stay on one line.
    let size = match to_pay.chars().count() + asset.chars().count() {
        0..=12 => "",
        13..=16 => " pw-len-m",
        17..=21 => " pw-len-l",
        _ => " pw-len-xl",
    };
    h.push_str(&format!(
        "<section class=\"pw-amount-box\"><p class=\"pw-label\">{}</p><div class=\"pw-amount-row\">\
         <p class=\"pw-amount{size}\"><span class=\"pw-amount-value\" data-testid=\"amount\" translate=\"no\">{}</span> \
         <span class=\"pw-amount-asset\">{}</span></p></div>",
        tx.e(lang, label, &[]),
        escape(to_pay),
        escape(asset)
    ));
    if let Some(p) = view["pricing"].as_object() {
        let price = s(&p["price_text"]);
        let fiat = if underpaid {
            tx.e(lang, "fiat_total", &[("price", price)])
        } else {
            escape(price)
        };
        let time = utc(p["rate_as_of"].as_u64().unwrap_or(0));
        h.push_str(&format!(
            "<p class=\"pw-fiat\" data-testid=\"fiat\">{fiat}</p><p class=\"pw-rate\" data-testid=\"fiat-rate\">{}</p>",
            tx.e(
                lang,
                "fiat_rate",
                &[
                    ("asset", asset),
                    ("rate", s(&p["rate"])),
                    ("currency", s(&p["currency"])),
                    ("time", &time)
                ]
            )
        ));
    }
    let badge = if network.is_empty() {
        asset.to_string()
    } else {
        format!("{asset} · {network}")
    };
    h.push_str(&format!(
        "<p class=\"pw-badge\">{}</p></section>",
        escape(&badge)
    ));

    // The status and what to do about it.
    let known = [
        "pending",
        "paid",
        "confirmed",
        "expired",
        "paid_late",
        "cancelled",
        "settled",
        "invalid",
    ];
    let msg = if underpaid {
        tx.e(
            lang,
            "status_underpaid",
            &[("amount", s(&view["remaining"])), ("asset", asset)],
        )
    } else if known.contains(&st) {
        tx.e(lang, &format!("status_{st}"), &[])
    } else {
        tx.e(lang, "status_unknown", &[("status", st)])
    };
    let order = s(&view["order_id"]);
    let note = match st {
        "underpaid" => tx.e(lang, "note_underpaid", &[]),
        "paid" => tx.e(lang, "note_paid", &[]),
        "confirmed" | "settled" if view["redirect_url"].is_null() => {
            tx.e(lang, "note_confirmed", &[])
        }
        "expired" | "cancelled" => {
            let mut n = tx.e(lang, "note_do_not_pay", &[]);
            if let Some(until) = view["amount_reserved_until"].as_u64() {
                n.push(' ');
                n.push_str(&tx.e(
                    lang,
                    "note_reserved_until",
                    &[
                        ("amount", s(&view["amount_due"])),
                        ("asset", asset),
                        ("time", &utc(until)),
                    ],
                ));
            }
            n
        }
        "paid_late" if !order.is_empty() => tx.e(lang, "note_paid_late", &[("order", order)]),
        "invalid" => tx.e(lang, "note_invalid", &[("order", order)]),
        _ => String::new(),
    };
    h.push_str(&format!(
        "<div class=\"pw-status-box\" data-status=\"{}\" role=\"status\"><span class=\"pw-icon\" aria-hidden=\"true\"></span>\
         <div class=\"pw-status-text\"><p class=\"pw-status\" data-testid=\"status\" data-status=\"{}\">{msg}</p>",
        escape(st),
        escape(st)
    ));
    if !note.is_empty() {
        h.push_str(&format!("<p class=\"pw-note\">{note}</p>"));
    }
    if let Some(excess) = view["excess"]
        .as_str()
        .filter(|_| matches!(st, "paid" | "confirmed" | "paid_late"))
    {
        h.push_str(&format!(
            "<p class=\"pw-note\">{}</p>",
            tx.e(lang, "overpaid", &[("amount", excess), ("asset", asset)])
        ));
    }
    let refunds: Vec<String> = view["refunds"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let step = match s(&r["status"]) {
                "sent" => "refund_sent",
                "completed" => "refund_completed",
                _ => "refund_requested",
            };
            tx.e(lang, step, &[("amount", s(&r["amount"])), ("asset", asset)])
        })
        .collect();
    if !refunds.is_empty() {
        h.push_str(&format!(
            "<p class=\"pw-note\" data-testid=\"refund\">{}</p>",
            refunds.join(" ")
        ));
    }
    if let Some(url) = view["redirect_url"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        h.push_str(&format!(
            "<p class=\"pw-note\"><a class=\"pw-link\" data-testid=\"redirect-link\" href=\"{}\" rel=\"noreferrer\">{}</a></p>",
            escape(url),
            tx.e(lang, "return_now", &[])
        ));
    }
    h.push_str("</div></div>");

    if underpaid {
        h.push_str(&format!(
            "<dl class=\"pw-progress\"><div><dt>{}</dt><dd><span translate=\"no\">{}</span> <span class=\"pw-unit\">{}</span></dd></div>\
             <div class=\"pw-progress-due\"><dt>{}</dt><dd><span translate=\"no\">{}</span> <span class=\"pw-unit\">{}</span></dd></div></dl>",
            tx.e(lang, "paid_label", &[]),
            escape(s(&view["paid"])),
            escape(asset),
            tx.e(lang, "remaining", &[]),
            escape(s(&view["remaining"])),
            escape(asset),
        ));
    }

    let address = s(&view["address"]);
    let address_link = view["address_explorer_url"]
        .as_str()
        .map(|u| {
            format!(
                "<p class=\"pw-explorer\"><a class=\"pw-link-small\" data-testid=\"address-explorer\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a></p>",
                escape(u),
                tx.e(lang, "explorer_address", &[])
            )
        })
        .unwrap_or_default();
    let payments = view["payments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if payable {
        let expires = utc(view["expires_at"].as_u64().unwrap_or(0));
        let src = match qr {
            QrContent::Uri => qr_url.to_string(),
            QrContent::Address => format!("{qr_url}?address_only=true"),
        };
        let mode = |m: QrContent, key: &str| {
            let on = m == qr;
            format!(
                "<a class=\"pw-seg-opt{}\" href=\"?lang={lang}&amp;qr={}\" data-testid=\"qr-mode-{}\"{}>{}</a>",
                if on { " pw-active" } else { "" },
                m.name(),
                m.name(),
                if on { " aria-current=\"true\"" } else { "" },
                tx.e(lang, key, &[])
            )
        };
        let hint = match qr {
            QrContent::Uri => tx.e(lang, "qr_hint_uri", &[]),
            QrContent::Address => tx.e(lang, "qr_hint_address", &[]),
        };
        h.push_str(&format!(
            "<section class=\"pw-pay\"><p class=\"pw-timer\">{}</p>\
             <figure class=\"pw-qr-box\"><nav class=\"pw-seg\" aria-label=\"{}\">{}{}</nav>\
             <img class=\"pw-qr\" data-testid=\"qr\" src=\"{}\" width=\"220\" height=\"220\" alt=\"{}\">\
             <figcaption class=\"pw-hint\">{} <span class=\"pw-qr-hint\" data-testid=\"qr-hint\">{hint}</span></figcaption></figure>\
             <p class=\"pw-label\">{}</p><div class=\"pw-address-box\"><code class=\"pw-address\" data-testid=\"address\" translate=\"no\">{}</code></div>{address_link}",
            tx.e(lang, "expires_at", &[("time", &expires)]),
            tx.e(lang, "qr_mode_label", &[]),
            mode(QrContent::Uri, "qr_wallet_link"),
            mode(QrContent::Address, "qr_address_only"),
            escape(&src),
            tx.e(lang, "qr_alt", &[("amount", to_pay), ("asset", asset)]),
            tx.e(lang, "scan_hint", &[]),
            tx.e(lang, "address", &[]),
            escape(address),
        ));
        if let Some(uri) = view["payment_uri"].as_str().filter(|u| !u.is_empty()) {
            h.push_str(&format!(
                "<a class=\"pw-btn\" href=\"{}\">{}</a>",
                escape(uri),
                tx.e(lang, "open_wallet", &[])
            ));
        }
        h.push_str(&format!(
            "<p class=\"pw-warning\">{}</p></section>",
            tx.e(
                lang,
                "warning",
                &[
                    ("asset", asset),
                    ("network", if network.is_empty() { asset } else { network })
                ]
            )
        ));
    } else if !payments.is_empty() {
        h.push_str(&format!(
            "<section class=\"pw-pay\"><p class=\"pw-label\">{}</p><div class=\"pw-address-box\">\
             <code class=\"pw-address\" data-testid=\"address\" translate=\"no\">{}</code></div>{address_link}</section>",
            tx.e(lang, "paid_to", &[]),
            escape(address)
        ));
    }

    if !payments.is_empty() {
        h.push_str(&format!(
            "<section class=\"pw-txs\"><h2 class=\"pw-label\">{}</h2><ul class=\"pw-tx-list\">",
            tx.e(lang, "txs_title", &[])
        ));
        for p in payments {
            h.push_str(&payment_item(f, p, asset));
        }
        h.push_str("</ul></section>");
    }
    h.push_str(&format!(
        "<p class=\"pw-note pw-noscript-note\">{} <a class=\"pw-link\" href=\"?lang={lang}\">{}</a></p>",
        tx.e(lang, "noscript_note", &[]),
        tx.e(lang, "reload", &[])
    ));
    h.push_str(&f.foot());
    h
}

/// One payment: its amount, how far it is confirmed, and its transaction
/// id linked to the explorer.
fn payment_item(f: &Frame<'_>, p: &Value, asset: &str) -> String {
    let (lang, tx) = (f.lang, f.texts);
    let (class, tag) = confirmation_tag(f, p);
    let txid = s(&p["txid"]);
    let short = short_txid(txid);
    let id = match p["explorer_url"].as_str() {
        Some(u) => format!(
            "<a class=\"pw-tx-link\" data-testid=\"tx-explorer\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\" title=\"{}\">{}</a>",
            escape(u),
            tx.e(lang, "explorer_tx", &[]),
            escape(&short)
        ),
        None => escape(&short),
    };
    format!(
        "<li class=\"pw-tx\"><span class=\"pw-tx-amount\" translate=\"no\">{} {}</span>\
         <span class=\"pw-tag {class}\" data-testid=\"tx-confirmations\">{tag}</span>\
         <span class=\"pw-tx-id\" translate=\"no\" title=\"{}\">{id}</span></li>",
        escape(s(&p["amount"])),
        escape(asset),
        escape(txid),
    )
}

/// The tag of a payment: confirmed, or `n of N confirmations` on its way.
fn confirmation_tag(f: &Frame<'_>, p: &Value) -> (&'static str, String) {
    let (lang, tx) = (f.lang, f.texts);
    if p["confirmed"].as_bool() == Some(true) {
        return ("pw-tag-ok", tx.e(lang, "tx_confirmed", &[]));
    }
    let text = match (
        p["confirmations"].as_u64(),
        p["confirmations_required"].as_u64(),
    ) {
        (Some(n), Some(required)) => tx.e(
            lang,
            "tx_confirmations",
            &[
                ("n", &n.min(required).to_string()),
                ("required", &required.to_string()),
            ],
        ),
        (Some(n), None) => tx.e(lang, "tx_depth", &[("n", &n.to_string())]),
        _ => tx.e(lang, "tx_pending", &[]),
    };
    ("pw-tag-wait", text)
}

/// A long transaction id with its middle left out, as the page shows it.
fn short_txid(txid: &str) -> String {
    let chars: Vec<char> = txid.chars().collect();
    if chars.len() > 30 {
        let head: String = chars[..14].iter().collect();
        let tail: String = chars[chars.len() - 12..].iter().collect();
        format!("{head}…{tail}")
    } else {
        txid.to_string()
    }
}

/// The page for an unknown invoice: the page's look, the buyer's language,
/// nothing about why.
pub(super) fn not_found_page(f: &Frame<'_>, base: &str) -> String {
    let (lang, tx) = (f.lang, f.texts);
    let body = status_box(
        "not_found",
        &tx.e(lang, "not_found", &[]),
        &tx.e(lang, "note_not_found", &[]),
    );
    shell(
        f,
        base,
        &tx.e(lang, "not_found", &[]),
        "not-found",
        "",
        &body,
    )
}

/// The status box of a page without the invoice script: its icon, the
/// status `text` and a `note` (both HTML-escaped already).
fn status_box(status: &str, text: &str, note: &str) -> String {
    format!(
        "<div class=\"pw-status-box\" data-status=\"{status}\" role=\"status\"><span class=\"pw-icon\" aria-hidden=\"true\"></span>\
         <div class=\"pw-status-text\"><p class=\"pw-status\" data-testid=\"status\" data-status=\"{status}\">{text}</p>\
         <p class=\"pw-note\">{note}</p></div></div>"
    )
}

/// A page without the invoice script: the card, headed by the shop and
/// `order_id`, holding `body` (HTML), under `title` (HTML-escaped already).
fn shell(
    f: &Frame<'_>,
    base: &str,
    title: &str,
    testid: &str,
    order_id: &str,
    body: &str,
) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex\">\n\
         <title>{title}</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"{base}/assets/checkout.css\">\n\
         <link rel=\"stylesheet\" href=\"{base}/assets/theme.css\">\n</head>\n<body>\n\
         <div class=\"pw-page\">\n<main class=\"pw-card\" data-testid=\"{testid}\">{}{body}{}</main>\n</div>\n</body>\n</html>\n",
        if f.lang == "zh" { "zh-CN" } else { "en" },
        f.head(order_id),
        f.foot(),
        base = escape(base),
    )
}

/// The page of an order the buyer pays on the network of its choice: the
/// price, and a link per option (`?option=n`) that makes the option's
/// invoice and opens its page. Works without JavaScript.
pub(super) fn choice_page(f: &Frame<'_>, base: &str, view: &Value) -> String {
    let (lang, tx) = (f.lang, f.texts);
    let id = s(&view["id"]);
    let expired = s(&view["status"]) == "expired";
    let price = super::view::price_text(s(&view["price"]), s(&view["currency"]));
    let mut body = format!(
        "<section class=\"pw-amount-box\"><p class=\"pw-label\">{}</p>\
         <p class=\"pw-amount\" data-testid=\"price\" translate=\"no\">{}</p></section>",
        tx.e(lang, "amount_total", &[]),
        escape(&price)
    );
    if expired {
        body.push_str(&status_box(
            "expired",
            &tx.e(lang, "status_expired", &[]),
            &tx.e(lang, "note_do_not_pay", &[]),
        ));
    } else {
        body.push_str(&format!(
            "<p class=\"pw-status pw-choose\" data-testid=\"status\" data-status=\"choose\">{}</p>\
             <p class=\"pw-note\">{}</p><ul class=\"pw-options\">",
            tx.e(lang, "choose_network", &[]),
            tx.e(lang, "choose_note", &[]),
        ));
        for (n, o) in view["options"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            body.push_str(&format!(
                "<li><a class=\"pw-option\" data-testid=\"option\" href=\"{}/{}?option={n}&amp;lang={lang}\">\
                 <span class=\"pw-option-asset\" translate=\"no\">{}</span>\
                 <span class=\"pw-option-network\">{}</span></a></li>",
                escape(base),
                escape(id),
                escape(s(&o["asset"])),
                escape(s(&o["network"])),
            ));
        }
        body.push_str("</ul>");
    }
    let title = if f.shop_name.is_empty() {
        price
    } else {
        format!("{} · {price}", f.shop_name)
    };
    shell(
        f,
        base,
        &escape(&title),
        "choice",
        s(&view["order_id"]),
        &body,
    )
}

/// Unix seconds as `2024-10-19 10:48 UTC`.
fn utc(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let iso = humantime::format_rfc3339_seconds(t).to_string();
    // `2024-10-19T10:48:20Z`
    match (iso.get(..10), iso.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => iso,
    }
}

pub(super) fn escape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts() -> Texts {
        Texts::new(&BTreeMap::new())
    }

    #[test]
    fn both_languages_have_every_text() {
        let all: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(TEXTS).unwrap();
        let en: Vec<&String> = all["en"].keys().collect();
        let zh: Vec<&String> = all["zh"].keys().collect();
        assert_eq!(en, zh);
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_kept() {
        let t = texts();
        assert_eq!(
            t.t(
                "en",
                "status_underpaid",
                &[("amount", "{asset}"), ("asset", "ETH")]
            ),
            "Partly paid — {asset} ETH still due"
        );
        assert_eq!(
            t.t("en", "tx_confirmations", &[("n", "2")]),
            "2 of {required} confirmations"
        );
        assert_eq!(t.t("zh", "reload", &[]), "刷新");
    }

    #[test]
    fn the_no_script_card_escapes_what_it_shows() {
        let t = texts();
        let f = Frame {
            lang: "en",
            texts: &t,
            shop_name: "<b>Shop</b>",
            logo_url: None,
        };
        let view = json!({
            "status": "confirmed", "asset": "ETH", "network": "Anvil (local)",
            "order_id": "<script>x</script>", "address": "0xabc", "amount_due": "1.5",
            "remaining": "0", "paid": "1.5", "excess": null, "pricing": null,
            "payment_uri": "ethereum:0xabc", "expires_at": 0, "redirect_url": null,
            "payments": [{"txid": "0x\"><i>", "amount": "1.5", "confirmed": true,
                          "explorer_url": "https://x.example/tx/0x%22%3E"}],
        });
        let h = invoice_card(&f, &view, QrContent::Uri, "/pay/inv_1/qr.svg");
        assert!(
            !h.contains("<script>") && !h.contains("<b>") && !h.contains("<i>"),
            "{h}"
        );
        assert!(
            h.contains(">1.5</span> <span class=\"pw-amount-asset\">ETH<"),
            "{h}"
        );
        assert!(h.contains("Payment confirmed") && h.contains("rel=\"noopener noreferrer\""));
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(1_729_334_880), "2024-10-19 10:48 UTC");
    }
}
