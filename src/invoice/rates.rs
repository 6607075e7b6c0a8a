//! Exchange rates for invoices priced in fiat: each configured pair
//! (`USDT/CNY`, `ETH/USD` …) has fixed figures or JSON documents fetched
//! over HTTP. A quote takes the median of the fresh figures, ignores those
//! further than `max_spread` from it, and needs `min_sources` that agree and
//! a strict majority of the fresh ones; otherwise there is no rate, and an
//! invoice priced in that currency is refused rather than priced with an old
//! or doubtful figure.
//!
//! Rates are decimals held as integers scaled by 10^18, never floats.

use crate::amount::{from_base, parse_rate, to_base, RATE_DECIMALS};
use crate::clock::now_secs;
use crate::config::{RateConfig, RateSourceKind};
use ruint::aliases::U256;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Decimal places accepted in a fiat price.
pub const PRICE_DECIMALS: u8 = 8;
/// The longest a source's answer is read for.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest rate document read.
const MAX_DOCUMENT: usize = 1 << 20;

/// A rate as a decimal string.
pub fn rate_text(rate: U256) -> String {
    from_base(rate, RATE_DECIMALS)
}

/// The asset amount, in base units, that `price` (a fiat decimal, at most
/// eight decimals) buys at `rate` (currency per asset unit, scaled by 10^18),
/// rounded up to the asset's smallest unit so the merchant is never paid
/// less than the price; then rounded up to `places` decimals when the asset
/// has more.
pub fn price_to_base(
    price: &str,
    rate: U256,
    decimals: u8,
    places: u8,
) -> Result<U256, PriceError> {
    let price = to_base(price, PRICE_DECIMALS).map_err(PriceError::Price)?;
    // price / 10^8 / (rate / 10^18) * 10^decimals
    //   = price * 10^(decimals + 18 - 8) / rate
    let scale = U256::from(10u8).pow(U256::from(
        decimals as u32 + RATE_DECIMALS as u32 - PRICE_DECIMALS as u32,
    ));
    let num = price.checked_mul(scale).ok_or(PriceError::TooLarge)?;
    let mut base = num.div_ceil(rate);
    if places < decimals {
        let unit = U256::from(10u8).pow(U256::from((decimals - places) as u32));
        base = base
            .div_ceil(unit)
            .checked_mul(unit)
            .ok_or(PriceError::TooLarge)?;
    }
    Ok(base)
}

/// Why a price cannot be turned into an asset amount.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("price: {0}")]
    Price(#[source] crate::amount::AmountError),
    #[error("price: too large to convert")]
    TooLarge,
}

/// Why a rate source gave no figure.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("reading the answer: {0}")]
    Read(#[source] reqwest::Error),
    #[error("the answer is larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    #[error("the answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the answer has nothing at `{0}`")]
    Missing(String),
    #[error("`{pointer}` is {found}, not a number")]
    NotNumber { pointer: String, found: String },
    #[error("`{pointer}`: {source}")]
    Rate {
        pointer: String,
        source: crate::amount::AmountError,
    },
}

/// Why a pair has no usable rate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RateError {
    #[error("no exchange rate is configured for {0}; add a [[rate]] with pair = \"{0}\"")]
    NotConfigured(String),
    #[error("no usable exchange rate for {pair}: {reason}")]
    Unavailable { pair: String, reason: String },
}

/// The figure an invoice is priced with.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Quote {
    /// Currency per asset unit, a decimal.
    pub rate: String,
    /// The sources whose figures made the rate.
    pub sources: Vec<String>,
    /// Unix seconds of the oldest figure used.
    pub as_of: u64,
}

#[derive(Default)]
struct Reading {
    value: Option<U256>,
    /// Unix seconds of the last good fetch.
    at: u64,
    error: Option<String>,
}

struct Source {
    name: String,
    kind: RateSourceKind,
    reading: Mutex<Reading>,
}

