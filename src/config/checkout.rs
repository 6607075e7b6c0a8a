//! The buyer-facing side of payment requests: the hosted checkout page
//! (`[checkout]`) and the exchange rates that turn a fiat price into an
//! asset amount (`[[rate]]`).

use super::resolve;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---- checkout page ------------------------------------------------------

/// The page's texts a merchant may reword (`[checkout.text.en]` …).
pub const TEXT_KEYS: &[&str] = &[
    "title",
    "order",
    "send_exactly",
    "amount_still_due",
    "amount_total",
    "copy",
    "copied",
    "copy_failed",
    "copy_amount_label",
    "copy_address_label",
    "expires_in",
    "scan_hint",
    "qr_alt",
    "address",
    "open_wallet",
    "warning",
    "status_pending",
    "status_underpaid",
    "status_paid",
    "status_confirmed",
    "status_expired",
    "status_paid_late",
    "status_cancelled",
    "not_found",
    "status_unknown",
    "note_pending",
    "note_underpaid",
    "note_paid",
    "note_confirmed",
    "redirecting",
    "return_now",
    "note_do_not_pay",
    "note_reserved_until",
    "note_paid_late",
    "note_not_found",
    "overpaid",
    "reconnecting",
    "paid_label",
    "remaining",
    "txs_title",
    "tx_confirmed",
    "tx_pending",
    "lang_switch_label",
    "powered_by",
    "load_error",
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheckout {
    enabled: Option<bool>,
    path: Option<String>,
    public_url: Option<String>,
    shop_name: Option<String>,
    logo: Option<PathBuf>,
    accent_color: Option<String>,
    accent_text_color: Option<String>,
    background_color: Option<String>,
    card_color: Option<String>,
    text_color: Option<String>,
    default_language: Option<String>,
    #[serde(default)]
    text: BTreeMap<String, BTreeMap<String, String>>,
}

/// The page a shop sends its buyer to: `GET {path}/{invoice id}`.
#[derive(Debug, Clone)]
pub struct CheckoutConfig {
    pub enabled: bool,
    /// Where the page lives on this server, e.g. `/pay` (no trailing slash).
    pub path: String,
    /// How buyers reach this server (scheme, host, any proxy prefix; no
    /// trailing slash), for the links handed to shops.
    pub public_url: String,
    pub shop_name: String,
    /// The logo file's bytes and content type, served at `{path}/assets/logo`.
    pub logo: Option<(Vec<u8>, &'static str)>,
    pub theme: Theme,
    /// `en` or `zh`: the language when the buyer's browser asks for neither.
    pub default_language: String,
    /// Merchant wording per language (`en`, `zh`) and text key.
    pub text: BTreeMap<String, BTreeMap<String, String>>,
}

/// Page colours, each a CSS hex colour.
#[derive(Debug, Clone)]
pub struct Theme {
    pub accent: String,
    /// Text on the accent colour (buttons).
    pub accent_text: String,
    pub background: String,
    pub card: String,
    pub text: String,
}

/// The largest logo served.
const MAX_LOGO: u64 = 256 * 1024;
/// The longest merchant text accepted for one key.
const MAX_TEXT: usize = 500;

pub(super) fn checkout(
    raw: Option<RawCheckout>,
    listen: std::net::SocketAddr,
    base: &Path,
) -> Result<CheckoutConfig, String> {
    let raw = raw.unwrap_or_default();
    let path = raw.path.unwrap_or_else(|| "/pay".into());
    let trimmed = path.trim_end_matches('/');
    if !trimmed.starts_with('/')
        || trimmed.len() < 2
        || !trimmed[1..].split('/').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        || ["/v1", "/api", "/health", "/metrics"]
            .iter()
            .any(|p| trimmed == *p || trimmed.starts_with(&format!("{p}/")))
    {
        return Err(format!(
            "checkout.path: `{path}` must be an absolute path such as \"/pay\" of letters, digits, '-', '_' and '.', outside /v1, /api, /health and /metrics"
        ));
    }
    let public_url = match raw.public_url {
        None => format!("http://{listen}"),
        Some(u) => {
            let parsed = url::Url::parse(&u)
                .map_err(|e| format!("checkout.public_url: `{u}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.query().is_some()
                || parsed.fragment().is_some()
            {
                return Err(format!(
                    "checkout.public_url: `{u}` must be an http(s) URL without query or fragment"
                ));
            }
            u.trim_end_matches('/').to_string()
        }
    };
    let logo = match raw.logo {
        None => None,
        Some(p) => {
            let p = resolve(base, &p);
            let kind = match p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("webp") => "image/webp",
                _ => {
                    return Err(format!(
                        "checkout.logo: {} is not a .png, .svg, .jpg or .webp file",
                        p.display()
                    ))
                }
            };
            let len = std::fs::metadata(&p)
                .map_err(|e| format!("checkout.logo: cannot read {}: {e}", p.display()))?
                .len();
            if len > MAX_LOGO {
                return Err(format!(
                    "checkout.logo: {} is {len} bytes; the limit is {MAX_LOGO}",
                    p.display()
                ));
            }
            let bytes = std::fs::read(&p)
                .map_err(|e| format!("checkout.logo: cannot read {}: {e}", p.display()))?;
            Some((bytes, kind))
        }
    };
    let color = |key: &str, v: Option<String>, default: &str| -> Result<String, String> {
        let v = v.unwrap_or_else(|| default.to_string());
        let hex = v.strip_prefix('#').unwrap_or("");
        if matches!(hex.len(), 3 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(v)
        } else {
            Err(format!(
                "checkout.{key}: `{v}` is not a CSS hex colour such as \"#1a7f5a\""
            ))
        }
    };
    let theme = Theme {
        accent: color("accent_color", raw.accent_color, "#1a7f5a")?,
        accent_text: color("accent_text_color", raw.accent_text_color, "#ffffff")?,
        background: color("background_color", raw.background_color, "#eef1f4")?,
        card: color("card_color", raw.card_color, "#ffffff")?,
        text: color("text_color", raw.text_color, "#1c2430")?,
    };
    let default_language = match raw.default_language.as_deref() {
        None | Some("en") => "en".to_string(),
        Some("zh" | "zh-CN") => "zh".to_string(),
        Some(other) => {
            return Err(format!(
                "checkout.default_language: `{other}` is not en or zh"
            ))
        }
    };
    for (lang, texts) in &raw.text {
        if lang != "en" && lang != "zh" {
            return Err(format!("checkout.text.{lang}: languages are en and zh"));
        }
        for (key, value) in texts {
            if !TEXT_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "checkout.text.{lang}.{key}: not a text of the page (one of {})",
                    TEXT_KEYS.join(", ")
                ));
            }
            if value.len() > MAX_TEXT {
                return Err(format!(
                    "checkout.text.{lang}.{key}: longer than {MAX_TEXT} bytes"
                ));
            }
        }
    }
    Ok(CheckoutConfig {
        enabled: raw.enabled.unwrap_or(true),
        path: trimmed.to_string(),
        public_url,
        shop_name: raw.shop_name.unwrap_or_default(),
        logo,
        theme,
        default_language,
        text: raw.text,
    })
}

