//! The daemon against a replay node speaking bitcoind's JSON-RPC: reorgs of
//! depth 1, 6 and 100, a restart in the middle of a sync, node faults, and
//! bad API input.

use crate::common;

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const CHAIN: &str = "btc";

fn payment_tx(seed: u32, to: &bitcoin::ScriptBuf, value: u64) -> bitcoin::Transaction {
    let fake_prev = OutPoint {
        txid: Txid::from_byte_array([seed as u8; 32]),
        vout: seed,
    };
    spend(
        &[fake_prev],
        &[(to.clone(), value), (filler_script(seed + 9000), 1234)],
    )
}

fn with_txs(chain: &mut [bitcoin::Block], at: usize, txs: Vec<bitcoin::Transaction>) {
    let b = &chain[at];
    let mut all = b.txdata.clone();
    all.extend(txs);
    chain[at] = block(b.header.prev_blockhash, b.header.time, all);
}

/// Rebuilds headers after `from` so each block links to the one before.
fn relink(chain: &mut [bitcoin::Block], from: usize) {
    for i in from.max(1)..chain.len() {
        let prev = chain[i - 1].block_hash();
        let b = &chain[i];
        chain[i] = block(prev, b.header.time, b.txdata.clone());
    }
}

fn count(ev: &[Value], kind: &str, txid: &str) -> usize {
    ev.iter()
        .filter(|e| e["type"] == kind && e["txid"] == txid)
        .count()
}

