//! Deliveries to sinks and plugins: `GET /v1/deliveries` (by status and
//! sink, paged), `GET /v1/deliveries/{id}` and `POST /v1/deliveries/{id}/retry`
//! for a dead one.

use super::http::{json_response, query_map, ranged, MAX_PAGE};
use super::{ApiError, AppState, Resp};
use crate::store::{parse_delivery_id, DeliveryStatus, Target};
use hyper::StatusCode;
use serde_json::json;

pub(super) fn list(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    let q = query_map(query);
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("status: `{s}` is not pending, delivered or dead"),
            )
        })?),
    };
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let after = q.get("after").map(String::as_str);
    if let Some(a) = after {
        if parse_delivery_id(a).is_none() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("after: `{a}` is not a delivery id"),
            ));
        }
    }
    let sink = q.get("sink").map(String::as_str);
    if let Some(s) = sink {
        if crate::config::check_name(s).is_err() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("sink: `{s}` is not a sink name (1-32 characters of a-z, 0-9, '-' or '_')"),
            ));
        }
    }
    let list = state
        .store
        .deliveries(status, sink, after, limit)
        .map_err(ApiError::internal)?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &json!({"deliveries": list, "next": next}),
    ))
}

pub(super) fn get(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    match state.store.delivery(id).map_err(ApiError::internal)? {
        Some(d) => Ok(json_response(
            StatusCode::OK,
            &serde_json::to_value(&d).expect("a delivery always serializes"),
        )),
        None => Err(ApiError::not_found(format!("no delivery `{id}`"))),
    }
}

pub(super) fn retry(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let Some(d) = state.store.delivery(id).map_err(ApiError::internal)? else {
        return Err(ApiError::not_found(format!("no delivery `{id}`")));
    };
    match d.target() {
        Target::Sink(s) if !state.delivery.sinks.contains(&s) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unknown_sink",
                format!("sink `{s}` is no longer configured; the delivery cannot be retried"),
            ))
        }
        Target::Plugin(p) if !state.delivery.plugins().iter().any(|x| x.name == p) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unknown_plugin",
                format!("plugin `{p}` is no longer configured; the event cannot be retried"),
            ))
        }
        _ => {}
    }
    match state
        .store
        .retry_delivery(id, crate::clock::now_ms())
        .map_err(ApiError::internal)?
    {
        None => Err(ApiError::not_found(format!("no delivery `{id}`"))),
        Some(Err(status)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            format!(
                "delivery `{id}` is {}; only dead deliveries can be retried",
                serde_json::to_value(status)
                    .expect("a status serializes")
                    .as_str()
                    .unwrap_or("")
            ),
        )),
        Some(Ok(d)) => {
            state.delivery.wake();
            Ok(json_response(
                StatusCode::ACCEPTED,
                &serde_json::to_value(&d).expect("a delivery always serializes"),
            ))
        }
    }
}
