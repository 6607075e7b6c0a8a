//! `[[plugin]]` and `[[sink]]` sections: the plugin pipeline and where its
//! verdicts deliver events.

use super::{check_name, read_secret, resolve, Secret};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlugin {
    name: String,
    path: PathBuf,
    #[serde(default)]
    config: toml::Table,
    timeout_ms: Option<u64>,
    memory_mib: Option<u64>,
    max_input_kib: Option<u64>,
    max_output_kib: Option<u64>,
    kv_quota_mib: Option<u64>,
    max_failures: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    name: String,
    kind: String,
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    subject: Option<String>,
    stream: Option<String>,
    schema: Option<String>,
    password_file: Option<PathBuf>,
    maxlen: Option<u64>,
    topic: Option<String>,
    protocol: Option<String>,
    username: Option<String>,
    client_id: Option<String>,
    ca_file: Option<PathBuf>,
    token_file: Option<PathBuf>,
    chat_id: Option<toml::Value>,
    language: Option<String>,
    api_url: Option<String>,
    per_minute: Option<u32>,
    batch: Option<usize>,
    timeout: Option<String>,
    retry_first: Option<String>,
    retry_max: Option<String>,
    retry_for: Option<String>,
    concurrency: Option<usize>,
}

/// Limits one plugin runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall time per call, enforced through the engine's epoch deadline.
    pub timeout: Duration,
    /// Cap on the plugin's linear memory.
    pub memory_bytes: usize,
    /// Largest event JSON passed in.
    pub max_input: usize,
    /// Largest verdict JSON accepted.
    pub max_output: usize,
    /// Bytes the plugin may keep in its key-value store.
    pub kv_quota: u64,
    /// Consecutive failures after which the plugin is disabled for a while.
    pub max_failures: u32,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            timeout: Duration::from_millis(10),
            memory_bytes: 32 << 20,
            max_input: 256 << 10,
            max_output: 1 << 20,
            kv_quota: 16 << 20,
            max_failures: 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub name: String,
    pub path: PathBuf,
    /// The `config` table as JSON: what `init` and `config_get` see.
    pub config: serde_json::Value,
    pub limits: PluginLimits,
}

/// When a failed delivery is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first retry; each later wait doubles (with jitter).
    pub first: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// After this long without success the delivery is dead-lettered.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first: Duration::from_secs(10),
            max: Duration::from_secs(6 * 3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    /// HTTP POST, signed with HMAC-SHA256.
    Webhook { url: Url, secret: Secret },
    /// The shop protocols' order callbacks (Epusdt, BEpusdt, EPay) to each
    /// order's `notify_url`, signed with its merchant's secret (added by
    /// paywatch when `[epusdt]` is configured).
    Epusdt {
        merchants: Vec<super::MerchantConfig>,
    },
    /// NATS JetStream publish, deduplicated by `Nats-Msg-Id`.
    Nats {
        url: String,
        /// Subject template: `{chain}`, `{network}`, `{type}`, `{asset}`
        /// and `{direction}` are replaced from the event.
        subject: String,
        /// A stream to create when missing, covering the subject's prefix.
        stream: Option<String>,
    },
    /// Rows in PostgreSQL tables, one transaction per batch.
    Postgres(PostgresSink),
    /// `XADD` to Redis streams.
    Redis(RedisSink),
    /// MQTT publish at QoS 1.
    Mqtt(MqttSink),
    /// A chat message through the Telegram Bot API.
    Telegram(TelegramSink),
}

impl SinkKind {
    /// Whether the sink takes events strictly in feed order, several at a
    /// time (see `deliver::batch`); webhooks, NATS and Epusdt callbacks go
    /// out one by one, in order per address.
    pub fn batches(&self) -> bool {
        matches!(
            self,
            SinkKind::Postgres(_) | SinkKind::Redis(_) | SinkKind::Mqtt(_) | SinkKind::Telegram(_)
        )
    }
}

#[derive(Debug, Clone)]
pub struct PostgresSink {
    /// Parsed from `url` (a `postgresql://` URL or a libpq `key=value`
    /// string) and `password_file`.
    pub connect: tokio_postgres::Config,
    /// Where the tables live; created when missing.
    pub schema: String,
}

