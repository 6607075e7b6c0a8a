//! The client commands of the `paywatch` binary against a running daemon:
//! `status`, `watch add|remove|import` and `events tail`.

use crate::common;

use common::process::client as run;
use common::*;

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
    // Progress goes to stderr, as plain lines when it is not a terminal.
    assert!(
        err.contains("import 2 watches: 2 created, 0 already watched") && !err.contains('\x1b'),
        "{err}"
    );

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
    // Blocks 0 to 3, all indexed.
    assert!(row.contains(" 100.0% "), "{out}");
    assert!(out.lines().next().unwrap().contains(" SYNCED "), "{out}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescan_finds_payments_to_an_address_added_later_once() {
    let late = wallet_script(40);
    let mut chain = Vec::new();
    extend(&mut chain, 0, 30, 0);
    let mut txids = Vec::new();
    for (i, at) in [5usize, 20].into_iter().enumerate() {
        let pay = spend(
            &[bitcoin::OutPoint {
                txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
                vout: i as u32,
            }],
            &[(late.clone(), 1000 + i as u64)],
        );
        txids.push(pay.compute_txid().to_string());
        let b = &chain[at];
        chain[at] = block(
            b.header.prev_blockhash,
            b.header.time,
            vec![b.txdata[0].clone(), pay],
        );
        for j in at + 1..chain.len() {
            let prev = chain[j - 1].block_hash();
            let b = &chain[j];
            chain[j] = block(prev, b.header.time, b.txdata.clone());
        }
    }
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[node.chain_toml("btc", "regtest", 0, 3)],
    ))
    .await;
    d.wait_indexed("btc", 29).await;
    assert!(d.events().await.is_empty());
    let addr = regtest_address(&late);
    d.watch("btc", &addr, "late").await;

    // Not beyond what is indexed.
    let (status, body) = d
        .post_json("/v1/chains/btc/rescan", &serde_json::json!({"from": 31}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_height"))
    );

    let url = d.url.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run(&url, &["rescan", "--chain", "btc", "--from", "3"])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("\"from\":3"), "{out}");
    // The command follows the rescan back to the tip, on stderr.
    assert!(
        err.contains("rescan btc from 3: indexed up to 29 again"),
        "{err}"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while d.events().await.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:#?}",
            d.events().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    d.wait_indexed("btc", 29).await;
    // Scanning the same blocks again reports nothing twice.
    let (status, _) = d
        .post_json("/v1/chains/btc/rescan", &serde_json::json!({"from": 0}))
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    d.wait_indexed("btc", 29).await;
    let ev = d.events().await;
    let kinds: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["txid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("payment.detected".to_string(), txids[0].clone()),
            ("payment.confirmed".to_string(), txids[0].clone()),
            ("payment.detected".to_string(), txids[1].clone()),
            ("payment.confirmed".to_string(), txids[1].clone()),
        ]
    );
    assert_eq!(d.transfers("btc", &addr).await.len(), 2);
    d.stop().await;
}
