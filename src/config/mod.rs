//! Configuration: a raw TOML form (unknown keys rejected) validated into a
//! typed form holding parsed networks, resolved URLs and checked files.
//! Every error names the key and, where the file tells, the line.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

mod checkout;
mod delivery;
mod locate;
pub use checkout::{CheckoutConfig, RateConfig, RateSourceConfig, RateSourceKind, Theme};
pub use delivery::{PluginConfig, PluginLimits, RetryPolicy, SinkConfig, SinkKind};

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
    api: RawApi,
    #[serde(default)]
    chain: Vec<toml::Table>,
    #[serde(default)]
    plugin: Vec<delivery::RawPlugin>,
    #[serde(default)]
    sink: Vec<delivery::RawSink>,
    epusdt: Option<RawEpusdt>,
    checkout: Option<checkout::RawCheckout>,
    #[serde(default)]
    rate: Vec<checkout::RawRate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpusdt {
    token: Option<String>,
    token_file: Option<PathBuf>,
    chain: String,
    #[serde(default = "default_epusdt_asset")]
    asset: String,
    rate: Option<String>,
    expires_in: Option<u64>,
    public_url: Option<String>,
    #[serde(default)]
    allow_private_notify: bool,
}

fn default_epusdt_asset() -> String {
    "USDT".into()
}

