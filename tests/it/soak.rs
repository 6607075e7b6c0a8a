//! Soak: the real binary follows a Bitcoin replay node that mines a block
//! with payments every 200 ms, while watches are added and removed through
//! the API and every event is delivered to a webhook. The daemon's resident
//! memory and open file descriptors are sampled every 5 s; after a warm-up
//! they must stay flat (no growth from the first half of the run to the
//! second), and nothing may be lost.
//!
//! `SOAK_SECS` sets the length: 600 s under `CI=true`, 60 s otherwise.

use crate::common;

use common::process::{free_port, receiver, Proc};
use common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var("CI").as_deref() == Ok("true") {
            600
        } else {
            60
        })
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_file_descriptors_stay_flat() {
    let secs = soak_secs();
    let watched = wallet_script(3);
    let address = regtest_address(&watched);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 20, 0, &watched);
    // The chain is shown once the watch is in place.
    let node = ReplayNode::start(0, &chain[..1]).await;
    node.enable_rest();
    let dir = tempfile::tempdir().unwrap();
    let (hook, delivered, _stop_hook) = receiver().await;
    let port = free_port();
    let config = format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n{}\n\
         [[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\n\
         secret = \"soak-secret-0123456789\"\n",
        dir.path().join("data").display(),
        node.chain_toml("btc", "regtest", 0, 3)
    );
    let mut p = Proc::new(dir.path(), &config, port);
    p.ensure_running();
    p.until("the API", "/health", |_| true).await;
    p.watch("btc", &address, "shop").await;
    node.set_chain(0, &chain);
    let pid = p.pid();

    let started = Instant::now();
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut churn = 0u32;
    while started.elapsed() < Duration::from_secs(secs) {
        // A block with payments.
        let len = chain.len();
        grow(&mut chain, len, 1, 0, &watched);
        node.set_chain(0, &chain);
        // Watches come and go.
        let other = regtest_address(&wallet_script(1_000_000 + churn));
        p.watch("btc", &other, "churn").await;
        if churn >= 10 {
            let old = regtest_address(&wallet_script(1_000_000 + churn - 10));
            let r = p
                .http
                .delete(format!("{}/v1/watches/btc/{old}", p.url))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "delete {old}: {}", r.status());
        }
        churn += 1;
        if started.elapsed() >= next_sample {
            samples.push((started.elapsed(), p.rss_kib(), open_fds(pid)));
            next_sample += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tip = chain.len() as u64 - 1;
    p.wait_indexed("btc", tip).await;

    // Nothing lost: every payment detected once and delivered.
    let events = p.events().await;
    let detected: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "payment.detected" && e["direction"] == "in")
        .map(|e| e["txid"].as_str().unwrap())
        .collect();
    let payments = payments_to(&chain, &watched);
    assert_eq!(detected.len(), payments.len());
    assert_eq!(
        detected
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>(),
        payments
    );
    p.wait_delivered(&delivered, events.iter().map(|e| e["id"].as_str().unwrap()))
        .await;

    // Flat: after the first fifth (warm-up), the second half's peak is no
    // more than the first half's plus a margin.
    let warm: Vec<_> = samples
        .iter()
        .filter(|s| s.0 >= Duration::from_secs(secs / 5))
        .collect();
    assert!(warm.len() >= 4, "{} samples", warm.len());
    let (first, second) = warm.split_at(warm.len() / 2);
    let peak = |s: &[&(Duration, u64, usize)], f: fn(&(Duration, u64, usize)) -> u64| {
        s.iter().map(|x| f(x)).max().unwrap()
    };
    let (rss1, rss2) = (peak(first, |s| s.1), peak(second, |s| s.1));
    let (fd1, fd2) = (peak(first, |s| s.2 as u64), peak(second, |s| s.2 as u64));
    println!(
        "soak {secs} s: {} blocks, {} events, {churn} watches added; \
         RSS peak {} -> {} MiB, open files peak {fd1} -> {fd2}",
        chain.len(),
        events.len(),
        rss1 / 1024,
        rss2 / 1024
    );
    assert!(
        rss2 <= rss1 + rss1 / 5 + 8 * 1024,
        "RSS grew: {rss1} KiB -> {rss2} KiB; samples {samples:?}"
    );
    assert!(
        fd2 <= fd1 + 8,
        "open files grew: {fd1} -> {fd2}; samples {samples:?}"
    );
    p.kill();
}
