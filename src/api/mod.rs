//! The local HTTP API (hyper 1): watches, transfers, the events feed and
//! status, as JSON under `/v1`. See `docs/api.md`.

pub mod checkout;
pub mod epusdt;
mod error;

pub use error::ApiError;

use crate::address::{AddressFormat, WatchAddress};
use crate::clock::now_secs;
use crate::config::{token_digest, ApiKey, KeyScope};
use crate::event::confirmations;
use crate::status::ChainStatus;
use crate::store::{parse_delivery_id, DeliveryStatus, Target};
use crate::store::{Inserted, Store};
use crate::transfer::Hash32;
use crate::transfer::WatchRecord;
use crate::watch::Matcher;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

/// Largest body of an ordinary request.
const MAX_BODY: usize = 64 * 1024;
/// A request body must arrive within this (as the headers must within the
/// same): a client that trickles it does not hold a connection forever.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest body of a bulk watch import.
const MAX_BATCH_BODY: usize = 256 * 1024 * 1024;
/// Watches written per store batch during an import.
const BATCH_CHUNK: usize = 20_000;
const MAX_LABEL: usize = 256;
const MAX_METADATA: usize = 8 * 1024;
const MAX_PAGE: usize = 1000;
const MAX_WAIT_SECS: u64 = 60;

/// What the API knows of one configured chain.
pub struct ApiChain {
    pub format: AddressFormat,
    pub matcher: Arc<Matcher>,
    pub status: Arc<ChainStatus>,
    /// Rescan requests for the chain's scanner (height to scan again from).
    pub rescan: tokio::sync::mpsc::Sender<u64>,
}

pub struct AppState {
    pub store: Arc<Store>,
    pub chains: BTreeMap<String, ApiChain>,
    /// Accepted keys; empty means no key is needed.
    pub keys: Vec<ApiKey>,
    /// Reads need no key (loopback only).
    pub open_reads: bool,
    /// The Prometheus recorder's handle, for `GET /metrics`.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Plugin health and the configured sinks.
    pub delivery: Arc<crate::deliver::DeliveryState>,
    /// Chains that take invoices.
    pub invoices: BTreeMap<String, Arc<crate::invoice::service::InvoiceChain>>,
    /// The Epusdt-compatible endpoint, when configured.
    pub epusdt: Option<crate::config::EpusdtConfig>,
    /// The public checkout page; `None` when turned off.
    pub checkout: Option<Arc<crate::api::checkout::Checkout>>,
    /// Exchange rates for invoices priced in fiat.
    pub rates: Arc<crate::invoice::rates::Rates>,
}

type Resp = Response<Full<Bytes>>;

pub fn json_response(status: StatusCode, body: &Value) -> Resp {
    json_text_response(
        status,
        serde_json::to_vec(body).expect("a JSON value always serializes"),
    )
}

/// A response of JSON already written.
fn json_text_response(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Serves the API on `listener` until `shutdown` turns true; open
/// connections get a few seconds to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let state = state.clone();
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(state, req, peer).await) }
                }),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {
            info!("API connections still open after 5 s; closing them");
        }
    }
}

/// Routes one request.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>, _peer: SocketAddr) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = route(&state, req).await;
    match result {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                warn!(%method, %path, status = %e.status, "request failed");
            }
            e.into_response()
        }
    }
}

