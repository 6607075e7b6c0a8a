//! `GET /metrics` serves Prometheus text with the scanner's figures, and the
//! Grafana dashboard in `config/grafana/` queries only metrics that exist.

#[path = "it/common/mod.rs"]
mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_only_metrics_the_daemon_serves() {
    let mut chain = Vec::new();
    extend(&mut chain, 0, 10, 0);
    let watched = wallet_script(3);
    // A payment at height 5, so that the plugin and the sink have work.
    chain[5] = block(
        chain[4].block_hash(),
        chain[5].header.time,
        vec![coinbase(5, 1, watched.clone(), 1000)],
    );
    for i in 6..chain.len() {
        chain[i] = block(
            chain[i - 1].block_hash(),
            chain[i].header.time,
            chain[i].txdata.clone(),
        );
    }
    let node = ReplayNode::start(0, &chain[..1]).await;
    let (hook, _hook_stop) = serve_http(
        || false,
        |_req| async {
            let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
            *r.status_mut() = hyper::StatusCode::NO_CONTENT;
            r
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&format!(
        "{}
[[plugin]]
name = \"all\"
path = \"{}\"
         [[sink]]
name = \"shop\"
kind = \"webhook\"
url = \"{hook}/hook\"
secret = \"0123456789abcdef0123\"
",
        config_text(dir.path(), &[node.chain_toml("btc", "regtest", 0, 1)]),
        plugin_wasm("forward_all").display(),
    ))
    .await;
    d.watch("btc", &regtest_address(&watched), "m").await;
    node.set_chain(0, &chain);
    d.wait_indexed("btc", 9).await;
    // Both events (detected, confirmed) delivered.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, b) = d.get("/v1/deliveries?status=delivered").await;
        if b["deliveries"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {b}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let r = d
        .http
        .get(format!("{}/metrics", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no `{line_start}` in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("paywatch_indexed_height{chain=\"btc\"}"), 9.0);
    assert_eq!(value("paywatch_node_tip_height{chain=\"btc\"}"), 9.0);
    assert_eq!(value("paywatch_lag_blocks{chain=\"btc\"}"), 0.0);
    assert_eq!(
        value("paywatch_blocks_committed_total{chain=\"btc\"}"),
        10.0
    );
    assert_eq!(value("paywatch_chain_up{chain=\"btc\"}"), 1.0);
    assert!(value("paywatch_rocksdb_size_bytes") > 0.0);
    assert!(text.contains("paywatch_rpc_duration_seconds_bucket{chain=\"btc\",op=\"fetch\""));
    assert_eq!(
        value("paywatch_deliveries_total{sink=\"shop\",outcome=\"delivered\"}"),
        2.0
    );
    assert_eq!(
        value("paywatch_plugin_calls_total{plugin=\"all\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(value("paywatch_outbox_depth"), 0.0);

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/grafana/paywatch.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("paywatch_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                queried.insert(name);
            }
        }
    }
    assert!(queried.len() >= 22, "{queried:?}");
    let served: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    for name in &queried {
        assert!(
            served.contains(name.as_str()),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }
    d.stop().await;
}
