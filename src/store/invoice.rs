//! Invoices and what keeps them consistent.
//!
//! | family     | key                                   | value          |
//! |------------|---------------------------------------|----------------|
//! | `invoices` | `i id`                                | invoice JSON   |
//! |            | `o chain 0 order_id [0 merchant]`     | invoice id     |
//! |            | `a chain 0 address 0 id`              | empty          |
//! |            | `u chain 0 address 0 asset 0 due(32)` | invoice id, then `0 until(8)` once it ended (a unique amount in use, or held for a late payer) |
//! |            | `e expires_at(8) id`                  | empty (open invoices by expiry) |
//! |            | `w chain 0 id`                        | empty (payments short of the invoice's own confirmations) |
//! |            | `p chain 0 address`                   | a pool address: empty while never used, then its invoice id, then `0 until(8)` once that ended |
//! |            | `r chain 0 to 0 id`                   | empty (the invoice has a refund to address `to`) |
//! |            | `c id`                                | an invoice with payment options (a choice): JSON |
//! |            | `C order_id`                          | the choice's id |
//! | `meta`     | `derive/<chain>`, `invoice_cursor`    | next index, event cursor |

use super::{corrupt, Store, StoreError, CF_META};
use crate::invoice_record::{Choice, Invoice, TrackerEvent};
use rocksdb::{IteratorMode, WriteBatch};
use ruint::aliases::U256;

pub(super) const CF_INVOICES: &str = "invoices";
const KEY_CURSOR: &[u8] = b"invoice_cursor";

/// A merchant's order ids are apart from the others' (an order id has no
/// control characters, so the NUL cannot be part of one).
fn order_key(chain: &str, merchant: Option<&str>, order_id: &str) -> Vec<u8> {
    let mut key = [b"o", chain.as_bytes(), b"\0", order_id.as_bytes()].concat();
    if let Some(m) = merchant {
        key.push(0);
        key.extend_from_slice(m.as_bytes());
    }
    key
}

fn address_prefix(chain: &str, address: &str) -> Vec<u8> {
    [b"a", chain.as_bytes(), b"\0", address.as_bytes(), b"\0"].concat()
}

fn unique_key(chain: &str, address: &str, asset: &str, due: U256) -> Vec<u8> {
    [
        b"u",
        chain.as_bytes(),
        b"\0",
        address.as_bytes(),
        b"\0",
        asset.as_bytes(),
        b"\0",
        &due.to_be_bytes::<32>(),
    ]
    .concat()
}

fn pool_prefix(chain: &str) -> Vec<u8> {
    [b"p", chain.as_bytes(), b"\0"].concat()
}

fn pool_key(chain: &str, address: &str) -> Vec<u8> {
    [pool_prefix(chain), address.as_bytes().to_vec()].concat()
}

fn depth_key(chain: &str, id: &str) -> Vec<u8> {
    [b"w", chain.as_bytes(), b"\0", id.as_bytes()].concat()
}

fn expiry_key(expires_at: u64, id: &str) -> Vec<u8> {
    [b"e", &expires_at.to_be_bytes()[..], id.as_bytes()].concat()
}

fn refund_prefix(chain: &str, to: &str) -> Vec<u8> {
    [b"r", chain.as_bytes(), b"\0", to.as_bytes(), b"\0"].concat()
}

fn derive_key(chain: &str) -> Vec<u8> {
    format!("derive/{chain}").into_bytes()
}

/// What creating an invoice claims besides the record itself.
pub struct NewInvoice<'a> {
    pub invoice: &'a Invoice,
    /// The derivation index used (stored as the next one + 1).
    pub derivation_index: Option<u32>,
    /// The unique amount claimed on a shared address.
    pub unique_due: Option<U256>,
}

/// Who holds a pool address: an invoice id, and until when once that
/// invoice ended.
type Holder = (String, Option<u64>);

/// A chain's address pool at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolCounts {
    /// Addresses a new invoice may be handed.
    pub free: u64,
    /// Held by an open invoice, or by an ended one for its late payer.
    pub reserved: u64,
}

/// Result of [`Store::insert_invoice`].
pub enum InvoiceInsert {
    Created,
    /// An invoice with this order id exists already.
    Existing(Box<Invoice>),
}

impl Store {
    fn decode_invoice(v: &[u8]) -> Result<Invoice, StoreError> {
        serde_json::from_slice(v).map_err(|e| corrupt("invoice", e))
    }

