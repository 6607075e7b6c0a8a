//! A real Anvil node for tests: started on a free loopback port, killed
//! when dropped, with helpers to send transactions and deploy the contracts
//! `scripts/setup-deps.sh` compiled from `tests/evm/`.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The m/44'/60'/0' account key of the "abandon … about" test mnemonic.
pub const EVM_ACCOUNT_XPUB: &str = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt";

pub struct Anvil {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools")
}

pub fn anvil_path() -> Option<PathBuf> {
    let path = std::env::var_os("PAYWATCH_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            tools().join("npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    if path.is_file() && tools().join("evm/TestToken.bin").is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("anvil or the compiled test contracts are missing: run scripts/setup-deps.sh");
    }
    eprintln!(
        "skipped: anvil or the compiled test contracts are missing (run scripts/setup-deps.sh)"
    );
    None
}

impl Anvil {
    pub async fn start(bin: &PathBuf) -> Anvil {
        Anvil::start_with(bin, &[]).await
    }

    /// Started with more command-line arguments, e.g. `--no-mining`.
    pub async fn start_with(bin: &PathBuf, extra: &[&str]) -> Anvil {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anvil");
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while anvil.try_rpc("eth_chainId", json!([])).await.is_err() {
            assert!(Instant::now() < deadline, "anvil did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anvil
    }

    pub async fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let r = self
            .http
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) if !e.is_null() => Err(e.to_string()),
            _ => Ok(v["result"].clone()),
        }
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Sends a transaction from an unlocked account; returns its receipt.
    pub async fn send(&self, from: &str, to: Option<&str>, value: u128, data: &str) -> Value {
        let mut tx =
            json!({"from": from, "value": format!("0x{value:x}"), "data": data, "gas": "0x200000"});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        self.send_tx(tx).await
    }

    /// Sends a transaction request as it is; returns its receipt, once
    /// mined.
    pub async fn send_tx(&self, tx: Value) -> Value {
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await;
        // Anvil mines right away, but the receipt can lag the answer a little.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !r.is_null() {
                return r;
            }
            assert!(Instant::now() < deadline, "no receipt for {hash}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Deploys the compiled contract `name` with constructor `args` (hex
    /// words); returns its address.
    pub async fn deploy(&self, from: &str, name: &str, args: &str) -> String {
        self.send(from, None, 0, &format!("0x{}{args}", bytecode(name)))
            .await["contractAddress"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn height(&self) -> u64 {
        let h = self.rpc("eth_blockNumber", json!([])).await;
        u64::from_str_radix(h.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

pub fn bytecode(name: &str) -> String {
    std::fs::read_to_string(tools().join(format!("evm/{name}.bin")))
        .unwrap()
        .trim()
        .to_string()
}
