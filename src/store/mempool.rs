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
        events: Vec<crate::event::MempoolEvent>,
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

#[cfg(test)]
mod tests {
    use crate::event::{EventType, MempoolEvent, MempoolFlags, MempoolStatus};
    use crate::store::OutboxEvent;
    use crate::transfer::{Asset, Direction, Hash32, WatchRef};

    /// Mempool events were written as JSON objects with their keys sorted at
    /// every level, `conflicting_txid` null when the node no longer told
    /// the spender; the typed event is stored in exactly those bytes (and
    /// the sender, `counterparty`, in its sorted place).
    #[test]
    fn a_double_spent_event_is_stored_in_the_bytes_it_always_had() {
        let txid = Hash32::from_hex(&"ab".repeat(32)).unwrap();
        let e = MempoolEvent {
            id: format!("btc:{txid}:1:in:mempool:double_spent"),
            kind: EventType::DoubleSpent,
            seq: 7,
            chain: "btc".into(),
            network: "regtest".into(),
            direction: Direction::In,
            address: "bcrt1qexample".into(),
            counterparty: Some("bcrt1qsender".into()),
            txid,
            index: 1,
            confirmations: 0,
            status: MempoolStatus::Mempool,
            asset: Asset {
                symbol: "BTC".into(),
                decimals: 8,
                contract: None,
            },
            amount: 5000u64.into(),
            watch: WatchRef {
                label: Some("order 42".into()),
                metadata: serde_json::json!({"z": 1, "a": 2}),
            },
            risk: crate::transfer::Risk {
                flags: vec![crate::transfer::RiskFlag::Dust],
            },
            mempool: MempoolFlags {
                rbf: true,
                full_rbf: false,
                fee_rate: Some(2.5),
                unconfirmed_inputs: false,
            },
            replaced_by: None,
            output_kept: None,
            conflicting_txid: Some(None),
        };
        let want = format!(
            concat!(
                r#"{{"address":"bcrt1qexample","amount":"5000","#,
                r#""asset":{{"contract":null,"decimals":8,"symbol":"BTC"}},"chain":"btc","#,
                r#""confirmations":0,"conflicting_txid":null,"counterparty":"bcrt1qsender","#,
                r#""direction":"in","#,
                r#""id":"btc:{t}:1:in:mempool:double_spent","index":1,"#,
                r#""mempool":{{"fee_rate":2.5,"full_rbf":false,"rbf":true,"unconfirmed_inputs":false}},"#,
                r#""network":"regtest","risk":{{"flags":["dust"]}},"seq":7,"status":"mempool","txid":"{t}","#,
                r#""type":"payment.double_spent","#,
                r#""watch":{{"label":"order 42","metadata":{{"a":2,"z":1}}}}}}"#
            ),
            t = txid
        );
        assert_eq!(String::from_utf8(e.to_bytes()).unwrap(), want);
    }
}
