//! What risk screening adds to the scan, on the real mainnet blocks: decode
//! and match (`*_scan`), next to screening the decoded block (`*_screen`:
//! amount, sanctions
//! list of 100k addresses, frozen set, look-alike records in the store) of
//! every matched transfer, with 1M watched addresses among which every
//! receiver of the blocks' USDT transfers (EVM, TRON) or every 97th
//! transaction's output (Bitcoin): far more matches than a merchant has.
//!
//! Run: `cargo bench --bench risk_screen`.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use paywatch::chain::Block;
use paywatch::config::RiskConfig;
use paywatch::risk::{Sanctions, Screen};
use paywatch::store::Store;
use std::sync::Arc;

mod common;

/// A sanctions list of `n` random EVM and TRON addresses, in a file.
fn sanctions(dir: &std::path::Path, n: u64) -> Arc<Sanctions> {
    let path = dir.join("sanctions.txt");
    let mut text = String::new();
    for i in 0..n {
        let k = common::bytes20(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        text.push_str(&format!("0x{}\n", hex::encode(k)));
        let mut t = vec![0x41];
        t.extend_from_slice(&k);
        text.push_str(&paywatch::address::tron::display(&t));
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    Sanctions::load(Some(path)).unwrap()
}

fn screen(chain: &str, assets: &[(&str, u8)], store: &Arc<Store>, list: &Arc<Sanctions>) -> Screen {
    let assets: Vec<(String, u8)> = assets.iter().map(|(s, d)| (s.to_string(), *d)).collect();
    Screen::new(
        chain,
        RiskConfig::default(),
        &assets,
        list.clone(),
        store.clone(),
    )
    .unwrap()
}

/// Screens a decoded block as the scanner does before committing it; the
/// block is handed back, to be dropped outside the measured time.
fn screened(s: &Screen, mut block: Block) -> (Block, usize) {
    let history = s.screen(&mut block.transfers, &block.freezes).unwrap();
    let n = history.len();
    (block, n)
}

/// The `to` of every USDT `Transfer` log in `receipts` (EVM) or
/// transaction info (TRON), as address keys.
fn usdt_receivers(
    logs: impl Iterator<Item = serde_json::Value>,
    contract: &str,
    tron: bool,
) -> Vec<Vec<u8>> {
    let transfer = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
    logs.filter(|l| {
        l["address"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .ends_with(contract)
            && l["topics"][0]
                .as_str()
                .unwrap_or_default()
                .ends_with(transfer)
            && l["topics"].as_array().is_some_and(|t| t.len() == 3)
    })
    .map(|l| {
        let t = l["topics"][2].as_str().unwrap();
        let mut k = if tron { vec![0x41] } else { Vec::new() };
        k.extend(hex::decode(&t[t.len() - 40..]).unwrap());
        k
    })
    .collect()
}

fn bench(c: &mut Criterion) {
    let Some(fx) = common::fixtures() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let list = sanctions(tmp.path(), 50_000);
    let mut g = c.benchmark_group("risk_screen");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));

    // EVM.
    let assets = common::evm_usdt_assets();
    let blocks: Vec<(u64, String, String)> = [17173049u64, 17173050]
        .iter()
        .map(|h| {
            let read = |n: &str| {
                std::fs::read_to_string(fx.join(format!("eth/rpc/{n}-{h}.json"))).unwrap()
            };
            (
                *h,
                read("eth_getBlockByNumber"),
                read("eth_getBlockReceipts"),
            )
        })
        .collect();
    let mut keys = Vec::new();
    for (_, _, receipts) in &blocks {
        let v: serde_json::Value = serde_json::from_str(receipts).unwrap();
        let logs = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["logs"].as_array().unwrap().clone());
        keys.extend(usdt_receivers(
            logs,
            "dac17f958d2ee523a2206206994597c13d831ec7",
            false,
        ));
    }
    let (_d, store, matcher) =
        common::watched_store("eth", 1_000_000, keys, |s| common::bytes20(s).to_vec());
    let s = screen("eth", &[("ETH", 18), ("USDT", 6)], &store, &list);
    for (h, block, receipts) in &blocks {
        let raw = paywatch::chain::evm::EvmRaw {
            block: paywatch::chain::RawJson::from(block.clone()),
            receipts: paywatch::chain::RawJson::from(receipts.clone()),
            traces: None,
        };
        let scan = || {
            paywatch::chain::evm::scan_block("eth", &assets, *h, &raw, matcher.as_ref()).unwrap()
        };
        eprintln!("eth {h}: {} transfers matched", scan().transfers.len());
        g.bench_function(BenchmarkId::new("eth_scan", h), |b| {
            b.iter(|| scan().transfers.len())
        });
        let block = scan();
        g.bench_function(BenchmarkId::new("eth_screen", h), |b| {
            b.iter_batched(
                || block.clone(),
                |blk| screened(&s, blk),
                BatchSize::SmallInput,
            )
        });
    }

    // TRON.
    let tokens = common::tron_usdt_tokens();
    let raws: Vec<(u64, paywatch::chain::tron::TronRaw)> = [60836289u64, 61132092]
        .iter()
        .map(|h| {
            let block = std::fs::read(fx.join(format!("tron/getblockbynum-{h}.json"))).unwrap();
            let info = std::fs::read(fx.join(format!(
                "tron/gettransactioninfobyblocknum-{h}.derived.json"
            )))
            .unwrap();
            (*h, paywatch::chain::tron::TronRaw { block, info })
        })
        .collect();
    let mut keys = Vec::new();
    for (_, raw) in &raws {
        let v: serde_json::Value = serde_json::from_slice(&raw.info).unwrap();
        let logs = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["log"].as_array().cloned().unwrap_or_default());
        keys.extend(usdt_receivers(
            logs,
            "a614f803b6fd780986a42c78ec9c7f77e6ded13c",
            true,
        ));
    }
    let random = |seed: u64| {
        let mut k = vec![0x41];
        k.extend_from_slice(&common::bytes20(seed));
        k
    };
    let (_d, store, matcher) = common::watched_store("tron", 1_000_000, keys, random);
    let s = screen("tron", &[("TRX", 6), ("USDT", 6)], &store, &list);
    for (h, raw) in &raws {
        let scan = || {
            paywatch::chain::tron::scan_block("tron", &tokens, *h, raw, matcher.as_ref()).unwrap()
        };
        eprintln!("tron {h}: {} transfers matched", scan().transfers.len());
        g.bench_function(BenchmarkId::new("tron_scan", h), |b| {
            b.iter(|| scan().transfers.len())
        });
        let block = scan();
        g.bench_function(BenchmarkId::new("tron_screen", h), |b| {
            b.iter_batched(
                || block.clone(),
                |blk| screened(&s, blk),
                BatchSize::SmallInput,
            )
        });
    }

    // Bitcoin: the scanner's walk over the raw block.
    let blocks: Vec<(u64, Vec<u8>)> = [413567u64, 702861, 866342]
        .iter()
        .map(|h| {
            (
                *h,
                std::fs::read(fx.join(format!("btc/block-{h}.raw"))).unwrap(),
            )
        })
        .collect();
    let mut keys = Vec::new();
    for (_, raw) in &blocks {
        let b: bitcoin::Block = bitcoin::consensus::deserialize(raw).unwrap();
        keys.extend(
            b.txdata
                .iter()
                .skip(1)
                .step_by(97)
                .map(|tx| tx.output[0].script_pubkey.to_bytes()),
        );
    }
    let (_d, store, matcher) = common::watched_store("btc", 1_000_000, keys, |seed| {
        bitcoin::ScriptBuf::new_p2wpkh(
            &<bitcoin::WPubkeyHash as bitcoin::hashes::Hash>::from_byte_array(common::bytes20(
                seed,
            )),
        )
        .into_bytes()
    });
    let s = screen("btc", &[("BTC", 8)], &store, &list);
    let spends = paywatch::chain::bitcoin::Spends::default();
    for (h, raw) in &blocks {
        let scan = || {
            paywatch::chain::bitcoin::walk::scan_raw(
                "btc",
                bitcoin::Network::Bitcoin,
                *h,
                raw,
                matcher.as_ref(),
                &spends,
            )
            .unwrap()
        };
        eprintln!("btc {h}: {} transfers matched", scan().transfers.len());
        g.bench_function(BenchmarkId::new("btc_scan", h), |b| {
            b.iter(|| scan().transfers.len())
        });
        let block = scan();
        g.bench_function(BenchmarkId::new("btc_screen", h), |b| {
            b.iter_batched(
                || block.clone(),
                |blk| screened(&s, blk),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
