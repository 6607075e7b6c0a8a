//! Shared by the benchmarks: the fixtures folder and a watched set of a
//! given size in a real store.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use paywatch::store::{Delivery, DeliveryStatus, Store};
use paywatch::transfer::WatchRecord;
use paywatch::watch::Matcher;
use std::path::PathBuf;
use std::sync::Arc;

/// The real-data folder, or `None` (with a note) when it is missing outside CI.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("PAYWATCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("btc").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixtures folder {} is missing", dir.display());
    }
    eprintln!("skipped: fixtures folder {} is missing", dir.display());
    None
}

/// A store and matcher for chain `chain` watching `keys` plus random keys
/// from `random(i)` up to `n` in all.
pub fn watched(
    chain: &str,
    n: usize,
    keys: Vec<Vec<u8>>,
    random: impl Fn(u64) -> Vec<u8>,
) -> (tempfile::TempDir, Arc<Matcher>) {
    let (dir, _, matcher) = watched_store(chain, n, keys, random);
    (dir, matcher)
}

/// [`watched`], with the store.
pub fn watched_store(
    chain: &str,
    n: usize,
    mut keys: Vec<Vec<u8>>,
    random: impl Fn(u64) -> Vec<u8>,
) -> (tempfile::TempDir, Arc<Store>, Arc<Matcher>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let rec = WatchRecord {
        chain: chain.into(),
        address: String::new(),
        label: None,
        metadata: serde_json::json!({}),
        created_at: 0,
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while keys.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        keys.push(random(x));
    }
    for chunk in keys.chunks(50_000) {
        let items: Vec<(Vec<u8>, WatchRecord)> =
            chunk.iter().map(|k| (k.clone(), rec.clone())).collect();
        store.insert_watches(chain, &items).unwrap();
    }
    let matcher = Arc::new(Matcher::load(chain, store.clone()).unwrap());
    (dir, store, matcher)
}

/// Ethereum's ETH and USDT, as the EVM decoder takes them.
pub fn evm_usdt_assets() -> paywatch::chain::evm::EvmAssets {
    let usdt = paywatch::address::evm::parse_address("0xdAC17F958D2ee523a2206206994597C13D831ec7")
        .unwrap();
    paywatch::chain::evm::EvmAssets {
        native: paywatch::transfer::Asset {
            symbol: "ETH".into(),
            decimals: 18,
            contract: None,
        },
        tokens: vec![paywatch::config::Token {
            symbol: "USDT".into(),
            contract: usdt.key,
            display: usdt.display,
            decimals: 6,
        }],
    }
}

/// TRON's USDT, as the TRON decoder takes it.
pub fn tron_usdt_tokens() -> Vec<paywatch::config::Token> {
    let usdt =
        paywatch::address::tron::parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
    vec![paywatch::config::Token {
        symbol: "USDT".into(),
        contract: usdt.key,
        display: usdt.display,
        decimals: 6,
    }]
}

/// 20 pseudo-random bytes from a seed.
pub fn bytes20(seed: u64) -> [u8; 20] {
    let mut h = [0u8; 20];
    let mut x = seed | 1;
    for chunk in h.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    h
}

/// Whether `cargo bench` runs this (it passes `--bench`); under
/// `cargo test --benches` the latency benches only build.
pub fn requested() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The runtime the daemon-driving benches use: two workers, as the daemon
/// has on the machines these figures come from.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Prints percentiles of a set of latencies, one line.
pub fn latency_summary(name: &str, mut v: Vec<std::time::Duration>) {
    v.sort();
    let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<40} n={:<4} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        v.len(),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(*v.last().unwrap())
    );
}

/// A receiver answering 204 to every POST, on a free port.
pub async fn webhook_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(stream),
                        service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                            let _ = req.into_body().collect().await;
                            let mut r = hyper::Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, std::convert::Infallible>(r)
                        }),
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}/hook")
}

/// A store holding `n` events over `addresses` addresses, each with a
/// pending delivery to `sink`.
pub fn queued_deliveries(
    n: usize,
    addresses: usize,
    sink: &str,
) -> (tempfile::TempDir, Arc<paywatch::store::Store>) {
    use paywatch::store::{BlockCommit, DispatchBatch, Store};
    use paywatch::transfer::*;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let transfers: Vec<Transfer> = (0..n)
        .map(|i| Transfer {
            chain: "tron".into(),
            txid: Hash32::new([(i % 251) as u8; 32]),
            index: i as u32,
            direction: Direction::In,
            address: format!("T{:033}", i % addresses),
            address_key: {
                let mut k = [0x41; 21];
                k[13..].copy_from_slice(&((i % addresses) as u64).to_be_bytes());
                paywatch::address::AddressKey::Tron(k)
            },
            counterparty: Some("TKHuVq1oKVruCGLvqVexFs6dawKv6fQgFs".into()),
            asset: Asset {
                symbol: "USDT".into(),
                decimals: 6,
                contract: Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".into()),
            },
            amount: 125_500_000u64.into(),
            block: BlockRef {
                height: 1,
                hash: Hash32::new([1; 32]),
                time: 1_763_700_000,
            },
            status: TransferStatus::Detected,
            watch: WatchRef {
                label: Some("order".into()),
                metadata: serde_json::json!({}),
            },
            risk: Risk::default(),
        })
        .collect();
    let rows = store
        .stage_block(BlockCommit {
            chain: "tron",
            height: 1,
            hash: Hash32::new([1; 32]),
            transfers,
            confirm_upto: None,
            keep_headers: 10,
            history: Vec::new(),
            freezes: &[],
        })
        .unwrap();
    let events = paywatch::scan::block_events("mainnet", 1, &rows.changes, false);
    let (_, events) = store.write_rows(rows, events).unwrap();
    let deliveries = events
        .iter()
        .map(|e| Delivery {
            id: format!("{}.{sink}", e.seq),
            seq: e.seq,
            event_id: e.id.clone(),
            sink: Some(sink.into()),
            plugin: None,
            chain: e.chain.clone(),
            address: e.address.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            created_ms: 0,
            since_ms: 0,
            next_attempt_ms: 0,
            delivered_ms: None,
            last_error: None,
            delayed: 0,
            payload: None,
        })
        .collect();
    store
        .commit_dispatch(DispatchBatch {
            deliveries,
            ..Default::default()
        })
        .unwrap();
    (dir, store)
}
