//! The daemon as its own process (the real binary, which a test can kill
//! outright), and a webhook receiver that keeps what it is sent.

use super::serve_http;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const BIN: &str = env!("CARGO_BIN_EXE_paywatch");

/// Runs a client command of the binary (`status`, `invoice get …`) against
/// the daemon at `url`, with no config file to fall back on: whether it
/// succeeded, its stdout and its stderr.
pub fn client(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .args(["--url", url, "--config", "/nonexistent/paywatch.toml"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A local webhook receiver that keeps every body it is sent, and answers
/// 2 ms later: deliveries are under way when the daemon is killed.
pub async fn receiver() -> (
    String,
    Arc<Mutex<Vec<Value>>>,
    tokio::sync::watch::Sender<bool>,
) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    let (url, stop) = serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let keep = keep.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    keep.lock().unwrap().push(v);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                Response::new(Full::new(Bytes::from_static(b"ok")))
            }
        },
    )
    .await;
    (url, got, stop)
}

/// The daemon as its own process, so that it can be killed outright.
pub struct Proc {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    pub url: String,
    pub http: reqwest::Client,
    pub kills: usize,
    /// Kills that found the chain short of the node's tip.
    pub kills_syncing: usize,
    /// Kills before the API answered (opening the store, starting up).
    pub kills_starting: usize,
    /// Caps the size of any file the daemon writes (KiB), as a full disk
    /// would: a write past it fails with "File too large".
    pub file_size_limit_kib: Option<u64>,
}

impl Proc {
    pub fn new(dir: &Path, config_text: &str, port: u16) -> Proc {
        let config = dir.join("paywatch.toml");
        std::fs::write(&config, config_text).unwrap();
        Proc {
            child: None,
            config,
            log: dir.join("daemon.log"),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            kills: 0,
            kills_syncing: 0,
            kills_starting: 0,
            file_size_limit_kib: None,
        }
    }

    pub fn ensure_running(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = match self.file_size_limit_kib {
            None => Command::new(BIN),
            Some(kib) => {
                // SIGXFSZ ignored: the write fails with EFBIG instead.
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
                    .arg(BIN);
                c
            }
        };
        let child = command
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start paywatch");
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
            self.kills += 1;
        }
    }

    /// Waits for the daemon to exit on its own (`secs` at most).
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let child = self.child.as_mut().expect("the daemon was started");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not stop; its log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon runs").id()
    }

    /// The running daemon's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Adds a watch; it must be new (201).
    pub async fn watch(&self, chain: &str, address: &str, label: &str) {
        let r = self
            .http
            .post(format!("{}/v1/watches", self.url))
            .json(&serde_json::json!({"chain": chain, "address": address, "label": label}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "watch {address}");
    }

    /// Waits (60 s at most) until the receiver has had every event of `ids`.
    pub async fn wait_delivered<'a>(
        &self,
        delivered: &Mutex<Vec<Value>>,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let ids: std::collections::HashSet<&str> = ids.into_iter().collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let missing = {
                let got = delivered.lock().unwrap();
                let got: std::collections::HashSet<&str> =
                    got.iter().filter_map(|v| v["id"].as_str()).collect();
                ids.iter().filter(|id| !got.contains(**id)).count()
            };
            if missing == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} events never delivered; daemon log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (60 s at most) until `f` holds for the answer at `path`.
    pub async fn until(&self, what: &str, path: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = self.get(path).await {
                if f(&v) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_indexed(&self, chain: &str, tip: u64) {
        self.until(&format!("{chain} at {tip}"), "/v1/status", |s| {
            s["chains"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["chain"] == chain
                        && c["indexed_height"].as_u64() == Some(tip)
                        && c["node_tip"].as_u64() == Some(tip)
                })
            })
        })
        .await;
    }

    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let b = self
                .get(&format!("/v1/events?after={after}&limit=1000"))
                .await
                .expect("events");
            let list = b["events"].as_array().unwrap().clone();
            let Some(last) = list.last() else {
                return all;
            };
            after = last["seq"].as_u64().unwrap();
            all.extend(list);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
