//! The database under faults: a full disk stops the daemon with a clear
//! error and loses nothing once there is room again; a database written by
//! a newer paywatch is refused by name; a restart resumes without a resync.

use crate::common;

use common::process::{free_port, receiver, Proc};
use common::*;
use serde_json::json;
use std::collections::HashSet;

fn daemon_config(data: &std::path::Path, port: u16, section: &str, hook: &str) -> String {
    format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n{section}\n\
         [[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"{hook}/hook\"\n\
         secret = \"storage-faults-secret\"\nretry_first = \"50ms\"\n",
        data.display()
    )
}

/// Writes past a file-size cap fail as on a full disk. The daemon logs why
/// and exits with an error naming the database (it does not spin, and is
/// not killed); restarted with room, it resumes where the last good write
/// left it: every payment is reported once, and the feed has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_daemon_cleanly_and_loses_nothing() {
    let watched = wallet_script(5);
    let address = regtest_address(&watched);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 1500, 0, &watched);
    let payments = payments_to(&chain, &watched);
    let node = ReplayNode::start(0, &chain[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    let (hook, delivered, _stop_hook) = receiver().await;
    let port = free_port();
    let section = node.chain_toml("btc", "regtest", 0, 3);
    let mut p = Proc::new(
        dir.path(),
        &daemon_config(&dir.path().join("data"), port, &section, &hook),
        port,
    );
    // 96 KiB: more than opening the database takes, less than indexing
    // the chain's payments writes to the log.
    p.file_size_limit_kib = Some(96);
    p.ensure_running();
    p.until("the API", "/health", |_| true).await;
    p.watch("btc", &address, "shop").await;
    node.set_chain(0, &chain);

    let status = p.wait_exit(60);
    let log = p.log();
    assert_eq!(status.code(), Some(1), "exits with an error; log:\n{log}");
    assert!(
        log.contains("cannot be written (is the disk full?)")
            && log.contains(&dir.path().join("data").display().to_string())
            && log.contains("File too large"),
        "the reason is logged; log:\n{log}"
    );

    // Room again: the same data, no cap.
    p.file_size_limit_kib = None;
    p.ensure_running();
    let tip = chain.len() as u64 - 1;
    p.wait_indexed("btc", tip).await;
    let events = p.events().await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], json!(i as u64 + 1), "the feed has no gap");
    }
    let detected: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "payment.detected" && e["direction"] == "in")
        .map(|e| e["txid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(detected.len(), payments.len(), "each payment once");
    assert_eq!(detected.into_iter().collect::<HashSet<_>>(), payments);
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event is recorded twice");
    // And every event reaches the webhook.
    p.wait_delivered(&delivered, ids).await;
    p.kill();
}

/// A database whose schema version is newer than this paywatch's is
/// refused at start, naming both versions and the data directory.
#[test]
fn a_database_from_a_newer_paywatch_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data/db");
    drop(paywatch::store::Store::open(&db_path).unwrap());
    {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, &db_path).unwrap();
        let db = rocksdb::DB::open_cf(&opts, &db_path, &cfs).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        let newer = paywatch::store::SCHEMA_VERSION + 1;
        db.put_cf(meta, b"schema", newer.to_be_bytes()).unwrap();
    }
    let port = free_port();
    let config = dir.path().join("paywatch.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(common::process::BIN)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused; stderr:\n{stderr}");
    let newer = paywatch::store::SCHEMA_VERSION + 1;
    assert!(
        stderr.contains(&format!("schema version {newer}"))
            && stderr.contains(&format!("({})", paywatch::store::SCHEMA_VERSION))
            && stderr.contains(&dir.path().join("data").display().to_string()),
        "{stderr}"
    );
    // Refusing did not change it.
    let e = paywatch::store::Store::open(&db_path)
        .err()
        .expect("still newer");
    assert!(
        e.to_string().contains(&format!("schema version {newer}")),
        "{e}"
    );
}

/// Stopped with SIGKILL once indexed, the daemon starts again where it
/// was: it asks the node for no block it already had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_kill_does_not_resync() {
    let watched = wallet_script(6);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 400, 0, &watched);
    let node = ReplayNode::start(0, &chain).await;
    node.enable_rest();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let section = node.chain_toml("btc", "regtest", 0, 3);
    let mut p = Proc::new(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n{section}",
            dir.path().join("data").display()
        ),
        port,
    );
    p.ensure_running();
    let tip = chain.len() as u64 - 1;
    p.wait_indexed("btc", tip).await;
    p.kill();
    let blocks_before = node.rest_calls();
    assert!(blocks_before >= tip, "the first run fetched the chain");
    p.ensure_running();
    p.wait_indexed("btc", tip).await;
    // Let it poll a few rounds.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(node.rest_calls(), blocks_before, "no block fetched again");
    p.kill();
}
