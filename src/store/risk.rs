//! Risk screening's state, family `risk` (`C` is the chain name and a zero
//! byte, `K` an address key with its length as `u16`):
//!
//! | key                          | value                                    |
//! |------------------------------|------------------------------------------|
//! | `h C K`                      | the watched address's past counterparties |
//! | `f C K contract`             | [`FrozenRecord`] JSON: frozen now        |
//! | `z C height n`               | [`Undo`] JSON: the blacklist change `n` of the block at `height` |
//!
//! The `z` rows let a reorg put the frozen set back as it was; they are kept
//! as long as the block's header.

use super::{chain_prefix, corrupt, height_key, prefix_end, Store, StoreError};
use crate::address::AddressKey;
use crate::transfer::{Freeze, FreezeChange, Hash32};
use rocksdb::{IteratorMode, ReadOptions, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(super) const CF_RISK: &str = "risk";

/// An address a listed token's issuer has frozen, as `/v1/risk/frozen`
/// lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrozenRecord {
    pub address: String,
    /// Hex of the address key (to load the in-memory set).
    pub address_key: String,
    pub asset: String,
    pub contract: String,
    /// Hex of the contract's key.
    pub contract_key: String,
    /// Where the issuer froze it.
    pub height: u64,
    pub txid: Hash32,
}

/// How to undo one blacklist change: the row it changed and what was there.
#[derive(Serialize, Deserialize)]
struct Undo {
    /// Hex of the `f` key.
    key: String,
    /// The value before, hex; `None`: no row.
    before: Option<String>,
}

fn affixed(tag: u8, chain: &str) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(&chain_prefix(chain));
    k
}