struct Pair {
    cfg: RateConfig,
    sources: Vec<Source>,
}

/// A source's state for `/v1/status`.
#[derive(Serialize)]
pub struct SourceView {
    pub name: String,
    pub value: Option<String>,
    pub age_secs: Option<u64>,
    pub fresh: bool,
    /// Further than `max_spread` from the median of the fresh figures.
    pub outlier: bool,
    pub error: Option<String>,
}

/// A pair's state for `/v1/status`.
#[derive(Serialize)]
pub struct PairView {
    pub pair: String,
    pub rate: Option<String>,
    pub usable: bool,
    pub error: Option<String>,
    pub sources: Vec<SourceView>,
}

/// Every configured pair, with the latest figure from each source.
pub struct Rates {
    pairs: BTreeMap<(String, String), Arc<Pair>>,
}

impl Rates {
    pub fn new(configs: &[RateConfig]) -> Self {
        let now = now_secs();
        let pairs = configs
            .iter()
            .map(|c| {
                let sources = c
                    .sources
                    .iter()
                    .map(|s| {
                        let mut reading = Reading::default();
                        if let RateSourceKind::Fixed(f) = &s.kind {
                            reading.value = parse_rate(f).ok();
                            reading.at = now;
                        }
                        Source {
                            name: s.name.clone(),
                            kind: s.kind.clone(),
                            reading: Mutex::new(reading),
                        }
                    })
                    .collect();
                (
                    (c.asset.clone(), c.currency.clone()),
                    Arc::new(Pair {
                        cfg: c.clone(),
                        sources,
                    }),
                )
            })
            .collect();
        Rates { pairs }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether a rate for `asset`/`currency` is configured at all.
    pub fn has_pair(&self, asset: &str, currency: &str) -> bool {
        self.pairs
            .contains_key(&(asset.to_uppercase(), currency.to_uppercase()))
    }

    /// The current rate of `asset` in `currency`.
    pub fn quote(&self, asset: &str, currency: &str) -> Result<(U256, Quote), RateError> {
        let (asset, currency) = (asset.to_uppercase(), currency.to_uppercase());
        let pair = self
            .pairs
            .get(&(asset.clone(), currency.clone()))
            .ok_or_else(|| RateError::NotConfigured(format!("{asset}/{currency}")))?;
        let (result, _) = pair.evaluate(now_secs());
        result
    }

    /// Every pair's state.
    pub fn view(&self) -> Vec<PairView> {
        let now = now_secs();
        self.pairs
            .values()
            .map(|p| {
                let (result, sources) = p.evaluate(now);
                let (rate, error) = match result {
                    Ok((_, q)) => (Some(q.rate), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                PairView {
                    pair: p.cfg.pair(),
                    usable: rate.is_some(),
                    rate,
                    error,
                    sources,
                }
            })
            .collect()
    }

    /// Fetches every HTTP source on its refresh interval until `stop`.
    pub fn spawn(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let client = match reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("paywatch/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "cannot build the HTTP client for rate sources");
                return Vec::new();
            }
        };
        let mut tasks = Vec::new();
        for pair in self.pairs.values() {
            for i in 0..pair.sources.len() {
                if !matches!(pair.sources[i].kind, RateSourceKind::Http { .. }) {
                    continue;
                }
                let (pair, client, mut stop) = (pair.clone(), client.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        pair.refresh(i, &client).await;
                        tokio::select! {
                            _ = tokio::time::sleep(pair.cfg.refresh) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }));
            }
        }
        tasks
    }
}

impl Pair {
    /// The rate from the sources' current figures, and each source's state.
    fn evaluate(&self, now: u64) -> (Result<(U256, Quote), RateError>, Vec<SourceView>) {
        let max_age = self.cfg.max_age.as_secs();
        let readings: Vec<(Option<U256>, u64, Option<String>)> = self
            .sources
            .iter()
            .map(|s| {
                let r = s
                    .reading
                    .lock()
                    .expect("a rate reading lock is never poisoned");
                // A figure set in the config never ages.
                let at = match s.kind {
                    RateSourceKind::Fixed(_) => now,
                    RateSourceKind::Http { .. } => r.at,
                };
                (r.value, at, r.error.clone())
            })
            .collect();
        let fresh: Vec<(usize, U256)> = readings
            .iter()
            .enumerate()
            .filter_map(|(i, (v, at, _))| {
                v.filter(|_| now.saturating_sub(*at) <= max_age)
                    .map(|v| (i, v))
            })
            .collect();
        let mid = median(fresh.iter().map(|(_, v)| *v).collect());
        let outlier = |v: U256| {
            mid.is_some_and(|m| {
                let (v, m) = (to_f64(v), to_f64(m));
                ((v - m).abs() / m) * 100.0 > self.cfg.max_spread_percent
            })
        };
        let agreeing: Vec<(usize, U256)> = fresh
            .iter()
            .copied()
            .filter(|(_, v)| !outlier(*v))
            .collect();
        let views = self
            .sources
            .iter()
            .zip(&readings)
            .map(|(s, (v, at, err))| {
                let fresh = v.is_some() && now.saturating_sub(*at) <= max_age;
                SourceView {
                    name: s.name.clone(),
                    value: v.map(rate_text),
                    age_secs: v.map(|_| now.saturating_sub(*at)),
                    fresh,
                    outlier: fresh && v.is_some_and(outlier),
                    error: err.clone(),
                }
            })
            .collect();
        let pair = self.cfg.pair();
        let unavailable = |reason: String| RateError::Unavailable {
            pair: pair.clone(),
            reason,
        };
        let result = if fresh.is_empty() {
            Err(unavailable(format!(
                "no source has a figure younger than {max_age} s"
            )))
        } else if agreeing.len() * 2 <= fresh.len() {
            Err(unavailable(format!(
                "the sources disagree: only {} of {} fresh figures are within {}% of the median",
                agreeing.len(),
                fresh.len(),
                self.cfg.max_spread_percent
            )))
        } else if agreeing.len() < self.cfg.min_sources {
            Err(unavailable(format!(
                "{} source(s) agree within {}% of the median; {} needed",
                agreeing.len(),
                self.cfg.max_spread_percent,
                self.cfg.min_sources
            )))
        } else {
            let rate =
                median(agreeing.iter().map(|(_, v)| *v).collect()).expect("agreeing is not empty");
            Ok((
                rate,
                Quote {
                    rate: rate_text(rate),
                    sources: agreeing
                        .iter()
                        .map(|(i, _)| self.sources[*i].name.clone())
                        .collect(),
                    as_of: agreeing
                        .iter()
                        .map(|(i, _)| readings[*i].1)
                        .min()
                        .unwrap_or(now),
                },
            ))
        };
        (result, views)
    }

