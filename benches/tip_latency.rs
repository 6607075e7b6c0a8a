//! Tip latency for Bitcoin: from the node announcing a block (ZMQ
//! `hashblock`) to the webhook receiver getting the signed POST for the
//! payment in it, against a replay node and a local receiver.
//!
//! Baseline in the same run: the same blocks found by asking the node's
//! tip every second (`poll_interval_ms = 1000`, no ZMQ).
//!
//! TRON has no push from the node: the same figure for a TRON replay node
//! polled every 200 ms, over blocks carrying the real USDT transfers of
//! block 60836289 (ids made unique per block); there the target is the
//! polling interval plus 20 ms.
//!
//! EVM: from Anvil mining a block (`evm_mine`, which announces it over
//! `newHeads`) to the POST for the native payment in it, with the tip
//! polled only every 10 minutes; baseline: the same with polling every
//! second and no subscription. Blocks are mined 100 ms apart, still far
//! faster than any EVM chain: mined back to back, 1-2% of them wait 40 ms
//! more, the mark of a delayed ACK on the WebSocket, which a pause between
//! blocks removes.
//!
//! `cargo bench --bench tip_latency` (`TIP_BENCH_N` blocks, 200 by default).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use bitcoin::OutPoint;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A local webhook receiver: the txid of each `payment.detected` and when
/// it arrived.
async fn receiver() -> (
    String,
    mpsc::UnboundedReceiver<(String, Instant)>,
    tokio::sync::watch::Sender<bool>,
) {
    let (tx, arrivals) = mpsc::unbounded_channel::<(String, Instant)>();
    let (hook, stop) = serve_http(
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
    (hook, arrivals, stop)
}

/// When the first webhook whose txid `wanted` arrived (30 s at most).
async fn arrival(
    arrivals: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    wanted: impl Fn(&str) -> bool,
) -> Instant {
    loop {
        let (got, at) = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
            .await
            .expect("a webhook within 30 s")
            .unwrap();
        if wanted(&got) {
            return at;
        }
    }
}

async fn measure(zmq: bool, n: usize) -> Vec<Duration> {
    let mut chain = Vec::new();
    extend(&mut chain, 1, n + 2, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let (hook, mut arrivals, _stop) = receiver().await;
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
        out.push(arrival(&mut arrivals, |got| got == id).await - start);
    }
    d.stop().await;
    out
}

/// EVM: Anvil without automatic mining; each payment waits in its pool
/// until `evm_mine`, from which the time is taken.
async fn measure_evm(bin: &std::path::PathBuf, new_heads: bool, n: usize) -> Vec<Duration> {
    use common::anvil::Anvil;
    let anvil = Anvil::start_with(bin, &["--no-mining"]).await;
    let accounts = anvil.rpc("eth_accounts", serde_json::json!([])).await;
    let (payer, merchant) = (
        accounts[0].as_str().unwrap().to_string(),
        accounts[1].as_str().unwrap().to_string(),
    );
    let (hook, mut arrivals, _stop) = receiver().await;
    let (poll, ws) = if new_heads {
        (
            600_000,
            format!("ws_url = \"{}\"\n", anvil.url.replace("http://", "ws://")),
        )
    } else {
        (1_000, String::new())
    };
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\n{ws}chain_id = 31337\n\
         start_height = 1\nconfirmations = 1\npoll_interval_ms = {poll}\n",
        anvil.url
    );
    let config = format!(
        "{}[[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\nsecret = \"tip-latency-secret-0123\"\n",
        config_text(dir.path(), &[section]),
    );
    let d = Daemon::start(&config).await;
    d.watch("anvil", &merchant, "bench").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tx = serde_json::json!({"from": payer, "to": merchant, "value": format!("0x{:x}", 1_000_000 + i)});
        let id = anvil
            .rpc("eth_sendTransaction", serde_json::json!([tx]))
            .await
            .as_str()
            .unwrap()
            .to_string();
        let start = Instant::now();
        anvil.rpc("evm_mine", serde_json::json!([])).await;
        out.push(arrival(&mut arrivals, |got| got == id).await - start);
    }
    d.stop().await;
    out
}

async fn measure_tron(fixtures: &std::path::Path, n: usize, poll_ms: u64) -> Vec<Duration> {
    use common::tron::{real_block, rewritten_chain, TronReplay};
    let real = real_block(fixtures, 60836289);
    let grow = |chain: &mut Vec<common::tron::TronBlock>, len: usize| {
        let base = chain.last().map_or(1, |b| b.height + 1);
        let parent = chain.last().map(|b| b.id());
        for mut b in rewritten_chain(base, len, 0, parent, |_| Some(real.clone()), &real) {
            common::tron::unique_ids(&mut b, 0);
            chain.push(b);
        }
    };
    let mut chain = Vec::new();
    grow(&mut chain, 3);
    let node = TronReplay::start(chain.clone()).await;
    let (hook, mut arrivals, _stop) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let chain_toml = node.chain_toml("tron", 1, "confirmations = 1").replace(
        "poll_interval_ms = 50",
        &format!("poll_interval_ms = {poll_ms}"),
    );
    let config = format!(
        "{}[[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\nsecret = \"tip-latency-secret-0123\"\n",
        config_text(dir.path(), &[chain_toml]),
    );
    let d = Daemon::start(&config).await;
    // A USDT receiver of the real block.
    d.watch("tron", "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb", "bench")
        .await;
    d.wait_indexed("tron", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    while arrivals.try_recv().is_ok() {}
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // At a random point of the polling cycle, as a real block comes.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..poll_ms))).await;
        grow(&mut chain, 1);
        let tag = format!("{:016x}", chain.last().unwrap().height);
        node.set_blocks(chain.clone());
        let start = Instant::now();
        out.push(arrival(&mut arrivals, |got| got.starts_with(&tag)).await - start);
        // The block's other payments to the same address.
        tokio::time::sleep(Duration::from_millis(50)).await;
        while arrivals.try_recv().is_ok() {}
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
        if let Some(bin) = common::anvil::anvil_path() {
            bench::latency_summary(
                "EVM newHeads -> webhook POST",
                measure_evm(&bin, true, n).await,
            );
            bench::latency_summary(
                "EVM tip polled every 1 s (baseline)",
                measure_evm(&bin, false, (n / 10).max(20)).await,
            );
        }
        if let Some(fixtures) = bench::fixtures() {
            bench::latency_summary(
                "TRON block -> webhook POST, polled every 200 ms",
                measure_tron(&fixtures, (n / 4).max(20), 200).await,
            );
        }
    });
}
