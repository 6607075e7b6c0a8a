//! The buyer-facing side of payment requests: the hosted checkout page
//! (`[checkout]`), the block explorers it links to (`explorer_tx_url` and
//! `explorer_address_url` of a `[[chain]]`) and the exchange rates that
//! turn a fiat price into an asset amount (`[[rate]]`).

use super::chain::{ChainConfig, ChainKind};
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
    "status_settled",
    "status_invalid",
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
    "note_invalid",
    "note_not_found",
    "overpaid",
    "reconnecting",
    "paid_label",
    "remaining",
    "txs_title",
    "tx_confirmed",
    "tx_pending",
    "tx_confirmations",
    "tx_depth",
    "lang_switch_label",
    "powered_by",
    "load_error",
    "qr_mode_label",
    "qr_wallet_link",
    "qr_address_only",
    "qr_hint_uri",
    "qr_hint_address",
    "fiat_total",
    "fiat_rate",
    "explorer_tx",
    "explorer_address",
    "expires_at",
    "paid_to",
    "noscript_note",
    "reload",
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

// ---- block explorers ----------------------------------------------------

/// Where the checkout page links a chain's transactions and addresses: URL
/// templates with `{txid}` or `{address}` where the value goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explorer {
    /// A transaction's page, with `{txid}`.
    pub tx_url: Option<String>,
    /// An address's page, with `{address}`.
    pub address_url: Option<String>,
}

impl Explorer {
    /// The page of transaction `txid`, when an explorer is set.
    pub fn tx(&self, txid: &str) -> Option<String> {
        Some(fill(self.tx_url.as_deref()?, TXID, txid))
    }

    /// The page of `address`, when an explorer is set.
    pub fn address(&self, address: &str) -> Option<String> {
        Some(fill(self.address_url.as_deref()?, ADDRESS, address))
    }
}

const TXID: &str = "{txid}";
const ADDRESS: &str = "{address}";
/// The longest template accepted.
const MAX_TEMPLATE: usize = 500;

/// `template` with `value` percent-encoded in place of `placeholder`.
fn fill(template: &str, placeholder: &str, value: &str) -> String {
    /// Everything but RFC 3986's unreserved characters.
    const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    template.replace(
        placeholder,
        &percent_encoding::utf8_percent_encode(value, VALUE).to_string(),
    )
}

/// The explorers of a chain: the configured templates, or for a key left
/// out, the built-in one of a well-known public network (Bitcoin mainnet,
/// Ethereum mainnet, TRON mainnet); none for test, local and private
/// networks. An empty string turns a built-in one off.
pub(super) fn explorer(
    chain: &ChainConfig,
    tx_url: Option<toml::Value>,
    address_url: Option<toml::Value>,
) -> Result<Explorer, String> {
    let builtin: Option<(&str, &str)> = match &chain.kind {
        ChainKind::Bitcoin(b) if b.network == bitcoin::Network::Bitcoin => Some((
            "https://mempool.space/tx/{txid}",
            "https://mempool.space/address/{address}",
        )),
        ChainKind::Evm(e) if e.chain_id == 1 => Some((
            "https://etherscan.io/tx/{txid}",
            "https://etherscan.io/address/{address}",
        )),
        ChainKind::Tron(t) if t.network == "mainnet" => Some((
            "https://tronscan.org/#/transaction/{txid}",
            "https://tronscan.org/#/address/{address}",
        )),
        _ => None,
    };
    let pick = |key: &str,
                value: Option<toml::Value>,
                placeholder: &str,
                builtin: Option<&str>|
     -> Result<Option<String>, String> {
        match value {
            None => Ok(builtin.map(str::to_string)),
            Some(v) => template(key, v, placeholder),
        }
    };
    Ok(Explorer {
        tx_url: pick("explorer_tx_url", tx_url, TXID, builtin.map(|b| b.0))?,
        address_url: pick(
            "explorer_address_url",
            address_url,
            ADDRESS,
            builtin.map(|b| b.1),
        )?,
    })
}