/// The Epusdt-compatible endpoint: `POST /api/v1/order/create-transaction`
/// and its signed callbacks.
#[derive(Debug, Clone)]
pub struct EpusdtConfig {
    /// The API token shops sign requests with (and callbacks are signed with).
    pub token: Secret,
    /// The chain whose invoices back the orders, and the asset.
    pub chain: String,
    pub asset: String,
    /// Seconds an order stays open (the chain's default when unset).
    pub expires_in: Option<u64>,
    /// How customers reach this server, for `payment_url` (no trailing
    /// slash; `[checkout] public_url` when unset).
    pub public_url: String,
    /// Callbacks (`notify_url`) and redirects may go to loopback, private
    /// and link-local addresses: for a shop on this host or network.
    pub allow_private_notify: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBitcoin {
    name: String,
    kind: String,
    network: String,
    rpc_url: String,
    rpc_cookie: Option<PathBuf>,
    rpc_user: Option<String>,
    rpc_password: Option<String>,
    #[serde(default)]
    start_height: u64,
    #[serde(default = "default_confirmations")]
    confirmations: u64,
    #[serde(default = "default_prefetch")]
    prefetch: usize,
    #[serde(default = "default_poll_ms")]
    poll_interval_ms: u64,
    #[serde(default = "default_rpc_timeout")]
    rpc_timeout_secs: u64,
    #[serde(default = "default_max_reorg")]
    max_reorg_depth: u64,
    zmq_hashblock: Option<String>,
    mempool: Option<RawMempool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMempool {
    zmq_rawtx: Option<String>,
    zmq_sequence: Option<String>,
    poll_interval_ms: Option<u64>,
    full_rbf: Option<bool>,
}

/// Following a Bitcoin node's mempool (`[chain.mempool]`).
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// bitcoind's `-zmqpubrawtx` endpoint, e.g. `tcp://127.0.0.1:28332`.
    pub zmq_rawtx: Option<String>,
    /// bitcoind's `-zmqpubsequence` endpoint (Bitcoin Core 0.21 and later).
    pub zmq_sequence: Option<String>,
    /// How often the mempool is listed and compared (the only way without
    /// ZMQ, a safety net with it).
    pub poll_interval: Duration,
    /// The node replaces any unconfirmed transaction, signalled or not
    /// (Bitcoin Core 28 and later by default).
    pub full_rbf: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTron {
    name: String,
    kind: String,
    #[serde(default = "default_tron_network")]
    network: String,
    http_url: String,
    api_key: Option<String>,
    #[serde(default)]
    start_height: u64,
    #[serde(default = "default_tron_confirmations")]
    confirmations: u64,
    finality: Option<String>,
    #[serde(default = "default_prefetch")]
    prefetch: usize,
    #[serde(default = "default_tron_poll_ms")]
    poll_interval_ms: u64,
    #[serde(default = "default_rpc_timeout")]
    rpc_timeout_secs: u64,
    #[serde(default = "default_max_reorg")]
    max_reorg_depth: u64,
    #[serde(default)]
    token: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvm {
    name: String,
    kind: String,
    network: Option<String>,
    rpc_url: String,
    ws_url: Option<String>,
    chain_id: u64,
    #[serde(default)]
    start_height: u64,
    #[serde(default = "default_evm_confirmations")]
    confirmations: u64,
    finality: Option<String>,
    #[serde(default)]
    internal_transfers: bool,
    #[serde(default = "default_prefetch")]
    prefetch: usize,
    #[serde(default = "default_tron_poll_ms")]
    poll_interval_ms: u64,
    #[serde(default = "default_rpc_timeout")]
    rpc_timeout_secs: u64,
    #[serde(default = "default_max_reorg")]
    max_reorg_depth: u64,
    #[serde(default)]
    token: Vec<RawToken>,
}

fn default_evm_confirmations() -> u64 {
    12
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    symbol: String,
    contract: String,
    decimals: u8,
}

fn default_tron_network() -> String {
    "mainnet".into()
}
fn default_tron_confirmations() -> u64 {
    19
}
fn default_tron_poll_ms() -> u64 {
    1000
}

fn default_confirmations() -> u64 {
    3
}
fn default_prefetch() -> usize {
    8
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_rpc_timeout() -> u64 {
    30
}
fn default_max_reorg() -> u64 {
    1000
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
    pub checkout: CheckoutConfig,
    /// Exchange rates for invoices priced in fiat.
    pub rates: Vec<RateConfig>,
    /// Files the config names that do not exist yet (a bitcoind cookie
    /// before bitcoind first starts), with the key's path and line:
    /// `check-config` warns, the daemon refuses to start.
    pub missing: Vec<String>,
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
}

/// SHA-256 of an API token, as `token_sha256` holds it.
pub fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Settings every chain has.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub name: String,
    pub start_height: u64,
    /// Confirmations at which `payment.confirmed` is emitted (1 = when mined).
    pub confirmations: u64,
    /// Blocks requested ahead of the one being committed.
    pub prefetch: usize,
    pub poll_interval: Duration,
    /// Deepest reorg handled automatically (recent block hashes kept).
    pub max_reorg_depth: u64,
    pub kind: ChainKind,
    /// Payment requests on this chain (`[chain.invoices]`).
    pub invoices: Option<InvoiceConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInvoices {
    xpub: Option<String>,
    script_type: Option<String>,
    gap_limit: Option<u32>,
    shared_address: Option<String>,
    unique_amount_step: Option<String>,
    max_open: Option<u32>,
    default_expires_in: Option<u64>,
    zero_conf: Option<bool>,
    zero_conf_rbf: Option<bool>,
    amount_reuse_after: Option<String>,
    max_amount: Option<std::collections::BTreeMap<String, String>>,
}

/// Where invoice addresses come from.
#[derive(Debug, Clone)]
pub enum InvoiceSource {
    /// A fresh address per invoice from an account public key (or a
    /// Bitcoin output descriptor), receive branch `0/i`.
    Derived {
        key: String,
        script_type: Option<String>,
    },
    /// One address; open invoices get distinct amounts (the requested amount
    /// plus a multiple of `step`, whole units, at most `max_open` steps).
    Shared {
        address: String,
        step: String,
        max_open: u32,
    },
}

#[derive(Debug, Clone)]
pub struct InvoiceConfig {
    pub source: InvoiceSource,
    pub gap_limit: u32,
    /// Seconds an invoice stays open when the request does not say.
    pub default_expires_in: u64,
    /// A mempool payment confirms the invoice at once (Bitcoin with
    /// `[chain.mempool]`); otherwise invoices confirm at the chain's
    /// `confirmations`.
    pub zero_conf: bool,
    /// With `zero_conf`, also a transaction that can be replaced (signals
    /// BIP-125, or the node runs full-RBF).
    pub zero_conf_rbf: bool,
    /// On a shared address, how long an amount stays reserved for an
    /// invoice after it expired or was cancelled.
    pub amount_reuse_after: Duration,
    /// The largest amount an invoice may ask for, by asset symbol (any
    /// case), whole units as written.
    pub max_amount: std::collections::BTreeMap<String, String>,
}

fn invoice_config(raw: RawInvoices) -> Result<InvoiceConfig, String> {
    let source = match (raw.xpub, raw.shared_address) {
        (Some(_), Some(_)) => {
            return Err("invoices: set either `xpub` or `shared_address`, not both".into())
        }
        (None, None) => {
            return Err(
                "invoices: set `xpub` (an address per invoice) or `shared_address` with `unique_amount_step`"
                    .into(),
            )
        }
        (Some(key), None) => {
            if raw.unique_amount_step.is_some() || raw.max_open.is_some() {
                return Err(
                    "invoices: `unique_amount_step` and `max_open` go with `shared_address`".into(),
                );
            }
            InvoiceSource::Derived {
                key,
                script_type: raw.script_type,
            }
        }
        (None, Some(address)) => {
            if raw.script_type.is_some() {
                return Err("invoices: `script_type` goes with `xpub`".into());
            }
            let step = raw.unique_amount_step.ok_or(
                "invoices: a shared address needs `unique_amount_step` (e.g. \"0.01\") to tell invoices apart",
            )?;
            InvoiceSource::Shared {
                address,
                step,
                max_open: raw.max_open.unwrap_or(100).clamp(1, 100_000),
            }
        }
    };
    if raw.amount_reuse_after.is_some() && !matches!(source, InvoiceSource::Shared { .. }) {
        return Err("invoices: `amount_reuse_after` goes with `shared_address`".into());
    }
    let amount_reuse_after = match raw.amount_reuse_after.as_deref() {
        None => Duration::from_secs(86400),
        Some(t) => humantime::parse_duration(t).map_err(|e| {
            format!("invoices.amount_reuse_after: `{t}` is not a duration such as \"24h\": {e}")
        })?,
    };
    let default_expires_in = raw.default_expires_in.unwrap_or(1800);
    if !(60..=30 * 86400).contains(&default_expires_in) {
        return Err("invoices.default_expires_in: between 60 and 2592000 seconds".into());
    }
    Ok(InvoiceConfig {
        source,
        gap_limit: raw.gap_limit.unwrap_or(20).max(1),
        default_expires_in,
        zero_conf: raw.zero_conf.unwrap_or(false),
        amount_reuse_after,
        max_amount: raw.max_amount.unwrap_or_default(),
        zero_conf_rbf: raw.zero_conf_rbf.unwrap_or(false),
    })
}

#[derive(Debug, Clone)]
pub enum ChainKind {
    Bitcoin(BitcoinConfig),
    Tron(TronConfig),
    Evm(EvmConfig),
}

#[derive(Debug, Clone)]
pub struct EvmConfig {
    /// Label used in events (`mainnet` for chain id 1 unless set).
    pub network: String,
    pub rpc_url: Url,
    /// The node's WebSocket endpoint: a `newHeads` subscription fetches a
    /// new block as soon as it is announced instead of at the next poll.
    pub ws_url: Option<Url>,
    /// Checked against the node's `eth_chainId` before scanning.
    pub chain_id: u64,
    /// `finalized` or `safe`: confirm at the node's block tag instead of by depth.
    pub finality_tag: Option<String>,
    /// Also record native value moved by contracts (`trace_block`).
    pub internal_transfers: bool,
    /// The chain's native coin.
    pub native_symbol: String,
    pub tokens: Vec<Token>,
    pub timeout: Duration,
}

impl ChainConfig {
    /// How addresses of this chain are read.
    pub fn address_format(&self) -> crate::address::AddressFormat {
        use crate::address::AddressFormat;
        match &self.kind {
            ChainKind::Bitcoin(b) => AddressFormat::Bitcoin(b.network),
            ChainKind::Evm(_) => AddressFormat::Evm,
            ChainKind::Tron(_) => AddressFormat::Tron,
        }
    }

    /// What kind of addresses an account key derives on this chain.
    pub fn address_kind(&self) -> crate::address::derive::AddressKind {
        use crate::address::derive::AddressKind;
        match &self.kind {
            ChainKind::Bitcoin(b) => AddressKind::Bitcoin(b.network),
            ChainKind::Evm(_) => AddressKind::Evm,
            ChainKind::Tron(_) => AddressKind::Tron,
        }
    }

    /// The kind name as written in the config.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ChainKind::Bitcoin(_) => "bitcoin",
            ChainKind::Tron(_) => "tron",
            ChainKind::Evm(_) => "evm",
        }
    }

    /// The network name as written in the config.
    pub fn network_name(&self) -> &str {
        match &self.kind {
            ChainKind::Bitcoin(b) => &b.network_name,
            ChainKind::Tron(t) => &t.network,
            ChainKind::Evm(e) => &e.network,
        }
    }
}

/// A token contract whose transfers count as payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub symbol: String,
    /// Contract address as the chain stores it (TRON: 21 bytes, `41…`).
    pub contract: Vec<u8>,
    /// Contract address as users write it.
    pub display: String,
    pub decimals: u8,
}

#[derive(Debug, Clone)]
pub struct TronConfig {
    pub network: String,
    pub http_url: Url,
    /// Sent as `TRON-PRO-API-KEY` (for TronGrid-compatible endpoints).
    pub api_key: Option<Secret>,
    /// Confirm at the node's solidified block instead of by depth.
    pub solidified: bool,
    pub tokens: Vec<Token>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct BitcoinConfig {
    pub network: bitcoin::Network,
    /// The network name as configured (`testnet4` is kept apart from `testnet`).
    pub network_name: String,
    pub rpc_url: Url,
    pub auth: RpcAuth,
    pub rpc_timeout: Duration,
    /// bitcoind's `-zmqpubhashblock` endpoint: a new block is fetched as
    /// soon as it is announced instead of at the next poll.
    pub zmq_hashblock: Option<String>,
    pub mempool: Option<MempoolConfig>,
}

#[derive(Debug, Clone)]
pub enum RpcAuth {
    /// bitcoind's `.cookie` file, read again on every reconnect.
    Cookie(PathBuf),
    UserPass {
        user: String,
        password: Secret,
    },
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";

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
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // Every message starts with the key's path; `point` adds its line.
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: locate::point(text, message),
        };
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| invalid(describe_toml(&e, text)))?;
        let base = path.parent().unwrap_or(Path::new("."));

