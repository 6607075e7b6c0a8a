//! Ethereum mainnet blocks 17173049-17173050 with their receipts, served by a
//! replay node speaking Ethereum JSON-RPC: exact USDT and native transfers
//! (checked against ethereum-etl's independent token-transfer rows), failed
//! transactions ignored, and malformed answers skipped without a panic.

use crate::common;

use common::evm::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const USDT: &str = "0xdac17f958d2ee523a2206206994597c13d831ec7";
const FIRST: u64 = 17173049;

/// USDT rows of ethereum-etl's token transfers: (block, tx, log index, from, to, value).
fn etl_usdt(fx: &std::path::Path) -> Vec<(u64, String, u64, String, String, String)> {
    let text =
        std::fs::read_to_string(fx.join("eth/etl-17173049-17173050/expected_token_transfers.json"))
            .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["token_address"] == USDT)
        .map(|r| {
            (
                r["block_number"].as_u64().unwrap(),
                r["transaction_hash"].as_str().unwrap().to_string(),
                r["log_index"].as_u64().unwrap(),
                r["from_address"].as_str().unwrap().to_string(),
                r["to_address"].as_str().unwrap().to_string(),
                match &r["value"] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mainnet_usdt_and_native_transfers_are_exact() {
    mainnet_case(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mainnet_transfers_are_exact_without_eth_get_block_receipts() {
    mainnet_case(false).await;
}

async fn mainnet_case(block_receipts: bool) {
    let Some(fx) = fixtures() else { return };
    let rows = etl_usdt(&fx);
    assert_eq!(rows.iter().filter(|r| r.0 == FIRST).count(), 15);
    assert_eq!(rows.iter().filter(|r| r.0 == FIRST + 1).count(), 26);
    let node = EthReplay::start(1, vec![]).await;
    if !block_receipts {
        node.without_block_receipts();
    }
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("eth", 1, FIRST, "")],
    ))
    .await;

    // Every USDT receiver (lower case, as etl writes them: any case is accepted).
    let receivers: BTreeSet<&str> = rows.iter().map(|r| r.4.as_str()).collect();
    let mut ndjson = String::new();
    for r in &receivers {
        ndjson.push_str(&format!("{{\"chain\":\"eth\",\"address\":\"{r}\"}}\n"));
    }
    assert_eq!(d.watch_batch(ndjson).await.0, 200);
    // A USDT sender (twice), native sender and receiver (checksummed input),
    // and the target of a failed plain ETH transfer.
    for a in [
        "0x21a31Ee1afC51d94C2eFcCAa2092aD1028285549",
        "0x7c0Dcff802d073d5C8cD4fb5c5796807f13f9b98",
        "0xCcA3E571400B299F3e09616721Ccd0BE0529226D",
        "0x0802B179Bb732Eb143A01f0aE03b89c57f36b004",
    ] {
        d.watch("eth", a, "pick").await;
    }
    node.set_blocks(vec![real_block(&fx, FIRST), real_block(&fx, FIRST + 1)]);
    d.wait_indexed("eth", FIRST + 1).await;

    // All 41 USDT receipts of receivers, exactly as etl has them.
    let mut got = BTreeSet::new();
    for r in &receivers {
        for t in d.transfers("eth", r).await {
            if t["asset"]["symbol"] == "USDT" && t["direction"] == "in" {
                got.insert((
                    t["height"].as_u64().unwrap(),
                    t["txid"].as_str().unwrap().to_string(),
                    t["index"].as_u64().unwrap() - 1,
                    t["address"].as_str().unwrap().to_lowercase(),
                    // Who sent it: the log's `from`.
                    t["counterparty"].as_str().unwrap().to_lowercase(),
                    t["amount"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let want: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.0, r.1.clone(), r.2, r.4.clone(), r.3.clone(), r.5.clone()))
        .collect();
    assert_eq!(got.len(), 41);
    assert_eq!(got, want);

    let t = d
        .transfers("eth", "0x21a31ee1afc51d94c2efccaa2092ad1028285549")
        .await;
    let outs: BTreeSet<(String, u64, String)> = t
        .iter()
        .filter(|t| t["direction"] == "out" && t["asset"]["symbol"] == "USDT")
        .map(|t| {
            (
                t["txid"].as_str().unwrap()[..10].to_string(),
                t["index"].as_u64().unwrap(),
                t["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // An outgoing transfer's counterparty is the log's `to`, as etl has it.
    for o in t
        .iter()
        .filter(|t| t["direction"] == "out" && t["asset"]["symbol"] == "USDT")
    {
        let row = rows
            .iter()
            .find(|r| {
                Some(r.1.as_str()) == o["txid"].as_str() && r.2 + 1 == o["index"].as_u64().unwrap()
            })
            .expect("etl has every USDT transfer");
        assert_eq!(
            o["counterparty"].as_str().unwrap().to_lowercase(),
            row.4,
            "{o}"
        );
    }
    assert_eq!(
        outs,
        [
            ("0x1f90e919".to_string(), 129, "300000000".to_string()),
            ("0x90bff7b3".to_string(), 200, "4666654038".to_string())
        ]
        .into()
    );
    assert_eq!(
        t[0]["address"], "0x21a31Ee1afC51d94C2eFcCAa2092aD1028285549",
        "EIP-55 on output"
    );
    assert_eq!(
        t[0]["asset"],
        json!({"symbol": "USDT", "decimals": 6, "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7"})
    );

    let native_tx = "0x0076859be6c2e3faa1f4d7c0eb586ef83f6010250efb941b8e8678082ebe9500";
    for (addr, dir) in [
        ("0xCcA3E571400B299F3e09616721Ccd0BE0529226D", "in"),
        ("0x7c0Dcff802d073d5C8cD4fb5c5796807f13f9b98", "out"),
    ] {
        let t = d.transfers("eth", addr).await;
        assert_eq!(t.len(), 1, "{addr}: {t:#?}");
        assert_eq!(t[0]["txid"], native_tx);
        assert_eq!(t[0]["direction"], dir);
        assert_eq!(t[0]["index"], 0);
        assert_eq!(t[0]["amount"], "14032529640000000000");
        assert_eq!(
            t[0]["asset"],
            json!({"symbol": "ETH", "decimals": 18, "contract": null})
        );
    }
    // 0xfd8d6184… sent it ETH but failed (status 0): not a payment.
    assert!(d
        .transfers("eth", "0x0802B179Bb732Eb143A01f0aE03b89c57f36b004")
        .await
        .is_empty());
    assert_eq!(d.chain_status("eth").await["decode_skipped"], 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_skipped_counted_and_survived() {
    let Some(fx) = fixtures() else { return };
    let mut b = real_block(&fx, FIRST);
    let receipts = b.receipts.as_array_mut().unwrap();
    // Logs of USDT: one with two topics, one with wrong hex, and one whose
    // amount is above 2^128 (a valid uint256: kept whole).
    let usdt_logs: Vec<(usize, usize)> = receipts
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r["logs"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(_, l)| l["address"] == USDT)
                .map(move |(j, _)| (i, j))
        })
        .collect();
    let (i0, j0) = usdt_logs[0];
    receipts[i0]["logs"][j0]["topics"]
        .as_array_mut()
        .unwrap()
        .truncate(2);
    let (i1, j1) = usdt_logs[1];
    receipts[i1]["logs"][j1]["data"] = json!("0xzz");
    let (i2, j2) = usdt_logs[2];
    receipts[i2]["logs"][j2]["data"] = json!(format!("0x{}", "1".repeat(64)));
    let big_to = receipts[i2]["logs"][j2]["topics"][2].as_str().unwrap()[26..].to_string();
    // A transaction without a hash and one with a non-hex value (both
    // successful and without USDT logs, so each counts once).
    let plain: Vec<usize> = (0..receipts.len())
        .filter(|i| receipts[*i]["status"] == "0x1" && !usdt_logs.iter().any(|(r, _)| r == i))
        .take(2)
        .collect();
    let txs = b.block["transactions"].as_array_mut().unwrap();
    txs[plain[0]].as_object_mut().unwrap().remove("hash");
    txs[plain[1]]["value"] = json!("0xnothex");

    let node = EthReplay::start(1, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("eth", 1, FIRST, "")],
    ))
    .await;
    d.watch("eth", &format!("0x{big_to}"), "big").await;

    // First a block whose receipts are missing a transaction: refused, retried.
    let mut short = b.clone();
    short.receipts.as_array_mut().unwrap().pop();
    node.set_blocks(vec![short]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = d.chain_status("eth").await;
        if s["state"] == "degraded" {
            assert!(
                s["last_error"].as_str().unwrap().contains("receipts"),
                "{s}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    node.set_blocks(vec![b]);
    d.wait_indexed("eth", FIRST).await;
    let s = d.chain_status("eth").await;
    assert_eq!(s["decode_skipped"], 4, "{s}");
    let t = d.transfers("eth", &format!("0x{big_to}")).await;
    let big = t
        .iter()
        .find(|t| t["amount"].as_str().unwrap().len() > 40)
        .expect("the 256-bit amount");
    assert_eq!(
        big["amount"],
        "7719472615821079694904732333912527190217998977709370935963838933860875309329"
    );
    d.stop().await;
}
