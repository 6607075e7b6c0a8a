//! `[[chain]]`: one table per chain, read by its `kind` (bitcoin, evm,
//! tron) into [`ChainConfig`], with its `[chain.invoices]` and
//! `[chain.mempool]`.

use super::invoices::InvoiceConfig;
use super::{check_name, invoices, locate, parse_http_url, parse_url, resolve, Secret};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBitcoin {
    name: String,
    kind: String,
    network: String,
    rpc_url: Option<String>,
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
    max_rps: Option<u32>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
    max_lag_blocks: Option<u64>,
    #[serde(default = "default_max_reorg")]
    max_reorg_depth: u64,
    zmq_hashblock: Option<String>,
    mempool: Option<RawMempool>,
}

/// One `[[chain.endpoint]]`: a node (or a provider's endpoint) serving
/// the chain, beside the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    url: String,
    rpc_cookie: Option<PathBuf>,
    rpc_user: Option<String>,
    rpc_password: Option<String>,
    api_key: Option<String>,
    ws_url: Option<String>,
    max_rps: Option<u32>,
    #[serde(default)]
    priority: i32,
}

/// One endpoint of a chain: where its node is, how paywatch signs in, how
/// fast it may ask it, and how much it prefers it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Url,
    /// Bitcoin: the RPC credentials.
    pub auth: Option<RpcAuth>,
    /// TRON: `TRON-PRO-API-KEY`.
    pub api_key: Option<Secret>,
    /// EVM: the endpoint's WebSocket, for `newHeads`.
    pub ws_url: Option<Url>,
    pub max_rps: Option<u32>,
    /// Higher is asked first among the trusted endpoints.
    pub priority: i32,
}

impl Endpoint {
    /// How the endpoint is shown in status and metrics: its host and
    /// port, never its credentials or path (a provider's key may be in
    /// it).
    pub fn display(&self) -> String {
        match (self.url.host_str(), self.url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => self.url.scheme().to_string(),
        }
    }
}

/// The endpoints of a chain: `[[chain.endpoint]]` tables, or the
/// chain's own `url_key` as the one-endpoint shorthand (with `shorthand`'s
/// credentials).
fn endpoints(
    url_key: &str,
    url: Option<String>,
    shorthand: impl FnOnce() -> Result<(Option<RpcAuth>, Option<Secret>), String>,
    max_rps: Option<u32>,
    raw: Vec<RawEndpoint>,
    kind: &str,
    base: &Path,
) -> Result<Vec<Endpoint>, String> {
    match (url, raw.is_empty()) {
        (Some(_), false) => Err(format!(
            "{url_key}: set either `{url_key}` (one endpoint) or [[chain.endpoint]] tables, not both"
        )),
        (None, true) => Err(format!(
            "{url_key}: missing (or give the chain [[chain.endpoint]] tables)"
        )),
        (Some(u), true) => {
            let (auth, api_key) = shorthand()?;
            Ok(vec![Endpoint {
                url: parse_http_url(url_key, &u)?,
                auth,
                api_key,
                ws_url: None,
                max_rps: max_rps_value(max_rps)?,
                priority: 0,
            }])
        }
        (None, false) => raw
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let at = |m: String| format!("endpoint[{i}].{m}");
                let auth = if kind == "bitcoin" {
                    Some(bitcoin_auth(e.rpc_cookie, e.rpc_user, e.rpc_password, base).map_err(at)?)
                } else {
                    for (key, set) in [
                        ("rpc_cookie", e.rpc_cookie.is_some()),
                        ("rpc_user", e.rpc_user.is_some()),
                        ("rpc_password", e.rpc_password.is_some()),
                    ] {
                        if set {
                            return Err(at(format!("{key}: applies to bitcoin chains only")));
                        }
                    }
                    None
                };
                if e.api_key.is_some() && kind != "tron" {
                    return Err(at("api_key: applies to tron chains only (put an EVM provider's key in its url)".into()));
                }
                let ws_url = match (e.ws_url, kind) {
                    (None, _) => None,
                    (Some(w), "evm") => Some(parse_url("ws_url", &w, ["ws", "wss"]).map_err(at)?),
                    (Some(_), _) => return Err(at("ws_url: applies to evm chains only".into())),
                };
                Ok(Endpoint {
                    url: parse_http_url("url", &e.url).map_err(at)?,
                    auth,
                    api_key: e.api_key.map(Secret),
                    ws_url,
                    max_rps: max_rps_value(e.max_rps).map_err(at)?,
                    priority: e.priority,
                })
            })
            .collect(),
    }
}

