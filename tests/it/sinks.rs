//! The PostgreSQL, Redis Streams and MQTT sinks against real servers from
//! Debian's packages, and the Telegram sink against a local server speaking
//! the Bot API's `sendMessage` as Telegram documents it (there is no local
//! Telegram). Each campaign: blocks arrive every 40 ms while the server is
//! killed and started again, then a reorg replaces the last blocks; every
//! event of the feed must then be in the sink once, in feed order, and the
//! reorg must show.

use crate::common;

use common::servers::{Mosquitto, Postgres, Redis};
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHAIN: &str = "btc";

/// A server the campaign takes down and brings back.
trait Outage {
    async fn down(&mut self);
    async fn up(&mut self);
}

impl Outage for Postgres {
    async fn down(&mut self) {
        self.kill();
    }
    async fn up(&mut self) {
        self.run().await;
    }
}

impl Outage for Redis {
    async fn down(&mut self) {
        self.kill();
    }
    async fn up(&mut self) {
        self.run().await;
    }
}

impl Outage for Mosquitto {
    async fn down(&mut self) {
        self.stop();
    }
    async fn up(&mut self) {
        self.run().await;
    }
}

fn retry_toml() -> &'static str {
    "timeout = \"2s\"\nretry_first = \"100ms\"\nretry_max = \"300ms\"\nretry_for = \"1h\"\n"
}

