//! Decoding cost of blocks larger than any fixture, per byte, next to the
//! real fixture blocks' in the same run: a 4 MB Bitcoin block and one of
//! 20,000 transactions (the fixtures' transactions, built with the
//! `bitcoin` crate), and an Ethereum block whose receipts carry 5,000 logs
//! (a real block's, repeated). A large block must cost what its bytes
//! cost, no more: nothing in the scan grows faster than the block.
//!
//! Each is scanned by the scanner's own path (`scan_raw` for Bitcoin, the
//! fast JSON reader for Ethereum) against 100,000 watched addresses.
//! Criterion reports each as bytes per second.
//!
//! `cargo bench --bench large_blocks`.

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use paywatch::chain::bitcoin::walk::scan_raw;
use paywatch::chain::bitcoin::Spends;
use paywatch::chain::evm::{self, EvmRaw};
use paywatch::chain::RawJson;

const WATCHED: usize = 100_000;

fn bitcoin(c: &mut Criterion, dir: &std::path::Path) {
    use common::large::{btc_block_of_size, btc_block_of_txs, btc_raw, BTC_FIXTURES};
    let mut blocks: Vec<(String, Vec<u8>)> = BTC_FIXTURES
        .iter()
        .map(|h| (format!("fixture_{h}"), btc_raw(dir, *h)))
        .collect();
    blocks.push((
        "4MB".into(),
        bitcoin::consensus::serialize(&btc_block_of_size(dir, 4_000_000)),
    ));
    blocks.push((
        "20000_txs".into(),
        bitcoin::consensus::serialize(&btc_block_of_txs(dir, 20_000)),
    ));
    let (_store, matcher) = bench::watched("btc", WATCHED, Vec::new(), |seed| {
        common::wallet_script(seed as u32).into_bytes()
    });
    let spends = Spends::default();
    let mut g = c.benchmark_group("large_blocks_bitcoin");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(3));
    for (name, raw) in &blocks {
        eprintln!("bitcoin {name}: {} bytes", raw.len());
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("scan_raw", name), raw, |b, raw| {
            b.iter(|| {
                scan_raw(
                    "btc",
                    bitcoin::Network::Bitcoin,
                    900_000,
                    raw,
                    matcher.as_ref(),
                    &spends,
                )
                .unwrap()
                .transfers
                .len()
            })
        });
    }
    g.finish();
}

fn ethereum(c: &mut Criterion, dir: &std::path::Path) {
    let h = 17173050u64;
    let real = common::evm::real_block(dir, h);
    let big = common::large::eth_block_with_logs(dir, h, 5_000);
    let assets = common::evm::mainnet_assets();
    let (_store, matcher) = bench::watched("eth", WATCHED, Vec::new(), |seed| {
        bench::bytes20(seed).to_vec()
    });
    let mut g = c.benchmark_group("large_blocks_ethereum");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(3));
    for (name, b) in [(format!("fixture_{h}"), &real), ("5000_logs".into(), &big)] {
        let raw = EvmRaw {
            block: RawJson::from(b.block.to_string()),
            receipts: RawJson::from(b.receipts.to_string()),
            traces: None,
        };
        let bytes = raw.block.as_bytes().len() + raw.receipts.as_bytes().len();
        eprintln!("ethereum {name}: {bytes} bytes");
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::new("scan_block", &name), &raw, |bench, raw| {
            bench.iter(|| {
                evm::scan_block("eth", &assets, h, raw, matcher.as_ref())
                    .unwrap()
                    .transfers
                    .len()
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let Some(dir) = bench::fixtures() else {
        return;
    };
    bitcoin(c, &dir);
    ethereum(c, &dir);
}

criterion_group!(large, benches);
criterion_main!(large);
