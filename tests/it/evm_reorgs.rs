//! Random reorgs of depth 1–100 on a real Anvil node while paywatch follows
//! it over `newHeads`: native and token payments are mined, empty blocks
//! come and go, and `anvil_reorg` replaces the last blocks (sometimes with
//! other payments). After every step the test records the node's chain.
//!
//! What must hold at the end:
//! - the stored transfers are exactly the payments on the node's final
//!   chain, each in the block the chain has it in;
//! - every payment reported and then left off the chain was last reported
//!   `payment.reorged`;
//! - every `payment.confirmed` names a block the node had at that height
//!   while its tip was at least the confirmation depth above it.
//!
//! `REORG_SEED` replays a run; `REORG_STEPS` lengthens it (60 by default).

use crate::common;

use common::anvil::*;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const CONFIRMATIONS: u64 = 3;

fn word_addr(a: &str) -> String {
    format!("{:0>64}", a.trim_start_matches("0x"))
}

/// The node's block hashes from `from` to its tip, by height.
async fn chain_hashes(http: &reqwest::Client, url: &str, from: u64) -> HashMap<u64, String> {
    let tip: Value = http
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tip =
        u64::from_str_radix(tip["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let batch: Vec<Value> = (from..=tip)
        .map(|h| {
            json!({"jsonrpc": "2.0", "id": h, "method": "eth_getBlockByNumber",
                   "params": [format!("0x{h:x}"), false]})
        })
        .collect();
    let answers: Vec<Value> = http
        .post(url)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answers
        .iter()
        .map(|a| {
            (
                a["id"].as_u64().unwrap(),
                a["result"]["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The payments to `merchant` on the node's chain from `from` on: txid →
/// block hash. Native payments are transactions to the merchant; token
/// payments are `transfer(merchant, …)` calls to the token.
async fn payments_on_chain(
    anvil: &Anvil,
    from: u64,
    merchant: &str,
    token: &str,
) -> HashMap<String, String> {
    let tip = anvil.height().await;
    let mut out = HashMap::new();
    let to_merchant = format!("0xa9059cbb{}", word_addr(&merchant.to_lowercase()));
    for h in from..=tip {
        let b = anvil
            .rpc("eth_getBlockByNumber", json!([format!("0x{h:x}"), true]))
            .await;
        for tx in b["transactions"].as_array().unwrap() {
            let to = tx["to"].as_str().unwrap_or_default().to_lowercase();
            let input = tx["input"].as_str().unwrap_or_default();
            if to == merchant.to_lowercase()
                || (to == token.to_lowercase() && input.starts_with(&to_merchant))
            {
                out.insert(
                    tx["hash"].as_str().unwrap().to_string(),
                    b["hash"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_reorgs_while_following_anvil_lose_nothing() {
    let Some(bin) = anvil_path() else { return };
    let seed: u64 = std::env::var("REORG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let steps: usize = std::env::var("REORG_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    eprintln!("REORG_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let acct = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (payer, merchant) = (acct(0), acct(1));
    let token = anvil
        .deploy(
            &payer,
            "TestToken",
            &format!("{:064x}", 1_000_000_000_000u64),
        )
        .await;
    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nws_url = \"{}\"\n\
         chain_id = 31337\nstart_height = {start}\nconfirmations = {CONFIRMATIONS}\n\
         poll_interval_ms = 200\n\
         [[chain.token]]\nsymbol = \"PWT\"\ncontract = \"{token}\"\ndecimals = 6\n",
        anvil.url,
        anvil.url.replace("http://", "ws://")
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    d.watch("anvil", &merchant, "merchant").await;
    let http = reqwest::Client::new();
    // Room for reorgs 100 deep.
    anvil.rpc("anvil_mine", json!(["0x6e"])).await;

    let payment = |rng: &mut rand::rngs::StdRng| -> Value {
        if rng.random_bool(0.5) {
            // From 0.00001 ETH up: smaller is dust, stored but not reported.
            let wei: u64 = rng.random_range(10_000_000_000_000..1_000_000_000_000_000);
            json!({"from": payer, "to": merchant, "value": format!("0x{wei:x}"), "gas": "0x100000"})
        } else {
            let units: u64 = rng.random_range(1..1_000_000);
            json!({"from": payer, "to": token, "value": "0x0", "gas": "0x100000",
                   "data": format!("0xa9059cbb{}{units:064x}", word_addr(&merchant))})
        }
    };
    let mut snapshots = vec![chain_hashes(&http, &anvil.url, start).await];
    let mut depths = Vec::new();
    for _ in 0..steps {
        match rng.random_range(0..10) {
            0..=4 => {
                // Each mined before the next step (the snapshot must see it).
                for _ in 0..rng.random_range(1..=3) {
                    anvil.send_tx(payment(&mut rng)).await;
                }
            }
            5..=6 => {
                let n: u64 = rng.random_range(1..=5);
                anvil.rpc("anvil_mine", json!([format!("0x{n:x}")])).await;
            }
            _ => {
                // Mostly shallow, as on a live chain; one in seven up to 100.
                let room = anvil.height().await + 1 - start;
                let deepest = if rng.random_bool(0.85) { 6 } else { 100 };
                let depth = rng.random_range(1..=room.min(deepest));
                // The replacing blocks carry other payments, or none.
                let pairs: Vec<Value> = (0..rng.random_range(0..=2))
                    .map(|_| json!([payment(&mut rng), rng.random_range(0..depth)]))
                    .collect();
                anvil.rpc("anvil_reorg", json!([depth, pairs])).await;
                // Sometimes the new branch is also longer.
                let more: u64 = rng.random_range(0..=3);
                if more > 0 {
                    anvil
                        .rpc("anvil_mine", json!([format!("0x{more:x}")]))
                        .await;
                }
                depths.push(depth);
            }
        }
        snapshots.push(chain_hashes(&http, &anvil.url, start).await);
        // Sometimes the next step comes before paywatch has caught up.
        if rng.random_bool(0.6) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        }
    }
    // Last, a payment seen by paywatch and then reorged away, so that every
    // run has one.
    let receipt = anvil.send_tx(payment(&mut rng)).await;
    let txid = receipt["transactionHash"].as_str().unwrap().to_string();
    snapshots.push(chain_hashes(&http, &anvil.url, start).await);
    d.events_until("the last payment", |ev| {
        ev.iter().any(|e| e["txid"] == txid.as_str())
    })
    .await;
    let room = anvil.height().await + 1 - start;
    let depth = rng.random_range(1..=room.min(100));
    anvil.rpc("anvil_reorg", json!([depth, []])).await;
    depths.push(depth);
    snapshots.push(chain_hashes(&http, &anvil.url, start).await);
    // Enough blocks on top to confirm everything.
    anvil
        .rpc("anvil_mine", json!([format!("0x{CONFIRMATIONS:x}")]))
        .await;
    let last = chain_hashes(&http, &anvil.url, start).await;
    snapshots.push(last.clone());
    let tip = anvil.height().await;
    d.wait_indexed("anvil", tip).await;

    let truth = payments_on_chain(&anvil, start, &merchant, &token).await;
    let stored: HashMap<String, String> = d
        .transfers("anvil", &merchant)
        .await
        .iter()
        .map(|t| {
            (
                t["txid"].as_str().unwrap().to_string(),
                t["block_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let events = d.events().await;
    let outcome = reorg::check(&stored, &truth, &events, &snapshots, CONFIRMATIONS);
    depths.sort_unstable();
    eprintln!(
        "{steps} steps, {} reorgs of depth {depths:?}; {} payments on the final chain, {} \
         reported then reorged out; {} events: {} confirmations, {} payment.reorged",
        depths.len(),
        truth.len(),
        outcome.left.len(),
        events.len(),
        outcome.confirmed,
        outcome.reorged
    );
    assert!(
        outcome.left.contains(&txid),
        "the last payment was not reorged"
    );
    d.stop().await;
}
