//! The HTTP API against its description, docs/openapi.yaml: schemathesis
//! (installed by scripts/setup-deps.sh into .tools/venv) generates requests
//! for every operation, valid and invalid, and checks that no answer is a
//! server error and that each one's status, content type and body are the
//! documented ones. The daemon runs in-process with a write key, has indexed
//! a payment in and out of a watched address, holds dead deliveries to a
//! webhook whose receiver is down, takes invoices (one of which exists) and
//! Epusdt orders, so that the data-bearing answers are checked too and not
//! only the errors.

use crate::common;

use bitcoin::{OutPoint, ScriptBuf};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHAIN: &str = "btc";
/// The daemon's write key (`[api] api_key`); reads stay open on loopback.
const WRITE_KEY: &str = "openapi-test-write-key";
const SECRET: &str = "0123456789abcdef0123";
/// The `[epusdt] token`; tests/openapi/hooks.py signs about half of the
/// generated Epusdt orders with it (PAYWATCH_EPUSDT_TOKEN).
const EPUSDT_TOKEN: &str = "openapi-epusdt-token";
/// The BIP-84 test vector's account key (m/84'/0'/0', the `zpub6rFR7y4Q…`
/// of BIP-84) with its version bytes replaced by vpub's (04 5f 1c f6), so
/// that it is valid on regtest: `bip84_vpub()` of tests/common, which
/// this file cannot import. Computed with python3: base58check-decode the
/// zpub, replace the first 4 bytes, base58check-encode.
const ACCOUNT_VPUB: &str = "vpub5YvMuJNjRSYon44z9QmCfdf8SqJRVNvz6m55Qy5iVjZQxDfUgtiQjnc7CC1fAbED2tAGCZRERUfvtn2DstZGU6HMns6dXXH2wujSc2wfi2x";
/// Test cases per operation and phase.
const MAX_EXAMPLES: u32 = 50;
const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The schemathesis CLI, or `None` (with a note) when it is not installed
/// outside CI.
fn schemathesis() -> Option<PathBuf> {
    let bin = root().join(".tools/venv/bin/schemathesis");
    if bin.is_file() {
        return Some(bin);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing: run scripts/setup-deps.sh", bin.display());
    }
    eprintln!(
        "skipped: {} is missing (scripts/setup-deps.sh installs it)",
        bin.display()
    );
    None
}

/// A 127.0.0.1 port with nothing listening on it.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    l.local_addr()
        .expect("a bound socket has an address")
        .port()
}

/// Ten filler blocks from height 1; a coinbase paying `script`; a
/// transaction spending that output elsewhere; two more blocks.
fn chain_paying(script: &ScriptBuf) -> (Vec<bitcoin::Block>, [String; 2]) {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 10, 0);
    let height = 1 + chain.len() as u64;
    let cb = coinbase(height, 5, script.clone(), 1_000_000);
    let cb_txid = cb.compute_txid();
    chain.push(block(
        chain.last().unwrap().block_hash(),
        1_700_000_000 + height as u32 * 600,
        vec![cb],
    ));
    let height = height + 1;
    let sweep = spend(
        &[OutPoint {
            txid: cb_txid,
            vout: 0,
        }],
        &[(filler_script(5000), 900_000)],
    );
    let sweep_txid = sweep.compute_txid();
    chain.push(block(
        chain.last().unwrap().block_hash(),
        1_700_000_000 + height as u32 * 600,
        vec![
            coinbase(height, 5, filler_script(5001), 50_0000_0000),
            sweep,
        ],
    ));
    extend(&mut chain, 1, 2, 0);
    (chain, [cb_txid.to_string(), sweep_txid.to_string()])
}

/// A TOML string (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn toml_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

/// schemathesis.toml: the write key, no cache, NDJSON through the hooks,
/// and values the daemon knows mixed into the generated ones (real chain,
/// asset, addresses, txids, delivery and invoice ids), so that operations
/// answer with data and not only with 400 and 404. `wait` of the events
/// feed is held at 0: a long poll would only make the run slow.
fn schemathesis_config(
    addresses: &[String],
    txids: &[String],
    deliveries: &[String],
    invoices: &[String],
) -> String {
    let hooks = root().join("tests/openapi/hooks.py");
    format!(
        "hooks = {hooks}\n\
         headers = {{ Authorization = {auth} }}\n\
         \n\
         [cache]\n\
         enabled = false\n\
         \n\
         [dictionaries]\n\
         chains = {{ values = {chains} }}\n\
         addresses = {{ values = {addresses} }}\n\
         txids = {{ values = {txids} }}\n\
         deliveries = {{ values = {deliveries} }}\n\
         invoices = {{ values = {invoices} }}\n\
         assets = {{ values = [\"BTC\"] }}\n\
         \n\
         [parameters]\n\
         \"path.chain\" = {{ dictionary = \"chains\", probability = 0.6 }}\n\
         \"query.chain\" = {{ dictionary = \"chains\", probability = 0.6 }}\n\
         \"body.chain\" = {{ dictionary = \"chains\", probability = 0.6 }}\n\
         \"path.address\" = {{ dictionary = \"addresses\", probability = 0.6 }}\n\
         \"query.address\" = {{ dictionary = \"addresses\", probability = 0.6 }}\n\
         \"body.address\" = {{ dictionary = \"addresses\", probability = 0.6 }}\n\
         \"body.asset\" = {{ dictionary = \"assets\", probability = 0.6 }}\n\
         \"query.txid\" = {{ dictionary = \"txids\", probability = 0.6 }}\n\
         \"path.id\" = {{ dictionary = \"deliveries\", probability = 0.6 }}\n\
         \n\
         [[operations]]\n\
         include-name = \"GET /v1/events\"\n\
         parameters = {{ \"query.wait\" = 0 }}\n\
         \n\
         # The invoices' `id` is an invoice id, not a delivery id.\n\
         [[operations]]\n\
         include-tag = \"invoices\"\n\
         parameters = {{ \"path.id\" = {{ dictionary = \"invoices\", probability = 0.6 }} }}\n",
        hooks = toml_str(&hooks.display().to_string()),
        auth = toml_str(&format!("Bearer {WRITE_KEY}")),
        chains = toml_list(&[CHAIN.to_string()]),
        addresses = toml_list(addresses),
        txids = toml_list(txids),
        deliveries = toml_list(deliveries),
        invoices = toml_list(invoices),
    )
}

