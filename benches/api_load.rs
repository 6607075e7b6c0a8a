//! The HTTP API under load, in one run:
//!
//! 1. `GET /v1/transfers?address=` for an address with 200 transfers, under
//!    `wrk` (2 threads, 32 connections, 10 s) while another chain is
//!    syncing 20,000 blocks from a replay node. Baseline in the same run:
//!    `GET /health` under the same load, the server's ceiling.
//! 2. Bulk import of 1,000,000 addresses through `POST /v1/watches:batch`
//!    (NDJSON). Baseline in the same run: the same watches written straight
//!    to the store (`insert_watches`).
//!
//! Needs `wrk` (`apt-get install wrk`). `cargo bench --bench api_load`

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use common::*;
use paywatch::store::Store;
use paywatch::transfer::WatchRecord;
use std::process::Command;
use std::time::Instant;

/// Runs wrk against `url`; returns (requests/s, p99 latency text).
fn wrk(url: &str) -> (f64, String) {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", "--latency", url])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .map(|l| l.trim().trim_start_matches("99%").trim().to_string())
        .unwrap_or_default();
    if rps == 0.0 {
        eprintln!("{text}");
    }
    (rps, p99)
}

fn main() {
    if !bench::requested() {
        return;
    }
    bench::runtime().block_on(async {
        // A merchant address paid in each of 200 blocks.
        let merchant = wallet_script(5);
        let mut paid = Vec::new();
        extend(&mut paid, 1, 1, 0);
        // And a typical order address, paid three times.
        let order = wallet_script(8);
        for h in 2..=201u64 {
            let prev = paid.last().unwrap().block_hash();
            let mut cb = coinbase(h, 1, merchant.clone(), 1_000 + h);
            if h <= 4 {
                cb.output.push(bitcoin::TxOut {
                    value: bitcoin::Amount::from_sat(5_000),
                    script_pubkey: order.clone(),
                });
            }
            paid.push(block(prev, 1_700_000_000 + h as u32 * 600, vec![cb]));
        }
        // Only the first block until the address is watched.
        let shop = ReplayNode::start(1, &paid[..1]).await;
        // Another chain to sync while the API is under load.
        let mut long = Vec::new();
        extend(&mut long, 1, 20_000, 7);
        let busy = ReplayNode::start(1, &long).await;
        let dir = tempfile::tempdir().unwrap();
        let config = config_text(
            dir.path(),
            &[
                shop.chain_toml("btc", "regtest", 1, 1),
                busy.chain_toml("btc2", "regtest", 1, 1),
            ],
        );
        let d = Daemon::start(&config).await;
        let address = regtest_address(&merchant);
        d.watch("btc", &address, "shop").await;
        let order_address = regtest_address(&order);
        d.watch("btc", &order_address, "order-42").await;
        d.watch("btc2", &regtest_address(&wallet_script(6)), "other").await;
        shop.set_chain(1, &paid);
        d.wait_indexed("btc", 201).await;
        let transfers = d.transfers("btc", &address).await;
        assert_eq!(transfers.len(), 200);
        let syncing = d.chain_status("btc2").await["indexed_height"].as_u64().unwrap_or(0);

        assert_eq!(d.transfers("btc", &order_address).await.len(), 3);
        let url = format!("{}/v1/transfers?address={order_address}&chain=btc", d.url);
        let (few_rps, few_p99) = tokio::task::spawn_blocking(move || wrk(&url)).await.unwrap();
        let url = format!("{}/v1/transfers?address={address}&chain=btc", d.url);
        let (rps, p99) = tokio::task::spawn_blocking(move || wrk(&url)).await.unwrap();
        let health = format!("{}/health", d.url);
        let (base_rps, base_p99) = tokio::task::spawn_blocking(move || wrk(&health)).await.unwrap();
        let synced = d.chain_status("btc2").await["indexed_height"].as_u64().unwrap_or(0);
        println!(
            "GET /v1/transfers?address= (3 transfers): {few_rps:.0} req/s, p99 {few_p99} \
             | (200 transfers, 100 per page): {rps:.0} req/s, p99 {p99} \
             | baseline GET /health: {base_rps:.0} req/s, p99 {base_p99} \
             | meanwhile btc2 synced {syncing} -> {synced}"
        );

        // Bulk import through the API.
        const N: u32 = 1_000_000;
        let mut body = String::with_capacity(N as usize * 90);
        for i in 0..N {
            body.push_str("{\"chain\":\"btc\",\"address\":\"");
            body.push_str(&regtest_address(&wallet_script(1_000_000 + i)));
            body.push_str("\",\"label\":\"bulk\"}\n");
        }
        let started = Instant::now();
        let (code, answer) = d.watch_batch(body).await;
        let api = started.elapsed();
        assert_eq!(code, 200, "{answer}");
        d.stop().await;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = WatchRecord {
            chain: "btc".into(),
            address: String::new(),
            label: Some("bulk".into()),
            metadata: serde_json::json!({}),
            created_at: 0,
        };
        let items: Vec<(Vec<u8>, WatchRecord)> = (0..N)
            .map(|i| (wallet_script(2_000_000 + i).into_bytes(), rec.clone()))
            .collect();
        let started = Instant::now();
        store.insert_watches("btc", &items).unwrap();
        let direct = started.elapsed();
        println!(
            "bulk import of {N} watches: POST /v1/watches:batch {api:.2?} | baseline insert_watches alone {direct:.2?}"
        );
    });
}