        let api_key = match (raw.api.api_key, raw.api.api_key_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "api: set either `api_key` or `api_key_file`, not both".into(),
                ))
            }
            (Some(k), None) => Some(Secret(k)),
            (None, Some(f)) => {
                let f = resolve(base, &f);
                let k = std::fs::read_to_string(&f).map_err(|e| {
                    invalid(format!(
                        "api.api_key_file: cannot read {}: {e}",
                        f.display()
                    ))
                })?;
                Some(Secret(k.trim().to_string()))
            }
            (None, None) => None,
        };
        if api_key.as_ref().is_some_and(|k| k.0.is_empty()) {
            return Err(invalid("api: the API key is empty".into()));
        }
        let listen_text = raw.api.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|e| {
            invalid(format!(
                "api.listen: `{listen_text}` is not an address:port ({e})"
            ))
        })?;
        let mut keys = Vec::new();
        for (i, k) in raw.api.keys.into_iter().enumerate() {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(k.token_sha256.trim(), &mut digest).map_err(|_| {
                invalid(format!(
                    "api.keys[{i}].token_sha256: expected 64 hex digits (sha256sum of the token)"
                ))
            })?;
            let scope = match k.scope.as_str() {
                "read" => KeyScope::Read,
                "write" => KeyScope::Write,
                other => {
                    return Err(invalid(format!(
                        "api.keys[{i}].scope: `{other}` is not read or write"
                    )))
                }
            };
            keys.push(ApiKey {
                name: k.name,
                token_sha256: digest,
                scope,
            });
        }
        if let Some(k) = &api_key {
            keys.push(ApiKey {
                name: "api_key".into(),
                token_sha256: token_digest(k.expose()),
                scope: KeyScope::Write,
            });
        }
        let open_reads = raw.api.open_reads.unwrap_or(true);
        if open_reads
            && !listen.ip().is_loopback()
            && !keys.is_empty()
            && raw.api.open_reads.is_some()
        {
            return Err(invalid(format!(
                "api.open_reads: reads without a key are allowed only on a loopback address, not {listen}"
            )));
        }

        let mut chains: Vec<ChainConfig> = Vec::new();
        for (i, mut table) in raw.chain.into_iter().enumerate() {
            let here = format!("chain[{i}]");
            // `key: what` becomes `chain[i].key: what`, anything else
            // `chain[i]: what`.
            let at = |msg: String| match msg.split_once(": ") {
                Some((key, _)) if !key.contains(' ') => invalid(format!("{here}.{msg}")),
                _ => invalid(format!("{here}: {msg}")),
            };
            let invoices = match table.remove("invoices") {
                None => None,
                Some(v) => Some(
                    locate::from_value::<RawInvoices>(v, &format!("{here}.invoices"))
                        .map_err(invalid)?,
                ),
            };
            let kind = match table.get("kind") {
                Some(toml::Value::String(k)) => k.clone(),
                Some(_) => return Err(at("`kind` must be a string".into())),
                None => return Err(at("missing key `kind` (bitcoin, evm or tron)".into())),
            };
            let chain = match kind.as_str() {
                "bitcoin" => {
                    let raw: RawBitcoin =
                        locate::from_value(toml::Value::Table(table), &here).map_err(invalid)?;
                    bitcoin_chain(raw, base).map_err(at)?
                }
                "tron" => {
                    let raw: RawTron =
                        locate::from_value(toml::Value::Table(table), &here).map_err(invalid)?;
                    tron_chain(raw).map_err(at)?
                }
                "evm" => {
                    let raw: RawEvm =
                        locate::from_value(toml::Value::Table(table), &here).map_err(invalid)?;
                    evm_chain(raw).map_err(at)?
                }
                other => {
                    return Err(at(format!(
                        "kind: unknown chain kind `{other}` (expected bitcoin, evm or tron)"
                    )))
                }
            };
            let mut chain = chain;
            chain.invoices = invoices.map(invoice_config).transpose().map_err(at)?;
            let follows_mempool =
                matches!(&chain.kind, ChainKind::Bitcoin(b) if b.mempool.is_some());
            if chain
                .invoices
                .as_ref()
                .is_some_and(|i| i.zero_conf_rbf && !i.zero_conf)
            {
                return Err(at(
                    "invoices.zero_conf_rbf: goes with zero_conf = true".into()
                ));
            }
            if chain.invoices.as_ref().is_some_and(|i| i.zero_conf) && !follows_mempool {
                return Err(at(
                    "invoices.zero_conf: needs a Bitcoin chain with a [chain.mempool] section"
                        .into(),
                ));
            }
            check_invoices(&chain).map_err(at)?;
            if chains.iter().any(|c| c.name == chain.name) {
                return Err(at(format!("name: chain `{}` is defined twice", chain.name)));
            }
            chains.push(chain);
        }
        let checkout = checkout::checkout(raw.checkout, listen, base).map_err(invalid)?;
        let mut rates = checkout::rates(raw.rate).map_err(invalid)?;
        let epusdt = match raw.epusdt {
            None => None,
            Some(e) => {
                let token = match (e.token, e.token_file) {
                    (Some(t), None) => t,
                    (None, Some(f)) => {
                        let f = resolve(base, &f);
                        std::fs::read_to_string(&f)
                            .map_err(|err| {
                                invalid(format!(
                                    "epusdt.token_file: cannot read {}: {err}",
                                    f.display()
                                ))
                            })?
                            .trim()
                            .to_string()
                    }
                    _ => return Err(invalid("epusdt: set either `token` or `token_file`".into())),
                };
                if token.len() < 8 {
                    return Err(invalid("epusdt.token: use at least 8 characters".into()));
                }
                let Some(c) = chains.iter().find(|c| c.name == e.chain) else {
                    return Err(invalid(format!(
                        "epusdt.chain: no chain named `{}`",
                        e.chain
                    )));
                };
                if c.invoices.is_none() {
                    return Err(invalid(format!(
                        "epusdt.chain: chain `{}` has no [chain.invoices] section",
                        e.chain
                    )));
                }
                // Orders are priced in CNY: the rate is `rate` here, or a
                // [[rate]] for ASSET/CNY.
                let asset = e.asset.trim().to_uppercase();
                let configured = rates
                    .iter()
                    .any(|r: &RateConfig| r.asset == asset && r.currency == "CNY");
                match (&e.rate, configured) {
                    (Some(_), true) => {
                        return Err(invalid(format!(
                            "epusdt.rate: a [[rate]] for {asset}/CNY is configured too; keep one"
                        )))
                    }
                    (None, false) => {
                        return Err(invalid(format!(
                            "epusdt: orders are priced in CNY; set epusdt.rate or add a [[rate]] with pair = \"{asset}/CNY\""
                        )))
                    }
                    (Some(r), false) => {
                        rates.extend(
                            checkout::rates(vec![checkout::RawRate::fixed(
                                &format!("{asset}/CNY"),
                                r,
                            )])
                            .map_err(|m| invalid(format!("epusdt.rate: {m}")))?,
                        );
                    }
                    (None, true) => {}
                }
                Some(EpusdtConfig {
                    token: Secret(token),
                    chain: e.chain,
                    asset: e.asset,
                    expires_in: e.expires_in,
                    public_url: e
                        .public_url
                        .unwrap_or_else(|| checkout.public_url.clone())
                        .trim_end_matches('/')
                        .to_string(),
                    allow_private_notify: e.allow_private_notify,
                })
            }
        };
        let plugins = delivery::plugins(raw.plugin, base).map_err(invalid)?;
        let sinks = delivery::sinks(raw.sink, base).map_err(invalid)?;
        if !plugins.is_empty() && sinks.is_empty() && epusdt.is_none() {
            return Err(invalid(
                "plugin: plugins forward to sinks, but no [[sink]] is configured".into(),
            ));
        }
        let missing = chains
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.kind {
                ChainKind::Bitcoin(BitcoinConfig {
                    auth: RpcAuth::Cookie(cookie),
                    ..
                }) if !cookie.is_file() => Some(locate::point(
                    text,
                    format!(
                        "chain[{i}].rpc_cookie: {} does not exist or is not a file \
                         (bitcoind writes it when it starts)",
                        cookie.display()
                    ),
                )),
                _ => None,
            })
            .collect();
        Ok(Config {
            missing,
            data_dir: resolve(base, &raw.data_dir),
            api: ApiConfig {
                listen,
                api_key,
                // Off the loopback interface every read needs a key.
                open_reads: open_reads && listen.ip().is_loopback(),
                keys,
            },
            chains,
            plugins,
            sinks,
            epusdt,
            checkout,
            rates,
        })
    }
}

