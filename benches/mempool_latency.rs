//! How soon a mempool payment is reported: from the node publishing the
//! transaction to the `payment.detected` event being readable in the feed
//! (`/v1/events` long-poll), against a replay node that serves the mempool
//! RPCs and publishes ZMQ `rawtx`.
//!
//! Baseline in the same run: the same payments found by the
//! `getrawmempool` listing alone (no ZMQ, the default 1 s interval).
//!
//! `cargo bench --bench mempool_latency` (`MEMPOOL_BENCH_N` payments per
//! mode, 300 by default).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use bitcoin::OutPoint;
use common::*;
use std::time::{Duration, Instant};

async fn measure(zmq: bool, n: usize) -> Vec<Duration> {
    let mut chain = Vec::new();
    extend(&mut chain, 1, n + 1, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let mempool = if zmq {
        let endpoint = node.enable_zmq().await;
        format!("[chain.mempool]\nzmq_rawtx = \"{endpoint}\"\npoll_interval_ms = 600000\nfull_rbf = false\n")
    } else {
        "[chain.mempool]\nfull_rbf = false\n".to_string()
    };
    let config = format!(
        "{}{mempool}",
        config_text(dir.path(), &[node.chain_toml("btc", "regtest", 1, 1)]),
    );
    let merchant = wallet_script(1);
    let d = Daemon::start(&config).await;
    d.watch("btc", &regtest_address(&merchant), "bench").await;
    d.wait_indexed("btc", n as u64 + 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, status) = d.get("/v1/status").await;
    let mut after = status["events"]["last_seq"].as_u64().unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for (i, funding) in chain.iter().take(n).enumerate() {
        let op = OutPoint {
            txid: funding.txdata[0].compute_txid(),
            vout: 0,
        };
        let t = spend(&[op], &[(merchant.clone(), 10_000 + i as u64)]);
        let id = t.compute_txid().to_string();
        let start = Instant::now();
        node.mempool_add(&t, 500);
        'wait: loop {
            let (_, page) = d.get(&format!("/v1/events?after={after}&wait=10")).await;
            after = page["next_after"].as_u64().unwrap_or(after);
            for e in page["events"].as_array().into_iter().flatten() {
                if e["txid"] == id.as_str() && e["type"] == "payment.detected" {
                    break 'wait;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "payment {i} never reported"
            );
        }
        out.push(start.elapsed());
    }
    d.stop().await;
    out
}

fn main() {
    if !bench::requested() {
        return;
    }
    let n: usize = std::env::var("MEMPOOL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    bench::runtime().block_on(async {
        bench::latency_summary("ZMQ rawtx -> event", measure(true, n).await);
        bench::latency_summary(
            "getrawmempool every 1 s (baseline)",
            measure(false, (n / 10).max(20)).await,
        );
    });
}
