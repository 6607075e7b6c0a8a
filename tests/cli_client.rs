//! The client commands of the `paywatch` binary against a running daemon:
//! `status`, `watch add|remove|import` and `events tail`.

mod common;

use common::*;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_paywatch");

fn run(url: &str, args: &[&str]) -> (bool, String, String) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_against_a_running_daemon() {
    let mut chain = Vec::new();
    extend(&mut chain, 0, 4, 0);
    let node = ReplayNode::start(0, &chain[..1]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("btc", "regtest", 0, 1)],
    ))
    .await;
    let url = d.url.clone();

    let a1 = regtest_address(&wallet_script(1));
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (url, a1) = (url.clone(), a1.clone());
        move || {
            run(
                &url,
                &[
                    "watch",
                    "add",
                    "btc",
                    &a1,
                    "--label",
                    "order-1",
                    "--metadata",
                    "{\"order\":1}",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("order-1"), "{out}");

    let csv = dir.path().join("watches.csv");
    let (a2, a3) = (
        regtest_address(&wallet_script(2)),
        regtest_address(&wallet_script(3)),
    );
    std::fs::write(
        &csv,
        format!("chain,address,label\nbtc,{a2},order-2\n,{a3},\n"),
    )
    .unwrap();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        let csv = csv.to_str().unwrap().to_string();
        move || run(&url, &["watch", "import", &csv, "--chain", "btc"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("\"created\":2"), "{out}");

    // A payment to the imported address is found.
    let pay = spend(
        &[bitcoin::OutPoint {
            txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
            vout: 9,
        }],
        &[(wallet_script(2), 5000)],
    );
    let b = &chain[2];
    chain[2] = block(
        b.header.prev_blockhash,
        b.header.time,
        vec![b.txdata[0].clone(), pay],
    );
    let prev = chain[2].block_hash();
    let b3 = &chain[3];
    chain[3] = block(prev, b3.header.time, b3.txdata.clone());
    node.set_chain(0, &chain);
    d.wait_indexed("btc", 3).await;

    let (ok, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run(&url, &["status"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("btc"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("following") && row.contains(" 3 "), "{out}");

    let (ok, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run(&url, &["events", "tail"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    assert_eq!(events[0]["type"], "payment.detected");
    assert_eq!(events[0]["address"], a2.as_str());
    assert_eq!(events[0]["watch"]["label"], "order-2");

    let (ok, _, err) = tokio::task::spawn_blocking({
        let (url, a1) = (url.clone(), a1.clone());
        move || run(&url, &["watch", "remove", "btc", &a1])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    // Removing it again is an error that says why.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (url, a1) = (url.clone(), a1.clone());
        move || run(&url, &["watch", "remove", "btc", &a1])
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("404") && err.contains("not watched"), "{err}");
    // A bad address is refused with the daemon's reason.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run(&url, &["watch", "add", "btc", "not-an-address"])
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("invalid_address"), "{err}");
    d.stop().await;

    // No daemon: a clear error, not a hang.
    let (ok, _, err) = tokio::task::spawn_blocking(move || run(&url, &["status"]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("cannot reach the daemon"), "{err}");
}
