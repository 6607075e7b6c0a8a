//! The watched set of one chain: a bloom filter in memory that answers
//! "surely not watched" for almost every output, in front of the exact set in
//! the store.

use crate::store::{Store, StoreError};
use crate::transfer::WatchRecord;
use bloom::Bloom;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

mod bloom;

/// Smallest capacity a filter is built with.
const MIN_CAPACITY: usize = 1 << 16;

/// What a transfer candidate is checked against: "is this address key
/// watched, and by which watch?"
pub trait Lookup {
    /// The watch of `key`, if any: the filter first, then the exact set.
    fn lookup(&self, key: &[u8]) -> Result<Option<WatchRecord>, StoreError>;

    /// The watch of `key` from the exact set alone, for a key that
    /// [`Lookup::with_filter`]'s test already passed. Inside `with_filter`
    /// this is the lookup to use: it never takes the filter's lock again.
    fn lookup_exact(&self, key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        self.lookup(key)
    }

    /// Runs `f` with a test that is false only for keys surely not watched,
    /// cheap enough to ask for every output of a block (one lock for the
    /// whole call instead of one per key).
    fn with_filter<R>(&self, f: impl FnOnce(&dyn Fn(&[u8]) -> bool) -> R) -> R {
        f(&|_| true)
    }
}

/// Bloom filter plus exact set for one chain.
pub struct Matcher {
    chain: String,
    store: Arc<Store>,
    bloom: RwLock<Bloom>,
    capacity: AtomicUsize,
    inserted: AtomicUsize,
}

impl Matcher {
    /// Builds the filter from every watch of `chain` in the store.
    pub fn load(chain: &str, store: Arc<Store>) -> Result<Self, StoreError> {
        let mut keys = Vec::new();
        store.for_each_watch_key(chain, |k| keys.push(k.to_vec()))?;
        // A quarter of headroom for watches added later: 10M watched
        // addresses take a 27 MB filter, under 0.1% false positives.
        let capacity = (keys.len() + keys.len() / 4).max(MIN_CAPACITY);
        let mut bloom = Bloom::new(capacity);
        for k in &keys {
            bloom.insert(k.as_slice());
        }
        Ok(Matcher {
            chain: chain.to_string(),
            store,
            bloom: RwLock::new(bloom),
            capacity: AtomicUsize::new(capacity),
            inserted: AtomicUsize::new(keys.len()),
        })
    }

    /// Adds keys to the filter (after they are stored). When the filter
    /// outgrows its capacity it is rebuilt, twice as large, from the store.
    pub fn add_keys<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Result<(), StoreError> {
        let mut n = 0;
        {
            let mut bloom = self.bloom.write().unwrap_or_else(|p| p.into_inner());
            for k in keys {
                bloom.insert(k);
                n += 1;
            }
        }
        let total = self.inserted.fetch_add(n, Ordering::Relaxed) + n;
        if total > self.capacity.load(Ordering::Relaxed) {
            self.rebuild(total * 2)?;
        }
        Ok(())
    }

    fn rebuild(&self, capacity: usize) -> Result<(), StoreError> {
        // Writers store a key before they add it to the filter, and adding
        // waits for this lock: a key the store iteration misses is added to
        // the new filter by its writer afterwards.
        let mut guard = self.bloom.write().unwrap_or_else(|p| p.into_inner());
        if self.capacity.load(Ordering::Relaxed) >= capacity {
            return Ok(());
        }
        let mut bloom = Bloom::new(capacity);
        let mut count = 0;
        self.store.for_each_watch_key(&self.chain, |k| {
            bloom.insert(k);
            count += 1;
        })?;
        *guard = bloom;
        self.capacity.store(capacity, Ordering::Relaxed);
        self.inserted.store(count, Ordering::Relaxed);
        Ok(())
    }

    /// True when `key` may be watched (false means surely not).
    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// [`Matcher::may_contain`] for many keys at once, into `out`: faster
    /// per key, because their memory accesses overlap.
    pub fn may_contain_many(&self, keys: &[&[u8]], out: &mut Vec<bool>) {
        self.bloom
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_many(keys, out)
    }

    /// Addresses added to the filter (removed watches stay in it).
    pub fn filter_entries(&self) -> usize {
        self.inserted.load(Ordering::Relaxed)
    }

    /// Size of the in-memory filter in bytes.
    pub fn filter_bytes(&self) -> usize {
        self.bloom.read().unwrap_or_else(|p| p.into_inner()).bytes()
    }
}

impl Lookup for Matcher {
    fn lookup(&self, key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        if !self.may_contain(key) {
            return Ok(None);
        }
        self.lookup_exact(key)
    }

    fn lookup_exact(&self, key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        self.store.get_watch(&self.chain, key)
    }

    /// Holds the filter's read lock for the whole of `f`. `f` must not take
    /// it again (no [`Lookup::lookup`], use [`Lookup::lookup_exact`]): std's
    /// `RwLock` lets a waiting writer (a watch being added) go first, so a
    /// second read would wait for that writer, which waits for the first.
    fn with_filter<R>(&self, f: impl FnOnce(&dyn Fn(&[u8]) -> bool) -> R) -> R {
        let bloom = self.bloom.read().unwrap_or_else(|p| p.into_inner());
        f(&|k| bloom.contains(k))
    }
}