fn bitcoin_chain(raw: RawBitcoin, base: &Path) -> Result<ChainConfig, String> {
    debug_assert_eq!(raw.kind, "bitcoin");
    check_name(&raw.name)?;
    let network = match raw.network.as_str() {
        "mainnet" | "bitcoin" => bitcoin::Network::Bitcoin,
        "testnet" | "testnet3" | "testnet4" => bitcoin::Network::Testnet,
        "signet" => bitcoin::Network::Signet,
        "regtest" => bitcoin::Network::Regtest,
        other => {
            return Err(format!(
                "network: unknown network `{other}` (mainnet, testnet, testnet4, signet or regtest)"
            ))
        }
    };
    let rpc_url = parse_http_url("rpc_url", &raw.rpc_url)?;
    let auth = match (raw.rpc_cookie, raw.rpc_user, raw.rpc_password) {
        (Some(cookie), None, None) => {
            // A cookie that does not exist yet is a warning here (bitcoind
            // writes it when it starts): `Config::missing`.
            RpcAuth::Cookie(resolve(base, &cookie))
        }
        (None, Some(user), Some(password)) => RpcAuth::UserPass {
            user,
            password: Secret(password),
        },
        (None, None, None) => {
            return Err("set `rpc_cookie`, or `rpc_user` and `rpc_password`".into())
        }
        (Some(_), _, _) => {
            return Err("set either `rpc_cookie` or `rpc_user`/`rpc_password`, not both".into())
        }
        (None, Some(_), None) => return Err("rpc_user is set but rpc_password is missing".into()),
        (None, None, Some(_)) => return Err("rpc_password is set but rpc_user is missing".into()),
    };
    if let Some(z) = &raw.zmq_hashblock {
        check_endpoint("zmq_hashblock", z)?;
    }
    let zmq_hashblock = raw.zmq_hashblock;
    let mempool = match raw.mempool {
        None => None,
        Some(m) => {
            for (key, z) in [
                ("zmq_rawtx", &m.zmq_rawtx),
                ("zmq_sequence", &m.zmq_sequence),
            ] {
                if let Some(z) = z {
                    check_endpoint(&format!("mempool.{key}"), z)?;
                }
            }
            let default_poll = if m.zmq_rawtx.is_some() { 10_000 } else { 1_000 };
            let poll = m.poll_interval_ms.unwrap_or(default_poll);
            if !(100..=600_000).contains(&poll) {
                return Err(format!(
                    "mempool.poll_interval_ms: {poll} is not between 100 and 600000"
                ));
            }
            Some(MempoolConfig {
                zmq_rawtx: m.zmq_rawtx,
                zmq_sequence: m.zmq_sequence,
                poll_interval: Duration::from_millis(poll),
                full_rbf: m.full_rbf.unwrap_or(true),
            })
        }
    };
    common(
        raw.name,
        raw.start_height,
        raw.confirmations,
        raw.prefetch,
        raw.poll_interval_ms,
        raw.max_reorg_depth,
        ChainKind::Bitcoin(BitcoinConfig {
            network,
            network_name: raw.network,
            rpc_url,
            auth,
            rpc_timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
            zmq_hashblock,
            mempool,
        }),
    )
}

