//! Crash consistency: the real `paywatch` binary, killed with SIGKILL at
//! random moments while it syncs, reorgs and delivers webhooks, restarted
//! each time on the same data, must end where an uninterrupted run ends:
//! the same transfers, the same events (ids and order) and every event
//! delivered, a duplicate delivery only ever repeating an event id.
//!
//! Both runs see the same sequence of node states (a growing chain with
//! reorgs); each state is indexed before the next is shown, so the events
//! of a clean run are the reference. The seed is printed; set
//! `CRASH_SEED` to replay one and `CRASH_KILLS` (kills per state) to run
//! longer.

use crate::common;

use common::process::{free_port, receiver, Proc};
use common::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn kills_per_state(default: usize) -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seeded() -> fastrand::Rng {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("CRASH_SEED={seed}");
    fastrand::Rng::with_seed(seed)
}

/// What a run ends with.
struct Outcome {
    events: Vec<Value>,
    transfers: Vec<Value>,
    delivered: Vec<Value>,
    kills: usize,
    kills_syncing: usize,
    kills_starting: usize,
}

/// One run over `states`: each is shown by `show` (which returns the
/// node's tip), the daemon is killed `kills` times at random moments (0 to
/// 250 ms after each start), then left to index the state. The node shows
/// `first` until the watches are in place.
#[allow(clippy::too_many_arguments)]
async fn run<S>(
    chain: &str,
    section: &str,
    addresses: &[String],
    first: &S,
    states: &[S],
    show: impl Fn(&S) -> u64,
    kills: usize,
    rng: &mut fastrand::Rng,
) -> Outcome {
    show(first);
    let dir = tempfile::tempdir().unwrap();
    let (hook, delivered, _stop_hook) = receiver().await;
    let port = free_port();
    let config = format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n{section}\n\
         [[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\n\
         secret = \"crash-consistency-secret\"\nretry_first = \"50ms\"\nretry_max = \"500ms\"\n",
        dir.path().join("data").display()
    );
    let mut p = Proc::new(dir.path(), &config, port);
    p.ensure_running();
    p.until("the API", "/health", |_| true).await;
    for a in addresses {
        p.watch(chain, a, "shop").await;
    }
    for state in states {
        let tip = show(state);
        for _ in 0..kills {
            p.ensure_running();
            tokio::time::sleep(Duration::from_millis(rng.u64(0..250))).await;
            let status = p.get("/v1/status").await;
            let syncing = status
                .as_ref()
                .is_some_and(|s| s["chains"][0]["indexed_height"].as_u64() < Some(tip));
            p.kill();
            p.kills_syncing += usize::from(syncing);
            p.kills_starting += usize::from(status.is_none());
        }
        p.ensure_running();
        p.wait_indexed(chain, tip).await;
    }
    let events = p.events().await;
    p.wait_delivered(&delivered, events.iter().map(|e| e["id"].as_str().unwrap()))
        .await;
    let mut transfers = Vec::new();
    for a in addresses {
        let b = p
            .get(&format!(
                "/v1/transfers?chain={chain}&address={a}&limit=1000"
            ))
            .await
            .expect("transfers");
        transfers.extend(b["transfers"].as_array().unwrap().iter().cloned());
    }
    let (kills, kills_syncing, kills_starting) = (p.kills, p.kills_syncing, p.kills_starting);
    p.kill();
    let delivered = delivered.lock().unwrap().clone();
    Outcome {
        events,
        transfers,
        delivered,
        kills,
        kills_syncing,
        kills_starting,
    }
}

/// What must not differ between an event of the clean run and of the
/// crashed one.
fn event_key(e: &Value) -> Value {
    json!([
        e["id"],
        e["type"],
        e["txid"],
        e["index"],
        e["amount"],
        e["confirmations"],
        e["block"]
    ])
}

fn transfer_key(t: &Value) -> String {
    let mut t = t.clone();
    if let Some(o) = t.as_object_mut() {
        // When the daemon first saw it: differs between runs by nature.
        o.remove("seen_at");
    }
    t.to_string()
}

/// The crashed run ends as the clean one; prints what was tried.
fn compare(chain: &str, clean: &Outcome, crashed: &Outcome) {
    assert!(crashed.kills >= 50, "{chain}: {} kills", crashed.kills);
    assert!(!clean.events.is_empty(), "{chain}: the scenario has events");
    let keys = |o: &Outcome| o.events.iter().map(event_key).collect::<Vec<_>>();
    let (a, b) = (keys(clean), keys(crashed));
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{chain}: events differ after {} kills ({} against {} events), first at {first}:\n clean: {:?}\n crash: {:?}",
            crashed.kills,
            a.len(),
            b.len(),
            a.get(first),
            b.get(first)
        );
    }
    for (i, e) in crashed.events.iter().enumerate() {
        assert_eq!(
            e["seq"],
            json!(i as u64 + 1),
            "{chain}: the feed has no gap"
        );
    }
    let mut ta: Vec<String> = clean.transfers.iter().map(transfer_key).collect();
    let mut tb: Vec<String> = crashed.transfers.iter().map(transfer_key).collect();
    ta.sort();
    tb.sort();
    assert!(!ta.is_empty(), "{chain}: the scenario has transfers");
    assert_eq!(ta, tb, "{chain}: transfers differ");
    // Every delivery is an event of the feed, with the same body; a
    // duplicate only repeats an id.
    let by_id: HashMap<&str, &Value> = crashed
        .events
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for d in &crashed.delivered {
        let id = d["id"].as_str().expect("a delivery has an id");
        let e = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{chain}: delivered {id}, which is not in the feed"));
        assert_eq!(event_key(d), event_key(e), "{chain}: delivery of {id}");
        if !seen.insert(id) {
            duplicates += 1;
        }
    }
    println!(
        "{chain}: {} kills ({} while starting, {} while syncing), {} events, {} transfers, \
         {} deliveries ({duplicates} repeated)",
        crashed.kills,
        crashed.kills_starting,
        crashed.kills_syncing,
        crashed.events.len(),
        crashed.transfers.len(),
        crashed.delivered.len()
    );
}

