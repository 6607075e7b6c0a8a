//! TRON against a replay server speaking java-tron's HTTP API: exact TRX,
//! TRC-10 and USDT (TRC-20) transfers from real mainnet blocks in both answer
//! forms, reorgs and confirmations (by depth and by the solidified block) on
//! chains rewritten from them, and malformed answers skipped without a panic.

use crate::common;

use common::tron::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const A: u64 = 60836289; // visible=true form (base58 addresses)
const B: u64 = 61132092; // default hex form

/// (txid prefix, index, direction, amount, asset symbol)
type Want = (&'static str, u64, &'static str, &'static str, &'static str);

fn got_set(transfers: &[Value]) -> BTreeSet<(String, u64, String, String, String)> {
    transfers
        .iter()
        .map(|t| {
            (
                t["txid"].as_str().unwrap()[..8].to_string(),
                t["index"].as_u64().unwrap(),
                t["direction"].as_str().unwrap().to_string(),
                t["amount"].as_str().unwrap().to_string(),
                t["asset"]["symbol"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn want_set(w: &[Want]) -> BTreeSet<(String, u64, String, String, String)> {
    w.iter()
        .map(|(t, i, d, a, s)| {
            (
                t.to_string(),
                *i,
                d.to_string(),
                a.to_string(),
                s.to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_blocks_yield_exact_trx_trc10_and_usdt_transfers() {
    let Some(fx) = fixtures() else { return };
    let node_a = TronReplay::start(vec![]).await;
    let node_b = TronReplay::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[
            node_a.chain_toml("tron-a", A, "confirmations = 1"),
            node_b.chain_toml("tron-b", B, "confirmations = 1"),
        ],
    ))
    .await;

    let cases_a: Vec<(&str, Vec<Want>)> = vec![
        // 2384.950100 USDT, the node's real log for tx 661f1df8.
        (
            "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb",
            vec![("661f1df8", 1, "in", "2384950100", "USDT")],
        ),
        // Its sender, watched by the 41-prefixed hex form.
        (
            "418f92db973b39b3edc4897c0ca3ca25e05e8fef0e",
            vec![("661f1df8", 1, "out", "2384950100", "USDT")],
        ),
        (
            "TPH479jG91GcRbPr4pnx7bwdN47twUvuy8",
            vec![("8a3c4782", 0, "in", "1999000000", "TRX")],
        ),
        (
            "TNeSQSVHzrrfrryXDaUVkMcgwtrUR8ZQzM",
            vec![("9f0f4a9c", 0, "in", "888888888", "TRC10")],
        ),
        // The `transfer` call carries a 41-prefixed address inside the ABI
        // word; the log names the recipient.
        (
            "TNwywQ2iWZgwyhZzEijVEGV7eBtUsvr6Nv",
            vec![("8f96aa13", 1, "in", "33467000", "USDT")],
        ),
        (
            "TKPXySQs6UPBxMz7vQrvLMxSmEfmSuoguh",
            vec![
                ("4f726e60", 1, "in", "95298", "USDT"),
                ("1dbcb5c9", 1, "out", "1000", "USDT"),
            ],
        ),
    ];
    let cases_b: Vec<(&str, Vec<Want>)> = vec![
        (
            "TR4Q6nJA2AdPHz5nDTCxhWmPmfnnRXFDzc",
            vec![
                ("4ab20b8d", 1, "out", "60000000", "USDT"),
                ("bfba73d4", 1, "out", "19000000", "USDT"),
                ("f1a58a2c", 1, "out", "199000000", "USDT"),
            ],
        ),
        (
            "TK4pJEXdFuNFUriVRBmDksXA5uvJWx4jwM",
            vec![("21c3adae", 0, "in", "292", "TRX")],
        ),
        (
            "TCD3PsHkW4kygw8JncDAJ713xMdHwyDyCy",
            vec![("b184b3e4", 0, "in", "9990", "TRC10")],
        ),
        (
            "TUErMeR3ioVvScm3fE8h4SbYNbA667SaL1",
            vec![
                ("e9813712", 1, "in", "90556", "USDT"),
                ("a651f56e", 1, "out", "1120", "USDT"),
            ],
        ),
    ];
    for (chain, cases) in [("tron-a", &cases_a), ("tron-b", &cases_b)] {
        for (addr, _) in cases.iter() {
            d.watch(chain, addr, "shop").await;
        }
    }
    d.watch("tron-b", "TEPSrSYPDSQ7yXpMFPq91Fb1QEWpMkRGfn", "busy")
        .await;
    node_a.set_blocks(vec![real_block(&fx, A)]);
    node_b.set_blocks(vec![real_block(&fx, B)]);
    d.wait_indexed("tron-a", A).await;
    d.wait_indexed("tron-b", B).await;

    for (chain, cases) in [("tron-a", &cases_a), ("tron-b", &cases_b)] {
        for (addr, want) in cases.iter() {
            let t = d.transfers(chain, addr).await;
            assert_eq!(got_set(&t), want_set(want), "{chain} {addr}");
            for x in &t {
                assert!(
                    x["address"].as_str().unwrap().starts_with('T'),
                    "shown as base58: {x}"
                );
            }
        }
    }
    let usdt = &d
        .transfers("tron-a", "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb")
        .await[0];
    assert_eq!(
        usdt["txid"],
        "661f1df88ce02b746efe7449c3c7a04d6d21a7fc019723c92679228d8275ad57"
    );
    assert_eq!(
        usdt["asset"],
        json!({"symbol": "USDT", "decimals": 6, "contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"})
    );
    assert_eq!(usdt["block"]["time"], 1713150507);
    // Who paid: the transaction's owner_address (the Transfer log's `from`),
    // and on the sender's side who was paid.
    assert_eq!(usdt["counterparty"], "TP4MZM8iDVEfRbtbvcidqVQBt4SQ9Pfi8R");
    let sent = &d
        .transfers("tron-a", "418f92db973b39b3edc4897c0ca3ca25e05e8fef0e")
        .await[0];
    assert_eq!(sent["counterparty"], "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb");
    let trc10 = &d
        .transfers("tron-b", "TCD3PsHkW4kygw8JncDAJ713xMdHwyDyCy")
        .await[0];
    assert_eq!(
        trc10["asset"]["contract"], "1005023",
        "hex asset name decoded"
    );

    // The busiest receiver of block B: 34 USDT and 7 TRX in, 2 USDT and 3 TRX out.
    let busy = d
        .transfers("tron-b", "TEPSrSYPDSQ7yXpMFPq91Fb1QEWpMkRGfn")
        .await;
    let count = |dir: &str, sym: &str| {
        busy.iter()
            .filter(|t| t["direction"] == dir && t["asset"]["symbol"] == sym)
            .count()
    };
    assert_eq!(
        (
            count("in", "USDT"),
            count("in", "TRX"),
            count("out", "USDT"),
            count("out", "TRX")
        ),
        (34, 7, 2, 3)
    );
    let sum_in: u64 = busy
        .iter()
        .filter(|t| t["direction"] == "in" && t["asset"]["symbol"] == "USDT")
        .map(|t| t["amount"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum_in, 29_534_838_036);
    assert_eq!(d.chain_status("tron-a").await["decode_skipped"], 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_and_confirmations_on_a_rewritten_chain() {
    let Some(fx) = fixtures() else { return };
    let (a, b) = (real_block(&fx, A), real_block(&fx, B));
    const BASE: u64 = 5000;
    let chain = rewritten_chain(
        BASE,
        150,
        0,
        None,
        |i| match i {
            10 => Some(a.clone()),
            145 => Some(b.clone()),
            _ => None,
        },
        &a,
    );
    let node = TronReplay::start(chain[..1].to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("tron", BASE, "confirmations = 5")],
    ))
    .await;
    let in_a = "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb";
    let in_b = "TR4Q6nJA2AdPHz5nDTCxhWmPmfnnRXFDzc";
    d.watch("tron", in_a, "a").await;
    d.watch("tron", in_b, "b").await;
    node.set_blocks(chain.clone());
    d.wait_indexed("tron", BASE + 149).await;
    assert!(node.range_calls() >= 1, "catch-up used getblockbylimitnext");
    let ev = d.events().await;
    let kinds = |ev: &[Value], txp: &str| -> Vec<String> {
        ev.iter()
            .filter(|e| e["txid"].as_str().unwrap().starts_with(txp))
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(&ev, "661f1df8"),
        ["payment.detected", "payment.confirmed"]
    );
    assert_eq!(
        kinds(&ev, "4ab20b8d"),
        ["payment.detected", "payment.confirmed"],
        "145..149 is 5 deep"
    );
    let confirmed = ev
        .iter()
        .find(|e| {
            e["type"] == "payment.confirmed" && e["txid"].as_str().unwrap().starts_with("661f")
        })
        .unwrap();
    assert_eq!(confirmed["confirmations"], 5);
    assert_eq!(confirmed["block"]["height"], BASE + 10);

    // A fork from block 140 without block B's transactions, one block longer.
    let fork = rewritten_chain(BASE + 140, 11, 9, Some(chain[139].id()), |_| None, &a);
    let mut reorged = chain[..140].to_vec();
    reorged.extend(fork);
    node.set_blocks(reorged);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let ev = loop {
        let ev = d.events().await;
        if ev.iter().filter(|e| e["type"] == "payment.reorged").count() == 3 {
            break ev;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reorg: {ev:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    d.wait_indexed("tron", BASE + 150).await;
    let reorged: BTreeSet<String> = ev
        .iter()
        .filter(|e| e["type"] == "payment.reorged")
        .map(|e| e["txid"].as_str().unwrap()[..8].to_string())
        .collect();
    assert_eq!(
        reorged,
        ["4ab20b8d", "bfba73d4", "f1a58a2c"]
            .map(String::from)
            .into()
    );
    assert!(d.transfers("tron", in_b).await.is_empty());
    assert_eq!(
        d.transfers("tron", in_a).await.len(),
        1,
        "the deep block stays"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solidified_finality_confirms_at_the_nodes_mark() {
    let Some(fx) = fixtures() else { return };
    let a = real_block(&fx, A);
    const BASE: u64 = 100;
    let chain = rewritten_chain(BASE, 40, 0, None, |i| (i == 25).then(|| a.clone()), &a);
    let node = TronReplay::start(chain[..1].to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("tron", BASE, "finality = \"solidified\"")],
    ))
    .await;
    let addr = "TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb";
    d.watch("tron", addr, "s").await;
    node.set_blocks(chain[..40].to_vec());
    d.wait_indexed("tron", BASE + 39).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Solidified = tip - 19 = index 20: the payment at index 25 is not final.
    let ev = d.events().await;
    assert_eq!(
        ev.iter()
            .filter(|e| e["type"] == "payment.detected")
            .count(),
        1
    );
    assert_eq!(
        ev.iter()
            .filter(|e| e["type"] == "payment.confirmed")
            .count(),
        0,
        "{ev:#?}"
    );
    // The node's mark moves past it without any new block.
    node.set_solid_lag(10);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ev = d.events().await;
        if let Some(c) = ev.iter().find(|e| e["type"] == "payment.confirmed") {
            assert_eq!(
                c["txid"],
                "661f1df88ce02b746efe7449c3c7a04d6d21a7fc019723c92679228d8275ad57"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never confirmed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(d.transfers("tron", addr).await[0]["status"], "confirmed");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_skipped_counted_and_survived() {
    let Some(fx) = fixtures() else { return };
    let a = real_block(&fx, A);
    const BASE: u64 = 700;
    let mut chain = rewritten_chain(BASE, 6, 0, None, |i| (i == 2).then(|| a.clone()), &a);
    // Block 2: an unknown contract type, a transfer without amount, a log with
    // a short topic and one with two topics.
    {
        let txs = chain[2].block["transactions"].as_array_mut().unwrap();
        txs[1]["raw_data"]["contract"][0]["type"] = json!("SomeFutureContract");
        let trx = txs
            .iter_mut()
            .find(|t| t["txID"].as_str().unwrap().starts_with("8a3c4782"))
            .unwrap();
        trx["raw_data"]["contract"][0]["parameter"]["value"]
            .as_object_mut()
            .unwrap()
            .remove("amount");
        let infos = chain[2].info.as_array_mut().unwrap();
        let with_logs: Vec<usize> = (0..infos.len())
            .filter(|i| {
                infos[*i]["log"].is_array()
                    && !infos[*i]["id"].as_str().unwrap().starts_with("8f96aa13")
            })
            .collect();
        infos[with_logs[0]]["log"][0]["topics"][2] = json!("dc2c107c");
        let t = infos[with_logs[1]]["log"][0]["topics"]
            .as_array_mut()
            .unwrap();
        t.truncate(2);
    }
    // Block 4 has no transactions at all (the key is absent, as java-tron sends it).
    chain[4]
        .block
        .as_object_mut()
        .unwrap()
        .remove("transactions");
    let node = TronReplay::start(chain[..1].to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("tron", BASE, "confirmations = 1")],
    ))
    .await;
    d.watch("tron", "TPH479jG91GcRbPr4pnx7bwdN47twUvuy8", "trx")
        .await;
    d.watch("tron", "TNwywQ2iWZgwyhZzEijVEGV7eBtUsvr6Nv", "usdt")
        .await;

    // First a block without a header: refused (the scanner waits), never a panic.
    let mut broken = chain[..3].to_vec();
    broken[1]
        .block
        .as_object_mut()
        .unwrap()
        .remove("block_header");
    node.set_blocks(broken.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = d.chain_status("tron").await;
        if s["state"] == "degraded" {
            assert!(
                s["last_error"].as_str().unwrap().contains("block_header"),
                "{s}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for fault in [Fault::Http500, Fault::RpcError, Fault::Garbage] {
        node.set_fault(fault);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(d.chain_status("tron").await["state"], "degraded");
    }
    node.set_fault(Fault::None);
    node.set_blocks(chain.clone());
    d.wait_indexed("tron", BASE + 5).await;
    let s = d.chain_status("tron").await;
    assert_eq!(s["decode_skipped"], 3, "{s}");
    assert!(d
        .transfers("tron", "TPH479jG91GcRbPr4pnx7bwdN47twUvuy8")
        .await
        .is_empty());
    // The recipient of 8f96aa13 is still found: its own log is intact.
    assert_eq!(
        d.transfers("tron", "TNwywQ2iWZgwyhZzEijVEGV7eBtUsvr6Nv")
            .await
            .len(),
        1
    );

    // A bad checksum is a clear 400.
    let (status, body) = d
        .post_json(
            "/v1/watches",
            &json!({"chain": "tron", "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_address");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("checksum"));
    d.stop().await;
}

/// TRX that a contract pays out (an exchange's batch withdrawal, a dapp's
/// payout) is not in the transaction but in its info's
/// `internal_transactions`: each value of an internal transaction that was
/// not rejected is a transfer from the contract, TRX or TRC-10; a rejected
/// one, a zero value and those of a failed transaction move nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trx_paid_out_by_a_contract_is_found_in_its_internal_transactions() {
    let Some(fx) = fixtures() else { return };
    let mut b = real_block(&fx, A);
    // The payee, and the paying contract, in the info's hex form.
    let (payee, contract) = (
        "415a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
        "41c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
    );
    let call = |to: &str, from: &str, value: Value| {
        json!({"caller_address": from, "transferTo_address": to,
               "callValueInfo": [value], "note": "63616c6c"})
    };
    let infos = b.info.as_array_mut().unwrap();
    assert!(infos[5]["id"].as_str().unwrap().starts_with("8f96aa13"));
    let mut rejected = call(payee, contract, json!({"callValue": 7_000_000}));
    rejected["rejected"] = json!(true);
    infos[5]["internal_transactions"] = json!([
        call(payee, contract, json!({"callValue": 5_000_000})),
        rejected,
        call(
            payee,
            contract,
            json!({"tokenId": "1002000", "callValue": 42})
        ),
        call(contract, payee, json!({})),
    ]);
    // A failed call: what it moved inside was reverted with it.
    assert!(infos[7]["id"].as_str().unwrap().starts_with("30257012"));
    infos[7]["result"] = json!("FAILED");
    infos[7]["receipt"]["result"] = json!("REVERT");
    infos[7]["internal_transactions"] =
        json!([call(payee, contract, json!({"callValue": 9_000_000}))]);
    let node = TronReplay::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("tron", A, "confirmations = 1")],
    ))
    .await;
    d.watch("tron", "TJCx4A1XzNvy32sqbmi86xcURjRi1Etver", "payee")
        .await;
    node.set_blocks(vec![b]);
    d.wait_indexed("tron", A).await;
    let t = d
        .transfers("tron", "TJCx4A1XzNvy32sqbmi86xcURjRi1Etver")
        .await;
    let base = 1u64 << 30;
    assert_eq!(
        got_set(&t),
        want_set(&[])
            .into_iter()
            .chain([
                (
                    "8f96aa13".into(),
                    base,
                    "in".into(),
                    "5000000".into(),
                    "TRX".into()
                ),
                (
                    "8f96aa13".into(),
                    base + 32,
                    "in".into(),
                    "42".into(),
                    "TRC10".into()
                ),
            ])
            .collect(),
        "{t:#?}"
    );
    for x in &t {
        assert_eq!(
            x["counterparty"], "TTpKHSFUdoi9j2zacMcRx522rztL61ojFS",
            "{x}"
        );
    }
    let trc10 = t.iter().find(|x| x["asset"]["symbol"] == "TRC10").unwrap();
    assert_eq!(trc10["asset"]["contract"], "1002000");
    d.stop().await;
}
