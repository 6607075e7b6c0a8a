//! Risk screening: the flags each matched transfer carries, decided when its
//! block is committed from what paywatch already has, with no network call.
//!
//! - `zero_value`, `dust`: the amount against the asset's threshold.
//! - `lookalike`: a counterparty the watched address never dealt with that
//!   shares the first and last characters of one it did. Each watched
//!   address keeps a record of its last [`HISTORY_LEN`] clean counterparties
//!   in the store (24 bytes each, at most 1.5 KiB per address; nothing in
//!   memory).
//! - `frozen_sender`, `frozen_address`: the blacklists of the listed tokens,
//!   followed from their logs in the same block scan ([`Freeze`]), kept in
//!   the store and, for lookups, in memory.
//! - `sanctioned`: the operator's list ([`Sanctions`]).
//! - `contract_sender` is set by the decoders, which see who sent the
//!   transaction.

pub mod sanctions;

use crate::address::AddressKey;
use crate::amount::Amount;
use crate::config::RiskConfig;
use crate::store::{Store, StoreError};
use crate::transfer::{Direction, Freeze, FreezeChange, Risk, RiskFlag, Transfer};
use sanctions::{ListFormat, SanctionsError, SanctionsList};
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Counterparties a watched address's record keeps, most recent first.
pub const HISTORY_LEN: usize = 64;
/// Bytes of one record entry: a hash of the address, its first and its last
/// [`crate::config::MAX_AFFIX`] significant characters.
const ENTRY: usize = 24;
const AFFIX: usize = crate::config::MAX_AFFIX;

/// The characters of an address that tell it apart, lower-cased where the
/// form is case-insensitive: without `0x` (EVM), the leading `T` (TRON), or
/// a bech32 address's human-readable part, separator and witness version.
pub fn significant(address: &str) -> String {
    if let Some(hex) = address.strip_prefix("0x") {
        return hex.to_ascii_lowercase();
    }
    if address.len() == 34 && address.starts_with('T') {
        return address[1..].to_string();
    }
    let lower = address.to_ascii_lowercase();
    for hrp in ["bc1", "tb1", "bcrt1"] {
        if let Some(rest) = lower.strip_prefix(hrp) {
            return rest.get(1..).unwrap_or_default().to_string();
        }
    }
    address.to_string()
}

/// One counterparty as a watched address's record keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry([u8; ENTRY]);

impl Entry {
    fn of(address: &str) -> Entry {
        let s = significant(address);
        let mut e = [0u8; ENTRY];
        e[..8].copy_from_slice(&sha2::Sha256::digest(s.as_bytes())[..8]);
        let b = s.as_bytes();
        let head = &b[..b.len().min(AFFIX)];
        e[8..8 + head.len()].copy_from_slice(head);
        let tail = &b[b.len().saturating_sub(AFFIX)..];
        e[ENTRY - tail.len()..].copy_from_slice(tail);
        Entry(e)
    }

    fn same(&self, other: &Entry) -> bool {
        self.0[..8] == other.0[..8]
    }

    /// The same first `prefix` and last `suffix` characters.
    fn looks_like(&self, other: &Entry, prefix: usize, suffix: usize) -> bool {
        self.0[8..8 + prefix] == other.0[8..8 + prefix]
            && self.0[ENTRY - suffix..] == other.0[ENTRY - suffix..]
    }
}

/// A watched address's past counterparties, most recent first.
#[derive(Default)]
struct History(Vec<Entry>);

impl History {
    fn decode(bytes: &[u8]) -> History {
        History(
            bytes
                .chunks_exact(ENTRY)
                .take(HISTORY_LEN)
                .map(|c| Entry(c.try_into().expect("chunks are ENTRY bytes")))
                .collect(),
        )
    }

    fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|e| e.0).collect()
    }

    /// Whether `e` is new to the record but looks like one in it.
    fn lookalike(&self, e: &Entry, prefix: usize, suffix: usize) -> bool {
        !self.0.iter().any(|x| x.same(e)) && self.0.iter().any(|x| x.looks_like(e, prefix, suffix))
    }

    /// Puts `e` first; false when it was first already.
    fn remember(&mut self, e: Entry) -> bool {
        if self.0.first().is_some_and(|f| f.same(&e)) {
            return false;
        }
        self.0.retain(|x| !x.same(&e));
        self.0.insert(0, e);
        self.0.truncate(HISTORY_LEN);
        true
    }
}

