//! `GET /metrics` serves Prometheus text with the scanner's, the delivery's,
//! the invoices' and the rate sources' figures, and the Grafana dashboard in
//! `config/grafana/` queries exactly the metrics that exist: none that is
//! not served, and every one that is.

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
    // The webhook receiver, and two rate sources: one answers, one fails.
    let (hook, _hook_stop) = serve_http(
        || false,
        |req: hyper::Request<hyper::body::Incoming>| async move {
            let (status, body) = match req.uri().path() {
                "/rate" => (hyper::StatusCode::OK, r#"{"price": "65000.5"}"#),
                "/down" => (hyper::StatusCode::SERVICE_UNAVAILABLE, ""),
                _ => (hyper::StatusCode::NO_CONTENT, ""),
            };
            let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
            *r.status_mut() = status;
            r
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let sanctions = dir.path().join("sanctions.txt");
    std::fs::write(&sanctions, "0x7F367cC41522cE07553e823bf3be79A889DEbe1B\n").unwrap();
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
[[rate]]
pair = \"BTC/USD\"
refresh = 1
[[rate.source]]
name = \"up\"
url = \"{hook}/rate\"
pointer = \"/price\"
[[rate.source]]
name = \"down\"
url = \"{hook}/down\"
pointer = \"/price\"
[risk]
sanctions_file = \"{}\"
",
        config_text(
            dir.path(),
            &[format!(
                "{}[chain.invoices]\nxpub = \"{}\"\n",
                node.chain_toml("btc", "regtest", 0, 1),
                bip84_vpub()
            )]
        ),
        plugin_wasm("forward_all").display(),
        sanctions.display(),
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

    // An invoice, created and cancelled.
    let (code, inv) = d
        .post_json(
            "/v1/invoices",
            &serde_json::json!({"chain": "btc", "asset": "BTC", "amount": "0.001", "order_id": "m1"}),
        )
        .await;
    assert_eq!(code, 201, "{inv}");
    let (code, _) = d
        .post_json(
            &format!("/v1/invoices/{}/cancel", inv["id"].as_str().unwrap()),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(code, 200);
    // A reorg of the tip (depth 1), and both rate sources asked.
    let mut other = chain.clone();
    other[9] = block(
        other[8].block_hash(),
        other[9].header.time + 1,
        vec![coinbase(9, 99, wallet_script(4), 1000)],
    );
    node.set_chain(0, &other);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = d.metrics().await;
        if m.contains("paywatch_reorgs_total{chain=\"btc\"} 1")
            && m.contains("paywatch_rate{")
            && m.contains("paywatch_rate_fetch_failures_total{")
            && m.contains("outcome=\"cancelled\"")
            && m.contains("paywatch_deliveries_total{sink=\"shop\",outcome=\"delivered\"} 3")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not yet: {m}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
    // Ten blocks, and block 9 again after the reorg.
    assert_eq!(
        value("paywatch_blocks_committed_total{chain=\"btc\"}"),
        11.0
    );
    assert_eq!(value("paywatch_chain_up{chain=\"btc\"}"), 1.0);
    assert!(value("paywatch_rocksdb_size_bytes") > 0.0);
    assert!(text.contains("paywatch_rpc_duration_seconds_bucket{chain=\"btc\",op=\"fetch\""));
    assert_eq!(
        value("paywatch_deliveries_total{sink=\"shop\",outcome=\"delivered\"}"),
        3.0
    );
    assert_eq!(
        value("paywatch_plugin_calls_total{plugin=\"all\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(value("paywatch_outbox_depth"), 0.0);
    assert_eq!(value("paywatch_reorgs_total{chain=\"btc\"}"), 1.0);
    assert_eq!(
        value("paywatch_reorg_depth_blocks_count{chain=\"btc\"}"),
        1.0
    );
    assert_eq!(
        value("paywatch_invoices_total{chain=\"btc\",asset=\"BTC\",outcome=\"created\"}"),
        1.0
    );
    assert_eq!(
        value("paywatch_invoices_total{chain=\"btc\",asset=\"BTC\",outcome=\"cancelled\"}"),
        1.0
    );
    assert_eq!(
        value("paywatch_events_total{chain=\"btc\",type=\"invoice.cancelled\"}"),
        1.0
    );
    assert_eq!(
        value("paywatch_rate{pair=\"BTC/USD\",source=\"up\"}"),
        65000.5
    );

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
    // And the other way: every served metric is on the dashboard (a
    // histogram counts by any of its series).
    let family = |n: &str| -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = n.strip_suffix(suffix) {
                if served.contains(format!("{base}_bucket").as_str()) {
                    return base.to_string();
                }
            }
        }
        n.to_string()
    };
    let on_dashboard: std::collections::BTreeSet<String> =
        queried.iter().map(|n| family(n)).collect();
    for name in &served {
        assert!(
            on_dashboard.contains(&family(name)),
            "/metrics serves {name}, which the dashboard does not show"
        );
    }
    d.stop().await;
}
