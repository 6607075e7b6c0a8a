//! Invoices: `POST /v1/invoices`, `GET /v1/invoices` (filtered, paged),
//! `GET /v1/invoices/{id}`, `POST /v1/invoices/{id}/cancel`, the changes
//! by hand (`settle`, `invalidate`, `attach`), refunds, and the QR code of
//! its payment URI (or a refund's) as SVG or PNG.

use super::http::{
    json_response, parse_json, query_map, ranged, read_body, typed_response, MAX_BODY,
    MAX_METADATA, MAX_PAGE,
};
use super::{chain, ApiError, AppState, ReqBody, Resp};
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

pub(super) fn invoice_json(state: &AppState, inv: &crate::invoice_record::Invoice) -> Value {
    let mut v = serde_json::to_value(inv).expect("an invoice always serializes");
    if let Some(c) = &state.checkout {
        v["checkout_url"] = c.url(&inv.id).into();
    }
    v
}

/// `POST /v1/invoices`; `scope`: the merchant the caller's key is limited to.
pub(super) async fn create(
    state: &AppState,
    req: Request<ReqBody>,
    scope: Option<&str>,
) -> Result<Resp, ApiError> {
    use crate::invoice::service::CreateRequest;
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    // With `options`, the buyer picks the network.
    if serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.get("options").is_some()) {
        if let Some(m) = scope {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("invoices with options are not made for merchant `{m}`'s key; create one invoice per network"),
            ));
        }
        return create_choice(state, &body);
    }
    let mut r: CreateRequest = parse_json(&body)?;
    if let Some(m) = scope {
        if r.merchant.as_deref().is_some_and(|asked| asked != m) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this key creates merchant `{m}`'s invoices only"),
            ));
        }
        r.merchant = Some(m.to_string());
    }
    if let Some(m) = &r.merchant {
        let Some(cfg) = state.merchants.iter().find(|c| c.recorded && &c.id == m) else {
            return Err(ApiError::bad_request(
                "unknown_merchant",
                format!("merchant: no [[merchant]] has id `{m}`"),
            ));
        };
        if !cfg.allows_asset(&r.chain, &r.asset) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "asset_not_allowed",
                format!(
                    "merchant `{m}` may not take {} on chain {} (its `assets`)",
                    r.asset, r.chain
                ),
            ));
        }
    }
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
        Err(e) => Err(create_error(e)),
    }
}

fn create_error(e: crate::invoice::service::CreateError) -> ApiError {
    use crate::invoice::service::CreateError;
    match e {
        CreateError::Invalid(code, m) => ApiError::bad_request(code, m),
        CreateError::Conflict(code, m) => ApiError::new(StatusCode::CONFLICT, code, m),
        CreateError::Unavailable(code, m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m)
        }
        CreateError::Store(e) => ApiError::internal(e),
    }
}

/// `POST /v1/invoices` with `options`: an order the buyer pays on the
/// network of its choice.
fn create_choice(state: &AppState, body: &[u8]) -> Result<Resp, ApiError> {
    use crate::invoice::choice::{self, ChoiceRequest};
    let r: ChoiceRequest = parse_json(body)?;
    let metadata_len = serde_json::to_vec(&r.metadata)
        .map(|v| v.len())
        .unwrap_or(0);
    if metadata_len > MAX_METADATA || !(r.metadata.is_object() || r.metadata.is_null()) {
        return Err(ApiError::bad_request(
            "invalid_metadata",
            format!("metadata: a JSON object of at most {MAX_METADATA} bytes"),
        ));
    }
    let (c, new) = tokio::task::block_in_place(|| {
        choice::create(&state.store, &state.invoices, &state.rates, r)
    })
    .map_err(create_error)?;
    let code = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(code, &choice_json(state, &c)?))
}

/// A choice as the API shows it, its options' invoices included.
pub(super) fn choice_json(
    state: &AppState,
    c: &crate::invoice_record::Choice,
) -> Result<Value, ApiError> {
    let children = crate::invoice::choice::children(&state.store, c).map_err(ApiError::internal)?;
    let mut v = crate::invoice::choice::view(c, &children, |inv| invoice_json(state, inv));
    if let Some(ch) = &state.checkout {
        v["checkout_url"] = ch.url(&c.id).into();
    }
    Ok(v)
}

pub(super) fn get(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    match state.store.invoice(id).map_err(ApiError::internal)? {
        Some(inv) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
        None => match state.store.choice(id).map_err(ApiError::internal)? {
            Some(c) => Ok(json_response(StatusCode::OK, &choice_json(state, &c)?)),
            None => Err(ApiError::not_found(format!("no invoice `{id}`"))),
        },
    }
}