/// The chain-level keys that belong in each `[[chain.endpoint]]` once
/// there are endpoint tables.
fn no_chain_level(raw_endpoints: bool, keys: &[(&str, bool)]) -> Result<(), String> {
    if !raw_endpoints {
        return Ok(());
    }
    for (key, set) in keys {
        if *set {
            return Err(format!(
                "{key}: with [[chain.endpoint]] tables, set it in each endpoint"
            ));
        }
    }
    Ok(())
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
    http_url: Option<String>,
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
    max_rps: Option<u32>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
    max_lag_blocks: Option<u64>,
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
    rpc_url: Option<String>,
    ws_url: Option<String>,
    chain_id: u64,
    #[serde(default)]
    start_height: u64,
    #[serde(default = "default_evm_confirmations")]
    confirmations: u64,
    finality: Option<String>,
    #[serde(default)]
    internal_transfers: bool,
    trace_api: Option<String>,
    #[serde(default = "default_prefetch")]
    prefetch: usize,
    #[serde(default = "default_tron_poll_ms")]
    poll_interval_ms: u64,
    #[serde(default = "default_rpc_timeout")]
    rpc_timeout_secs: u64,
    max_rps: Option<u32>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
    max_lag_blocks: Option<u64>,
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
/// `max_rps`: between 1 and 100,000 requests a second, or unset for no
/// limit.
fn max_rps_value(v: Option<u32>) -> Result<Option<u32>, String> {
    match v {
        Some(n) if !(1..=100_000).contains(&n) => Err(format!(
            "max_rps: {n} is out of range (1 to 100000 requests a second; leave it out for no limit)"
        )),
        v => Ok(v),
    }
}

fn default_max_reorg() -> u64 {
    1000
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
    /// Where the checkout page links transactions and addresses
    /// (`explorer_tx_url`, `explorer_address_url`).
    pub explorer: super::checkout::Explorer,
    /// The nodes serving the chain (one for the `rpc_url`/`http_url`
    /// shorthand); the kind's own url and credentials are the first's.
    pub endpoints: Vec<Endpoint>,
    /// An endpoint further behind the highest tip serves no new blocks.
    pub max_lag_blocks: u64,
}

/// Where a chain's blocks come from, as configured.
struct Sources {
    endpoints: Vec<Endpoint>,
    max_lag_blocks: Option<u64>,
    /// Blocks requested ahead.
    prefetch: usize,
    /// How often the tip is asked.
    poll_ms: u64,
}

/// `max_lag_blocks` when unset.
pub const DEFAULT_MAX_LAG: u64 = 3;

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
    /// Also record native value moved by contracts (`trace_block` or
    /// `debug_traceBlockByNumber`).
    pub internal_transfers: bool,
    /// Which of the node's trace methods gives them.
    pub trace_api: TraceApi,
    /// The chain's native coin.
    pub native_symbol: String,
    pub tokens: Vec<Token>,
    pub timeout: Duration,
    /// Requests a second at most (a token bucket over every request).
    pub max_rps: Option<u32>,
}

