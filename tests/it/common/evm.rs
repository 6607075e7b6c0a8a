//! A replay server speaking Ethereum JSON-RPC (`eth_chainId`,
//! `eth_blockNumber`, `eth_getBlockByNumber`, `eth_getBlockReceipts`) over
//! recorded real blocks and receipts.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A block (with full transactions) and its receipts, as a node returns them.
#[derive(Clone)]
pub struct EthBlock {
    pub height: u64,
    pub block: Value,
    pub receipts: Value,
}

pub fn real_block(fixtures: &Path, n: u64) -> EthBlock {
    let read = |name: String| -> Value {
        serde_json::from_slice(&std::fs::read(fixtures.join("eth/rpc").join(name)).unwrap())
            .unwrap()
    };
    EthBlock {
        height: n,
        block: read(format!("eth_getBlockByNumber-{n}.json")),
        receipts: read(format!("eth_getBlockReceipts-{n}.json")),
    }
}

/// Ethereum mainnet's assets as the decoder sees them: ETH and USDT.
pub fn mainnet_assets() -> paywatch::chain::evm::EvmAssets {
    let usdt = paywatch::address::evm::parse_address("0xdAC17F958D2ee523a2206206994597C13D831ec7")
        .unwrap();
    paywatch::chain::evm::EvmAssets {
        native: paywatch::transfer::Asset {
            symbol: "ETH".into(),
            decimals: 18,
            contract: None,
        },
        tokens: vec![paywatch::config::Token {
            symbol: "USDT".into(),
            contract: usdt.key,
            display: usdt.display,
            decimals: 6,
        }],
    }
}

/// Blocks `from + 1 ..= from + len` of a synthetic chain after `parent`
/// (or from the start), fork `salt`: block hashes carry the fork, and every
/// tenth block carries one of the `real` blocks' transactions and
/// receipts, their ids made unique to the height and fork; the others are
/// empty.
pub fn synthetic_chain(
    real: &[EthBlock; 2],
    from: usize,
    len: usize,
    salt: u32,
    parent: Option<&EthBlock>,
) -> Vec<EthBlock> {
    let mut empty = real[0].clone();
    empty.block["transactions"] = json!([]);
    empty.receipts = json!([]);
    let mut prev = parent
        .map(|p| p.block["hash"].as_str().unwrap().to_string())
        .unwrap_or_else(|| format!("0x{}", "11".repeat(32)));
    let mut out = Vec::new();
    for h in (from + 1)..=(from + len) {
        let hex = |n: usize| format!("0x{n:x}");
        let mut b = if h.is_multiple_of(10) {
            let mut b = real[(h / 10 + salt as usize) % 2].clone();
            let retag = |v: &mut Value| {
                let old = v.as_str().unwrap().to_string();
                *v = json!(format!("0x{salt:08x}{h:08x}{}", &old[18..]));
            };
            for t in b.block["transactions"].as_array_mut().unwrap() {
                retag(&mut t["hash"]);
            }
            for r in b.receipts.as_array_mut().unwrap() {
                retag(&mut r["transactionHash"]);
                for l in r["logs"].as_array_mut().unwrap() {
                    retag(&mut l["transactionHash"]);
                }
            }
            b
        } else {
            empty.clone()
        };
        let hash = format!("0x{salt:08x}{h:056x}");
        b.height = h as u64;
        b.block["number"] = json!(hex(h));
        b.block["hash"] = json!(hash);
        b.block["parentHash"] = json!(prev);
        for r in b.receipts.as_array_mut().unwrap() {
            r["blockNumber"] = json!(hex(h));
            r["blockHash"] = json!(hash);
        }
        prev = hash;
        out.push(b);
    }
    out
}

struct State {
    chain_id: u64,
    blocks: Vec<EthBlock>,
    /// Each block's full form and receipts as sent, serialized once so that
    /// the server is not what limits a catch-up. By height, with the block
    /// it was made from: kept across `set_blocks` (even one that leaves the
    /// block out for a while) until a different block takes that height.
    sent: std::collections::HashMap<u64, (EthBlock, Arc<(String, String)>)>,
    /// Answer `eth_getBlockReceipts` with "method not found", as some nodes do.
    no_block_receipts: bool,
}

pub struct EthReplay {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
}

impl EthReplay {
    pub async fn start(chain_id: u64, blocks: Vec<EthBlock>) -> EthReplay {
        let state = Arc::new(Mutex::new(State {
            chain_id,
            blocks,
            sent: Default::default(),
            no_block_receipts: false,
        }));
        let st = state.clone();
        let (url, stop) = super::serve_http(
            || false,
            move |req| {
                let st = st.clone();
                async move { answer(&st, req).await }
            },
        )
        .await;
        EthReplay { url, state, stop }
    }

    pub fn without_block_receipts(&self) {
        self.state.lock().unwrap().no_block_receipts = true;
    }

