//! The NATS JetStream sink against a real `nats-server -js`: the server is
//! down when the first events are due and comes up later; every event then
//! lands in the stream paywatch created, once, with `Nats-Msg-Id` set to the
//! event id.

mod common;

use async_nats::jetstream;
use common::*;
use futures_util::StreamExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHAIN: &str = "btc";

struct NatsServer {
    child: Child,
    _dir: tempfile::TempDir,
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

async fn start_nats(port: u16) -> NatsServer {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(nats_binary().unwrap())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let server = NatsServer { child, _dir: dir };
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_jetstream_once_after_the_server_comes_up() {
    if nats_binary().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nats-server is missing (scripts/setup-deps.sh installs it)"
        );
        eprintln!("skipped: nats-server is not installed");
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
        "{}\n[[sink]]\nname = \"bus\"\nkind = \"nats\"\nurl = \"nats://127.0.0.1:{port}\"\n\
         subject = \"paywatch.{{chain}}.{{type}}\"\nstream = \"PAYWATCH\"\ntimeout = \"2s\"\n\
         retry_first = \"100ms\"\nretry_max = \"300ms\"\nretry_for = \"1h\"\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
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

    let _server = start_nats(port).await;
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        if let Ok(mut s) = js.get_stream("PAYWATCH").await {
            if s.info().await.unwrap().state.messages >= events.len() as u64 {
                break s;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not fill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        events.len() as u64
    );

    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("check".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(events.len())
        .messages()
        .await
        .unwrap();
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
    let mut want: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
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
