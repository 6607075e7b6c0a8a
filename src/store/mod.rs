//! RocksDB storage: the only module that touches the database.
//!
//! Column families (keys are big-endian so that iteration follows height and
//! sequence order; `C` is the chain name followed by a zero byte):
//!
//! | family      | key                                        | value                |
//! |-------------|--------------------------------------------|----------------------|
//! | `meta`      | `schema`, `seq`, `cursor/<chain>`          | version, next seq, height+hash |
//! | `headers`   | `C height`                                 | block hash           |
//! | `watches`   | `C address-key`                            | watch JSON           |
//! | `transfers` | `C height txid dir index`                  | transfer JSON        |
//! | `tx_idx`    | `C txid dir index`                         | height               |
//! | `addr_idx`  | `C len(u16) address-key height txid dir index` | empty            |
//! | `pending`   | `C height txid dir index`                  | empty (unconfirmed)  |
//! | `outbox`    | `seq`                                      | event JSON           |
//!
//! Delivery state and the plugins' stores are described in `delivery.rs`,
//! risk screening's state in `risk.rs`.
//!
//! Everything one block changes — transfers, indexes, header, cursor and the
//! events it causes — is one `WriteBatch`: a crash leaves all of it or none.

use crate::address::AddressKey;
use crate::event::{AddressEvent, Event, MempoolEvent};
use crate::transfer::WatchRecord;
use crate::transfer::{Direction, Freeze, Hash32, Transfer, TransferKey, TransferStatus};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions, DB,
};
use std::path::Path;
use std::sync::Mutex;

const CF_META: &str = "meta";
const CF_HEADERS: &str = "headers";
const CF_WATCHES: &str = "watches";
const CF_TRANSFERS: &str = "transfers";
const CF_TX_IDX: &str = "tx_idx";
const CF_ADDR_IDX: &str = "addr_idx";
const CF_PENDING: &str = "pending";
const CF_OUTBOX: &str = "outbox";
mod delivery;
pub use delivery::{parse_delivery_id, Delivery, DeliveryStatus, DispatchBatch, DueDelay, Target};
use delivery::{CF_DELIVERIES, CF_PLUGIN_KV, CF_QUEUE};
mod invoice;
mod mempool;
mod risk;
use invoice::CF_INVOICES;
pub use invoice::{InvoiceInsert, NewInvoice, PoolCounts};
use mempool::CF_MEMPOOL;
pub use risk::FrozenRecord;
use risk::CF_RISK;

const ALL_CFS: [&str; 14] = [
    CF_META,
    CF_HEADERS,
    CF_WATCHES,
    CF_TRANSFERS,
    CF_TX_IDX,
    CF_ADDR_IDX,
    CF_PENDING,
    CF_OUTBOX,
    CF_DELIVERIES,
    CF_QUEUE,
    CF_PLUGIN_KV,
    CF_INVOICES,
    CF_MEMPOOL,
    CF_RISK,
];

/// Bumped whenever a key or value layout changes; checked at open.
pub const SCHEMA_VERSION: u32 = 1;
const KEY_SCHEMA: &[u8] = b"schema";
const KEY_SEQ: &[u8] = b"seq";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("database schema version {found} is not the version this paywatch uses ({expected}); use a matching paywatch or a new data_dir")]
    Schema { found: u32, expected: u32 },
    #[error("corrupt {what} record in the database: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

/// A raw key and value read from the database.
type KeyValue = (Box<[u8]>, Box<[u8]>);

/// Outcome of adding one watch.
#[derive(Debug)]
pub enum Inserted {
    Created(WatchRecord),
    Existing(WatchRecord),
}

/// Everything a newly linked block adds to a chain.
pub struct BlockCommit<'a> {
    pub chain: &'a str,
    pub height: u64,
    pub hash: Hash32,
    pub transfers: Vec<Transfer>,
    /// Transfers at or below this height are confirmed (from the chain's
    /// confirmation depth or the node's finalized mark); `None`: none yet.
    pub confirm_upto: Option<u64>,
    /// How many recent block hashes to keep for reorg detection.
    pub keep_headers: u64,
    /// Watched addresses' new records of past counterparties.
    pub history: Vec<(AddressKey, Vec<u8>)>,
    /// The block's blacklist changes of listed tokens, in order.
    pub freezes: &'a [Freeze],
}