async fn get_json(d: &Daemon, path: &str) -> Value {
    let (status, body) = d.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Polls `path` until `f` picks something from its answer (60 s at most).
async fn wait_for<T>(d: &Daemon, what: &str, path: &str, f: impl Fn(&Value) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body = get_json(d, path).await;
        if let Some(v) = f(&body) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs schemathesis against `url` in `dir`; its exit status and output
/// (stdout and stderr as they came). The daemon keeps serving meanwhile:
/// this task only polls the child.
async fn run_schemathesis(
    bin: &Path,
    dir: &Path,
    config: &Path,
    url: &str,
) -> (std::process::ExitStatus, String) {
    let log_path = dir.join("schemathesis.out");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(root().join("docs/openapi.yaml"))
        .args(["--url", url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", "1"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "30"])
        .arg("--no-color")
        // Only the daemon on 127.0.0.1 is ever asked; nothing is written
        // into the work tree.
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PAYWATCH_EPUSDT_TOKEN", EPUSDT_TOKEN)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("schemathesis starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis ran for over 10 minutes:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (status, std::fs::read_to_string(&log_path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_openapi_description() {
    let Some(bin) = schemathesis() else {
        return;
    };
    let script = wallet_script(90);
    let address = regtest_address(&script);
    let (chain, txids) = chain_paying(&script);
    // The node shows the payment only once the watch is in place.
    let node = ReplayNode::start(1, &chain[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    // `[chain.invoices]` belongs to the `[[chain]]` table just before it.
    let config = format!(
        "data_dir = {data}\n\
         [api]\n\
         listen = \"127.0.0.1:0\"\n\
         api_key = {key}\n\
         \n\
         {chain_toml}\
         [chain.invoices]\n\
         xpub = \"{ACCOUNT_VPUB}\"\n\
         \n\
         [[sink]]\n\
         name = \"shop\"\n\
         kind = \"webhook\"\n\
         url = \"http://127.0.0.1:{port}/hook\"\n\
         secret = \"{SECRET}\"\n\
         timeout = \"1s\"\n\
         retry_first = \"50ms\"\n\
         retry_max = \"100ms\"\n\
         retry_for = \"300ms\"\n\
         \n\
         [epusdt]\n\
         token = \"{EPUSDT_TOKEN}\"\n\
         chain = \"{CHAIN}\"\n\
         asset = \"BTC\"\n\
         rate = \"450000\"\n",
        data = toml_str(&dir.path().join("data").display().to_string()),
        key = toml_str(WRITE_KEY),
        chain_toml = node.chain_toml(CHAIN, "regtest", 1, 2),
        port = closed_port(),
    );
    let d = Daemon::start(&config).await;

    let r = d
        .http
        .post(format!("{}/v1/watches", d.url))
        .bearer_auth(WRITE_KEY)
        .json(&json!({"chain": CHAIN, "address": address, "label": "order-42", "metadata": {"order": 42}}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 201, "{body}");
    node.set_chain(1, &chain);
    d.wait_indexed(CHAIN, chain.len() as u64).await;
    // In and out, each detected and confirmed.
    d.events_until("four events", |e| e.len() >= 4).await;
    let dead = wait_for(
        &d,
        "dead deliveries",
        "/v1/deliveries?status=dead&limit=1000",
        |b| {
            let ids: Vec<String> = b["deliveries"]
                .as_array()?
                .iter()
                .filter_map(|x| x["id"].as_str().map(String::from))
                .collect();
            (ids.len() >= 4).then_some(ids)
        },
    )
    .await;
    let transfers = d.transfers(CHAIN, &address).await;
    assert_eq!(transfers.len(), 2, "{transfers:#?}");
    // One invoice, for list, get, cancel and the QR codes to answer with.
    let r = d
        .http
        .post(format!("{}/v1/invoices", d.url))
        .bearer_auth(WRITE_KEY)
        .json(&json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "order-43"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let invoice: Value = r.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{invoice}");
    let invoice_id = invoice["id"].as_str().expect("an invoice id").to_string();

    let work = tempfile::tempdir().unwrap();
    let st_config = work.path().join("schemathesis.toml");
    std::fs::write(
        &st_config,
        schemathesis_config(
            &[address.clone(), hex::encode(script.as_bytes())],
            &txids,
            &dead,
            &[invoice_id],
        ),
    )
    .unwrap();
    let (status, output) = run_schemathesis(&bin, work.path(), &st_config, &d.url).await;
    assert!(
        status.success(),
        "schemathesis found answers that do not match docs/openapi.yaml ({status}):\n{output}"
    );
    // The summary, for the test log.
    let summary: Vec<&str> = output
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    eprintln!("{}", summary.join("\n"));
    d.stop().await;
}
