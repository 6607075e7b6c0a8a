//! The one JSON-RPC client over HTTP, for bitcoind and EVM nodes: a POST per
//! call, the answer read in place by the fast reader, and every failure
//! sorted into the [`NodeError`] the scanner acts on (retry an unreachable
//! node, report a refusal, stop on an answer that is not JSON-RPC).

use super::limit::{self, Limits};
use super::{error_chain, skim, NodeError, RawJson};
use std::sync::Arc;
use std::time::Duration;

/// Who the node is and how it is reached.
#[derive(Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    url: url::Url,
    /// `"1.0"` for bitcoind, `"2.0"` for EVM nodes.
    version: &'static str,
    timeout: Duration,
    /// Shared by every clone: the node's request rate and pauses.
    limits: Arc<Limits>,
}

impl RpcClient {
    pub fn new(
        http: reqwest::Client,
        url: url::Url,
        version: &'static str,
        timeout: Duration,
        limits: Arc<Limits>,
    ) -> Self {
        RpcClient {
            http,
            url,
            version,
            timeout,
            limits,
        }
    }

    /// One call; its result as the node wrote it, `None` for null.
    /// `auth` is sent as HTTP basic authentication.
    pub async fn call_raw(
        &self,
        method: &str,
        params: serde_json::Value,
        auth: Option<(String, String)>,
    ) -> Result<Option<RawJson>, NodeError> {
        let request = serde_json::json!({
            "jsonrpc": self.version, "id": "paywatch", "method": method, "params": params,
        });
        self.limits.ready().await;
        let exchange = async {
            let mut post = self.http.post(self.url.as_str()).json(&request);
            if let Some((user, pass)) = auth {
                post = post.basic_auth(user, Some(pass));
            }
            let unreachable = |e: reqwest::Error| {
                NodeError::Unreachable(format!("{method}: {}", error_chain(&e)))
            };
            let response = post.send().await.map_err(unreachable)?;
            let status = response.status();
            let after = limit::retry_after(response.headers());
            let body = response.bytes().await.map_err(unreachable)?;
            Ok::<_, NodeError>((status, after, body))
        };
        let (status, after, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(NodeError::Unreachable(format!(
                    "{method}: no answer within {:?}",
                    self.timeout
                )))
            }
            Ok(r) => r?,
        };
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.limits.pause(after);
            return Err(NodeError::RateLimited(format!(
                "{method}: HTTP 429{}",
                after.map_or(String::new(), |a| format!(", Retry-After {}s", a.as_secs()))
            )));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(NodeError::Unreachable(format!(
                "{method}: HTTP 401: the node refused the RPC credentials"
            )));
        }
        let answer = match rpc_answer(body) {
            Ok(a) => a,
            Err(_) if !status.is_success() => {
                return Err(NodeError::Rpc(format!(
                    "{method}: HTTP {} without a JSON-RPC answer",
                    status.as_u16()
                )))
            }
            Err(e) => {
                return Err(NodeError::Invalid(format!(
                    "{method}: the answer is not JSON-RPC: {e}"
                )))
            }
        };
        match answer.error {
            Some(e) if limit::says_rate_limited(&e) => {
                self.limits.pause(after);
                Err(NodeError::RateLimited(format!("{method}: {e}")))
            }
            Some(e) => Err(NodeError::Rpc(format!("{method}: {e}"))),
            None if !status.is_success() => Err(NodeError::Rpc(format!(
                "{method}: HTTP {}",
                status.as_u16()
            ))),
            None => Ok(answer.result),
        }
    }

    /// One call whose result is read as `T` (`null` as JSON null).
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
        auth: Option<(String, String)>,
    ) -> Result<T, NodeError> {
        let raw = self.call_raw(method, params, auth).await?;
        let text = raw.as_ref().map_or(&b"null"[..], |r| r.as_bytes());
        serde_json::from_slice(text)
            .map_err(|e| NodeError::Invalid(format!("{method}: unexpected answer: {e}")))
    }
}

/// A JSON-RPC answer: its `result` (`None` when missing or null) and its
/// error, as "message (code N)".
pub struct RpcAnswer {
    pub result: Option<RawJson>,
    pub error: Option<String>,
}

/// Reads a JSON-RPC answer with the fast reader: the result is crossed
/// once, its structure checked, and kept where it lies in `body`. serde_json
/// would read every byte of a block a second time.
pub fn rpc_answer(body: bytes::Bytes) -> Result<RpcAnswer, skim::SkimError> {
    #[derive(serde::Deserialize)]
    struct RpcError {
        code: i64,
        message: String,
    }
    let mut s = skim::Skim::new(&body);
    let mut result = None;
    let mut error = None;
    let mut o = s.object()?;
    while let Some(k) = s.key(&mut o)? {
        match k {
            k if skim::is(k, b"result") => {
                let raw = s.raw_value()?;
                if raw != b"null" {
                    let start = raw.as_ptr() as usize - body.as_ptr() as usize;
                    result = Some((start, start + raw.len()));
                }
            }
            k if skim::is(k, b"error") => {
                let raw = s.raw_value()?;
                // An error object not shaped as JSON-RPC's is still an
                // error: shown as the node wrote it.
                error = match serde_json::from_slice::<Option<RpcError>>(raw) {
                    Ok(e) => e.map(|e| format!("{} (code {})", e.message, e.code)),
                    Err(_) => Some(String::from_utf8_lossy(raw).into_owned()),
                };
            }
            _ => s.skip()?,
        }
    }
    s.end()?;
    Ok(RpcAnswer {
        result: result.map(|(start, end)| RawJson {
            body: body.clone(),
            start,
            end,
        }),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Result<RpcAnswer, skim::SkimError> {
        rpc_answer(bytes::Bytes::copy_from_slice(body.as_bytes()))
    }

    #[test]
    fn result_is_kept_as_written_and_null_is_none() {
        let a = answer(r#"{"jsonrpc":"2.0","id":1,"result": {"a": [1, "x"]} }"#).unwrap();
        assert_eq!(a.result.unwrap().as_bytes(), br#"{"a": [1, "x"]}"#);
        assert!(a.error.is_none());
        let a = answer(r#"{"result":null,"error":null,"id":"paywatch"}"#).unwrap();
        assert!(a.result.is_none() && a.error.is_none());
    }

    #[test]
    fn errors_read_as_message_and_code() {
        let a =
            answer(r#"{"result":null,"error":{"code":-5,"message":"Block not found"}}"#).unwrap();
        assert_eq!(a.error.as_deref(), Some("Block not found (code -5)"));
        let a = answer(r#"{"error":"overloaded"}"#).unwrap();
        assert_eq!(a.error.as_deref(), Some(r#""overloaded""#));
        assert!(answer("<html>502</html>").is_err());
        assert!(answer(r#"{"result":1} trailing"#).is_err());
    }
}
