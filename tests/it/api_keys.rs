//! API keys: writes need a write key, reads need a key unless reads are
//! open (loopback only); missing or wrong keys are 401, a read-only key on a
//! write is 403, each with a clear error.

use crate::common;

use common::*;
use serde_json::json;

fn sha256_hex(token: &str) -> String {
    hex::encode(paywatch::config::token_digest(token))
}

async fn daemon(open_reads: bool) -> (Daemon, ReplayNode, tempfile::TempDir) {
    let mut chain = Vec::new();
    extend(&mut chain, 0, 2, 0);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\nopen_reads = {open_reads}\n\
         [[api.keys]]\nname = \"shop\"\ntoken_sha256 = \"{}\"\nscope = \"write\"\n\
         [[api.keys]]\nname = \"dashboard\"\ntoken_sha256 = \"{}\"\nscope = \"read\"\n\n{}",
        dir.path().display(),
        sha256_hex("write-token"),
        sha256_hex("read-token"),
        node.chain_toml("btc", "regtest", 0, 1)
    );
    (Daemon::start(&text).await, node, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_scopes() {
    let (d, _node, _dir) = daemon(false).await;
    let url = |p: &str| format!("{}{p}", d.url);
    let watch = json!({"chain": "btc", "address": regtest_address(&wallet_script(1))});
    let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_string();

    let r = d.http.get(url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(code(&r.json().await.unwrap()), "unauthorized");
    let r = d
        .http
        .get(url("/v1/status"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = d
        .http
        .get(url("/v1/status"))
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = d.http.get(url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health needs no key");

    let r = d
        .http
        .post(url("/v1/watches"))
        .json(&watch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = d
        .http
        .post(url("/v1/watches"))
        .bearer_auth("read-token")
        .json(&watch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&b), "forbidden");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dashboard"));
    let r = d
        .http
        .post(url("/v1/watches"))
        .bearer_auth("write-token")
        .json(&watch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reads_on_loopback_still_guard_writes() {
    let (d, _node, _dir) = daemon(true).await;
    let r = d
        .http
        .get(format!("{}/v1/status", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let watch = json!({"chain": "btc", "address": regtest_address(&wallet_script(2))});
    let r = d
        .http
        .post(format!("{}/v1/watches", d.url))
        .json(&watch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    d.stop().await;
}

#[test]
fn open_reads_off_loopback_is_refused() {
    let text = format!(
        "data_dir = \"/tmp/x\"\n[api]\nlisten = \"0.0.0.0:8480\"\nopen_reads = true\n\
         [[api.keys]]\nname = \"shop\"\ntoken_sha256 = \"{}\"\nscope = \"write\"\n",
        sha256_hex("t")
    );
    let e =
        paywatch::config::Config::parse(&text, std::path::Path::new("/tmp/p.toml")).unwrap_err();
    assert!(e.to_string().contains("open_reads"), "{e}");
    let bad = text.replace("scope = \"write\"", "scope = \"admin\"");
    let e = paywatch::config::Config::parse(&bad, std::path::Path::new("/tmp/p.toml")).unwrap_err();
    assert!(e.to_string().contains("api.keys[0].scope"), "{e}");
}