/// Where an EVM chain's internal transfers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceApi {
    /// `trace_block`, or `debug_traceBlockByNumber` on a node without it.
    Auto,
    /// `trace_block` (Erigon, Reth, Nethermind, Anvil).
    TraceBlock,
    /// `debug_traceBlockByNumber` with the `callTracer` (Geth, and the
    /// nodes above).
    DebugTrace,
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
    pub contract: crate::address::AddressKey,
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
    /// Requests a second at most (a token bucket over every request).
    pub max_rps: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct BitcoinConfig {
    pub network: bitcoin::Network,
    /// The network name as configured (`testnet4` is kept apart from `testnet`).
    pub network_name: String,
    pub rpc_url: Url,
    pub auth: RpcAuth,
    pub rpc_timeout: Duration,
    /// Requests a second at most (a token bucket over every request).
    pub max_rps: Option<u32>,
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

/// Reads every `[[chain]]`; a message names the chain by its place,
/// `chain[i].key: what`.
pub(super) fn chains(raw: Vec<toml::Table>, base: &Path) -> Result<Vec<ChainConfig>, String> {
    let mut chains: Vec<ChainConfig> = Vec::new();
    for (i, mut table) in raw.into_iter().enumerate() {
        let here = format!("chain[{i}]");
        // `key: what` becomes `chain[i].key: what`, anything else
        // `chain[i]: what`.
        let at = |msg: String| match msg.split_once(": ") {
            Some((key, _)) if !key.contains(' ') => format!("{here}.{msg}"),
            _ => format!("{here}: {msg}"),
        };
        let invoices = match table.remove("invoices") {
            None => None,
            Some(v) => Some(locate::from_value::<invoices::RawInvoices>(
                v,
                &format!("{here}.invoices"),
            )?),
        };
        // Read by the checkout's config, once the chain's network is known.
        let explorer_urls = (
            table.remove("explorer_tx_url"),
            table.remove("explorer_address_url"),
        );
        let kind = match table.get("kind") {
            Some(toml::Value::String(k)) => k.clone(),
            Some(_) => return Err(at("`kind` must be a string".into())),
            None => return Err(at("missing key `kind` (bitcoin, evm or tron)".into())),
        };
        let chain = match kind.as_str() {
            "bitcoin" => {
                let raw: RawBitcoin = locate::from_value(toml::Value::Table(table), &here)?;
                bitcoin_chain(raw, base).map_err(at)?
            }
            "tron" => {
                let raw: RawTron = locate::from_value(toml::Value::Table(table), &here)?;
                tron_chain(raw, base).map_err(at)?
            }
            "evm" => {
                let raw: RawEvm = locate::from_value(toml::Value::Table(table), &here)?;
                evm_chain(raw, base).map_err(at)?
            }
            other => {
                return Err(at(format!(
                    "kind: unknown chain kind `{other}` (expected bitcoin, evm or tron)"
                )))
            }
        };
        let mut chain = chain;
        chain.explorer =
            super::checkout::explorer(&chain, explorer_urls.0, explorer_urls.1).map_err(at)?;
        chain.invoices = invoices
            .map(|raw| invoices::invoice_config(raw, &chain))
            .transpose()
            .map_err(at)?;
        let follows_mempool = matches!(&chain.kind, ChainKind::Bitcoin(b) if b.mempool.is_some());
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
                "invoices.zero_conf: needs a Bitcoin chain with a [chain.mempool] section".into(),
            ));
        }
        if chain
            .invoices
            .as_ref()
            .and_then(|i| i.confirmations)
            .is_some_and(|b| b.min == 0)
            && !follows_mempool
        {
            return Err(at(
                "invoices.min_confirmations: 0 (a mempool payment confirms) needs a Bitcoin chain \
                 with a [chain.mempool] section"
                    .into(),
            ));
        }
        if chains.iter().any(|c| c.name == chain.name) {
            return Err(at(format!("name: chain `{}` is defined twice", chain.name)));
        }
        chains.push(chain);
    }
    Ok(chains)
}

/// Files the chains name that do not exist yet (a bitcoind cookie before
/// bitcoind first starts), each with its key's path.
pub(super) fn missing_files(chains: &[ChainConfig]) -> Vec<String> {
    chains
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.kind {
            ChainKind::Bitcoin(BitcoinConfig {
                auth: RpcAuth::Cookie(cookie),
                ..
            }) if !cookie.is_file() => Some(format!(
                "chain[{i}].rpc_cookie: {} does not exist or is not a file \
                 (bitcoind writes it when it starts)",
                cookie.display()
            )),
            _ => None,
        })
        .collect()
}

