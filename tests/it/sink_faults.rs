//! Sink faults against the real binary: a webhook receiver that answers
//! too late, redirects, hangs up in the middle of its answer or fails, and
//! one that is down while tens of thousands of events pile up. Every event
//! must still reach the receiver, identical to the event, with repeats only
//! as the same event id; a failed attempt must stay pending with the reason
//! in `last_error`, never counted as delivered; and the outbox must wait on
//! disk, not in memory.

use crate::common;

use bitcoin::ScriptBuf;
use common::process::{free_port, Proc};
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the receiver does with a request to its hook.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Mode {
    Ok,
    /// Answers after 2.5 s; the sink's timeout is 1 s.
    Slow,
    /// `302 Found` to `/moved`, which would answer 200.
    Redirect,
    /// Reads the request, writes half a status line and closes.
    HangUp,
    Error500,
}

const MODES: [Mode; 5] = [
    Mode::Ok,
    Mode::Slow,
    Mode::Redirect,
    Mode::HangUp,
    Mode::Error500,
];

/// A webhook receiver written on bare TCP, so that it can misbehave at any
/// byte of its answer.
struct Receiver {
    url: String,
    mode: Arc<AtomicU8>,
    /// The bodies posted to the hook, in arrival order.
    posted: Arc<Mutex<Vec<Value>>>,
    /// Requests anywhere else, as "METHOD /path".
    elsewhere: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    async fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Mode::Ok as u8));
        let posted = Arc::new(Mutex::new(Vec::new()));
        let elsewhere = Arc::new(Mutex::new(Vec::new()));
        let (m, p, e) = (mode.clone(), posted.clone(), elsewhere.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, m.clone(), p.clone(), e.clone()));
            }
        });
        Receiver {
            url,
            mode,
            posted,
            elsewhere,
            task,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn posted(&self) -> Vec<Value> {
        self.posted.lock().unwrap().clone()
    }

    fn elsewhere(&self) -> Vec<String> {
        self.elsewhere.lock().unwrap().clone()
    }
}

async fn serve(
    mut conn: TcpStream,
    mode: Arc<AtomicU8>,
    posted: Arc<Mutex<Vec<Value>>>,
    elsewhere: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head_end..head_end + length];
    if path == "/hook" {
        let body = serde_json::from_slice(body).expect("a JSON body");
        posted.lock().unwrap().push(body);
    } else {
        elsewhere.lock().unwrap().push(format!("{method} {path}"));
    }
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    let mode = MODES[mode.load(Ordering::SeqCst) as usize];
    let answer: &[u8] = match (path.as_str(), mode) {
        ("/hook", Mode::Slow) => {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            OK
        }
        ("/hook", Mode::Redirect) => {
            b"HTTP/1.1 302 Found\r\nlocation: /moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        }
        ("/hook", Mode::HangUp) => b"HTTP/1.1 200 O",
        ("/hook", Mode::Error500) => {
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops"
        }
        _ => OK,
    };
    let _ = conn.write_all(answer).await;
    let _ = conn.shutdown().await;
}

fn config(dir: &std::path::Path, port: u16, chain: &str, hook: &str) -> String {
    format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n{chain}\n\
         [[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}\"\n\
         secret = \"sink-faults-secret-0123\"\ntimeout = \"1s\"\n\
         retry_first = \"100ms\"\nretry_max = \"300ms\"\nretry_for = \"1h\"\n",
        dir.join("data").display(),
    )
}

async fn deliveries(p: &Proc, status: &str) -> Vec<Value> {
    let b = p
        .get(&format!("/v1/deliveries?status={status}&limit=1000"))
        .await
        .expect("deliveries");
    b["deliveries"].as_array().unwrap().clone()
}

