//! Resident memory of the daemon (the real `paywatch run` process) with
//! 10,000,000 watched addresses on one chain, imported through
//! `POST /v1/watches:batch` in batches of 1M, then followed while the
//! chain goes on. Baseline in the same run: the same process before the
//! import, with nothing watched. The process runs with the environment of
//! the shipped systemd unit (`MALLOC_ARENA_MAX=2`); set
//! `MEMORY_BENCH_ARENAS` to another figure to compare.
//!
//! `cargo bench --bench daemon_memory` (`MEMORY_BENCH_N` to change the
//! count).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    if !bench::requested() {
        return;
    }
    let n: u32 = std::env::var("MEMORY_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    bench::runtime().block_on(async {
        let mut chain = Vec::new();
        extend(&mut chain, 1, 20, 0);
        let node = ReplayNode::start(1, &chain).await;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = config_text(dir.path(), &[node.chain_toml("btc", "regtest", 1, 1)])
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        let path = dir.path().join("paywatch.toml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_paywatch"))
            .args(["run", "--config"])
            .env(
                "MALLOC_ARENA_MAX",
                std::env::var("MEMORY_BENCH_ARENAS").unwrap_or_else(|_| "2".into()),
            )
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Killed(child);
        let pid = daemon.0.id();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = http.get(format!("{url}/v1/status")).send().await;
            if let Ok(r) = s {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if v["chains"][0]["indexed_height"].as_u64() == Some(20) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "daemon did not sync");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (idle, _) = memory(pid);

        let started = Instant::now();
        let per_batch = 1_000_000.min(n);
        let mut done = 0;
        while done < n {
            let count = per_batch.min(n - done);
            let mut body = String::with_capacity(count as usize * 90);
            for i in done..done + count {
                body.push_str("{\"chain\":\"btc\",\"address\":\"");
                body.push_str(&regtest_address(&wallet_script(1_000_000 + i)));
                body.push_str("\"}\n");
            }
            let r = http
                .post(format!("{url}/v1/watches:batch"))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            done += count;
        }
        let imported = started.elapsed();
        let (after_import, _) = memory(pid);

        // The chain goes on with the watches in place.
        let mut longer = chain.clone();
        extend(&mut longer, 1, 200, 1);
        node.set_chain(1, &longer);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let v: serde_json::Value = http
                .get(format!("{url}/v1/status"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["chains"][0]["indexed_height"].as_u64() == Some(longer.len() as u64) {
                break;
            }
            assert!(Instant::now() < deadline, "daemon did not follow");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss, peak) = memory(pid);
        println!(
            "daemon with {n} watched: RSS {rss:.0} MiB (peak {peak:.0} MiB, {after_import:.0} MiB \
             right after the import of {imported:.1?}) | baseline, nothing watched: {idle:.0} MiB"
        );
    });
}
