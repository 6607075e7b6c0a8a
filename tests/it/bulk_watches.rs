//! Bulk loading: one million addresses through `POST /v1/watches:batch`, then
//! a payment to one of them found by the scanner (the filter was updated) and
//! the import repeated as a no-op.

use crate::common;

use common::*;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_million_addresses_load_and_match() {
    const N: u32 = 1_000_000;
    let mut chain = Vec::new();
    extend(&mut chain, 0, 3, 0);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("btc", "regtest", 0, 1)],
    ))
    .await;

    let mut body = String::with_capacity(N as usize * 90);
    for i in 0..N {
        body.push_str("{\"chain\":\"btc\",\"address\":\"");
        body.push_str(&regtest_address(&wallet_script(i)));
        body.push_str("\",\"label\":\"bulk\"}\n");
    }
    let started = Instant::now();
    let r = d
        .http
        .post(format!("{}/v1/watches:batch", d.url))
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["created"], N);
    assert_eq!(b["existing"], 0);
    eprintln!(
        "imported {N} watches ({} MB of NDJSON) in {:.1} s",
        body.len() / 1_000_000,
        elapsed.as_secs_f64()
    );

    let target = wallet_script(N - 17);
    let pay = spend(
        &[bitcoin::OutPoint {
            txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
            vout: 3,
        }],
        &[(target.clone(), 424_242)],
    );
    extend(&mut chain, 0, 1, 0);
    let b3 = &chain[3];
    chain[3] = block(
        b3.header.prev_blockhash,
        b3.header.time,
        vec![b3.txdata[0].clone(), pay],
    );
    node.set_chain(0, &chain);
    d.wait_indexed("btc", 3).await;
    let t = d.transfers("btc", &regtest_address(&target)).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["amount"], "424242");
    assert_eq!(t[0]["watch"]["label"], "bulk");

    let r = d
        .http
        .post(format!("{}/v1/watches:batch", d.url))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (b["created"].as_u64(), b["existing"].as_u64()),
        (Some(0), Some(u64::from(N)))
    );
    d.stop().await;
}
