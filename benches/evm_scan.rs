//! EVM decode + match throughput on the real mainnet blocks 17173049-17173050
//! (block with transactions + receipts), against 1k and 1M watched addresses,
//! next to deserializing the same receipts into alloy's RPC receipt type.
//!
//! Run: `cargo bench --bench evm_scan`.

use alloy::rpc::types::TransactionReceipt;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paywatch::address::evm::parse_address;
use paywatch::chain::evm::{scan_block, scan_block_with, EvmRaw};
use paywatch::chain::skim::Json;
use paywatch::chain::RawJson;

mod common;

const BLOCKS: [u64; 2] = [17173049, 17173050];

fn bench(c: &mut Criterion) {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let assets = common::evm_usdt_assets();
    let inputs: Vec<(u64, String, String, u64)> = BLOCKS
        .iter()
        .map(|h| {
            let block =
                std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockByNumber-{h}.json")))
                    .unwrap();
            let receipts =
                std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockReceipts-{h}.json")))
                    .unwrap();
            let v: serde_json::Value = serde_json::from_str(&receipts).unwrap();
            let logs = v
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["logs"].as_array().unwrap().len() as u64)
                .sum();
            (*h, block, receipts, logs)
        })
        .collect();
    // USDT receivers of these blocks, so that matches happen.
    let seen: Vec<Vec<u8>> = [
        "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852",
        "0x21a31Ee1afC51d94C2eFcCAa2092aD1028285549",
        "0xCcA3E571400B299F3e09616721Ccd0BE0529226D",
    ]
    .iter()
    .map(|a| parse_address(a).unwrap().key.as_bytes().to_vec())
    .collect();
    let random = |seed: u64| common::bytes20(seed).to_vec();
    let sets = [
        ("1k", common::watched("eth", 1_000, seen.clone(), random)),
        ("1M", common::watched("eth", 1_000_000, seen, random)),
    ];

    let mut g = c.benchmark_group("evm_scan");
    g.sample_size(30);
    g.measurement_time(std::time::Duration::from_secs(4));
    for (height, block, receipts, logs) in &inputs {
        g.throughput(Throughput::Elements(*logs));
        g.bench_with_input(
            BenchmarkId::new("baseline_alloy_receipts", height),
            receipts,
            |b, receipts| {
                b.iter(|| {
                    serde_json::from_str::<Vec<TransactionReceipt>>(receipts)
                        .unwrap()
                        .len()
                })
            },
        );
        // The same scan with serde reading the JSON: the reference decoder.
        let reference = &sets[1].1 .1;
        let raw = EvmRaw {
            block: RawJson::from(block.clone()),
            receipts: RawJson::from(receipts.clone()),
            traces: None,
        };
        g.bench_with_input(
            BenchmarkId::new("reference_serde_1M", height),
            &raw,
            |b, raw| {
                b.iter(|| {
                    scan_block_with(
                        Json::Serde,
                        "eth",
                        &assets,
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
            // The node hands over the answers as raw JSON, as here.
            let raw = EvmRaw {
                block: RawJson::from(block.clone()),
                receipts: RawJson::from(receipts.clone()),
                traces: None,
            };
            g.bench_with_input(
                BenchmarkId::new(format!("paywatch_scan_{name}"), height),
                &raw,
                |b, raw| {
                    b.iter(|| {
                        scan_block("eth", &assets, *height, raw, matcher.as_ref())
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