async fn route(state: &AppState, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let path = req.uri().path().to_string();
    // The checkout page is public and read-only.
    if let Some(c) = &state.checkout {
        if let Some(rest) = path
            .strip_prefix(c.path())
            .and_then(|r| r.strip_prefix('/'))
        {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{} is not allowed on {path}", req.method()),
                ));
            }
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok());
            return Ok(c
                .handle(
                    &state.store,
                    &state.invoices,
                    rest,
                    req.uri().query(),
                    accept,
                )
                .await);
        }
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    // The Epusdt endpoint authenticates each request by its own signature.
    let epusdt = segments == ["api", "v1", "order", "create-transaction"];
    if segments != ["health"] && !epusdt {
        let write = !matches!(method, Method::GET | Method::HEAD);
        authorize(state, &req, write)?;
    }
    match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => Ok(status(state)),
        (&Method::GET, ["health"]) => Ok(json_response(StatusCode::OK, &json!({"ok": true}))),
        (&Method::GET, ["metrics"]) => metrics_text(state),
        (&Method::POST, ["v1", "watches"]) => add_watch(state, req).await,
        (&Method::POST, ["v1", "watches:batch"]) => add_watches(state, req).await,
        (&Method::GET, ["v1", "watches", chain, address]) => get_watch(state, chain, address),
        (&Method::DELETE, ["v1", "watches", chain, address]) => delete_watch(state, chain, address),
        (&Method::GET, ["v1", "transfers"]) => transfers(state, req.uri().query()),
        (&Method::POST, ["v1", "chains", chain, "rescan"]) => rescan(state, chain, req).await,
        (&Method::GET, ["v1", "events"]) => events(state, req.uri().query()).await,
        (&Method::POST, ["api", "v1", "order", "create-transaction"]) => {
            epusdt_create(state, req).await
        }
        (&Method::POST, ["v1", "invoices"]) => create_invoice(state, req).await,
        (&Method::GET, ["v1", "invoices"]) => list_invoices(state, req.uri().query()),
        (&Method::GET, ["v1", "invoices", id]) => get_invoice(state, id),
        (&Method::POST, ["v1", "invoices", id, "cancel"]) => cancel_invoice(state, id),
        (&Method::GET, ["v1", "invoices", id, "qr.svg"]) => {
            invoice_qr(state, id, false, req.uri().query())
        }
        (&Method::GET, ["v1", "invoices", id, "qr.png"]) => {
            invoice_qr(state, id, true, req.uri().query())
        }
        (&Method::GET, ["v1", "deliveries"]) => deliveries(state, req.uri().query()),
        (&Method::GET, ["v1", "deliveries", id]) => delivery(state, id),
        (&Method::POST, ["v1", "deliveries", id, "retry"]) => retry_delivery(state, id),
        (_, ["api", "v1", "order", "create-transaction"])
        | (_, ["v1", "invoices"])
        | (_, ["v1", "invoices", _])
        | (_, ["v1", "invoices", _, "cancel" | "qr.svg" | "qr.png"])
        | (_, ["v1", "deliveries"])
        | (_, ["v1", "deliveries", _])
        | (_, ["v1", "deliveries", _, "retry"])
        | (_, ["health"])
        | (_, ["metrics"])
        | (_, ["v1", "status"])
        | (_, ["v1", "watches"])
        | (_, ["v1", "watches:batch"])
        | (_, ["v1", "watches", _, _])
        | (_, ["v1", "transfers"])
        | (_, ["v1", "chains", _, "rescan"])
        | (_, ["v1", "events"]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(ApiError::not_found(format!("no such endpoint: {path}"))),
    }
}

/// Checks the request's `Authorization: Bearer <token>` against the
/// configured keys: writes need a write key; reads need any key unless reads
/// are open.
fn authorize(state: &AppState, req: &Request<Incoming>, write: bool) -> Result<(), ApiError> {
    if state.keys.is_empty() || (!write && state.open_reads) {
        return Ok(());
    }
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = given else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs `Authorization: Bearer <api key>`",
        ));
    };
    let digest = token_digest(token);
    // Every key is compared, in constant time, whichever matches.
    let mut found = None;
    for k in &state.keys {
        if constant_time_eq(&digest, &k.token_sha256) {
            found = Some(k);
        }
    }
    match found {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is not one this daemon accepts",
        )),
        Some(k) if write && k.scope == KeyScope::Read => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("key `{}` may only read; this request changes state", k.name),
        )),
        Some(_) => Ok(()),
    }
}

