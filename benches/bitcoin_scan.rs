//! Bitcoin scan throughput on the real mainnet blocks: decode + match (+ txid
//! of matched transactions) against 1k and 1M watched addresses, next to the
//! plain `bitcoin::consensus::deserialize::<Block>` + `compute_txid` baseline.
//!
//! Run: `cargo bench --bench bitcoin_scan` (fixtures from `PAYWATCH_FIXTURES`,
//! default `../shared/fixtures`).

use bitcoin::hashes::Hash;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paywatch::chain::bitcoin::{scan_block, Spends};
use paywatch::store::Store;
use paywatch::watch::{Matcher, WatchRecord};
use std::path::PathBuf;
use std::sync::Arc;

const BLOCKS: [u64; 3] = [413567, 702861, 866342];

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("PAYWATCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("btc").is_dir() {
        Some(dir)
    } else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("fixtures folder {} is missing", dir.display());
        }
        eprintln!("skipped: fixtures folder {} is missing", dir.display());
        None
    }
}

/// A store and matcher watching `n` scripts: a few taken from the blocks (so
/// matches happen) and the rest random P2WPKH scripts.
fn watched(n: usize, blocks: &[bitcoin::Block]) -> (tempfile::TempDir, Arc<Matcher>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let rec = WatchRecord {
        chain: "btc".into(),
        address: String::new(),
        label: None,
        metadata: serde_json::json!({}),
        created_at: 0,
    };
    let mut keys: Vec<Vec<u8>> = blocks
        .iter()
        .flat_map(|b| {
            b.txdata
                .iter()
                .skip(1)
                .step_by(97)
                .map(|tx| tx.output[0].script_pubkey.to_bytes())
        })
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while keys.len() < n {
        let mut h = [0u8; 20];
        for chunk in h.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        keys.push(
            bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(h)).into_bytes(),
        );
    }
    for chunk in keys.chunks(50_000) {
        let items: Vec<(Vec<u8>, WatchRecord)> =
            chunk.iter().map(|k| (k.clone(), rec.clone())).collect();
        store.insert_watches("btc", &items).unwrap();
    }
    let matcher = Arc::new(Matcher::load("btc", store).unwrap());
    (dir, matcher)
}

fn bench(c: &mut Criterion) {
    let Some(dir) = fixtures() else { return };
    let raws: Vec<(u64, Vec<u8>)> = BLOCKS
        .iter()
        .map(|h| {
            (
                *h,
                std::fs::read(dir.join(format!("btc/block-{h}.raw"))).unwrap(),
            )
        })
        .collect();
    let decoded: Vec<bitcoin::Block> = raws
        .iter()
        .map(|(_, r)| bitcoin::consensus::deserialize(r).unwrap())
        .collect();
    let sets: Vec<(&str, (tempfile::TempDir, Arc<Matcher>))> = vec![
        ("1k", watched(1_000, &decoded)),
        ("1M", watched(1_000_000, &decoded)),
    ];
    let spends = Spends::default();

    let mut g = c.benchmark_group("bitcoin_scan");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(4));
    for (height, raw) in &raws {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("baseline_deserialize_txid", height),
            raw,
            |b, raw| {
                b.iter(|| {
                    let block: bitcoin::Block = bitcoin::consensus::deserialize(raw).unwrap();
                    let mut acc = 0u8;
                    for tx in &block.txdata {
                        acc ^= tx.compute_txid().to_byte_array()[0];
                    }
                    acc
                })
            },
        );
        for (name, (_, matcher)) in &sets {
            g.bench_with_input(
                BenchmarkId::new(format!("paywatch_scan_{name}"), height),
                raw,
                |b, raw| {
                    b.iter(|| {
                        let block: bitcoin::Block = bitcoin::consensus::deserialize(raw).unwrap();
                        scan_block(
                            "btc",
                            bitcoin::Network::Bitcoin,
                            *height,
                            &block,
                            matcher.as_ref(),
                            &spends,
                        )
                        .unwrap()
                        .transfers
                        .len()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