/// Adds the configured tokens to the built-in ones; a listed token replaces a
/// built-in one with the same contract.
fn add_tokens(
    tokens: &mut Vec<Token>,
    raw: Vec<RawToken>,
    parse: fn(&str) -> Result<crate::address::WatchAddress, crate::address::AddressError>,
) -> Result<(), String> {
    for (i, t) in raw.into_iter().enumerate() {
        let addr = parse(&t.contract).map_err(|e| format!("token[{i}].contract: {e}"))?;
        if t.decimals > 77 {
            return Err(format!("token[{i}].decimals: {} is above 77", t.decimals));
        }
        if t.symbol.is_empty() || t.symbol.len() > 16 {
            return Err(format!("token[{i}].symbol: must be 1-16 characters"));
        }
        tokens.retain(|k| k.contract != addr.key);
        tokens.push(Token {
            symbol: t.symbol,
            contract: addr.key,
            display: addr.display,
            decimals: t.decimals,
        });
    }
    Ok(())
}

/// USDT on TRON mainnet, known without configuration.
pub const TRON_USDT: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";

fn tron_chain(raw: RawTron) -> Result<ChainConfig, String> {
    debug_assert_eq!(raw.kind, "tron");
    check_name(&raw.name)?;
    if !matches!(
        raw.network.as_str(),
        "mainnet" | "shasta" | "nile" | "private"
    ) {
        return Err(format!(
            "network: unknown TRON network `{}` (mainnet, shasta, nile or private)",
            raw.network
        ));
    }
    let http_url = parse_http_url("http_url", &raw.http_url)?;
    let solidified = match raw.finality.as_deref() {
        None => false,
        Some("solidified") => true,
        Some(other) => {
            return Err(format!(
                "finality: `{other}` is not supported (use \"solidified\" or `confirmations`)"
            ))
        }
    };
    let mut tokens = Vec::new();
    if raw.network == "mainnet" {
        let contract = crate::address::tron::parse_address(TRON_USDT)
            .expect("the built-in USDT address is valid");
        tokens.push(Token {
            symbol: "USDT".into(),
            contract: contract.key,
            display: TRON_USDT.into(),
            decimals: 6,
        });
    }
    add_tokens(&mut tokens, raw.token, crate::address::tron::parse_address)?;
    common(
        raw.name,
        raw.start_height,
        raw.confirmations,
        raw.prefetch,
        raw.poll_interval_ms,
        raw.max_reorg_depth,
        ChainKind::Tron(TronConfig {
            network: raw.network,
            http_url,
            api_key: raw.api_key.map(Secret),
            solidified,
            tokens,
            timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
        }),
    )
}