/// Compares secrets without telling by its timing where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn chain<'a>(state: &'a AppState, name: &str) -> Result<&'a ApiChain, ApiError> {
    state
        .chains
        .get(name)
        .ok_or_else(|| ApiError::unknown_chain(name))
}

/// Reads a request body of at most `limit` bytes whose content type is one
/// of `types`.
async fn read_body(
    req: Request<Incoming>,
    types: &[&str],
    limit: usize,
) -> Result<(String, Bytes), ApiError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !types.contains(&ct.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "content type `{ct}` is not accepted here; send {}",
                types.join(" or ")
            ),
        ));
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), limit).collect());
    let Ok(read) = read.await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ));
    };
    match read {
        Ok(b) => Ok((ct, b.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {limit} bytes"),
            ))
        }
        Err(e) => Err(ApiError::bad_request(
            "bad_body",
            format!("cannot read the request body: {e}"),
        )),
    }
}

// ---- watches ---------------------------------------------------------------

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

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_request"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, format!("request body: {e}"))
    })
}

async fn add_watch(state: &AppState, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let w: NewWatch = parse_json(&body)?;
    let (chain_name, addr, rec) = validate_watch(state, w)?;
    let c = chain(state, &chain_name)?;
    let inserted = tokio::task::block_in_place(|| {
        let r = state
            .store
            .insert_watch(&chain_name, &addr.key, rec.clone())?;
        if matches!(r, Inserted::Created(_)) {
            c.matcher.add_keys([addr.key.as_slice()])?;
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

async fn add_watches(state: &AppState, req: Request<Incoming>) -> Result<Resp, ApiError> {
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
    let mut store = |chain_name: &str, chunk: &[(Vec<u8>, WatchRecord)]| {
        let c = chain(state, chain_name)?;
        let fresh = state.store.insert_watches(chain_name, chunk)?;
        let keys = chunk
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|((k, _), _)| k.as_slice());
        c.matcher.add_keys(keys)?;
        let n = fresh.iter().filter(|f| **f).count();
        created += n;
        existing += fresh.len() - n;
        Ok::<(), ApiError>(())
    };
    let mut pending: BTreeMap<String, Vec<(Vec<u8>, WatchRecord)>> = BTreeMap::new();
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

fn get_watch(state: &AppState, chain_name: &str, address: &str) -> Result<Resp, ApiError> {
    let c = chain(state, chain_name)?;
    let addr = c
        .format
        .parse(address)
        .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
    match state.store.get_watch(chain_name, &addr.key)? {
        Some(r) => Ok(json_response(StatusCode::OK, &watch_json(&r))),
        None => Err(ApiError::not_found(format!(
            "{} is not watched on {chain_name}",
            addr.display
        ))),
    }
}

fn delete_watch(state: &AppState, chain_name: &str, address: &str) -> Result<Resp, ApiError> {
    let c = chain(state, chain_name)?;
    let addr = c
        .format
        .parse(address)
        .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
    if state.store.delete_watch(chain_name, &addr.key)? {
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
async fn rescan(
    state: &AppState,
    chain_name: &str,
    req: Request<Incoming>,
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

// ---- queries ---------------------------------------------------------------

fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A numeric query parameter that must lie in `range`; outside it, or not
/// a number, is a 400 `invalid_parameter` naming the range.
fn ranged<T>(
    q: &BTreeMap<String, String>,
    key: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let out_of_range = |v: &str| {
        ApiError::bad_request(
            "invalid_parameter",
            format!(
                "`{key}` must be an integer from {} to {}, not `{v}`",
                range.start(),
                range.end()
            ),
        )
    };
    match q.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(out_of_range(v)),
        },
    }
}

fn number<T: std::str::FromStr>(
    q: &BTreeMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, ApiError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("`{key}` must be a non-negative integer, not `{v}`"),
            )
        }),
    }
}

fn metrics_text(state: &AppState) -> Result<Resp, ApiError> {
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
    let text =
        tokio::task::block_in_place(|| crate::telemetry::render(handle, &chains, &state.store));
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

fn status(state: &AppState) -> Resp {
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
        }),
    )
}