/// The sanctions list in force, reloaded when its file changes.
pub struct Sanctions {
    file: Option<PathBuf>,
    state: RwLock<SanctionsState>,
}

#[derive(Clone, Default)]
struct SanctionsState {
    list: Arc<SanctionsList>,
    /// When the list in force was read (Unix seconds).
    loaded_at: Option<u64>,
    /// The file's modification time when it was read.
    modified: Option<SystemTime>,
    /// The last reload's error, while the previous list stays in force.
    error: Option<String>,
}

/// The sanctions list as `/v1/status` shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SanctionsStatus {
    pub file: String,
    pub format: Option<ListFormat>,
    pub addresses: usize,
    /// Listed addresses of chains paywatch does not follow.
    pub other_chains: usize,
    /// Addresses an SDN CSV cut short at its 1,000-character remarks limit,
    /// left out (the XML forms list them whole).
    pub truncated: usize,
    pub loaded_at: Option<u64>,
    /// The file's modification time (Unix seconds) when it was read.
    pub file_modified_at: Option<u64>,
    /// The last reload's error, while the previous list stays in force.
    pub error: Option<String>,
}

fn unix(t: SystemTime) -> Option<u64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

impl Sanctions {
    /// No list.
    pub fn none() -> Arc<Sanctions> {
        Arc::new(Sanctions {
            file: None,
            state: RwLock::new(SanctionsState::default()),
        })
    }

    /// Reads `file`; an unreadable or invalid file is an error naming it.
    pub fn load(file: Option<PathBuf>) -> Result<Arc<Sanctions>, String> {
        let s = Sanctions {
            file,
            state: RwLock::new(SanctionsState::default()),
        };
        if s.file.is_some() {
            s.reload()?;
        }
        Ok(Arc::new(s))
    }

    /// Reads the file again if it changed since it was read (or
    /// `force`); on an error the list in force stays and the error is kept
    /// for the status. True when a new list is in force.
    pub fn reload_if_changed(&self, force: bool) -> Result<bool, String> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
        let known = self.read().modified;
        if !force && modified.is_some() && modified == known {
            return Ok(false);
        }
        self.reload().map(|_| true)
    }

    fn reload(&self) -> Result<(), String> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let read = || -> Result<(SanctionsList, Option<SystemTime>), String> {
            let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
            if meta.len() > sanctions::MAX_FILE_BYTES {
                return Err(SanctionsError::TooLarge {
                    size: meta.len(),
                    max: sanctions::MAX_FILE_BYTES,
                }
                .to_string());
            }
            let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
            let list = SanctionsList::parse(&bytes).map_err(|e| e.to_string())?;
            Ok((list, meta.modified().ok()))
        };
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        match read() {
            Ok((list, modified)) => {
                tracing::info!(file = %file.display(), addresses = list.len(), format = ?list.format(), "sanctions list loaded");
                *st = SanctionsState {
                    list: Arc::new(list),
                    loaded_at: Some(crate::clock::now_secs()),
                    modified,
                    error: None,
                };
                Ok(())
            }
            Err(e) => {
                let e = format!("risk.sanctions_file {}: {e}", file.display());
                tracing::error!(error = %e, "sanctions list not reloaded; the previous list stays in force");
                st.error = Some(e.clone());
                Err(e)
            }
        }
    }

    fn read(&self) -> SanctionsState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `address` is listed.
    pub fn contains(&self, address: &str) -> bool {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        !st.list.is_empty() && st.list.contains(address)
    }

    pub fn status(&self) -> Option<SanctionsStatus> {
        let file = self.file.as_ref()?;
        let st = self.read();
        Some(SanctionsStatus {
            file: file.display().to_string(),
            format: st.list.format(),
            addresses: st.list.len(),
            other_chains: st.list.skipped(),
            truncated: st.list.truncated(),
            loaded_at: st.loaded_at,
            file_modified_at: st.modified.and_then(unix),
            error: st.error,
        })
    }

    /// Reloads the list on SIGHUP (`systemctl reload`) and when the file
    /// changes (checked every `every`), until `shutdown`. SIGHUP never
    /// stops the daemon, with a list or without.
    pub async fn follow(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).ok();
        loop {
            let forced = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            if self.file.is_none() {
                if forced {
                    tracing::info!("SIGHUP: no sanctions list to read again");
                }
                continue;
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.reload_if_changed(forced)).await;
        }
    }
}