    /// Fetches source `i` once and records the figure or the error.
    async fn refresh(&self, i: usize, client: &reqwest::Client) {
        let source = &self.sources[i];
        let RateSourceKind::Http {
            url,
            pointer,
            headers,
        } = &source.kind
        else {
            return;
        };
        let pair = self.cfg.pair();
        let labels = [("pair", pair.clone()), ("source", source.name.clone())];
        let result = fetch(client, url, pointer, headers)
            .await
            .map_err(|e| e.to_string());
        let mut r = source
            .reading
            .lock()
            .expect("a rate reading lock is never poisoned");
        match result {
            Ok(v) => {
                if r.error.is_some() || r.value.is_none() {
                    info!(%pair, source = %source.name, rate = %rate_text(v), "rate source answering");
                }
                r.value = Some(v);
                r.at = now_secs();
                r.error = None;
                metrics::gauge!(crate::telemetry::RATE, &labels).set(to_f64(v));
                metrics::gauge!(crate::telemetry::RATE_UPDATED, &labels).set(r.at as f64);
            }
            Err(e) => {
                if r.error.as_deref() != Some(e.as_str()) {
                    warn!(%pair, source = %source.name, error = %e, "rate source failed");
                }
                r.error = Some(e);
                metrics::counter!(crate::telemetry::RATE_FAILURES, &labels).increment(1);
            }
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: &url::Url,
    pointer: &str,
    headers: &[(String, String)],
) -> Result<U256, FetchError> {
    let mut req = client.get(url.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(FetchError::Request)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    let body = resp.bytes().await.map_err(FetchError::Read)?;
    if body.len() > MAX_DOCUMENT {
        return Err(FetchError::TooLarge);
    }
    rate_from_document(&body, pointer)
}

/// The rate at `pointer` in a JSON document: a number or a numeric string.
pub fn rate_from_document(body: &[u8], pointer: &str) -> Result<U256, FetchError> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(FetchError::NotJson)?;
    let v = doc
        .pointer(pointer)
        .ok_or_else(|| FetchError::Missing(pointer.to_string()))?;
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => {
            return Err(FetchError::NotNumber {
                pointer: pointer.to_string(),
                found: other.to_string(),
            })
        }
    };
    parse_rate(&text).map_err(|source| FetchError::Rate {
        pointer: pointer.to_string(),
        source,
    })
}

fn median(mut v: Vec<U256>) -> Option<U256> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / U256::from(2u8)
    })
}

