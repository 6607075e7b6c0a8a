//! Catch-up sync, per chain: blocks per second while the daemon indexes a
//! chain of real mainnet blocks (the fixtures, re-linked into a longer
//! chain) from a replay node over loopback, with 100,000 watched
//! addresses, through the prefetch pipeline with both cores busy.
//!
//! In the same run, for each chain:
//! - the replay node alone: the same requests the daemon makes, with the
//!   daemon's concurrency, and nothing done with the answers; it must be
//!   well above the sync figure, or it is what is measured;
//! - scan only: decode + match of the same blocks on one core, in memory
//!   (the figure the pipeline is compared with).
//!
//! For Ethereum, the sync again through three endpoints serving the same
//! chain, next to the one-endpoint figure.
//!
//! `cargo bench --bench catch_up` (`CATCH_UP_BLOCKS` to change the length,
//! `CATCH_UP_CHAINS=bitcoin,ethereum,tron` to choose).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use bitcoin::hashes::Hash;
use common::evm::{real_block as eth_block, EthBlock, EthReplay};
use common::tron::{real_block as tron_block, rewritten_chain, TronReplay};
use common::*;
use futures_util::StreamExt;
use paywatch::address::{evm as evm_address, tron as tron_address};
use paywatch::chain::evm::{self, EvmRaw};
use paywatch::chain::tron::{self, TronRaw};
use paywatch::chain::RawJson;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WATCHED: u32 = 100_000;
/// Requests in flight, as the daemon's `prefetch` default.
const CONCURRENCY: usize = 8;