fn with_key(mut k: Vec<u8>, key: &[u8]) -> Vec<u8> {
    k.extend_from_slice(&(key.len() as u16).to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn history_key(chain: &str, addr: &[u8]) -> Vec<u8> {
    with_key(affixed(b'h', chain), addr)
}

fn frozen_key(chain: &str, addr: &[u8], contract: &[u8]) -> Vec<u8> {
    let mut k = with_key(affixed(b'f', chain), addr);
    k.extend_from_slice(contract);
    k
}

fn undo_key(chain: &str, height: u64, n: u32) -> Vec<u8> {
    let mut k = vec![b'z'];
    k.extend_from_slice(&height_key(chain, height));
    k.extend_from_slice(&n.to_be_bytes());
    k
}

impl Store {
    /// The record of past counterparties of a watched address.
    pub fn risk_history(&self, chain: &str, addr: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_RISK), history_key(chain, addr))?)
    }

    /// The records of past counterparties of several watched addresses, in
    /// one read.
    pub fn risk_histories(
        &self,
        chain: &str,
        addrs: &[&AddressKey],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys: Vec<Vec<u8>> = addrs
            .iter()
            .map(|a| history_key(chain, a.as_bytes()))
            .collect();
        self.db
            .batched_multi_get_cf(self.cf(CF_RISK), keys.iter().map(|k| k.as_slice()), false)
            .into_iter()
            .map(|r| Ok(r?.map(|v| v.to_vec())))
            .collect()
    }

    /// Every address of `chain` frozen now, by address.
    pub fn frozen(&self, chain: &str) -> Result<Vec<FrozenRecord>, StoreError> {
        let prefix = affixed(b'f', chain);
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_RISK, &prefix) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt("frozen address", e))?);
        }
        Ok(out)
    }

    /// Adds to `batch` the new records of past counterparties and the
    /// blacklist changes of the block at `height`, each with its undo row;
    /// drops the undo rows of the block that leaves the kept window. Returns
    /// the positions of the changes recorded for the first time (a rescan
    /// of a block repeats none).
    pub(super) fn stage_risk(
        &self,
        batch: &mut WriteBatch,
        chain: &str,
        height: u64,
        keep: u64,
        history: &[(AddressKey, Vec<u8>)],
        freezes: &[Freeze],
    ) -> Result<Vec<usize>, StoreError> {
        let cf = self.cf(CF_RISK);
        let mut new = Vec::new();
        for (addr, record) in history {
            batch.put_cf(cf, history_key(chain, addr.as_bytes()), record);
        }
        if height >= keep {
            let old = height - keep;
            batch.delete_range_cf(cf, undo_key(chain, old, 0), undo_key(chain, old + 1, 0));
        }
        // The block's earlier changes, for a later change of the same row.
        let mut seen: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        for (n, f) in freezes.iter().enumerate() {
            let key = frozen_key(chain, f.address.as_bytes(), f.contract.as_bytes());
            let before = match seen.get(&key) {
                Some(v) => v.clone(),
                None => self.db.get_cf(cf, &key)?,
            };
            let after = match f.change {
                FreezeChange::Unfrozen => None,
                FreezeChange::Frozen | FreezeChange::Destroyed(_) => match &before {
                    Some(v) => Some(v.clone()),
                    None => Some(
                        serde_json::to_vec(&FrozenRecord {
                            address: f.address_display.clone(),
                            address_key: hex::encode(f.address.as_bytes()),
                            asset: f.asset.symbol.clone(),
                            contract: f.asset.contract.clone().unwrap_or_default(),
                            contract_key: hex::encode(f.contract.as_bytes()),
                            height,
                            txid: f.txid,
                        })
                        .expect("a frozen record always serializes"),
                    ),
                },
            };
            // A block scanned again keeps the undo row of its first commit.
            let uk = undo_key(chain, height, n as u32);
            if self.db.get_pinned_cf(cf, &uk)?.is_none() {
                let undo = Undo {
                    key: hex::encode(&key),
                    before: before.as_ref().map(hex::encode),
                };
                batch.put_cf(
                    cf,
                    uk,
                    serde_json::to_vec(&undo).expect("an undo row always serializes"),
                );
                new.push(n);
            }
            match &after {
                Some(v) => batch.put_cf(cf, &key, v),
                None => batch.delete_cf(cf, &key),
            }
            seen.insert(key, after);
        }
        Ok(new)
    }

    /// Adds to `batch` what undoes the blacklist changes of `chain`'s blocks
    /// from height `from` on, newest first; returns how many there were.
    pub(super) fn stage_risk_rewind(
        &self,
        batch: &mut WriteBatch,
        chain: &str,
        from: u64,
    ) -> Result<usize, StoreError> {
        let cf = self.cf(CF_RISK);
        let prefix = affixed(b'z', chain);
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(undo_key(chain, from, 0));
        ro.set_iterate_upper_bound(prefix_end(&prefix));
        let mut n = 0;
        for item in self.db.iterator_cf_opt(cf, ro, IteratorMode::End) {
            let (k, v) = item?;
            let undo: Undo = serde_json::from_slice(&v).map_err(|e| corrupt("risk undo", e))?;
            let key = hex::decode(&undo.key).map_err(|e| corrupt("risk undo", e))?;
            match undo.before {
                Some(b) => {
                    let b = hex::decode(b).map_err(|e| corrupt("risk undo", e))?;
                    batch.put_cf(cf, &key, b);
                }
                None => batch.delete_cf(cf, &key),
            }
            batch.delete_cf(cf, &k);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlockCommit;
    use crate::transfer::Asset;

    fn freeze(n: u8, change: FreezeChange) -> Freeze {
        Freeze {
            contract: AddressKey::Evm([0xdd; 20]),
            address: AddressKey::Evm([n; 20]),
            address_display: format!("0x{}", hex::encode([n; 20])),
            change,
            asset: Asset {
                symbol: "USDT".into(),
                decimals: 6,
                contract: Some(format!("0x{}", hex::encode([0xdd; 20]))),
            },
            txid: Hash32::new([n; 32]),
            index: 1,
            watch: None,
        }
    }

    fn commit(store: &Store, height: u64, freezes: &[Freeze]) -> Vec<usize> {
        let rows = store
            .stage_block(BlockCommit {
                chain: "eth",
                height,
                hash: Hash32::new([height as u8; 32]),
                transfers: Vec::new(),
                confirm_upto: None,
                keep_headers: 10,
                history: Vec::new(),
                freezes,
            })
            .unwrap();
        store.write_rows(rows, Vec::new()).unwrap().0.new_freezes
    }

    fn frozen(store: &Store) -> Vec<String> {
        store
            .frozen("eth")
            .unwrap()
            .into_iter()
            .map(|r| r.address)
            .collect()
    }

    #[test]
    fn a_reorg_puts_the_frozen_set_back_and_a_rescan_repeats_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (
            freeze(1, FreezeChange::Frozen),
            freeze(2, FreezeChange::Frozen),
        );
        assert_eq!(commit(&store, 10, &[a.clone(), b.clone()]), [0, 1]);
        assert_eq!(
            frozen(&store),
            [a.address_display.clone(), b.address_display.clone()]
        );
        // Scanned again: recorded already, nothing new to tell.
        assert!(commit(&store, 10, &[a.clone(), b.clone()]).is_empty());
        // Released, burned, frozen again within blocks 11 and 12.
        commit(&store, 11, &[freeze(1, FreezeChange::Unfrozen)]);
        commit(
            &store,
            12,
            &[
                freeze(2, FreezeChange::Destroyed(5u64.into())),
                freeze(3, FreezeChange::Frozen),
            ],
        );
        assert_eq!(frozen(&store).len(), 2);
        let mut batch = WriteBatch::default();
        assert_eq!(store.stage_risk_rewind(&mut batch, "eth", 11).unwrap(), 3);
        store.db.write(batch).unwrap();
        assert_eq!(frozen(&store), [a.address_display, b.address_display]);
        let mut batch = WriteBatch::default();
        store.stage_risk_rewind(&mut batch, "eth", 0).unwrap();
        store.db.write(batch).unwrap();
        assert!(frozen(&store).is_empty());
    }
}
