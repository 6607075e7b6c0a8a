//! Watches: `POST /v1/watches`, `POST /v1/watches:batch`,
//! `GET`/`DELETE /v1/watches/{chain}/{address}`, and
//! `POST /v1/chains/{chain}/rescan` to find payments to addresses added
//! after their blocks were scanned.

use super::http::{json_response, parse_json, read_body, MAX_BODY, MAX_METADATA};
use super::{chain, ApiError, AppState, ReqBody, Resp};
use crate::address::{AddressKey, WatchAddress};
use crate::clock::now_secs;
use crate::store::Inserted;
use crate::transfer::WatchRecord;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Largest body of a bulk watch import.
const MAX_BATCH_BODY: usize = 256 * 1024 * 1024;
/// Watches written per store batch during an import.
const BATCH_CHUNK: usize = 20_000;
const MAX_LABEL: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWatch {
    chain: String,
    address: String,
    label: Option<String>,
    #[serde(default)]
    metadata: Value,
}

/// A request validated into what is stored.
fn validate_watch(
    state: &AppState,
    w: NewWatch,
) -> Result<(String, WatchAddress, WatchRecord), ApiError> {
    let c =
        chain(state, &w.chain).map_err(|e| ApiError::bad_request("unknown_chain", e.message))?;
    let addr = c
        .format
        .parse(&w.address)
        .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
    if w.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL) {
        return Err(ApiError::bad_request(
            "invalid_label",
            format!("label is longer than {MAX_LABEL} bytes"),
        ));
    }
    if !(w.metadata.is_null() || w.metadata.is_object()) {
        return Err(ApiError::bad_request(
            "invalid_metadata",
            "metadata must be a JSON object",
        ));
    }
    let metadata = if w.metadata.is_null() {
        json!({})
    } else {
        w.metadata
    };
    if serde_json::to_vec(&metadata).map(|v| v.len()).unwrap_or(0) > MAX_METADATA {
        return Err(ApiError::bad_request(
            "invalid_metadata",
            format!("metadata is larger than {MAX_METADATA} bytes"),
        ));
    }
    let rec = WatchRecord {
        chain: w.chain.clone(),
        address: addr.display.clone(),
        label: w.label,
        metadata,
        created_at: now_secs(),
    };
    Ok((w.chain, addr, rec))
}

pub(super) async fn add(state: &AppState, req: Request<ReqBody>) -> Result<Resp, ApiError> {
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let w: NewWatch = parse_json(&body)?;
    let (chain_name, addr, rec) = validate_watch(state, w)?;
    let c = chain(state, &chain_name)?;
    let inserted = tokio::task::block_in_place(|| {
        let r = state
            .store
            .insert_watch(&chain_name, addr.key.as_bytes(), rec.clone())?;
        if matches!(r, Inserted::Created(_)) {
            c.matcher.add_keys([addr.key.as_bytes()])?;
        }
        Ok::<_, ApiError>(r)
    })?;
    match inserted {
        Inserted::Created(r) => Ok(json_response(StatusCode::CREATED, &watch_json(&r))),
        Inserted::Existing(old) if old.label == rec.label && old.metadata == rec.metadata => {
            Ok(json_response(StatusCode::OK, &watch_json(&old)))
        }
        Inserted::Existing(old) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "watch_exists",
            format!(
                "{} is already watched on {chain_name} with another label or metadata; delete it first to change them",
                old.address
            ),
        )
        .with_details(watch_json(&old))),
    }
}

fn watch_json(r: &WatchRecord) -> Value {
    serde_json::to_value(r).expect("a watch record always serializes")
}

pub(super) async fn add_batch(state: &AppState, req: Request<ReqBody>) -> Result<Resp, ApiError> {
    let (ct, body) = read_body(
        req,
        &[
            "application/json",
            "application/x-ndjson",
            "application/jsonl",
        ],
        MAX_BATCH_BODY,
    )
    .await?;
    tokio::task::block_in_place(|| import_watches(state, &ct, &body))
}

