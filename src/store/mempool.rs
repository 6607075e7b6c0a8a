//! Unconfirmed transactions paying watched addresses, kept so that a
//! restart neither forgets one (its replacement, double spend or eviction
//! must still be reported) nor reports it twice. An entry and the events it
//! causes are written in one batch.
//!
//! | family    | key              | value                   |
//! |-----------|------------------|-------------------------|
//! | `mempool` | `chain 0 txid`   | the tracked transaction |

use super::{corrupt, Store, StoreError};
use rocksdb::{Direction as IterDirection, IteratorMode, WriteBatch};
use serde::{de::DeserializeOwned, Serialize};

pub(super) const CF_MEMPOOL: &str = "mempool";

fn key(chain: &str, txid: &[u8; 32]) -> Vec<u8> {
    [chain.as_bytes(), b"\0", &txid[..]].concat()
}

impl Store {
    /// Every tracked transaction of `chain`.
    pub fn mempool_entries<T: DeserializeOwned>(&self, chain: &str) -> Result<Vec<T>, StoreError> {
        let prefix = [chain.as_bytes(), b"\0"].concat();
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_MEMPOOL),
            IteratorMode::From(&prefix, IterDirection::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt("mempool entry", e))?);
        }
        Ok(out)
    }

    /// Writes (`Some`) or removes (`None`) tracked transactions and appends
    /// `events`, in one batch.
    pub fn mempool_update<T: Serialize>(
        &self,
        chain: &str,
        changes: &[([u8; 32], Option<&T>)],
        events: Vec<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (txid, entry) in changes {
            match entry {
                Some(e) => batch.put_cf(
                    self.cf(CF_MEMPOOL),
                    key(chain, txid),
                    serde_json::to_vec(e).expect("a mempool entry serializes"),
                ),
                None => batch.delete_cf(self.cf(CF_MEMPOOL), key(chain, txid)),
            }
        }
        self.write_with_events(batch, events)?;
        Ok(())
    }
}