    pub fn invoice(&self, id: &str) -> Result<Option<Invoice>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_INVOICES), [b"i", id.as_bytes()].concat())?
        {
            None => Ok(None),
            Some(v) => Ok(Some(Self::decode_invoice(&v)?)),
        }
    }

    pub fn invoice_by_order(
        &self,
        chain: &str,
        merchant: Option<&str>,
        order_id: &str,
    ) -> Result<Option<Invoice>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_INVOICES), order_key(chain, merchant, order_id))?
        {
            None => Ok(None),
            Some(id) => self.invoice(&String::from_utf8_lossy(&id)),
        }
    }

    /// The next unused derivation index of `chain`.
    pub fn next_derivation_index(&self, chain: &str) -> Result<u32, StoreError> {
        match self.db.get_cf(self.cf(CF_META), derive_key(chain))? {
            None => Ok(0),
            Some(v) => Ok(u32::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("derivation index", "not 4 bytes"))?,
            )),
        }
    }

    /// The invoice holding a unique amount on a shared address at `now`
    /// (Unix seconds): an open one, or one that ended and keeps the amount
    /// for its late payer until its hold runs out.
    pub fn unique_amount_owner(
        &self,
        chain: &str,
        address: &str,
        asset: &str,
        due: U256,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        self.holder(&unique_key(chain, address, asset, due), now)
    }

    /// Who holds `key` (a unique amount or a pool address) at `now`: the
    /// invoice whose id it names, unless its hold ran out.
    fn holder(&self, key: &[u8], now: u64) -> Result<Option<String>, StoreError> {
        let Some(v) = self.db.get_pinned_cf(self.cf(CF_INVOICES), key)? else {
            return Ok(None);
        };
        // A pool address never handed out.
        if v.is_empty() {
            return Ok(None);
        }
        let (id, until) = split_owner(&v)?;
        Ok(match until {
            Some(until) if until <= now => None,
            _ => Some(String::from_utf8_lossy(id).into_owned()),
        })
    }

    /// Stores a new invoice with its indexes, unless its order id is taken.
    /// Serialized with every other invoice write.
    pub fn insert_invoice(&self, n: NewInvoice<'_>) -> Result<InvoiceInsert, StoreError> {
        let _guard = self.invoice_lock.lock().expect("invoice lock");
        let inv = n.invoice;
        if let Some(existing) =
            self.invoice_by_order(&inv.chain, inv.merchant.as_deref(), &inv.order_id)?
        {
            return Ok(InvoiceInsert::Existing(Box::new(existing)));
        }
        let cf = self.cf(CF_INVOICES);
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, [b"i", inv.id.as_bytes()].concat(), encode(inv));
        batch.put_cf(
            cf,
            order_key(&inv.chain, inv.merchant.as_deref(), &inv.order_id),
            inv.id.as_bytes(),
        );
        batch.put_cf(
            cf,
            [
                address_prefix(&inv.chain, &inv.address),
                inv.id.as_bytes().to_vec(),
            ]
            .concat(),
            [],
        );
        batch.put_cf(cf, expiry_key(inv.expires_at, &inv.id), []);
        if inv.pooled {
            let k = pool_key(&inv.chain, &inv.address);
            let free = match self.db.get_pinned_cf(cf, &k)? {
                None => return Err(corrupt("address pool", "address not in the pool")),
                Some(v) if v.is_empty() => true,
                Some(v) => matches!(split_owner(&v)?, (_, Some(until)) if until <= inv.created_at),
            };
            if !free {
                return Err(corrupt("address pool", "address handed out twice"));
            }
            batch.put_cf(cf, k, inv.id.as_bytes());
        }
        if let Some(due) = n.unique_due {
            if self
                .unique_amount_owner(
                    &inv.chain,
                    &inv.address,
                    &inv.asset.symbol,
                    due,
                    inv.created_at,
                )?
                .is_some()
            {
                return Err(corrupt("unique amount", "claimed twice"));
            }
            batch.put_cf(
                cf,
                unique_key(&inv.chain, &inv.address, &inv.asset.symbol, due),
                inv.id.as_bytes(),
            );
        }
        if let Some(i) = n.derivation_index {
            batch.put_cf(
                self.cf(CF_META),
                derive_key(&inv.chain),
                (i + 1).to_be_bytes(),
            );
        }
        self.written(self.db.write_opt(batch, &Self::synced()))?;
        Ok(InvoiceInsert::Created)
    }

    /// Invoices paying to `address` on `chain`.
    pub fn invoices_at(&self, chain: &str, address: &str) -> Result<Vec<Invoice>, StoreError> {
        let prefix = address_prefix(chain, address);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_INVOICES),
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(inv) = self.invoice(&String::from_utf8_lossy(&k[prefix.len()..]))? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// Adds addresses to `chain`'s pool; returns how many were new. One
    /// already there keeps its invoice.
    pub fn add_pool_addresses(
        &self,
        chain: &str,
        addresses: &[String],
    ) -> Result<usize, StoreError> {
        let _guard = self.invoice_lock.lock().expect("invoice lock");
        let cf = self.cf(CF_INVOICES);
        let mut batch = WriteBatch::default();
        let mut added = 0;
        let mut seen = std::collections::HashSet::new();
        for a in addresses {
            let k = pool_key(chain, a);
            if seen.insert(k.clone()) && self.db.get_pinned_cf(cf, &k)?.is_none() {
                batch.put_cf(cf, k, []);
                added += 1;
            }
        }
        self.written(self.db.write_opt(batch, &Self::synced()))?;
        Ok(added)
    }

    /// The pool entries of `chain`: address, and its holder (id and,
    /// once that invoice ended, until when) if it ever had one.
    fn pool_entries(&self, chain: &str) -> Result<Vec<(String, Option<Holder>)>, StoreError> {
        let prefix = pool_prefix(chain);
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_INVOICES, &prefix) {
            let (k, v) = item?;
            let address = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let holder = if v.is_empty() {
                None
            } else {
                let (id, until) = split_owner(&v)?;
                Some((String::from_utf8_lossy(id).into_owned(), until))
            };
            out.push((address, holder));
        }
        Ok(out)
    }

    /// The invoice holding pool address `address` at `now`: an open one,
    /// or one that ended and keeps it until its hold runs out.
    pub fn pool_owner(
        &self,
        chain: &str,
        address: &str,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        self.holder(&pool_key(chain, address), now)
    }

    /// The free pool address of `chain` that has waited longest: one never
    /// handed out first, then the one whose last invoice is the oldest
    /// (invoice ids sort by creation time). `None` when every address is
    /// held.
    pub fn free_pool_address(&self, chain: &str, now: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .pool_entries(chain)?
            .into_iter()
            .filter_map(|(address, holder)| match holder {
                None => Some((String::new(), address)),
                Some((id, Some(until))) if until <= now => Some((id, address)),
                Some(_) => None,
            })
            .min()
            .map(|(_, address)| address))
    }

    /// How many of `chain`'s pool addresses are free and reserved at `now`.
    pub fn pool_counts(&self, chain: &str, now: u64) -> Result<PoolCounts, StoreError> {
        let mut c = PoolCounts::default();
        for (_, holder) in self.pool_entries(chain)? {
            match holder {
                Some((_, None)) => c.reserved += 1,
                Some((_, Some(until))) if until > now => c.reserved += 1,
                _ => c.free += 1,
            }
        }
        Ok(c)
    }

    /// The invoice with payment options `id`.
    pub fn choice(&self, id: &str) -> Result<Option<Choice>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_INVOICES), [b"c", id.as_bytes()].concat())?
        {
            None => Ok(None),
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|e| corrupt("invoice with options", e))?,
            )),
        }
    }

    /// Records a new invoice with payment options, unless its order id has
    /// one already: that one is returned.
    pub fn insert_choice(&self, choice: &Choice) -> Result<Option<Choice>, StoreError> {
        let _guard = self.invoice_lock.lock().expect("invoice lock");
        let order = [b"C", choice.order_id.as_bytes()].concat();
        let cf = self.cf(CF_INVOICES);
        if let Some(id) = self.db.get_cf(cf, &order)? {
            let id = String::from_utf8_lossy(&id).into_owned();
            return match self.choice(&id)? {
                Some(c) => Ok(Some(c)),
                None => Err(corrupt(
                    "invoice with options",
                    format!("{id} is indexed, not stored"),
                )),
            };
        }
        let mut batch = WriteBatch::default();
        write_choice(&mut batch, cf, choice);
        batch.put_cf(cf, order, choice.id.as_bytes());
        self.written(self.db.write_opt(batch, &Self::synced()))?;
        Ok(None)
    }

    /// Writes a choice back (an option's invoice made).
    pub fn put_choice(&self, choice: &Choice) -> Result<(), StoreError> {
        let _guard = self.invoice_lock.lock().expect("invoice lock");
        let mut batch = WriteBatch::default();
        write_choice(&mut batch, self.cf(CF_INVOICES), choice);
        self.written(self.db.write_opt(batch, &Self::synced()))?;
        Ok(())
    }

    /// Invoices of `chain` with a refund to `to` (display form).
    pub fn invoices_refunding(&self, chain: &str, to: &str) -> Result<Vec<Invoice>, StoreError> {
        self.invoices_listed(&refund_prefix(chain, to))
    }

    /// The invoices an index lists: each key under `prefix` ends in an
    /// invoice id.
    fn invoices_listed(&self, prefix: &[u8]) -> Result<Vec<Invoice>, StoreError> {
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_INVOICES, prefix) {
            let (k, _) = item?;
            if let Some(inv) = self.invoice(&String::from_utf8_lossy(&k[prefix.len()..]))? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// Invoices of `chain` with a mined payment not yet as deep as their
    /// own `confirmations`.
    pub fn invoices_awaiting_depth(&self, chain: &str) -> Result<Vec<Invoice>, StoreError> {
        self.invoices_listed(&[b"w", chain.as_bytes(), b"\0"].concat())
    }

    /// Every open invoice of `chain`, soonest expiry first.
    pub fn open_invoices(&self, chain: &str) -> Result<Vec<Invoice>, StoreError> {
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_INVOICES, b"e") {
            let (k, _) = item?;
            if k.len() < 9 {
                return Err(corrupt("expiry index", hex::encode(&k)));
            }
            if let Some(inv) = self.invoice(&String::from_utf8_lossy(&k[9..]))? {
                if inv.chain == chain {
                    out.push(inv);
                }
            }
        }
        Ok(out)
    }

    /// Open invoices whose expiry is at or before `now` (Unix seconds).
    pub fn expired_invoices(&self, now: u64, limit: usize) -> Result<Vec<Invoice>, StoreError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_INVOICES),
            IteratorMode::From(b"e", rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            if k.first() != Some(&b'e') || k.len() < 9 || out.len() >= limit {
                break;
            }
            let at = u64::from_be_bytes(k[1..9].try_into().expect("length checked"));
            if at > now {
                break;
            }
            if let Some(inv) = self.invoice(&String::from_utf8_lossy(&k[9..]))? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// Invoices in creation order of their ids after `after`, filtered.
    pub fn invoices(
        &self,
        filter: impl Fn(&Invoice) -> bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Invoice>, StoreError> {
        let start = match after {
            Some(a) => [b"i", a.as_bytes(), b"\0"].concat(),
            None => b"i".to_vec(),
        };
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_INVOICES),
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if k.first() != Some(&b'i') || out.len() >= limit {
                break;
            }
            let inv = Self::decode_invoice(&v)?;
            if filter(&inv) {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// The event sequence number the invoice tracker has handled.
    pub fn invoice_cursor(&self) -> Result<u64, StoreError> {
        match self.db.get_cf(self.cf(CF_META), KEY_CURSOR)? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("invoice cursor", "not 8 bytes"))?,
            )),
        }
    }

    /// Writes changed invoices, the events their changes cause and the
    /// tracker's position in one batch. An open invoice keeps its expiry
    /// entry (until it has passed). A shared-address invoice holds its
    /// unique amount while open and paid (so a reorg after `paid` cannot
    /// hand the amount to another invoice), gives it up once confirmed or
    /// paid late, keeps it after it expired or was cancelled until its
    /// `amount_reserved_until` (so a late payment credits it, never a newer
    /// invoice), and takes it back if a reorg reopens it. Returns the events
    /// as written, with their sequence numbers.
    pub fn commit_invoices(
        &self,
        changed: &[Invoice],
        events: Vec<TrackerEvent>,
        cursor: Option<u64>,
    ) -> Result<Vec<TrackerEvent>, StoreError> {
        let _guard = self.invoice_lock.lock().expect("invoice lock");
        let cf = self.cf(CF_INVOICES);
        let now = crate::clock::now_secs();
        let mut batch = WriteBatch::default();
        for inv in changed {
            batch.put_cf(cf, [b"i", inv.id.as_bytes()].concat(), encode(inv));
            // A reorg that reopens an invoice after its expiry does not
            // expire it: the payment was on time and is likely mined again.
            if inv.status.is_open() && inv.expires_at > now {
                batch.put_cf(cf, expiry_key(inv.expires_at, &inv.id), []);
            } else {
                batch.delete_cf(cf, expiry_key(inv.expires_at, &inv.id));
            }
            if inv.awaits_depth() {
                batch.put_cf(cf, depth_key(&inv.chain, &inv.id), []);
            } else if inv.confirmations.is_some() {
                batch.delete_cf(cf, depth_key(&inv.chain, &inv.id));
            }
            // Kept once completed too: a deep reorg can still take the
            // payment of a refund away.
            for r in &inv.refunds {
                let k = [
                    refund_prefix(&inv.chain, &r.address),
                    inv.id.as_bytes().to_vec(),
                ]
                .concat();
                batch.put_cf(cf, k, []);
            }
            if inv.derivation_index.is_some() {
                continue;
            }
            // After a re-lock, the old amount stays this invoice's for the
            // grace period, then is free.
            if let Some(prev) = inv.pricing.as_ref().and_then(|p| p.previous.as_ref()) {
                if !inv.pooled {
                    let k = unique_key(
                        &inv.chain,
                        &inv.address,
                        &inv.asset.symbol,
                        prev.amount_due_base.base(),
                    );
                    if let Some(o) = self.db.get_cf(cf, &k)? {
                        if split_owner(&o)?.0 == inv.id.as_bytes() {
                            batch.put_cf(
                                cf,
                                &k,
                                [inv.id.as_bytes(), b"\0", &prev.until.to_be_bytes()].concat(),
                            );
                        }
                    }
                }
            }
            let k = if inv.pooled {
                pool_key(&inv.chain, &inv.address)
            } else {
                let due = inv.amount_due_base.base();
                unique_key(&inv.chain, &inv.address, &inv.asset.symbol, due)
            };
            let owner = self.db.get_cf(cf, &k)?;
            let mine = match &owner {
                Some(o) => split_owner(o)?.0 == inv.id.as_bytes(),
                None => false,
            };
            match (hold(inv, now), mine) {
                (Hold::Free, true) => batch.delete_cf(cf, &k),
                (Hold::Open, true) => batch.put_cf(cf, &k, inv.id.as_bytes()),
                (Hold::Open, false) if owner.is_none() => batch.put_cf(cf, &k, inv.id.as_bytes()),
                (Hold::Until(until), true) => batch.put_cf(
                    cf,
                    &k,
                    [inv.id.as_bytes(), b"\0", &until.to_be_bytes()].concat(),
                ),
                _ => {}
            }
        }
        if let Some(c) = cursor {
            batch.put_cf(self.cf(CF_META), KEY_CURSOR, c.to_be_bytes());
        }
        self.write_with_events(batch, events)
    }
}

