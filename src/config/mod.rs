//! Configuration: a raw TOML form (unknown keys rejected) validated into a
//! typed form holding parsed networks, resolved URLs and checked files.
//! Every error names the key and, where the file tells, the line.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use url::Url;

mod api;
mod chain;
mod checkout;
mod delivery;
mod epusdt;
mod invoices;
mod locate;
mod merchant;
mod risk;
pub use api::{token_digest, ApiConfig, ApiKey, KeyScope, DEFAULT_LISTEN};
pub use chain::{
    BitcoinConfig, ChainConfig, ChainKind, Endpoint, EvmConfig, MempoolConfig, RpcAuth, Token,
    TraceApi, TronConfig,
};
pub use checkout::{CheckoutConfig, Explorer, RateConfig, RateSourceConfig, RateSourceKind, Theme};
pub use delivery::{
    Language, MqttSink, MqttVersion, PluginConfig, PluginLimits, PostgresSink, RedisSink,
    RetryPolicy, SinkConfig, SinkKind, TelegramSink,
};
pub use epusdt::EpusdtConfig;
pub use invoices::{ConfirmationBounds, InvoiceConfig, InvoiceSource};
pub use merchant::{GmpaySign, MerchantConfig, SINGLE_SHOP_PID};
pub use risk::{RiskConfig, DEFAULT_DUST, MAX_AFFIX};

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) String);

impl Secret {
    pub fn new(secret: String) -> Self {
        Secret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

// ---- raw form -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: PathBuf,
    #[serde(default)]
    api: api::RawApi,
    #[serde(default)]
    chain: Vec<toml::Table>,
    #[serde(default)]
    plugin: Vec<delivery::RawPlugin>,
    #[serde(default)]
    sink: Vec<delivery::RawSink>,
    epusdt: Option<epusdt::RawEpusdt>,
    #[serde(default)]
    merchant: Vec<merchant::RawMerchant>,
    checkout: Option<checkout::RawCheckout>,
    #[serde(default)]
    rate: Vec<checkout::RawRate>,
    risk: Option<risk::RawRisk>,
}

// ---- typed form ---------------------------------------------------------

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    pub chains: Vec<ChainConfig>,
    /// The plugin pipeline, in order.
    pub plugins: Vec<PluginConfig>,
    pub sinks: Vec<SinkConfig>,
    pub epusdt: Option<EpusdtConfig>,
    /// The shops of the shop protocols: `[[merchant]]`, or the single shop
    /// of `[epusdt] token`.
    pub merchants: Vec<MerchantConfig>,
    pub checkout: CheckoutConfig,
    /// Exchange rates for invoices priced in fiat.
    pub rates: Vec<RateConfig>,
    /// Risk screening of matched transfers.
    pub risk: RiskConfig,
    /// Files the config names that do not exist yet (a bitcoind cookie
    /// before bitcoind first starts), with the key's path and line:
    /// `check-config` warns, the daemon refuses to start.
    pub missing: Vec<String>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text; `path` is used in messages and to resolve
    /// relative paths. Each section is read by its own module.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // Every message starts with the key's path; `point` adds its line.
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: locate::point(text, message),
        };
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| invalid(describe_toml(&e, text)))?;
        let base = path.parent().unwrap_or(Path::new("."));

        let api = api::api(raw.api, base).map_err(invalid)?;
        let chains = chain::chains(raw.chain, base).map_err(invalid)?;
        let checkout = checkout::checkout(raw.checkout, api.listen, base).map_err(invalid)?;
        let mut rates = checkout::rates(raw.rate).map_err(invalid)?;
        let mut merchants = merchant::merchants(raw.merchant, &chains, base).map_err(invalid)?;
        let has_merchants = !merchants.is_empty();
        let epusdt = epusdt::epusdt(
            raw.epusdt,
            &mut merchants,
            &chains,
            &mut rates,
            &checkout,
            base,
        )
        .map_err(invalid)?;
        if has_merchants && epusdt.is_none() {
            return Err(invalid(
                "merchant: merchants order through the shop protocols, which need an [epusdt] section (its chain, asset and rate)".into(),
            ));
        }
        for k in &api.keys {
            if let Some(m) = &k.merchant {
                if !merchants.iter().any(|o| o.recorded && &o.id == m) {
                    return Err(invalid(format!(
                        "api.keys.merchant: key `{}` names merchant `{m}`, which no [[merchant]] has",
                        k.name
                    )));
                }
            }
        }
        let plugins = delivery::plugins(raw.plugin, base).map_err(invalid)?;
        let sinks = delivery::sinks(raw.sink, base).map_err(invalid)?;
        let risk = risk::risk(raw.risk, base).map_err(invalid)?;
        if !plugins.is_empty() && sinks.is_empty() && epusdt.is_none() {
            return Err(invalid(
                "plugin: plugins forward to sinks, but no [[sink]] is configured".into(),
            ));
        }
        let missing = chain::missing_files(&chains)
            .into_iter()
            .map(|m| locate::point(text, m))
            .collect();
        Ok(Config {
            missing,
            data_dir: resolve(base, &raw.data_dir),
            api,
            chains,
            plugins,
            sinks,
            epusdt,
            merchants,
            checkout,
            rates,
            risk,
        })
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name: `{name}` must be 1-32 characters of a-z, 0-9, '-' or '_'"
        ))
    }
}

