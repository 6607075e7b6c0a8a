//! What the daemon reports of itself: `GET /health`, `GET /v1/status` and
//! `GET /metrics`.

use super::http::{json_response, typed_response};
use super::{ApiError, AppState, Resp};
use hyper::StatusCode;
use serde_json::{json, Value};

pub(super) fn health() -> Resp {
    json_response(StatusCode::OK, &json!({"ok": true}))
}

pub(super) fn metrics(state: &AppState) -> Result<Resp, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "another metrics recorder is installed in this process",
        ));
    };
    let chains: Vec<_> = state
        .chains
        .values()
        .map(|c| {
            (
                c.status.view(),
                c.matcher.filter_bytes(),
                c.matcher.filter_entries(),
            )
        })
        .collect();
    let text = tokio::task::block_in_place(|| {
        risk_gauges(state);
        crate::telemetry::render(handle, &chains, &state.store)
    });
    Ok(typed_response(
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    ))
}

pub(super) fn status(state: &AppState) -> Resp {
    let chains: Vec<Value> = state
        .chains
        .values()
        .map(|c| serde_json::to_value(c.status.view()).expect("a status always serializes"))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "chains": chains,
            "events": {"last_seq": state.store.last_seq()},
            "delivery": delivery_status(state),
            "rates": state.rates.view(),
            "invoice_pools": pool_status(state),
            "risk": {"sanctions": state.sanctions.status()},
        }),
    )
}

/// The sanctions list's size and age, and each chain's frozen addresses.
fn risk_gauges(state: &AppState) {
    use crate::telemetry::{FROZEN_ADDRESSES, SANCTIONS_ADDRESSES, SANCTIONS_AGE};
    if let Some(s) = state.sanctions.status() {
        metrics::gauge!(SANCTIONS_ADDRESSES).set(s.addresses as f64);
        if let Some(m) = s.file_modified_at {
            let age = crate::clock::now_secs().saturating_sub(m);
            metrics::gauge!(SANCTIONS_AGE).set(age as f64);
        }
    }
    for name in state.chains.keys() {
        if let Ok(list) = state.store.frozen(name) {
            metrics::gauge!(FROZEN_ADDRESSES, "chain" => name.clone()).set(list.len() as f64);
        }
    }
}

/// Free and reserved addresses of each chain whose invoices use a pool.
fn pool_status(state: &AppState) -> Value {
    let now = crate::clock::now_secs();
    state
        .invoices
        .iter()
        .filter(|(_, c)| c.is_pool())
        .map(|(name, _)| {
            let counts = state.store.pool_counts(name, now).unwrap_or_default();
            (name.clone(), json!(counts))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Plugins' health, the pipeline's position and per-sink queue sizes.
fn delivery_status(state: &AppState) -> Value {
    let counts = state.store.delivery_counts().unwrap_or_default();
    let sinks: Value = state
        .delivery
        .sinks
        .iter()
        .map(|s| {
            let (pending, dead) = counts.get(s).copied().unwrap_or_default();
            (s.clone(), json!({"pending": pending, "dead": dead}))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let plugins: Vec<Value> = state
        .delivery
        .plugins()
        .into_iter()
        .map(|p| {
            let dead = counts.get(&format!("plugin.{}", p.name)).map_or(0, |c| c.1);
            let mut v = serde_json::to_value(&p).expect("a plugin status always serializes");
            v["dead"] = dead.into();
            v
        })
        .collect();
    json!({
        "dispatched_seq": state.delivery.dispatched_seq(),
        "sinks": sinks,
        "plugins": plugins,
    })
}
