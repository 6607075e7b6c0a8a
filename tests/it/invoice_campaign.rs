//! A seeded random campaign over invoices, against a reference model of the
//! invoice rules written here from docs/invoices.md. Three regtest replay
//! nodes back three chains: one takes invoices on a shared address (unique
//! amounts), one on addresses derived from an account key, one on an
//! address pool that grows as the run goes; all with a 1% underpayment
//! tolerance and 2 confirmations. Each step creates an
//! invoice (some expire at once), pays one (exact, short within and beyond
//! the tolerance, over, a second time, or after it expired), cancels,
//! settles or invalidates one, mines an empty block or reorgs the last
//! blocks away. After every step
//! each invoice's status, amount paid, payments and `invoice.*` events, and
//! the count of unmatched payments, must equal the model's.
//!
//! `INVOICE_SEED` replays a run; `INVOICE_STEPS` lengthens it (60 by
//! default).

use crate::common;

use bitcoin::{Address, ScriptBuf};
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

const SHARED: &str = "sh";
const DERIVED: &str = "dv";
const POOL: &str = "pl";
const CHAINS: [&str; 3] = [SHARED, DERIVED, POOL];
/// `unique_amount_step = "0.0001"`.
const STEP: u64 = 10_000;
const CONFIRMATIONS: u64 = 2;
/// Blocks each node starts with, from height 1.
const START: u64 = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Pending,
    Underpaid,
    Paid,
    Confirmed,
    Expired,
    PaidLate,
    Cancelled,
    Settled,
    Invalid,
}

impl St {
    fn name(self) -> &'static str {
        match self {
            St::Pending => "pending",
            St::Underpaid => "underpaid",
            St::Paid => "paid",
            St::Confirmed => "confirmed",
            St::Expired => "expired",
            St::PaidLate => "paid_late",
            St::Cancelled => "cancelled",
            St::Settled => "settled",
            St::Invalid => "invalid",
        }
    }

    fn rank(self) -> u8 {
        match self {
            St::Pending | St::Expired | St::Cancelled | St::Invalid => 0,
            St::Underpaid => 1,
            St::Paid | St::PaidLate => 2,
            St::Confirmed | St::Settled => 3,
        }
    }
}

#[derive(Debug)]
struct Pay {
    height: u64,
    amount: u64,
    confirmed: bool,
}

/// One invoice as the model sees it.
#[derive(Debug)]
struct Inv {
    id: String,
    chain: &'static str,
    script: ScriptBuf,
    due: u64,
    tolerance: u64,
    status: St,
    closed: Option<St>,
    payments: Vec<Pay>,
    excess: bool,
    paid: u64,
    events: Vec<&'static str>,
}

impl Inv {
    fn shared(&self) -> bool {
        self.chain == SHARED
    }

    fn least(&self) -> u64 {
        self.due - self.tolerance
    }

    /// The status from the payments, and the events the change causes.
    fn settle(&mut self) {
        let seen: u64 = self.payments.iter().map(|p| p.amount).sum();
        let confirmed: u64 = self
            .payments
            .iter()
            .filter(|p| p.confirmed)
            .map(|p| p.amount)
            .sum();
        let before = self.status;
        let paid_before = self.paid;
        let had_excess = self.excess;
        self.paid = seen;
        self.excess = seen > self.due;
        // Set by hand: the status stays whatever arrives.
        if matches!(before, St::Settled | St::Invalid) {
            if self.excess && !had_excess {
                self.events.push("invoice.overpaid");
            }
            return;
        }
        let enough = self.least();
        self.status = match self.closed {
            Some(_) if seen >= enough => St::PaidLate,
            Some(c) => c,
            None if seen == 0 => St::Pending,
            None if seen < enough => St::Underpaid,
            None if confirmed >= enough => St::Confirmed,
            None => St::Paid,
        };
        let after = self.status;
        if after.rank() < before.rank() || (before == St::PaidLate && after != before) {
            self.events.push("invoice.reorged");
            return;
        }
        match after {
            St::Underpaid if self.paid != paid_before => self.events.push("invoice.underpaid"),
            St::PaidLate if before != after => self.events.push("invoice.paid_late"),
            St::Paid if before != after => self.events.push("invoice.paid"),
            St::Confirmed if before != after => {
                if before.rank() < St::Paid.rank() {
                    self.events.push("invoice.paid");
                }
                self.events.push("invoice.confirmed");
            }
            _ => {}
        }
        if self.excess && !had_excess {
            self.events.push("invoice.overpaid");
        }
    }