async fn epusdt_create(state: &AppState, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let Some(cfg) = &state.epusdt else {
        return Err(ApiError::not_found(
            "the Epusdt-compatible endpoint is off (no [epusdt] section)",
        ));
    };
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let chain = state
        .invoices
        .get(&cfg.chain)
        .ok_or_else(|| ApiError::internal("the [epusdt] chain takes no invoices"))?;
    // The buyer goes to the checkout page; without it, to the QR code.
    let payment_url = |id: &str| match &state.checkout {
        Some(c) => format!("{}{}/{id}", cfg.public_url, c.path()),
        None => format!("{}/v1/invoices/{id}/qr.svg", cfg.public_url),
    };
    let answer = tokio::task::block_in_place(|| {
        epusdt::create_transaction(cfg, chain, &state.store, &state.rates, payment_url, &body)
    });
    Ok(json_text_response(StatusCode::OK, answer))
}

fn invoice_json(state: &AppState, inv: &crate::invoice_record::Invoice) -> Value {
    let mut v = serde_json::to_value(inv).expect("an invoice always serializes");
    if let Some(c) = &state.checkout {
        v["checkout_url"] = c.url(&inv.id).into();
    }
    v
}

async fn create_invoice(state: &AppState, req: Request<Incoming>) -> Result<Resp, ApiError> {
    use crate::invoice::service::{CreateError, CreateRequest};
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let r: CreateRequest = parse_json(&body)?;
    if serde_json::to_vec(&r.metadata)
        .map(|v| v.len())
        .unwrap_or(0)
        > MAX_METADATA
    {
        return Err(ApiError::bad_request(
            "invalid_metadata",
            format!("metadata is larger than {MAX_METADATA} bytes"),
        ));
    }
    chain(state, &r.chain)?;
    let Some(c) = state.invoices.get(&r.chain) else {
        return Err(ApiError::bad_request(
            "invoices_not_configured",
            format!("chain {} has no [chain.invoices] section", r.chain),
        ));
    };
    match tokio::task::block_in_place(|| c.create(&state.store, &state.rates, r)) {
        Ok((inv, true)) => Ok(json_response(
            StatusCode::CREATED,
            &invoice_json(state, &inv),
        )),
        Ok((inv, false)) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
        Err(CreateError::Invalid(code, m)) => Err(ApiError::bad_request(code, m)),
        Err(CreateError::Conflict(code, m)) => Err(ApiError::new(StatusCode::CONFLICT, code, m)),
        Err(CreateError::Unavailable(code, m)) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m))
        }
        Err(CreateError::Store(e)) => Err(ApiError::internal(e)),
    }
}

fn get_invoice(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    match state.store.invoice(id).map_err(ApiError::internal)? {
        Some(inv) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
        None => Err(ApiError::not_found(format!("no invoice `{id}`"))),
    }
}

fn list_invoices(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    use crate::invoice_record::InvoiceStatus;
    let q = query_map(query);
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(InvoiceStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("status: `{s}` is not pending, underpaid, paid, confirmed, expired, paid_late or cancelled"),
            )
        })?),
    };
    if let Some(c) = q.get("chain") {
        chain(state, c)?;
    }
    let list = state
        .store
        .invoices(
            |inv| {
                q.get("chain").is_none_or(|c| *c == inv.chain)
                    && q.get("order_id").is_none_or(|o| *o == inv.order_id)
                    && status.is_none_or(|s| s == inv.status)
            },
            q.get("after").map(String::as_str),
            limit,
        )
        .map_err(ApiError::internal)?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|i| i.id.clone()))
        .flatten();
    let list: Vec<Value> = list.iter().map(|i| invoice_json(state, i)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"invoices": list, "next": next}),
    ))
}

