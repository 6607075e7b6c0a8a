//! Events per second drained from the outbox into each sink with 20,000
//! deliveries queued (real `payment.detected` events over 2,000 addresses):
//! PostgreSQL, Redis Streams and MQTT (3.1.1 and 5) on servers from
//! Debian's packages started on loopback, next to the webhook sink draining
//! to a local receiver in the same run (the baseline). Each figure covers
//! the store reads, the sink's round trips and the recorded outcome of
//! every delivery.
//!
//! `cargo bench --bench sinks` (`SINK_EVENTS` to change the queue,
//! `SINK_ROUNDS` the rounds per sink; the best and the median are shown).

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/it/common/mod.rs"]
mod common;

use common::servers::{Mosquitto, Postgres, Redis};
use paywatch::config::{
    MqttSink, MqttVersion, PostgresSink, RedisSink, RetryPolicy, Secret, SinkConfig, SinkKind,
};
use paywatch::deliver::{BatchClient, SinkClient};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sink(kind: SinkKind, batch: usize) -> SinkConfig {
    SinkConfig {
        name: "out".into(),
        kind,
        timeout: Duration::from_secs(30),
        retry: RetryPolicy::default(),
        concurrency: 16,
        batch,
    }
}

/// Seconds to drain `n` queued deliveries through `sink`.
async fn drain(sink: &SinkConfig, n: usize) -> f64 {
    let (_dir, store) = bench::queued_deliveries(n, 2000, "out");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let worker = match BatchClient::new(sink, &[]).unwrap() {
        Some(client) => tokio::spawn(paywatch::deliver::run_batched(
            sink.clone(),
            client,
            store.clone(),
            wake,
            stop_rx,
        )),
        None => tokio::spawn(paywatch::deliver::run_sink(
            sink.clone(),
            SinkClient::new(sink).unwrap(),
            store.clone(),
            wake,
            stop_rx,
        )),
    };
    while store.pending_count("out", 1).unwrap() > 0 {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let counts = store.delivery_counts().unwrap();
    let (pending, dead) = counts.get("out").copied().unwrap_or_default();
    assert_eq!((pending, dead), (0, 0), "{counts:?}");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    took
}

/// What a round leaves in a server, cleared before the next: the same
/// events again would be found there and skipped.
enum Written {
    Nothing,
    Postgres(String),
    Redis(String),
}

impl Written {
    async fn clear(&self) {
        match self {
            Written::Nothing => {}
            Written::Postgres(conninfo) => {
                let (db, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                // Missing before the first round: the sink makes the tables.
                let _ = db
                    .batch_execute("TRUNCATE bench.events, bench.transfers, bench.invoices, bench.invoice_history")
                    .await;
            }
            Written::Redis(url) => {
                let client = redis::Client::open(url.as_str()).unwrap();
                let mut c = client.get_multiplexed_async_connection().await.unwrap();
                let _: i64 = redis::cmd("DEL")
                    .arg("paywatch:tron")
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
        }
    }

    /// Checks the server holds the `n` events of the last round.
    async fn check(&self, n: usize) {
        match self {
            Written::Nothing => {}
            Written::Postgres(conninfo) => {
                let (db, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                let rows: i64 = db
                    .query_one("SELECT count(*) FROM bench.events", &[])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(rows, n as i64);
            }
            Written::Redis(url) => {
                let client = redis::Client::open(url.as_str()).unwrap();
                let mut c = client.get_multiplexed_async_connection().await.unwrap();
                let len: i64 = redis::cmd("XLEN")
                    .arg("paywatch:tron")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                assert_eq!(len, n as i64);
            }
        }
    }
}

async fn measure(
    label: &str,
    sink: &SinkConfig,
    written: &Written,
    n: usize,
    rounds: usize,
    baseline: Option<f64>,
) -> f64 {
    // A warm-up: connections, tables.
    written.clear().await;
    drain(sink, 500).await;
    let mut rates: Vec<f64> = Vec::new();
    for _ in 0..rounds {
        written.clear().await;
        rates.push(n as f64 / drain(sink, n).await);
        written.check(n).await;
    }
    rates.sort_by(f64::total_cmp);
    let best = *rates.last().unwrap();
    let median = rates[rates.len() / 2];
    let vs = baseline.map_or(String::new(), |b| {
        format!("  ({:.1}× the webhook)", median / b)
    });
    println!("{label:<34} median {median:>8.0} events/s   best {best:>8.0}{vs}");
    median
}

fn main() {
    if !bench::requested() {
        return;
    }
    let n = env("SINK_EVENTS", 20_000);
    let rounds = env("SINK_ROUNDS", 3).max(1);
    let rt = bench::runtime();
    rt.block_on(async {
        println!("draining {n} queued events, {rounds} rounds each");
        let url = bench::webhook_receiver().await;
        let webhook = sink(
            SinkKind::Webhook {
                url: url.parse().unwrap(),
                secret: Secret::new("whsec_0123456789abcdef".into()),
            },
            1,
        );
        let base = measure(
            "webhook (baseline, concurrency 16)",
            &webhook,
            &Written::Nothing,
            n,
            rounds,
            None,
        )
        .await;

        if Postgres::available() {
            let pg = Postgres::start().await;
            let mut connect: tokio_postgres::Config = pg.url().parse().unwrap();
            connect.password(pg.password.clone());
            let s = sink(
                SinkKind::Postgres(PostgresSink {
                    connect,
                    schema: "bench".into(),
                }),
                500,
            );
            let written = Written::Postgres(pg.conninfo());
            measure("postgres (batch 500)", &s, &written, n, rounds, Some(base)).await;
        }
        if Redis::available() {
            let r = Redis::start().await;
            let s = sink(
                SinkKind::Redis(RedisSink {
                    url: Secret::new(r.url()),
                    stream: "paywatch:{chain}".into(),
                    maxlen: None,
                }),
                500,
            );
            let written = Written::Redis(r.url());
            measure("redis (batch 500)", &s, &written, n, rounds, Some(base)).await;
        }
        if Mosquitto::available() {
            let m = Mosquitto::start().await;
            for (version, label) in [
                (MqttVersion::V311, "mqtt 3.1.1 (batch 500)"),
                (MqttVersion::V5, "mqtt 5 (batch 500)"),
            ] {
                let s = sink(
                    SinkKind::Mqtt(MqttSink {
                        host: "127.0.0.1".into(),
                        port: m.port,
                        tls: false,
                        ca_file: None,
                        version,
                        topic: "paywatch/{chain}/{type}".into(),
                        client_id: "paywatch-bench".into(),
                        username: Some(m.user.clone()),
                        password: Some(Secret::new(m.password.clone())),
                    }),
                    500,
                );
                measure(label, &s, &Written::Nothing, n, rounds, Some(base)).await;
            }
        }
    });
}
