//! A replay server speaking java-tron's HTTP API (`/wallet/*`,
//! `/walletsolidity/*`, POST with JSON bodies) over recorded real blocks and
//! chains rewritten from them.

use super::Fault;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One block as java-tron serves it, and its transaction info array.
#[derive(Clone)]
pub struct TronBlock {
    /// The height the server serves this block at (kept apart from the
    /// JSON so that a block with a broken header is still served).
    pub height: u64,
    pub block: Value,
    pub info: Value,
}

impl TronBlock {
    pub fn number(&self) -> u64 {
        self.height
    }

    pub fn id(&self) -> String {
        self.block["blockID"].as_str().unwrap().to_string()
    }
}

/// The real block `n` and its derived transaction info from the fixtures.
pub fn real_block(fixtures: &Path, n: u64) -> TronBlock {
    let read = |name: String| -> Value {
        serde_json::from_slice(&std::fs::read(fixtures.join("tron").join(name)).unwrap()).unwrap()
    };
    TronBlock {
        height: n,
        block: read(format!("getblockbynum-{n}.json")),
        info: read(format!("gettransactioninfobyblocknum-{n}.derived.json")),
    }
}

/// TRON's USDT as a listed token.
pub fn usdt_tokens() -> Vec<paywatch::config::Token> {
    let usdt =
        paywatch::address::tron::parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
    vec![paywatch::config::Token {
        symbol: "USDT".into(),
        contract: usdt.key,
        display: usdt.display,
        decimals: 6,
    }]
}

/// A chain of `len` blocks from `base`, each linked to the one before; block
/// `i` carries the transactions of `content(i)` (or none). `tag` makes a
/// fork's block ids differ.
pub fn rewritten_chain(
    base: u64,
    len: usize,
    tag: u8,
    parent: Option<String>,
    content: impl Fn(usize) -> Option<TronBlock>,
    template: &TronBlock,
) -> Vec<TronBlock> {
    let mut out: Vec<TronBlock> = Vec::new();
    let mut prev =
        parent.unwrap_or_else(|| format!("{:016x}{}", base.wrapping_sub(1), "ab".repeat(24)));
    for i in 0..len {
        let height = base + i as u64;
        let source = content(i);
        let mut b = source.as_ref().unwrap_or(template).clone();
        if source.is_none() {
            b.block["transactions"] = json!([]);
            b.info = json!([]);
        }
        let id = format!("{height:016x}{:02x}{:02x}{}", tag, i % 256, "cd".repeat(22));
        b.height = height;
        b.block["blockID"] = json!(id);
        b.block["block_header"]["raw_data"]["number"] = json!(height);
        b.block["block_header"]["raw_data"]["parentHash"] = json!(prev);
        b.block["block_header"]["raw_data"]["timestamp"] =
            json!(1_713_150_507_000u64 + height * 3000);
        if let Some(list) = b.info.as_array_mut() {
            for e in list {
                e["blockNumber"] = json!(height);
            }
        }
        prev = id;
        out.push(b);
    }
    out
}

/// Gives the transactions of `b` ids unique to its height and `salt` (a
/// real block's content repeated along a chain is then new each time).
pub fn unique_ids(b: &mut TronBlock, salt: u32) {
    let tag = format!("{salt:08x}{:08x}", b.height);
    let retag = |v: &mut Value| {
        if let Some(id) = v.as_str().filter(|id| id.len() == 64) {
            *v = json!(format!("{tag}{}", &id[16..]));
        }
    };
    for tx in b.block["transactions"].as_array_mut().into_iter().flatten() {
        retag(&mut tx["txID"]);
    }
    for info in b.info.as_array_mut().into_iter().flatten() {
        retag(&mut info["id"]);
    }
}

/// Blocks `base + from ..` (`len` of them) of a synthetic chain after
/// `parent` (or from the start), fork `salt`: every tenth (not the first)
/// carries one of the `real` blocks' transactions, their ids made unique to the height and
/// fork; the others are empty.
pub fn synthetic_chain(
    real: &[TronBlock; 2],
    base: u64,
    from: usize,
    len: usize,
    salt: u32,
    parent: Option<&TronBlock>,
) -> Vec<TronBlock> {
    let content = |i: usize| {
        let h = from + i;
        (h != 0 && h.is_multiple_of(10)).then(|| {
            let mut b = real[(h / 10 + salt as usize) % 2].clone();
            b.height = base + h as u64;
            unique_ids(&mut b, salt);
            b
        })
    };
    rewritten_chain(
        base + from as u64,
        len,
        salt as u8,
        parent.map(|p| p.id()),
        content,
        &real[0],
    )
}

/// A block's answers as sent, serialized once: the server is then not
/// what limits a catch-up.
struct Sent {
    block: Bytes,
    info: Bytes,
}

struct State {
    blocks: Vec<TronBlock>,
    /// By height; kept across `set_blocks` for a block that did not change.
    sent: std::collections::HashMap<u64, Arc<Sent>>,
    /// The solidified block is this many below the tip.
    solid_lag: u64,
    fault: Option<Fault>,
    range_calls: u64,
}

pub struct TronReplay {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
}

