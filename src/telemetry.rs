//! Metrics for Prometheus (`GET /metrics`) and readiness for systemd.
//!
//! Names follow `paywatch_<thing>_<unit>`, labels are bounded (chain names,
//! node operations, event types). Gauges that mirror scanner state are set
//! when `/metrics` is read; counters and histograms where things happen.

use crate::status::StatusView;
use crate::store::Store;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub const NODE_TIP: &str = "paywatch_node_tip_height";
pub const INDEXED: &str = "paywatch_indexed_height";
pub const LAG: &str = "paywatch_lag_blocks";
pub const BLOCKS_PER_SECOND: &str = "paywatch_blocks_per_second";
pub const CHAIN_UP: &str = "paywatch_chain_up";
pub const RPC_SECONDS: &str = "paywatch_rpc_duration_seconds";
pub const RPC_ERRORS: &str = "paywatch_rpc_errors_total";
pub const BLOCKS: &str = "paywatch_blocks_committed_total";
pub const TRANSFERS: &str = "paywatch_transfers_matched_total";
pub const EVENTS: &str = "paywatch_events_total";
pub const REORGS: &str = "paywatch_reorgs_total";
pub const REORG_DEPTH: &str = "paywatch_reorg_depth_blocks";
pub const DECODE_SKIPPED: &str = "paywatch_decode_skipped_total";
pub const LAST_SEQ: &str = "paywatch_events_last_seq";
pub const DB_BYTES: &str = "paywatch_rocksdb_size_bytes";
pub const FILTER_BYTES: &str = "paywatch_filter_bytes";
pub const FILTER_ENTRIES: &str = "paywatch_filter_entries";
pub const PLUGIN_CALLS: &str = "paywatch_plugin_calls_total";
pub const PLUGIN_CALL_SECONDS: &str = "paywatch_plugin_call_duration_seconds";
pub const PLUGIN_VERDICTS: &str = "paywatch_plugin_verdicts_total";
pub const DELIVERIES: &str = "paywatch_deliveries_total";
pub const DELIVERY_SECONDS: &str = "paywatch_delivery_duration_seconds";
pub const DELIVERIES_PENDING: &str = "paywatch_deliveries_pending";
pub const OUTBOX_DEPTH: &str = "paywatch_outbox_depth";
pub const DISPATCHED_SEQ: &str = "paywatch_dispatched_seq";
pub const INVOICES: &str = "paywatch_invoices_total";
pub const RATE: &str = "paywatch_rate";
pub const RATE_UPDATED: &str = "paywatch_rate_updated_timestamp_seconds";
pub const RATE_FAILURES: &str = "paywatch_rate_fetch_failures_total";
pub const RISK_FLAGS: &str = "paywatch_risk_flags_total";
pub const SANCTIONS_ADDRESSES: &str = "paywatch_sanctions_addresses";
pub const SANCTIONS_AGE: &str = "paywatch_sanctions_list_age_seconds";
pub const FROZEN_ADDRESSES: &str = "paywatch_frozen_addresses";
pub const ENDPOINT_UP: &str = "paywatch_endpoint_up";
pub const ENDPOINT_LAG: &str = "paywatch_endpoint_lag_blocks";
pub const ENDPOINT_ERRORS: &str = "paywatch_endpoint_errors_total";

/// The node operations timed under `op` (see `scan::timed`).
pub const NODE_OPS: [&str; 5] = ["verify", "tip", "finalized", "hash_at", "fetch"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; `None` when another
/// recorder was installed first (then `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0,
                ])
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(REORG_DEPTH.into()),
                        &[1.0, 2.0, 3.0, 6.0, 10.0, 30.0, 100.0, 1000.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(PLUGIN_CALL_SECONDS.into()),
                        &[
                            0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
                            0.01, 0.05,
                        ],
                    )
                })
                .expect("the bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin calls by plugin and outcome (ok, timeout, memory, trap, error_code, bad_verdict, disabled, …)"
    );
    describe_histogram!(
        PLUGIN_CALL_SECONDS,
        Unit::Seconds,
        "Time one plugin call takes, JSON in and out included"
    );
    describe_counter!(
        PLUGIN_VERDICTS,
        "Plugin verdicts by plugin and action (forward, drop, delay)"
    );
    describe_counter!(
        DELIVERIES,
        "Delivery attempts by sink and outcome (delivered, failed, dead)"
    );
    describe_histogram!(
        DELIVERY_SECONDS,
        Unit::Seconds,
        "Time one delivery attempt takes, by sink"
    );
    describe_gauge!(DELIVERIES_PENDING, "Deliveries waiting to be sent, by sink");
    describe_gauge!(
        OUTBOX_DEPTH,
        "Committed events the plugin pipeline has not handled yet"
    );
    describe_gauge!(
        DISPATCHED_SEQ,
        "Sequence number of the newest event the plugin pipeline has handled"
    );
    describe_gauge!(NODE_TIP, "Height of the node's best block");
    describe_gauge!(INDEXED, "Height of the newest committed block");
    describe_gauge!(
        LAG,
        Unit::Count,
        "Blocks between the node's tip and the newest committed block"
    );
    describe_gauge!(BLOCKS_PER_SECOND, "Blocks committed per second (recent)");
    describe_gauge!(
        CHAIN_UP,
        "1 while the scanner is syncing or following, 0 while the node is unreachable or degraded"
    );
    describe_histogram!(
        RPC_SECONDS,
        Unit::Seconds,
        "Node request latency by operation"
    );
    describe_counter!(RPC_ERRORS, "Node request errors by operation and kind");
    describe_counter!(BLOCKS, "Blocks committed");
    describe_counter!(TRANSFERS, "Transfers matched, by direction");
    describe_counter!(EVENTS, "Events written to the outbox, by type");
    describe_counter!(
        INVOICES,
        "Invoices by what happened to them (created, paid, confirmed, expired, ...), by chain and asset"
    );
    describe_gauge!(
        RATE,
        "A rate source's latest figure, currency per asset unit"
    );
    describe_gauge!(
        RATE_UPDATED,
        Unit::Seconds,
        "Unix time of a rate source's latest figure"
    );
    describe_counter!(RATE_FAILURES, "Failed requests to a rate source");
    describe_counter!(
        RISK_FLAGS,
        "Risk flags set on committed transfers, by chain and flag"
    );
    describe_gauge!(
        SANCTIONS_ADDRESSES,
        "Addresses on the sanctions list in force"
    );
    describe_gauge!(
        SANCTIONS_AGE,
        Unit::Seconds,
        "Age of the sanctions list in force: now less its file's modification time"
    );
    describe_gauge!(
        FROZEN_ADDRESSES,
        "Addresses the listed tokens' issuers have frozen, as followed from their logs, by chain"
    );
    describe_counter!(REORGS, "Reorgs rolled back");
    describe_histogram!(REORG_DEPTH, Unit::Count, "Blocks rolled back per reorg");
    describe_counter!(DECODE_SKIPPED, "Malformed transactions or logs skipped");
    describe_gauge!(LAST_SEQ, "Sequence number of the newest event");
    describe_gauge!(
        DB_BYTES,
        Unit::Bytes,
        "RocksDB size on disk and in memtables"
    );
    describe_gauge!(
        FILTER_BYTES,
        Unit::Bytes,
        "Size of a chain's in-memory bloom filter"
    );
    describe_gauge!(
        FILTER_ENTRIES,
        Unit::Count,
        "Addresses added to a chain's bloom filter"
    );
}

