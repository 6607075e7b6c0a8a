//! The local HTTP API (hyper 1): watches, invoices, transfers, the events
//! feed, deliveries and status, as JSON under `/v1`, plus the public
//! checkout page and the Epusdt-compatible endpoint. See `docs/api.md`.
//!
//! One file per resource; this one holds the state the handlers share,
//! [`router`] (which maps a request to its handler, and which tests call
//! in-process) and [`serve`] (which runs it over TCP).

mod auth;
pub mod checkout;
mod deliveries;
pub mod epay;
pub mod epusdt;
mod error;
mod feed;
mod gmpay;
mod http;
mod invoices;
mod shop;
mod status;
mod watches;

#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use http::json_response;

use crate::address::AddressFormat;
use crate::config::ApiKey;
use crate::status::ChainStatus;
use crate::store::Store;
use crate::watch::Matcher;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

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
    /// The shop protocols (Epusdt, BEpusdt, EPay), when configured.
    pub epusdt: Option<crate::config::EpusdtConfig>,
    /// The merchants the shop protocols and merchant keys act for.
    pub merchants: Vec<crate::config::MerchantConfig>,
    /// Turns true when the daemon stops: long polls answer at once.
    pub stop: watch::Receiver<bool>,
    /// The public checkout page; `None` when turned off.
    pub checkout: Option<Arc<crate::api::checkout::Checkout>>,
    /// Exchange rates for invoices priced in fiat.
    pub rates: Arc<crate::invoice::rates::Rates>,
    /// The sanctions list in force (for the status and metrics).
    pub sanctions: Arc<crate::risk::Sanctions>,
}

type Resp = Response<Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request body as the handlers read it, whatever it came from.
type ReqBody = UnsyncBoxBody<Bytes, BodyError>;

/// A request body that could not be read (the connection broke).
#[derive(Debug)]
struct BodyError(BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The address a request came from (the TCP peer), for the merchants'
/// `allowed_ips`.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::IpAddr);

/// The API as a service over [`AppState`].
#[derive(Clone)]
pub struct Router {
    state: Arc<AppState>,
}

/// The API's router: [`serve`] runs it over TCP; a test can answer
/// requests with it directly, without a socket.
pub fn router(state: Arc<AppState>) -> Router {
    Router { state }
}

impl Router {
    /// Answers one request: hyper's `Incoming` from a connection, or any
    /// other body (`Full<Bytes>` in a test).
    pub async fn call<B>(&self, req: Request<B>) -> Resp
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let req = req.map(|b| b.map_err(|e| BodyError(e.into())).boxed_unsync());
        match route(&self.state, req).await {
            Ok(r) => r,
            Err(e) => {
                if e.status.is_server_error() {
                    warn!(%method, %path, status = %e.status, "request failed");
                }
                e.into_response()
            }
        }
    }
}

