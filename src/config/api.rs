//! `[api]`: where the API listens and which keys it accepts.

use super::{resolve, Secret};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    listen: Option<String>,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    #[serde(default)]
    keys: Vec<RawKey>,
    open_reads: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    token_sha256: String,
    scope: String,
    merchant: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// A write key given in clear (`api_key` / `api_key_file`); the client
    /// commands use it too.
    pub api_key: Option<Secret>,
    /// Every accepted key, by the SHA-256 of its token (the clear key above
    /// included, with write scope).
    pub keys: Vec<ApiKey>,
    /// Reads (GET) need no key. Only honoured on a loopback address.
    pub open_reads: bool,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Read,
    Write,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub scope: KeyScope,
    /// The merchant whose invoices alone the key may create, read and
    /// change; such a key reaches nothing else.
    pub merchant: Option<String>,
}

/// SHA-256 of an API token, as `token_sha256` holds it.
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Reads `[api]`.
pub(super) fn api(raw: RawApi, base: &Path) -> Result<ApiConfig, String> {
    let api_key = match (raw.api_key, raw.api_key_file) {
        (Some(_), Some(_)) => {
            return Err("api: set either `api_key` or `api_key_file`, not both".into())
        }
        (Some(k), None) => Some(Secret(k)),
        (None, Some(f)) => {
            let f = resolve(base, &f);
            let k = std::fs::read_to_string(&f)
                .map_err(|e| format!("api.api_key_file: cannot read {}: {e}", f.display()))?;
            Some(Secret(k.trim().to_string()))
        }
        (None, None) => None,
    };
    if api_key.as_ref().is_some_and(|k| k.0.is_empty()) {
        return Err("api: the API key is empty".into());
    }
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|e| format!("api.listen: `{listen_text}` is not an address:port ({e})"))?;
    let mut keys = Vec::new();
    for (i, k) in raw.keys.into_iter().enumerate() {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(k.token_sha256.trim(), &mut digest).map_err(|_| {
            format!("api.keys[{i}].token_sha256: expected 64 hex digits (sha256sum of the token)")
        })?;
        let scope = match k.scope.as_str() {
            "read" => KeyScope::Read,
            "write" => KeyScope::Write,
            other => {
                return Err(format!(
                    "api.keys[{i}].scope: `{other}` is not read or write"
                ))
            }
        };
        keys.push(ApiKey {
            name: k.name,
            token_sha256: digest,
            scope,
            merchant: k.merchant,
        });
    }
    if let Some(k) = &api_key {
        keys.push(ApiKey {
            name: "api_key".into(),
            token_sha256: token_digest(k.expose()),
            scope: KeyScope::Write,
            merchant: None,
        });
    }
    let open_reads = raw.open_reads.unwrap_or(true);
    if open_reads && !listen.ip().is_loopback() && !keys.is_empty() && raw.open_reads.is_some() {
        return Err(format!(
                "api.open_reads: reads without a key are allowed only on a loopback address, not {listen}"
            ));
    }
    Ok(ApiConfig {
        listen,
        api_key,
        // Off the loopback interface every read needs a key.
        open_reads: open_reads && listen.ip().is_loopback(),
        keys,
    })
}