/// Rows ready to be written in one batch, and what they change, from which
/// the caller decides the events written with them.
pub struct Rows<T> {
    batch: WriteBatch,
    pub changes: T,
}

/// What committing a block changes.
#[derive(Debug, Default)]
pub struct BlockChanges {
    /// Transfers mined earlier that the block makes deep enough, now
    /// `confirmed`.
    pub confirmed: Vec<Transfer>,
    /// Transfers stored for the first time, with their status.
    pub recorded: Vec<Transfer>,
    /// Positions in [`BlockCommit::freezes`] of the blacklist changes
    /// recorded for the first time.
    pub new_freezes: Vec<usize>,
}

/// A page of transfers and the cursor for the next one.
pub struct TransferPage {
    pub transfers: Vec<Transfer>,
    pub next: Option<String>,
}

pub struct Store {
    db: DB,
    /// Next event sequence number; held while an event batch is written so
    /// that sequence order is commit order.
    next_seq: Mutex<u64>,
    last_seq: tokio::sync::watch::Sender<u64>,
    /// Serializes read-modify-write of delivery records and plugin stores.
    delivery_lock: Mutex<()>,
    /// Serializes invoice writes (order ids, unique amounts, indexes).
    invoice_lock: Mutex<()>,
    /// Held across a read-modify-write of invoices: a tracker step, or a
    /// change by hand (cancel, settle, attach).
    invoice_edit: Mutex<()>,
    /// Set on the first write the disk refused (full, read-only, failing):
    /// the daemon stops rather than go on without recording anything.
    failure: tokio::sync::watch::Sender<Option<String>>,
}

fn chain_prefix(chain: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(chain.len() + 64);
    k.extend_from_slice(chain.as_bytes());
    k.push(0);
    k
}

fn key_suffix(k: &mut Vec<u8>, height: u64, key: &TransferKey) {
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(&key.txid.bytes);
    k.push(key.direction.as_byte());
    k.extend_from_slice(&key.index.to_be_bytes());
}

fn transfer_key(chain: &str, height: u64, key: &TransferKey) -> Vec<u8> {
    let mut k = chain_prefix(chain);
    key_suffix(&mut k, height, key);
    k
}

fn tx_idx_key(chain: &str, key: &TransferKey) -> Vec<u8> {
    let mut k = chain_prefix(chain);
    k.extend_from_slice(&key.txid.bytes);
    k.push(key.direction.as_byte());
    k.extend_from_slice(&key.index.to_be_bytes());
    k
}

fn addr_prefix(chain: &str, addr: &[u8]) -> Vec<u8> {
    let mut k = chain_prefix(chain);
    k.extend_from_slice(&(addr.len() as u16).to_be_bytes());
    k.extend_from_slice(addr);
    k
}

/// Where the counterparty index starts inside `addr_idx`: a key length no
/// address key has.
const COUNTERPARTY_MARK: [u8; 2] = [0xff, 0xff];

/// `C ffff len(u16) counterparty`: the counterparty index's prefix for one
/// counterparty (its display form).
fn counterparty_prefix(chain: &str, counterparty: &str) -> Vec<u8> {
    let mut k = chain_prefix(chain);
    k.extend_from_slice(&COUNTERPARTY_MARK);
    k.extend_from_slice(&(counterparty.len() as u16).to_be_bytes());
    k.extend_from_slice(counterparty.as_bytes());
    k
}

fn height_key(chain: &str, height: u64) -> Vec<u8> {
    let mut k = chain_prefix(chain);
    k.extend_from_slice(&height.to_be_bytes());
    k
}

fn cursor_key(chain: &str) -> Vec<u8> {
    format!("cursor/{chain}").into_bytes()
}

