//! `[epusdt]`: the Epusdt-compatible endpoint, its token and the CNY rate
//! its orders are priced at.

use super::checkout::{self, CheckoutConfig, RateConfig};
use super::{resolve, ChainConfig, Secret};
use serde::Deserialize;
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

/// Reads `[epusdt]` against the chains and rates already read; a rate it
/// sets is added to `rates`.
pub(super) fn epusdt(
    raw: Option<RawEpusdt>,
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
        (Some(t), None) => t,
        (None, Some(f)) => {
            let f = resolve(base, &f);
            std::fs::read_to_string(&f)
                .map_err(|err| format!("epusdt.token_file: cannot read {}: {err}", f.display()))?
                .trim()
                .to_string()
        }
        _ => return Err("epusdt: set either `token` or `token_file`".into()),
    };
    if token.len() < 8 {
        return Err("epusdt.token: use at least 8 characters".into());
    }
    let Some(c) = chains.iter().find(|c| c.name == e.chain) else {
        return Err(format!("epusdt.chain: no chain named `{}`", e.chain));
    };
    if c.invoices.is_none() {
        return Err(format!(
            "epusdt.chain: chain `{}` has no [chain.invoices] section",
            e.chain
        ));
    }
    // Orders are priced in CNY: the rate is `rate` here, or a
    // [[rate]] for ASSET/CNY.
    let asset = e.asset.trim().to_uppercase();
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
    }))
}