async fn reorg_case(depth: usize) {
    const BASE: u64 = 1;
    const LEN: usize = 130;
    let watched = wallet_script(depth as u32);
    let addr = regtest_address(&watched);
    let mut a = Vec::new();
    extend(&mut a, BASE, LEN, 0);
    // P1: deep, never reorged (coinbase output at height 10).
    let p1_height = 10;
    let cb = coinbase(p1_height, 1, watched.clone(), 1000);
    let p1 = cb.compute_txid().to_string();
    a[(p1_height - BASE) as usize] = block(
        a[(p1_height - BASE) as usize].header.prev_blockhash,
        1_700_000_000,
        vec![cb],
    );
    relink(&mut a, (p1_height - BASE) as usize + 1);
    // P2: in the first block the reorg replaces.
    let fork_at = LEN - depth; // index of the first replaced block
    let p2_tx = payment_tx(7, &watched, 2000);
    let p2 = p2_tx.compute_txid().to_string();
    with_txs(&mut a, fork_at, vec![p2_tx.clone()]);
    relink(&mut a, fork_at + 1);

    // Fork B: same prefix, `depth` new blocks with P2 re-mined one block later
    // than before, and a new payment P4; then one more block.
    let mut b: Vec<bitcoin::Block> = a[..fork_at].to_vec();
    extend(&mut b, BASE, depth + 1, 77);
    let p4_tx = payment_tx(8, &watched, 4000);
    let p4 = p4_tx.compute_txid().to_string();
    let remine_at = (fork_at + 1).min(b.len() - 1);
    with_txs(&mut b, remine_at, vec![p2_tx, p4_tx]);
    relink(&mut b, fork_at);

    // The node shows the chain only once the watch is in place. Blocks
    // come over REST, as from bitcoind with -rest=1.
    let node = ReplayNode::start(BASE, &a[..1]).await;
    node.enable_rest();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", BASE, 3)],
    ))
    .await;
    d.watch(CHAIN, &addr, "shop").await;
    node.set_chain(BASE, &a);
    d.wait_indexed(CHAIN, node.tip()).await;
    let before = d.events().await;
    assert_eq!(count(&before, "payment.detected", &p2), 1);
    assert_eq!(
        count(&before, "payment.confirmed", &p2),
        usize::from(depth >= 3)
    );

    node.set_chain(BASE, &b);
    let ev = d
        .events_until("the re-mined payment", |ev| {
            count(ev, "payment.detected", &p4) == 1 && count(ev, "payment.detected", &p2) == 2
        })
        .await;
    d.wait_indexed(CHAIN, node.tip()).await;
    let ev_final = d.events().await;
    assert!(ev_final.len() >= ev.len());

    // Exactly one reorged event, for P2 only, after its first detection.
    let reorged: Vec<&Value> = ev_final
        .iter()
        .filter(|e| e["type"] == "payment.reorged")
        .collect();
    assert_eq!(reorged.len(), 1, "{reorged:#?}");
    assert_eq!(reorged[0]["txid"], p2.as_str());
    let p2_detected: Vec<&Value> = ev_final
        .iter()
        .filter(|e| e["type"] == "payment.detected" && e["txid"] == p2.as_str())
        .collect();
    assert_ne!(
        p2_detected[0]["id"], p2_detected[1]["id"],
        "a re-mined transfer needs a new event id"
    );
    assert_eq!(p2_detected[1]["block"]["height"], BASE + remine_at as u64);
    // Sequence numbers strictly increase with no gap.
    for (i, e) in ev_final.iter().enumerate() {
        assert_eq!(e["seq"], (i + 1) as u64);
    }
    // The deep payment was never touched.
    assert_eq!(count(&ev_final, "payment.reorged", &p1), 0);
    assert_eq!(count(&ev_final, "payment.detected", &p1), 1);

    // Stored transfers are exactly those on the best chain.
    let transfers = d.transfers(CHAIN, &addr).await;
    let got: Vec<(String, u64, String)> = transfers
        .iter()
        .map(|t| {
            (
                t["txid"].as_str().unwrap().to_string(),
                t["height"].as_u64().unwrap(),
                t["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let h2 = BASE + remine_at as u64;
    let mut want = vec![
        (p1.clone(), p1_height, "1000".to_string()),
        (p2.clone(), h2, "2000".into()),
        (p4.clone(), h2, "4000".into()),
    ];
    want.sort_by_key(|w| (w.1, w.0.clone()));
    let mut got_sorted = got.clone();
    got_sorted.sort_by_key(|w| (w.1, w.0.clone()));
    assert_eq!(got_sorted, want);
    for t in &transfers {
        assert_eq!(t["address"], addr.as_str());
        assert_eq!(t["watch"]["label"], "shop");
    }
    assert!(node.rest_calls() > 0, "blocks came over REST");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_depth_1() {
    reorg_case(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_depth_6() {
    reorg_case(6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_depth_100() {
    reorg_case(100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tip_replaced_at_the_same_height_is_a_reorg() {
    let watched = wallet_script(500);
    let addr = regtest_address(&watched);
    let mut a = Vec::new();
    extend(&mut a, 0, 20, 0);
    let pay = payment_tx(3, &watched, 77_700);
    let txid = pay.compute_txid().to_string();
    with_txs(&mut a, 19, vec![pay]);
    let mut b = a[..19].to_vec();
    extend(&mut b, 0, 1, 5);
    let node = ReplayNode::start(0, &a[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 0, 2)],
    ))
    .await;
    d.watch(CHAIN, &addr, "t").await;
    node.set_chain(0, &a);
    d.wait_indexed(CHAIN, 19).await;
    node.set_chain(0, &b);
    let ev = d
        .events_until("reorged", |ev| count(ev, "payment.reorged", &txid) == 1)
        .await;
    assert_eq!(
        count(&ev, "payment.confirmed", &txid),
        0,
        "never had 2 confirmations"
    );
    assert!(d.transfers(CHAIN, &addr).await.is_empty());
    d.stop().await;
}

/// A chain with payments to and spends from one watched script.
fn busy_chain(len: usize, watched: &bitcoin::ScriptBuf) -> Vec<bitcoin::Block> {
    let mut chain = Vec::new();
    extend(&mut chain, 0, len, 0);
    let mut unspent: Vec<OutPoint> = Vec::new();
    for i in 1..len {
        let mut txs = Vec::new();
        if i % 7 == 0 {
            let tx = payment_tx(i as u32, watched, 10_000 + i as u64);
            unspent.push(OutPoint {
                txid: tx.compute_txid(),
                vout: 0,
            });
            txs.push(tx);
        }
        if i % 11 == 0 {
            if let Some(op) = unspent.pop() {
                txs.push(spend(&[op], &[(filler_script(i as u32), 5_000)]));
            }
        }
        if !txs.is_empty() {
            with_txs(&mut chain, i, txs);
        }
    }
    relink(&mut chain, 1);
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_sync_loses_and_duplicates_nothing() {
    let watched = wallet_script(42);
    let addr = regtest_address(&watched);
    let chain = busy_chain(1500, &watched);
    let tip = chain.len() as u64 - 1;

    // Reference: one uninterrupted run.
    let node = ReplayNode::start(0, &chain[..1]).await;
    let clean_dir = tempfile::tempdir().unwrap();
    let section = node.chain_toml(CHAIN, "regtest", 0, 6);
    let clean = Daemon::start(&config_text(
        clean_dir.path(),
        std::slice::from_ref(&section),
    ))
    .await;
    clean.watch(CHAIN, &addr, "w").await;
    node.set_chain(0, &chain);
    clean.wait_indexed(CHAIN, tip).await;
    let reference = clean.events().await;
    clean.stop().await;
    assert!(
        reference.iter().any(|e| e["direction"] == "out"),
        "spends are reported"
    );

    // Interrupted runs: stop twice in the middle, restart on the same data.
    let node = ReplayNode::start(0, &chain[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 0, 6)]);
    let mut d = Daemon::start(&text).await;
    d.watch(CHAIN, &addr, "w").await;
    node.set_chain(0, &chain);
    let mut stops = 0;
    for stop_at in [300u64, 900] {
        loop {
            let h = d.chain_status(CHAIN).await["indexed_height"]
                .as_u64()
                .unwrap_or(0);
            if h >= stop_at {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let h = d.chain_status(CHAIN).await["indexed_height"]
            .as_u64()
            .unwrap_or(0);
        if h < tip {
            stops += 1;
        }
        d.stop().await;
        d = Daemon::start(&text).await;
    }
    d.wait_indexed(CHAIN, tip).await;
    let resumed = d.events().await;
    d.stop().await;
    assert!(stops >= 1, "the daemon was never stopped before the tip");
    let ids = |ev: &[Value]| {
        ev.iter()
            .map(|e| (e["seq"].clone(), e["id"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&resumed), ids(&reference));
    assert_eq!(event_keys(&resumed), event_keys(&reference));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_faults_are_reported_and_survived() {
    let watched = wallet_script(9);
    let addr = regtest_address(&watched);
    let mut chain = Vec::new();
    extend(&mut chain, 0, 30, 0);
    let node = ReplayNode::start(0, &chain[..1]).await;
    // Faults hit the REST interface as well as JSON-RPC.
    node.enable_rest();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 0, 1)],
    ))
    .await;
    d.watch(CHAIN, &addr, "f").await;
    node.set_chain(0, &chain);
    d.wait_indexed(CHAIN, 29).await;

    let wait_state = |state: &'static str, why: String| {
        let d = &d;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
            loop {
                let s = d.chain_status(CHAIN).await;
                let error_shown = s["last_error"].is_string() == (state != "following");
                if s["state"] == state && error_shown {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{why}: status never became {state}: {s}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Each fault is reported, then the node heals and the scanner follows
    // again (which also resets the retry backoff).
    for (fault, state) in [
        (Fault::Close, "node_unreachable"),
        (Fault::Http500, "degraded"),
        (Fault::Garbage, "degraded"),
        (Fault::RpcError, "degraded"),
    ] {
        node.set_fault(fault);
        wait_state(state, format!("{fault:?}")).await;
        node.set_fault(Fault::None);
        wait_state("following", format!("after {fault:?}")).await;
    }
    node.set_fault(Fault::Http500);
    wait_state("degraded", "Http500 again".into()).await;
    // The node heals and has new blocks with a payment: nothing is lost.
    let pay = payment_tx(1, &watched, 31337);
    let txid = pay.compute_txid().to_string();
    extend(&mut chain, 0, 3, 0);
    with_txs(&mut chain, 31, vec![pay]);
    relink(&mut chain, 31);
    node.set_chain(0, &chain);
    node.set_fault(Fault::None);
    d.wait_indexed(CHAIN, 32).await;
    let s = d.chain_status(CHAIN).await;
    assert_eq!(s["state"], "following", "{s}");
    assert!(s["last_error"].is_null());
    let ev = d.events().await;
    assert_eq!(count(&ev, "payment.detected", &txid), 1);
    assert_eq!(count(&ev, "payment.confirmed", &txid), 1);
    assert!(node.rest_calls() >= 33, "blocks came over REST");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_api_input_gets_clear_4xx() {
    let mut chain = Vec::new();
    extend(&mut chain, 0, 3, 0);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 0, 1)],
    ))
    .await;
    let url = |p: &str| format!("{}{p}", d.url);
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();

    let r = d
        .http
        .post(url("/v1/watches"))
        .header("content-type", "application/json")
        .body("{\"chain\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()), "invalid_json");

    let r = d
        .http
        .post(url("/v1/watches"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(code(&r.json().await.unwrap()), "unsupported_media_type");

    let big = format!(
        "{{\"chain\":\"btc\",\"address\":\"{}\"}}",
        "a".repeat(100_000)
    );
    let r = d
        .http
        .post(url("/v1/watches"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(code(&r.json().await.unwrap()), "payload_too_large");

    let (s, b) = d
        .post_json(
            "/v1/watches",
            &json!({"chain": "btc", "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}),
        )
        .await;
    assert_eq!(
        (s, code(&b)),
        (400, "invalid_address".into()),
        "mainnet address on regtest: {b}"
    );
    assert!(b["error"]["message"].as_str().unwrap().contains("regtest"));
    let (s, b) = d
        .post_json(
            "/v1/watches",
            &json!({"chain": "btc", "address": "mzzz-not-an-address"}),
        )
        .await;
    assert_eq!((s, code(&b)), (400, "invalid_address".into()));
    let (s, b) = d
        .post_json("/v1/watches", &json!({"chain": "doge", "address": "x"}))
        .await;
    assert_eq!((s, code(&b)), (400, "unknown_chain".into()));
    let (s, b) = d
        .post_json("/v1/watches", &json!({"chain": "btc", "addres": "x"}))
        .await;
    assert_eq!((s, code(&b)), (400, "invalid_request".into()), "{b}");
    let (s, b) = d.post_json("/v1/watches", &json!({"chain": "btc", "address": regtest_address(&wallet_script(1)), "metadata": [1]})).await;
    assert_eq!((s, code(&b)), (400, "invalid_metadata".into()));

    // Duplicates: the same request again is an idempotent 200; a different label is a 409.
    let a = regtest_address(&wallet_script(1));
    let w = json!({"chain": "btc", "address": a, "label": "x"});
    assert_eq!(d.post_json("/v1/watches", &w).await.0, 201);
    let (s, b) = d.post_json("/v1/watches", &w).await;
    assert_eq!(s, 200);
    assert_eq!(b["address"], a.as_str());
    let (s, b) = d
        .post_json(
            "/v1/watches",
            &json!({"chain": "btc", "address": a, "label": "y"}),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "watch_exists".into()));
    let (s, b) = d.get(&format!("/v1/watches/btc/{a}")).await;
    assert_eq!((s, b["label"].clone()), (200, json!("x")));
    let r = d
        .http
        .delete(url(&format!("/v1/watches/btc/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = d
        .http
        .delete(url(&format!("/v1/watches/btc/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (s, b) = d.get("/v1/watches/nochain/abc").await;
    assert_eq!((s, code(&b)), (404, "unknown_chain".into()));

    // Batch: one bad line rejects the whole batch and names the line.
    let body = format!(
        "{{\"chain\":\"btc\",\"address\":\"{}\"}}\n{{\"chain\":\"btc\",\"address\":\"nope\"}}\n",
        regtest_address(&wallet_script(2))
    );
    let r = d
        .http
        .post(url("/v1/watches:batch"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(code(&b), "invalid_batch");
    assert_eq!(b["error"]["details"][0]["item"], 2);
    assert_eq!(
        d.get(&format!(
            "/v1/watches/btc/{}",
            regtest_address(&wallet_script(2))
        ))
        .await
        .0,
        404
    );

    let (s, b) = d.get("/v1/transfers?chain=btc").await;
    assert_eq!((s, code(&b)), (400, "missing_parameter".into()));
    let (s, b) = d.get("/v1/transfers?chain=btc&txid=zz").await;
    assert_eq!((s, code(&b)), (400, "invalid_txid".into()));
    let (s, b) = d.get("/v1/events?after=-1").await;
    assert_eq!((s, code(&b)), (400, "invalid_parameter".into()));
    let (s, b) = d.get("/v1/nothing").await;
    assert_eq!((s, code(&b)), (404, "not_found".into()));
    let r = d.http.put(url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_long_poll_wakes_on_a_new_payment() {
    let watched = wallet_script(77);
    let addr = regtest_address(&watched);
    let mut chain = Vec::new();
    extend(&mut chain, 0, 5, 0);
    let node = ReplayNode::start(0, &chain[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 0, 1)],
    ))
    .await;
    d.watch(CHAIN, &addr, "lp").await;
    node.set_chain(0, &chain);
    d.wait_indexed(CHAIN, 4).await;
    let waiter = {
        let http = d.http.clone();
        let url = format!("{}/v1/events?after=0&wait=30", d.url);
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "long poll answered with nothing new");
    let pay = payment_tx(5, &watched, 5555);
    extend(&mut chain, 0, 1, 0);
    with_txs(&mut chain, 5, vec![pay.clone()]);
    node.set_chain(0, &chain);
    let got = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap();
    let ev = &got["events"][0];
    assert_eq!(ev["type"], "payment.detected");
    assert_eq!(ev["txid"], pay.compute_txid().to_string());
    assert_eq!(ev["amount"], "5555");
    assert_eq!(ev["address"], addr.as_str());
    assert_eq!(
        ev["asset"],
        json!({"symbol": "BTC", "decimals": 8, "contract": null})
    );
    assert_eq!(ev["watch"]["metadata"]["order"], "lp");
    d.stop().await;
}

/// A pruned node that no longer has the block paywatch must start from:
/// the start fails at once with both heights named, instead of retrying
/// that block forever; from at or above the prune height it starts, and
/// payments there are found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_node_below_start_height_stops_the_start_naming_both_heights() {
    let watched = wallet_script(901);
    let addr = regtest_address(&watched);
    let mut a = Vec::new();
    extend(&mut a, 0, 30, 0);
    let pay = payment_tx(4, &watched, 55_500);
    let txid = pay.compute_txid().to_string();
    with_txs(&mut a, 25, vec![pay]);
    relink(&mut a, 26);
    let node = ReplayNode::start(0, &a[..21]).await;
    node.prune_below(20);
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 5, 1)]);
    let config =
        paywatch::config::Config::parse(&text, std::path::Path::new("/tmp/t.toml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        paywatch::daemon::run_with_listener(config, listener, rx),
    )
    .await
    .expect("the start is refused at once, not retried")
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("start_height = 5") && msg.contains("from 20 on") && msg.contains("pruned"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 20, 1)],
    ))
    .await;
    d.watch(CHAIN, &addr, "t").await;
    node.set_chain(0, &a);
    d.wait_indexed(CHAIN, 29).await;
    let t = d.transfers(CHAIN, &addr).await;
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0]["txid"], txid.as_str());
    d.stop().await;
}
