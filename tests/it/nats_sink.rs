//! The NATS JetStream sink against a real `nats-server -js`: the server is
//! down when the first events are due and comes up later, or is killed and
//! restarted while events are being delivered; every event then lands in
//! the stream paywatch created, once, with `Nats-Msg-Id` set to the event id.

use crate::common;

use async_nats::jetstream;
use common::process::free_port;
use common::*;
use futures_util::StreamExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHAIN: &str = "btc";

/// A running `nats-server`; killed (SIGKILL) when dropped.
struct NatsServer {
    child: Child,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_binary() -> Option<std::path::PathBuf> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

/// Starts `nats-server` with JetStream on `port`, keeping its streams in
/// `store` (a restart on the same folder finds them again).
async fn start_nats(port: u16, store: &std::path::Path) -> NatsServer {
    let child = Command::new(nats_binary().unwrap())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let server = NatsServer { child };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nats-server did not listen on {port}");
}

/// False, with a note, when `nats-server` is not installed (outside CI).
fn have_nats() -> bool {
    if nats_binary().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "nats-server is missing (scripts/setup-deps.sh installs it)"
    );
    eprintln!("skipped: nats-server is not installed");
    false
}

fn ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits (30 s at most) until `name` holds `n` messages, and returns the
/// stream.
async fn filled(js: &jetstream::Context, name: &str, n: usize) -> jetstream::stream::Stream {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    loop {
        if let Ok(mut s) = js.get_stream(name).await {
            last = s.info().await.unwrap().state.messages;
            if last >= n as u64 {
                return s;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream holds {last} of {n} messages"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The event ids of the stream's first `n` messages, each checked against
/// its `Nats-Msg-Id` and subject.
async fn stream_ids(stream: &mut jetstream::stream::Stream, n: usize) -> Vec<String> {
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("check".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(n).messages().await.unwrap();
    let mut seen = Vec::new();
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let msg_id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        assert_eq!(msg_id.as_deref(), body["id"].as_str());
        assert_eq!(
            m.subject.as_str(),
            format!("paywatch.btc.{}", body["type"].as_str().unwrap())
        );
        seen.push(body["id"].as_str().unwrap().to_string());
    }
    seen
}

fn sink_toml(port: u16) -> String {
    format!(
        "[[sink]]\nname = \"bus\"\nkind = \"nats\"\nurl = \"nats://127.0.0.1:{port}\"\n\
         subject = \"paywatch.{{chain}}.{{type}}\"\nstream = \"PAYWATCH\"\ntimeout = \"2s\"\n\
         retry_first = \"100ms\"\nretry_max = \"300ms\"\nretry_for = \"1h\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_jetstream_once_after_the_server_comes_up() {
    if !have_nats() {
        return;
    }
    let script = wallet_script(81);
    let address = regtest_address(&script);
    let mut full = Vec::new();
    extend(&mut full, 1, 5, 0);
    for v in [10_000_000u64, 20_000_000] {
        let height = 1 + full.len() as u64;
        let prev = full.last().unwrap().block_hash();
        full.push(block(
            prev,
            1_700_000_000 + height as u32 * 600,
            vec![coinbase(height, 8, script.clone(), v)],
        ));
    }
    extend(&mut full, 1, 2, 0);
    let node = ReplayNode::start(1, &full[..2]).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        sink_toml(port)
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-1").await;
    node.set_chain(1, &full);
    d.wait_indexed(CHAIN, full.len() as u64).await;
    let events = d.events_until("four events", |e| e.len() >= 4).await;

    // The server is down: attempts fail and stay pending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, b) = d.get("/v1/deliveries?status=pending").await;
        let list = b["deliveries"].as_array().unwrap();
        if list.iter().any(|x| x["attempts"].as_u64() >= Some(1)) {
            assert!(
                list[0]["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("cannot connect"),
                "{list:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt: {b}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let store = tempfile::tempdir().unwrap();
    let _server = start_nats(port, store.path()).await;
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let mut stream = filled(&js, "PAYWATCH", events.len()).await;
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        events.len() as u64
    );

    let mut seen = stream_ids(&mut stream, events.len()).await;
    let mut want = ids(&events);
    want.sort();
    seen.sort();
    assert_eq!(seen, want);

    // The stream paywatch created drops a message sent again with the same
    // id, which is what makes a redelivery after a crash harmless.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", want[0].as_str());
    let ack = js
        .publish_with_headers("paywatch.btc.payment.detected", headers, "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(ack.duplicate);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_and_restarted_during_delivery_loses_and_doubles_nothing() {
    if !have_nats() {
        return;
    }
    let script = wallet_script(82);
    let address = regtest_address(&script);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 1, 0, &script);
    let node = ReplayNode::start(0, &chain).await;
    let port = free_port();
    let store = tempfile::tempdir().unwrap();
    let mut server = Some(start_nats(port, store.path()).await);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 0, 2)]),
        sink_toml(port)
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-2").await;
    // A block every 50 ms; the server is killed (SIGKILL) at the 20th and
    // restarted on the same store at the 90th, while deliveries go on. The
    // outage (3.5 s at least) outlasts the sink's 2 s wait for an answer,
    // so the publish in flight at the kill surely fails and is tried again.
    let mut down_at = None;
    for step in 0..100 {
        let len = chain.len();
        grow(&mut chain, len, 1, 0, &script);
        node.set_chain(0, &chain);
        if step == 20 {
            down_at = Some(d.events().await.len());
            drop(server.take());
        }
        if step == 90 {
            server = Some(start_nats(port, store.path()).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.wait_indexed(CHAIN, chain.len() as u64 - 1).await;
    let events = d.events().await;
    let down_at = down_at.unwrap();
    assert!(
        down_at > 4 && events.len() > down_at + 4,
        "{down_at} events before the kill, {} in all",
        events.len()
    );
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let mut stream = filled(&js, "PAYWATCH", events.len()).await;
    // Nothing twice: a publish acknowledged just before the kill and sent
    // again after the restart is dropped by its `Nats-Msg-Id`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        events.len() as u64
    );
    let mut seen = stream_ids(&mut stream, events.len()).await;
    let mut want = ids(&events);
    want.sort();
    seen.sort();
    assert_eq!(seen, want);
    // The outage was felt: deliveries were tried more than once.
    let (_, b) = d.get("/v1/deliveries?status=delivered&limit=1000").await;
    let retried = b["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["attempts"].as_u64() > Some(1))
        .count();
    assert!(retried >= 1, "no delivery was retried");
    eprintln!(
        "{} events ({down_at} before the kill), {retried} deliveries retried",
        events.len()
    );
    drop(server);
    d.stop().await;
}