/// A configured template: an http(s) URL with `placeholder` where the
/// value goes, or `""` for none.
fn template(key: &str, v: toml::Value, placeholder: &str) -> Result<Option<String>, String> {
    let example = if placeholder == TXID {
        "https://mempool.space/tx/{txid}"
    } else {
        "https://mempool.space/address/{address}"
    };
    let toml::Value::String(s) = v else {
        return Err(format!(
            "{key}: must be a string such as \"{example}\" (or \"\" for no link), not {v}"
        ));
    };
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > MAX_TEMPLATE {
        return Err(format!("{key}: longer than {MAX_TEMPLATE} bytes"));
    }
    if !s.contains(placeholder) {
        return Err(format!(
            "{key}: `{s}` has no {placeholder}; write it where the value goes, e.g. \"{example}\""
        ));
    }
    if s.replace(placeholder, "").contains(['{', '}']) {
        return Err(format!(
            "{key}: `{s}` has a placeholder other than {placeholder}, the only one there is"
        ));
    }
    let sample = fill(&s, placeholder, "0");
    match url::Url::parse(&sample) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(Some(s)),
        Ok(_) => Err(format!(
            "{key}: `{s}` must be an http:// or https:// URL with a host, e.g. \"{example}\""
        )),
        Err(e) => Err(format!("{key}: `{s}` is not a URL ({e})")),
    }
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

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/paywatch/paywatch.toml")).map_err(|e| e.to_string())
    }

    fn chain(kind_and_network: &str, extra: &str) -> String {
        format!(
            "data_dir = \"/var/lib/paywatch\"\n[[chain]]\nname = \"c\"\n{kind_and_network}\n{extra}\n"
        )
    }

    const BTC_MAIN: &str = "kind = \"bitcoin\"\nnetwork = \"mainnet\"\nrpc_url = \"http://127.0.0.1:8332\"\nrpc_user = \"u\"\nrpc_password = \"p\"";
    const BTC_REGTEST: &str = "kind = \"bitcoin\"\nnetwork = \"regtest\"\nrpc_url = \"http://127.0.0.1:18443\"\nrpc_user = \"u\"\nrpc_password = \"p\"";
    const ETH_MAIN: &str = "kind = \"evm\"\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 1";
    const ANVIL: &str = "kind = \"evm\"\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337";
    const TRON_MAIN: &str = "kind = \"tron\"\nhttp_url = \"http://127.0.0.1:8090\"";
    const TRON_NILE: &str =
        "kind = \"tron\"\nnetwork = \"nile\"\nhttp_url = \"http://127.0.0.1:8090\"";

    #[test]
    fn well_known_mainnets_link_to_an_explorer_and_test_networks_do_not() {
        for (kind, tx, address) in [
            (
                BTC_MAIN,
                Some("https://mempool.space/tx/ab12"),
                Some("https://mempool.space/address/bc1q"),
            ),
            (
                ETH_MAIN,
                Some("https://etherscan.io/tx/ab12"),
                Some("https://etherscan.io/address/bc1q"),
            ),
            (
                TRON_MAIN,
                Some("https://tronscan.org/#/transaction/ab12"),
                Some("https://tronscan.org/#/address/bc1q"),
            ),
            (BTC_REGTEST, None, None),
            (ANVIL, None, None),
            (TRON_NILE, None, None),
        ] {
            let c = parse(&chain(kind, "")).unwrap();
            let e = &c.chains[0].explorer;
            assert_eq!(e.tx("ab12").as_deref(), tx, "{kind}");
            assert_eq!(e.address("bc1q").as_deref(), address, "{kind}");
        }
    }

    #[test]
    fn configured_explorers_replace_the_built_in_ones_or_turn_them_off() {
        let c = parse(&chain(
            ANVIL,
            "explorer_tx_url = \"https://scan.example/tx/{txid}?from=shop\"\n\
             explorer_address_url = \"http://10.0.0.5/a/{address}\"",
        ))
        .unwrap();
        let e = &c.chains[0].explorer;
        assert_eq!(
            e.tx("0xab").as_deref(),
            Some("https://scan.example/tx/0xab?from=shop")
        );
        assert_eq!(e.address("0xcd").as_deref(), Some("http://10.0.0.5/a/0xcd"));
        // Whatever the value, it cannot leave its place in the URL.
        assert_eq!(
            e.tx("a/../b?c#d").as_deref(),
            Some("https://scan.example/tx/a%2F..%2Fb%3Fc%23d?from=shop")
        );
        let off = parse(&chain(TRON_MAIN, "explorer_tx_url = \"\"")).unwrap();
        assert_eq!(off.chains[0].explorer.tx("ab"), None);
        assert!(off.chains[0].explorer.address("T1").is_some());
    }

    #[test]
    fn a_bad_explorer_template_names_its_key_line_and_what_is_expected() {
        for (line, want) in [
            (
                "explorer_tx_url = \"https://mempool.space/tx/\"",
                "chain[0].explorer_tx_url (line 9): `https://mempool.space/tx/` has no {txid}",
            ),
            (
                "explorer_address_url = \"https://x.example/{txid}\"",
                "chain[0].explorer_address_url (line 9): `https://x.example/{txid}` has no {address}",
            ),
            (
                "explorer_tx_url = \"https://x.example/{txid}/{block}\"",
                "a placeholder other than {txid}",
            ),
            (
                "explorer_tx_url = \"javascript:alert('{txid}')\"",
                "must be an http:// or https:// URL",
            ),
            ("explorer_tx_url = \"/tx/{txid}\"", "is not a URL"),
            ("explorer_tx_url = 5", "must be a string such as"),
        ] {
            let e = parse(&chain(BTC_MAIN, line)).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
