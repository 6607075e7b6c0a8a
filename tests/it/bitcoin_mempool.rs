//! Zero-confirmation payments against a replay node that serves a mempool
//! (`getrawmempool`, `getrawtransaction`, `getmempoolentry`, `gettxout`)
//! and publishes ZMQ `rawtx` messages built with the `bitcoin` crate:
//! detection over ZMQ, an RBF replacement that keeps the watched output and
//! one that drops it, a double spend confirmed in a block, an eviction, a
//! mempool payment that confirms with the same transfer identity, a restart
//! with transactions in the mempool, and invoices under a zero-conf policy.

use crate::common;

use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction};
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CHAIN: &str = "btc";

/// The coinbase output of block `i` (0-based) of `chain`, to spend.
fn funding(chain: &[bitcoin::Block], i: usize) -> OutPoint {
    OutPoint {
        txid: chain[i].txdata[0].compute_txid(),
        vout: 0,
    }
}

/// A transaction spending `inputs`; `rbf` signals BIP-125.
fn tx(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)], rbf: bool) -> Transaction {
    let mut t = spend(inputs, outputs);
    if rbf {
        for i in &mut t.input {
            i.sequence = Sequence::ENABLE_RBF_NO_LOCKTIME;
        }
    }
    t
}

fn txid(t: &Transaction) -> String {
    t.compute_txid().to_string()
}

/// Events of `kind` for transaction `id`.
fn of<'a>(ev: &'a [Value], kind: &str, id: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["type"] == kind && e["txid"] == id)
        .collect()
}

/// Waits for a `kind` event about `t`; returns every event so far.
async fn until(d: &Daemon, kind: &str, t: &Transaction) -> Vec<Value> {
    let id = txid(t);
    d.events_until(&format!("{kind} for {id}"), |ev| {
        !of(ev, kind, &id).is_empty()
    })
    .await
}

fn mempool_section(zmq: &str, poll_ms: u64) -> String {
    format!(
        "[chain.mempool]\nzmq_rawtx = \"{zmq}\"\npoll_interval_ms = {poll_ms}\nfull_rbf = false\n"
    )
}