// ---- Bitcoin ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcoin_survives_sigkill_while_syncing_reorging_and_delivering() {
    let mut rng = seeded();
    let watched = wallet_script(77);
    let address = regtest_address(&watched);
    // A growing chain with reorgs of random depth (1 to 100).
    let mut chain = Vec::new();
    let mut states = Vec::new();
    grow(&mut chain, 0, 200, 0, &watched);
    states.push(chain.clone());
    for tag in 1..30u32 {
        if tag % 5 == 0 {
            let depth = rng.usize(1..=100).min(chain.len() - 2);
            let keep = chain.len() - depth;
            grow(&mut chain, keep, depth + rng.usize(1..20), tag, &watched);
        } else {
            let len = chain.len();
            grow(&mut chain, len, rng.usize(30..150), tag, &watched);
        }
        states.push(chain.clone());
    }
    let node = ReplayNode::start(0, &states[0]).await;
    node.enable_rest();
    let section = node.chain_toml("btc", "regtest", 0, 3);
    let show = |c: &Vec<bitcoin::Block>| {
        node.set_chain(0, c);
        c.len() as u64 - 1
    };
    let addresses = [address];
    let first = states[0][..1].to_vec();
    let clean = run(
        "btc", &section, &addresses, &first, &states, show, 0, &mut rng,
    )
    .await;
    let kills = kills_per_state(2);
    let crashed = run(
        "btc", &section, &addresses, &first, &states, show, kills, &mut rng,
    )
    .await;
    compare("btc", &clean, &crashed);
}

/// The states of a chain of `len0` blocks grown in 29 steps, every fifth a
/// reorg of random depth (1 to 100, at most the chain's length less 2):
/// `build(from, len, salt, parent)` makes the blocks `from .. from + len`
/// after parent `parent` (None for the first).
fn grown_states<B: Clone>(
    rng: &mut fastrand::Rng,
    len0: usize,
    build: impl Fn(usize, usize, u32, Option<&B>) -> Vec<B>,
) -> Vec<Vec<B>> {
    let mut chain: Vec<B> = build(0, len0, 0, None);
    let mut states = vec![chain.clone()];
    for salt in 1..30u32 {
        let (keep, add) = if salt.is_multiple_of(5) {
            let depth = rng.usize(1..=100).min(chain.len() - 2);
            (chain.len() - depth, depth + rng.usize(1..20))
        } else {
            (chain.len(), rng.usize(30..150))
        };
        chain.truncate(keep);
        let more = build(keep, add, salt, chain.last());
        chain.extend(more);
        states.push(chain.clone());
    }
    states
}