/// Registers a chain's counters at zero so that dashboards see them before
/// the first increment.
pub fn register_chain(chain: &str) {
    let c = chain.to_string();
    metrics::counter!(BLOCKS, "chain" => c.clone()).increment(0);
    metrics::counter!(REORGS, "chain" => c.clone()).increment(0);
    metrics::counter!(DECODE_SKIPPED, "chain" => c.clone()).increment(0);
    for direction in ["in", "out"] {
        metrics::counter!(TRANSFERS, "chain" => c.clone(), "direction" => direction).increment(0);
    }
    for op in NODE_OPS {
        for kind in ["unreachable", "rpc", "invalid"] {
            metrics::counter!(RPC_ERRORS, "chain" => c.clone(), "op" => op, "kind" => kind)
                .increment(0);
        }
    }
    for flag in crate::transfer::RiskFlag::ALL {
        metrics::counter!(RISK_FLAGS, "chain" => c.clone(), "flag" => flag.name()).increment(0);
    }
    for kind in ["payment.detected", "payment.confirmed", "payment.reorged"] {
        metrics::counter!(EVENTS, "chain" => c.clone(), "type" => kind).increment(0);
    }
}

/// Sets the gauges that mirror scanner and store state, then renders.
pub fn render(
    handle: &PrometheusHandle,
    chains: &[(StatusView, usize, usize)],
    store: &Store,
) -> String {
    for (v, filter_bytes, filter_entries) in chains {
        let c = v.chain.clone();
        if let Some(t) = v.node_tip {
            metrics::gauge!(NODE_TIP, "chain" => c.clone()).set(t as f64);
        }
        if let Some(h) = v.indexed_height {
            metrics::gauge!(INDEXED, "chain" => c.clone()).set(h as f64);
        }
        if let Some(l) = v.lag {
            metrics::gauge!(LAG, "chain" => c.clone()).set(l as f64);
        }
        metrics::gauge!(BLOCKS_PER_SECOND, "chain" => c.clone()).set(v.blocks_per_second);
        let up = matches!(
            v.state,
            crate::status::ScanState::Syncing | crate::status::ScanState::Following
        );
        metrics::gauge!(CHAIN_UP, "chain" => c.clone()).set(if up { 1.0 } else { 0.0 });
        for e in &v.endpoints {
            let healthy = e.state == crate::status::EndpointState::Healthy;
            metrics::gauge!(ENDPOINT_UP, "chain" => c.clone(), "endpoint" => e.endpoint.clone())
                .set(if healthy { 1.0 } else { 0.0 });
            if let Some(lag) = e.lag {
                metrics::gauge!(ENDPOINT_LAG, "chain" => c.clone(), "endpoint" => e.endpoint.clone())
                    .set(lag as f64);
            }
            metrics::counter!(ENDPOINT_ERRORS, "chain" => c.clone(), "endpoint" => e.endpoint.clone())
                .absolute(e.errors);
        }
        metrics::gauge!(FILTER_BYTES, "chain" => c.clone()).set(*filter_bytes as f64);
        metrics::gauge!(FILTER_ENTRIES, "chain" => c).set(*filter_entries as f64);
    }
    metrics::gauge!(LAST_SEQ).set(store.last_seq() as f64);
    metrics::gauge!(DB_BYTES).set(store.size_bytes() as f64);
    handle.render()
}

/// Tells systemd (when it started paywatch with `Type=notify`) that the
/// daemon is ready, and keeps its watchdog fed while the daemon runs.
pub fn notify_ready() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        let period = std::time::Duration::from_micros(usec / 2);
        tokio::spawn(async move {
            loop {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                tokio::time::sleep(period).await;
            }
        });
    }
}

/// A one-line status for `systemctl status`.
pub fn notify_status(line: &str) {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(line)]);
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}
