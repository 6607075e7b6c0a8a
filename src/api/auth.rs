//! API keys: who may read and who may change state.

use super::ApiError;
use crate::config::{token_digest, ApiKey, KeyScope};
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;

/// The key a request was made with.
pub(super) struct Caller {
    pub name: String,
    /// The merchant the key is limited to.
    pub merchant: Option<String>,
}

/// Checks the request's `Authorization: Bearer <token>` against the
/// configured keys: writes need a write key; reads need any key unless reads
/// are open (except for a key given anyway: a merchant's key stays
/// limited to its merchant). Returns the key that was given, if one was
/// needed or given.
pub(super) fn authorize(
    keys: &[ApiKey],
    open_reads: bool,
    headers: &HeaderMap,
    write: bool,
) -> Result<Option<Caller>, ApiError> {
    if keys.is_empty() {
        return Ok(None);
    }
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !write && open_reads && given.is_none() {
        return Ok(None);
    }
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
    for k in keys {
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
        Some(k) => Ok(Some(Caller {
            name: k.name.clone(),
            merchant: k.merchant.clone(),
        })),
    }
}

/// Compares secrets without telling by its timing where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