#[derive(Debug, Clone)]
pub struct RedisSink {
    pub url: Secret,
    /// Stream key template: `{chain}`, `{network}`, `{type}`, `{asset}`,
    /// `{direction}`.
    pub stream: String,
    /// `XADD … MAXLEN ~ n`: the stream is trimmed to about this many entries.
    pub maxlen: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    V311,
    V5,
}

#[derive(Debug, Clone)]
pub struct MqttSink {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// A CA certificate (PEM) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    pub version: MqttVersion,
    /// Topic template, as `stream` for Redis.
    pub topic: String,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Zh,
}

#[derive(Debug, Clone)]
pub struct TelegramSink {
    /// The Bot API server: `https://api.telegram.org`, or a local
    /// `telegram-bot-api` server.
    pub api_url: Url,
    pub token: Secret,
    /// A numeric chat id, or `@channelusername`.
    pub chat_id: String,
    pub language: Language,
    /// Messages sent per minute at most (the Bot API allows about 20 a
    /// minute into one group).
    pub per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    /// How long one attempt may take.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Deliveries in flight at once (each address still gets its events in order).
    pub concurrency: usize,
    /// For a batching sink, the most events sent in one batch.
    pub batch: usize,
}

fn duration(key: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(format!("{key}: must be longer than zero")),
            Err(e) => Err(format!(
                "{key}: `{s}` is not a duration such as \"10s\" or \"6h\" ({e})"
            )),
        },
    }
}

pub(super) fn plugins(raw: Vec<RawPlugin>, base: &Path) -> Result<Vec<PluginConfig>, String> {
    let mut out: Vec<PluginConfig> = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        let at = |m: String| format!("plugin[{i}] `{}`: {m}", p.name);
        check_name(&p.name).map_err(|m| format!("plugin[{i}]: {m}"))?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(at("name: defined twice".into()));
        }
        let d = PluginLimits::default();
        let positive = |key: &str, v: Option<u64>, default: u64| -> Result<u64, String> {
            match v {
                Some(0) => Err(at(format!("{key}: must be above zero"))),
                Some(v) => Ok(v),
                None => Ok(default),
            }
        };
        let timeout_ms = positive("timeout_ms", p.timeout_ms, d.timeout.as_millis() as u64)?;
        if timeout_ms > 60_000 {
            return Err(at("timeout_ms: at most 60000".into()));
        }
        let memory_mib = positive("memory_mib", p.memory_mib, (d.memory_bytes >> 20) as u64)?;
        if memory_mib > 4096 {
            return Err(at("memory_mib: at most 4096".into()));
        }
        let limits = PluginLimits {
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: (memory_mib as usize) << 20,
            max_input: (positive("max_input_kib", p.max_input_kib, (d.max_input >> 10) as u64)?
                as usize)
                << 10,
            max_output: (positive(
                "max_output_kib",
                p.max_output_kib,
                (d.max_output >> 10) as u64,
            )? as usize)
                << 10,
            kv_quota: positive("kv_quota_mib", p.kv_quota_mib, d.kv_quota >> 20)? << 20,
            max_failures: p.max_failures.unwrap_or(d.max_failures).max(1),
        };
        let config = serde_json::to_value(&p.config)
            .map_err(|e| at(format!("config: cannot be expressed as JSON: {e}")))?;
        out.push(PluginConfig {
            path: resolve(base, &p.path),
            name: p.name,
            config,
            limits,
        });
    }
    Ok(out)
}

/// The kinds a sink key applies to.
const SINK_KEYS: &[(&str, &[&str])] = &[
    ("url", &["webhook", "nats", "postgres", "redis", "mqtt"]),
    ("secret", &["webhook"]),
    ("secret_file", &["webhook"]),
    ("subject", &["nats"]),
    ("stream", &["nats", "redis"]),
    ("schema", &["postgres"]),
    ("password_file", &["postgres", "mqtt"]),
    ("maxlen", &["redis"]),
    ("topic", &["mqtt"]),
    ("protocol", &["mqtt"]),
    ("username", &["mqtt"]),
    ("client_id", &["mqtt"]),
    ("ca_file", &["mqtt"]),
    ("token_file", &["telegram"]),
    ("chat_id", &["telegram"]),
    ("language", &["telegram"]),
    ("api_url", &["telegram"]),
    ("per_minute", &["telegram"]),
    ("batch", &["postgres", "redis", "mqtt"]),
];