fn blocks_len() -> usize {
    std::env::var("CATCH_UP_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240)
}

/// `n` blocks scanned and fetched alone; `sync` is (blocks, time).
fn report(chain: &str, n: usize, node: Duration, scan: Duration, sync: (u64, Duration)) {
    let rate = |blocks: usize, d: Duration| blocks as f64 / d.as_secs_f64();
    let (sync, scan, node) = (rate(sync.0 as usize, sync.1), rate(n, scan), rate(n, node));
    println!(
        "{chain}: {n} blocks | sync {sync:.0} blocks/s | scan only {scan:.0} blocks/s \
         | ratio {:.2} | replay node alone {node:.0} blocks/s",
        sync / scan
    );
}

/// Imports `WATCHED` addresses made by `address(i)` into the daemon.
async fn watch_many(d: &Daemon, chain: &str, address: impl Fn(u32) -> String) {
    let mut body = String::new();
    for i in 0..WATCHED {
        body.push_str(&format!(
            "{{\"chain\":\"{chain}\",\"address\":\"{}\"}}\n",
            address(i)
        ));
    }
    let (code, answer) = d.watch_batch(body).await;
    assert_eq!(code, 200, "{answer}");
}

/// The daemon's indexing rate once the node shows the whole chain:
/// (blocks, time) from the first block indexed past the first to `tip`,
/// so that the node's own setup is not counted.
async fn timed_sync(d: &Daemon, chain: &str, tip: u64, show: impl FnOnce()) -> (u64, Duration) {
    show();
    let shown = Instant::now();
    let deadline = shown + Duration::from_secs(300);
    let mut first: Option<(u64, Instant)> = None;
    loop {
        let h = d.chain_status(chain).await["indexed_height"]
            .as_u64()
            .unwrap_or(0);
        if h > 1 && first.is_none() {
            first = Some((h, Instant::now()));
        }
        if h >= tip {
            return match first {
                Some((h0, t0)) if h0 + 10 < tip => (tip - h0, t0.elapsed()),
                // Done before progress could be seen: from the showing.
                _ => (tip - 1, shown.elapsed()),
            };
        }
        assert!(Instant::now() < deadline, "{chain} did not reach {tip}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends every request, `CONCURRENCY` at a time: a POST of the JSON body,
/// or a GET without one.
async fn post_all(
    http: &reqwest::Client,
    calls: Vec<(String, Option<Value>)>,
    auth: Option<(&str, &str)>,
) -> Duration {
    let started = Instant::now();
    futures_util::stream::iter(calls)
        .map(|(url, body)| {
            let mut req = match body {
                Some(body) => http.post(url).json(&body),
                None => http.get(url),
            };
            if let Some((u, p)) = auth {
                req = req.basic_auth(u, Some(p));
            }
            async move {
                let r = req.send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap().len()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

async fn bitcoin(fixtures: &std::path::Path, n: usize) {
    let real: Vec<bitcoin::Block> = [413567u64, 702861, 866342]
        .iter()
        .map(|h| {
            let raw = std::fs::read(fixtures.join(format!("btc/block-{h}.raw"))).unwrap();
            bitcoin::consensus::deserialize(&raw).unwrap()
        })
        .collect();
    let mut chain: Vec<bitcoin::Block> = Vec::new();
    let mut prev = bitcoin::BlockHash::from_byte_array([7; 32]);
    for i in 0..n {
        let b = block(prev, 1_700_000_000 + i as u32, real[i % 3].txdata.clone());
        prev = b.block_hash();
        chain.push(b);
    }
    let raws: Vec<Vec<u8>> = chain.iter().map(bitcoin::consensus::serialize).collect();
    let keys: Vec<Vec<u8>> = (0..WATCHED)
        .map(|i| wallet_script(10_000_000 + i).into_bytes())
        .collect();
    let (_dir, matcher) = bench::watched("btc", keys.len(), keys, |_| unreachable!());
    let spends = paywatch::chain::bitcoin::Spends::default();
    let started = Instant::now();
    for (i, raw) in raws.iter().enumerate() {
        paywatch::chain::bitcoin::walk::scan_raw(
            "btc",
            bitcoin::Network::Regtest,
            1 + i as u64,
            raw,
            matcher.as_ref(),
            &spends,
        )
        .unwrap();
    }
    let scan = started.elapsed();

    // As bitcoind with -rest=1: blocks in binary over REST.
    let node = ReplayNode::start(1, &chain).await;
    node.enable_rest();
    let http = reqwest::Client::new();
    let hashes: Vec<String> = chain.iter().map(|b| b.block_hash().to_string()).collect();
    let calls: Vec<(String, Option<Value>)> = hashes
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            [
                (
                    node.url.clone(),
                    Some(json!({"jsonrpc": "1.0", "id": 1, "method": "getblockhash", "params": [i + 1]})),
                ),
                (format!("{}/rest/block/{h}.bin", node.url), None),
            ]
        })
        .collect();
    // Twice: the node prepares each answer on first request.
    post_all(&http, calls.clone(), Some((&node.user, &node.password))).await;
    let alone = post_all(&http, calls, Some((&node.user, &node.password))).await;

    node.set_chain(1, &chain[..1]);
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("btc", "regtest", 1, 1)],
    ))
    .await;
    watch_many(&d, "btc", |i| {
        regtest_address(&wallet_script(10_000_000 + i))
    })
    .await;
    d.wait_indexed("btc", 1).await;
    let sync = timed_sync(&d, "btc", n as u64, || node.set_chain(1, &chain)).await;
    d.stop().await;
    report("bitcoin", n, alone, scan, sync);
}

/// Real EVM blocks re-linked: heights, hashes and parents rewritten.
fn eth_chain(fixtures: &std::path::Path, n: usize) -> Vec<EthBlock> {
    let real = [eth_block(fixtures, 17173049), eth_block(fixtures, 17173050)];
    let mut out = Vec::new();
    let mut prev = format!("0x{}", "11".repeat(32));
    for i in 0..n {
        let mut b = real[i % 2].clone();
        let height = 1 + i as u64;
        let hash = format!("0x{height:064x}");
        b.height = height;
        b.block["number"] = json!(format!("0x{height:x}"));
        b.block["hash"] = json!(hash);
        b.block["parentHash"] = json!(prev);
        for r in b.receipts.as_array_mut().unwrap() {
            r["blockNumber"] = json!(format!("0x{height:x}"));
            r["blockHash"] = json!(hash);
        }
        prev = hash;
        out.push(b);
    }
    out
}

/// The requests the daemon makes of `url` for each block of `chain`: the
/// block with its transactions and its receipts.
fn eth_calls(chain: &[EthBlock], url: &str) -> Vec<(String, Option<Value>)> {
    chain
        .iter()
        .flat_map(|b| {
            let h = format!("0x{:x}", b.height);
            [
                json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [h, true]}),
                json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockReceipts", "params": [h]}),
            ]
        })
        .map(|body| (url.to_string(), Some(body)))
        .collect()
}

async fn ethereum(fixtures: &std::path::Path, n: usize) {
    let chain = eth_chain(fixtures, n);
    let assets = common::evm::mainnet_assets();
    let address = |i: u32| format!("0x{:040x}", 0xabc0_0000_0000u64 + u64::from(i));
    let keys: Vec<Vec<u8>> = (0..WATCHED)
        .map(|i| {
            evm_address::parse_address(&address(i))
                .unwrap()
                .key
                .as_bytes()
                .to_vec()
        })
        .collect();
    let (_dir, matcher) = bench::watched("eth", keys.len(), keys, |_| unreachable!());
    let raws: Vec<EvmRaw> = chain
        .iter()
        .map(|b| EvmRaw {
            block: RawJson::from(b.block.to_string()),
            receipts: RawJson::from(b.receipts.to_string()),
            traces: None,
        })
        .collect();
    let started = Instant::now();
    for (b, raw) in chain.iter().zip(&raws) {
        evm::scan_block("eth", &assets, b.height, raw, matcher.as_ref()).unwrap();
    }
    let scan = started.elapsed();

    let node = EthReplay::start(1, chain.clone()).await;
    let http = reqwest::Client::new();
    let calls = eth_calls(&chain, &node.url);
    // Twice: the node prepares each answer on first request.
    post_all(&http, calls.clone(), None).await;
    let alone = post_all(&http, calls, None).await;

    node.set_blocks(chain[..1].to_vec());
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("eth", 1, 1, "")],
    ))
    .await;
    watch_many(&d, "eth", address).await;
    d.wait_indexed("eth", 1).await;
    let whole = chain.clone();
    let sync = timed_sync(&d, "eth", n as u64, || node.grow_to(whole)).await;
    d.stop().await;
    report("ethereum", n, alone, scan, sync);

    // The same sync through three endpoints serving the same chain, all
    // healthy: cross-checking their tips must not cost throughput.
    let nodes = [
        EthReplay::start(1, chain.clone()).await,
        EthReplay::start(1, chain.clone()).await,
        EthReplay::start(1, chain.clone()).await,
    ];
    // Each prepares its answers first, as the one endpoint above did.
    for n in &nodes {
        post_all(&http, eth_calls(&chain, &n.url), None).await;
        n.set_blocks(chain[..1].to_vec());
    }
    let mut section: String = nodes[0]
        .chain_toml("eth", 1, 1, "")
        .lines()
        .filter(|l| !l.starts_with("rpc_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    for n in &nodes {
        section.push_str(&format!("[[chain.endpoint]]\nurl = \"{}\"\n", n.url));
    }
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    watch_many(&d, "eth", address).await;
    d.wait_indexed("eth", 1).await;
    let wholes: Vec<Vec<EthBlock>> = nodes.iter().map(|_| chain.clone()).collect();
    let three = timed_sync(&d, "eth", n as u64, || {
        for (node, whole) in nodes.iter().zip(wholes) {
            node.grow_to(whole);
        }
    })
    .await;
    d.stop().await;
    let rate = |(blocks, t): (u64, Duration)| blocks as f64 / t.as_secs_f64();
    println!(
        "ethereum: sync through three endpoints {:.0} blocks/s | one endpoint {:.0} blocks/s \
         | ratio {:.2}",
        rate(three),
        rate(sync),
        rate(three) / rate(sync)
    );
}