/// Parses `height txid dir index` (45 bytes).
fn parse_suffix(s: &[u8]) -> Option<(u64, TransferKey)> {
    if s.len() != 45 {
        return None;
    }
    let height = u64::from_be_bytes(s[..8].try_into().ok()?);
    let mut txid = [0u8; 32];
    txid.copy_from_slice(&s[8..40]);
    let direction = Direction::from_byte(s[40])?;
    let index = u32::from_be_bytes(s[41..45].try_into().ok()?);
    Some((
        height,
        TransferKey {
            txid: Hash32::new(txid),
            direction,
            index,
        },
    ))
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

impl Store {
    /// Opens (or creates) the database in `path` and checks its schema version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // All memtables together stay under 64 MiB (each family would
        // otherwise take up to 2 x 64 MiB): with millions of watches
        // imported at once, memory stays flat and the data goes to disk.
        opts.set_db_write_buffer_size(64 << 20);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cache = Cache::new_lru_cache(64 << 20);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut block = BlockBasedOptions::default();
            block.set_block_cache(&cache);
            // Point lookups on watches and indexes skip files that cannot hold the key.
            block.set_bloom_filter(10.0, false);
            let mut cf_opts = Options::default();
            cf_opts.set_block_based_table_factory(&block);
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let meta = db.cf_handle(CF_META).expect("meta family was just opened");
        match db.get_cf(meta, KEY_SCHEMA)? {
            None => db.put_cf(meta, KEY_SCHEMA, SCHEMA_VERSION.to_be_bytes())?,
            Some(v) => {
                let found = u32::from_be_bytes(
                    v.as_slice()
                        .try_into()
                        .map_err(|_| corrupt("schema", "not 4 bytes"))?,
                );
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        let next_seq = match db.get_cf(meta, KEY_SEQ)? {
            None => 1,
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("seq", "not 8 bytes"))?,
            ),
        };
        let (last_seq, _) = tokio::sync::watch::channel(next_seq - 1);
        Ok(Store {
            db,
            next_seq: Mutex::new(next_seq),
            last_seq,
            delivery_lock: Mutex::new(()),
            invoice_lock: Mutex::new(()),
            invoice_edit: Mutex::new(()),
            failure: tokio::sync::watch::channel(None).0,
        })
    }

    /// Held while invoices are read, changed and written back, so that a
    /// tracker step and a change by hand never overwrite each other.
    pub fn invoice_edit(&self) -> std::sync::MutexGuard<'_, ()> {
        self.invoice_edit.lock().expect("invoice edit lock")
    }

    /// The first write the disk refused, once there is one.
    pub fn failure(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// Passes a write's outcome on, noting an I/O failure (a full disk, a
    /// file too large, a read-only or failing device) or corruption: after
    /// one, RocksDB refuses every later write.
    pub(crate) fn written<T>(&self, r: Result<T, rocksdb::Error>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            use rocksdb::ErrorKind::{Corruption, IOError};
            if matches!(e.kind(), IOError | Corruption) {
                self.failure.send_if_modified(|f| {
                    let first = f.is_none();
                    if first {
                        *f = Some(e.to_string());
                    }
                    first
                });
            }
        }
        r.map_err(StoreError::from)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is opened in Store::open")
    }

    fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    // ---- watches -------------------------------------------------------

    fn watch_key(chain: &str, key: &[u8]) -> Vec<u8> {
        let mut k = chain_prefix(chain);
        k.extend_from_slice(key);
        k
    }

    /// Adds a watch unless one exists for the same address.
    pub fn insert_watch(
        &self,
        chain: &str,
        key: &[u8],
        rec: WatchRecord,
    ) -> Result<Inserted, StoreError> {
        let k = Self::watch_key(chain, key);
        let cf = self.cf(CF_WATCHES);
        if let Some(v) = self.db.get_pinned_cf(cf, &k)? {
            return Ok(Inserted::Existing(decode_watch(&v)?));
        }
        let v = serde_json::to_vec(&rec).expect("a watch record always serializes");
        self.written(self.db.put_cf_opt(cf, &k, v, &Self::synced()))?;
        Ok(Inserted::Created(rec))
    }

    /// Adds many watches in one batch; addresses already watched are kept as
    /// they are. Returns how many were created.
    pub fn insert_watches<K: AsRef<[u8]>>(
        &self,
        chain: &str,
        items: &[(K, WatchRecord)],
    ) -> Result<Vec<bool>, StoreError> {
        let cf = self.cf(CF_WATCHES);
        let keys: Vec<Vec<u8>> = items
            .iter()
            .map(|(key, _)| Self::watch_key(chain, key.as_ref()))
            .collect();
        let existing = self
            .db
            .batched_multi_get_cf(cf, keys.iter().map(|k| k.as_slice()), false);
        let mut batch = WriteBatch::default();
        let mut created = Vec::with_capacity(items.len());
        for ((k, (_, rec)), found) in keys.iter().zip(items).zip(existing) {
            if found?.is_some() {
                created.push(false);
                continue;
            }
            batch.put_cf(
                cf,
                k,
                serde_json::to_vec(rec).expect("a watch record always serializes"),
            );
            created.push(true);
        }
        self.written(self.db.write_opt(batch, &Self::synced()))?;
        Ok(created)
    }

    pub fn get_watch(&self, chain: &str, key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_WATCHES), Self::watch_key(chain, key))?
        {
            Some(v) => Ok(Some(decode_watch(&v)?)),
            None => Ok(None),
        }
    }

    /// Removes a watch; false when there was none.
    pub fn delete_watch(&self, chain: &str, key: &[u8]) -> Result<bool, StoreError> {
        let k = Self::watch_key(chain, key);
        let cf = self.cf(CF_WATCHES);
        if self.db.get_pinned_cf(cf, &k)?.is_none() {
            return Ok(false);
        }
        self.written(self.db.delete_cf_opt(cf, &k, &Self::synced()))?;
        Ok(true)
    }

    /// Calls `f` with the key of every watch of `chain` (used to fill the
    /// in-memory filter at start).
    pub fn for_each_watch_key(
        &self,
        chain: &str,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), StoreError> {
        let prefix = chain_prefix(chain);
        for item in self.prefix_iter(CF_WATCHES, &prefix) {
            let (k, _) = item?;
            f(&k[prefix.len()..]);
        }
        Ok(())
    }

    fn prefix_iter<'a>(
        &'a self,
        cf: &str,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<KeyValue, rocksdb::Error>> + 'a {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(prefix_end(prefix));
        self.db.iterator_cf_opt(
            self.cf(cf),
            ro,
            IteratorMode::From(prefix, rocksdb::Direction::Forward),
        )
    }

    // ---- chain position ------------------------------------------------

    /// The last committed block of `chain`: `(height, hash)`.
    pub fn cursor(&self, chain: &str) -> Result<Option<(u64, Hash32)>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), cursor_key(chain))? {
            None => Ok(None),
            Some(v) if v.len() == 40 => {
                let height = u64::from_be_bytes(v[..8].try_into().expect("length checked"));
                let mut h = [0u8; 32];
                h.copy_from_slice(&v[8..]);
                Ok(Some((height, Hash32::new(h))))
            }
            Some(v) => Err(corrupt("cursor", format!("{} bytes", v.len()))),
        }
    }

    /// Moves `chain`'s cursor back so that scanning resumes after `to`
    /// (before the first block when `None`); what is recorded stays, and
    /// blocks scanned again add only what is new.
    pub fn rewind_cursor(&self, chain: &str, to: Option<(u64, Hash32)>) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match to {
            Some((h, hash)) => {
                let mut cursor = h.to_be_bytes().to_vec();
                cursor.extend_from_slice(&hash.bytes);
                self.db
                    .put_cf_opt(meta, cursor_key(chain), cursor, &Self::synced())?;
            }
            None => self
                .db
                .delete_cf_opt(meta, cursor_key(chain), &Self::synced())?,
        }
        Ok(())
    }

    /// The stored hash of `chain`'s block at `height`, if still kept.
    pub fn header_hash(&self, chain: &str, height: u64) -> Result<Option<Hash32>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_HEADERS), height_key(chain, height))?
        {
            None => Ok(None),
            Some(v) => {
                let h: [u8; 32] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("header", "not 32 bytes"))?;
                Ok(Some(Hash32::new(h)))
            }
        }
    }

    /// Every stored transfer of `chain` received by a watched address
    /// (Bitcoin keeps them in memory to notice when one is spent).
    pub fn received_transfers(&self, chain: &str) -> Result<Vec<Transfer>, StoreError> {
        let prefix = chain_prefix(chain);
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_TRANSFERS, &prefix) {
            let (k, v) = item?;
            let dir = k.get(prefix.len() + 40).copied();
            if dir == Some(Direction::In.as_byte()) {
                out.push(decode_transfer(&v)?);
            }
        }
        Ok(out)
    }

    /// The rows committing one block writes: its new transfers (a rescan
    /// skips those already recorded), header and cursor, and the earlier
    /// transfers the new height confirms. Nothing is written until
    /// [`Store::write_rows`], with the events the caller decides they cause.
    pub fn stage_block(&self, c: BlockCommit<'_>) -> Result<Rows<BlockChanges>, StoreError> {
        let mut batch = WriteBatch::default();
        let chain = c.chain;
        let headers = self.cf(CF_HEADERS);
        batch.put_cf(headers, height_key(chain, c.height), c.hash.bytes);
        if c.height >= c.keep_headers {
            batch.delete_cf(headers, height_key(chain, c.height - c.keep_headers));
        }
        let mut cursor = c.height.to_be_bytes().to_vec();
        cursor.extend_from_slice(&c.hash.bytes);
        batch.put_cf(self.cf(CF_META), cursor_key(chain), cursor);
        let new_freezes = self.stage_risk(
            &mut batch,
            chain,
            c.height,
            c.keep_headers,
            &c.history,
            c.freezes,
        )?;

        // Transfers mined earlier that are now deep enough.
        let confirmed = match c.confirm_upto {
            Some(upto) => self.confirm_pending(&mut batch, chain, upto)?,
            None => Vec::new(),
        };

        let mut recorded = Vec::new();
        for mut t in c.transfers {
            let key = t.key();
            let tk = transfer_key(chain, c.height, &key);
            // Already recorded (a rescan over indexed blocks): nothing new.
            if self.db.get_pinned_cf(self.cf(CF_TRANSFERS), &tk)?.is_some() {
                continue;
            }
            let confirmed = c.confirm_upto.is_some_and(|upto| c.height <= upto);
            t.status = if confirmed {
                TransferStatus::Confirmed
            } else {
                TransferStatus::Detected
            };
            batch.put_cf(self.cf(CF_TRANSFERS), &tk, encode_transfer(&t));
            batch.put_cf(
                self.cf(CF_TX_IDX),
                tx_idx_key(chain, &key),
                c.height.to_be_bytes(),
            );
            let mut ak = addr_prefix(chain, t.address_key.as_bytes());
            key_suffix(&mut ak, c.height, &key);
            batch.put_cf(self.cf(CF_ADDR_IDX), ak, []);
            if let Some(cp) = t.counterparty.as_deref() {
                let mut ck = counterparty_prefix(chain, cp);
                key_suffix(&mut ck, c.height, &key);
                batch.put_cf(self.cf(CF_ADDR_IDX), ck, []);
            }
            if !confirmed {
                batch.put_cf(self.cf(CF_PENDING), &tk, []);
            }
            recorded.push(t);
        }
        Ok(Rows {
            batch,
            changes: BlockChanges {
                confirmed,
                recorded,
                new_freezes,
            },
        })
    }

    /// The rows that confirm the pending transfers of `chain` at or below
    /// `upto` (when the node's finalized mark moves without a new block);
    /// the changes are the transfers confirmed.
    pub fn stage_confirm(&self, chain: &str, upto: u64) -> Result<Rows<Vec<Transfer>>, StoreError> {
        let mut batch = WriteBatch::default();
        let changes = self.confirm_pending(&mut batch, chain, upto)?;
        Ok(Rows { batch, changes })
    }

    /// Marks the pending transfers of `chain` at or below `upto` confirmed
    /// in `batch`; returns them.
    fn confirm_pending(
        &self,
        batch: &mut WriteBatch,
        chain: &str,
        upto: u64,
    ) -> Result<Vec<Transfer>, StoreError> {
        let prefix = chain_prefix(chain);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(height_key(chain, upto.saturating_add(1)));
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_PENDING),
            ro,
            IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        );
        let mut confirmed = Vec::new();
        for item in iter {
            let (k, _) = item?;
            let (height, key) = parse_suffix(&k[prefix.len()..])
                .ok_or_else(|| corrupt("pending", hex::encode(&k)))?;
            batch.delete_cf(self.cf(CF_PENDING), &k);
            let tk = transfer_key(chain, height, &key);
            let Some(v) = self.db.get_cf(self.cf(CF_TRANSFERS), &tk)? else {
                continue;
            };
            let mut t = decode_transfer(&v)?;
            t.status = TransferStatus::Confirmed;
            batch.put_cf(self.cf(CF_TRANSFERS), &tk, encode_transfer(&t));
            confirmed.push(t);
        }
        Ok(confirmed)
    }

    /// The rows that remove everything `chain` recorded above `ancestor`
    /// (or everything, when `None`): transfers, indexes and headers, and
    /// the cursor moved back. The changes are the removed transfers.
    pub fn stage_rewind(
        &self,
        chain: &str,
        ancestor: Option<(u64, Hash32)>,
    ) -> Result<Rows<Vec<Transfer>>, StoreError> {
        let mut batch = WriteBatch::default();
        let from = ancestor.map(|(h, _)| h + 1).unwrap_or(0);
        let start = height_key(chain, from);
        let prefix = chain_prefix(chain);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(prefix_end(&prefix));
        let mut removed = Vec::new();
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_TRANSFERS),
            ro,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            let t = decode_transfer(&v)?;
            let key = t.key();
            batch.delete_cf(self.cf(CF_TRANSFERS), &k);
            batch.delete_cf(self.cf(CF_PENDING), &k);
            batch.delete_cf(self.cf(CF_TX_IDX), tx_idx_key(chain, &key));
            let mut ak = addr_prefix(chain, t.address_key.as_bytes());
            key_suffix(&mut ak, t.block.height, &key);
            batch.delete_cf(self.cf(CF_ADDR_IDX), ak);
            if let Some(cp) = t.counterparty.as_deref() {
                let mut ck = counterparty_prefix(chain, cp);
                key_suffix(&mut ck, t.block.height, &key);
                batch.delete_cf(self.cf(CF_ADDR_IDX), ck);
            }
            removed.push(t);
        }
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(prefix_end(&prefix));
        for item in self.db.iterator_cf_opt(
            self.cf(CF_HEADERS),
            ro,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            let (k, _) = item?;
            batch.delete_cf(self.cf(CF_HEADERS), &k);
        }
        self.stage_risk_rewind(&mut batch, chain, from)?;
        match ancestor {
            Some((h, hash)) => {
                let mut cursor = h.to_be_bytes().to_vec();
                cursor.extend_from_slice(&hash.bytes);
                batch.put_cf(self.cf(CF_META), cursor_key(chain), cursor);
            }
            None => batch.delete_cf(self.cf(CF_META), cursor_key(chain)),
        }
        Ok(Rows {
            batch,
            changes: removed,
        })
    }

    /// Writes staged rows and, in the same batch, `events` (given their
    /// sequence numbers); returns what the rows changed and the events as
    /// written.
    pub fn write_rows<T>(
        &self,
        rows: Rows<T>,
        events: Vec<Event>,
    ) -> Result<(T, Vec<Event>), StoreError> {
        let events = self.write_with_events(rows.batch, events)?;
        Ok((rows.changes, events))
    }

    /// [`Store::write_rows`] with events about watched addresses too,
    /// after the payment events.
    pub fn write_rows_with<T>(
        &self,
        rows: Rows<T>,
        events: Vec<Event>,
        address_events: Vec<AddressEvent>,
    ) -> Result<(T, Vec<Event>), StoreError> {
        if address_events.is_empty() {
            return self.write_rows(rows, events);
        }
        let all = events
            .into_iter()
            .map(FeedEvent::Payment)
            .chain(address_events.into_iter().map(FeedEvent::Address))
            .collect();
        let written = self.write_with_events(rows.batch, all)?;
        let events = written
            .into_iter()
            .filter_map(|e| match e {
                FeedEvent::Payment(e) => Some(e),
                FeedEvent::Address(_) => None,
            })
            .collect();
        Ok((rows.changes, events))
    }

    /// Writes `batch` with `events` appended to the outbox, each given the
    /// next sequence number under one lock, so that sequence order is
    /// commit order; returns the events with their `seq`.
    fn write_with_events<E: OutboxEvent>(
        &self,
        mut batch: WriteBatch,
        mut events: Vec<E>,
    ) -> Result<Vec<E>, StoreError> {
        let mut next = self
            .next_seq
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut seq = *next;
        for e in &mut events {
            e.set_seq(seq);
            batch.put_cf(self.cf(CF_OUTBOX), seq.to_be_bytes(), e.to_bytes());
            seq += 1;
        }
        batch.put_cf(self.cf(CF_META), KEY_SEQ, seq.to_be_bytes());
        self.written(self.db.write(batch))?;
        if seq != *next {
            *next = seq;
            self.last_seq.send_replace(seq - 1);
        }
        Ok(events)
    }

    // ---- queries -------------------------------------------------------

    /// Transfers of one address in block order, `limit` at a time; `after`
    /// is the `next` cursor of the previous page.
    pub fn transfers_by_address(
        &self,
        chain: &str,
        addr: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<TransferPage, StoreError> {
        self.transfers_by_index(chain, addr_prefix(chain, addr), after, limit)
    }

    /// Transfers whose counterparty is `counterparty` (its display form),
    /// in block order, as [`Store::transfers_by_address`] pages them.
    pub fn transfers_by_counterparty(
        &self,
        chain: &str,
        counterparty: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<TransferPage, StoreError> {
        self.transfers_by_index(
            chain,
            counterparty_prefix(chain, counterparty),
            after,
            limit,
        )
    }

    fn transfers_by_index(
        &self,
        chain: &str,
        prefix: Vec<u8>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<TransferPage, StoreError> {
        let mut start = prefix.clone();
        if let Some(a) = after {
            start.extend_from_slice(a);
            start.push(0);
        }
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(prefix_end(&prefix));
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_ADDR_IDX),
            ro,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        let mut transfers = Vec::new();
        let mut last_suffix: Option<Vec<u8>> = None;
        let mut next = None;
        for item in iter {
            let (k, _) = item?;
            if transfers.len() == limit {
                next = last_suffix.as_deref().map(hex::encode);
                break;
            }
            let suffix = &k[prefix.len()..];
            let (height, key) =
                parse_suffix(suffix).ok_or_else(|| corrupt("address index", hex::encode(&k)))?;
            if let Some(t) = self.transfer_at(chain, height, &key)? {
                transfers.push(t);
            }
            last_suffix = Some(suffix.to_vec());
        }
        Ok(TransferPage { transfers, next })
    }

    fn transfer_at(
        &self,
        chain: &str,
        height: u64,
        key: &TransferKey,
    ) -> Result<Option<Transfer>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_TRANSFERS), transfer_key(chain, height, key))?
        {
            Some(v) => Ok(Some(decode_transfer(&v)?)),
            None => Ok(None),
        }
    }

    /// Every transfer of one transaction in `chain`.
    pub fn transfers_by_txid(
        &self,
        chain: &str,
        txid: &Hash32,
    ) -> Result<Vec<Transfer>, StoreError> {
        let mut prefix = chain_prefix(chain);
        prefix.extend_from_slice(&txid.bytes);
        let mut out = Vec::new();
        for item in self.prefix_iter(CF_TX_IDX, &prefix) {
            let (k, v) = item?;
            let s = &k[prefix.len()..];
            if s.len() != 5 || v.len() != 8 {
                return Err(corrupt("txid index", hex::encode(&k)));
            }
            let key = TransferKey {
                txid: *txid,
                direction: Direction::from_byte(s[0])
                    .ok_or_else(|| corrupt("txid index", hex::encode(&k)))?,
                index: u32::from_be_bytes(s[1..5].try_into().expect("length checked")),
            };
            let height = u64::from_be_bytes(v.as_ref().try_into().expect("length checked"));
            if let Some(t) = self.transfer_at(chain, height, &key)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Events with a sequence number above `after`, at most `limit`.
    /// Payment events (`Event`) and invoice events share the feed, so they
    /// are returned as JSON objects.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.events_after_raw(after, limit)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| corrupt("event", e)))
            .collect()
    }

    /// As [`Store::events_after`], as stored JSON with the sequence number.
    pub fn events_after_raw(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = (after.saturating_add(1)).to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf(CF_OUTBOX),
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("event key", hex::encode(&k)))?,
            );
            out.push((seq, v.into_vec()));
        }
        Ok(out)
    }

    /// Bytes on disk (SST files) and in memtables, over all column families.
    pub fn size_bytes(&self) -> u64 {
        ALL_CFS
            .iter()
            .map(|name| {
                let cf = self.cf(name);
                [
                    "rocksdb.total-sst-files-size",
                    "rocksdb.size-all-mem-tables",
                ]
                .iter()
                .filter_map(|p| self.db.property_int_value_cf(cf, *p).ok().flatten())
                .sum::<u64>()
            })
            .sum()
    }

    /// The sequence number of the newest event (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        *self.last_seq.borrow()
    }

    /// A receiver that changes whenever new events are committed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.last_seq.subscribe()
    }
}

