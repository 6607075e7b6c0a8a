//! A java-tron full node's HTTP API (`/wallet/*`, `/walletsolidity/*`):
//! blocks and their transaction info as the node sent them, for the
//! decoder, a hundred at a time while catching up.

use super::TronRaw;
use crate::chain::limit::{self, Limits};
use crate::chain::{error_chain, Node, NodeError};
use crate::config::TronConfig;
use crate::transfer::Hash32;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;

/// Most blocks `getblockbylimitnext` returns per call.
const RANGE_LIMIT: u64 = 100;
/// Transaction-info requests in flight while fetching a range.
const INFO_CONCURRENCY: usize = 8;

/// A java-tron node's HTTP API (`/wallet/*`, `/walletsolidity/*`).
#[derive(Clone)]
pub struct TronNode {
    http: reqwest::Client,
    cfg: Arc<TronConfig>,
    /// The node's request rate and pauses, shared by every clone.
    limits: Arc<Limits>,
}

#[derive(Deserialize)]
struct NowBlock {
    block_header: Option<NowHeader>,
}

#[derive(Deserialize)]
struct NowHeader {
    raw_data: NowRaw,
}

#[derive(Deserialize)]
struct NowRaw {
    number: Option<u64>,
}

#[derive(Deserialize)]
struct BlockIdOnly {
    #[serde(rename = "blockID")]
    block_id: Option<String>,
}

#[derive(Deserialize)]
struct Range<'a> {
    #[serde(default, borrow)]
    block: Vec<&'a RawValue>,
}

impl TronNode {
    pub fn new(cfg: TronConfig) -> Result<Self, NodeError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = &cfg.api_key {
            let mut v = reqwest::header::HeaderValue::from_str(key.expose())
                .map_err(|_| NodeError::Invalid("api_key is not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert("TRON-PRO-API-KEY", v);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| NodeError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        Ok(TronNode {
            http,
            limits: Arc::new(Limits::new(cfg.max_rps)),
            cfg: Arc::new(cfg),
        })
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<bytes::Bytes, NodeError> {
        let url = self
            .cfg
            .http_url
            .join(path)
            .map_err(|e| NodeError::Invalid(format!("{path}: {e}")))?;
        self.limits.ready().await;
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(format!("{path}: {}", error_chain(&e))))?;
        let status = resp.status();
        let after = limit::retry_after(resp.headers());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| NodeError::Unreachable(format!("{path}: {}", error_chain(&e))))?;
        if !status.is_success() {
            let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || limit::says_rate_limited(&snippet)
            {
                self.limits.pause(after);
                return Err(NodeError::RateLimited(format!(
                    "{path}: HTTP {status}: {snippet}"
                )));
            }
            return Err(NodeError::Rpc(format!("{path}: HTTP {status}: {snippet}")));
        }
        // java-tron reports failures as `{"Error": "..."}` with status 200.
        if bytes.len() < 4096 {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let Some(e) = v.get("Error").or_else(|| v.get("error")) {
                    let text = e.to_string();
                    if limit::says_rate_limited(&text) {
                        self.limits.pause(after);
                        return Err(NodeError::RateLimited(format!("{path}: {text}")));
                    }
                    return Err(NodeError::Rpc(format!("{path}: {e}")));
                }
            }
        }
        Ok(bytes)
    }

    async fn now_height(&self, path: &str) -> Result<u64, NodeError> {
        let bytes = self.post(path, serde_json::json!({})).await?;
        let b: NowBlock = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("{path}: {e}")))?;
        b.block_header
            .and_then(|h| h.raw_data.number)
            .ok_or_else(|| NodeError::Invalid(format!("{path}: no block_header.raw_data.number")))
    }

    async fn info(&self, height: u64) -> Result<Vec<u8>, NodeError> {
        let bytes = self
            .post(
                "wallet/gettransactioninfobyblocknum",
                serde_json::json!({ "num": height }),
            )
            .await?;
        Ok(bytes.to_vec())
    }
}

impl Node for TronNode {
    type Raw = TronRaw;

    async fn tip(&self) -> Result<u64, NodeError> {
        self.now_height("wallet/getnowblock").await
    }

    async fn hash_at(&self, height: u64) -> Result<Hash32, NodeError> {
        let bytes = self
            .post("wallet/getblockbynum", serde_json::json!({ "num": height }))
            .await?;
        let b: BlockIdOnly = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("getblockbynum {height}: {e}")))?;
        b.block_id
            .as_deref()
            .and_then(|h| Hash32::from_hex(h).ok())
            .ok_or_else(|| NodeError::Invalid(format!("getblockbynum {height}: no blockID")))
    }

    async fn knows(&self, hash: Hash32) -> Result<Option<bool>, NodeError> {
        let bytes = self
            .post(
                "wallet/getblockbyid",
                serde_json::json!({ "value": hash.to_string() }),
            )
            .await?;
        let b: BlockIdOnly = serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Invalid(format!("getblockbyid {hash}: {e}")))?;
        Ok(Some(b.block_id.is_some()))
    }

    async fn fetch(&self, height: u64) -> Result<TronRaw, NodeError> {
        let (block, info) = tokio::try_join!(
            self.post("wallet/getblockbynum", serde_json::json!({ "num": height })),
            self.info(height),
        )?;
        Ok(TronRaw {
            block: block.to_vec(),
            info,
        })
    }

    fn batch_size(&self) -> u64 {
        RANGE_LIMIT
    }

    async fn fetch_many(&self, start: u64, count: u64) -> Result<Vec<(u64, TronRaw)>, NodeError> {
        if count <= 1 {
            return Ok(vec![(start, self.fetch(start).await?)]);
        }
        let count = count.min(RANGE_LIMIT);
        let infos = futures_util::stream::iter(start..start + count)
            .map(|h| self.info(h))
            .buffered(INFO_CONCURRENCY)
            .collect::<Vec<_>>();
        let range = self.post(
            "wallet/getblockbylimitnext",
            serde_json::json!({ "startNum": start, "endNum": start + count }),
        );
        let (range, infos) = tokio::join!(range, infos);
        let range = range?;
        let parsed: Range = serde_json::from_slice(&range)
            .map_err(|e| NodeError::Invalid(format!("getblockbylimitnext {start}: {e}")))?;
        if parsed.block.len() as u64 != count {
            return Err(NodeError::Invalid(format!(
                "getblockbylimitnext {start}..{}: {} blocks instead of {count}",
                start + count,
                parsed.block.len()
            )));
        }
        let mut out = Vec::with_capacity(count as usize);
        for ((h, block), info) in (start..).zip(parsed.block).zip(infos) {
            out.push((
                h,
                TronRaw {
                    block: block.get().as_bytes().to_vec(),
                    info: info?,
                },
            ));
        }
        Ok(out)
    }

    async fn finalized(&self) -> Result<Option<u64>, NodeError> {
        if !self.cfg.solidified {
            return Ok(None);
        }
        Ok(Some(self.now_height("walletsolidity/getnowblock").await?))
    }
}