/// What every chain's screen shares: the `[risk]` config and the sanctions
/// list.
#[derive(Clone)]
pub struct RiskSetup {
    pub cfg: RiskConfig,
    pub sanctions: Arc<Sanctions>,
}

impl RiskSetup {
    /// A screen for `chain`, with the dust thresholds of its assets.
    pub fn screen(
        &self,
        chain: &crate::config::ChainConfig,
        store: &Arc<Store>,
    ) -> Result<Screen, StoreError> {
        use crate::config::ChainKind;
        let assets: Vec<(String, u8)> = match &chain.kind {
            ChainKind::Bitcoin(_) => vec![("BTC".into(), 8)],
            ChainKind::Evm(e) => std::iter::once((e.native_symbol.clone(), 18))
                .chain(e.tokens.iter().map(|t| (t.symbol.clone(), t.decimals)))
                .collect(),
            ChainKind::Tron(t) => std::iter::once(("TRX".to_string(), 6))
                .chain(t.tokens.iter().map(|t| (t.symbol.clone(), t.decimals)))
                .collect(),
        };
        Screen::new(
            &chain.name,
            self.cfg.clone(),
            &assets,
            self.sanctions.clone(),
            store.clone(),
        )
    }
}

/// What screening looks at in a transfer (or a mempool output).
pub struct Probe<'a> {
    pub direction: Direction,
    pub address: &'a str,
    /// The watched address's key bytes.
    pub address_key: &'a [u8],
    pub counterparty: Option<&'a str>,
    pub asset: &'a crate::transfer::Asset,
    pub amount: Amount,
    /// Flags already set (by the decoder).
    pub risk: Risk,
}

impl<'a> Probe<'a> {
    pub fn of(t: &'a Transfer) -> Probe<'a> {
        Probe {
            direction: t.direction,
            address: &t.address,
            address_key: t.address_key.as_bytes(),
            counterparty: t.counterparty.as_deref(),
            asset: &t.asset,
            amount: t.amount,
            risk: t.risk.clone(),
        }
    }
}

/// Screens one chain's transfers.
pub struct Screen {
    chain: String,
    cfg: RiskConfig,
    /// Dust thresholds of the chain's assets: symbol, decimals, threshold.
    dust: Vec<(String, u8, Option<Amount>)>,
    sanctions: Arc<Sanctions>,
    /// Frozen addresses (significant form) and the tokens that froze them.
    frozen: HashMap<String, Vec<String>>,
    store: Arc<Store>,
}

impl Screen {
    /// A screen for `chain` whose assets are `assets` (symbol, decimals);
    /// the frozen set is read from the store.
    pub fn new(
        chain: &str,
        cfg: RiskConfig,
        assets: &[(String, u8)],
        sanctions: Arc<Sanctions>,
        store: Arc<Store>,
    ) -> Result<Screen, StoreError> {
        let dust = assets
            .iter()
            .map(|(s, d)| (s.clone(), *d, cfg.dust_of(s, *d)))
            .collect();
        let mut s = Screen {
            chain: chain.to_string(),
            cfg,
            dust,
            sanctions,
            frozen: HashMap::new(),
            store,
        };
        s.reload_frozen()?;
        Ok(s)
    }

    pub fn report_dust(&self) -> bool {
        self.cfg.report_dust
    }

    /// Reads the frozen set again (after a reorg undid blacklist changes).
    pub fn reload_frozen(&mut self) -> Result<(), StoreError> {
        self.frozen.clear();
        for r in self.store.frozen(&self.chain)? {
            freeze(&mut self.frozen, &r.address, &r.contract, true);
        }
        Ok(())
    }