/// `POST /v1/invoices/{id}/options/{n}`: the buyer chose option `n`; its
/// invoice, made now the first time (201), as it is after that (200).
pub(super) fn choose(state: &AppState, id: &str, n: &str) -> Result<Resp, ApiError> {
    use crate::invoice::choice::{self, ChooseError};
    let Ok(n) = n.parse::<usize>() else {
        return Err(ApiError::not_found(format!(
            "invoice `{id}` has no option `{n}`"
        )));
    };
    match tokio::task::block_in_place(|| {
        choice::choose(&state.store, &state.invoices, &state.rates, id, n)
    }) {
        Ok((inv, new)) => {
            let code = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(code, &invoice_json(state, &inv)))
        }
        Err(ChooseError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(ChooseError::Conflict(code, m)) => Err(ApiError::new(StatusCode::CONFLICT, code, m)),
        Err(ChooseError::Create(e)) => Err(create_error(e)),
        Err(ChooseError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// `GET /v1/invoices`; `scope`: the merchant the caller's key is limited to.
pub(super) fn list(
    state: &AppState,
    query: Option<&str>,
    scope: Option<&str>,
) -> Result<Resp, ApiError> {
    use crate::invoice_record::InvoiceStatus;
    let mut q = query_map(query);
    if let Some(m) = scope {
        if q.get("merchant").is_some_and(|asked| asked != m) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this key lists merchant `{m}`'s invoices only"),
            ));
        }
        q.insert("merchant".into(), m.to_string());
    }
    let limit = ranged(&q, "limit", 100usize, 1..=MAX_PAGE)?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(InvoiceStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("status: `{s}` is not pending, underpaid, paid, confirmed, expired, paid_late, cancelled, settled or invalid"),
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
                    && q.get("merchant")
                        .is_none_or(|m| inv.merchant.as_deref() == Some(m.as_str()))
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

/// A chain's `amount_reuse_after`, in seconds (0 for a chain without
/// invoices).
pub(super) fn reuse_after(state: &AppState, chain: &str) -> u64 {
    state
        .invoices
        .get(chain)
        .map_or(0, |c| c.amount_reuse_after().as_secs())
}

pub(super) fn cancel(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let reuse_after = |chain: &str| reuse_after(state, chain);
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
                status.name()
            ),
        )),
        Some(Ok(inv)) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
    }
}

/// The most addresses one `POST /v1/chains/{chain}/pool` adds.
const MAX_POOL_BATCH: usize = 10_000;

/// `POST /v1/chains/{chain}/pool` `{"addresses": […]}`: the merchant's
/// addresses for the chain's pool, watched from now on.
pub(super) async fn pool_add(
    state: &AppState,
    chain_name: &str,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    use crate::invoice::service::PoolError;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        addresses: Vec<String>,
    }
    chain(state, chain_name)?;
    let (_, body) = read_body(req, &["application/json"], MAX_BODY * 16).await?;
    let b: Body = parse_json(&body)?;
    if b.addresses.is_empty() || b.addresses.len() > MAX_POOL_BATCH {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("addresses: give 1 to {MAX_POOL_BATCH} addresses"),
        ));
    }
    let Some(c) = state.invoices.get(chain_name) else {
        return Err(ApiError::bad_request(
            "invoices_not_configured",
            format!("chain {chain_name} has no [chain.invoices] section"),
        ));
    };
    match tokio::task::block_in_place(|| c.add_to_pool(&state.store, &b.addresses)) {
        Ok(added) => {
            let now = crate::clock::now_secs();
            let counts = state
                .store
                .pool_counts(chain_name, now)
                .map_err(ApiError::internal)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"added": added, "pool": counts}),
            ))
        }
        Err(e @ PoolError::NotAPool(_)) => Err(ApiError::bad_request("not_a_pool", e.to_string())),
        Err(e @ PoolError::Invalid(..)) => {
            Err(ApiError::bad_request("invalid_address", e.to_string()))
        }
        Err(PoolError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// The body of `settle`, `invalidate`, `release`, `reject` and `attach`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ByHandRequest {
    note: Option<String>,
    /// `attach` only.
    txid: Option<String>,
}

