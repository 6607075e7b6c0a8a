//! `[[plugin]]` and `[[sink]]` sections: the plugin pipeline and where its
//! verdicts deliver events.

use super::{check_name, resolve, Secret};
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
    url: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    subject: Option<String>,
    stream: Option<String>,
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
    /// Epusdt's order callback to each order's `notify_url`, signed with the
    /// `[epusdt]` token (added by paywatch when `[epusdt]` is configured).
    Epusdt { token: Secret, allow_private: bool },
    /// NATS JetStream publish, deduplicated by `Nats-Msg-Id`.
    Nats {
        url: String,
        /// Subject template: `{chain}`, `{network}`, `{type}`, `{asset}`
        /// and `{direction}` are replaced from the event.
        subject: String,
        /// A stream to create when missing, covering the subject's prefix.
        stream: Option<String>,
    },
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

pub(super) fn sinks(raw: Vec<RawSink>, base: &Path) -> Result<Vec<SinkConfig>, String> {
    let mut out: Vec<SinkConfig> = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let at = |m: String| format!("sink[{i}] `{}`: {m}", s.name);
        check_name(&s.name).map_err(|m| format!("sink[{i}]: {m}"))?;
        if s.name == "epusdt" {
            return Err(format!(
                "sink[{i}]: the name `epusdt` is reserved for the [epusdt] callbacks"
            ));
        }
        if out.iter().any(|o| o.name == s.name) {
            return Err(at("name: defined twice".into()));
        }
        let kind = match s.kind.as_str() {
            "webhook" => {
                for (key, set) in [
                    ("subject", s.subject.is_some()),
                    ("stream", s.stream.is_some()),
                ] {
                    if set {
                        return Err(at(format!("{key}: applies only to nats sinks")));
                    }
                }
                let url = Url::parse(&s.url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| at(format!("url: `{}` is not an http(s) URL", s.url)))?;
                let secret = match (s.secret, &s.secret_file) {
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
                if s.secret.is_some() || s.secret_file.is_some() {
                    return Err(at(
                        "secret: applies only to webhook sinks (put NATS credentials in the url)"
                            .into(),
                    ));
                }
                if !(s.url.starts_with("nats://") || s.url.starts_with("tls://")) {
                    return Err(at(format!(
                        "url: `{}` is not a nats:// or tls:// URL",
                        s.url
                    )));
                }
                let subject = s
                    .subject
                    .unwrap_or_else(|| "paywatch.{chain}.{type}".into());
                if subject.is_empty() || subject.contains([' ', '*', '>']) {
                    return Err(at(format!(
                        "subject: `{subject}` must be a plain subject (templates like {{chain}} allowed, no wildcards)"
                    )));
                }
                SinkKind::Nats {
                    url: s.url,
                    subject,
                    stream: s.stream,
                }
            }
            other => {
                return Err(at(format!(
                    "kind: unknown sink kind `{other}` (expected webhook or nats)"
                )))
            }
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
        let concurrency = s.concurrency.unwrap_or(16);
        if concurrency == 0 || concurrency > 1024 {
            return Err(at("concurrency: between 1 and 1024".into()));
        }
        let timeout =
            duration("timeout", s.timeout.as_deref(), Duration::from_secs(10)).map_err(at)?;
        out.push(SinkConfig {
            name: s.name,
            kind,
            timeout,
            retry,
            concurrency,
        });
    }
    Ok(out)
}
