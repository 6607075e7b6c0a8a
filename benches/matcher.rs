//! The watched-set check every output and log goes through, with 10M
//! watched addresses (`MATCHER_BENCH_N` to change): negative lookups per
//! second through the bloom filter and exact store check, the filter's
//! size, the time to load the store's keys into a new filter, and the
//! process's resident memory once loaded.
//!
//! Baseline in the same run: the same negatives against a plain
//! `HashSet<Vec<u8>>` of the same keys (std SipHash), and fastbloom (a
//! general-purpose bloom filter) with the same hasher and 0.1% sizing.
//!
//! `cargo bench --bench matcher`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paywatch::store::Store;
use paywatch::transfer::WatchRecord;
use paywatch::watch::{Lookup, Matcher};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

mod common;

/// A P2WPKH-like 22-byte key from a seed (`0x0014` + 20 bytes).
fn key(seed: u64) -> Vec<u8> {
    let mut k = vec![0x00, 0x14];
    k.extend_from_slice(&common::bytes20(seed));
    k
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("MATCHER_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let rss_before = rss_mib();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let rec = WatchRecord {
        chain: "btc".into(),
        address: String::new(),
        label: None,
        metadata: serde_json::json!({}),
        created_at: 0,
    };
    let t = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = n;
    while left > 0 {
        let items: Vec<(Vec<u8>, WatchRecord)> = (0..left.min(100_000))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (key(x), rec.clone())
            })
            .collect();
        left -= items.len();
        store.insert_watches("btc", &items).unwrap();
    }
    let stored = t.elapsed();
    let t = Instant::now();
    let matcher = Matcher::load("btc", store.clone()).unwrap();
    let loaded = t.elapsed();
    eprintln!(
        "{n} watched: stored in {stored:.1?}, filter built from the store in {loaded:.1?}; \
         filter {:.1} MiB; RSS {:.0} MiB (was {:.0} MiB before)",
        matcher.filter_bytes() as f64 / 1048576.0,
        rss_mib(),
        rss_before
    );

    // Keys surely not watched (another seed space), laid out back to back
    // as scripts are in a block.
    let flat: Vec<u8> = (0..1_000_000u64)
        .flat_map(|i| key(i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xdead_beef))
        .collect();
    let probes: Vec<&[u8]> = flat.chunks(22).collect();
    let mut g = c.benchmark_group("matcher");
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("paywatch_negative_lookups_{n}"), |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for p in &probes {
                hits += matcher.lookup(p).unwrap().is_some() as usize;
            }
            hits
        })
    });
    g.bench_function(format!("paywatch_filter_per_block_{n}"), |b| {
        b.iter(|| matcher.with_filter(|maybe| probes.iter().filter(|p| maybe(p)).count()))
    });
    g.bench_function(format!("paywatch_filter_batched_{n}"), |b| {
        let mut out = Vec::new();
        b.iter(|| {
            matcher.may_contain_many(&probes, &mut out);
            out.iter().filter(|m| **m).count()
        })
    });
    // The general-purpose filter paywatch used before, same keys and
    // hasher, sized for 0.1% false positives.
    let mut fast = fastbloom::BloomFilter::with_false_pos(0.001)
        .hasher(foldhash::fast::RandomState::default())
        .expected_items(n + n / 4);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fast.insert(key(x).as_slice());
    }
    eprintln!(
        "baseline fastbloom: {:.1} MiB",
        fast.num_bits() as f64 / 8.0 / 1048576.0
    );
    g.bench_function(format!("baseline_fastbloom_per_key_{n}"), |b| {
        b.iter(|| probes.iter().filter(|p| fast.contains(**p)).count())
    });
    drop(fast);
    let set: HashSet<Vec<u8>> = {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                key(x)
            })
            .collect()
    };
    eprintln!("baseline HashSet of {n} keys: RSS now {:.0} MiB", rss_mib());
    g.bench_function(format!("baseline_hashset_negative_lookups_{n}"), |b| {
        b.iter(|| probes.iter().filter(|p| set.contains(**p)).count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
