//! Node faults through a fault-injecting proxy, on each chain's replay
//! node: slow answers, reset connections, answers cut short, HTTP errors,
//! a node that goes back in height and a node that is down for a while
//! (`NODE_DOWN_SECS`: 90 s under `CI=true`, 5 s otherwise).
//! The daemon stays up and answers, reports each fault in `/v1/status`
//! and in its metrics, and once the node heals ends with exactly the
//! events of a run that saw no fault.

use crate::common;

use common::proxy::{FaultProxy, ProxyFault, Seen};
use common::*;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// How long the node stays down: `NODE_DOWN_SECS`, 90 s under `CI=true`,
/// else 5 s.
fn down_secs() -> u64 {
    std::env::var("NODE_DOWN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var("CI").as_deref() == Ok("true") {
            90
        } else {
            5
        })
}

/// The chain's states as the node shows them: a prefix of the final chain
/// of `len` blocks; returns the node's tip.
type Show<'a> = Box<dyn Fn(usize) -> u64 + 'a>;

async fn wait_state(d: &Daemon, chain: &str, states: &[&str], why: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = d.chain_status(chain).await;
        let state = s["state"].as_str().unwrap_or_default();
        let error_shown = s["last_error"].is_string() == (state != "following");
        if states.contains(&state) && error_shown {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: status never became {states:?}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metric(d: &Daemon, line_start: &str) -> f64 {
    let text = d.metrics().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Runs the fault sequence against the node behind `proxy`, then compares
/// with a run straight to the node. `section(url)` is the chain's config
/// for a node at `url`; `len` the final chain's length.
async fn campaign(
    chain: &str,
    node_url: &str,
    section: impl Fn(&str) -> String,
    addresses: &[String],
    show: Show<'_>,
    len: usize,
) {
    let proxy = FaultProxy::start(node_url).await;
    show(1);
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(dir.path(), &[section(&proxy.url)])).await;
    for a in addresses {
        d.watch(chain, a, "shop").await;
    }
    let a = len / 3;
    let b = 2 * len / 3;
    let tip_a = show(a);
    d.wait_indexed(chain, tip_a).await;

    // Slow answers (within the timeout): no error, the chain goes on.
    proxy.set(ProxyFault::Delay(Duration::from_millis(150)));
    let tip_b = show(b);
    d.wait_indexed(chain, tip_b).await;
    assert!(d.chain_status(chain).await["last_error"].is_null());

    let up = format!("paywatch_chain_up{{chain=\"{chain}\"}}");
    for (fault, states) in [
        (ProxyFault::Reset, &["node_unreachable"][..]),
        (
            ProxyFault::Truncate(120),
            &["node_unreachable", "degraded"][..],
        ),
        (
            ProxyFault::Truncate(2000),
            &["node_unreachable", "degraded"][..],
        ),
        (ProxyFault::Status(503), &["degraded"][..]),
        (ProxyFault::Status(500), &["degraded"][..]),
    ] {
        proxy.set(fault);
        let s = wait_state(&d, chain, states, &format!("{fault:?}")).await;
        assert!(!s["last_error"].as_str().unwrap().is_empty());
        assert_eq!(metric(&d, &up).await, 0.0, "{fault:?}: {up}");
        proxy.set(ProxyFault::Pass);
        wait_state(&d, chain, &["following"], &format!("after {fault:?}")).await;
        assert_eq!(metric(&d, &up).await, 1.0, "after {fault:?}: {up}");
    }
    // A provider's rate limit: 429 with `Retry-After: 2`. Nothing reaches
    // the node until 2 s after the last 429 (the scanner, its prefetch and
    // everything else wait on the same pause), then the chain goes on.
    proxy.set(ProxyFault::RateLimited(2));
    let s = wait_state(&d, chain, &["degraded"], "rate limited").await;
    assert!(
        s["last_error"].as_str().unwrap().contains("rate limit"),
        "{s}"
    );
    proxy.set(ProxyFault::Pass);
    wait_state(&d, chain, &["following"], "after the rate limit").await;
    let mut last_429 = None;
    for seen in proxy.seen() {
        match seen {
            Seen::Limited(t) => last_429 = Some(t),
            Seen::Passed(t) => {
                if let Some(l) = last_429 {
                    assert!(
                        t.duration_since(l) >= Duration::from_millis(1950),
                        "a request reached the node {:?} after a 429 asking for 2 s",
                        t.duration_since(l)
                    );
                }
            }
        }
    }
    assert!(last_429.is_some());
    let limited =
        format!("paywatch_rpc_errors_total{{chain=\"{chain}\",op=\"tip\",kind=\"rate_limited\"}}");
    assert!(metric(&d, &limited).await > 0.0, "{limited}");

    let unreachable =
        format!("paywatch_rpc_errors_total{{chain=\"{chain}\",op=\"tip\",kind=\"unreachable\"}}");
    assert!(metric(&d, &unreachable).await > 0.0, "{unreachable}");

    // The node goes back in height (restarted on an older copy): that is
    // no reorg, the daemon waits for it.
    show(a);
    let s = wait_state(&d, chain, &["degraded"], "node behind").await;
    assert!(s["last_error"].as_str().unwrap().contains("behind"), "{s}");
    show(b);
    wait_state(&d, chain, &["following"], "node caught up").await;

    // Down for a while (every connection refused), then back with more.
    // The retries back off (to 15 s, plus jitter) instead of hammering the
    // node, and the chain resumes within one pause of its return.
    proxy.set(ProxyFault::Refuse);
    wait_state(&d, chain, &["node_unreachable"], "node down").await;
    let errors = format!("paywatch_rpc_errors_total{{chain=\"{chain}\"");
    let count_errors = |text: String| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&errors))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = count_errors(d.metrics().await);
    let down = down_secs();
    tokio::time::sleep(Duration::from_secs(down)).await;
    let (_, health) = d.get("/health").await;
    assert!(!health.is_null(), "the API answers while the node is down");
    let tries = count_errors(d.metrics().await) - before;
    assert!(
        tries <= (down / 7 + 12) as f64,
        "{chain}: {tries} failed calls in {down} s down"
    );
    proxy.set(ProxyFault::Pass);
    let back = Instant::now();
    let tip = show(len);
    d.wait_indexed(chain, tip).await;
    let resumed = back.elapsed();
    assert!(
        resumed < Duration::from_secs(40),
        "{chain}: resumed {resumed:?} after the node came back"
    );
    eprintln!("{chain}: down {down} s, {tries} failed calls, resumed in {resumed:.1?}");
    let events = d.events().await;
    d.stop().await;

    // The same chain, no proxy and no fault.
    show(1);
    let dir = tempfile::tempdir().unwrap();
    let clean = Daemon::start(&config_text(dir.path(), &[section(node_url)])).await;
    for a in addresses {
        clean.watch(chain, a, "shop").await;
    }
    show(len);
    clean.wait_indexed(chain, tip).await;
    let reference = clean.events().await;
    clean.stop().await;
    let key = |e: &Value| (e["id"].clone(), e["type"].clone());
    assert!(!reference.is_empty(), "{chain}: the chain has payments");
    assert!(
        events.iter().all(|e| e["type"] != "payment.reorged"),
        "{chain}: no fault looks like a reorg"
    );
    assert_eq!(
        events.iter().map(key).collect::<Vec<_>>(),
        reference.iter().map(key).collect::<Vec<_>>(),
        "{chain}: the events of a run without faults"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcoin_node_faults() {
    let watched = wallet_script(11);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 240, 0, &watched);
    let node = ReplayNode::start(0, &chain[..1]).await;
    node.enable_rest();
    let section = |url: &str| {
        node.chain_toml("btc-faults", "regtest", 0, 3)
            .replace(&node.url, url)
            .replace("rpc_timeout_secs = 5", "rpc_timeout_secs = 2")
    };
    // Each state as a node that knows only it: shown a shorter chain, it
    // is one restarted on an older copy of its data.
    let show: Show = Box::new(|n| {
        node.restart_on(0, &chain[..n]);
        n as u64 - 1
    });
    let len = chain.len();
    campaign(
        "btc-faults",
        &node.url,
        section,
        &[regtest_address(&watched)],
        show,
        len,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereum_node_faults() {
    use common::evm::{real_block, synthetic_chain, EthReplay};
    let Some(fx) = fixtures() else { return };
    let real = [real_block(&fx, 17173049), real_block(&fx, 17173050)];
    let chain = synthetic_chain(&real, 0, 240, 0, None);
    let node = EthReplay::start(1, chain[..1].to_vec()).await;
    let section = |url: &str| {
        node.chain_toml("eth-faults", 1, 1, "")
            .replace(&node.url, url)
            .replace("confirmations = 1\n", "confirmations = 3\n")
            .replace("rpc_timeout_secs = 5", "rpc_timeout_secs = 2")
    };
    let show: Show = Box::new(|n| {
        node.set_blocks(chain[..n].to_vec());
        n as u64
    });
    // The first USDT recipient of the first real block.
    let usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7";
    let recipient = real[0].receipts.as_array().unwrap().iter().find_map(|r| {
        r["logs"].as_array().unwrap().iter().find_map(|l| {
            let topics = l["topics"].as_array()?;
            (l["address"].as_str()?.eq_ignore_ascii_case(usdt) && topics.len() == 3)
                .then(|| format!("0x{}", &topics[2].as_str().unwrap()[26..]))
        })
    });
    let addresses = vec![recipient.expect("block 17173049 has USDT transfers")];
    let len = chain.len();
    campaign("eth-faults", &node.url, section, &addresses, show, len).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tron_node_faults() {
    use common::tron::{real_block, synthetic_chain, TronReplay};
    let Some(fx) = fixtures() else { return };
    let real = [real_block(&fx, 60836289), real_block(&fx, 61132092)];
    const BASE: u64 = 1000;
    let chain = synthetic_chain(&real, BASE, 0, 240, 0, None);
    let node = TronReplay::start(chain[..1].to_vec()).await;
    let section = |url: &str| {
        node.chain_toml("tron-faults", BASE, "confirmations = 3")
            .replace(&node.url, url)
            .replace("rpc_timeout_secs = 5", "rpc_timeout_secs = 2")
    };
    let show: Show = Box::new(|n| {
        node.set_blocks(chain[..n].to_vec());
        BASE + n as u64 - 1
    });
    let addresses = vec!["TW3NSuhT68vXKdamU7Rkq6sfEVCFwoDfGb".to_string()];
    let len = chain.len();
    campaign("tron-faults", &node.url, section, &addresses, show, len).await;
}

/// `max_rps` holds catch-up to the limit: no 2-second window holds more
/// than twice the limit and one requests (the bucket has no burst), and
/// the chain is indexed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rps_holds_catch_up_to_the_limit() {
    const RPS: u64 = 30;
    let watched = wallet_script(12);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 80, 0, &watched);
    let node = ReplayNode::start(0, &chain).await;
    let section = node.chain_toml("btc-rps", "regtest", 0, 1).replace(
        "poll_interval_ms = 50\n",
        &format!("poll_interval_ms = 50\nmax_rps = {RPS}\n"),
    );
    assert!(section.contains("max_rps"), "{section}");
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    d.watch("btc-rps", &regtest_address(&watched), "shop").await;
    let mut samples = vec![(Instant::now(), node.calls())];
    let tip = chain.len() as u64 - 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.chain_status("btc-rps").await["indexed_height"].as_u64() != Some(tip) {
        assert!(Instant::now() < deadline, "not indexed under max_rps");
        tokio::time::sleep(Duration::from_millis(100)).await;
        samples.push((Instant::now(), node.calls()));
    }
    let mut busiest = 0;
    for (i, (t0, c0)) in samples.iter().enumerate() {
        for (t1, c1) in &samples[i..] {
            if t1.duration_since(*t0) <= Duration::from_secs(2) {
                busiest = busiest.max(c1 - c0);
            }
        }
    }
    assert!(
        busiest <= 2 * RPS + 1,
        "{busiest} requests within 2 s at max_rps = {RPS}"
    );
    // Catch-up ran at the limit, not far below it.
    assert!(busiest >= RPS, "only {busiest} requests within 2 s");
    eprintln!("{} requests, at most {busiest} within 2 s", node.calls());
    d.stop().await;
}

/// `url`, `rpc_user` and `rpc_password` of `node` as a `[[chain.endpoint]]`.
fn endpoint_toml(node: &ReplayNode, url: &str, priority: i32) -> String {
    let section = node.chain_toml("x", "regtest", 0, 1);
    let creds: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("rpc_user") || l.starts_with("rpc_password"))
        .collect();
    format!(
        "[[chain.endpoint]]\nurl = \"{url}\"\n{}\npriority = {priority}\n",
        creds.join("\n")
    )
}

/// Four endpoints for one chain: A (preferred of the sound ones) is
/// killed mid-sync, B is rate-limited just then and down for two seconds
/// after, C lags 10 blocks and D (the highest priority) serves a stale
/// fork from height 30. Every payment is found once, nothing comes from D
/// — not even while C and D are the only endpoints answering (the bug
/// this pins: a forked endpoint was trusted once it was the only one
/// level with the tip) — C serves nothing above its height, and the feed
/// is the one a single healthy node gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_endpoints_fail_over_and_never_trust_a_lagging_or_forked_one() {
    use common::proxy::{FaultProxy, ProxyFault};
    let watched = wallet_script(13);
    let address = regtest_address(&watched);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 60, 0, &watched);
    let len = chain.len();
    let mut fork = chain.clone();
    grow(&mut fork, 30, len - 30, 7, &watched);
    assert_ne!(fork[40].block_hash(), chain[40].block_hash());

    // The feed of one healthy node.
    let plain = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let one = Daemon::start(&config_text(
        dir.path(),
        &[plain.chain_toml("btc-multi", "regtest", 0, 2)],
    ))
    .await;
    one.watch("btc-multi", &address, "shop").await;
    one.wait_indexed("btc-multi", len as u64 - 1).await;
    let want = event_keys(&one.events().await);
    one.stop().await;

    let a = ReplayNode::start(0, &chain).await;
    let b = ReplayNode::start(0, &chain).await;
    let c = ReplayNode::start(0, &chain[..len - 10]).await;
    let d = ReplayNode::start(0, &fork).await;
    for n in [&a, &b, &c, &d] {
        n.enable_rest();
    }
    let pa = FaultProxy::start(&a.url).await;
    let pb = FaultProxy::start(&b.url).await;
    // The chain without its one-endpoint shorthand, then four endpoints.
    let section = plain
        .chain_toml("btc-multi", "regtest", 0, 2)
        .lines()
        .filter(|l| {
            !["rpc_url", "rpc_user", "rpc_password"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let multi_dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\nmax_lag_blocks = 3\n{}{}{}{}",
        config_text(multi_dir.path(), &[section]),
        // A is slowed to 20 requests a second, so that it dies mid-sync.
        endpoint_toml(&a, &pa.url, 10) + "max_rps = 20\n",
        endpoint_toml(&b, &pb.url, 5),
        endpoint_toml(&c, &c.url, 20),
        endpoint_toml(&d, &d.url, 30),
    );
    let d_multi = Daemon::start(&config).await;
    d_multi.watch("btc-multi", &address, "shop").await;
    // Mid-sync: A dies and B is rate-limited for 2 s at the same moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d_multi.chain_status("btc-multi").await["indexed_height"].as_u64() < Some(20) {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let at_kill = d_multi.chain_status("btc-multi").await["indexed_height"]
        .as_u64()
        .unwrap();
    assert!(
        at_kill < len as u64 - 10,
        "synced before the kill: {at_kill}"
    );
    pa.set(ProxyFault::Refuse);
    pb.set(ProxyFault::RateLimited(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only C (behind, on the agreed chain) and D (on a fork, ahead of C)
    // answer now: C may serve the blocks it has, D nothing.
    pb.set(ProxyFault::Refuse);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = d_multi.chain_status("btc-multi").await;
    assert!(
        during["indexed_height"].as_u64() <= Some(len as u64 - 11),
        "indexed past the lagging endpoint's tip with A and B down: {during}"
    );
    pb.set(ProxyFault::Pass);
    d_multi.wait_indexed("btc-multi", len as u64 - 1).await;
    let got = event_keys(&d_multi.events().await);
    assert_eq!(got, want, "the feed differs from a single healthy node's");
    assert_eq!(
        d.rest_calls(),
        0,
        "blocks were taken from the forked endpoint"
    );

    // Five new blocks on A and B: C, now 15 behind, serves none of them.
    let c_calls = c.rest_calls();
    let mut longer = chain.clone();
    grow(&mut longer, len, 5, 0, &watched);
    a.set_chain(0, &longer);
    b.set_chain(0, &longer);
    d_multi
        .wait_indexed("btc-multi", longer.len() as u64 - 1)
        .await;
    assert_eq!(
        c.rest_calls(),
        c_calls,
        "blocks were taken from the lagging endpoint"
    );
    assert_eq!(
        d.rest_calls(),
        0,
        "blocks were taken from the forked endpoint"
    );
    let s = d_multi.chain_status("btc-multi").await;
    let states: Vec<(String, String)> = s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["priority"].to_string(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("10".to_string(), "failing".to_string()),
            ("5".into(), "healthy".into()),
            ("20".into(), "lagging".into()),
            ("30".into(), "forked".into()),
        ],
        "{s}"
    );
    assert_eq!(s["endpoints"][2]["lag"], 15);
    assert!(!s["endpoints"][0]["endpoint"]
        .as_str()
        .unwrap()
        .contains("pass"));
    let metrics = d_multi.metrics().await;
    assert!(
        metrics.contains("paywatch_endpoint_up{chain=\"btc-multi\""),
        "{metrics}"
    );
    d_multi.stop().await;
}
