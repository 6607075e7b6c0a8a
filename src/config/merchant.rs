//! `[[merchant]]`: the shops that create orders through the shop protocols
//! (Epusdt, BEpusdt, EPay), each with its id (the protocols' `pid`), its
//! signing secret, where its requests may come from and what it may sell.

use super::{chain_asset, read_secret, ChainConfig, Secret};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMerchant {
    id: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    notify_url: Option<String>,
    #[serde(default)]
    allow_private_notify: bool,
    #[serde(default)]
    assets: Vec<String>,
    gmpay_sign: Option<String>,
}

/// Which GMPay signatures a merchant's requests may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmpaySign {
    /// HMAC-SHA256 keyed with the secret, for clients that sign so.
    HmacSha256,
    /// The MD5 of the text and the secret: what GMPay's own server checks
    /// and signs its callbacks with (the default).
    Md5,
    /// Either.
    Dual,
}

/// One shop: how its requests are authenticated and what it may order.
#[derive(Debug, Clone)]
pub struct MerchantConfig {
    /// The merchant's id: EPay's and GMPay's `pid`.
    pub id: String,
    /// Signs the merchant's requests and the callbacks it receives.
    pub secret: Secret,
    /// Where its requests may come from (addresses and CIDR ranges); any
    /// address when empty.
    pub allowed_ips: Vec<IpNet>,
    /// The callback URL of orders that name none.
    pub notify_url: Option<String>,
    /// Callbacks and redirects may go to loopback, private and link-local
    /// addresses.
    pub allow_private_notify: bool,
    /// The `(chain, ASSET)` pairs it may take payments in; any when empty.
    pub assets: Vec<(String, String)>,
    /// Its invoices record its id. The shop of `[epusdt] token`, the
    /// single-shop setup, records none, as before merchants existed.
    pub recorded: bool,
    /// The signatures its GMPay requests may carry.
    pub gmpay_sign: GmpaySign,
}

impl MerchantConfig {
    /// The merchant of the single-shop setup: `[epusdt] token`.
    pub(super) fn single(token: Secret, allow_private_notify: bool) -> Self {
        MerchantConfig {
            id: SINGLE_SHOP_PID.into(),
            secret: token,
            allowed_ips: Vec::new(),
            notify_url: None,
            allow_private_notify,
            assets: Vec::new(),
            recorded: false,
            gmpay_sign: GmpaySign::Dual,
        }
    }

    /// The id its invoices record.
    pub fn recorded_id(&self) -> Option<&str> {
        self.recorded.then_some(self.id.as_str())
    }

    /// Whether a request from `ip` is accepted.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_ips.is_empty() || self.allowed_ips.iter().any(|n| n.contains(&ip))
    }

    /// Whether it may take payments in `asset` on `chain`.
    pub fn allows_asset(&self, chain: &str, asset: &str) -> bool {
        self.assets.is_empty()
            || self
                .assets
                .iter()
                .any(|(c, a)| c == chain && a.eq_ignore_ascii_case(asset))
    }
}

/// The `pid` of the single-shop setup (the one BEpusdt fixes too).
pub const SINGLE_SHOP_PID: &str = "1000";

/// Reads the `[[merchant]]` sections against the chains.
pub(super) fn merchants(
    raw: Vec<RawMerchant>,
    chains: &[ChainConfig],
    base: &Path,
) -> Result<Vec<MerchantConfig>, String> {
    let mut out: Vec<MerchantConfig> = Vec::new();
    for (i, m) in raw.into_iter().enumerate() {
        let at = format!("merchant[{i}]");
        let id = m.id.trim().to_string();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{at}.id: `{}` must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
                m.id
            ));
        }
        if out.iter().any(|o| o.id == id) {
            return Err(format!("{at}.id: `{id}` is configured twice"));
        }
        let secret = match (m.secret, m.secret_file) {
            (Some(s), None) => s,
            (None, Some(f)) => read_secret(&format!("{at}.secret_file"), base, &f)?,
            _ => return Err(format!("{at}: set either `secret` or `secret_file`")),
        };
        if secret.len() < 16 {
            return Err(format!("{at}.secret: use at least 16 characters"));
        }
        if out.iter().any(|o| o.secret.expose() == secret) {
            return Err(format!(
                "{at}.secret: another merchant has the same secret; each needs its own"
            ));
        }
        let mut allowed_ips = Vec::new();
        for (j, s) in m.allowed_ips.iter().enumerate() {
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{at}.allowed_ips[{j}]: `{s}` is not an IP address or CIDR range")
                })?;
            allowed_ips.push(net);
        }
        if let Some(u) = &m.notify_url {
            super::parse_http_url(&format!("{at}.notify_url"), u)?;
        }
        let assets = m
            .assets
            .iter()
            .enumerate()
            .map(|(j, s)| chain_asset(chains, &format!("{at}.assets[{j}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        let gmpay_sign = match m.gmpay_sign.as_deref() {
            Some("hmac_sha256") => GmpaySign::HmacSha256,
            None | Some("md5") => GmpaySign::Md5,
            Some("dual") => GmpaySign::Dual,
            Some(other) => {
                return Err(format!(
                    "{at}.gmpay_sign: `{other}` is not hmac_sha256, md5 or dual"
                ))
            }
        };
        out.push(MerchantConfig {
            gmpay_sign,
            id,
            secret: Secret(secret),
            allowed_ips,
            notify_url: m.notify_url,
            allow_private_notify: m.allow_private_notify,
            assets,
            recorded: true,
        });
    }
    Ok(out)
}