/// Writes `choice` under its id.
fn write_choice(batch: &mut WriteBatch, cf: &rocksdb::ColumnFamily, choice: &Choice) {
    batch.put_cf(
        cf,
        [b"c", choice.id.as_bytes()].concat(),
        serde_json::to_vec(choice).expect("a choice serializes"),
    );
}

/// How a shared-address invoice holds its unique amount.
enum Hold {
    /// Open or paid: the amount is its own.
    Open,
    /// Expired, cancelled, or settled or invalidated by hand: kept for a
    /// late payer until then (Unix seconds).
    Until(u64),
    /// Confirmed or paid late: the amount is free.
    Free,
}

fn hold(inv: &Invoice, now: u64) -> Hold {
    use crate::invoice_record::InvoiceStatus;
    match inv.status {
        // A pool address is kept after payment too: any amount to it
        // credits its holder, so a buyer's second payment must not credit
        // the next invoice.
        InvoiceStatus::Confirmed | InvoiceStatus::PaidLate if inv.pooled => {
            Hold::Until(inv.amount_reserved_until.unwrap_or(now))
        }
        InvoiceStatus::Confirmed | InvoiceStatus::PaidLate => Hold::Free,
        InvoiceStatus::Expired
        | InvoiceStatus::Cancelled
        | InvoiceStatus::Settled
        | InvoiceStatus::Invalid
        | InvoiceStatus::Rejected => Hold::Until(inv.amount_reserved_until.unwrap_or(now)),
        // Held: paid, waiting for a person to decide.
        InvoiceStatus::Pending
        | InvoiceStatus::Underpaid
        | InvoiceStatus::Paid
        | InvoiceStatus::Held => Hold::Open,
    }
}