/// Runs the campaign against `sink` (a `[[sink]]` table named `out`):
/// returns the daemon, the replay node and the feed, once the feed holds a
/// reorg and nothing waits for the sink any more.
async fn campaign<S: Outage>(
    server: &mut S,
    sink: &str,
    seed: u32,
) -> (Daemon, ReplayNode, Vec<Value>) {
    let script = wallet_script(seed);
    let address = regtest_address(&script);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 1, 0, &script);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n{sink}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 0, 2)]),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-7").await;
    for step in 0..80 {
        let len = chain.len();
        grow(&mut chain, len, 1, 0, &script);
        node.set_chain(0, &chain);
        if step == 25 {
            server.down().await;
        }
        if step == 55 {
            server.up().await;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // A reorg: the last 6 blocks give way to 8 others.
    let keep = chain.len() - 6;
    grow(&mut chain, keep, 8, 1, &script);
    node.set_chain(0, &chain);
    d.wait_indexed(CHAIN, chain.len() as u64 - 1).await;
    let events = d
        .events_until("a reorg", |e| {
            e.iter().any(|e| e["type"] == "payment.reorged")
        })
        .await;
    drained(&d).await;
    let (_, dead) = d.get("/v1/deliveries?status=dead").await;
    assert!(
        dead["deliveries"].as_array().unwrap().is_empty(),
        "dead letters: {dead}"
    );
    (d, node, d_events(events))
}

fn d_events(events: Vec<Value>) -> Vec<Value> {
    assert!(events.len() > 30, "only {} events", events.len());
    events
}

/// How many deliveries took more than one attempt: the outage was felt.
async fn retried(d: &Daemon) -> usize {
    let (_, b) = d.get("/v1/deliveries?status=delivered&limit=1000").await;
    b["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["attempts"].as_u64() > Some(1))
        .count()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Each transfer's status as the feed tells it: its last payment event
/// other than `payment.flagged`.
fn transfer_states(events: &[Value]) -> HashMap<(String, i64, String), String> {
    let mut out = HashMap::new();
    for e in events {
        let Some(kind) = e["type"].as_str().and_then(|t| t.strip_prefix("payment.")) else {
            continue;
        };
        if kind == "flagged" {
            continue;
        }
        out.insert(
            (
                e["txid"].as_str().unwrap().to_string(),
                e["index"].as_i64().unwrap(),
                e["direction"].as_str().unwrap().to_string(),
            ),
            kind.to_string(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_holds_the_feed_once_in_order_through_a_crash_and_a_reorg() {
    if !Postgres::available() {
        return;
    }
    let mut pg = Postgres::start().await;
    let sink = format!(
        "[[sink]]\nname = \"out\"\nkind = \"postgres\"\nurl = \"{}\"\npassword_file = \"{}\"\n\
         schema = \"shop_payments\"\nbatch = 50\n{}",
        pg.url(),
        pg.password_file().display(),
        retry_toml()
    );
    let (d, _node, events) = campaign(&mut pg, &sink, 91).await;
    let db = pg.client().await;

    let version: i32 = db
        .query_one("SELECT max(version) FROM shop_payments.schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 1);

    // Every event once, in feed order; a batch is one transaction, so the
    // time each row was stored never goes back along the feed.
    let rows = db
        .query(
            "SELECT id, seq, type, body->>'id' FROM shop_payments.events ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let stored: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert_eq!(stored, ids(&events));
    for r in &rows {
        assert_eq!(r.get::<_, String>(0), r.get::<_, String>(3));
    }
    let back: i64 = db
        .query_one(
            "SELECT count(*) FROM shop_payments.events a JOIN shop_payments.events b
             ON a.seq < b.seq AND a.stored_at > b.stored_at",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(back, 0, "a later event was stored before an earlier one");

    // One row per transfer, in the state the feed leaves it in; the reorged
    // ones are kept and marked.
    let want = transfer_states(&events);
    let rows = db
        .query(
            "SELECT txid, index, direction, status, amount::text, address FROM shop_payments.transfers",
            &[],
        )
        .await
        .unwrap();
    let got: HashMap<(String, i64, String), String> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get::<_, String>(3)))
        .collect();
    assert_eq!(got, want);
    assert!(got.values().any(|s| s == "reorged"), "{got:?}");
    assert!(got.values().any(|s| s == "confirmed"), "{got:?}");
    // Amounts are the feed's, in base units.
    for e in events.iter().filter(|e| e["type"] == "payment.detected") {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == e["txid"].as_str().unwrap())
            .unwrap();
        assert_eq!(row.get::<_, String>(4), e["amount"].as_str().unwrap());
    }
    let n = retried(&d).await;
    assert!(n >= 1, "no delivery was retried: the outage was not felt");
    eprintln!(
        "{} events, {} transfers, {n} deliveries retried",
        events.len(),
        got.len()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_hold_the_feed_once_in_order_through_a_crash_and_a_reorg() {
    if !Redis::available() {
        return;
    }
    let mut redis = Redis::start().await;
    let sink = format!(
        "[[sink]]\nname = \"out\"\nkind = \"redis\"\nurl = \"{}\"\nstream = \"pay:{{chain}}\"\n\
         batch = 50\n{}",
        redis.url(),
        retry_toml()
    );
    let (d, _node, events) = campaign(&mut redis, &sink, 92).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("pay:btc")
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    // Every event once, in feed order, each under the id its place in the
    // feed gives it.
    let mut seen = Vec::new();
    for (entry, fields) in &entries {
        let fields: HashMap<&str, &str> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body: Value = serde_json::from_str(fields["event"]).unwrap();
        assert_eq!(fields["id"], body["id"].as_str().unwrap());
        assert_eq!(fields["type"], body["type"].as_str().unwrap());
        assert_eq!(*entry, format!("{}-0", body["seq"]));
        seen.push(fields["id"].to_string());
    }
    assert_eq!(seen, ids(&events));
    assert!(entries
        .iter()
        .any(|(_, f)| f.iter().any(|(k, v)| k == "type" && v == "payment.reorged")));

    // Sending an entry again adds nothing: the script finds its id.
    let again: i64 = redis::Script::new("return #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])")
        .key("pay:btc")
        .arg(&entries[0].0)
        .invoke_async(&mut c)
        .await
        .unwrap();
    assert_eq!(again, 1);
    let n = retried(&d).await;
    assert!(n >= 1, "no delivery was retried: the outage was not felt");
    eprintln!("{} entries, {n} deliveries retried", entries.len());
    d.stop().await;
}

/// Waits (60 s at most) until no delivery is pending.
async fn drained(d: &Daemon) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, b) = d.get("/v1/deliveries?status=pending&limit=10").await;
        if b["deliveries"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries still pending: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The invoice row and its history, as the shop would read them.
async fn invoice_rows(db: &tokio_postgres::Client, order: &str) -> (String, String, Vec<String>) {
    let row = db
        .query_one(
            "SELECT id, status, paid::text FROM paywatch.invoices WHERE order_id = $1",
            &[&order],
        )
        .await
        .unwrap();
    let id: String = row.get(0);
    let history = db
        .query(
            "SELECT type FROM paywatch.invoice_history WHERE invoice_id = $1 ORDER BY seq",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    (row.get(1), row.get(2), history)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_whether_order_42_is_paid_through_a_reorg() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start().await;
    let mut chain = Vec::new();
    extend(&mut chain, 1, 3, 0);
    let node = ReplayNode::start(1, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\n\n[[sink]]\nname = \"db\"\nkind = \"postgres\"\n\
         url = \"{}\"\npassword_file = \"{}\"\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 2)]),
        bip84_vpub(),
        pg.url(),
        pg.password_file().display(),
        retry_toml()
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 3).await;
    let (code, invoice) = d
        .post_json(
            "/v1/invoices",
            &serde_json::json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "42"}),
        )
        .await;
    assert_eq!(code, 201, "{invoice}");
    let id = invoice["id"].as_str().unwrap().to_string();
    let script = invoice["address"]
        .as_str()
        .unwrap()
        .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();

    // Paid in block 4, confirmed by block 5.
    let prev = chain.last().unwrap().block_hash();
    chain.push(block(
        prev,
        1_700_002_400,
        vec![coinbase(4, 0, script, 100_000)],
    ));
    extend(&mut chain, 1, 1, 0);
    node.set_chain(1, &chain);
    d.invoice_until(&id, "confirmed").await;
    drained(&d).await;
    let db = pg.client().await;
    let (status, paid, history) = invoice_rows(&db, "42").await;
    assert_eq!((status.as_str(), paid.as_str()), ("confirmed", "0.001"));
    assert_eq!(history, invoice_event_types(&d.events().await, &id));
    assert!(
        history.contains(&"invoice.confirmed".to_string()),
        "{history:?}"
    );

    // A reorg takes the payment away: the row says so as the feed does.
    chain.truncate(3);
    extend(&mut chain, 1, 3, 7);
    node.set_chain(1, &chain);
    d.wait_indexed(CHAIN, 6).await;
    d.events_until("invoice.reorged", |e| {
        e.iter().any(|e| e["type"] == "invoice.reorged")
    })
    .await;
    drained(&d).await;
    let events = d.events().await;
    let last = events
        .iter()
        .rev()
        .find(|e| e["invoice"]["id"] == id.as_str())
        .unwrap();
    let (status, _, history) = invoice_rows(&db, "42").await;
    assert_eq!(status, last["invoice"]["status"].as_str().unwrap());
    assert_ne!(status, "confirmed");
    assert_eq!(history, invoice_event_types(&events, &id));
    let transfer: String = db
        .query_one(
            "SELECT status FROM paywatch.transfers WHERE chain = 'btc'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(transfer, "reorged");
    d.stop().await;
}

/// What a subscriber with a persistent session received: (event id from
/// the body, the `paywatch-event-id` user property, topic).
async fn subscribe(
    m: &Mosquitto,
) -> (
    Arc<Mutex<Vec<(String, Option<String>, String)>>>,
    tokio::task::JoinHandle<()>,
) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut o = MqttOptions::new("checker", "127.0.0.1", m.port);
    o.set_credentials(&m.user, &m.password)
        .set_clean_start(false)
        .set_session_expiry_interval(Some(3600))
        .set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(o, 100);
    client
        .subscribe("paywatch/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    let task = tokio::spawn(async move {
        let _client = client;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body: Value = serde_json::from_slice(&p.payload).unwrap();
                    let property = p.properties.as_ref().and_then(|props| {
                        props
                            .user_properties
                            .iter()
                            .find(|(k, _)| k == "paywatch-event-id")
                            .map(|(_, v)| v.clone())
                    });
                    keep.lock().unwrap().push((
                        body["id"].as_str().unwrap().to_string(),
                        property,
                        String::from_utf8_lossy(&p.topic).into_owned(),
                    ));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    // Subscribed before anything is published.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (got, task)
}

async fn mqtt_campaign(protocol: &str, seed: u32) {
    if !Mosquitto::available() {
        return;
    }
    let mut m = Mosquitto::start().await;
    let (got, task) = subscribe(&m).await;
    let sink = format!(
        "[[sink]]\nname = \"out\"\nkind = \"mqtt\"\nurl = \"mqtt://127.0.0.1:{}\"\nprotocol = \"{protocol}\"\n\
         username = \"{}\"\npassword_file = \"{}\"\ntopic = \"paywatch/{{chain}}/{{type}}\"\nbatch = 50\n{}",
        m.port,
        m.user,
        m.password_file().display(),
        retry_toml()
    );
    let (d, _node, events) = campaign(&mut m, &sink, seed).await;
    let want = ids(&events);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let have: HashSet<String> = got.lock().unwrap().iter().map(|g| g.0.clone()).collect();
        if want.iter().all(|w| have.contains(w)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} events reached the subscriber",
            have.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    let got = got.lock().unwrap().clone();
    // In feed order (first arrivals), each on its topic; with MQTT 5 the
    // event id is a user property too.
    let mut first = Vec::new();
    let mut seen = HashSet::new();
    for (id, property, topic) in &got {
        let e = events.iter().find(|e| e["id"] == id.as_str()).unwrap();
        assert_eq!(
            *topic,
            format!("paywatch/btc/{}", e["type"].as_str().unwrap())
        );
        if protocol == "5" {
            assert_eq!(property.as_deref(), Some(id.as_str()));
        } else {
            assert_eq!(*property, None);
        }
        if seen.insert(id.clone()) {
            first.push(id.clone());
        }
    }
    assert_eq!(first, want);
    // QoS 1 is at-least-once: a message sent again is one whose
    // acknowledgement the outage cut off, so a retried delivery.
    let n = retried(&d).await;
    assert!(n >= 1, "no delivery was retried: the outage was not felt");
    let twice = got.len() - first.len();
    assert!(
        twice <= n,
        "{twice} messages came twice, {n} deliveries retried"
    );
    eprintln!(
        "{} events, {twice} came twice, {n} deliveries retried",
        want.len()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_3_1_1_delivers_the_feed_in_order_through_a_broker_restart_and_a_reorg() {
    mqtt_campaign("3.1.1", 93).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_5_delivers_the_feed_in_order_with_event_ids_as_user_properties() {
    mqtt_campaign("5", 94).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_tls_trusts_the_configured_ca_and_nothing_else() {
    if !Mosquitto::available() {
        return;
    }
    let m = Mosquitto::start_with_tls().await;
    let (tls_port, ca) = m.tls.clone().unwrap();
    let (got, task) = subscribe(&m).await;
    let script = wallet_script(96);
    let address = regtest_address(&script);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 12, 0, &script);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = |name: &str, ca_line: &str| {
        format!(
            "[[sink]]\nname = \"{name}\"\nkind = \"mqtt\"\nurl = \"mqtts://localhost:{tls_port}\"\n\
             protocol = \"5\"\nusername = \"{}\"\npassword_file = \"{}\"\n\
             topic = \"paywatch/{name}/{{type}}\"\n{ca_line}{}",
            m.user,
            m.password_file().display(),
            retry_toml()
        )
    };
    let config = format!(
        "{}\n{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 0, 2)]),
        sink("trusted", &format!("ca_file = \"{}\"\n", ca.display())),
        sink("untrusted", ""),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-3").await;
    d.wait_indexed(CHAIN, chain.len() as u64 - 1).await;
    let events = d.events().await;
    assert!(events.len() >= 3, "{events:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while of_sink(&d, "delivered", "trusted").await.len() < events.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered over TLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    task.abort();
    let got = got.lock().unwrap().clone();
    let trusted: Vec<&String> = got
        .iter()
        .filter(|g| g.2.starts_with("paywatch/trusted/"))
        .map(|g| &g.0)
        .collect();
    assert_eq!(trusted, ids(&events).iter().collect::<Vec<_>>());
    // The broker's certificate is signed by a CA the system does not
    // trust: without ca_file nothing goes, and the error says why.
    assert!(got.iter().all(|g| !g.2.starts_with("paywatch/untrusted/")));
    let waiting = of_sink(&d, "pending", "untrusted").await;
    assert_eq!(waiting.len(), events.len());
    let error = waiting[0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("certificate") || error.contains("issuer"),
        "{waiting:?}"
    );
    d.stop().await;
}

/// A local Bot API: `sendMessage` answers as Telegram documents it. Chat
/// `3` does not exist (400, chat not found). The first message asks to
/// wait a second (429 with `retry_after`); the third is refused as
/// malformed (400).
async fn bot_api(
    token: &'static str,
) -> (
    String,
    Arc<Mutex<Vec<(Value, std::time::Instant)>>>,
    tokio::sync::watch::Sender<bool>,
) {
    use http_body_util::{BodyExt, Full};
    let got: Arc<Mutex<Vec<(Value, std::time::Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(0u32));
    let keep = got.clone();
    let (url, stop) = serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (keep, calls) = (keep.clone(), calls.clone());
            async move {
                let path = req.uri().path().to_string();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let answer = |status: u16, v: Value| {
                    hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(bytes::Bytes::from(v.to_string())))
                        .unwrap()
                };
                if path != format!("/bot{token}/sendMessage") {
                    return answer(404, serde_json::json!({"ok": false, "error_code": 404, "description": "Not Found"}));
                }
                let msg: Value = serde_json::from_slice(&body).unwrap();
                if msg["chat_id"] == "3" {
                    return answer(400, serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}));
                }
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                keep.lock().unwrap().push((msg.clone(), std::time::Instant::now()));
                match n {
                    1 => answer(429, serde_json::json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
                    3 => answer(400, serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: can't parse entities"})),
                    _ => answer(200, serde_json::json!({"ok": true, "result": {"message_id": n, "chat": {"id": 1}, "date": 0, "text": msg["text"]}})),
                }
            }
        },
    )
    .await;
    (url, got, stop)
}

/// The deliveries to `sink` with `status`, through `?sink=`.
async fn of_sink(d: &Daemon, status: &str, sink: &str) -> Vec<Value> {
    let (code, b) = d
        .get(&format!(
            "/v1/deliveries?status={status}&sink={sink}&limit=1000"
        ))
        .await;
    assert_eq!(code, 200, "{b}");
    let list = b["deliveries"].as_array().unwrap().clone();
    assert!(list.iter().all(|x| x["sink"] == sink), "{list:?}");
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_messages_wait_as_told_skip_a_refused_one_and_wait_for_a_missing_chat() {
    const TOKEN: &str = "123456:test-token_for-paywatch";
    let (api, got, _stop) = bot_api(TOKEN).await;
    let script = wallet_script(95);
    let address = regtest_address(&script);
    let mut chain = Vec::new();
    grow(&mut chain, 0, 16, 0, &script);
    let node = ReplayNode::start(0, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tg.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let sink = |name: &str, chat: &str, language: &str| {
        format!(
            "[[sink]]\nname = \"{name}\"\nkind = \"telegram\"\ntoken_file = \"{}\"\nchat_id = {chat}\n\
             language = \"{language}\"\napi_url = \"{api}\"\nper_minute = 600\n{}",
            token_file.display(),
            retry_toml()
        )
    };
    let config = format!(
        "{}\n{}\n{}",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 0, 2)]),
        sink("tg", "1", "en"),
        sink("lost", "3", "zh"),
    );
    let d = Daemon::start(&config).await;
    d.watch(CHAIN, &address, "order-9").await;
    d.wait_indexed(CHAIN, chain.len() as u64 - 1).await;
    let events = d.events().await;
    assert!(events.len() >= 4, "{events:?}");

    // All but the refused one delivered; the refused one is dead at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (delivered, dead) = loop {
        let ok = of_sink(&d, "delivered", "tg").await;
        let dead = of_sink(&d, "dead", "tg").await;
        if ok.len() + dead.len() == events.len() {
            break (ok, dead);
        }
        assert!(tokio::time::Instant::now() < deadline, "{ok:?} {dead:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered.len(), events.len() - 1);
    assert_eq!(dead.len(), 1);
    assert!(dead[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("can't parse entities"));
    assert_eq!(dead[0]["attempts"], 1);

    let got = got.lock().unwrap().clone();
    // The 429's retry_after was honoured.
    assert!(got[1].1.duration_since(got[0].1) >= Duration::from_millis(950));
    // Messages go out in feed order: the first twice (429, then again).
    let texts: Vec<&str> = got
        .iter()
        .map(|(m, _)| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts[0], texts[1]);
    assert_eq!(texts.len(), events.len() + 1);
    let first = &events[0];
    assert_eq!(first["type"], "payment.detected");
    let whole = paywatch::amount::Amount::parse_base(first["amount"].as_str().unwrap())
        .unwrap()
        .to_whole(8);
    assert!(
        texts[0].starts_with("<b>Payment received</b>"),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].contains(&format!("Amount: {whole} BTC (btc)")),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].contains(&address) && texts[0].contains("(order-9)"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("Confirmations: 1"), "{}", texts[0]);
    assert_eq!(got[0].0["parse_mode"], "HTML");
    assert_eq!(got[0].0["chat_id"], "1");
    // Spaced to per_minute = 600: 100 ms at least between messages.
    for w in got[2..].windows(2) {
        assert!(w[1].1.duration_since(w[0].1) >= Duration::from_millis(95));
    }

    // The missing chat is the setup's fault, not the messages': they wait.
    let lost = of_sink(&d, "pending", "lost").await;
    assert_eq!(lost.len(), events.len());
    assert!(
        lost[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("chat not found"),
        "{lost:?}"
    );
    assert!(of_sink(&d, "dead", "lost").await.is_empty());
    d.stop().await;
}