/// For comparing rates and for metrics only.
fn to_f64(v: U256) -> f64 {
    rate_text(v).parse().unwrap_or(f64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled(s: &str) -> U256 {
        parse_rate(s).unwrap()
    }

    #[test]
    fn rates_parse_exactly() {
        assert_eq!(rate_text(scaled("7.2")), "7.2");
        assert_eq!(rate_text(scaled("98000.12")), "98000.12");
        assert_eq!(rate_text(scaled("1e-7")), "0.0000001");
        assert_eq!(rate_text(scaled("1.5E3")), "1500");
        assert_eq!(rate_text(scaled(".5")), "0.5");
        // Past 18 decimals: rounded half up.
        assert_eq!(
            rate_text(scaled("0.0000000000000000015")),
            "0.000000000000000002"
        );
        for bad in [
            "",
            "-1",
            "abc",
            "1e",
            "1.2.3",
            "0",
            "0.0000000000000000001",
            "NaN",
            "1e999",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn prices_round_up_to_the_smallest_unit() {
        // 72 CNY at 7.2 CNY/USDT = 10 USDT exactly.
        assert_eq!(
            price_to_base("72", scaled("7.2"), 6, 6).unwrap(),
            U256::from(10_000_000u64)
        );
        // 100 CNY at 7.3 = 13.698630136… USDT → 13.698631 (up, not 13.69863).
        assert_eq!(
            price_to_base("100", scaled("7.3"), 6, 6).unwrap(),
            U256::from(13_698_631u64)
        );
        // Epusdt's four decimals: 28.88 / 7.3 = 3.956164… → 3.9562.
        assert_eq!(
            price_to_base("28.88", scaled("7.3"), 6, 4).unwrap(),
            U256::from(3_956_200u64)
        );
        // 199 USD at 98000.12 USD/BTC = 0.00203060979… BTC → 203061 sat.
        assert_eq!(
            price_to_base("199.00", scaled("98000.12"), 8, 8).unwrap(),
            U256::from(203_061u64)
        );
        // Never below the price: amount × rate ≥ price for awkward rates.
        for (price, rate) in [
            ("0.01", "3333.333333"),
            ("1", "0.000007"),
            ("123.45", "1.000001"),
        ] {
            let base = price_to_base(price, scaled(rate), 6, 6).unwrap();
            let paid = base * scaled(rate); // 10^(6+18)
            let want = to_base(price, 8).unwrap() * U256::from(10u64).pow(U256::from(16u8));
            assert!(paid >= want, "{price} at {rate}");
            assert!(
                paid - want < scaled(rate),
                "{price} at {rate}: more than one unit over"
            );
        }
        assert!(price_to_base("-1", scaled("7"), 6, 6).is_err());
        assert!(price_to_base("1.000000001", scaled("7"), 6, 6).is_err());
    }

    fn pair(values: &[(&str, Option<&str>, u64)], min_sources: usize) -> Pair {
        let cfg = RateConfig {
            asset: "ETH".into(),
            currency: "USD".into(),
            sources: Vec::new(),
            max_age: Duration::from_secs(60),
            max_spread_percent: 2.0,
            min_sources,
            refresh: Duration::from_secs(10),
        };
        Pair {
            cfg,
            sources: values
                .iter()
                .map(|(name, v, at)| Source {
                    name: name.to_string(),
                    kind: if *name == "fixed" {
                        RateSourceKind::Fixed(String::new())
                    } else {
                        RateSourceKind::Http {
                            url: "http://127.0.0.1:1/".parse().unwrap(),
                            pointer: String::new(),
                            headers: Vec::new(),
                        }
                    },
                    reading: Mutex::new(Reading {
                        value: v.map(scaled),
                        at: *at,
                        error: None,
                    }),
                })
                .collect(),
        }
    }

    #[test]
    fn the_median_of_agreeing_fresh_sources_prices() {
        let now = 1000;
        // One source lies by 10×: it is set aside, the other two agree.
        let p = pair(
            &[
                ("a", Some("3000"), now),
                ("b", Some("3010"), now),
                ("liar", Some("30000"), now),
            ],
            2,
        );
        let (rate, q) = p.evaluate(now).0.unwrap();
        assert_eq!(rate_text(rate), "3005");
        assert_eq!(q.sources, ["a", "b"]);
        let (_, views) = p.evaluate(now);
        assert!(views[2].outlier && !views[0].outlier);
        // A stale figure is not used.
        let p = pair(
            &[("a", Some("3000"), now - 61), ("b", Some("3010"), now)],
            2,
        );
        let e = p.evaluate(now).0.unwrap_err().to_string();
        assert!(
            e.contains("1 source(s) agree") && e.contains("2 needed"),
            "{e}"
        );
        let p = pair(&[("a", Some("3000"), now - 61)], 1);
        assert!(p
            .evaluate(now)
            .0
            .unwrap_err()
            .to_string()
            .contains("younger than 60 s"));
        // Two sources that disagree: no majority, no rate.
        let p = pair(&[("a", Some("3000"), now), ("b", Some("4000"), now)], 1);
        assert!(p
            .evaluate(now)
            .0
            .unwrap_err()
            .to_string()
            .contains("disagree"));
        // Never fetched.
        let p = pair(&[("a", None, 0)], 1);
        assert!(p.evaluate(now).0.is_err());
        // A fixed figure (set at start, long ago) is always current.
        let p = pair(&[("fixed", Some("7.2"), 0)], 1);
        assert_eq!(p.evaluate(now + 86_400).0.unwrap().1.as_of, now + 86_400);
    }

    #[test]
    fn documents_give_their_number() {
        let doc = br#"{"data":{"amount":"3012.45","n":7.25,"x":[1]}}"#;
        assert_eq!(
            rate_text(rate_from_document(doc, "/data/amount").unwrap()),
            "3012.45"
        );
        assert_eq!(
            rate_text(rate_from_document(doc, "/data/n").unwrap()),
            "7.25"
        );
        assert!(rate_from_document(doc, "/data/x")
            .unwrap_err()
            .to_string()
            .contains("not a number"));
        assert!(rate_from_document(doc, "/nope")
            .unwrap_err()
            .to_string()
            .contains("nothing at"));
        assert!(rate_from_document(b"<html>", "/a")
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
    }
}