impl TronReplay {
    pub async fn start(blocks: Vec<TronBlock>) -> TronReplay {
        let state = Arc::new(Mutex::new(State {
            blocks,
            sent: Default::default(),
            solid_lag: 19,
            fault: None,
            range_calls: 0,
        }));
        let refuse_state = state.clone();
        let st = state.clone();
        let (url, stop) = super::serve_http(
            move || refuse_state.lock().unwrap().fault == Some(Fault::Close),
            move |req| {
                let st = st.clone();
                async move { answer(&st, req).await }
            },
        )
        .await;
        TronReplay { url, state, stop }
    }

    pub fn set_blocks(&self, blocks: Vec<TronBlock>) {
        let mut s = self.state.lock().unwrap();
        let old = std::mem::take(&mut s.blocks);
        s.sent.retain(|h, _| {
            let same = |b: &&TronBlock| b.height == *h;
            match (old.iter().find(same), blocks.iter().find(same)) {
                (Some(a), Some(b)) => a.block == b.block && a.info == b.info,
                _ => false,
            }
        });
        s.blocks = blocks;
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = Some(fault).filter(|f| *f != Fault::None);
    }

    pub fn set_solid_lag(&self, lag: u64) {
        self.state.lock().unwrap().solid_lag = lag;
    }

    pub fn range_calls(&self) -> u64 {
        self.state.lock().unwrap().range_calls
    }

    pub fn tip(&self) -> u64 {
        self.state.lock().unwrap().blocks.last().unwrap().number()
    }

    pub fn chain_toml(&self, name: &str, start: u64, finality: &str) -> String {
        format!(
            "[[chain]]\nname = \"{name}\"\nkind = \"tron\"\nhttp_url = \"{}\"\nstart_height = {start}\n\
             {finality}\npoll_interval_ms = 50\nrpc_timeout_secs = 5\n",
            self.url
        )
    }
}

impl Drop for TronReplay {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn reply_sent(body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

async fn answer(
    state: &Arc<Mutex<State>>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let args: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let mut s = state.lock().unwrap();
    match s.fault {
        Some(Fault::Http500) => return reply(StatusCode::INTERNAL_SERVER_ERROR, &json!("busy")),
        Some(Fault::Garbage) => {
            return Response::new(Full::new(Bytes::from_static(b"{\"block_header\": [")))
        }
        Some(Fault::RpcError) => {
            return reply(
                StatusCode::OK,
                &json!({"Error": "class org.tron.core.exception.StoreException : db closed"}),
            )
        }
        _ => {}
    }
    let at = |s: &State, n: u64| s.blocks.iter().find(|b| b.number() == n).cloned();
    let sent = |s: &mut State, n: u64| -> Option<Arc<Sent>> {
        if let Some(r) = s.sent.get(&n) {
            return Some(r.clone());
        }
        let b = s.blocks.iter().find(|b| b.number() == n)?;
        let r = Arc::new(Sent {
            block: serde_json::to_vec(&b.block).unwrap().into(),
            info: serde_json::to_vec(&b.info).unwrap().into(),
        });
        s.sent.insert(n, r.clone());
        Some(r)
    };
    let empty = json!({});
    match path.as_str() {
        "/wallet/getnowblock" => reply(
            StatusCode::OK,
            s.blocks.last().map(|b| &b.block).unwrap_or(&empty),
        ),
        "/walletsolidity/getnowblock" => {
            let tip = s.blocks.last().map(TronBlock::number).unwrap_or(0);
            let solid = tip.saturating_sub(s.solid_lag);
            match at(&s, solid) {
                Some(b) => reply(StatusCode::OK, &b.block),
                None => reply(StatusCode::OK, &empty),
            }
        }
        "/wallet/getblockbynum" => {
            let n = args["num"].as_u64().unwrap_or(u64::MAX);
            match sent(&mut s, n) {
                Some(b) => reply_sent(b.block.clone()),
                None => reply(StatusCode::OK, &empty),
            }
        }
        "/wallet/getblockbyid" => {
            let id = args["value"].as_str().unwrap_or_default();
            match s.blocks.iter().find(|b| b.block["blockID"] == id) {
                Some(b) => reply(StatusCode::OK, &b.block),
                None => reply(StatusCode::OK, &empty),
            }
        }
        "/wallet/gettransactioninfobyblocknum" => {
            let n = args["num"].as_u64().unwrap_or(u64::MAX);
            match sent(&mut s, n) {
                Some(b) => reply_sent(b.info.clone()),
                None => reply(StatusCode::OK, &json!([])),
            }
        }
        "/wallet/getblockbylimitnext" => {
            s.range_calls += 1;
            let (a, b) = (
                args["startNum"].as_u64().unwrap_or(0),
                args["endNum"].as_u64().unwrap_or(0),
            );
            if b <= a || b - a > 100 {
                return reply(StatusCode::OK, &json!({"Error": "invalid range"}));
            }
            let mut body = b"{\"block\":[".to_vec();
            let mut first = true;
            for n in a..b {
                if let Some(sent) = sent(&mut s, n) {
                    if !first {
                        body.push(b',');
                    }
                    first = false;
                    body.extend_from_slice(&sent.block);
                }
            }
            body.extend_from_slice(b"]}");
            reply_sent(body.into())
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            &json!({"Error": format!("no endpoint {path}")}),
        ),
    }
}