async fn tron_chain(fixtures: &std::path::Path, n: usize) {
    let real = [
        tron_block(fixtures, 60836289),
        tron_block(fixtures, 61132092),
    ];
    let chain = rewritten_chain(1, n, 0, None, |i| Some(real[i % 2].clone()), &real[0]);
    let tokens = common::tron::usdt_tokens();
    let address = |i: u32| {
        let mut k = vec![0x41];
        k.extend_from_slice(&bench::bytes20(0x7000_0000 + u64::from(i)));
        tron_address::display(&k)
    };
    let keys: Vec<Vec<u8>> = (0..WATCHED)
        .map(|i| {
            tron_address::parse_address(&address(i))
                .unwrap()
                .key
                .as_bytes()
                .to_vec()
        })
        .collect();
    let (_dir, matcher) = bench::watched("tron", keys.len(), keys, |_| unreachable!());
    let raws: Vec<TronRaw> = chain
        .iter()
        .map(|b| TronRaw {
            block: serde_json::to_vec(&b.block).unwrap(),
            info: serde_json::to_vec(&b.info).unwrap(),
        })
        .collect();
    let started = Instant::now();
    for (b, raw) in chain.iter().zip(&raws) {
        tron::scan_block("tron", &tokens, b.number(), raw, matcher.as_ref()).unwrap();
    }
    let scan = started.elapsed();

    let node = TronReplay::start(chain.clone()).await;
    let http = reqwest::Client::new();
    let mut calls: Vec<(String, Option<Value>)> = (1..=n as u64)
        .step_by(100)
        .map(|a| {
            (
                format!("{}/wallet/getblockbylimitnext", node.url),
                Some(json!({"startNum": a, "endNum": (a + 100).min(n as u64 + 1)})),
            )
        })
        .collect();
    calls.extend((1..=n as u64).map(|h| {
        (
            format!("{}/wallet/gettransactioninfobyblocknum", node.url),
            Some(json!({ "num": h })),
        )
    }));
    // Twice: the node prepares each answer on first request.
    post_all(&http, calls.clone(), None).await;
    let alone = post_all(&http, calls, None).await;

    node.set_blocks(chain[..1].to_vec());
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("tron", 1, "confirmations = 1")],
    ))
    .await;
    watch_many(&d, "tron", address).await;
    d.wait_indexed("tron", 1).await;
    let sync = timed_sync(&d, "tron", n as u64, || node.set_blocks(chain.clone())).await;
    d.stop().await;
    report("tron", n, alone, scan, sync);
}

fn main() {
    if !bench::requested() {
        return;
    }
    let Some(fixtures) = bench::fixtures() else {
        return;
    };
    let n = blocks_len();
    let only = std::env::var("CATCH_UP_CHAINS").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.split(',').any(|c| c == name);
    bench::runtime().block_on(async {
        if run("bitcoin") {
            bitcoin(&fixtures, n).await;
        }
        if run("ethereum") {
            ethereum(&fixtures, n).await;
        }
        if run("tron") {
            tron_chain(&fixtures, n).await;
        }
    });
}
