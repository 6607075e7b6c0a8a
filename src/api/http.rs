//! What every handler shares: JSON responses, bounded request bodies and
//! query parameters, each failing with an [`ApiError`] that names the
//! problem.

use super::{ApiError, ReqBody, Resp};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest body of an ordinary request.
pub(super) const MAX_BODY: usize = 64 * 1024;
/// A request body must arrive within this (as the headers must within the
/// same): a client that trickles it does not hold a connection forever.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest `metadata` object of a watch or an invoice.
pub(super) const MAX_METADATA: usize = 8 * 1024;
/// Largest page of any list.
pub(super) const MAX_PAGE: usize = 1000;

pub fn json_response(status: StatusCode, body: &Value) -> Resp {
    json_text_response(
        status,
        serde_json::to_vec(body).expect("a JSON value always serializes"),
    )
}

/// A response of JSON already written.
pub(super) fn json_text_response(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A redirect with `status` to `location` (without a `Location` when
/// `location` cannot be a header value).
pub(super) fn redirect(status: StatusCode, location: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    r
}

/// A 200 response of `content_type` (images, metrics text).
pub(super) fn typed_response(content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Reads a request body of at most `limit` bytes whose content type is one
/// of `types`.
pub(super) async fn read_body(
    req: Request<ReqBody>,
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

pub(super) fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_request"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, format!("request body: {e}"))
    })
}

pub(super) fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A numeric query parameter that must lie in `range`; outside it, or not
/// a number, is a 400 `invalid_parameter` naming the range.
pub(super) fn ranged<T>(
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

pub(super) fn number<T: std::str::FromStr>(
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
