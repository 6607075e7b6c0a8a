//! What was found: `GET /v1/transfers` by address or txid, and the event
//! feed `GET /v1/events`, long-polled with `wait`.

use super::http::{json_response, number, query_map, ranged, typed_response, MAX_PAGE};
use super::{chain, ApiError, AppState, Resp};
use crate::event::confirmations;
use crate::transfer::Hash32;
use hyper::StatusCode;
use serde_json::json;
use std::time::Duration;

const MAX_WAIT_SECS: u64 = 60;

pub(super) fn transfers(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    let q = query_map(query);
    let Some(chain_name) = q.get("chain") else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "`chain` is required",
        ));
    };
    let c = chain(state, chain_name)?;
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let tip = c.status.indexed_height().unwrap_or(0);
    let after = match q.get("cursor") {
        Some(cur) => Some(hex::decode(cur).map_err(|_| {
            ApiError::bad_request("invalid_cursor", "`cursor` is not one this API returned")
        })?),
        None => None,
    };
    let (list, next) = match (q.get("address"), q.get("txid"), q.get("counterparty")) {
        (Some(a), None, None) => {
            let addr = c
                .format
                .parse(a)
                .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
            let page = state.store.transfers_by_address(
                chain_name,
                addr.key.as_bytes(),
                after.as_deref(),
                limit,
            )?;
            (page.transfers, page.next)
        }
        (None, None, Some(a)) => {
            let addr = c.format.parse(a).map_err(|e| {
                ApiError::bad_request("invalid_address", format!("counterparty: {}", e.0))
            })?;
            let page = state.store.transfers_by_counterparty(
                chain_name,
                &addr.display,
                after.as_deref(),
                limit,
            )?;
            (page.transfers, page.next)
        }
        (None, Some(t), None) => {
            let txid = Hash32::from_hex(t).map_err(|_| {
                ApiError::bad_request("invalid_txid", format!("`{t}` is not a 32-byte hex txid"))
            })?;
            (state.store.transfers_by_txid(chain_name, &txid)?, None)
        }
        _ => {
            return Err(ApiError::bad_request(
                "missing_parameter",
                "give exactly one of `address`, `counterparty` or `txid`",
            ))
        }
    };
    // Written straight to bytes: this is the API's busiest read.
    #[derive(serde::Serialize)]
    struct View<'a> {
        #[serde(flatten)]
        t: &'a crate::transfer::Transfer,
        confirmations: u64,
        height: u64,
        block_hash: Hash32,
    }
    #[derive(serde::Serialize)]
    struct Page<'a> {
        transfers: Vec<View<'a>>,
        next_cursor: Option<String>,
    }
    let page = Page {
        transfers: list
            .iter()
            .map(|t| View {
                t,
                confirmations: confirmations(tip, t.block.height),
                height: t.block.height,
                block_hash: t.block.hash,
            })
            .collect(),
        next_cursor: next,
    };
    Ok(typed_response(
        "application/json",
        serde_json::to_vec(&page).expect("a transfer page always serializes"),
    ))
}

pub(super) async fn events(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    let q = query_map(query);
    let after = number(&q, "after", 0u64)?;
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let wait = ranged(&q, "wait", 0u64, 0..=MAX_WAIT_SECS)?;
    let mut rx = state.store.subscribe();
    let mut stop = state.stop.clone();
    if wait > 0 && *rx.borrow_and_update() <= after {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        // A daemon stopping answers what there is: the client asks again
        // from the same place once it is back.
        while *rx.borrow_and_update() <= after && !*stop.borrow() {
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    let list = tokio::task::block_in_place(|| state.store.events_after(after, limit))?;
    let last = list.last().and_then(|e| e["seq"].as_u64()).unwrap_or(after);
    Ok(json_response(
        StatusCode::OK,
        &json!({"events": list, "next_after": last}),
    ))
}

/// `GET /v1/risk/frozen?chain=`: the addresses the listed tokens' issuers
/// froze, as paywatch followed their blacklist logs (from the chain's
/// start height on), watched or not.
pub(super) fn frozen(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    let q = query_map(query);
    let Some(chain_name) = q.get("chain") else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "`chain` is required",
        ));
    };
    chain(state, chain_name)?;
    let list = tokio::task::block_in_place(|| state.store.frozen(chain_name))?;
    #[derive(serde::Serialize)]
    struct View<'a> {
        address: &'a str,
        asset: &'a str,
        contract: &'a str,
        height: u64,
        txid: Hash32,
    }
    let frozen: Vec<View<'_>> = list
        .iter()
        .map(|r| View {
            address: &r.address,
            asset: &r.asset,
            contract: &r.contract,
            height: r.height,
            txid: r.txid,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"chain": chain_name, "frozen": frozen}),
    ))
}
