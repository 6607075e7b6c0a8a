//! Random reorgs of depth 1–100 on a generated Bitcoin chain, while
//! paywatch syncs and follows it through a replay node speaking bitcoind's
//! JSON-RPC: the chain grows by a few blocks at a time with payments to a
//! watched address, and now and then its last blocks are replaced by a
//! branch of the same length, longer, or shorter (as a branch with more
//! work can be), carrying other payments. Every state the node shows is
//! recorded.
//!
//! What must hold at the end:
//! - the stored payments are exactly those on the node's final chain, each
//!   in the block the chain has it in;
//! - every payment reported and then left off the chain was last reported
//!   `payment.reorged`;
//! - every `payment.confirmed` names a block the node had at that height
//!   while its tip was at least the confirmation depth above it.
//!
//! `REORG_SEED` replays a run; `REORG_STEPS` lengthens it (80 by default).

use crate::common;

use common::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const CONFIRMATIONS: u64 = 3;

/// Block hash by height.
fn hashes(chain: &[bitcoin::Block]) -> HashMap<u64, String> {
    chain
        .iter()
        .enumerate()
        .map(|(h, b)| (h as u64, b.block_hash().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_reorgs_while_syncing_and_following_lose_nothing() {
    let seed: u64 = std::env::var("REORG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let steps: usize = std::env::var("REORG_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(80);
    eprintln!("REORG_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let watched = wallet_script(77);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 1, 0, &watched);
    let node = ReplayNode::start(0, &chain).await;
    node.enable_rest();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("btc", "regtest", 0, CONFIRMATIONS)],
    ))
    .await;
    d.watch("btc", &regtest_address(&watched), "shop").await;
    // A long start to sync through, with reorgs landing mid-sync.
    grow(&mut chain, 1, 150, 0, &watched);
    node.set_chain(0, &chain);

    let mut snapshots = vec![hashes(&chain)];
    let mut depths = Vec::new();
    // Each branch's blocks and payments differ from every other's.
    let mut fork = 0u32;
    for _ in 0..steps {
        let len = chain.len();
        if rng.random_bool(0.3) {
            // Mostly shallow, as on a live chain; one in five up to 100.
            let deepest = if rng.random_bool(0.8) { 6 } else { 100 };
            let depth = rng.random_range(1..=(len - 1).min(deepest));
            let longer: i64 = rng.random_range(-2..=3);
            let n = (depth as i64 + longer).max(1) as usize;
            fork += 1;
            grow(&mut chain, len - depth, n, fork * 1_000_000, &watched);
            depths.push(depth);
        } else {
            let n = rng.random_range(1..=5);
            grow(&mut chain, len, n, fork * 1_000_000, &watched);
        }
        node.set_chain(0, &chain);
        snapshots.push(hashes(&chain));
        // Sometimes the next step comes before paywatch has caught up.
        if rng.random_bool(0.6) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        }
    }
    // Last, a payment paywatch reported is reorged away, so that every run
    // has one.
    let pays = |b: &bitcoin::Block| {
        b.txdata
            .iter()
            .find(|t| t.output.iter().any(|o| o.script_pubkey == watched))
            .map(|t| t.compute_txid().to_string())
    };
    let at = chain.iter().rposition(|b| pays(b).is_some()).unwrap();
    let last_payment = pays(&chain[at]).unwrap();
    d.events_until("the last payment", |ev| {
        ev.iter().any(|e| e["txid"] == last_payment.as_str())
    })
    .await;
    let len = chain.len();
    fork += 1;
    grow(&mut chain, at, len - at, fork * 1_000_000, &watched);
    node.set_chain(0, &chain);
    snapshots.push(hashes(&chain));
    depths.push(len - at);
    // Empty blocks on top, enough to confirm every payment.
    extend(&mut chain, 0, CONFIRMATIONS as usize, fork * 1_000_000);
    node.set_chain(0, &chain);
    snapshots.push(hashes(&chain));
    d.wait_indexed("btc", chain.len() as u64 - 1).await;

    // The payments on the final chain: txid → block hash.
    let truth: HashMap<String, String> = chain
        .iter()
        .flat_map(|b| {
            let hash = b.block_hash().to_string();
            b.txdata
                .iter()
                .filter(|t| t.output.iter().any(|o| o.script_pubkey == watched))
                .map(move |t| (t.compute_txid().to_string(), hash.clone()))
        })
        .collect();
    let stored: HashMap<String, String> = d
        .transfers("btc", &regtest_address(&watched))
        .await
        .iter()
        .filter(|t| t["direction"] == "in")
        .map(|t| {
            (
                t["txid"].as_str().unwrap().to_string(),
                t["block_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let events: Vec<Value> = d
        .events()
        .await
        .into_iter()
        .filter(|e| e["direction"] == "in")
        .collect();
    let outcome = reorg::check(&stored, &truth, &events, &snapshots, CONFIRMATIONS);
    depths.sort_unstable();
    eprintln!(
        "{steps} steps, {} reorgs of depth {depths:?}; {} blocks, {} payments on the final \
         chain, {} reported then reorged out; {} events: {} confirmations",
        depths.len(),
        chain.len(),
        truth.len(),
        outcome.left.len(),
        events.len(),
        outcome.confirmed
    );
    assert!(
        outcome.left.contains(&last_payment),
        "the last payment was not reorged away"
    );
    d.stop().await;
}