// ---- exchange rates -----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRate {
    pair: String,
    fixed: Option<String>,
    max_age: Option<u64>,
    max_spread: Option<toml::Value>,
    min_sources: Option<usize>,
    refresh: Option<u64>,
    #[serde(default)]
    source: Vec<RawRateSource>,
}

impl RawRate {
    /// A pair with one fixed figure.
    pub(super) fn fixed(pair: &str, rate: &str) -> Self {
        RawRate {
            pair: pair.to_string(),
            fixed: Some(rate.to_string()),
            max_age: None,
            max_spread: None,
            min_sources: None,
            refresh: None,
            source: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateSource {
    name: Option<String>,
    fixed: Option<String>,
    url: Option<String>,
    pointer: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// How many units of `currency` one unit of `asset` is worth, and where
/// that figure comes from.
#[derive(Debug, Clone)]
pub struct RateConfig {
    /// Upper case, e.g. `USDT`.
    pub asset: String,
    /// Upper case, e.g. `CNY`.
    pub currency: String,
    pub sources: Vec<RateSourceConfig>,
    /// A fetched figure older than this is not used.
    pub max_age: Duration,
    /// Sources further than this from the median, in percent, are ignored.
    pub max_spread_percent: f64,
    /// Agreeing sources needed for a rate.
    pub min_sources: usize,
    /// How often HTTP sources are fetched.
    pub refresh: Duration,
}

impl RateConfig {
    pub fn pair(&self) -> String {
        format!("{}/{}", self.asset, self.currency)
    }
}

#[derive(Debug, Clone)]
pub struct RateSourceConfig {
    pub name: String,
    pub kind: RateSourceKind,
}

#[derive(Debug, Clone)]
pub enum RateSourceKind {
    /// A figure set in the config (a decimal).
    Fixed(String),
    /// A JSON document fetched over HTTP, and the JSON pointer (RFC 6901)
    /// to the number in it (a JSON number or a numeric string).
    Http {
        url: url::Url,
        pointer: String,
        headers: Vec<(String, String)>,
    },
}

pub(super) fn rates(raw: Vec<RawRate>) -> Result<Vec<RateConfig>, String> {
    let mut out: Vec<RateConfig> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = |m: String| format!("rate[{i}] ({}): {m}", r.pair);
        let Some((asset, currency)) = r.pair.split_once('/') else {
            return Err(at(
                "pair: write it as ASSET/CURRENCY, e.g. \"USDT/CNY\"".into()
            ));
        };
        let (asset, currency) = (asset.trim().to_uppercase(), currency.trim().to_uppercase());
        let word = |s: &str| {
            !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !word(&asset) || !word(&currency) {
            return Err(at(
                "pair: write it as ASSET/CURRENCY, e.g. \"USDT/CNY\"".into()
            ));
        }
        if out
            .iter()
            .any(|o| o.asset == asset && o.currency == currency)
        {
            return Err(at(format!("pair {asset}/{currency} is configured twice")));
        }
        let mut sources = Vec::new();
        if let Some(f) = &r.fixed {
            crate::amount::parse_rate(f).map_err(|e| at(format!("fixed: {e}")))?;
            sources.push(RateSourceConfig {
                name: "fixed".into(),
                kind: RateSourceKind::Fixed(f.clone()),
            });
        }
        for (j, s) in r.source.iter().enumerate() {
            let name = s.name.clone().unwrap_or_else(|| format!("source{j}"));
            let sat = |m: String| at(format!("source[{j}] ({name}): {m}"));
            let kind = match (&s.fixed, &s.url) {
                (Some(f), None) => {
                    if s.pointer.is_some() || !s.headers.is_empty() {
                        return Err(sat("`pointer` and `headers` go with `url`".into()));
                    }
                    crate::amount::parse_rate(f).map_err(|e| sat(format!("fixed: {e}")))?;
                    RateSourceKind::Fixed(f.clone())
                }
                (None, Some(u)) => {
                    let url = url::Url::parse(u)
                        .map_err(|e| sat(format!("url: `{u}` is not a URL: {e}")))?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err(sat(format!("url: `{u}` is not http(s)")));
                    }
                    let pointer = s.pointer.clone().ok_or_else(|| {
                        sat("`pointer` is required with `url`: the JSON pointer to the number, e.g. \"/data/amount\"".into())
                    })?;
                    if !pointer.is_empty() && !pointer.starts_with('/') {
                        return Err(sat(format!(
                            "pointer: `{pointer}` is not a JSON pointer (it starts with '/')"
                        )));
                    }
                    RateSourceKind::Http {
                        url,
                        pointer,
                        headers: s.headers.clone().into_iter().collect(),
                    }
                }
                _ => return Err(sat("set either `fixed` or `url`".into())),
            };
            if sources.iter().any(|o: &RateSourceConfig| o.name == name) {
                return Err(sat("two sources share this name".into()));
            }
            sources.push(RateSourceConfig { name, kind });
        }
        if sources.is_empty() {
            return Err(at(
                "no source: set `fixed = \"7.2\"` or add [[rate.source]] entries".into(),
            ));
        }
        let max_spread_percent = match &r.max_spread {
            None => 2.0,
            Some(v) => {
                let parsed = match v {
                    toml::Value::Integer(i) => Some(*i as f64),
                    toml::Value::Float(f) => Some(*f),
                    toml::Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
                    _ => None,
                };
                match parsed {
                    Some(p) if (0.0..=100.0).contains(&p) => p,
                    _ => {
                        return Err(at(format!(
                            "max_spread: `{v}` is not a percentage between 0 and 100"
                        )))
                    }
                }
            }
        };
        let min_sources = r.min_sources.unwrap_or(1);
        if min_sources == 0 || min_sources > sources.len() {
            return Err(at(format!(
                "min_sources: {min_sources} is not between 1 and the {} source(s) configured",
                sources.len()
            )));
        }
        let refresh = r.refresh.unwrap_or(60);
        let max_age = r.max_age.unwrap_or(600);
        if refresh == 0 || max_age < refresh {
            return Err(at(format!(
                "refresh ({refresh} s) must be above zero and max_age ({max_age} s) at least refresh"
            )));
        }
        out.push(RateConfig {
            asset,
            currency,
            sources,
            max_age: Duration::from_secs(max_age),
            max_spread_percent,
            min_sources,
            refresh: Duration::from_secs(refresh),
        });
    }
    Ok(out)
}