    fn frozen_by<'a>(
        frozen: &'a HashMap<String, Vec<String>>,
        address: &str,
    ) -> Option<&'a Vec<String>> {
        if frozen.is_empty() {
            return None;
        }
        frozen
            .get(&significant(address))
            .filter(|by| !by.is_empty())
    }

    fn dust_of(&self, symbol: &str, decimals: u8) -> Option<Amount> {
        let known = self
            .dust
            .iter()
            .find(|(s, d, _)| *d == decimals && s.eq_ignore_ascii_case(symbol));
        match known {
            Some((_, _, threshold)) => *threshold,
            None => self.cfg.dust_of(symbol, decimals),
        }
    }

    /// The flags of a transfer that need no record: amount, sanctions and
    /// the frozen set `frozen`.
    fn stateless(&self, t: &Probe<'_>, frozen: &HashMap<String, Vec<String>>) -> Risk {
        let mut risk = t.risk.clone();
        if t.amount.is_zero() {
            risk.set(RiskFlag::ZeroValue);
        } else if self
            .dust_of(&t.asset.symbol, t.asset.decimals)
            .is_some_and(|d| t.amount < d)
        {
            risk.set(RiskFlag::Dust);
        }
        if let Some(c) = t.counterparty {
            if self.sanctions.contains(c) {
                risk.set(RiskFlag::Sanctioned);
            }
            if t.direction == Direction::In && Self::frozen_by(frozen, c).is_some() {
                risk.set(RiskFlag::FrozenSender);
            }
        }
        if t.direction == Direction::In {
            if let (Some(by), Some(contract)) =
                (Self::frozen_by(frozen, t.address), &t.asset.contract)
            {
                if by.contains(contract) {
                    risk.set(RiskFlag::FrozenAddress);
                }
            }
        }
        risk
    }

    /// Sets the flags of a block's `transfers`, in order, with the block's
    /// blacklist changes `freezes` applied first; returns the watched
    /// addresses' new records of counterparties, for the block's batch.
    pub fn screen(
        &self,
        transfers: &mut [Transfer],
        freezes: &[Freeze],
    ) -> Result<Vec<(AddressKey, Vec<u8>)>, StoreError> {
        if !self.cfg.enabled {
            return Ok(Vec::new());
        }
        let mut frozen = std::borrow::Cow::Borrowed(&self.frozen);
        if !freezes.is_empty() {
            let mut own = self.frozen.clone();
            apply_freezes(&mut own, freezes);
            frozen = std::borrow::Cow::Owned(own);
        }
        // The records of every address with a counterparty, in one read.
        let mut records: foldhash::HashMap<&AddressKey, (History, bool)> = Default::default();
        for t in transfers.iter().filter(|t| t.counterparty.is_some()) {
            records.entry(&t.address_key).or_default();
        }
        let keys: Vec<&AddressKey> = records.keys().copied().collect();
        let read = self.store.risk_histories(&self.chain, &keys)?;
        for (k, bytes) in keys.iter().zip(read) {
            if let (Some(rec), Some(b)) = (records.get_mut(k), bytes) {
                rec.0 = History::decode(&b);
            }
        }
        let mut flags = Vec::with_capacity(transfers.len());
        for t in transfers.iter() {
            let mut risk = self.stateless(&Probe::of(t), &frozen);
            let Some(c) = &t.counterparty else {
                flags.push(risk);
                continue;
            };
            let rec = records
                .get_mut(&t.address_key)
                .expect("every address with a counterparty has a record");
            let entry = Entry::of(c);
            if rec
                .0
                .lookalike(&entry, self.cfg.lookalike_prefix, self.cfg.lookalike_suffix)
            {
                risk.set(RiskFlag::Lookalike);
            }
            if !risk.alerts() && rec.0.remember(entry) {
                rec.1 = true;
            }
            flags.push(risk);
        }
        let changed = records
            .into_iter()
            .filter(|(_, (_, changed))| *changed)
            .map(|(k, (h, _))| (k.clone(), h.encode()))
            .collect();
        for (t, risk) in transfers.iter_mut().zip(flags) {
            t.risk = risk;
        }
        Ok(changed)
    }

    /// The flags of a mempool transaction's output: amount, sanctions,
    /// frozen set and look-alikes, without changing any record.
    pub fn peek(&self, t: &Probe<'_>) -> Result<Risk, StoreError> {
        if !self.cfg.enabled {
            return Ok(Risk::default());
        }
        let mut risk = self.stateless(t, &self.frozen);
        if let Some(c) = t.counterparty {
            let h = self
                .store
                .risk_history(&self.chain, t.address_key)?
                .map(|b| History::decode(&b))
                .unwrap_or_default();
            if h.lookalike(
                &Entry::of(c),
                self.cfg.lookalike_prefix,
                self.cfg.lookalike_suffix,
            ) {
                risk.set(RiskFlag::Lookalike);
            }
        }
        Ok(risk)
    }

    /// Takes in what a committed block changed: its blacklist changes, and
    /// its transfers' flags counted.
    pub fn committed(&mut self, transfers: &[Transfer], freezes: &[Freeze]) {
        apply_freezes(&mut self.frozen, freezes);
        count_flags(&self.chain, transfers.iter().map(|t| &t.risk));
    }
}

