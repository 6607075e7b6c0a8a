//! Blocks in, events out through the plugin pipeline to a local webhook
//! receiver that checks every signature: a receiver that fails before it
//! succeeds, one that is down across a daemon restart, dead letters and
//! their retry, and a plugin that traps next to one that works.

use crate::common;

use bitcoin::ScriptBuf;
use bytes::Bytes;
use common::*;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::Value;
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHAIN: &str = "btc";
const SECRET: &str = "whsec_test_0123456789abcdef";

/// A webhook receiver that checks signatures and records what it accepted.
#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// Answer 500 to everything while set.
    failing: AtomicBool,
    requests: AtomicUsize,
    accepted: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
}

impl Receiver {
    async fn start(
        self: &Arc<Self>,
        refuse: Arc<AtomicBool>,
    ) -> (String, tokio::sync::watch::Sender<bool>) {
        let me = self.clone();
        serve_http(
            move || refuse.load(Ordering::SeqCst),
            move |req: Request<hyper::body::Incoming>| {
                let me = me.clone();
                async move { me.answer(req).await }
            },
        )
        .await
    }

    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (ts, sig, event_id) = (
            header("paywatch-timestamp"),
            header("paywatch-signature"),
            header("paywatch-event-id"),
        );
        let body = req.into_body().collect().await.unwrap().to_bytes();
        self.requests.fetch_add(1, Ordering::SeqCst);
        // The receiver's side of the contract: HMAC-SHA256 over "ts.body".
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(&body);
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) < 300);
        if sig != expected || !fresh {
            self.bad_signatures.fetch_add(1, Ordering::SeqCst);
            return status(401);
        }
        if self.failing.load(Ordering::SeqCst)
            || self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return status(500);
        }
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["id"],
            event_id.as_str(),
            "Paywatch-Event-Id names the event"
        );
        self.accepted.lock().unwrap().push(v);
        status(204)
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    r
}

/// Ten filler blocks from height 1, then coinbases paying `script` each
/// value in turn (one block each).
fn chain_paying(script: &ScriptBuf, values: &[u64]) -> Vec<bitcoin::Block> {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 10, 0);
    for v in values {
        let height = 1 + chain.len() as u64;
        let prev = chain.last().unwrap().block_hash();
        chain.push(block(
            prev,
            1_700_000_000 + height as u32 * 600,
            vec![coinbase(height, 7, script.clone(), *v)],
        ));
    }
    extend(&mut chain, 1, 2, 0);
    chain
}

fn sink_toml(url: &str, retry_for: &str) -> String {
    format!(
        "[[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\n\
         timeout = \"2s\"\nretry_first = \"50ms\"\nretry_max = \"200ms\"\nretry_for = \"{retry_for}\"\n"
    )
}

