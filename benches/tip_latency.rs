//! Tip latency for Bitcoin: from the node announcing a block (ZMQ
//! `hashblock`) to the webhook receiver getting the signed POST for the
//! payment in it, against a replay node and a local receiver.
//!
//! Baseline in the same run: the same blocks found by asking the node's
//! tip every second (`poll_interval_ms = 1000`, no ZMQ).
//!
//! `cargo bench --bench tip_latency` (`TIP_BENCH_N` blocks, 200 by default).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/mod.rs"]
mod common;

use bitcoin::OutPoint;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

async fn measure(zmq: bool, n: usize) -> Vec<Duration> {
    let mut chain = Vec::new();
    extend(&mut chain, 1, n + 2, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let (tx, mut arrivals) = mpsc::unbounded_channel::<(String, Instant)>();
    let (hook, _stop) = serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let tx = tx.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    if v["type"] == "payment.detected" {
                        let _ = tx.send((v["txid"].as_str().unwrap_or("").to_string(), at));
                    }
                }
                Response::new(Full::new(Bytes::from_static(b"ok")))
            }
        },
    )
    .await;
    let extra = if zmq {
        format!("zmq_hashblock = \"{}\"\n", node.enable_zmq().await)
    } else {
        String::new()
    };
    let poll = if zmq { 600_000 } else { 1_000 };
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\nsecret = \"tip-latency-secret-0123\"\n",
        config_text(dir.path(), &[node.chain_toml_with("btc", 1, poll, &extra)]),
    );
    let d = Daemon::start(&config).await;
    let merchant = wallet_script(1);
    d.watch("btc", &regtest_address(&merchant), "bench").await;
    d.wait_indexed("btc", n as u64 + 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let op = OutPoint {
            txid: chain[i].txdata[0].compute_txid(),
            vout: 0,
        };
        let pay = spend(&[op], &[(merchant.clone(), 10_000)]);
        let id = pay.compute_txid().to_string();
        let height = chain.len() as u64 + 1;
        let prev = chain.last().unwrap().block_hash();
        chain.push(block(
            prev,
            1_700_000_000 + height as u32 * 600,
            vec![
                coinbase(height, 9, filler_script(height as u32), 50_0000_0000),
                pay,
            ],
        ));
        node.set_chain(1, &chain);
        let start = Instant::now();
        node.publish_block(chain.last().unwrap().block_hash());
        loop {
            let (got, at) = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
                .await
                .expect("a webhook within 30 s")
                .unwrap();
            if got == id {
                out.push(at - start);
                break;
            }
        }
    }
    d.stop().await;
    out
}

fn main() {
    if !bench::requested() {
        return;
    }
    let n: usize = std::env::var("TIP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    bench::runtime().block_on(async {
        bench::latency_summary("hashblock -> webhook POST", measure(true, n).await);
        bench::latency_summary(
            "tip polled every 1 s (baseline)",
            measure(false, (n / 10).max(20)).await,
        );
    });
}