// ---- Ethereum -----------------------------------------------------------------

/// Six USDT recipients of the real blocks, as watched addresses.
fn eth_recipients(blocks: &[common::evm::EthBlock]) -> Vec<String> {
    let mut out = Vec::new();
    for b in blocks {
        for r in b.receipts.as_array().unwrap() {
            for l in r["logs"].as_array().unwrap() {
                let topics = l["topics"].as_array().unwrap();
                if topics.len() == 3 {
                    let a = format!("0x{}", &topics[2].as_str().unwrap()[26..]);
                    if !out.contains(&a) && out.len() < 6 {
                        out.push(a);
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereum_survives_sigkill_while_syncing_reorging_and_delivering() {
    use common::evm::{real_block, synthetic_chain, EthBlock, EthReplay};
    let Some(fx) = fixtures() else { return };
    let mut rng = seeded();
    let real = [real_block(&fx, 17173049), real_block(&fx, 17173050)];
    let build = |from: usize, len: usize, salt: u32, parent: Option<&EthBlock>| {
        synthetic_chain(&real, from, len, salt, parent)
    };
    let states = grown_states(&mut rng, 100, build);
    let node = EthReplay::start(1, states[0][..1].to_vec()).await;
    let section = node
        .chain_toml("eth", 1, 1, "")
        .replace("confirmations = 1\n", "confirmations = 3\n");
    let show = |c: &Vec<EthBlock>| {
        node.set_blocks(c.clone());
        c.last().unwrap().height
    };
    let addresses = eth_recipients(&real);
    let first = states[0][..1].to_vec();
    let clean = run(
        "eth", &section, &addresses, &first, &states, show, 0, &mut rng,
    )
    .await;
    let kills = kills_per_state(2);
    let crashed = run(
        "eth", &section, &addresses, &first, &states, show, kills, &mut rng,
    )
    .await;
    compare("eth", &clean, &crashed);
}

// ---- TRON ---------------------------------------------------------------------

/// Six USDT recipients of the real blocks, as watched addresses (`41…`
/// hex).
fn tron_recipients(blocks: &[common::tron::TronBlock]) -> Vec<String> {
    let mut out = Vec::new();
    for b in blocks {
        for info in b.info.as_array().unwrap() {
            for l in info["log"].as_array().into_iter().flatten() {
                let topics = l["topics"].as_array().unwrap();
                if topics.len() == 3 {
                    let a = format!("41{}", &topics[2].as_str().unwrap()[24..]);
                    if !out.contains(&a) && out.len() < 6 {
                        out.push(a);
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tron_survives_sigkill_while_syncing_reorging_and_delivering() {
    use common::tron::{real_block, synthetic_chain, TronBlock, TronReplay};
    let Some(fx) = fixtures() else { return };
    let mut rng = seeded();
    let real = [real_block(&fx, 60836289), real_block(&fx, 61132092)];
    const BASE: u64 = 1000;
    let build = |from: usize, len: usize, salt: u32, parent: Option<&TronBlock>| {
        synthetic_chain(&real, BASE, from, len, salt, parent)
    };
    let states = grown_states(&mut rng, 100, build);
    let node = TronReplay::start(states[0][..1].to_vec()).await;
    let section = node.chain_toml("tron", BASE, "confirmations = 3");
    let show = |c: &Vec<TronBlock>| {
        node.set_blocks(c.clone());
        c.last().unwrap().height
    };
    let addresses = tron_recipients(&real);
    let first = states[0][..1].to_vec();
    let clean = run(
        "tron", &section, &addresses, &first, &states, show, 0, &mut rng,
    )
    .await;
    let kills = kills_per_state(2);
    let crashed = run(
        "tron", &section, &addresses, &first, &states, show, kills, &mut rng,
    )
    .await;
    compare("tron", &clean, &crashed);
}
