//! `[epusdt]`: the shop protocols (Epusdt, BEpusdt, EPay): the chain and
//! asset orders are paid in by default, the payment types they may name,
//! the single shop's token and the CNY rate orders are priced at.

use super::checkout::{self, CheckoutConfig, RateConfig};
use super::merchant::MerchantConfig;
use super::{chain_asset, invoice_chain, read_secret, ChainConfig, ChainKind, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEpusdt {
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
    #[serde(default)]
    trade_types: BTreeMap<String, String>,
    #[serde(default)]
    gmpay_networks: BTreeMap<String, String>,
}

fn default_epusdt_asset() -> String {
    "USDT".into()
}

/// The Epusdt-compatible endpoint: `POST /api/v1/order/create-transaction`
/// and its signed callbacks.
#[derive(Debug, Clone)]
pub struct EpusdtConfig {
    /// The chain whose invoices back the orders that name no payment
    /// type, and the asset.
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
    /// Payment types (BEpusdt's `trade_type`, EPay's `type`) and the
    /// chain and asset each is paid in.
    pub trade_types: BTreeMap<String, (String, String)>,
    /// GMPay's network names and the chain each is.
    pub gmpay_networks: BTreeMap<String, String>,
}

impl EpusdtConfig {
    /// The chain and asset a payment type names.
    pub fn trade_type(&self, name: &str) -> Option<&(String, String)> {
        self.trade_types.get(&name.trim().to_ascii_lowercase())
    }
}

/// The payment types known without configuration, by the chain they are
/// paid on: BEpusdt's names (its `docs/trade-type.md`), and EPay's `usdt`.
fn known_trade_types(chain: &ChainConfig) -> Vec<(&'static str, &'static str)> {
    match &chain.kind {
        ChainKind::Tron(_) => vec![
            ("usdt.trc20", "USDT"),
            ("usdc.trc20", "USDC"),
            ("tron.trx", "TRX"),
        ],
        ChainKind::Evm(e) => match e.chain_id {
            1 => vec![
                ("usdt.erc20", "USDT"),
                ("usdc.erc20", "USDC"),
                ("ethereum.eth", "ETH"),
            ],
            56 => vec![
                ("usdt.bep20", "USDT"),
                ("usdc.bep20", "USDC"),
                ("bsc.bnb", "BNB"),
            ],
            137 => vec![("usdt.polygon", "USDT"), ("usdc.polygon", "USDC")],
            42161 => vec![("usdt.arbitrum", "USDT"), ("usdc.arbitrum", "USDC")],
            8453 => vec![("usdc.base", "USDC")],
            _ => Vec::new(),
        },
        ChainKind::Bitcoin(_) => Vec::new(),
    }
}

/// GMPay's name of a chain's network, by its kind or chain id.
fn gmpay_network(chain: &ChainConfig) -> Option<&'static str> {
    match &chain.kind {
        ChainKind::Tron(_) => Some("tron"),
        ChainKind::Evm(e) => match e.chain_id {
            1 => Some("ethereum"),
            56 => Some("binance"),
            137 => Some("polygon"),
            8453 => Some("base"),
            42161 => Some("arbitrum"),
            _ => None,
        },
        ChainKind::Bitcoin(_) => None,
    }
}

/// Reads `[epusdt]` against the chains and rates already read; a rate it
/// sets is added to `rates`.
pub(super) fn epusdt(
    raw: Option<RawEpusdt>,
    merchants: &mut Vec<MerchantConfig>,
    chains: &[ChainConfig],
    rates: &mut Vec<RateConfig>,
    checkout: &CheckoutConfig,
    base: &Path,
) -> Result<Option<EpusdtConfig>, String> {
    let e = match raw {
        None => return Ok(None),
        Some(e) => e,
    };
    let token = match (e.token, e.token_file) {
        (Some(t), None) => Some(t),
        (None, Some(f)) => Some(read_secret("epusdt.token_file", base, &f)?),
        (None, None) => None,
        _ => return Err("epusdt: set either `token` or `token_file`".into()),
    };
    match (token, merchants.is_empty()) {
        (Some(t), true) => {
            if t.len() < 8 {
                return Err("epusdt.token: use at least 8 characters".into());
            }
            merchants.push(MerchantConfig::single(Secret(t), e.allow_private_notify));
        }
        (None, true) => {
            return Err(
                "epusdt: set `token` (or `token_file`) for a single shop, or add [[merchant]] sections"
                    .into(),
            )
        }
        (Some(_), false) => {
            return Err(
                "epusdt.token: with [[merchant]] sections each shop signs with its merchant's secret; remove the token"
                    .into(),
            )
        }
        (None, false) => {}
    }
    let c = invoice_chain(chains, "epusdt.chain", &e.chain)?;
    let asset = e.asset.trim().to_uppercase();
    let mut trade_types: BTreeMap<String, (String, String)> = BTreeMap::new();
    // The default chain's types first, so that it wins a type two chains
    // could serve.
    let mut ordered: Vec<&ChainConfig> = vec![c];
    ordered.extend(
        chains
            .iter()
            .filter(|o| o.name != c.name && o.invoices.is_some()),
    );
    for chain in ordered {
        for (name, asset) in known_trade_types(chain) {
            trade_types
                .entry(name.into())
                .or_insert_with(|| (chain.name.clone(), asset.into()));
        }
    }
    trade_types.insert("usdt".into(), (e.chain.clone(), asset.clone()));
    let mut gmpay_networks: BTreeMap<String, String> = BTreeMap::new();
    for chain in chains.iter().filter(|o| o.invoices.is_some()) {
        if let Some(n) = gmpay_network(chain) {
            gmpay_networks
                .entry(n.into())
                .or_insert_with(|| chain.name.clone());
        }
    }
    for (network, chain) in &e.gmpay_networks {
        invoice_chain(chains, &format!("epusdt.gmpay_networks.{network}"), chain)?;
        gmpay_networks.insert(network.trim().to_lowercase(), chain.clone());
    }
    for (name, target) in &e.trade_types {
        let pair = chain_asset(chains, &format!("epusdt.trade_types.{name}"), target)?;
        trade_types.insert(name.trim().to_ascii_lowercase(), pair);
    }
    // Orders are priced in CNY: the rate is `rate` here, or a
    // [[rate]] for ASSET/CNY.
    let configured = rates
        .iter()
        .any(|r: &RateConfig| r.asset == asset && r.currency == "CNY");
    match (&e.rate, configured) {
                    (Some(_), true) => {
                        return Err(format!(
                            "epusdt.rate: a [[rate]] for {asset}/CNY is configured too; keep one"
                        ))
                    }
                    (None, false) => {
                        return Err(format!(
                            "epusdt: orders are priced in CNY; set epusdt.rate or add a [[rate]] with pair = \"{asset}/CNY\""
                        ))
                    }
                    (Some(r), false) => {
                        rates.extend(
                            checkout::rates(vec![checkout::RawRate::fixed(
                                &format!("{asset}/CNY"),
                                r,
                            )])
                            .map_err(|m| format!("epusdt.rate: {m}"))?,
                        );
                    }
                    (None, true) => {}
                }
    Ok(Some(EpusdtConfig {
        trade_types,
        gmpay_networks,
        chain: e.chain,
        asset: e.asset,
        expires_in: e.expires_in,
        public_url: e
            .public_url
            .unwrap_or_else(|| checkout.public_url.clone())
            .trim_end_matches('/')
            .to_string(),
        allow_private_notify: e.allow_private_notify,
    }))
}