/// Imports a batch in two passes over the body: the first only checks
/// every item (so that a bad one stores nothing), the second parses them
/// again and stores them a chunk at a time. Memory stays at one chunk
/// whatever the batch size, where keeping every parsed item would take
/// hundreds of bytes per watch.
fn import_watches(state: &AppState, ct: &str, body: &[u8]) -> Result<Resp, ApiError> {
    let list: Option<Vec<Value>> = if ct == "application/json" {
        Some(parse_json(body)?)
    } else {
        None
    };
    let each = |f: &mut dyn FnMut(usize, Result<NewWatch, ApiError>) -> Result<(), ApiError>| {
        match &list {
            Some(list) => {
                for (i, v) in list.iter().enumerate() {
                    let w = NewWatch::deserialize(v)
                        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()));
                    f(i + 1, w)?;
                }
            }
            None => {
                for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    f(i + 1, parse_json::<NewWatch>(line))?;
                }
            }
        }
        Ok::<(), ApiError>(())
    };

    let mut errors: Vec<Value> = Vec::new();
    each(&mut |n, w| {
        if let Err(e) = w.and_then(|w| validate_watch(state, w)) {
            if errors.len() < 100 {
                errors.push(json!({"item": n, "code": e.code, "message": e.message}));
            }
        }
        Ok(())
    })?;
    if !errors.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "some items are invalid; nothing was stored (`item` is the line or array position, from 1)",
        )
        .with_details(json!(errors)));
    }

    let mut created = 0usize;
    let mut existing = 0usize;
    let mut store = |chain_name: &str, chunk: &[(AddressKey, WatchRecord)]| {
        let c = chain(state, chain_name)?;
        let fresh = state.store.insert_watches(chain_name, chunk)?;
        let keys = chunk
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|((k, _), _)| k.as_bytes());
        c.matcher.add_keys(keys)?;
        let n = fresh.iter().filter(|f| **f).count();
        created += n;
        existing += fresh.len() - n;
        Ok::<(), ApiError>(())
    };
    let mut pending: BTreeMap<String, Vec<(AddressKey, WatchRecord)>> = BTreeMap::new();
    each(&mut |_, w| {
        let (chain_name, addr, rec) = w.and_then(|w| validate_watch(state, w))?;
        let list = pending.entry(chain_name.clone()).or_default();
        list.push((addr.key, rec));
        if list.len() >= BATCH_CHUNK {
            let chunk = std::mem::take(list);
            store(&chain_name, &chunk)?;
        }
        Ok(())
    })?;
    for (chain_name, chunk) in pending {
        if !chunk.is_empty() {
            store(&chain_name, &chunk)?;
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"created": created, "existing": existing}),
    ))
}

pub(super) fn get(state: &AppState, chain_name: &str, address: &str) -> Result<Resp, ApiError> {
    let c = chain(state, chain_name)?;
    let addr = c
        .format
        .parse(address)
        .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
    match state.store.get_watch(chain_name, addr.key.as_bytes())? {
        Some(r) => Ok(json_response(StatusCode::OK, &watch_json(&r))),
        None => Err(ApiError::not_found(format!(
            "{} is not watched on {chain_name}",
            addr.display
        ))),
    }
}

pub(super) fn delete(state: &AppState, chain_name: &str, address: &str) -> Result<Resp, ApiError> {
    let c = chain(state, chain_name)?;
    let addr = c
        .format
        .parse(address)
        .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
    if state.store.delete_watch(chain_name, addr.key.as_bytes())? {
        Ok(json_response(
            StatusCode::OK,
            &json!({"deleted": true, "chain": chain_name, "address": addr.display}),
        ))
    } else {
        Err(ApiError::not_found(format!(
            "{} is not watched on {chain_name}",
            addr.display
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RescanRequest {
    from: u64,
}

/// Asks a chain's scanner to scan again from a height (to find payments to
/// addresses added after their blocks were scanned).
pub(super) async fn rescan(
    state: &AppState,
    chain_name: &str,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    let c = chain(state, chain_name)?;
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let r: RescanRequest = parse_json(&body)?;
    let next = c.status.indexed_height().map_or(0, |h| h + 1);
    if r.from > next {
        return Err(ApiError::bad_request(
            "invalid_height",
            format!("{chain_name} has indexed up to {next} (exclusive); rescan from a height at or below it"),
        ));
    }
    c.rescan.try_send(r.from).map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "rescan_pending",
            format!("a rescan of {chain_name} is already waiting to start"),
        )
    })?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"chain": chain_name, "from": r.from}),
    ))
}