/// Tokens known on Ethereum mainnet (chain id 1) without configuration.
const ETH_MAINNET_TOKENS: [(&str, &str, u8); 2] = [
    ("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
    ("USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
];

fn evm_chain(raw: RawEvm) -> Result<ChainConfig, String> {
    debug_assert_eq!(raw.kind, "evm");
    check_name(&raw.name)?;
    let rpc_url = parse_http_url("rpc_url", &raw.rpc_url)?;
    let ws_url = raw
        .ws_url
        .as_deref()
        .map(|s| parse_url("ws_url", s, ["ws", "wss"]))
        .transpose()?;
    let finality_tag = match raw.finality.as_deref() {
        None => None,
        Some(t @ ("finalized" | "safe")) => Some(t.to_string()),
        Some(other) => {
            return Err(format!(
                "finality: `{other}` is not supported (\"finalized\", \"safe\" or `confirmations`)"
            ))
        }
    };
    let mut tokens = Vec::new();
    if raw.chain_id == 1 {
        for (symbol, contract, decimals) in ETH_MAINNET_TOKENS {
            let a = crate::address::evm::parse_address(contract)
                .expect("built-in token addresses are valid");
            tokens.push(Token {
                symbol: symbol.into(),
                contract: a.key,
                display: a.display,
                decimals,
            });
        }
    }
    add_tokens(&mut tokens, raw.token, crate::address::evm::parse_address)?;
    let network = raw.network.unwrap_or_else(|| match raw.chain_id {
        1 => "mainnet".into(),
        id => format!("chain-{id}"),
    });
    let native_symbol = match raw.chain_id {
        56 | 97 => "BNB",
        137 | 80002 => "POL",
        43114 => "AVAX",
        _ => "ETH",
    }
    .to_string();
    common(
        raw.name,
        raw.start_height,
        raw.confirmations,
        raw.prefetch,
        raw.poll_interval_ms,
        raw.max_reorg_depth,
        ChainKind::Evm(EvmConfig {
            network,
            rpc_url,
            ws_url,
            chain_id: raw.chain_id,
            finality_tag,
            internal_transfers: raw.internal_transfers,
            native_symbol,
            tokens,
            timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
        }),
    )
}

fn common(
    name: String,
    start_height: u64,
    confirmations: u64,
    prefetch: usize,
    poll_ms: u64,
    max_reorg_depth: u64,
    kind: ChainKind,
) -> Result<ChainConfig, String> {
    if confirmations == 0 || confirmations > 10_000 {
        return Err(format!(
            "confirmations: {confirmations} is out of range (1 to 10000)"
        ));
    }
    if prefetch == 0 || prefetch > 256 {
        return Err(format!("prefetch: {prefetch} is out of range (1 to 256)"));
    }
    if poll_ms < 10 {
        return Err(format!("poll_interval_ms: {poll_ms} is below 10"));
    }
    if max_reorg_depth < confirmations || max_reorg_depth > 1_000_000 {
        return Err(format!(
            "max_reorg_depth: {max_reorg_depth} must be at least `confirmations` and at most 1000000"
        ));
    }
    Ok(ChainConfig {
        name,
        start_height,
        confirmations,
        prefetch,
        poll_interval: Duration::from_millis(poll_ms),
        max_reorg_depth,
        kind,
        invoices: None,
    })
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

/// Checks a `tcp://host:port` endpoint as written in the config.
fn check_endpoint(key: &str, z: &str) -> Result<(), String> {
    let ok = z
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}: `{z}` is not a ZMQ TCP endpoint such as \"tcp://127.0.0.1:28332\""
        ))
    }
}

/// Checks a chain's `[chain.invoices]` without opening the store: the
/// account key, or the shared address and step.
fn check_invoices(chain: &ChainConfig) -> Result<(), String> {
    let Some(cfg) = &chain.invoices else {
        return Ok(());
    };
    match &cfg.source {
        InvoiceSource::Derived { key, script_type } => crate::address::derive::AccountKey::parse(
            key,
            chain.address_kind(),
            script_type.as_deref(),
        )
        .map(|_| ())
        .map_err(|e| format!("invoices.xpub: {e}")),
        InvoiceSource::Shared { address, step, .. } => {
            chain
                .address_format()
                .parse(address)
                .map_err(|e| format!("invoices.shared_address: {e}"))?;
            crate::amount::to_base(step, 18)
                .map(|_| ())
                .map_err(|e| format!("invoices.unique_amount_step: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
