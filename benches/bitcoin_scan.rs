//! Bitcoin scan throughput on the real mainnet blocks: decode + match (+ txid
//! of matched transactions) against 1k and 1M watched addresses, by the
//! scanner's walk over the raw bytes and by the straightforward decoder,
//! next to the plain `bitcoin::consensus::deserialize::<Block>` +
//! `compute_txid` baseline.
//!
//! Run: `cargo bench --bench bitcoin_scan` (fixtures from `PAYWATCH_FIXTURES`,
//! default `../shared/fixtures`).

use bitcoin::hashes::Hash;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paywatch::chain::bitcoin::walk::scan_raw;
use paywatch::chain::bitcoin::{scan_block, Spends};
use paywatch::watch::Matcher;
use std::sync::Arc;

mod common;

const BLOCKS: [u64; 3] = [413567, 702861, 866342];

/// Watches `n` scripts: a few taken from the blocks (so that matches happen)
/// and the rest random P2WPKH scripts.
fn watched(n: usize, blocks: &[bitcoin::Block]) -> (tempfile::TempDir, Arc<Matcher>) {
    // Every 97th transaction's first output of a standard type whose script
    // is paid only once in its block, as a merchant's address is (some
    // scripts recur thousands of times in a block; 866342 has 10327 outputs
    // to 1741 distinct scripts).
    let standard = |s: &bitcoin::Script| {
        s.is_p2pkh() || s.is_p2sh() || s.is_p2wpkh() || s.is_p2wsh() || s.is_p2tr()
    };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for b in blocks {
        let mut uses: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
        for tx in &b.txdata {
            for o in &tx.output {
                *uses.entry(o.script_pubkey.as_bytes()).or_default() += 1;
            }
        }
        keys.extend(
            b.txdata
                .iter()
                .skip(1)
                .step_by(97)
                .filter_map(|tx| {
                    tx.output.iter().find(|o| {
                        standard(&o.script_pubkey) && uses[o.script_pubkey.as_bytes()] == 1
                    })
                })
                .map(|o| o.script_pubkey.to_bytes()),
        );
    }
    common::watched("btc", n, keys, |seed| {
        bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(common::bytes20(
            seed,
        )))
        .into_bytes()
    })
}

fn bench(c: &mut Criterion) {
    let Some(dir) = common::fixtures() else {
        return;
    };
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
    for ((height, _), block) in raws.iter().zip(&decoded) {
        for (name, (_, matcher)) in &sets {
            let n = scan_block(
                "btc",
                bitcoin::Network::Bitcoin,
                *height,
                block,
                matcher.as_ref(),
                &spends,
            )
            .unwrap()
            .transfers
            .len();
            eprintln!("block {height}, {name} watched: {n} transfers matched");
        }
    }

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
            // The scanner's path: the walk over the raw bytes.
            g.bench_with_input(
                BenchmarkId::new(format!("paywatch_walk_{name}"), height),
                raw,
                |b, raw| {
                    b.iter(|| {
                        scan_raw(
                            "btc",
                            bitcoin::Network::Bitcoin,
                            *height,
                            raw,
                            matcher.as_ref(),
                            &spends,
                        )
                        .unwrap()
                        .transfers
                        .len()
                    })
                },
            );
            // The straightforward decoder the walk is checked against.
            g.bench_with_input(
                BenchmarkId::new(format!("decoder_scan_{name}"), height),
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
