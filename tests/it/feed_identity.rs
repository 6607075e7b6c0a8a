//! The event feed is a public format: plugins, sinks and shops parse it, and
//! webhook signatures cover its bytes. This test runs one scripted day over
//! replay nodes (Bitcoin blocks, a mempool with a replacement, a reorg,
//! derived invoices paid partly, fully and cancelled; real Ethereum and TRON
//! mainnet blocks) and compares every stored event, byte for byte, with
//! `tests/it/golden/feed.txt`. Only what differs between runs by design is
//! normalised: invoice ids (random) and Unix timestamps of invoices.
//!
//! After a deliberate change to the event format, write the file again with
//! `PAYWATCH_BLESS=1 cargo test --release --test it feed_identity::`.

use crate::common;

use bitcoin::{Address, OutPoint, ScriptBuf, Sequence, Transaction};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

const ETH_FIRST: u64 = 17173049;
const TRON_BLOCK: u64 = 60836289;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/feed.txt")
}

fn script_of(address: &str) -> ScriptBuf {
    Address::from_str(address)
        .unwrap()
        .assume_checked()
        .script_pubkey()
}

fn rbf(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
    let mut t = spend(inputs, outputs);
    for i in &mut t.input {
        i.sequence = Sequence::ENABLE_RBF_NO_LOCKTIME;
    }
    t
}

/// Appends one block whose coinbase pays `outputs`, followed by `txs`.
fn mine(chain: &mut Vec<bitcoin::Block>, outputs: &[(ScriptBuf, u64)], txs: Vec<Transaction>) {
    let height = 1 + chain.len() as u64;
    let prev = chain.last().unwrap().block_hash();
    let mut cb = coinbase(height, height as u32, outputs[0].0.clone(), outputs[0].1);
    for (s, v) in &outputs[1..] {
        cb.output.push(bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(*v),
            script_pubkey: s.clone(),
        });
    }
    let mut all = vec![cb];
    all.extend(txs);
    chain.push(block(prev, 1_700_000_000 + height as u32 * 600, all));
}

/// Waits until `f` holds, then until the feed stops growing, so that each
/// step's consequences (invoice events included) are all written before the
/// next step starts and the feed's order is the same on every run.
async fn settle(d: &Daemon, what: &str, f: impl Fn(&[Value]) -> bool) {
    let mut n = d.events_until(what, f).await.len();
    loop {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = d.events().await.len();
        if now == n {
            return;
        }
        n = now;
    }
}

fn has(ev: &[Value], kind: &str) -> usize {
    ev.iter().filter(|e| e["type"] == kind).count()
}