/// Records in `frozen` (by significant address) that `contract`'s issuer
/// froze `address`, or released it.
fn freeze(frozen: &mut HashMap<String, Vec<String>>, address: &str, contract: &str, on: bool) {
    let by = frozen.entry(significant(address)).or_default();
    by.retain(|c| c != contract);
    if on {
        by.push(contract.to_string());
    }
}

/// Applies a block's blacklist changes to `frozen`, in order.
fn apply_freezes(frozen: &mut HashMap<String, Vec<String>>, freezes: &[Freeze]) {
    for f in freezes {
        let contract = f.asset.contract.as_deref().unwrap_or_default();
        freeze(
            frozen,
            &f.address_display,
            contract,
            f.change != FreezeChange::Unfrozen,
        );
    }
}

/// Adds each flag to `paywatch_risk_flags_total`.
pub fn count_flags<'a>(chain: &str, risks: impl Iterator<Item = &'a Risk>) {
    for r in risks {
        for f in &r.flags {
            metrics::counter!(crate::telemetry::RISK_FLAGS, "chain" => chain.to_string(), "flag" => f.name())
                .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_characters_skip_what_every_address_of_the_form_shares() {
        assert_eq!(
            significant("0xdAC17F958D2ee523a2206206994597C13D831ec7"),
            "dac17f958d2ee523a2206206994597c13d831ec7"
        );
        assert_eq!(
            significant("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            "R7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
        );
        assert_eq!(
            significant("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
            "ar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
        );
        assert_eq!(
            significant("1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
            "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
        );
    }

    #[test]
    fn a_lookalike_shares_the_ends_and_is_not_the_address() {
        let real = Entry::of("0x1234aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5678");
        let fake = Entry::of("0x1234bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb5678");
        let other = Entry::of("0x9999bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb5678");
        assert!(!real.same(&fake));
        assert!(real.looks_like(&fake, 4, 4));
        assert!(!real.looks_like(&fake, 5, 4));
        assert!(!real.looks_like(&other, 4, 4));
        assert!(real.same(&Entry::of("0x1234AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA5678")));
    }

    #[test]
    fn a_record_keeps_the_most_recent_counterparties() {
        let mut h = History::default();
        for i in 0..HISTORY_LEN + 10 {
            assert!(h.remember(Entry::of(&format!("0x{i:040x}"))));
        }
        assert_eq!(h.0.len(), HISTORY_LEN);
        assert!(!h.remember(Entry::of(&format!("0x{:040x}", HISTORY_LEN + 9))));
        let back = History::decode(&h.encode());
        assert_eq!(back.0.len(), HISTORY_LEN);
        assert!(back.0[0].same(&Entry::of(&format!("0x{:040x}", HISTORY_LEN + 9))));
        assert!(h.encode().len() <= HISTORY_LEN * ENTRY);
    }
}