/// `POST /v1/invoices/{id}/settle|invalidate|release|reject|attach`: a
/// change by hand,
/// recorded with the name of the API key that made it.
pub(super) async fn by_hand(
    state: &AppState,
    id: &str,
    action: &str,
    key_name: Option<String>,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    use crate::invoice::manual::{self, ByHand, ManualError};
    // All but attach may come without a body.
    let bare = !req.headers().contains_key(hyper::header::CONTENT_TYPE)
        && req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    let r: ByHandRequest = if bare && action != "attach" {
        ByHandRequest::default()
    } else {
        let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
        parse_json(&body)?
    };
    if r.txid.is_some() && action != "attach" {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("request body: `txid` is for attach, not {action}"),
        ));
    }
    let who = ByHand {
        by: key_name,
        note: manual::check_note(r.note.as_deref()).map_err(|e| match e {
            ManualError::Invalid(code, m) => ApiError::bad_request(code, m),
            e => ApiError::internal(e),
        })?,
    };
    let reuse_after = |chain: &str| reuse_after(state, chain);
    let done = tokio::task::block_in_place(|| match action {
        "settle" => manual::settle(&state.store, id, &who, reuse_after),
        "invalidate" => manual::invalidate(&state.store, id, &who, reuse_after),
        "release" => manual::release(&state.store, id, &who, reuse_after),
        "reject" => manual::reject(&state.store, id, &who, reuse_after),
        _ => match r.txid.as_deref() {
            Some(txid) => manual::attach(&state.store, id, txid, &who, reuse_after),
            None => Err(ManualError::Invalid(
                "invalid_txid",
                "give `txid`: the transaction to credit to the invoice".into(),
            )),
        },
    });
    match done {
        Ok(inv) => Ok(json_response(StatusCode::OK, &invoice_json(state, &inv))),
        Err(e) => Err(manual_error(e)),
    }
}

/// The answer to a change by hand (or a refund) that was refused.
fn manual_error(e: crate::invoice::manual::ManualError) -> ApiError {
    use crate::invoice::manual::ManualError;
    match e {
        ManualError::NotFound(_) => ApiError::not_found(e.to_string()),
        ManualError::Invalid(code, m) => ApiError::bad_request(code, m),
        ManualError::Conflict(code, m) => ApiError::new(StatusCode::CONFLICT, code, m),
        ManualError::NoTransaction(code, m) => ApiError::new(StatusCode::NOT_FOUND, code, m),
        ManualError::NotForInvoice(code, m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, m)
        }
        ManualError::Store(e) => ApiError::internal(e),
    }
}

/// `POST /v1/invoices/{id}/refunds`: a refund for the merchant's wallet to
/// pay, followed on chain.
pub(super) async fn refund(
    state: &AppState,
    id: &str,
    key_name: Option<String>,
    req: Request<ReqBody>,
) -> Result<Resp, ApiError> {
    use crate::invoice::refund::{self, RefundRequest};
    let (_, body) = read_body(req, &["application/json"], MAX_BODY).await?;
    let r: RefundRequest = parse_json(&body)?;
    let chain_name = match state.store.invoice(id).map_err(ApiError::internal)? {
        Some(inv) => inv.chain,
        None => return Err(ApiError::not_found(format!("no invoice `{id}`"))),
    };
    let Some(c) = state.invoices.get(&chain_name) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invoices_not_configured",
            format!("chain {chain_name} has no [chain.invoices] section any more"),
        ));
    };
    match tokio::task::block_in_place(|| refund::request(&state.store, c, id, r, key_name)) {
        Ok(inv) => Ok(json_response(
            StatusCode::CREATED,
            &invoice_json(state, &inv),
        )),
        Err(e) => Err(manual_error(e)),
    }
}

pub(super) fn qr(
    state: &AppState,
    id: &str,
    png: bool,
    query: Option<&str>,
) -> Result<Resp, ApiError> {
    let Some(inv) = state.store.invoice(id).map_err(ApiError::internal)? else {
        return Err(ApiError::not_found(format!("no invoice `{id}`")));
    };
    let q = query_map(query);
    // A refund's QR: what the merchant's wallet scans to pay it.
    let (uri, address) = match q.get("refund") {
        None => (inv.payment_uri.as_str(), inv.address.as_str()),
        Some(rid) => match inv.refunds.iter().find(|r| r.id == *rid) {
            Some(r) => (r.payment_uri.as_str(), r.address.as_str()),
            None => {
                return Err(ApiError::not_found(format!(
                    "invoice `{id}` has no refund `{rid}`"
                )))
            }
        },
    };
    let text = match q.get("address_only").map(String::as_str) {
        None | Some("false") => uri,
        Some("true") => address,
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
    Ok(typed_response(content_type, body))
}