/// bitcoind's credentials: a cookie file, or a user and password.
fn bitcoin_auth(
    cookie: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    base: &Path,
) -> Result<RpcAuth, String> {
    Ok(match (cookie, user, password) {
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
            return Err("rpc_cookie: set `rpc_cookie`, or `rpc_user` and `rpc_password`".into())
        }
        (Some(_), _, _) => {
            return Err(
                "rpc_cookie: set either `rpc_cookie` or `rpc_user`/`rpc_password`, not both".into(),
            )
        }
        (None, Some(_), None) => {
            return Err("rpc_password: rpc_user is set but rpc_password is missing".into())
        }
        (None, None, Some(_)) => {
            return Err("rpc_user: rpc_password is set but rpc_user is missing".into())
        }
    })
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
    no_chain_level(
        !raw.endpoint.is_empty(),
        &[
            ("rpc_cookie", raw.rpc_cookie.is_some()),
            ("rpc_user", raw.rpc_user.is_some()),
            ("rpc_password", raw.rpc_password.is_some()),
            ("max_rps", raw.max_rps.is_some()),
        ],
    )?;
    let (cookie, user, password) = (raw.rpc_cookie, raw.rpc_user, raw.rpc_password);
    let endpoints = endpoints(
        "rpc_url",
        raw.rpc_url,
        || Ok((Some(bitcoin_auth(cookie, user, password, base)?), None)),
        raw.max_rps,
        raw.endpoint,
        "bitcoin",
        base,
    )?;
    let rpc_url = endpoints[0].url.clone();
    let auth = endpoints[0]
        .auth
        .clone()
        .expect("bitcoin endpoints have credentials");
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
        raw.max_reorg_depth,
        ChainKind::Bitcoin(BitcoinConfig {
            network,
            network_name: raw.network,
            rpc_url,
            auth,
            rpc_timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
            max_rps: endpoints[0].max_rps,
            zmq_hashblock,
            mempool,
        }),
        Sources {
            endpoints,
            max_lag_blocks: raw.max_lag_blocks,
            prefetch: raw.prefetch,
            poll_ms: raw.poll_interval_ms,
        },
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

fn tron_chain(raw: RawTron, base: &Path) -> Result<ChainConfig, String> {
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
    no_chain_level(
        !raw.endpoint.is_empty(),
        &[
            ("api_key", raw.api_key.is_some()),
            ("max_rps", raw.max_rps.is_some()),
        ],
    )?;
    let api_key = raw.api_key.map(Secret);
    let endpoints = endpoints(
        "http_url",
        raw.http_url,
        || Ok((None, api_key)),
        raw.max_rps,
        raw.endpoint,
        "tron",
        base,
    )?;
    let http_url = endpoints[0].url.clone();
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
        raw.max_reorg_depth,
        ChainKind::Tron(TronConfig {
            network: raw.network,
            http_url,
            api_key: endpoints[0].api_key.clone(),
            solidified,
            tokens,
            timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
            max_rps: endpoints[0].max_rps,
        }),
        Sources {
            endpoints,
            max_lag_blocks: raw.max_lag_blocks,
            prefetch: raw.prefetch,
            poll_ms: raw.poll_interval_ms,
        },
    )
}