/// Serves the API on `listener` until `shutdown` turns true; open
/// connections get a few seconds to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = router(state);
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
        let router = router.clone();
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer.ip()));
                    let router = router.clone();
                    async move { Ok::<_, std::convert::Infallible>(router.call(req).await) }
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
async fn route(state: &AppState, req: Request<ReqBody>) -> Result<Resp, ApiError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    // The shop protocols authenticate each request by its own signature
    // (GMPay's status route lives under the checkout page's usual path).
    let req = match shop::route(state, &method, &segments, req).await {
        Ok(answer) => return answer,
        Err(req) => req,
    };
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
                    &state.rates,
                    rest,
                    req.uri().query(),
                    accept,
                )
                .await);
        }
    }
    let mut caller = None;
    if segments != ["health"] {
        let write = !matches!(method, Method::GET | Method::HEAD);
        caller = auth::authorize(&state.keys, state.open_reads, req.headers(), write)?;
    }
    if let Some(auth::Caller {
        name,
        merchant: Some(merchant),
    }) = &caller
    {
        return merchant_route(state, name, merchant, &method, &segments, req).await;
    }
    let key_name = caller.map(|c| c.name);
    match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => Ok(status::status(state)),
        (&Method::GET, ["health"]) => Ok(status::health()),
        (&Method::GET, ["metrics"]) => status::metrics(state),
        (&Method::POST, ["v1", "watches"]) => watches::add(state, req).await,
        (&Method::POST, ["v1", "watches:batch"]) => watches::add_batch(state, req).await,
        (&Method::GET, ["v1", "watches", chain, address]) => watches::get(state, chain, address),
        (&Method::DELETE, ["v1", "watches", chain, address]) => {
            watches::delete(state, chain, address)
        }
        (&Method::GET, ["v1", "transfers"]) => feed::transfers(state, req.uri().query()),
        (&Method::POST, ["v1", "chains", chain, "rescan"]) => {
            watches::rescan(state, chain, req).await
        }
        (&Method::POST, ["v1", "chains", chain, "pool"]) => {
            invoices::pool_add(state, chain, req).await
        }
        (&Method::GET, ["v1", "events"]) => feed::events(state, req.uri().query()).await,
        (&Method::POST, ["v1", "invoices"]) => invoices::create(state, req, None).await,
        (&Method::GET, ["v1", "invoices"]) => invoices::list(state, req.uri().query(), None),
        (&Method::GET, ["v1", "invoices", id]) => invoices::get(state, id),
        (&Method::POST, ["v1", "invoices", id, "cancel"]) => invoices::cancel(state, id),
        (
            &Method::POST,
            ["v1", "invoices", id, action @ ("settle" | "invalidate" | "attach" | "release" | "reject")],
        ) => invoices::by_hand(state, id, action, key_name, req).await,
        (&Method::POST, ["v1", "invoices", id, "options", n]) => invoices::choose(state, id, n),
        (&Method::POST, ["v1", "invoices", id, "refunds"]) => {
            invoices::refund(state, id, key_name, req).await
        }
        (&Method::GET, ["v1", "invoices", id, "qr.svg"]) => {
            invoices::qr(state, id, false, req.uri().query())
        }
        (&Method::GET, ["v1", "invoices", id, "qr.png"]) => {
            invoices::qr(state, id, true, req.uri().query())
        }
        (&Method::GET, ["v1", "risk", "frozen"]) => feed::frozen(state, req.uri().query()),
        (&Method::GET, ["v1", "deliveries"]) => deliveries::list(state, req.uri().query()),
        (&Method::GET, ["v1", "deliveries", id]) => deliveries::get(state, id),
        (&Method::POST, ["v1", "deliveries", id, "retry"]) => deliveries::retry(state, id),
        (_, ["v1", "invoices"])
        | (_, ["v1", "invoices", _])
        | (
            _,
            ["v1", "invoices", _, "cancel" | "settle" | "invalidate" | "attach" | "release" | "reject" | "refunds"
            | "qr.svg" | "qr.png"],
        )
        | (_, ["v1", "invoices", _, "options", _])
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
        | (_, ["v1", "risk", "frozen"])
        | (_, ["v1", "chains", _, "rescan" | "pool"])
        | (_, ["v1", "events"]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(ApiError::not_found(format!("no such endpoint: {path}"))),
    }
}

/// A key limited to one merchant reaches that merchant's invoices and
/// nothing else; another merchant's invoice is not found.
async fn merchant_route(
    state: &AppState,
    key: &str,
    merchant: &str,
    method: &Method,
    segments: &[&str],
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    if let ["v1", "invoices", id, ..] = segments {
        let theirs = state
            .store
            .invoice(id)
            .map_err(ApiError::internal)?
            .is_some_and(|inv| inv.merchant.as_deref() == Some(merchant));
        if !theirs {
            return Err(ApiError::not_found(format!("no invoice {id}")));
        }
    }
    match (method, segments) {
        (&Method::POST, ["v1", "invoices"]) => invoices::create(state, req, Some(merchant)).await,
        (&Method::GET, ["v1", "invoices"]) => {
            invoices::list(state, req.uri().query(), Some(merchant))
        }
        (&Method::GET, ["v1", "invoices", id]) => invoices::get(state, id),
        (&Method::POST, ["v1", "invoices", id, "cancel"]) => invoices::cancel(state, id),
        (&Method::GET, ["v1", "invoices", id, "qr.svg"]) => {
            invoices::qr(state, id, false, req.uri().query())
        }
        (&Method::GET, ["v1", "invoices", id, "qr.png"]) => {
            invoices::qr(state, id, true, req.uri().query())
        }
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "key `{key}` is limited to merchant `{merchant}`'s invoices: creating, listing, \
                 reading and cancelling them"
            ),
        )),
    }
}

fn chain<'a>(state: &'a AppState, name: &str) -> Result<&'a ApiChain, ApiError> {
    state
        .chains
        .get(name)
        .ok_or_else(|| ApiError::unknown_chain(name))
}