fn parse_http_url(key: &str, s: &str) -> Result<Url, String> {
    parse_url(key, s, ["http", "https"])
}

/// A URL with a host and one of the two `schemes` (plain, then secure).
fn parse_url(key: &str, s: &str, [plain, secure]: [&str; 2]) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{key}: `{s}` is not a URL ({e})"))?;
    if url.scheme() != plain && url.scheme() != secure {
        return Err(format!(
            "{key}: `{s}` must be a {plain}:// or {secure}:// URL"
        ));
    }
    if url.host_str().is_none() {
        return Err(format!("{key}: `{s}` has no host"));
    }
    Ok(url)
}

/// A secret read from `file` (relative to the config's folder), trimmed.
pub(super) fn read_secret(key: &str, base: &Path, file: &Path) -> Result<String, String> {
    let f = resolve(base, file);
    let text = std::fs::read_to_string(&f)
        .map_err(|e| format!("{key}: cannot read {}: {e}", f.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{key}: {} is empty", f.display()));
    }
    Ok(text.to_string())
}

/// The chain `name`, which must take invoices; `key` names the setting in
/// errors.
pub(super) fn invoice_chain<'a>(
    chains: &'a [ChainConfig],
    key: &str,
    name: &str,
) -> Result<&'a ChainConfig, String> {
    match chains.iter().find(|c| c.name == name) {
        None => Err(format!("{key}: no chain named `{name}`")),
        Some(c) if c.invoices.is_none() => Err(format!(
            "{key}: chain `{name}` has no [chain.invoices] section"
        )),
        Some(c) => Ok(c),
    }
}

/// A `chain:ASSET` pair naming a chain that takes invoices; the asset in
/// upper case.
pub(super) fn chain_asset(
    chains: &[ChainConfig],
    key: &str,
    text: &str,
) -> Result<(String, String), String> {
    let Some((chain, asset)) = text.split_once(':') else {
        return Err(format!(
            "{key}: `{text}` is not `chain:ASSET` (for example \"tron:USDT\")"
        ));
    };
    invoice_chain(chains, key, chain)?;
    Ok((chain.to_string(), asset.trim().to_uppercase()))
}

pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML or type error of the file as a whole: the key's path, the line
/// the parser points at, what is wrong and, for an unknown key, the nearest
/// known one.
fn describe_toml(e: &serde_path_to_error::Error<toml::de::Error>, text: &str) -> String {
    let inner = e.inner();
    let message = locate::with_suggestion(inner.message().trim().to_string());
    let line = inner.span().map(|s| line_of(text, s.start));
    let path = e.path().to_string();
    match (path.as_str(), line) {
        (".", Some(line)) => format!("line {line}: {message}"),
        (".", None) => message,
        (path, Some(line)) => format!("{path} (line {line}): {message}"),
        (path, None) => format!("{path}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/paywatch/paywatch.toml")).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
data_dir = "/var/lib/paywatch"
[api]
listen = "127.0.0.1:8480"

[[chain]]
name = "btc"
kind = "bitcoin"
network = "regtest"
rpc_url = "http://127.0.0.1:18443"
rpc_user = "u"
rpc_password = "p"
start_height = 5
confirmations = 2
"#;

    #[test]
    fn accepts_a_complete_bitcoin_chain() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.chains.len(), 1);
        assert_eq!(c.chains[0].confirmations, 2);
        assert_eq!(c.chains[0].start_height, 5);
        let ChainKind::Bitcoin(b) = &c.chains[0].kind else {
            panic!("not bitcoin")
        };
        assert_eq!(b.network, bitcoin::Network::Regtest);
        assert!(
            !format!("{c:?}").contains("\"p\""),
            "password leaked into Debug"
        );
    }

    #[test]
    fn unknown_top_level_key_names_key_and_line() {
        let e = parse(&GOOD.replace("data_dir", "data_dri")).unwrap_err();
        assert!(e.contains("data_dri") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_typo_inside_a_chain_is_reported_at_its_line_not_the_header() {
        let e = parse(&GOOD.replace("rpc_url", "rpc_ur")).unwrap_err();
        assert!(
            e.contains("chain[0].rpc_ur (line 10): unknown field `rpc_ur`"),
            "{e}"
        );
        assert!(e.ends_with("did you mean `rpc_url`?"), "{e}");
    }

    #[test]
    fn a_type_error_names_its_key_and_line() {
        let e = parse(&GOOD.replace("confirmations = 2", "confirmations = \"3\"")).unwrap_err();
        assert!(
            e.contains(
                "chain[0].confirmations (line 14): invalid type: string \"3\", expected u64"
            ),
            "{e}"
        );
        let e = parse(&GOOD.replace(
            "listen = \"127.0.0.1:8480\"",
            "listen = \"127.0.0.1:8480\"\nopen_reads = \"yes\"",
        ))
        .unwrap_err();
        assert!(
            e.contains("api.open_reads (line 5): invalid type: string \"yes\", expected a boolean"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_invoices_key_names_its_line() {
        let e = parse(&format!(
            "{GOOD}[chain.invoices]\nxpub = \"x\"\nexpiry = 5\n"
        ))
        .unwrap_err();
        assert!(e.contains("chain[0].invoices.expiry (line 17)"), "{e}");
    }

    #[test]
    fn underpayment_tolerances_are_shares_or_amounts_by_asset() {
        let shared = "[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.0001\"\n";
        let with = |t: &str| parse(&format!("{GOOD}{shared}underpayment_tolerance = {t}\n"));
        let c = with("\"0.5%\"").unwrap();
        let inv = c.chains[0].invoices.as_ref().unwrap();
        assert_eq!(
            inv.underpayment_tolerance.all,
            Some(crate::invoice_record::ToleranceRule::Share(5_000))
        );
        let c = with("{ btc = \"0.00002\" }").unwrap();
        let inv = c.chains[0].invoices.as_ref().unwrap();
        assert_eq!(inv.underpayment_tolerance.by_asset["btc"], "0.00002");
        let e = with("\"0.5\"").unwrap_err();
        assert!(
            e.contains("underpayment_tolerance") && e.contains("amounts differ by asset"),
            "{e}"
        );
        for bad in ["\"100%\"", "\"1.23456%\"", "\"-1%\"", "{ BTC = \"x%\" }"] {
            let e = with(bad).unwrap_err();
            assert!(e.contains("share below 100%"), "{bad}: {e}");
        }
    }

    #[test]
    fn invoice_confirmation_bounds_hold_the_default_and_zero_needs_the_mempool() {
        let shared = "[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.0001\"\n";
        let with = |t: &str| parse(&format!("{GOOD}{shared}{t}\n"));
        let bounds = |t: &str| {
            with(t).unwrap().chains[0]
                .invoices
                .as_ref()
                .unwrap()
                .confirmations
        };
        let default = with("").unwrap().chains[0].confirmations;
        assert_eq!(
            bounds(""),
            Some(ConfirmationBounds {
                default,
                min: default,
                max: 100
            })
        );
        assert_eq!(
            bounds("min_confirmations = 1\nmax_confirmations = 12").map(|b| (b.min, b.max)),
            Some((1, 12))
        );
        let e = with(&format!("min_confirmations = {}", default + 1)).unwrap_err();
        assert!(
            e.contains("must include what invoices wait for by default"),
            "{e}"
        );
        let e = with("min_confirmations = 0").unwrap_err();
        assert!(e.contains("[chain.mempool]"), "{e}");
    }

    #[test]
    fn an_address_pool_is_checked_address_by_address() {
        let a = "bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx";
        let with = |t: &str| parse(&format!("{GOOD}[chain.invoices]\n{t}\n"));
        let c = with(&format!("address_pool = [\"{a}\"]")).unwrap();
        assert!(matches!(
            &c.chains[0].invoices.as_ref().unwrap().source,
            InvoiceSource::Pool(p) if p.len() == 1
        ));
        assert!(with("address_pool = []").is_ok());
        let e = with(&format!("address_pool = [\"{a}\", \"{a}\"]")).unwrap_err();
        assert!(e.contains("address_pool[1]") && e.contains("twice"), "{e}");
        let e = with(&format!("address_pool = [\"{a}\", \"nope\"]")).unwrap_err();
        assert!(e.contains("address_pool[1]"), "{e}");
        let e = with(&format!("address_pool = []\nshared_address = \"{a}\"")).unwrap_err();
        assert!(e.contains("one of"), "{e}");
        let e = with("address_pool = []\nmax_open = 3").unwrap_err();
        assert!(e.contains("max_open"), "{e}");
    }

    #[test]
    fn rate_adjustments_are_parsed_for_every_asset_or_by_asset() {
        let shared = "[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.0001\"\n";
        let with = |t: &str| parse(&format!("{GOOD}{shared}rate_adjust = {t}\n"));
        let c = with("\"~1.02\"").unwrap();
        let adjust = &c.chains[0].invoices.as_ref().unwrap().rate_adjust;
        assert_eq!(adjust.all.map(|a| a.to_string()).as_deref(), Some("~1.02"));
        let c = with("{ BTC = \"+100\" }").unwrap();
        let adjust = &c.chains[0].invoices.as_ref().unwrap().rate_adjust;
        assert_eq!(adjust.by_asset["BTC"].to_string(), "+100");
        let e = with("{ BTC = \"*2\" }").unwrap_err();
        assert!(
            e.contains("invoices.rate_adjust.BTC") && e.contains("not a rate adjustment"),
            "{e}"
        );
    }

    #[test]
    fn relock_windows_are_durations() {
        let xpub = "[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.0001\"\n";
        let with = |t: &str| parse(&format!("{GOOD}{xpub}{t}\n"));
        let c = with("relock_after = \"15m\"").unwrap();
        let inv = c.chains[0].invoices.as_ref().unwrap();
        assert_eq!(inv.relock_after, Some(Duration::from_secs(900)));
        assert_eq!(inv.relock_grace, Duration::from_secs(300));
        assert_eq!(
            with("").unwrap().chains[0]
                .invoices
                .as_ref()
                .unwrap()
                .relock_after,
            None
        );
        let e = with("relock_after = \"soon\"").unwrap_err();
        assert!(
            e.contains("invoices.relock_after") && e.contains("not a duration"),
            "{e}"
        );
        let e = with("relock_after = \"100ms\"").unwrap_err();
        assert!(e.contains("at least 1s"), "{e}");
    }

    #[test]
    fn a_top_level_typo_suggests_the_key() {
        let e = parse(&GOOD.replace("data_dir", "data_dri")).unwrap_err();
        assert!(e.contains("did you mean `data_dir`?"), "{e}");
    }

    #[test]
    fn a_sink_error_names_its_line() {
        let e = parse(&format!(
            "{GOOD}[[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"nope\"\nsecret = \"0123456789abcdef0123\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("sink[0] `shop` (line 18): url"), "{e}");
    }

    fn sink(body: &str) -> Result<Config, String> {
        parse(&format!("{GOOD}[[sink]]\nname = \"out\"\n{body}\n"))
    }

    #[test]
    fn postgres_redis_mqtt_and_telegram_sinks_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "123456:AAE-x_y\n").unwrap();
        let c = sink(&format!(
            "kind = \"postgres\"\nurl = \"host=/run/postgresql dbname=shop user=pw\"\npassword_file = \"{}\"",
            pw.display()
        ))
        .unwrap();
        let SinkKind::Postgres(p) = &c.sinks[0].kind else {
            panic!()
        };
        assert_eq!(p.schema, "paywatch");
        assert_eq!(p.connect.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(c.sinks[0].batch, 500);
        assert!(!format!("{c:?}").contains("s3cret"), "password in Debug");

        let c = sink("kind = \"redis\"\nurl = \"redis://:pw@127.0.0.1:6379/2\"\nmaxlen = 1000")
            .unwrap();
        let SinkKind::Redis(r) = &c.sinks[0].kind else {
            panic!()
        };
        assert_eq!(
            (r.stream.as_str(), r.maxlen),
            ("paywatch:{chain}", Some(1000))
        );
        assert!(!format!("{c:?}").contains(":pw@"), "password in Debug");

        let c = sink("kind = \"mqtt\"\nurl = \"mqtts://u:p@broker.example\"\nprotocol = \"5\"")
            .unwrap();
        let SinkKind::Mqtt(m) = &c.sinks[0].kind else {
            panic!()
        };
        assert_eq!(
            (m.host.as_str(), m.port, m.tls),
            ("broker.example", 8883, true)
        );
        assert_eq!(
            (m.version, m.username.as_deref()),
            (MqttVersion::V5, Some("u"))
        );
        assert_eq!(m.client_id, "paywatch-out");

        let c = sink(&format!(
            "kind = \"telegram\"\ntoken_file = \"{}\"\nchat_id = -1001234567890\nlanguage = \"zh\"",
            token.display()
        ))
        .unwrap();
        let SinkKind::Telegram(t) = &c.sinks[0].kind else {
            panic!()
        };
        assert_eq!(
            (t.chat_id.as_str(), t.language),
            ("-1001234567890", Language::Zh)
        );
        assert_eq!((t.per_minute, c.sinks[0].batch), (20, 1));
    }

    #[test]
    fn sink_mistakes_are_named() {
        for (body, want) in [
            ("kind = \"kafka\"\nurl = \"x\"", "unknown sink kind `kafka` (expected webhook, nats, postgres, redis, mqtt or telegram)"),
            ("kind = \"postgres\"", "url: postgres sinks need a `url`"),
            ("kind = \"postgres\"\nurl = \"postgresql://h/db\"\nschema = \"Bad-Name\"", "schema: `Bad-Name` must be"),
            ("kind = \"postgres\"\nurl = \"postgresql://h/db\"\ntopic = \"t\"", "topic: does not apply to postgres sinks (only to mqtt)"),
            ("kind = \"postgres\"\nurl = \"postgresql://h/db\"\nconcurrency = 4", "concurrency: postgres sinks take events in feed order"),
            ("kind = \"postgres\"\nurl = \"postgresql://h/db\"\npassword_file = \"/nonexistent/pw\"", "password_file: cannot read /nonexistent/pw"),
            ("kind = \"redis\"\nurl = \"http://h\"", "url: `http://h` is not a redis://"),
            ("kind = \"redis\"\nurl = \"redis://h\"\nmaxlen = 0", "maxlen: must be above zero"),
            ("kind = \"mqtt\"\nurl = \"mqtt://h\"\ntopic = \"a/+/b\"", "topic: `a/+/b` must be"),
            ("kind = \"mqtt\"\nurl = \"mqtt://h\"\nprotocol = \"3\"", "protocol: `3` (expected \"3.1.1\" or \"5\")"),
            ("kind = \"mqtt\"\nurl = \"mqtt://h\"\nca_file = \"/x\"", "ca_file: applies only to an mqtts:// url"),
            ("kind = \"telegram\"\nchat_id = 1", "telegram sinks need `token_file`"),
            ("kind = \"telegram\"\nurl = \"https://x\"", "url: does not apply to telegram sinks"),
            ("kind = \"webhook\"\nurl = \"https://x\"\nsecret = \"0123456789abcdef\"\nbatch = 5", "batch: does not apply to webhook sinks"),
        ] {
            let e = sink(body).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "not a token").unwrap();
        let e = sink(&format!(
            "kind = \"telegram\"\ntoken_file = \"{}\"\nchat_id = 1",
            token.display()
        ))
        .unwrap_err();
        assert!(e.contains("does not hold a bot token"), "{e}");
        std::fs::write(&token, "1:a").unwrap();
        let e = sink(&format!(
            "kind = \"telegram\"\ntoken_file = \"{}\"\nchat_id = \"someone\"",
            token.display()
        ))
        .unwrap_err();
        assert!(e.contains("chat_id: `\"someone\"` is neither"), "{e}");
    }

    #[test]
    fn a_chain_takes_several_endpoints() {
        let multi = GOOD
            .replace("rpc_url = \"http://127.0.0.1:18443\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n", "")
            + "max_lag_blocks = 5\n[[chain.endpoint]]\nurl = \"http://10.0.0.1:8332\"\nrpc_user = \"a\"\nrpc_password = \"pa\"\npriority = 10\nmax_rps = 20\n\
               [[chain.endpoint]]\nurl = \"https://btc.provider.example/key123\"\nrpc_cookie = \"/var/lib/bitcoind/.cookie\"\n";
        let c = parse(&multi).unwrap();
        let ch = &c.chains[0];
        assert_eq!(ch.endpoints.len(), 2);
        assert_eq!(ch.max_lag_blocks, 5);
        assert_eq!(
            (ch.endpoints[0].priority, ch.endpoints[0].max_rps),
            (10, Some(20))
        );
        assert_eq!(ch.endpoints[1].display(), "btc.provider.example:443");
        let ChainKind::Bitcoin(b) = &ch.kind else {
            panic!()
        };
        assert_eq!(b.rpc_url.as_str(), "http://10.0.0.1:8332/");
        // The shorthand is one endpoint, with the default lag.
        let c = parse(GOOD).unwrap();
        assert_eq!(c.chains[0].endpoints.len(), 1);
        assert_eq!(c.chains[0].max_lag_blocks, 3);

        for (text, want) in [
            (format!("{GOOD}[[chain.endpoint]]\nurl = \"http://h\"\nrpc_user = \"a\"\nrpc_password = \"b\"\n"), "rpc_user (line 11): with [[chain.endpoint]] tables, set it in each endpoint"),
            (format!("{}[[chain.endpoint]]\nurl = \"http://h\"\nrpc_user = \"a\"\nrpc_password = \"b\"\n", GOOD.replace("rpc_user = \"u\"\nrpc_password = \"p\"\n", "")), "set either `rpc_url` (one endpoint) or [[chain.endpoint]] tables, not both"),
            (multi.replace("rpc_user = \"a\"\n", ""), "endpoint[0].rpc_user (line 13): rpc_password is set but rpc_user is missing"),
            (multi.replace("max_lag_blocks = 5\n", "max_lag_blocks = 5\nmax_rps = 3\n"), "chain[0].max_rps (line 13): with [[chain.endpoint]] tables, set it in each endpoint"),
            (multi.replace("url = \"http://10.0.0.1:8332\"", "url = \"10.0.0.1\""), "endpoint[0].url"),
            (multi.replace("priority = 10\n", "priority = 10\napi_key = \"k\"\n"), "applies to tron chains only"),
            (multi.replace("priority = 10\n", "priority = 10\nws_url = \"ws://h:8546\"\n"), "applies to evm chains only"),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn an_evm_endpoint_takes_its_own_ws_url_and_trace_api_is_checked() {
        let evm = "data_dir = \"/var/lib/paywatch\"\n[api]\nlisten = \"127.0.0.1:8480\"\n\
                   [[chain]]\nname = \"eth\"\nkind = \"evm\"\nchain_id = 1\n";
        let two = format!(
            "{evm}[[chain.endpoint]]\nurl = \"http://10.0.0.1:8545\"\nws_url = \"ws://10.0.0.1:8546\"\n\
             [[chain.endpoint]]\nurl = \"https://eth.provider.example/k\"\n"
        );
        let c = parse(&two).unwrap();
        let ws: Vec<Option<&str>> = c.chains[0]
            .endpoints
            .iter()
            .map(|e| e.ws_url.as_ref().map(|u| u.as_str()))
            .collect();
        assert_eq!(ws, [Some("ws://10.0.0.1:8546/"), None]);
        let e = parse(&two.replace("ws://10.0.0.1:8546", "http://10.0.0.1:8546")).unwrap_err();
        assert!(e.contains("endpoint[0].ws_url"), "{e}");
        let one = format!("{evm}rpc_url = \"http://127.0.0.1:8545\"\n");
        let with = |extra: &str| parse(&format!("{one}{extra}"));
        let ChainKind::Evm(e) = &with("internal_transfers = true\ntrace_api = \"debug_trace\"\n")
            .unwrap()
            .chains[0]
            .kind
        else {
            panic!("an evm chain")
        };
        assert_eq!(e.trace_api, TraceApi::DebugTrace);
        for (extra, want) in [
            (
                "trace_api = \"debug_trace\"\n",
                "set only with internal_transfers = true",
            ),
            (
                "internal_transfers = true\ntrace_api = \"geth\"\n",
                "`geth` is not one of",
            ),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn bad_url_is_named() {
        let e = parse(&GOOD.replace("http://127.0.0.1:18443", "127.0.0.1:18443")).unwrap_err();
        assert!(e.contains("rpc_url"), "{e}");
    }

    #[test]
    fn a_missing_cookie_file_is_named_as_missing() {
        let text = GOOD.replace(
            "rpc_user = \"u\"\nrpc_password = \"p\"",
            "rpc_cookie = \"/nonexistent/.cookie\"",
        );
        // Valid, with the file named as missing at its line (the daemon
        // refuses to start on it; check-config warns).
        let c = parse(&text).unwrap();
        assert_eq!(c.missing.len(), 1, "{:?}", c.missing);
        assert!(
            c.missing[0]
                .starts_with("chain[0].rpc_cookie (line 11): /nonexistent/.cookie does not exist"),
            "{:?}",
            c.missing
        );
        assert!(parse(GOOD).unwrap().missing.is_empty());
    }

    #[test]
    fn mempool_settings_are_checked() {
        let ok = parse(&format!(
            "{GOOD}[chain.mempool]\nzmq_rawtx = \"tcp://127.0.0.1:28332\"\n[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.00000001\"\nzero_conf = true\n"
        ))
        .unwrap();
        let ChainKind::Bitcoin(b) = &ok.chains[0].kind else {
            panic!("a bitcoin chain")
        };
        let m = b.mempool.as_ref().unwrap();
        assert!(m.full_rbf, "full-RBF is the default policy");
        assert_eq!(m.poll_interval, Duration::from_secs(10));
        for (extra, want) in [
            ("[chain.mempool]\nzmq_rawtx = \"127.0.0.1:28332\"\n", "mempool.zmq_rawtx"),
            ("[chain.mempool]\npoll_interval_ms = 5\n", "mempool.poll_interval_ms"),
            (
                "[chain.invoices]\nshared_address = \"bcrt1qcr8te4kr609gcawutmrza0j4xv80jy8zeqchgx\"\nunique_amount_step = \"0.00000001\"\nzero_conf = true\n",
                "needs a Bitcoin chain with a [chain.mempool]",
            ),
        ] {
            let err = parse(&format!("{GOOD}{extra}")).unwrap_err();
            assert!(err.contains(want), "{extra}: {err}");
        }
    }

    #[test]
    fn duplicate_chain_names_are_rejected() {
        let chain = &GOOD[GOOD.find("[[chain]]").unwrap()..];
        let e = parse(&format!("{GOOD}\n{chain}")).unwrap_err();
        assert!(e.contains("defined twice"), "{e}");
    }

    const TRON: &str = r#"
data_dir = "/tmp/pw"
[[chain]]
name = "tron"
kind = "tron"
http_url = "http://127.0.0.1:8090"
finality = "solidified"
[[chain.token]]
symbol = "USDC"
contract = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"
decimals = 6
"#;

    #[test]
    fn tron_chain_knows_usdt_and_listed_tokens() {
        let c = parse(TRON).unwrap();
        let ChainKind::Tron(t) = &c.chains[0].kind else {
            panic!("not tron")
        };
        assert!(t.solidified);
        let symbols: Vec<&str> = t.tokens.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, ["USDT", "USDC"]);
        assert_eq!(
            hex::encode(&t.tokens[0].contract),
            "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
        );
    }

    #[test]
    fn tron_token_with_bad_checksum_is_named() {
        let e = parse(&TRON.replace(
            "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8",
            "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz9",
        ))
        .unwrap_err();
        assert!(
            e.contains("token[0].contract") && e.contains("checksum"),
            "{e}"
        );
    }

    #[test]
    fn evm_chain_knows_mainnet_tokens_and_checks_finality() {
        let text = r#"
data_dir = "/tmp/pw"
[[chain]]
name = "eth"
kind = "evm"
rpc_url = "http://127.0.0.1:8545"
chain_id = 1
finality = "finalized"
"#;
        let c = parse(text).unwrap();
        let ChainKind::Evm(e) = &c.chains[0].kind else {
            panic!("not evm")
        };
        assert_eq!(e.finality_tag.as_deref(), Some("finalized"));
        assert_eq!(e.network, "mainnet");
        let symbols: Vec<&str> = e.tokens.iter().map(|t| t.symbol.as_str()).collect();
        assert_eq!(symbols, ["USDT", "USDC"]);
        let e = parse(&text.replace("\"finalized\"", "\"latest\"")).unwrap_err();
        assert!(e.contains("finality") && e.contains("latest"), "{e}");
        let e = parse(&text.replace("chain_id = 1\n", "")).unwrap_err();
        assert!(e.contains("chain_id"), "{e}");
    }

    #[test]
    fn evm_ws_url_must_be_a_websocket_url() {
        let text = "data_dir = \"/tmp/pw\"\n[[chain]]\nname = \"eth\"\nkind = \"evm\"\n\
                    rpc_url = \"http://127.0.0.1:8545\"\nchain_id = 1\nWS\n";
        let c = parse(&text.replace("WS", "ws_url = \"ws://127.0.0.1:8546\"")).unwrap();
        let ChainKind::Evm(e) = &c.chains[0].kind else {
            panic!("not evm")
        };
        assert_eq!(
            e.ws_url.as_ref().map(|u| u.as_str()),
            Some("ws://127.0.0.1:8546/")
        );
        for (bad, why) in [
            ("http://127.0.0.1:8546", "ws:// or wss://"),
            ("127.0.0.1:8546", "is not a URL"),
        ] {
            let e = parse(&text.replace("WS", &format!("ws_url = \"{bad}\""))).unwrap_err();
            assert!(
                e.contains("ws_url") && e.contains(bad) && e.contains(why),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_network_is_named() {
        let e = parse(&GOOD.replace("regtest", "moonnet")).unwrap_err();
        assert!(e.contains("network") && e.contains("moonnet"), "{e}");
    }
}