/// USDT and USDC known without configuration: (chain id, symbol, contract,
/// decimals). Each contract and its decimals are confirmed by two independent
/// public sources, named beside it (repository and path).
///
/// Where Circle issues USDC natively, USDC is that contract: the bridged
/// ones (USDC.e on Polygon, Arbitrum, Optimism and Avalanche, USDbC on Base)
/// are other contracts, not Circle's, and can be added with
/// `[[chain.token]]`. BNB Smart Chain has no native USDC; its USDC is the
/// Binance-Peg token.
#[rustfmt::skip]
const KNOWN_EVM_TOKENS: &[(u64, &str, &str, u8)] = &[
    // Ethereum.
    // bgd-labs/aave-address-book src/AaveV3Ethereum.sol (USDT_UNDERLYING);
    // Uniswap/default-token-list src/tokens/mainnet.json.
    (1, "USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
    // bgd-labs/aave-address-book src/AaveV3Ethereum.sol (USDC_UNDERLYING);
    // Uniswap/default-token-list src/tokens/mainnet.json.
    (1, "USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
    // BNB Smart Chain: the Binance-Peg tokens, with 18 decimals.
    // bgd-labs/aave-address-book src/AaveV3BNB.sol (USDT_UNDERLYING);
    // pancakeswap/pancake-frontend packages/tokens/src/common.ts (USDT_BSC).
    (56, "USDT", "0x55d398326f99059fF775485246999027B3197955", 18),
    // bgd-labs/aave-address-book src/AaveV3BNB.sol (USDC_UNDERLYING);
    // pancakeswap/pancake-frontend packages/tokens/src/common.ts (USDC_BSC).
    (56, "USDC", "0x8AC76a51cc950d9822D68b83fE1Ad97B32Cd580d", 18),
    // Polygon PoS. USDT is the PoS-bridged Tether contract (Aave now names it
    // USDT0). USDC is Circle's native USDC; the bridged USDC.e
    // (0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174) is left out, as Circle
    // does not issue it.
    // bgd-labs/aave-address-book src/AaveV3Polygon.sol (USDT0_UNDERLYING);
    // Uniswap/default-token-list src/tokens/polygon.json.
    (137, "USDT", "0xc2132D05D31c914a87C6611C10748AEb04B58e8F", 6),
    // bgd-labs/aave-address-book src/AaveV3Polygon.sol (USDCn_UNDERLYING);
    // Uniswap/default-token-list src/tokens/polygon.json.
    (137, "USDC", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", 6),
    // Arbitrum One.
    // bgd-labs/aave-address-book src/AaveV3Arbitrum.sol (USDT_UNDERLYING);
    // Uniswap/default-token-list src/tokens/arbitrum.json (as USDT0).
    (42161, "USDT", "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", 6),
    // bgd-labs/aave-address-book src/AaveV3Arbitrum.sol (USDCn_UNDERLYING);
    // Uniswap/smart-order-router src/providers/token-provider.ts
    // (USDC_NATIVE_ARBITRUM).
    (42161, "USDC", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", 6),
    // Base. No USDT: Tether issues none on Base, and the standard-bridge
    // token (0xfde4C96c8593536E31F229EA8f37b2ADa2699bb2, in the Superchain
    // token list) is neither in Aave's Base market nor in Uniswap's default
    // list.
    // bgd-labs/aave-address-book src/AaveV3Base.sol (USDC_UNDERLYING);
    // Uniswap/default-token-list src/tokens/base.json.
    (8453, "USDC", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", 6),
    // Optimism. USDT is the standard-bridge Tether contract; the separate
    // USDT0 contract (0x01bFF41798a0BcF287b996046Ca68b395DbC1071) is not
    // included.
    // bgd-labs/aave-address-book src/AaveV3Optimism.sol (USDT_UNDERLYING);
    // ethereum-optimism/ethereum-optimism.github.io data/USDT/data.json.
    (10, "USDT", "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58", 6),
    // bgd-labs/aave-address-book src/AaveV3Optimism.sol (USDCn_UNDERLYING);
    // ethereum-optimism/ethereum-optimism.github.io data/USDC/data.json.
    (10, "USDC", "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85", 6),
    // Avalanche C-Chain.
    // bgd-labs/aave-address-book src/AaveV3Avalanche.sol (USDt_UNDERLYING);
    // trustwallet/assets blockchains/avalanchec/assets/<contract>/info.json.
    (43114, "USDT", "0x9702230A8Ea53601f5cD2dc00fDBc13d4dF4A8c7", 6),
    // bgd-labs/aave-address-book src/AaveV3Avalanche.sol (USDC_UNDERLYING);
    // Uniswap/default-token-list src/tokens/avalanche.json.
    (43114, "USDC", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", 6),
];

/// The tokens of [`KNOWN_EVM_TOKENS`] on chain `chain_id`.
fn known_evm_tokens(chain_id: u64) -> Vec<Token> {
    KNOWN_EVM_TOKENS
        .iter()
        .filter(|t| t.0 == chain_id)
        .map(|&(_, symbol, contract, decimals)| {
            let a = crate::address::evm::parse_address(contract)
                .expect("built-in token addresses are valid");
            Token {
                symbol: symbol.into(),
                contract: a.key,
                display: a.display,
                decimals,
            }
        })
        .collect()
}

fn evm_chain(raw: RawEvm, base: &Path) -> Result<ChainConfig, String> {
    debug_assert_eq!(raw.kind, "evm");
    check_name(&raw.name)?;
    no_chain_level(
        !raw.endpoint.is_empty(),
        &[("max_rps", raw.max_rps.is_some())],
    )?;
    let endpoints = endpoints(
        "rpc_url",
        raw.rpc_url,
        || Ok((None, None)),
        raw.max_rps,
        raw.endpoint,
        "evm",
        base,
    )?;
    let rpc_url = endpoints[0].url.clone();
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
    let trace_api = match raw.trace_api.as_deref() {
        None | Some("auto") => TraceApi::Auto,
        Some("trace_block") => TraceApi::TraceBlock,
        Some("debug_trace") => TraceApi::DebugTrace,
        Some(other) => {
            return Err(format!(
                "trace_api: `{other}` is not one of \"auto\", \"trace_block\", \"debug_trace\""
            ))
        }
    };
    if raw.trace_api.is_some() && !raw.internal_transfers {
        return Err("trace_api: set only with internal_transfers = true".into());
    }
    let mut tokens = known_evm_tokens(raw.chain_id);
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
        raw.max_reorg_depth,
        ChainKind::Evm(EvmConfig {
            network,
            rpc_url,
            ws_url,
            chain_id: raw.chain_id,
            finality_tag,
            internal_transfers: raw.internal_transfers,
            trace_api,
            native_symbol,
            tokens,
            timeout: Duration::from_secs(raw.rpc_timeout_secs.max(1)),
            max_rps: endpoints[0].max_rps,
        }),
        Sources {
            endpoints,
            max_lag_blocks: raw.max_lag_blocks,
            prefetch: raw.prefetch,
            poll_ms: raw.poll_interval_ms,
        },
    )
}

fn common(
    name: String,
    start_height: u64,
    confirmations: u64,
    max_reorg_depth: u64,
    kind: ChainKind,
    sources: Sources,
) -> Result<ChainConfig, String> {
    let Sources {
        endpoints,
        max_lag_blocks,
        prefetch,
        poll_ms,
    } = sources;
    let max_lag_blocks = max_lag_blocks.unwrap_or(DEFAULT_MAX_LAG);
    if max_lag_blocks > 10_000 {
        return Err(format!(
            "max_lag_blocks: {max_lag_blocks} is out of range (0 to 10000)"
        ));
    }
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
        endpoints,
        max_lag_blocks,
        max_reorg_depth,
        kind,
        invoices: None,
        explorer: Default::default(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_evm_tokens_parse_and_are_listed_once() {
        for (i, &(id, symbol, contract, decimals)) in KNOWN_EVM_TOKENS.iter().enumerate() {
            let a = crate::address::evm::parse_address(contract)
                .unwrap_or_else(|e| panic!("chain {id} {symbol}: {e}"));
            assert_eq!(a.display, contract, "chain {id} {symbol}: not EIP-55");
            assert!(
                matches!(decimals, 6 | 18),
                "chain {id} {symbol}: {decimals} decimals"
            );
            assert!(
                !KNOWN_EVM_TOKENS[..i]
                    .iter()
                    .any(|t| t.0 == id && (t.1 == symbol || t.2 == contract)),
                "chain {id} {symbol}: listed twice"
            );
        }
        let bsc = known_evm_tokens(56);
        let usdt = bsc.iter().find(|t| t.symbol == "USDT").expect("BSC USDT");
        assert_eq!(usdt.decimals, 18);
        fn symbols(chain_id: u64) -> Vec<String> {
            known_evm_tokens(chain_id)
                .into_iter()
                .map(|t| t.symbol)
                .collect()
        }
        assert_eq!(symbols(1), ["USDT", "USDC"]);
        assert_eq!(symbols(8453), ["USDC"]);
        assert!(symbols(31337).is_empty());
    }
}