/// A unique amount's owner: the invoice id, and when the hold of an
/// ended invoice runs out.
fn split_owner(v: &[u8]) -> Result<(&[u8], Option<u64>), StoreError> {
    match v.iter().position(|b| *b == 0) {
        None => Ok((v, None)),
        Some(i) => {
            let until: [u8; 8] = v[i + 1..]
                .try_into()
                .map_err(|_| corrupt("unique amount", "hold is not 8 bytes"))?;
            Ok((&v[..i], Some(u64::from_be_bytes(until))))
        }
    }
}

fn encode(inv: &Invoice) -> Vec<u8> {
    serde_json::to_vec(inv).expect("an invoice always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice_record::InvoiceStatus;

    fn pooled(id: &str, address: &str, created_at: u64) -> Invoice {
        serde_json::from_value(serde_json::json!({
            "id": id, "chain": "tron", "network": "mainnet", "order_id": id,
            "asset": {"symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
            "amount": "5", "amount_due": "5", "amount_due_base": "5000000",
            "address": address, "payment_uri": "", "qr_svg_url": "",
            "created_at": created_at, "expires_at": created_at + 60,
            "status": "pending", "paid": "0", "payments": [], "pooled": true,
        }))
        .unwrap()
    }

    fn insert(store: &Store, inv: &Invoice) -> Result<InvoiceInsert, StoreError> {
        store.insert_invoice(NewInvoice {
            invoice: inv,
            derivation_index: None,
            unique_due: None,
        })
    }

    #[test]
    fn pool_addresses_rotate_one_invoice_at_a_time_and_are_held_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pool = ["TA".to_string(), "TB".to_string(), "TA".to_string()];
        assert_eq!(store.add_pool_addresses("tron", &pool).unwrap(), 2);
        assert_eq!(store.add_pool_addresses("tron", &pool[..1]).unwrap(), 0);
        assert_eq!(
            store.free_pool_address("tron", 100).unwrap().as_deref(),
            Some("TA")
        );
        let mut one = pooled("inv_1", "TA", 100);
        insert(&store, &one).unwrap();
        assert_eq!(
            store.free_pool_address("tron", 100).unwrap().as_deref(),
            Some("TB")
        );
        let mut two = pooled("inv_2", "TB", 110);
        insert(&store, &two).unwrap();
        assert_eq!(store.free_pool_address("tron", 110).unwrap(), None);
        assert_eq!(
            store.pool_counts("tron", 110).unwrap(),
            PoolCounts {
                free: 0,
                reserved: 2
            }
        );
        // Handing out a held address is refused, not done twice.
        assert!(insert(&store, &pooled("inv_x", "TA", 120)).is_err());

        // One expired, held until 200; the other paid, held until 300.
        one.status = InvoiceStatus::Expired;
        one.amount_reserved_until = Some(200);
        two.status = InvoiceStatus::Confirmed;
        two.amount_reserved_until = Some(300);
        store
            .commit_invoices(&[one, two], Vec::new(), None)
            .unwrap();
        assert_eq!(store.free_pool_address("tron", 199).unwrap(), None);
        assert_eq!(
            store.pool_owner("tron", "TA", 199).unwrap().as_deref(),
            Some("inv_1")
        );
        assert_eq!(store.pool_owner("tron", "TA", 200).unwrap(), None);
        assert_eq!(
            store.free_pool_address("tron", 250).unwrap().as_deref(),
            Some("TA")
        );
        // Both free: the one whose last invoice is older goes first.
        assert_eq!(
            store.free_pool_address("tron", 350).unwrap().as_deref(),
            Some("TA")
        );
        assert_eq!(
            store.pool_counts("tron", 250).unwrap(),
            PoolCounts {
                free: 1,
                reserved: 1
            }
        );
        insert(&store, &pooled("inv_3", "TA", 260)).unwrap();
        assert_eq!(
            store.pool_owner("tron", "TA", 1000).unwrap().as_deref(),
            Some("inv_3")
        );
    }
}