    pub fn set_blocks(&self, blocks: Vec<EthBlock>) {
        let mut s = self.state.lock().unwrap();
        let by_height: std::collections::HashMap<u64, &EthBlock> =
            blocks.iter().map(|b| (b.height, b)).collect();
        s.sent.retain(|h, (was, _)| {
            by_height
                .get(h)
                .is_none_or(|b| b.block == was.block && b.receipts == was.receipts)
        });
        s.blocks = blocks;
    }

    /// Shows `blocks`, which extend the chain served so far without
    /// changing a block already served (no reorg), so that the answers
    /// already prepared are kept without comparing them: at once, as a
    /// node's chain grows.
    pub fn grow_to(&self, blocks: Vec<EthBlock>) {
        self.state.lock().unwrap().blocks = blocks;
    }

    pub fn chain_toml(&self, name: &str, chain_id: u64, start: u64, extra: &str) -> String {
        format!(
            "[[chain]]\nname = \"{name}\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = {chain_id}\n\
             start_height = {start}\nconfirmations = 1\npoll_interval_ms = 50\nrpc_timeout_secs = 5\n{extra}\n",
            self.url
        )
    }
}

impl Drop for EthReplay {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn height_param(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

async fn answer(
    state: &Arc<Mutex<State>>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = req["id"].clone();
    let params = req["params"].as_array().cloned().unwrap_or_default();
    let mut s = state.lock().unwrap();
    let method = req["method"].as_str().unwrap_or("");
    let full = params.get(1) == Some(&json!(true));
    if method == "eth_getBlockReceipts" && !s.no_block_receipts
        || method == "eth_getBlockByNumber" && full
    {
        if let Some(n) = params.first().and_then(height_param) {
            let served = s.blocks.iter().any(|b| b.height == n);
            let cached = s.sent.get(&n).filter(|_| served).map(|c| c.1.clone());
            let sent = cached.or_else(|| {
                let b = s.blocks.iter().find(|b| b.height == n)?.clone();
                let sent = Arc::new((b.block.to_string(), b.receipts.to_string()));
                s.sent.insert(n, (b, sent.clone()));
                Some(sent)
            });
            if let Some(sent) = sent {
                let result = if method == "eth_getBlockReceipts" {
                    &sent.1
                } else {
                    &sent.0
                };
                let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#);
                let mut r = Response::new(Full::new(Bytes::from(body)));
                r.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                return r;
            }
        }
    }
    let at = |n: Option<u64>| n.and_then(|n| s.blocks.iter().find(|b| b.height == n));
    let result = match req["method"].as_str().unwrap_or("") {
        "eth_chainId" => json!(format!("0x{:x}", s.chain_id)),
        "eth_blockNumber" => json!(format!(
            "0x{:x}",
            s.blocks.last().map(|b| b.height).unwrap_or(0)
        )),
        "eth_getBlockByNumber" => match at(params.first().and_then(height_param)) {
            Some(b) if params.get(1) == Some(&json!(true)) => b.block.clone(),
            Some(b) => {
                let mut header = b.block.clone();
                header["transactions"] = json!(b.block["transactions"]
                    .as_array()
                    .map(|txs| txs.iter().map(|t| t["hash"].clone()).collect::<Vec<_>>())
                    .unwrap_or_default());
                header
            }
            None => Value::Null,
        },
        "eth_getBlockByHash" => s
            .blocks
            .iter()
            .find(|b| Some(&b.block["hash"]) == params.first())
            .map(|b| {
                let mut header = b.block.clone();
                header["transactions"] = json!([]);
                header
            })
            .unwrap_or(Value::Null),
        "eth_getBlockReceipts" if !s.no_block_receipts => at(params.first().and_then(height_param))
            .map(|b| b.receipts.clone())
            .unwrap_or(Value::Null),
        "eth_getLogs" => {
            let filter = params.first().cloned().unwrap_or(Value::Null);
            let topic0 = filter["topics"][0].clone();
            let block = s
                .blocks
                .iter()
                .find(|b| b.block["hash"] == filter["blockHash"]);
            let logs: Vec<Value> = block
                .map(|b| {
                    b.receipts
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|r| r["logs"].as_array().unwrap().iter().cloned())
                        // A topic position matches one value, or any of a list.
                        .filter(|l| match &topic0 {
                            Value::Null => true,
                            Value::Array(any) => any.contains(&l["topics"][0]),
                            one => l["topics"][0] == *one,
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!(logs)
        }
        "eth_getTransactionReceipt" => {
            let hash = params.first().cloned().unwrap_or(Value::Null);
            s.blocks
                .iter()
                .flat_map(|b| b.receipts.as_array().unwrap().iter())
                .find(|r| r["transactionHash"] == hash)
                .cloned()
                .unwrap_or(Value::Null)
        }
        other => {
            let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("the method {other} does not exist/is not available")}});
            return Response::new(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())));
        }
    };
    let body = json!({"jsonrpc": "2.0", "id": id, "result": result});
    let mut r = Response::new(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}
