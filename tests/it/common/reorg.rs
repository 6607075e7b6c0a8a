//! The final check of a random-reorg campaign, the same on every chain:
//! what paywatch stored and reported against the node's final chain, and
//! every confirmation against the chain as the node had it at the time.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What the check counted, for the campaign's summary line.
pub struct Outcome {
    /// Payments reported and then reorged out for good.
    pub left: HashSet<String>,
    /// `payment.confirmed` events checked.
    pub confirmed: usize,
    /// `payment.reorged` events.
    pub reorged: usize,
}

/// `stored` and `truth` map txid → block hash (what paywatch stored, what
/// the node's final chain holds); `events` are the payment events of the
/// watched address; `snapshots` are the node's block hashes by height,
/// taken after every step. Panics with the evidence when:
/// - a stored payment differs from the final chain, or one is missing;
/// - a payment on the final chain was never reported, ends reorged, or is
///   not confirmed exactly once in its final block;
/// - a payment that left the chain does not end with `payment.reorged`;
/// - a confirmation was given in a block the node never had
///   `confirmations` deep.
pub fn check(
    stored: &HashMap<String, String>,
    truth: &HashMap<String, String>,
    events: &[Value],
    snapshots: &[HashMap<u64, String>],
    confirmations: u64,
) -> Outcome {
    assert_eq!(stored, truth, "stored payments against the node's chain");
    let mut by_tx: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in events {
        by_tx
            .entry(e["txid"].as_str().unwrap())
            .or_default()
            .push(e);
    }
    let mut reorged = 0;
    for (tx, list) in &by_tx {
        let last = list.last().unwrap()["type"].as_str().unwrap();
        match truth.get(*tx) {
            Some(hash) => {
                assert_ne!(last, "payment.reorged", "{tx} is on the chain: {list:#?}");
                let confirmed = list
                    .iter()
                    .filter(|e| e["type"] == "payment.confirmed" && e["block"]["hash"] == **hash)
                    .count();
                assert_eq!(confirmed, 1, "{tx} in block {hash}: {list:#?}");
            }
            None => assert_eq!(last, "payment.reorged", "{tx} left the chain: {list:#?}"),
        }
        reorged += list
            .iter()
            .filter(|e| e["type"] == "payment.reorged")
            .count();
    }
    let missing: Vec<&String> = truth
        .keys()
        .filter(|t| !by_tx.contains_key(t.as_str()))
        .collect();
    assert!(missing.is_empty(), "never reported: {missing:?}");
    let mut confirmed = 0;
    for e in events.iter().filter(|e| e["type"] == "payment.confirmed") {
        let height = e["block"]["height"].as_u64().unwrap();
        let hash = e["block"]["hash"].as_str().unwrap();
        let seen = snapshots.iter().any(|s| {
            s.get(&height).map(String::as_str) == Some(hash)
                && s.keys().max().copied().unwrap_or(0) + 1 >= height + confirmations
        });
        if !seen {
            for (i, s) in snapshots.iter().enumerate() {
                eprintln!(
                    "snapshot {i}: tip {:?}, at {height}: {:?}",
                    s.keys().max(),
                    s.get(&height)
                );
            }
            eprintln!("{:#?}", by_tx.get(e["txid"].as_str().unwrap()));
        }
        assert!(
            seen,
            "confirmed in a block the node never had at depth {confirmations}: {e}"
        );
        confirmed += 1;
    }
    let left = by_tx
        .keys()
        .filter(|t| !truth.contains_key(**t))
        .map(|t| t.to_string())
        .collect();
    Outcome {
        left,
        confirmed,
        reorged,
    }
}