const SINK_KINDS: &str = "webhook, nats, postgres, redis, mqtt or telegram";

impl RawSink {
    fn set_keys(&self) -> [(&'static str, bool); 19] {
        [
            ("url", self.url.is_some()),
            ("secret", self.secret.is_some()),
            ("secret_file", self.secret_file.is_some()),
            ("subject", self.subject.is_some()),
            ("stream", self.stream.is_some()),
            ("schema", self.schema.is_some()),
            ("password_file", self.password_file.is_some()),
            ("maxlen", self.maxlen.is_some()),
            ("topic", self.topic.is_some()),
            ("protocol", self.protocol.is_some()),
            ("username", self.username.is_some()),
            ("client_id", self.client_id.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("token_file", self.token_file.is_some()),
            ("chat_id", self.chat_id.is_some()),
            ("language", self.language.is_some()),
            ("api_url", self.api_url.is_some()),
            ("per_minute", self.per_minute.is_some()),
            ("batch", self.batch.is_some()),
        ]
    }
}

/// A stream or topic template: not empty, at most 200 characters, and for
/// MQTT free of the wildcards `+` and `#`.
fn template(
    key: &str,
    value: Option<String>,
    default: &str,
    forbid: &[char],
) -> Result<String, String> {
    let t = value.unwrap_or_else(|| default.to_string());
    if t.is_empty() || t.len() > 200 || t.contains(forbid) || t.contains(char::is_control) {
        return Err(format!(
            "{key}: `{t}` must be 1-200 characters without {} (templates like {{chain}} allowed)",
            forbid
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(t)
}

fn postgres(s: &mut RawSink, url: &str, base: &Path) -> Result<PostgresSink, String> {
    let mut connect: tokio_postgres::Config = url.parse().map_err(|e| {
        format!("url: not a PostgreSQL connection string (`postgresql://user@host/db` or `host=… dbname=…`): {e}")
    })?;
    if connect.get_hosts().is_empty() {
        return Err("url: names no host (add host=… or postgresql://host/…)".into());
    }
    if let Some(f) = &s.password_file {
        let password = read_secret("password_file", base, f)?;
        connect.password(password);
    }
    if connect.get_application_name().is_none() {
        connect.application_name("paywatch");
    }
    let schema = s.schema.take().unwrap_or_else(|| "paywatch".into());
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "schema: `{schema}` must be 1-63 characters of a-z, 0-9 or '_', not starting with a digit"
        ));
    }
    Ok(PostgresSink { connect, schema })
}

fn redis(s: &mut RawSink, url: &str) -> Result<RedisSink, String> {
    let parsed = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix"))
        .ok_or_else(|| format!("url: `{url}` is not a redis://, rediss:// or unix:// URL"))?;
    if parsed.scheme().starts_with("redis") && parsed.host_str().unwrap_or_default().is_empty() {
        return Err(format!("url: `{url}` names no host"));
    }
    if s.maxlen == Some(0) {
        return Err("maxlen: must be above zero (leave it out to keep every entry)".into());
    }
    Ok(RedisSink {
        url: Secret(url.to_string()),
        stream: template("stream", s.stream.take(), "paywatch:{chain}", &[])?,
        maxlen: s.maxlen,
    })
}

fn mqtt(s: &mut RawSink, name: &str, url: &str, base: &Path) -> Result<MqttSink, String> {
    let parsed = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "mqtt" | "mqtts" | "tcp" | "ssl"))
        .ok_or_else(|| format!("url: `{url}` is not an mqtt:// or mqtts:// URL"))?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("url: `{url}` names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = matches!(parsed.scheme(), "mqtts" | "ssl");
    let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
    if s.ca_file.is_some() && !tls {
        return Err("ca_file: applies only to an mqtts:// url".into());
    }
    let ca_file = s.ca_file.as_deref().map(|f| resolve(base, f));
    if let Some(f) = &ca_file {
        std::fs::metadata(f).map_err(|e| format!("ca_file: cannot read {}: {e}", f.display()))?;
    }
    let version = match s.protocol.as_deref() {
        None | Some("3.1.1") | Some("4") => MqttVersion::V311,
        Some("5") | Some("5.0") => MqttVersion::V5,
        Some(other) => return Err(format!("protocol: `{other}` (expected \"3.1.1\" or \"5\")")),
    };
    let url_user = (!parsed.username().is_empty()).then(|| parsed.username().to_string());
    let url_password = parsed.password().map(str::to_string);
    let username = match (s.username.take(), url_user) {
        (Some(_), Some(_)) => {
            return Err("username: given both in the url and as `username`; keep one".into())
        }
        (a, b) => a.or(b),
    };
    let password = match (&s.password_file, url_password) {
        (Some(_), Some(_)) => {
            return Err("password_file: the url holds a password too; keep one".into())
        }
        (Some(f), None) => Some(read_secret("password_file", base, f)?),
        (None, p) => p,
    };
    if password.is_some() && username.is_none() {
        return Err("password_file: a password needs a `username`".into());
    }
    let client_id = s
        .client_id
        .take()
        .unwrap_or_else(|| format!("paywatch-{name}"));
    if client_id.is_empty() || client_id.len() > 64 {
        return Err("client_id: 1-64 characters".into());
    }
    Ok(MqttSink {
        host,
        port,
        tls,
        ca_file,
        version,
        topic: template(
            "topic",
            s.topic.take(),
            "paywatch/{chain}/{type}",
            &['+', '#'],
        )?,
        client_id,
        username,
        password: password.map(Secret),
    })
}

fn telegram(s: &mut RawSink, base: &Path) -> Result<TelegramSink, String> {
    let token =
        match &s.token_file {
            Some(f) => read_secret("token_file", base, f)?,
            None => return Err(
                "telegram sinks need `token_file`: a file holding the bot's token from @BotFather"
                    .into(),
            ),
        };
    // `123456:ABC-…`: a bot id, a colon, and the secret part.
    let well_formed = token.split_once(':').is_some_and(|(id, key)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !well_formed {
        return Err("token_file: does not hold a bot token such as `123456:ABC-DEF…`".into());
    }
    let chat_id = match s.chat_id.take() {
        Some(toml::Value::Integer(n)) => n.to_string(),
        Some(toml::Value::String(c))
            if c.strip_prefix('@').is_some_and(|u| {
                !u.is_empty() && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) || c.strip_prefix('-').unwrap_or(&c).parse::<u64>().is_ok() =>
        {
            c
        }
        Some(other) => {
            return Err(format!(
                "chat_id: `{other}` is neither a numeric chat id (such as -1001234567890) nor @channelname"
            ))
        }
        None => return Err("telegram sinks need `chat_id`".into()),
    };
    let language = match s.language.as_deref() {
        None | Some("en") => Language::En,
        Some("zh") => Language::Zh,
        Some(other) => return Err(format!("language: `{other}` (expected \"en\" or \"zh\")")),
    };
    let api_url = s.api_url.as_deref().unwrap_or("https://api.telegram.org");
    let api_url = Url::parse(api_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("api_url: `{api_url}` is not an http(s) URL"))?;
    let per_minute = s.per_minute.unwrap_or(20);
    if !(1..=1800).contains(&per_minute) {
        return Err("per_minute: between 1 and 1800".into());
    }
    Ok(TelegramSink {
        api_url,
        token: Secret(token),
        chat_id,
        language,
        per_minute,
    })
}

pub(super) fn sinks(raw: Vec<RawSink>, base: &Path) -> Result<Vec<SinkConfig>, String> {
    let mut out: Vec<SinkConfig> = Vec::new();
    for (i, mut s) in raw.into_iter().enumerate() {
        let name = s.name.clone();
        let at = |m: String| format!("sink[{i}] `{name}`: {m}");
        check_name(&s.name).map_err(|m| format!("sink[{i}]: {m}"))?;
        if s.name == "epusdt" {
            return Err(format!(
                "sink[{i}]: the name `epusdt` is reserved for the [epusdt] callbacks"
            ));
        }
        if out.iter().any(|o| o.name == s.name) {
            return Err(at("name: defined twice".into()));
        }
        let kind_name = s.kind.clone();
        let known = ["webhook", "nats", "postgres", "redis", "mqtt", "telegram"];
        if !known.contains(&kind_name.as_str()) {
            return Err(at(format!(
                "kind: unknown sink kind `{kind_name}` (expected {SINK_KINDS})"
            )));
        }
        for (key, set) in s.set_keys() {
            let kinds = SINK_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&[][..], |(_, kinds)| *kinds);
            if set && !kinds.contains(&kind_name.as_str()) {
                return Err(at(format!(
                    "{key}: does not apply to {kind_name} sinks (only to {})",
                    kinds.join(", ")
                )));
            }
        }
        let url = match (&s.url, kind_name.as_str()) {
            (Some(u), _) => u.clone(),
            (None, "telegram") => String::new(),
            (None, k) => return Err(at(format!("url: {k} sinks need a `url`"))),
        };
        let kind = match kind_name.as_str() {
            "webhook" => {
                let url = Url::parse(&url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| at(format!("url: `{url}` is not an http(s) URL")))?;
                let secret = match (s.secret.take(), &s.secret_file) {
                    (Some(_), Some(_)) => {
                        return Err(at("set either `secret` or `secret_file`, not both".into()))
                    }
                    (Some(k), None) => k,
                    (None, Some(f)) => {
                        let f = resolve(base, f);
                        std::fs::read_to_string(&f)
                            .map_err(|e| at(format!("secret_file: cannot read {}: {e}", f.display())))?
                            .trim()
                            .to_string()
                    }
                    (None, None) => {
                        return Err(at(
                            "webhook sinks need `secret` or `secret_file`: receivers check the signature with it"
                                .into(),
                        ))
                    }
                };
                if secret.len() < 16 {
                    return Err(at("secret: use at least 16 characters".into()));
                }
                SinkKind::Webhook {
                    url,
                    secret: Secret(secret),
                }
            }
            "nats" => {
                if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                    return Err(at(format!("url: `{url}` is not a nats:// or tls:// URL")));
                }
                let subject = s
                    .subject
                    .take()
                    .unwrap_or_else(|| "paywatch.{chain}.{type}".into());
                if subject.is_empty() || subject.contains([' ', '*', '>']) {
                    return Err(at(format!(
                        "subject: `{subject}` must be a plain subject (templates like {{chain}} allowed, no wildcards)"
                    )));
                }
                SinkKind::Nats {
                    url,
                    subject,
                    stream: s.stream.take(),
                }
            }
            "postgres" => SinkKind::Postgres(postgres(&mut s, &url, base).map_err(at)?),
            "redis" => SinkKind::Redis(redis(&mut s, &url).map_err(at)?),
            "mqtt" => SinkKind::Mqtt(mqtt(&mut s, &name, &url, base).map_err(at)?),
            _ => SinkKind::Telegram(telegram(&mut s, base).map_err(at)?),
        };
        let d = RetryPolicy::default();
        let retry = RetryPolicy {
            first: duration("retry_first", s.retry_first.as_deref(), d.first).map_err(at)?,
            max: duration("retry_max", s.retry_max.as_deref(), d.max).map_err(at)?,
            give_up_after: duration("retry_for", s.retry_for.as_deref(), d.give_up_after)
                .map_err(at)?,
        };
        if retry.max < retry.first {
            return Err(at("retry_max: must not be shorter than retry_first".into()));
        }
        if kind.batches() && s.concurrency.is_some() {
            return Err(at(format!(
                "concurrency: {kind_name} sinks take events in feed order, one batch at a time (set `batch` instead)"
            )));
        }
        let concurrency = s.concurrency.unwrap_or(16);
        if concurrency == 0 || concurrency > 1024 {
            return Err(at("concurrency: between 1 and 1024".into()));
        }
        let batch = match &kind {
            SinkKind::Telegram(_) => 1,
            _ => s.batch.unwrap_or(500),
        };
        if batch == 0 || batch > 10_000 {
            return Err(at("batch: between 1 and 10000".into()));
        }
        let timeout =
            duration("timeout", s.timeout.as_deref(), Duration::from_secs(10)).map_err(at)?;
        out.push(SinkConfig {
            name: s.name,
            kind,
            timeout,
            retry,
            concurrency,
            batch,
        });
    }
    Ok(out)
}
