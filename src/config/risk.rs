//! `[risk]`: risk screening of every matched transfer — dust thresholds,
//! look-alike counterparties and the operator's sanctions list.

use super::resolve;
use crate::amount::Amount;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRisk {
    #[serde(default = "yes")]
    enabled: bool,
    sanctions_file: Option<PathBuf>,
    #[serde(default = "default_affix")]
    lookalike_prefix: usize,
    #[serde(default = "default_affix")]
    lookalike_suffix: usize,
    #[serde(default)]
    report_dust: bool,
    #[serde(default)]
    dust: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn default_affix() -> usize {
    4
}

/// Most characters a look-alike comparison may look at on either end: what
/// a watched address's record of past counterparties keeps.
pub const MAX_AFFIX: usize = 8;

/// Dust thresholds by asset symbol when `[risk.dust]` does not set them.
pub const DEFAULT_DUST: [(&str, &str); 5] = [
    ("BTC", "0.00001"),
    ("ETH", "0.00001"),
    ("TRX", "0.1"),
    ("USDT", "0.01"),
    ("USDC", "0.01"),
];

/// How transfers are screened.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    /// Off: no flags are computed and every transfer is reported as before.
    pub enabled: bool,
    /// Addresses a payment must not come from (OFAC SDN XML or CSV, or one
    /// address per line).
    pub sanctions_file: Option<PathBuf>,
    /// Characters compared at the start and at the end of an address (after
    /// the part every address of its form shares, such as `0x` or `T`).
    pub lookalike_prefix: usize,
    pub lookalike_suffix: usize,
    /// Zero-value and dust transfers cause `payment.*` events too (they never
    /// count toward an invoice either way).
    pub report_dust: bool,
    /// Below this many whole units a transfer of the asset (by upper-case
    /// symbol) is dust; `"0"` turns it off for that asset.
    pub dust: BTreeMap<String, String>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            enabled: true,
            sanctions_file: None,
            lookalike_prefix: default_affix(),
            lookalike_suffix: default_affix(),
            report_dust: false,
            dust: DEFAULT_DUST
                .iter()
                .map(|(s, a)| (s.to_string(), a.to_string()))
                .collect(),
        }
    }
}

impl RiskConfig {
    /// The dust threshold of `symbol` in base units of an asset with
    /// `decimals`, `None` when there is none. A threshold finer than the
    /// asset's smallest unit rounds down to it.
    pub fn dust_of(&self, symbol: &str, decimals: u8) -> Option<Amount> {
        let text = self.dust.get(&symbol.to_uppercase())?;
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let frac = &frac[..frac.len().min(decimals as usize)];
        let a = Amount::from_whole(&format!("{whole}.{frac}0"), decimals).ok()?;
        (!a.is_zero()).then_some(a)
    }
}

pub(super) fn risk(raw: Option<RawRisk>, base: &Path) -> Result<RiskConfig, String> {
    let Some(r) = raw else {
        return Ok(RiskConfig::default());
    };
    for (key, value) in [
        ("lookalike_prefix", r.lookalike_prefix),
        ("lookalike_suffix", r.lookalike_suffix),
    ] {
        if !(1..=MAX_AFFIX).contains(&value) {
            return Err(format!(
                "risk.{key}: {value} must be between 1 and {MAX_AFFIX} characters"
            ));
        }
    }
    let mut dust = RiskConfig::default().dust;
    for (symbol, amount) in r.dust {
        if Amount::from_whole(&amount, 30).is_err() && amount.trim() != "0" {
            return Err(format!(
                "risk.dust.{symbol}: `{amount}` is not an amount in whole units, such as \"0.01\""
            ));
        }
        dust.insert(symbol.to_uppercase(), amount.trim().to_string());
    }
    Ok(RiskConfig {
        enabled: r.enabled,
        sanctions_file: r.sanctions_file.map(|p| resolve(base, &p)),
        lookalike_prefix: r.lookalike_prefix,
        lookalike_suffix: r.lookalike_suffix,
        report_dust: r.report_dust,
        dust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dust_thresholds_round_to_the_assets_unit_and_zero_turns_them_off() {
        let mut c = RiskConfig::default();
        assert_eq!(c.dust_of("usdt", 6), Some(Amount::from(10_000u64)));
        assert_eq!(c.dust_of("BTC", 8), Some(Amount::from(1_000u64)));
        assert_eq!(c.dust_of("DOGE", 8), None);
        c.dust.insert("BTC".into(), "0.000000001".into());
        assert_eq!(c.dust_of("BTC", 8), None);
        c.dust.insert("BTC".into(), "0".into());
        assert_eq!(c.dust_of("BTC", 8), None);
    }
}
