//! Plugin and delivery costs: one event through a filter plugin
//! (`min_amount`) and the forward-all plugin with the instance reused, the
//! cost of recycling an instance, and signed webhook deliveries per second
//! to a local receiver.
//!
//! Baselines in the same run: the same filter decision made natively in the
//! host (JSON parse, compare, verdict JSON), and unsigned POSTs of the same
//! bodies with the same HTTP client settings.

#[path = "common/mod.rs"]
mod bench;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;
use paywatch::config::{PluginLimits, RetryPolicy, Secret, SinkConfig, SinkKind};
use paywatch::deliver::{EventView, SinkClient};
use paywatch::plugin::{MemoryKv, Plugin, PluginEngine, PluginSpec, Verdict};
use paywatch::store::{Delivery, DeliveryStatus};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A USDT-TRC20 payment event as the outbox stores it.
const EVENT: &str = r#"{"id":"tron:6c3f0e2b9d1a4c5e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6:1:in:9a1b2c3d4e5f6071:detected","type":"payment.detected","seq":1042,"chain":"tron","network":"mainnet","direction":"in","address":"TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf","txid":"6c3f0e2b9d1a4c5e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6","index":1,"block":{"height":71234567,"hash":"00000000043ef2a1b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a","time":1763700000},"confirmations":1,"asset":{"symbol":"USDT","decimals":6,"contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},"amount":"125500000","watch":{"label":"order-42","metadata":{"order":42}},"delayed":0}"#;

fn wasm(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("plugins/dist").join(format!("{name}.wasm"));
    if !path.exists() {
        let ok = std::process::Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "scripts/build-plugins.sh failed");
    }
    path
}

fn load(engine: &PluginEngine, name: &str, config: serde_json::Value) -> Plugin {
    engine
        .load(PluginSpec {
            name,
            path: &wasm(name),
            config: &config,
            limits: &PluginLimits::default(),
            kv: Arc::new(MemoryKv::default()),
            sinks: Arc::from(vec!["shop".to_string()]),
            capture_logs: false,
        })
        .unwrap()
}

/// The filter decision made natively: what a plugin call costs on top of.
fn native_filter(event: &[u8]) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(event).unwrap();
    let amount: u128 = v["amount"].as_str().unwrap().parse().unwrap();
    let verdict = if amount < 10_000_000 {
        serde_json::json!({"action": "drop", "reason": "below 10 USDT"})
    } else {
        serde_json::json!({"action": "forward"})
    };
    serde_json::to_vec(&verdict).unwrap()
}

fn plugins(c: &mut Criterion) {
    let engine = PluginEngine::new(None).unwrap();
    let mut filter = load(
        &engine,
        "min_amount",
        serde_json::json!({"min": {"USDT": "10"}}),
    );
    let mut forward = load(&engine, "forward_all", serde_json::json!({}));
    assert!(matches!(
        filter.call(EVENT.as_bytes()),
        Ok(Verdict::Forward { .. })
    ));
    let mut g = c.benchmark_group("plugin_per_event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_native_filter", |b| {
        b.iter(|| native_filter(std::hint::black_box(EVENT.as_bytes())))
    });
    g.bench_function("min_amount_wasm", |b| {
        b.iter(|| filter.call(std::hint::black_box(EVENT.as_bytes())).unwrap())
    });
    g.bench_function("forward_all_wasm", |b| {
        b.iter(|| {
            forward
                .call(std::hint::black_box(EVENT.as_bytes()))
                .unwrap()
        })
    });
    g.bench_function("recycle_instance_min_amount", |b| {
        b.iter(|| filter.recycle().unwrap())
    });
    g.finish();
}

/// A signed webhook sink posting to `url`.
fn webhook_sink(url: &str, concurrency: usize) -> SinkConfig {
    SinkConfig {
        name: "shop".into(),
        kind: SinkKind::Webhook {
            url: url.parse().unwrap(),
            secret: Secret::new("whsec_0123456789abcdef".into()),
        },
        timeout: Duration::from_secs(10),
        retry: RetryPolicy::default(),
        concurrency,
        batch: 1,
    }
}

fn webhook(c: &mut Criterion) {
    const N: usize = 2000;
    const CONCURRENCY: usize = 16;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(bench::webhook_receiver());
    let sink = webhook_sink(&url, CONCURRENCY);
    let client = SinkClient::new(&sink).unwrap();
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let view: EventView = serde_json::from_str(EVENT).unwrap();
    let delivery = Delivery {
        id: "1042.shop".into(),
        seq: 1042,
        event_id: view.id.to_string(),
        sink: Some("shop".into()),
        plugin: None,
        chain: "tron".into(),
        address: view.address.to_string(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        created_ms: 0,
        since_ms: 0,
        next_attempt_ms: 0,
        delivered_ms: None,
        last_error: None,
        delayed: 0,
        payload: None,
    };
    let mut g = c.benchmark_group("webhook_deliveries");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("baseline_unsigned_post", |b| {
        b.iter(|| {
            rt.block_on(async {
                futures_util::stream::iter(0..N)
                    .map(|_| plain.post(&url).body(EVENT).send())
                    .buffer_unordered(CONCURRENCY)
                    .for_each(|r| async move {
                        assert!(r.unwrap().status().is_success());
                    })
                    .await
            })
        })
    });
    g.bench_function("paywatch_signed_webhook", |b| {
        b.iter(|| {
            rt.block_on(async {
                futures_util::stream::iter(0..N)
                    .map(|_| client.send(&delivery, EVENT.as_bytes(), &view))
                    .buffer_unordered(CONCURRENCY)
                    .for_each(|r| async move { r.unwrap() })
                    .await
            })
        })
    });
    g.finish();
}

/// Pending deliveries drained by the sink worker: store reads, signing,
/// POST, and the recorded outcome of each.
fn delivery_end_to_end(c: &mut Criterion) {
    const N: usize = 2000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(bench::webhook_receiver());
    let sink = webhook_sink(&url, 16);
    let mut g = c.benchmark_group("delivery_end_to_end");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (label, addresses) in [("2000_addresses", N), ("one_address", 1)] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (_dir, store) = bench::queued_deliveries(N, addresses, "shop");
                    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                    let started = std::time::Instant::now();
                    rt.block_on(async {
                        let worker = tokio::spawn(paywatch::deliver::run_sink(
                            sink.clone(),
                            SinkClient::new(&sink).unwrap(),
                            store.clone(),
                            Arc::new(tokio::sync::Notify::new()),
                            stop_rx,
                        ));
                        while store
                            .delivery_counts()
                            .unwrap()
                            .get("shop")
                            .map_or(0, |c| c.0)
                            > 0
                        {
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                        total += started.elapsed();
                        let _ = stop_tx.send(true);
                        let _ = worker.await;
                    });
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, plugins, webhook, delivery_end_to_end);
criterion_main!(benches);
