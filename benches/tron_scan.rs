//! TRON decode + match throughput on the real mainnet blocks and their
//! transaction info, against 1k and 1M watched addresses, next to a plain
//! `serde_json::Value` parse of the same files.
//!
//! Run: `cargo bench --bench tron_scan`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paywatch::chain::skim::Json;
use paywatch::chain::tron::{scan_block, scan_block_with, TronRaw};

mod common;

const BLOCKS: [u64; 2] = [60836289, 61132092];

fn bench(c: &mut Criterion) {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let raws: Vec<(u64, TronRaw, u64)> = BLOCKS
        .iter()
        .map(|h| {
            let block = std::fs::read(dir.join(format!("tron/getblockbynum-{h}.json"))).unwrap();
            let info = std::fs::read(dir.join(format!(
                "tron/gettransactioninfobyblocknum-{h}.derived.json"
            )))
            .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&block).unwrap();
            let txs = v["transactions"].as_array().unwrap().len() as u64;
            (*h, TronRaw { block, info }, txs)
        })
        .collect();
    let tokens = common::tron_usdt_tokens();
    // Receivers seen in the blocks, so that matches happen.
    let seen: Vec<Vec<u8>> = [
        "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb",
        "TPH479jG91GcRbPr4pnx7bwdN47twUvuy8",
        "TEPSrSYPDSQ7yXpMFPq91Fb1QEWpMkRGfn",
        "TR4Q6nJA2AdPHz5nDTCxhWmPmfnnRXFDzc",
    ]
    .iter()
    .map(|a| {
        paywatch::address::tron::parse_address(a)
            .unwrap()
            .key
            .as_bytes()
            .to_vec()
    })
    .collect();
    let random = |seed: u64| {
        let mut k = vec![0x41];
        k.extend_from_slice(&common::bytes20(seed));
        k
    };
    let sets = [
        ("1k", common::watched("tron", 1_000, seen.clone(), random)),
        ("1M", common::watched("tron", 1_000_000, seen, random)),
    ];

    let mut g = c.benchmark_group("tron_scan");
    g.sample_size(30);
    g.measurement_time(std::time::Duration::from_secs(4));
    for (height, raw, txs) in &raws {
        g.throughput(Throughput::Elements(*txs));
        g.bench_with_input(
            BenchmarkId::new("baseline_serde_json_value", height),
            raw,
            |b, raw| {
                b.iter(|| {
                    let block: serde_json::Value = serde_json::from_slice(&raw.block).unwrap();
                    let info: serde_json::Value = serde_json::from_slice(&raw.info).unwrap();
                    (block.is_object(), info.is_array())
                })
            },
        );
        // The same scan with serde reading the JSON: the reference decoder.
        let reference = &sets[1].1 .1;
        g.bench_with_input(
            BenchmarkId::new("reference_serde_1M", height),
            raw,
            |b, raw| {
                b.iter(|| {
                    scan_block_with(
                        Json::Serde,
                        "tron",
                        &tokens,
                        *height,
                        raw,
                        reference.as_ref(),
                    )
                    .unwrap()
                    .transfers
                    .len()
                })
            },
        );
        for (name, (_, matcher)) in &sets {
            g.bench_with_input(
                BenchmarkId::new(format!("paywatch_scan_{name}"), height),
                raw,
                |b, raw| {
                    b.iter(|| {
                        scan_block("tron", &tokens, *height, raw, matcher.as_ref())
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