fn plugin_toml(name: &str, path: &std::path::Path, config: &str) -> String {
    format!(
        "[[plugin]]\nname = \"{name}\"\npath = \"{}\"\nconfig = {config}\n",
        path.display()
    )
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliveries(d: &Daemon, status: &str) -> Vec<Value> {
    let (code, b) = d
        .get(&format!("/v1/deliveries?status={status}&limit=1000"))
        .await;
    assert_eq!(code, 200, "{b}");
    b["deliveries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_payments_are_dropped_and_the_rest_arrive_signed_after_failures() {
    let script = wallet_script(71);
    let address = regtest_address(&script);
    // 0.0005 BTC is under the plugin's minimum; 0.5 and 0.3 are not.
    let full = chain_paying(&script, &[50_000, 50_000_000, 30_000_000]);
    let node = ReplayNode::start(1, &full[..2]).await;
    let receiver = Arc::new(Receiver::default());
    receiver.fail_first.store(5, Ordering::SeqCst);
    let (hook, _hook_stop) = receiver.start(Arc::new(AtomicBool::new(false))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        plugin_toml(
            "big-payments",
            &plugin_wasm("min_amount"),
            "{ min = { BTC = \"0.001\" } }"
        ),
        sink_toml(&hook, "1h"),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-42").await;
    node.set_chain(1, &full);
    d.wait_indexed(CHAIN, full.len() as u64).await;

    // Two kept payments, each detected and confirmed: four deliveries.
    let got = wait_for("four deliveries", || {
        let a = receiver.accepted();
        (a.len() >= 4).then_some(a)
    })
    .await;
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    let amounts: Vec<&str> = got.iter().map(|e| e["amount"].as_str().unwrap()).collect();
    assert!(
        !amounts.contains(&"50000"),
        "the small payment was dropped: {amounts:?}"
    );
    assert_eq!(got.len(), 4, "{got:#?}");
    // One address: its events arrive in feed order despite the retries.
    let seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(receiver.requests.load(Ordering::SeqCst), 4 + 5);

    let delivered = deliveries(&d, "delivered").await;
    assert_eq!(delivered.len(), 4);
    assert!(
        delivered[0]["attempts"].as_u64().unwrap() >= 2,
        "{:#?}",
        delivered[0]
    );
    assert!(delivered.iter().all(|x| x["sink"] == "shop"));
    let (_, status) = d.get("/v1/status").await;
    assert_eq!(
        status["delivery"]["sinks"]["shop"]["pending"], 0,
        "{status}"
    );
    assert_eq!(status["delivery"]["plugins"][0]["name"], "big-payments");
    assert_eq!(status["delivery"]["plugins"][0]["failures"], 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_across_a_restart_loses_nothing() {
    let script = wallet_script(72);
    let address = regtest_address(&script);
    let full = chain_paying(&script, &[10_000_000, 20_000_000, 30_000_000]);
    let node = ReplayNode::start(1, &full[..2]).await;
    let receiver = Arc::new(Receiver::default());
    let down = Arc::new(AtomicBool::new(true));
    let (hook, _hook_stop) = receiver.start(down.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // No plugin: every event goes to every sink.
    let config = format!(
        "{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        sink_toml(&hook, "1h"),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-7").await;
    node.set_chain(1, &full);
    d.wait_indexed(CHAIN, full.len() as u64).await;
    let events = d.events_until("six events", |e| e.len() >= 6).await;
    // Attempts fail while the receiver refuses connections.
    wait_for("failed attempts", || {
        (futures_block(deliveries(&d, "pending"))
            .iter()
            .any(|x| x["attempts"].as_u64() >= Some(1)))
        .then_some(())
    })
    .await;
    d.stop().await;

    let d = Daemon::start(&config).await;
    down.store(false, Ordering::SeqCst);
    let got = wait_for("every event delivered", || {
        let a = receiver.accepted();
        (a.len() >= events.len()).then_some(a)
    })
    .await;
    let mut want: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut have: Vec<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    want.sort();
    have.sort();
    have.dedup();
    assert_eq!(have, want);
    d.stop().await;
}

/// Runs a future to completion from synchronous test code on this runtime.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_retried() {
    let script = wallet_script(73);
    let address = regtest_address(&script);
    let full = chain_paying(&script, &[10_000_000]);
    let node = ReplayNode::start(1, &full[..2]).await;
    let receiver = Arc::new(Receiver::default());
    receiver.failing.store(true, Ordering::SeqCst);
    let (hook, _hook_stop) = receiver.start(Arc::new(AtomicBool::new(false))).await;
    let dir = tempfile::tempdir().unwrap();
    // A plugin that traps on every event sits before one that forwards.
    let trap = dir.path().join("trap.wat");
    std::fs::write(
        &trap,
        r#"(module (memory (export "memory") 1) (func (export "paywatch_abi_v1"))
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "on_event") (param i32 i32) (result i64) unreachable))"#,
    )
    .unwrap();
    let config = format!(
        "{}\n{}\n{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        plugin_toml("broken", &trap, "{}"),
        plugin_toml("all", &plugin_wasm("forward_all"), "{}"),
        sink_toml(&hook, "300ms"),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-9").await;
    node.set_chain(1, &full);
    d.wait_indexed(CHAIN, full.len() as u64).await;

    let dead = wait_for("dead letters", || {
        let list = futures_block(deliveries(&d, "dead"));
        (list.iter().any(|x| x["sink"] == "shop") && list.iter().any(|x| x["plugin"] == "broken"))
            .then_some(list)
    })
    .await;
    let sink_dead = dead.iter().find(|x| x["sink"] == "shop").unwrap();
    assert!(
        sink_dead["last_error"].as_str().unwrap().contains("500"),
        "{sink_dead}"
    );
    let plugin_dead = dead.iter().find(|x| x["plugin"] == "broken").unwrap();
    assert!(
        plugin_dead["last_error"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{plugin_dead}"
    );
    let (_, status) = d.get("/v1/status").await;
    assert!(
        status["delivery"]["sinks"]["shop"]["dead"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(
        status["delivery"]["plugins"][0]["dead"].as_u64() >= Some(1),
        "{status}"
    );

    // The receiver recovers; a retry delivers the dead letter.
    receiver.failing.store(false, Ordering::SeqCst);
    let id = sink_dead["id"].as_str().unwrap();
    let (code, body) = d
        .post_json(&format!("/v1/deliveries/{id}/retry"), &Value::Null)
        .await;
    assert_eq!(code, 202, "{body}");
    let (code, body) = d
        .post_json(&format!("/v1/deliveries/{id}/retry"), &Value::Null)
        .await;
    assert_eq!(code, 409, "a second retry: {body}");
    wait_for("the retried delivery", || {
        (receiver
            .accepted()
            .iter()
            .any(|e| e["id"] == sink_dead["event_id"]))
        .then_some(())
    })
    .await;
    let (code, _) = d
        .post_json("/v1/deliveries/nonsense/retry", &Value::Null)
        .await;
    assert_eq!(code, 404);
    let (code, body) = d.get("/v1/deliveries?status=lost").await;
    assert_eq!(code, 400, "{body}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_event_comes_back_to_the_plugin_and_is_delivered() {
    let script = wallet_script(74);
    let address = regtest_address(&script);
    let full = chain_paying(&script, &[10_000_000]);
    let node = ReplayNode::start(1, &full[..2]).await;
    let receiver = Arc::new(Receiver::default());
    let (hook, _hook_stop) = receiver.start(Arc::new(AtomicBool::new(false))).await;
    let dir = tempfile::tempdir().unwrap();
    // Odd calls answer "delay 300 ms", even calls "forward": events are held
    // back and passed to the same plugin again until it forwards them.
    let delay = dir.path().join("delay.wat");
    std::fs::write(
        &delay,
        r#"(module (memory (export "memory") 1) (func (export "paywatch_abi_v1"))
             (global $calls (mut i32) (i32.const 0))
             (data (i32.const 16) "{\"action\":\"delay\",\"ms\":300}")
             (data (i32.const 64) "{\"action\":\"forward\"}")
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "on_event") (param i32 i32) (result i64)
               (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
               (if (result i64) (i32.and (global.get $calls) (i32.const 1))
                 (then (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 27)))
                 (else (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 20))))))"#,
    )
    .unwrap();
    let config = format!(
        "{}\n{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        plugin_toml("hold", &delay, "{}"),
        sink_toml(&hook, "1h"),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-11").await;
    let started = std::time::Instant::now();
    node.set_chain(1, &full);
    d.wait_indexed(CHAIN, full.len() as u64).await;
    let events = d.events_until("two events", |e| e.len() >= 2).await;
    let got = wait_for("both events after their delay", || {
        let a = receiver.accepted();
        (a.len() >= 2).then_some(a)
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    let mut want: Vec<&Value> = events.iter().map(|e| &e["id"]).collect();
    let mut have: Vec<&Value> = got.iter().map(|e| &e["id"]).collect();
    want.sort_by_key(|v| v.to_string());
    have.sort_by_key(|v| v.to_string());
    assert_eq!(have, want);
    let (_, status) = d.get("/v1/status").await;
    assert_eq!(status["delivery"]["plugins"][0]["failures"], 0, "{status}");
    assert!(deliveries(&d, "dead").await.is_empty());
    d.stop().await;
}