/// As [`mempool_section`], with the `sequence` topic too.
fn with_sequence(zmq: &str, poll_ms: u64) -> String {
    format!(
        "{}zmq_sequence = \"{zmq}\"\n",
        mempool_section(zmq, poll_ms)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mempool_payments_replacements_double_spends_and_drops() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 12, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        mempool_section(&zmq, 1500),
    );
    let merchant = wallet_script(1);
    let elsewhere = wallet_script(2);
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &regtest_address(&merchant), "shop").await;
    d.wait_indexed(CHAIN, 12).await;
    // Give the subscriber a moment to connect before the first message.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. A payment enters the mempool: detected at zero confirmations, with
    //    its fee rate and replaceability, over ZMQ.
    let t1 = tx(
        &[funding(&chain, 0)],
        &[(merchant.clone(), 50_000), (elsewhere.clone(), 10_000)],
        true,
    );
    let sent = Instant::now();
    node.mempool_add(&t1, 1_100);
    let ev = until(&d, "payment.detected", &t1).await;
    let latency = sent.elapsed();
    eprintln!("mempool payment reported {latency:?} after the ZMQ message");
    assert!(latency < Duration::from_millis(1000), "{latency:?}");
    let e = of(&ev, "payment.detected", &txid(&t1))[0];
    assert_eq!(e["status"], "mempool");
    assert_eq!(e["confirmations"], 0);
    assert_eq!(e["amount"], "50000");
    assert_eq!(e["index"], 0);
    assert_eq!(e["watch"]["label"], "shop");
    assert_eq!(e["mempool"]["rbf"], true);
    assert_eq!(e["mempool"]["full_rbf"], false);
    assert_eq!(e["mempool"]["unconfirmed_inputs"], false);
    let rate = 1_100.0 / t1.vsize() as f64;
    assert!(
        (e["mempool"]["fee_rate"].as_f64().unwrap() - rate).abs() < 0.01,
        "{e}"
    );
    assert!(e.get("block").is_none(), "a mempool event has no block");

    // 2. Replaced by a higher-fee version that still pays the merchant.
    let t1b = tx(
        &[funding(&chain, 0)],
        &[(merchant.clone(), 50_000), (elsewhere.clone(), 9_000)],
        true,
    );
    node.mempool_replace(t1.compute_txid(), &t1b, 2_100);
    let ev = d
        .events_until("t1 replaced", |ev| {
            !of(ev, "payment.replaced", &txid(&t1)).is_empty()
                && !of(ev, "payment.detected", &txid(&t1b)).is_empty()
        })
        .await;
    let r = of(&ev, "payment.replaced", &txid(&t1))[0];
    assert_eq!(r["replaced_by"], txid(&t1b).as_str());
    assert_eq!(r["output_kept"], true);

    // 3. Replaced again, now without the merchant's output.
    let t1c = tx(&[funding(&chain, 0)], &[(elsewhere.clone(), 58_000)], true);
    node.mempool_replace(t1b.compute_txid(), &t1c, 3_000);
    let ev = until(&d, "payment.replaced", &t1b).await;
    let r = of(&ev, "payment.replaced", &txid(&t1b))[0];
    assert_eq!(r["replaced_by"], txid(&t1c).as_str());
    assert_eq!(r["output_kept"], false);
    assert!(of(&ev, "payment.detected", &txid(&t1c)).is_empty());

    // 4. A double spend confirmed in a block.
    let t2 = tx(&[funding(&chain, 1)], &[(merchant.clone(), 70_000)], false);
    node.mempool_add(&t2, 1_000);
    until(&d, "payment.detected", &t2).await;
    assert_eq!(
        of(&d.events().await, "payment.detected", &txid(&t2))[0]["mempool"]["rbf"],
        false
    );
    let t2x = tx(&[funding(&chain, 1)], &[(elsewhere.clone(), 69_000)], false);
    let prev = chain.last().unwrap().block_hash();
    let cb = coinbase(13, 1, filler_script(13), 50_0000_0000);
    chain.push(block(prev, 1_700_010_000, vec![cb, t2x.clone()]));
    // The block's transactions are published as it connects.
    for t in &chain.last().unwrap().txdata {
        node.publish(t);
    }
    node.set_chain(1, &chain);
    let ev = until(&d, "payment.double_spent", &t2).await;
    let ds = of(&ev, "payment.double_spent", &txid(&t2))[0];
    assert_eq!(ds["conflicting_txid"], txid(&t2x).as_str());

    // 5. Evicted: found gone at the next reconciliation, inputs unspent.
    let t3 = tx(&[funding(&chain, 2)], &[(merchant.clone(), 30_000)], false);
    node.mempool_add(&t3, 1_000);
    until(&d, "payment.detected", &t3).await;
    node.mempool_remove(t3.compute_txid());
    until(&d, "payment.dropped", &t3).await;

    // 6. Confirmed: the block flow carries on with the same transfer; the
    //    mempool side says nothing more.
    let t4 = tx(&[funding(&chain, 3)], &[(merchant.clone(), 40_000)], false);
    node.mempool_add(&t4, 1_000);
    until(&d, "payment.detected", &t4).await;
    let prev = chain.last().unwrap().block_hash();
    chain.push(block(
        prev,
        1_700_020_000,
        vec![coinbase(14, 1, filler_script(14), 50_0000_0000), t4.clone()],
    ));
    node.set_chain(1, &chain);
    for t in &chain.last().unwrap().txdata {
        node.publish(t);
    }
    let ev = until(&d, "payment.confirmed", &t4).await;
    let detections = of(&ev, "payment.detected", &txid(&t4));
    assert_eq!(detections.len(), 2, "mempool, then block: {detections:#?}");
    assert_eq!(detections[1]["block"]["height"], 14);
    assert_eq!(detections[1]["index"], detections[0]["index"]);
    // Let a reconciliation run past the block: still nothing more for t4.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let ev = d.events().await;
    for kind in [
        "payment.dropped",
        "payment.double_spent",
        "payment.replaced",
    ] {
        assert!(
            of(&ev, kind, &txid(&t4)).is_empty(),
            "{kind} for a mined payment"
        );
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_transactions_in_the_mempool_loses_and_repeats_nothing() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 6, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        mempool_section(&zmq, 300),
    );
    let merchant = wallet_script(7);
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &regtest_address(&merchant), "shop").await;
    d.wait_indexed(CHAIN, 6).await;
    let kept = tx(&[funding(&chain, 0)], &[(merchant.clone(), 10_000)], false);
    let evicted = tx(&[funding(&chain, 1)], &[(merchant.clone(), 20_000)], false);
    node.mempool_add(&kept, 500);
    node.mempool_add(&evicted, 500);
    d.events_until("both detected", |ev| {
        !of(ev, "payment.detected", &txid(&kept)).is_empty()
            && !of(ev, "payment.detected", &txid(&evicted)).is_empty()
    })
    .await;
    d.stop().await;

    // While the daemon is down: one evicted, one new, ZMQ messages missed.
    node.mempool_remove(evicted.compute_txid());
    let arrived = tx(&[funding(&chain, 2)], &[(merchant.clone(), 30_000)], false);
    node.mempool_add(&arrived, 500);

    let d = Daemon::start(&config).await;
    d.events_until("catch-up", |ev| {
        !of(ev, "payment.detected", &txid(&arrived)).is_empty()
            && !of(ev, "payment.dropped", &txid(&evicted)).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ev = d.events().await;
    let mut ids: HashMap<String, usize> = HashMap::new();
    for e in &ev {
        *ids.entry(e["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(ids.values().all(|n| *n == 1), "an event repeated: {ids:#?}");
    assert_eq!(of(&ev, "payment.detected", &txid(&kept)).len(), 1);
    assert!(of(&ev, "payment.dropped", &txid(&kept)).is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_conf_invoices_refuse_replaceable_payments_and_go_back_when_replaced() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 6, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}[chain.invoices]\nxpub = \"{}\"\nzero_conf = true\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 3)]),
        mempool_section(&zmq, 500),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 6).await;
    let create =
        |order: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": order});
    let (_, safe) = d.post_json("/v1/invoices", &create("safe")).await;
    let (_, rbf) = d.post_json("/v1/invoices", &create("rbf")).await;
    let script = |inv: &Value| {
        use std::str::FromStr;
        bitcoin::Address::from_str(inv["address"].as_str().unwrap())
            .unwrap()
            .assume_checked()
            .script_pubkey()
    };

    // Not replaceable: confirmed for the invoice at zero confirmations.
    let t1 = tx(&[funding(&chain, 0)], &[(script(&safe), 100_000)], false);
    node.mempool_add(&t1, 500);
    let inv = d
        .invoice_until(safe["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(inv["payments"][0]["mempool"], true);
    assert_eq!(inv["payments"][0]["height"], 0);

    // Signals RBF: paid, not confirmed, until the chain confirms it…
    let t2 = tx(&[funding(&chain, 1)], &[(script(&rbf), 100_000)], true);
    node.mempool_add(&t2, 500);
    let id = rbf["id"].as_str().unwrap();
    d.invoice_until(id, "paid").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        d.get(&format!("/v1/invoices/{id}")).await.1["status"],
        "paid"
    );
    // …and it is replaced without the invoice's output: back to pending.
    let t2x = tx(&[funding(&chain, 1)], &[(wallet_script(9), 99_000)], true);
    node.mempool_replace(t2.compute_txid(), &t2x, 1_500);
    let back = d.invoice_until(id, "pending").await;
    assert!(back["payments"].as_array().unwrap().is_empty());
    let ev = d.events().await;
    assert_eq!(
        invoice_event_types(&ev, id),
        ["invoice.paid", "invoice.reverted"]
    );
    assert_eq!(
        invoice_event_types(&ev, safe["id"].as_str().unwrap()),
        ["invoice.paid", "invoice.confirmed"]
    );

    // A replacement that keeps the invoice's output: the invoice stays paid
    // and says nothing (the payment moved to the new transaction).
    let (_, kept) = d.post_json("/v1/invoices", &create("kept")).await;
    let kept_id = kept["id"].as_str().unwrap();
    let t3 = tx(&[funding(&chain, 2)], &[(script(&kept), 100_000)], true);
    node.mempool_add(&t3, 500);
    d.invoice_until(kept_id, "paid").await;
    let t3b = tx(&[funding(&chain, 2)], &[(script(&kept), 100_000)], false);
    node.mempool_replace(t3.compute_txid(), &t3b, 1_000);
    // t3b does not signal RBF: zero-conf now confirms the invoice.
    let inv = d.invoice_until(kept_id, "confirmed").await;
    assert_eq!(inv["payments"].as_array().unwrap().len(), 1);
    assert_eq!(inv["payments"][0]["txid"], txid(&t3b).as_str());
    assert_eq!(
        invoice_event_types(&d.events().await, kept_id),
        ["invoice.paid", "invoice.confirmed"]
    );

    // Past its expiry, an invoice whose mempool payment is gone expires.
    let mut late = create("late");
    late["expires_in"] = json!(2);
    let (_, late) = d.post_json("/v1/invoices", &late).await;
    let late_id = late["id"].as_str().unwrap();
    let t4 = tx(&[funding(&chain, 3)], &[(script(&late), 100_000)], true);
    node.mempool_add(&t4, 500);
    d.invoice_until(late_id, "paid").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    node.mempool_remove(t4.compute_txid());
    d.invoice_until(late_id, "expired").await;
    assert_eq!(
        invoice_event_types(&d.events().await, late_id),
        ["invoice.paid", "invoice.reverted", "invoice.expired"]
    );
    d.stop().await;
}

/// The chain confirms at 3 and takes no zero-conf by default, but lets an
/// invoice ask for it (`min_confirmations = 0`): a small order with
/// `"confirmations": 0` is confirmed by a payment still in the mempool, a
/// replaceable one is not, and an order without it waits for the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_asks_for_zero_conf_where_the_chain_allows_it() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 6, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}[chain.invoices]\nxpub = \"{}\"\nmin_confirmations = 0\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 3)]),
        mempool_section(&zmq, 500),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 6).await;
    let create = |order: &str, confirmations: Option<u64>| {
        let mut o = json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": order});
        if let Some(c) = confirmations {
            o["confirmations"] = c.into();
        }
        o
    };
    let (_, fast) = d.post_json("/v1/invoices", &create("fast", Some(0))).await;
    let (_, replaceable) = d.post_json("/v1/invoices", &create("rbf", Some(0))).await;
    let (_, plain) = d.post_json("/v1/invoices", &create("plain", None)).await;
    assert_eq!(fast["confirmations"], 0, "{fast}");
    let script = |inv: &Value| {
        use std::str::FromStr;
        bitcoin::Address::from_str(inv["address"].as_str().unwrap())
            .unwrap()
            .assume_checked()
            .script_pubkey()
    };
    let pays = |i: usize, inv: &Value, rbf: bool| {
        tx(&[funding(&chain, i)], &[(script(inv), 100_000)], rbf)
    };
    node.mempool_add(&pays(0, &fast, false), 500);
    node.mempool_add(&pays(1, &replaceable, true), 500);
    node.mempool_add(&pays(2, &plain, false), 500);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let got = d.invoice_until(&id(&fast), "confirmed").await;
    assert_eq!(got["payments"][0]["mempool"], true);
    d.invoice_until(&id(&replaceable), "paid").await;
    d.invoice_until(&id(&plain), "paid").await;
    // Mined: the replaceable one confirms at once, as a mined payment of
    // a zero-conf invoice does; the plain one waits for 3.
    let mut blocks = chain.clone();
    let mined: Vec<_> = [
        (0, &fast, false),
        (1, &replaceable, true),
        (2, &plain, false),
    ]
    .iter()
    .map(|(i, inv, rbf)| pays(*i, inv, *rbf))
    .collect();
    let height = 1 + blocks.len() as u64;
    let prev = blocks.last().unwrap().block_hash();
    let mut txs = vec![coinbase(height, 7, wallet_script(70), 50_0000_0000)];
    txs.extend(mined.iter().cloned());
    blocks.push(block(prev, 1_700_000_000 + height as u32 * 600, txs));
    for t in &mined {
        node.mempool_remove(t.compute_txid());
    }
    node.set_chain(1, &blocks);
    d.invoice_until(&id(&replaceable), "confirmed").await;
    let (_, now) = d.get(&format!("/v1/invoices/{}", id(&plain))).await;
    assert_eq!(now["status"], "paid", "{now}");
    extend(&mut blocks, 1, 2, 8);
    node.set_chain(1, &blocks);
    d.invoice_until(&id(&plain), "confirmed").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_on_the_sequence_topic_settle_without_waiting_for_a_listing() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 4, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    // A listing only after ten minutes: everything here comes over ZMQ.
    let config = format!(
        "{}{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        with_sequence(&zmq, 600_000),
    );
    let merchant = wallet_script(11);
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &regtest_address(&merchant), "shop").await;
    d.wait_indexed(CHAIN, 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Evicted: the removal notice settles it as dropped.
    let t1 = tx(&[funding(&chain, 0)], &[(merchant.clone(), 10_000)], false);
    node.mempool_add(&t1, 500);
    until(&d, "payment.detected", &t1).await;
    node.mempool_remove(t1.compute_txid());
    node.publish_removed(t1.compute_txid());
    until(&d, "payment.dropped", &t1).await;

    // Replaced: the removal comes first, the replacement right after; the
    // removal alone must not be taken for a drop.
    let t2 = tx(&[funding(&chain, 1)], &[(merchant.clone(), 20_000)], true);
    node.mempool_add(&t2, 500);
    until(&d, "payment.detected", &t2).await;
    let t2b = tx(&[funding(&chain, 1)], &[(wallet_script(12), 19_000)], true);
    node.mempool_replace(t2.compute_txid(), &t2b, 1_000);
    let ev = until(&d, "payment.replaced", &t2).await;
    assert!(of(&ev, "payment.dropped", &txid(&t2)).is_empty());
    assert_eq!(
        of(&ev, "payment.replaced", &txid(&t2))[0]["output_kept"],
        false
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_announced_over_zmq_is_scanned_at_once() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 3, 0);
    let mut node = ReplayNode::start(1, &chain).await;
    let zmq = node.enable_zmq().await;
    let dir = tempfile::tempdir().unwrap();
    // The tip is asked for every ten minutes: only the announcement can
    // bring the new block in time.
    let section = node.chain_toml_with(CHAIN, 1, 600_000, &format!("zmq_hashblock = \"{zmq}\"\n"));
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    let merchant = wallet_script(21);
    d.watch(CHAIN, &regtest_address(&merchant), "shop").await;
    d.wait_indexed(CHAIN, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let prev = chain.last().unwrap().block_hash();
    let pay = tx(&[funding(&chain, 0)], &[(merchant, 5_000)], false);
    chain.push(block(
        prev,
        1_700_100_000,
        vec![coinbase(4, 2, filler_script(4), 50_0000_0000), pay.clone()],
    ));
    node.set_chain(1, &chain);
    node.publish_block(chain.last().unwrap().block_hash());
    let ev = until(&d, "payment.confirmed", &pay).await;
    assert_eq!(
        of(&ev, "payment.detected", &txid(&pay))[0]["block"]["height"],
        4
    );
    d.stop().await;
}