    fn close(&mut self, status: St, event: &'static str) {
        self.closed = Some(status);
        self.status = status;
        self.events.push(event);
    }
}

/// The model and the two chains it runs on.
struct World {
    rng: StdRng,
    invs: Vec<Inv>,
    /// Who holds each unique amount of the shared address.
    owner: HashMap<u64, usize>,
    chains: HashMap<&'static str, Vec<bitcoin::Block>>,
    unmatched: usize,
    tag: u32,
    payments: usize,
    reorgs: usize,
    /// The pool's addresses, and whether an invoice has held one (holds
    /// last 24 h, longer than any run, so a used address stays its
    /// invoice's).
    pool: Vec<(String, bool)>,
}

impl World {
    fn tip(&self, chain: &str) -> u64 {
        self.chains[chain].len() as u64
    }

    /// The shared address's amount hold after invoice `i` was written, as
    /// the store keeps it.
    fn hold(&mut self, i: usize) {
        let inv = &self.invs[i];
        if !inv.shared() {
            return;
        }
        let mine = self.owner.get(&inv.due) == Some(&i);
        match inv.status {
            St::Confirmed | St::PaidLate if mine => {
                self.owner.remove(&inv.due);
            }
            St::Pending | St::Underpaid | St::Paid if !self.owner.contains_key(&inv.due) => {
                self.owner.insert(inv.due, i);
            }
            _ => {}
        }
    }

    fn settle(&mut self, i: usize) {
        self.invs[i].settle();
        self.hold(i);
    }

    /// Appends a block paying `to` (or no one) to `chain`.
    fn mine(&mut self, chain: &'static str, to: Option<(&ScriptBuf, u64)>) {
        self.tag += 1;
        let blocks = self.chains.get_mut(chain).unwrap();
        let height = 1 + blocks.len() as u64;
        let prev = blocks.last().unwrap().block_hash();
        let (script, value) = match to {
            Some((s, v)) => (s.clone(), v),
            None => (filler_script(height as u32), 50_0000_0000),
        };
        let cb = coinbase(height, self.tag, script, value);
        blocks.push(block(prev, 1_700_000_000 + height as u32 * 600, vec![cb]));
    }

    /// Payments of `chain` that the tip now buries `CONFIRMATIONS` deep.
    fn confirm(&mut self, chain: &str) {
        let tip = self.tip(chain);
        for i in 0..self.invs.len() {
            let inv = &mut self.invs[i];
            if inv.chain != chain {
                continue;
            }
            let mut deeper = false;
            for p in &mut inv.payments {
                if !p.confirmed && tip + 1 >= p.height + CONFIRMATIONS {
                    p.confirmed = true;
                    deeper = true;
                }
            }
            if deeper {
                self.settle(i);
            }
        }
    }