fn cancel_invoice(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let reuse_after = |chain: &str| {
        state
            .invoices
            .get(chain)
            .map_or(0, |c| c.amount_reuse_after().as_secs())
    };
    match tokio::task::block_in_place(|| {
        crate::invoice::tracker::cancel(&state.store, id, reuse_after)
    })
    .map_err(ApiError::internal)?
    {
        None => Err(ApiError::not_found(format!("no invoice `{id}`"))),
        Some(Err(status)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_open",
            format!(
                "invoice `{id}` is {}; only pending or underpaid invoices can be cancelled",
                serde_json::to_value(status)
                    .expect("a status serializes")
                    .as_str()
                    .unwrap_or("")
            ),
        )),
        Some(Ok(inv)) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
    }
}

fn invoice_qr(
    state: &AppState,
    id: &str,
    png: bool,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    let Some(inv) = state.store.invoice(id).map_err(ApiError::internal)? else {
        return Err(ApiError::not_found(format!("no invoice `{id}`")));
    };
    let q = query_map(query);
    let text = match q.get("address_only").map(String::as_str) {
        None | Some("false") => inv.payment_uri.as_str(),
        Some("true") => inv.address.as_str(),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("address_only: `{other}` is not true or false"),
            ))
        }
    };
    let (body, content_type) = if png {
        (
            crate::invoice::uri::qr_png(text).map_err(ApiError::internal)?,
            "image/png",
        )
    } else {
        (
            crate::invoice::uri::qr_svg(text)
                .map_err(ApiError::internal)?
                .into_bytes(),
            "image/svg+xml",
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
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

fn deliveries(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
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
    let list = state
        .store
        .deliveries(status, after, limit)
        .map_err(ApiError::internal)?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &json!({"deliveries": list, "next": next}),
    ))
}

fn delivery(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    match state.store.delivery(id).map_err(ApiError::internal)? {
        Some(d) => Ok(json_response(
            StatusCode::OK,
            &serde_json::to_value(&d).expect("a delivery always serializes"),
        )),
        None => Err(ApiError::not_found(format!("no delivery `{id}`"))),
    }
}

fn retry_delivery(state: &AppState, id: &str) -> Result<Resp, ApiError> {
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

fn transfers(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
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
    let (list, next) = match (q.get("address"), q.get("txid")) {
        (Some(a), None) => {
            let addr = c
                .format
                .parse(a)
                .map_err(|e| ApiError::bad_request("invalid_address", e.0))?;
            let after = match q.get("cursor") {
                Some(cur) => Some(hex::decode(cur).map_err(|_| {
                    ApiError::bad_request("invalid_cursor", "`cursor` is not one this API returned")
                })?),
                None => None,
            };
            let page =
                state
                    .store
                    .transfers_by_address(chain_name, &addr.key, after.as_deref(), limit)?;
            (page.transfers, page.next)
        }
        (None, Some(t)) => {
            let txid = Hash32::from_hex(t).map_err(|_| {
                ApiError::bad_request("invalid_txid", format!("`{t}` is not a 32-byte hex txid"))
            })?;
            (state.store.transfers_by_txid(chain_name, &txid)?, None)
        }
        _ => {
            return Err(ApiError::bad_request(
                "missing_parameter",
                "give exactly one of `address` or `txid`",
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
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&page).expect("a transfer page always serializes"),
    )));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

async fn events(state: &AppState, query: Option<&str>) -> Result<Resp, ApiError> {
    let q = query_map(query);
    let after = number(&q, "after", 0u64)?;
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let wait = ranged(&q, "wait", 0u64, 0..=MAX_WAIT_SECS)?;
    let mut rx = state.store.subscribe();
    if wait > 0 && *rx.borrow_and_update() <= after {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        while *rx.borrow_and_update() <= after {
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
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
