//! The in-memory filter in front of the exact watch set: a blocked bloom
//! filter.
//!
//! Why paywatch has its own: every output, transfer and log of every block
//! is asked about, almost always for an address nobody watches, and with
//! millions of watches the filter is far larger than the CPU caches. A
//! lookup then costs one memory access, and the rate depends on how many
//! of them are in flight at once. Here all the bits of a key sit in one
//! 32-byte block (within one cache line), and [`Bloom::contains_many`]
//! prefetches the blocks of a whole batch of keys, so that their memory
//! accesses overlap, before it checks any of them. General-purpose filters
//! (fastbloom was used before) answer one key at a time; `cargo bench
//! --bench matcher` compares the two.
//!
//! Layout (the split-block filter of Apache Parquet's spec): a key's hash
//! picks one 32-byte block of eight 32-bit words and sets one bit in each
//! word, the bit chosen by multiplying the hash by a per-word constant.
//! Checking a key is eight multiplies, shifts and compares on one block,
//! which the compiler turns into a few vector instructions.
//!
//! Sizing: 17 bits per key of capacity gives a false-positive rate of
//! about 0.1% when full (the blocked layout costs a little against a plain
//! filter of the same size). Inserting needs `&mut`: the matcher holds the
//! filter behind a lock that readers share.

use std::hash::BuildHasher;

/// Bits of the filter per key of capacity.
const BITS_PER_KEY: usize = 17;
/// Keys checked together by `contains_many`.
const BATCH: usize = 16;
/// One odd constant per word of a block.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct Block([u32; 8]);

pub struct Bloom {
    blocks: Box<[Block]>,
    hasher: foldhash::fast::RandomState,
}

/// Which block a key hash falls in (its high half, multiply-shift).
#[inline(always)]
fn block_of(h: u64, blocks: usize) -> usize {
    (((h >> 32) * blocks as u64) >> 32) as usize
}

/// The bit to set in each word, from the low half of the hash.
#[inline(always)]
fn masks(h: u64) -> [u32; 8] {
    let low = h as u32;
    SALT.map(|salt| 1u32 << (low.wrapping_mul(salt) >> 27))
}

#[inline(always)]
fn holds(block: &Block, m: &[u32; 8]) -> bool {
    let mut missing = 0;
    for (word, mask) in block.0.iter().zip(m) {
        missing |= mask & !word;
    }
    missing == 0
}

/// Asks the CPU to start loading a block into cache.
#[inline(always)]
fn prefetch(block: &Block) {
    // SAFETY: a prefetch is only a hint: it reads nothing into the
    // program, cannot fault, and the pointer is to a live block anyway.
    // SSE is part of every x86-64 CPU.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            block.0.as_ptr().cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(block.0[0]);
}

impl Bloom {
    /// A filter for `capacity` keys, with a fresh random hash seed.
    pub fn new(capacity: usize) -> Self {
        let bits = capacity.max(1).saturating_mul(BITS_PER_KEY);
        // Whole blocks, and no more than the 32-bit block index reaches.
        let n = bits.div_ceil(256).clamp(1, u32::MAX as usize);
        Bloom {
            blocks: vec![Block::default(); n].into_boxed_slice(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub fn insert(&mut self, key: &[u8]) {
        let h = self.hasher.hash_one(key);
        let b = block_of(h, self.blocks.len());
        for (word, mask) in self.blocks[b].0.iter_mut().zip(masks(h)) {
            *word |= mask;
        }
    }

    /// False when `key` was surely never inserted.
    #[inline]
    pub fn contains(&self, key: &[u8]) -> bool {
        let h = self.hasher.hash_one(key);
        holds(&self.blocks[block_of(h, self.blocks.len())], &masks(h))
    }

    /// `contains` for many keys, answered into `out` (cleared first). Keys
    /// are taken in batches whose blocks are all prefetched before any is
    /// checked, so that the memory accesses overlap.
    pub fn contains_many(&self, keys: &[&[u8]], out: &mut Vec<bool>) {
        out.clear();
        out.reserve(keys.len());
        let n = self.blocks.len();
        let mut placed = [(0usize, 0u64); BATCH];
        for chunk in keys.chunks(BATCH) {
            for (slot, key) in placed.iter_mut().zip(chunk) {
                let h = self.hasher.hash_one(key);
                *slot = (block_of(h, n), h);
                prefetch(&self.blocks[slot.0]);
            }
            for (b, h) in &placed[..chunk.len()] {
                out.push(holds(&self.blocks[*b], &masks(*h)));
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 22] {
        let mut k = [0u8; 22];
        k[..2].copy_from_slice(&[0x00, 0x14]);
        k[2..10].copy_from_slice(&i.to_le_bytes());
        k[10..18].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        k
    }

    #[test]
    fn every_inserted_key_is_found_and_few_others_are() {
        let n = 200_000u64;
        let mut bloom = Bloom::new(n as usize);
        for i in 0..n {
            bloom.insert(&key(i));
        }
        assert!((0..n).all(|i| bloom.contains(&key(i))));
        let probes: Vec<[u8; 22]> = (n..n + 1_000_000).map(key).collect();
        let false_positives = probes.iter().filter(|k| bloom.contains(&k[..])).count();
        // Sized for about 0.1% when full.
        assert!(
            false_positives < 1_200,
            "{false_positives} false positives in 1M"
        );
        assert!(false_positives > 100, "{false_positives}: suspiciously few");

        let refs: Vec<&[u8]> = probes.iter().map(|k| &k[..]).collect();
        let mut out = Vec::new();
        bloom.contains_many(&refs, &mut out);
        assert_eq!(out.iter().filter(|b| **b).count(), false_positives);
        let mine: Vec<[u8; 22]> = (0..1000).map(key).collect();
        let refs: Vec<&[u8]> = mine.iter().map(|k| &k[..]).collect();
        bloom.contains_many(&refs[..999], &mut out);
        assert_eq!(out.len(), 999);
        assert!(out.iter().all(|b| *b));
    }

    #[test]
    fn ten_million_keys_fit_in_32_mb() {
        let bloom = Bloom::new(10_000_000 + 10_000_000 / 4);
        assert!(bloom.bytes() <= 32 * 1024 * 1024, "{}", bloom.bytes());
    }
}