/// Every event reached the receiver as it is in the feed, and a repeated
/// delivery only ever repeats an event id.
fn check_delivered(events: &[Value], posted: &[Value]) -> usize {
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let mut seen = HashSet::new();
    let mut repeats = 0;
    for body in posted {
        let id = body["id"].as_str().expect("an event id");
        let event = by_id
            .get(id)
            .unwrap_or_else(|| panic!("delivered an event that is not in the feed: {body}"));
        assert_eq!(body, *event, "the delivery of {id} differs from the event");
        if !seen.insert(id) {
            repeats += 1;
        }
    }
    assert_eq!(seen.len(), events.len(), "events never delivered");
    repeats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redirecting_hanging_up_and_failing_receivers_lose_nothing() {
    let watched = wallet_script(41);
    let address = regtest_address(&watched);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 1, 0, &watched);
    let node = ReplayNode::start(0, &chain).await;
    node.enable_rest();
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = format!("{}/hook", receiver.url);
    let config = config(
        dir.path(),
        port,
        &node.chain_toml("btc", "regtest", 0, 2),
        &hook,
    );
    let mut p = Proc::new(dir.path(), &config, port);
    p.ensure_running();
    p.until("the API", "/health", |_| true).await;
    p.watch("btc", &address, "shop").await;

    let mut counts = Vec::new();
    for (mode, reason) in [
        (Mode::Slow, "no answer within 1s"),
        (Mode::Redirect, "302"),
        (Mode::HangUp, "error sending request"),
        (Mode::Error500, "500"),
    ] {
        receiver.set(mode);
        let before: HashSet<String> = p
            .events()
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        let len = chain.len();
        grow(&mut chain, len, 11, 0, &watched);
        node.set_chain(0, &chain);
        p.wait_indexed("btc", chain.len() as u64 - 1).await;
        let fresh: Vec<Value> = p
            .events()
            .await
            .into_iter()
            .filter(|e| !before.contains(e["id"].as_str().unwrap()))
            .collect();
        assert!(fresh.len() >= 2, "{mode:?}: {} new events", fresh.len());
        // The first new delivery is tried again and again, for the reason
        // the receiver gives; the ones after it wait behind it (one
        // address's events go out in order); none counts as delivered.
        let deadline = Instant::now() + Duration::from_secs(60);
        let tried = loop {
            let pending = deliveries(&p, "pending").await;
            if let Some(d) = pending.iter().find(|d| d["attempts"].as_u64() >= Some(3)) {
                break d.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: no delivery tried three times: {pending:?}\n{}",
                p.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let error = tried["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{mode:?}: last_error `{error}` does not say `{reason}`"
        );
        let delivered: HashSet<String> = deliveries(&p, "delivered")
            .await
            .iter()
            .map(|d| d["event_id"].as_str().unwrap().to_string())
            .collect();
        for e in &fresh {
            assert!(
                !delivered.contains(e["id"].as_str().unwrap()),
                "{mode:?}: {} counted as delivered",
                e["id"]
            );
        }
        assert_eq!(receiver.elsewhere(), Vec::<String>::new(), "{mode:?}");
        // The receiver heals: everything goes out.
        receiver.set(Mode::Ok);
        p.wait_delivered(
            &receiver.posted,
            fresh.iter().map(|e| e["id"].as_str().unwrap()),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !deliveries(&p, "pending").await.is_empty() {
            assert!(Instant::now() < deadline, "{mode:?}: deliveries left");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        counts.push((mode, fresh.len(), tried["attempts"].clone()));
    }
    let events = p.events().await;
    let repeats = check_delivered(&events, &receiver.posted());
    assert!(deliveries(&p, "dead").await.is_empty());
    // A slow receiver had the body before the daemon gave up on it.
    assert!(repeats >= 1, "no repeat after a timed-out answer");
    eprintln!(
        "{} events, {} posts, {repeats} repeated; per fault (events, attempts seen): {counts:?}",
        events.len(),
        receiver.posted().len()
    );
    p.kill();
}

/// Appends `n` blocks to `chain`, each with `per_block` payments spread
/// over `scripts`.
fn crowded_blocks(
    chain: &mut Vec<bitcoin::Block>,
    n: usize,
    per_block: usize,
    scripts: &[ScriptBuf],
) {
    let start = chain.len();
    extend(chain, 0, n, 0);
    for i in start..chain.len() {
        let mut txs = chain[i].txdata.clone();
        for k in 0..per_block {
            let seed = (i * per_block + k) as u32;
            txs.push(payment_to(
                seed,
                &scripts[k % scripts.len()],
                10_000 + u64::from(seed),
            ));
        }
        let prev = chain[i - 1].block_hash();
        chain[i] = block(prev, chain[i].header.time, txs);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_waits_on_disk_and_then_drains() {
    let scripts: Vec<ScriptBuf> = (0..8).map(|n| wallet_script(500 + n)).collect();
    let mut chain = Vec::new();
    extend(&mut chain, 0, 1, 0);
    let node = ReplayNode::start(0, &chain).await;
    node.enable_rest();
    // Nothing listens on the receiver's port during the outage.
    let hook_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config(
        dir.path(),
        port,
        &node.chain_toml("btc", "regtest", 0, 1),
        &format!("http://127.0.0.1:{hook_port}/hook"),
    );
    let mut p = Proc::new(dir.path(), &config, port);
    p.ensure_running();
    p.until("the API", "/health", |_| true).await;
    for (i, s) in scripts.iter().enumerate() {
        p.watch("btc", &regtest_address(s), &format!("shop-{i}"))
            .await;
    }
    let baseline = p.rss_kib();
    let blocks = std::env::var("OUTAGE_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    crowded_blocks(&mut chain, blocks, 200, &scripts);
    node.set_chain(0, &chain);
    let tip = chain.len() as u64 - 1;
    let mut peak = baseline;
    let started = Instant::now();
    let indexed = loop {
        peak = peak.max(p.rss_kib());
        let status = p.get("/v1/status").await;
        if status.is_some_and(|s| s["chains"][0]["indexed_height"].as_u64() == Some(tip)) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{}",
            p.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The receiver stays down for another 20 s: the first delivery of each
    // address is tried again and again, the rest wait on disk. Memory must
    // stay flat meanwhile.
    let mut outage = Vec::new();
    for _ in 0..80 {
        outage.push(p.rss_kib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled = outage[8];
    let outage_peak = *outage[8..].iter().max().unwrap();
    peak = peak.max(outage_peak);
    let events = p.events().await;
    let body_bytes: usize = events.iter().map(|e| e.to_string().len()).sum();
    let pending = p
        .get("/v1/deliveries?status=pending&limit=1")
        .await
        .unwrap();
    assert_eq!(
        pending["deliveries"][0]["last_error"]
            .as_str()
            .map(|e| e.contains("error sending request")),
        Some(true),
        "{pending}"
    );

    // The receiver comes up: every event goes out.
    let receiver = Receiver::start_on(hook_port).await;
    let drain = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut drain_peak = 0;
    loop {
        drain_peak = drain_peak.max(p.rss_kib());
        let got: HashSet<String> = receiver
            .posted()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect();
        if got.len() >= events.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} delivered",
            got.len(),
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = drain.elapsed();
    let repeats = check_delivered(&events, &receiver.posted());
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "{} events ({:.1} MiB of bodies) indexed in {indexed:?} with the receiver down; \
         RSS {:.1} MiB at start, peak {:.1} MiB while indexing, {:.1} → at most {:.1} MiB \
         over 18 s of outage, at most {:.1} MiB while draining; drained in {drained:?} \
         ({:.0}/s), {repeats} repeated",
        events.len(),
        body_bytes as f64 / 1048576.0,
        mib(baseline),
        mib(peak),
        mib(settled),
        mib(outage_peak),
        mib(drain_peak),
        events.len() as f64 / drained.as_secs_f64()
    );
    // Retrying through the outage holds no more memory as time goes by,
    // and draining the outbox holds no more than filling it did.
    assert!(
        outage_peak < settled + 16 * 1024,
        "RSS grew during the outage: {outage:?}"
    );
    assert!(
        drain_peak < peak + 32 * 1024,
        "draining took {} MiB, filling {} MiB",
        mib(drain_peak),
        mib(peak)
    );
    p.kill();
}