/// Replaces what differs between runs by design: invoice ids (`ids`, in
/// order of creation) and the invoices' Unix timestamps.
fn normalise(raw: &str, ids: &[String]) -> String {
    let mut text = raw.to_string();
    for (n, id) in ids.iter().enumerate() {
        text = text.replace(id.as_str(), &format!("INVOICE-{}", n + 1));
    }
    for key in ["created_at", "expires_at", "amount_reserved_until"] {
        let pat = format!("\"{key}\":");
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&pat) {
            let (head, tail) = rest.split_at(at + pat.len());
            out.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(if digits > 0 { "0" } else { "" });
            rest = &tail[digits..];
        }
        out.push_str(rest);
        text = out;
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_feed_is_byte_for_byte_the_recorded_one() {
    let Some(fx) = fixtures() else { return };
    let mut chain = Vec::new();
    extend(&mut chain, 1, 12, 0);
    let mut btc = ReplayNode::start(1, &chain).await;
    let zmq = btc.enable_zmq().await;
    let eth = evm::EthReplay::start(1, vec![]).await;
    let tron = tron::TronReplay::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[chain.mempool]\nzmq_rawtx = \"{zmq}\"\npoll_interval_ms = 1500\nfull_rbf = false\n\
         [chain.invoices]\nxpub = \"{}\"\n\n{}\n{}",
        config_text(dir.path(), &[btc.chain_toml("btc", "regtest", 1, 2)]),
        bip84_vpub(),
        eth.chain_toml("eth", 1, ETH_FIRST, ""),
        tron.chain_toml("tron", TRON_BLOCK, "confirmations = 1"),
    );
    let d = Daemon::start(&config).await;
    let merchant = wallet_script(1);
    d.watch("btc", &regtest_address(&merchant), "shop").await;
    d.wait_indexed("btc", 12).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Three invoices on derived addresses; the third is cancelled.
    let mut invoice = Vec::new();
    for order in ["A1", "A2", "A3"] {
        let (code, inv) = d
            .post_json(
                "/v1/invoices",
                &json!({"chain": "btc", "asset": "BTC", "amount": "0.001", "order_id": order,
                        "metadata": {"cart": order}}),
            )
            .await;
        assert_eq!(code, 201, "{inv}");
        invoice.push(inv);
    }
    let id = |i: usize| invoice[i]["id"].as_str().unwrap().to_string();
    let a1 = script_of(invoice[0]["address"].as_str().unwrap());
    let a2 = script_of(invoice[1]["address"].as_str().unwrap());
    let (code, _) = d
        .post_json(&format!("/v1/invoices/{}/cancel", id(2)), &json!({}))
        .await;
    assert_eq!(code, 200);
    settle(&d, "invoice.cancelled", |ev| {
        has(ev, "invoice.cancelled") == 1
    })
    .await;

    // The mempool: a payment to the shop and A1, then a replacement that
    // keeps the shop's output and drops A1's.
    let funding = OutPoint {
        txid: chain[0].txdata[0].compute_txid(),
        vout: 0,
    };
    let t1 = rbf(
        &[funding],
        &[(merchant.clone(), 50_000), (a1.clone(), 100_000)],
    );
    btc.mempool_add(&t1, 1_100);
    settle(&d, "the mempool payments", |ev| {
        has(ev, "payment.detected") == 2
    })
    .await;
    let t2 = rbf(&[funding], &[(merchant.clone(), 40_000)]);
    btc.mempool_replace(t1.compute_txid(), &t2, 3_000);
    settle(&d, "the replacement", |ev| has(ev, "payment.replaced") >= 1).await;

    // Block 13 mines the replacement and pays A2 half; block 14 pays A1 in
    // full and tops A2 up; block 15 confirms them.
    mine(&mut chain, &[(a2.clone(), 50_000)], vec![t2.clone()]);
    btc.set_chain(1, &chain);
    d.wait_indexed("btc", 13).await;
    settle(&d, "block 13", |ev| has(ev, "invoice.underpaid") == 1).await;
    mine(
        &mut chain,
        &[(a1.clone(), 100_000), (a2.clone(), 50_000)],
        vec![],
    );
    btc.set_chain(1, &chain);
    d.wait_indexed("btc", 14).await;
    settle(&d, "block 14", |ev| has(ev, "invoice.paid") >= 2).await;
    mine(&mut chain, &[(filler_script(1), 1_000)], vec![]);
    btc.set_chain(1, &chain);
    d.wait_indexed("btc", 15).await;
    d.invoice_until(&id(0), "confirmed").await;
    settle(&d, "block 15", |ev| has(ev, "invoice.confirmed") >= 1).await;

    // A payment in block 16, reorganised out by a longer branch.
    mine(&mut chain, &[(merchant.clone(), 7_000)], vec![]);
    btc.set_chain(1, &chain);
    d.wait_indexed("btc", 16).await;
    settle(&d, "the block-16 payment", |ev| {
        ev.iter()
            .any(|e| e["type"] == "payment.detected" && e["block"]["height"] == 16)
    })
    .await;
    chain.pop();
    mine(&mut chain, &[(filler_script(2), 1_000)], vec![]);
    mine(&mut chain, &[(filler_script(3), 1_000)], vec![]);
    btc.set_chain(1, &chain);
    d.wait_indexed("btc", 17).await;
    d.invoice_until(&id(1), "confirmed").await;
    settle(&d, "the reorg", |ev| has(ev, "payment.reorged") == 1).await;

    // Real Ethereum mainnet blocks: USDT and native transfers.
    for a in [
        "0x21a31Ee1afC51d94C2eFcCAa2092aD1028285549",
        "0x7c0Dcff802d073d5C8cD4fb5c5796807f13f9b98",
        "0xCcA3E571400B299F3e09616721Ccd0BE0529226D",
    ] {
        d.watch("eth", a, "eth-shop").await;
    }
    eth.set_blocks(vec![
        evm::real_block(&fx, ETH_FIRST),
        evm::real_block(&fx, ETH_FIRST + 1),
    ]);
    d.wait_indexed("eth", ETH_FIRST + 1).await;
    settle(&d, "the Ethereum transfers", |ev| {
        ev.iter().any(|e| e["chain"] == "eth")
    })
    .await;

    // A real TRON mainnet block: USDT in and out, TRX, TRC-10.
    for a in [
        "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb",
        "418f92db973b39b3edc4897c0ca3ca25e05e8fef0e",
        "TPH479jG91GcRbPr4pnx7bwdN47twUvuy8",
        "TNeSQSVHzrrfrryXDaUVkMcgwtrUR8ZQzM",
    ] {
        d.watch("tron", a, "tron-shop").await;
    }
    tron.set_blocks(vec![tron::real_block(&fx, TRON_BLOCK)]);
    d.wait_indexed("tron", TRON_BLOCK).await;
    settle(&d, "the TRON transfers", |ev| {
        ev.iter().any(|e| e["chain"] == "tron")
    })
    .await;
    d.stop().await;

    let store = paywatch::store::Store::open(&dir.path().join("db")).unwrap();
    let ids: Vec<String> = invoice
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let mut got = String::new();
    for (seq, raw) in store.events_after_raw(0, 10_000).unwrap() {
        let text = std::str::from_utf8(&raw).expect("events are UTF-8");
        got.push_str(&format!("{seq} {}\n", normalise(text, &ids)));
    }
    drop(store);
    for kind in [
        "payment.detected",
        "payment.confirmed",
        "payment.reorged",
        "payment.replaced",
        "invoice.cancelled",
        "invoice.underpaid",
        "invoice.paid",
        "invoice.confirmed",
    ] {
        assert!(
            got.contains(&format!("\"type\":\"{kind}\"")),
            "the scripted day causes {kind}:\n{got}"
        );
    }
    for chain in ["btc", "eth", "tron"] {
        assert!(got.contains(&format!("\"chain\":\"{chain}\"")), "{got}");
    }

    let path = golden_path();
    if std::env::var_os("PAYWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with PAYWATCH_BLESS=1 (see this file's header)",
            path.display()
        )
    });
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(
            g,
            w,
            "event {} of the feed differs from the recording",
            n + 1
        );
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "the feed has a different number of events than the recording"
    );
}