    /// Which invoice a payment of `amount` to invoice `target`'s address
    /// credits, if any: on a derived address that invoice; on the shared
    /// one the invoice holding exactly that amount, else the one invoice
    /// whose tolerance reaches down to it.
    fn credited(&self, target: usize, amount: u64) -> Option<usize> {
        if !self.invs[target].shared() {
            return Some(target);
        }
        if let Some(&i) = self.owner.get(&amount) {
            if self.invs[i].payments.is_empty() {
                return Some(i);
            }
        }
        let within: Vec<usize> = (0..self.invs.len())
            .filter(|&i| {
                let inv = &self.invs[i];
                inv.shared()
                    && inv.payments.is_empty()
                    && matches!(
                        inv.status,
                        St::Pending | St::Expired | St::Cancelled | St::Settled | St::Invalid
                    )
                    && inv.least() <= amount
                    && amount < inv.due
            })
            .collect();
        match within[..] {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// The `n`th address the pool is given.
fn pool_address(n: u32) -> String {
    regtest_address(&wallet_script(300 + n))
}

fn sats(whole: &str) -> u64 {
    bitcoin::Amount::from_str_in(whole, bitcoin::Denomination::Bitcoin)
        .unwrap()
        .to_sat()
}

/// The daemon's view, compared with the model's: `None` when they agree.
fn disagreement(w: &World, invoices: &[Value], events: &[Value]) -> Option<String> {
    let by_id: HashMap<&str, &Value> = invoices
        .iter()
        .map(|v| (v["id"].as_str().unwrap(), v))
        .collect();
    for inv in &w.invs {
        let Some(got) = by_id.get(inv.id.as_str()) else {
            return Some(format!("{} is missing", inv.id));
        };
        let payments = got["payments"].as_array().unwrap();
        let types = invoice_event_types(events, &inv.id);
        if got["status"] != inv.status.name()
            || sats(got["paid"].as_str().unwrap()) != inv.paid
            || payments.len() != inv.payments.len()
            || payments.iter().filter(|p| p["confirmed"] == true).count()
                != inv.payments.iter().filter(|p| p.confirmed).count()
            || types != inv.events
        {
            return Some(format!(
                "invoice {} ({}): model {:?} paid {} events {:?} payments {:?}; daemon {} paid {} events {types:?} payments {}",
                inv.id,
                inv.chain,
                inv.status,
                inv.paid,
                inv.events,
                inv.payments,
                got["status"],
                got["paid"],
                Value::Array(payments.clone())
            ));
        }
    }
    let unmatched = events
        .iter()
        .filter(|e| e["type"] == "invoice.unmatched_payment")
        .count();
    (unmatched != w.unmatched).then(|| {
        format!(
            "unmatched payments: model {}, daemon {unmatched}",
            w.unmatched
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_invoices_and_payments_follow_the_invoice_rules() {
    let seed: u64 = std::env::var("INVOICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let steps: usize = std::env::var("INVOICE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    eprintln!("INVOICE_SEED={seed} INVOICE_STEPS={steps}");

    let mut chains = HashMap::new();
    let mut nodes = HashMap::new();
    for (name, tag) in [(SHARED, 1_000_000), (DERIVED, 2_000_000), (POOL, 3_000_000)] {
        let mut blocks = Vec::new();
        extend(&mut blocks, 1, START as usize, tag);
        nodes.insert(name, ReplayNode::start(1, &blocks).await);
        chains.insert(name, blocks);
    }
    let shared = regtest_address(&wallet_script(120));
    let dir = tempfile::tempdir().unwrap();
    let sections = [
        format!(
            "{}[chain.invoices]\nshared_address = \"{shared}\"\nunique_amount_step = \"0.0001\"\n\
             underpayment_tolerance = \"1%\"\n",
            nodes[SHARED].chain_toml(SHARED, "regtest", 1, CONFIRMATIONS)
        ),
        format!(
            "{}[chain.invoices]\nxpub = \"{}\"\nunderpayment_tolerance = \"1%\"\n",
            nodes[DERIVED].chain_toml(DERIVED, "regtest", 1, CONFIRMATIONS),
            bip84_vpub()
        ),
        format!(
            "{}[chain.invoices]\naddress_pool = [\"{}\", \"{}\"]\nunderpayment_tolerance = \"1%\"\n",
            nodes[POOL].chain_toml(POOL, "regtest", 1, CONFIRMATIONS),
            pool_address(0),
            pool_address(1),
        ),
    ];
    let d = Daemon::start(&config_text(dir.path(), &sections)).await;
    for c in CHAINS {
        d.wait_indexed(c, START).await;
    }
    let mut w = World {
        rng: StdRng::seed_from_u64(seed),
        invs: Vec::new(),
        owner: HashMap::new(),
        chains,
        unmatched: 0,
        tag: 0,
        payments: 0,
        reorgs: 0,
        pool: (0..2).map(|n| (pool_address(n), false)).collect(),
    };

    for step in 0..steps {
        let chain = CHAINS[w.rng.random_range(0..CHAINS.len())];
        let roll = w.rng.random_range(0..100);
        let what;
        let mut mined = false;
        // The pool address a new invoice gets: the never used one first
        // (by address); none when all are held.
        let pool_next = w
            .pool
            .iter()
            .filter(|(_, used)| !used)
            .map(|(a, _)| a.clone())
            .min();
        if chain == POOL && roll < 25 && pool_next.is_none() {
            let (code, err) = d
                .post_json(
                    "/v1/invoices",
                    &json!({"chain": POOL, "asset": "BTC", "amount": "0.001", "order_id": format!("o{step}")}),
                )
                .await;
            assert_eq!(
                (code, err["error"]["code"].as_str()),
                (409, Some("pool_exhausted")),
                "step {step} (seed {seed}): {err}"
            );
            what = "create on an exhausted pool".to_string();
        } else if w.invs.is_empty() || roll < 25 {
            // A new invoice; one in five expires at once.
            let base = STEP * w.rng.random_range(10..=60);
            let short = w.rng.random_bool(0.2);
            let order = format!("o{step}");
            let (code, inv) = d
                .post_json(
                    "/v1/invoices",
                    &json!({"chain": chain, "asset": "BTC", "amount": bitcoin::Amount::from_sat(base).to_string_in(bitcoin::Denomination::Bitcoin), "order_id": order, "expires_in": if short { 1 } else { 3600 }}),
                )
                .await;
            assert_eq!(code, 201, "step {step}: {inv}");
            if chain == POOL {
                assert_eq!(
                    inv["address"].as_str(),
                    pool_next.as_deref(),
                    "step {step}: the pool address handed out (seed {seed})"
                );
                let taken = w
                    .pool
                    .iter_mut()
                    .find(|(a, _)| Some(a) == pool_next.as_ref());
                taken.unwrap().1 = true;
            }
            let due = if chain == SHARED {
                (0..100)
                    .map(|n| base + n * STEP)
                    .find(|a| !w.owner.contains_key(a))
                    .unwrap()
            } else {
                base
            };
            assert_eq!(
                inv["amount_due_base"],
                due.to_string().as_str(),
                "step {step}: the amount handed out (seed {seed})"
            );
            let script = Address::from_str(inv["address"].as_str().unwrap())
                .unwrap()
                .assume_checked()
                .script_pubkey();
            let i = w.invs.len();
            w.invs.push(Inv {
                id: inv["id"].as_str().unwrap().to_string(),
                chain,
                script,
                due,
                tolerance: due / 100,
                status: St::Pending,
                closed: None,
                payments: Vec::new(),
                excess: false,
                paid: 0,
                events: Vec::new(),
            });
            w.hold(i);
            if short {
                d.invoice_until(&w.invs[i].id, "expired").await;
                w.invs[i].close(St::Expired, "invoice.expired");
                w.hold(i);
            }
            what = format!(
                "create {} due {due}{}",
                w.invs[i].id,
                if short { " (expired)" } else { "" }
            );
        } else if let Some(address) = (roll < 75 && w.rng.random_bool(0.1))
            .then_some(())
            .and(pool_next.clone())
        {
            // A payment to a pool address no invoice holds: reported.
            let script = Address::from_str(&address)
                .unwrap()
                .assume_checked()
                .script_pubkey();
            w.mine(POOL, Some((&script, 50_000)));
            w.confirm(POOL);
            w.payments += 1;
            w.unmatched += 1;
            what = format!("pay a free pool address {address}");
            mined = true;
        } else if roll < 75 {
            // A payment to one invoice's address.
            let target = w.rng.random_range(0..w.invs.len());
            let chain = w.invs[target].chain;
            // A block confirms earlier payments as it detects the new one;
            // an invoice's own earlier payment is left to its own block.
            if w.invs[target].payments.iter().any(|p| !p.confirmed) && !w.invs[target].shared() {
                w.mine(chain, None);
                w.confirm(chain);
            }
            let inv = &w.invs[target];
            let amount = match w.rng.random_range(0..5) {
                0 => inv.due,
                1 => inv.due - inv.tolerance / 2,
                2 => inv.due - inv.tolerance - STEP / 2,
                3 => inv.due + w.rng.random_range(1..5_000),
                _ => inv.payments.last().map_or(inv.due, |p| p.amount),
            };
            let script = inv.script.clone();
            w.mine(chain, Some((&script, amount)));
            w.confirm(chain);
            w.payments += 1;
            let height = w.tip(chain);
            match w.credited(target, amount) {
                Some(i) => {
                    w.invs[i].payments.push(Pay {
                        height,
                        amount,
                        confirmed: false,
                    });
                    w.settle(i);
                }
                None => w.unmatched += 1,
            }
            what = format!("pay {amount} to {} ({chain})", w.invs[target].id);
            mined = true;
        } else if roll < 85 {
            w.mine(chain, None);
            w.confirm(chain);
            what = format!("mine on {chain}");
            mined = true;
        } else if roll < 93 {
            // A reorg of the last one or two blocks: no two of the payments
            // it takes away belong to one invoice.
            let tip = w.tip(chain);
            let mut depth = w.rng.random_range(1..=2u64).min(tip - START);
            while depth > 1 {
                let mut seen = std::collections::HashSet::new();
                let distinct = w
                    .invs
                    .iter()
                    .enumerate()
                    .filter(|(_, inv)| inv.chain == chain)
                    .flat_map(|(i, inv)| {
                        inv.payments
                            .iter()
                            .filter(move |p| p.height > tip - depth)
                            .map(move |_| i)
                    })
                    .all(|i| seen.insert(i));
                if distinct {
                    break;
                }
                depth -= 1;
            }
            if depth == 0 {
                continue;
            }
            let fork = tip - depth;
            w.chains.get_mut(chain).unwrap().truncate(fork as usize);
            for i in 0..w.invs.len() {
                if w.invs[i].chain != chain {
                    continue;
                }
                let before = w.invs[i].payments.len();
                w.invs[i].payments.retain(|p| p.height <= fork);
                if w.invs[i].payments.len() != before {
                    w.settle(i);
                }
            }
            for _ in 0..=depth {
                w.mine(chain, None);
            }
            w.confirm(chain);
            w.reorgs += 1;
            what = format!("reorg {depth} on {chain}");
            mined = true;
        } else if roll < 96 {
            let address = pool_address(w.pool.len() as u32);
            let (code, added) = d
                .post_json(
                    &format!("/v1/chains/{POOL}/pool"),
                    &json!({"addresses": [address]}),
                )
                .await;
            assert_eq!(code, 200, "step {step}: {added}");
            w.pool.push((address.clone(), false));
            let free = w.pool.iter().filter(|(_, used)| !used).count();
            assert_eq!(
                added,
                json!({"added": 1, "pool": {"free": free, "reserved": w.pool.len() - free}}),
                "step {step} (seed {seed})"
            );
            what = format!("add {address} to the pool");
        } else {
            // Cancelled, or settled or invalidated by hand.
            let (action, to, allowed): (&str, St, fn(St) -> bool) = match w.rng.random_range(0..4) {
                0 | 1 => ("cancel", St::Cancelled, |s| {
                    matches!(s, St::Pending | St::Underpaid)
                }),
                2 => ("settle", St::Settled, |s| {
                    !matches!(s, St::Confirmed | St::Settled)
                }),
                _ => ("invalidate", St::Invalid, |s| s != St::Invalid),
            };
            let open: Vec<usize> = (0..w.invs.len())
                .filter(|&i| allowed(w.invs[i].status))
                .collect();
            let Some(&i) = open.get(w.rng.random_range(0..open.len().max(1))) else {
                continue;
            };
            let (code, got) = d
                .post_json(
                    &format!("/v1/invoices/{}/{action}", w.invs[i].id),
                    &json!({}),
                )
                .await;
            assert_eq!(code, 200, "step {step}: {got}");
            let inv = &mut w.invs[i];
            match to {
                St::Cancelled => inv.close(St::Cancelled, "invoice.cancelled"),
                St::Settled => {
                    inv.status = St::Settled;
                    inv.events.push("invoice.settled");
                }
                _ => {
                    inv.status = St::Invalid;
                    inv.events.push("invoice.invalidated");
                }
            }
            w.hold(i);
            what = format!("{action} {}", w.invs[i].id);
        }
        if mined {
            for c in CHAINS {
                nodes[c].set_chain(1, &w.chains[c]);
            }
        }
        for c in CHAINS {
            d.wait_indexed(c, w.tip(c)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, list) = d.get("/v1/invoices?limit=1000").await;
            let events = d.events().await;
            match disagreement(&w, list["invoices"].as_array().unwrap(), &events) {
                None => break,
                Some(why) => assert!(
                    tokio::time::Instant::now() < deadline,
                    "step {step} ({what}) INVOICE_SEED={seed}: {why}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!(
        "INVOICE_SEED={seed}: {steps} steps, {} invoices, {} payments ({} unmatched), {} reorgs, 0 disagreements",
        w.invs.len(),
        w.payments,
        w.unmatched,
        w.reorgs
    );
    d.stop().await;
}