/// An event as the outbox stores it: it takes the sequence number it is
/// given: payment events ([`Event`]), mempool events ([`MempoolEvent`])
/// and what the invoice tracker writes ([`crate::invoice_record::TrackerEvent`]).
pub(crate) trait OutboxEvent: serde::Serialize {
    fn set_seq(&mut self, seq: u64);

    /// The stored bytes.
    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes")
    }
}

impl OutboxEvent for crate::invoice_record::TrackerEvent {
    fn set_seq(&mut self, seq: u64) {
        match self {
            crate::invoice_record::TrackerEvent::Invoice(e) => {
                e.seq = seq;
                if e.own_key {
                    e.id = format!("invoice:{}:{}:{seq}", e.invoice.id, e.kind.suffix());
                }
            }
            crate::invoice_record::TrackerEvent::Unmatched(e) => e.seq = seq,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        sorted_json(self)
    }
}

impl OutboxEvent for MempoolEvent {
    fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    fn to_bytes(&self) -> Vec<u8> {
        sorted_json(self)
    }
}

/// `e` as JSON with its keys sorted at every level, as mempool and invoice
/// events have always been written: the feed's bytes are a public format.
fn sorted_json(e: &impl serde::Serialize) -> Vec<u8> {
    let v = serde_json::to_value(e).expect("an event always serializes");
    serde_json::to_vec(&v).expect("a JSON value always serializes")
}

impl OutboxEvent for Event {
    fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }
}

/// The events one block's batch writes: payment events and events about
/// watched addresses (`address.frozen`).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum FeedEvent {
    Payment(Event),
    Address(AddressEvent),
}

impl OutboxEvent for FeedEvent {
    fn set_seq(&mut self, seq: u64) {
        match self {
            FeedEvent::Payment(e) => e.seq = seq,
            FeedEvent::Address(e) => e.seq = seq,
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        match self {
            FeedEvent::Payment(e) => e.to_bytes(),
            FeedEvent::Address(e) => sorted_json(e),
        }
    }
}

fn decode_watch(v: &[u8]) -> Result<WatchRecord, StoreError> {
    serde_json::from_slice(v).map_err(|e| corrupt("watch", e))
}

fn decode_transfer(v: &[u8]) -> Result<Transfer, StoreError> {
    serde_json::from_slice(v).map_err(|e| corrupt("transfer", e))
}

fn encode_transfer(t: &Transfer) -> Vec<u8> {
    serde_json::to_vec(t).expect("a transfer always serializes")
}
