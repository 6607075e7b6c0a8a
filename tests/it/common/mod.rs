//! Test harness: a replay node speaking bitcoind's JSON-RPC over HTTP, a
//! builder for synthetic Bitcoin chains, the real fixtures, and a daemon
//! started in-process against a temporary data directory.
#![allow(dead_code)]

pub mod anvil;
pub mod evm;
pub mod large;
pub mod process;
pub mod proxy;
pub mod reorg;
pub mod servers;
pub mod tron;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

// ---- fixtures ---------------------------------------------------------------

/// The real-data folder, or `None` (with a note) when it is missing outside CI.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("PAYWATCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("btc").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "fixtures folder {} is missing (set PAYWATCH_FIXTURES)",
            dir.display()
        );
    }
    eprintln!("skipped: fixtures folder {} is missing", dir.display());
    None
}

// ---- HTTP servers -------------------------------------------------------------

/// Serves `handler` over HTTP/1 on a free 127.0.0.1 port until the returned
/// sender is dropped or set. While `refuse()` is true, connections are
/// accepted and closed at once, and a request on a kept-alive connection
/// closes it unanswered (a node that resets connections).
pub async fn serve_http<H, F>(
    refuse: impl Fn() -> bool + Send + Sync + 'static,
    handler: H,
) -> (String, watch::Sender<bool>)
where
    H: Fn(Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stop_rx) = watch::channel(false);
    let refuse = Arc::new(refuse);
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                _ = stop_rx.changed() => break,
            };
            if refuse() {
                drop(stream);
                continue;
            }
            let handler = handler.clone();
            let refuse = refuse.clone();
            let mut stop_conn = stop_rx.clone();
            tokio::spawn(async move {
                let conn = http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| {
                        // A kept-alive connection is closed unanswered too.
                        let refused = refuse();
                        let fut = handler(req);
                        async move {
                            if refused {
                                return Err("refused");
                            }
                            Ok(fut.await)
                        }
                    }),
                );
                tokio::select! {
                    _ = conn => {}
                    _ = stop_conn.changed() => {}
                }
            });
        }
    });
    (format!("http://{addr}"), stop)
}

// ---- replay node --------------------------------------------------------------

/// A fault the replay node injects into its answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    None,
    /// HTTP 500 with a non-JSON body.
    Http500,
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// A JSON-RPC error for every call.
    RpcError,
    /// Accepts, then closes the connection without answering.
    Close,
}

#[derive(Default)]
struct ChainState {
    /// Height of `best[0]`.
    base: u64,
    best: Vec<BlockHash>,
    /// Every block ever served, stale ones included (as a node keeps them).
    raw: HashMap<BlockHash, Bytes>,
    /// Serve `/rest/block/<hash>.bin`, as bitcoind with `-rest=1`.
    rest: bool,
    /// REST requests answered.
    rest_calls: u64,
    /// `raw` as hex, made on first request: a block is megabytes of it.
    hex: HashMap<BlockHash, Arc<String>>,
    fault: Option<Fault>,
    calls: u64,
    /// Unconfirmed transactions and their fees (sat), in arrival order.
    mempool: Vec<(Transaction, u64)>,
    /// As a pruned node (`-prune`): blocks below this height are gone.
    prune_height: Option<u64>,
}

impl ChainState {
    /// Height of the best block; `base - 1` while the chain is empty.
    fn tip(&self) -> u64 {
        (self.base + self.best.len() as u64).saturating_sub(1)
    }
}

/// bitcoind's JSON-RPC, over recorded or generated blocks.
pub struct ReplayNode {
    pub url: String,
    pub user: String,
    pub password: String,
    state: Arc<Mutex<ChainState>>,
    stop: watch::Sender<bool>,
    /// Messages for the ZMQ publisher: topic and body.
    zmq: Option<tokio::sync::mpsc::UnboundedSender<(&'static str, Vec<u8>)>>,
}

impl ReplayNode {
    /// Starts a node whose best chain is `blocks`, the first at `base`.
    pub async fn start(base: u64, blocks: &[Block]) -> ReplayNode {
        let node_state = Arc::new(Mutex::new(ChainState {
            base,
            ..Default::default()
        }));
        let refuse_state = node_state.clone();
        let state = node_state.clone();
        let (url, stop) = serve_http(
            move || refuse_state.lock().unwrap().fault == Some(Fault::Close),
            move |req| {
                let state = state.clone();
                async move { answer(&state, req).await }
            },
        )
        .await;
        let node = ReplayNode {
            url,
            user: "replay".into(),
            password: "replay-password".into(),
            state: node_state,
            stop,
            zmq: None,
        };
        node.set_chain(base, blocks);
        node
    }

    /// Publishes bitcoind's ZMQ `rawtx` and `sequence` topics on a free
    /// loopback port; returns the endpoint (`tcp://127.0.0.1:PORT`).
    pub async fn enable_zmq(&mut self) -> String {
        use zeromq::{Socket, SocketSend};
        let mut socket = zeromq::PubSocket::new();
        let endpoint = socket.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, Vec<u8>)>();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let mut seq: u32 = 0;
            loop {
                let (topic, body) = tokio::select! {
                    r = rx.recv() => match r { Some(r) => r, None => break },
                    _ = stop.changed() => break,
                };
                let mut m = zeromq::ZmqMessage::from(topic.as_bytes().to_vec());
                m.push_back(body.into());
                m.push_back(seq.to_le_bytes().to_vec().into());
                seq = seq.wrapping_add(1);
                let _ = socket.send(m).await;
            }
        });
        self.zmq = Some(tx);
        endpoint
    }

    /// Sends `tx` on the ZMQ `rawtx` topic (as bitcoind does when a
    /// transaction enters the mempool, and for each one of a new block).
    pub fn publish(&self, tx: &Transaction) {
        if let Some(z) = &self.zmq {
            let _ = z.send(("rawtx", bitcoin::consensus::serialize(tx)));
        }
    }

    /// Sends `hashblock` for `hash`, as bitcoind does when a block connects.
    pub fn publish_block(&self, hash: BlockHash) {
        if let Some(z) = &self.zmq {
            let mut body = hash.to_byte_array().to_vec();
            body.reverse();
            let _ = z.send(("hashblock", body));
        }
    }

    /// The chain section with `poll_interval_ms` replaced by `poll_ms` and
    /// `extra` lines added to the `[[chain]]` table.
    pub fn chain_toml_with(
        &self,
        name: &str,
        confirmations: u64,
        poll_ms: u64,
        extra: &str,
    ) -> String {
        self.chain_toml(name, "regtest", 1, confirmations).replace(
            "poll_interval_ms = 50\n",
            &format!("poll_interval_ms = {poll_ms}\n{extra}"),
        )
    }

    /// Sends a `sequence` removal (`R`) for `txid`, as bitcoind does when a
    /// transaction leaves the mempool other than by a block.
    pub fn publish_removed(&self, txid: bitcoin::Txid) {
        if let Some(z) = &self.zmq {
            let mut body = txid.to_byte_array().to_vec();
            body.reverse();
            body.push(b'R');
            body.extend_from_slice(&0u64.to_le_bytes());
            let _ = z.send(("sequence", body));
        }
    }

    /// Replaces `old` by `new` (fee `fee` sat) in one step, and publishes
    /// the removal and then the newcomer, in bitcoind's order.
    pub fn mempool_replace(&self, old: bitcoin::Txid, new: &Transaction, fee: u64) {
        {
            let mut s = self.state.lock().unwrap();
            s.mempool.retain(|(t, _)| t.compute_txid() != old);
            s.mempool.push((new.clone(), fee));
        }
        self.publish_removed(old);
        self.publish(new);
    }

    /// Accepts `tx` into the mempool with `fee` sat, and publishes it.
    pub fn mempool_add(&self, tx: &Transaction, fee: u64) {
        self.state.lock().unwrap().mempool.push((tx.clone(), fee));
        self.publish(tx);
    }

    /// Removes a transaction from the mempool silently (evicted, expired,
    /// or replaced where the replacement comes separately).
    pub fn mempool_remove(&self, txid: bitcoin::Txid) {
        self.state
            .lock()
            .unwrap()
            .mempool
            .retain(|(t, _)| t.compute_txid() != txid);
    }

    pub fn mempool_txids(&self) -> Vec<bitcoin::Txid> {
        self.state
            .lock()
            .unwrap()
            .mempool
            .iter()
            .map(|(t, _)| t.compute_txid())
            .collect()
    }

    /// Replaces the best chain (a reorg when it shares a prefix with the old one).
    pub fn set_chain(&self, base: u64, blocks: &[Block]) {
        let mut s = self.state.lock().unwrap();
        s.base = base;
        s.best = blocks.iter().map(|b| b.block_hash()).collect();
        for b in blocks {
            s.raw
                .insert(b.block_hash(), bitcoin::consensus::serialize(b).into());
        }
        // Mined transactions, and those conflicting with them, leave the
        // mempool.
        if s.mempool.is_empty() {
            return;
        }
        let (mined, spent) = best_chain_spends(&s);
        s.mempool.retain(|(t, _)| {
            !mined.contains(&t.compute_txid())
                && !t.input.iter().any(|i| spent.contains(&i.previous_output))
        });
    }

    /// As a node restarted on an older copy of its data: it knows only
    /// `blocks` (not the blocks it served before).
    pub fn restart_on(&self, base: u64, blocks: &[Block]) {
        {
            let mut s = self.state.lock().unwrap();
            s.raw.clear();
            s.hex.clear();
        }
        self.set_chain(base, blocks);
    }

    /// As a pruned node: `getblockchaininfo` says so, and the blocks
    /// below `height` are no longer served.
    pub fn prune_below(&self, height: u64) {
        self.state.lock().unwrap().prune_height = Some(height);
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = Some(fault).filter(|f| *f != Fault::None);
    }

    pub fn calls(&self) -> u64 {
        self.state.lock().unwrap().calls
    }

    /// Serves blocks over REST too, as bitcoind with `-rest=1`.
    pub fn enable_rest(&self) {
        self.state.lock().unwrap().rest = true;
    }

    /// Blocks served over REST.
    pub fn rest_calls(&self) -> u64 {
        self.state.lock().unwrap().rest_calls
    }

    pub fn tip(&self) -> u64 {
        self.state.lock().unwrap().tip()
    }

    /// The `[[chain]]` section for a daemon scanning this node.
    pub fn chain_toml(&self, name: &str, network: &str, start: u64, confirmations: u64) -> String {
        format!(
            "[[chain]]\nname = \"{name}\"\nkind = \"bitcoin\"\nnetwork = \"{network}\"\n\
             rpc_url = \"{}\"\nrpc_user = \"{}\"\nrpc_password = \"{}\"\n\
             start_height = {start}\nconfirmations = {confirmations}\npoll_interval_ms = 50\n\
             rpc_timeout_secs = 5\nprefetch = 8\n",
            self.url, self.user, self.password
        )
    }
}

impl Drop for ReplayNode {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn rpc_result(id: &Value, result: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&json!({"result": result, "error": null, "id": id})).unwrap(),
    )));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(
            &json!({"result": null, "error": {"code": code, "message": message}, "id": id}),
        )
        .unwrap(),
    )));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// bitcoind's `GET /rest/block/<hash>.bin` (no authentication, as there).
fn rest_block(state: &Arc<Mutex<ChainState>>, hash: &str) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    let mut s = state.lock().unwrap();
    if !s.rest {
        return reply(StatusCode::NOT_FOUND, Bytes::new());
    }
    s.calls += 1;
    match s.fault {
        Some(Fault::Http500) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(b"overloaded"),
            )
        }
        Some(Fault::Garbage) => {
            return reply(StatusCode::OK, Bytes::from_static(b"\x01\x00garbage"))
        }
        Some(Fault::RpcError) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"Service temporarily unavailable: Loading block index..."),
            )
        }
        _ => {}
    }
    let raw = hash
        .parse::<BlockHash>()
        .ok()
        .and_then(|h| s.raw.get(&h).cloned());
    match raw {
        Some(raw) => {
            s.rest_calls += 1;
            let mut r = reply(StatusCode::OK, raw);
            r.headers_mut()
                .insert("content-type", "application/octet-stream".parse().unwrap());
            r
        }
        None => reply(
            StatusCode::NOT_FOUND,
            Bytes::from(format!("{hash} not found")),
        ),
    }
}

async fn answer(
    state: &Arc<Mutex<ChainState>>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(hash) = req
        .uri()
        .path()
        .strip_prefix("/rest/block/")
        .and_then(|p| p.strip_suffix(".bin"))
    {
        return rest_block(state, hash);
    }
    let auth_ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            use base64::Engine;
            let expected =
                base64::engine::general_purpose::STANDARD.encode(b"replay:replay-password");
            v == format!("Basic {expected}")
        });
    if !auth_ok {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let fault = {
        let mut s = state.lock().unwrap();
        s.calls += 1;
        s.fault
    };
    match fault {
        Some(Fault::Http500) => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"<html>overloaded</html>")));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
        Some(Fault::Garbage) => {
            return Response::new(Full::new(Bytes::from_static(b"{\"result\": [1, 2")))
        }
        _ => {}
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return rpc_error(&Value::Null, -32700, "Parse error"),
    };
    let id = req["id"].clone();
    if fault == Some(Fault::RpcError) {
        return rpc_error(&id, -28, "Loading block index...");
    }
    let params = req["params"].as_array().cloned().unwrap_or_default();
    let mut s = state.lock().unwrap();
    let tip = s.tip();
    match req["method"].as_str().unwrap_or("") {
        "getblockcount" => rpc_result(&id, json!(tip)),
        "getblockchaininfo" => {
            let mut info =
                json!({"chain": "regtest", "blocks": tip, "pruned": s.prune_height.is_some()});
            if let Some(p) = s.prune_height {
                info["pruneheight"] = json!(p);
            }
            rpc_result(&id, info)
        }
        "getbestblockhash" => match s.best.last() {
            Some(h) => rpc_result(&id, json!(h.to_string())),
            None => rpc_error(&id, -1, "no blocks"),
        },
        "getblockhash" => {
            let h = params.first().and_then(Value::as_u64).unwrap_or(u64::MAX);
            if h < s.base || h > tip || s.best.is_empty() {
                return rpc_error(&id, -8, "Block height out of range");
            }
            rpc_result(&id, json!(s.best[(h - s.base) as usize].to_string()))
        }
        "getblock" => {
            let hash: Option<BlockHash> = params
                .first()
                .and_then(Value::as_str)
                .and_then(|h| h.parse().ok());
            let verbosity = params.get(1).and_then(Value::as_u64).unwrap_or(1);
            let height = hash
                .and_then(|h| s.best.iter().position(|b| *b == h))
                .map(|i| s.base + i as u64);
            if let (Some(p), Some(h)) = (s.prune_height, height) {
                if h < p {
                    // bitcoind's answer for a pruned block.
                    return rpc_error(&id, -1, "Block not available (pruned data)");
                }
            }
            let st = &mut *s;
            match hash.and_then(|h| Some((h, st.raw.get(&h)?))) {
                Some((h, raw)) if verbosity == 0 => {
                    let hex = st
                        .hex
                        .entry(h)
                        .or_insert_with(|| Arc::new(const_hex::encode(raw)));
                    // Written directly: a block is megabytes of hex.
                    let body = format!(r#"{{"result":"{hex}","error":null,"id":{id}}}"#);
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    r.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    r
                }
                Some(_) => rpc_error(&id, -8, "replay node serves verbosity 0 only"),
                None => rpc_error(&id, -5, "Block not found"),
            }
        }
        "getblockheader" => {
            let hash: Option<BlockHash> = params
                .first()
                .and_then(Value::as_str)
                .and_then(|h| h.parse().ok());
            match hash.filter(|h| s.raw.contains_key(h)) {
                Some(h) => {
                    let at = s.best.iter().position(|b| *b == h);
                    let confirmations = at.map_or(-1, |i| (s.best.len() - i) as i64);
                    rpc_result(
                        &id,
                        json!({"hash": h.to_string(), "confirmations": confirmations}),
                    )
                }
                None => rpc_error(&id, -5, "Block not found"),
            }
        }
        other => mempool_answer(&s, &id, other, &params)
            .unwrap_or_else(|| rpc_error(&id, -32601, &format!("Method not found: {other}"))),
    }
}

/// Every transaction of the best chain, and every outpoint it spends.
fn best_chain_spends(
    s: &ChainState,
) -> (
    std::collections::HashSet<bitcoin::Txid>,
    std::collections::HashSet<OutPoint>,
) {
    let mut mined = std::collections::HashSet::new();
    let mut spent = std::collections::HashSet::new();
    for h in &s.best {
        let b: Block = bitcoin::consensus::deserialize(&s.raw[h]).unwrap();
        for t in &b.txdata {
            mined.insert(t.compute_txid());
            for i in &t.input {
                spent.insert(i.previous_output);
            }
        }
    }
    (mined, spent)
}

/// The mempool RPCs: `getrawmempool`, `getrawtransaction`,
/// `getmempoolentry`, `gettxout`.
fn mempool_answer(
    s: &ChainState,
    id: &Value,
    method: &str,
    params: &[Value],
) -> Option<Response<Full<Bytes>>> {
    let txid_param = || -> Option<bitcoin::Txid> { params.first()?.as_str()?.parse().ok() };
    Some(match method {
        "getrawmempool" => rpc_result(
            id,
            json!(s
                .mempool
                .iter()
                .map(|(t, _)| t.compute_txid().to_string())
                .collect::<Vec<_>>()),
        ),
        "getrawtransaction" => {
            let want = txid_param();
            let from_pool = s
                .mempool
                .iter()
                .find(|(t, _)| Some(t.compute_txid()) == want)
                .map(|(t, _)| t.clone());
            let found = from_pool.or_else(|| {
                s.best.iter().find_map(|h| {
                    let b: Block = bitcoin::consensus::deserialize(&s.raw[h]).unwrap();
                    b.txdata
                        .into_iter()
                        .find(|t| Some(t.compute_txid()) == want)
                })
            });
            match found {
                Some(t) => rpc_result(id, json!(hex::encode(bitcoin::consensus::serialize(&t)))),
                None => rpc_error(id, -5, "No such mempool or blockchain transaction"),
            }
        }
        "getmempoolentry" => {
            let want = txid_param();
            match s
                .mempool
                .iter()
                .find(|(t, _)| Some(t.compute_txid()) == want)
            {
                Some((t, fee)) => {
                    let in_pool: Vec<String> = t
                        .input
                        .iter()
                        .map(|i| i.previous_output.txid)
                        .filter(|p| s.mempool.iter().any(|(m, _)| m.compute_txid() == *p))
                        .map(|p| p.to_string())
                        .collect();
                    rpc_result(
                        id,
                        json!({
                            "vsize": t.vsize(),
                            "fees": {"base": *fee as f64 / 1e8},
                            "depends": in_pool,
                            "bip125-replaceable": t.input.iter().any(|i| i.sequence.0 < 0xffff_fffe),
                        }),
                    )
                }
                None => rpc_error(id, -5, "Transaction not in mempool"),
            }
        }
        "gettxout" => {
            let (Some(txid), Some(vout)) = (txid_param(), params.get(1).and_then(Value::as_u64))
            else {
                return Some(rpc_error(id, -8, "bad parameters"));
            };
            let include_mempool = params.get(2).and_then(Value::as_bool).unwrap_or(true);
            let op = OutPoint {
                txid,
                vout: vout as u32,
            };
            let (mined, spent) = best_chain_spends(s);
            let spent_in_pool = include_mempool
                && s.mempool
                    .iter()
                    .any(|(t, _)| t.input.iter().any(|i| i.previous_output == op));
            let exists = mined.contains(&txid)
                || (include_mempool && s.mempool.iter().any(|(t, _)| t.compute_txid() == txid));
            if !exists || spent.contains(&op) || spent_in_pool {
                rpc_result(id, Value::Null)
            } else {
                rpc_result(
                    id,
                    json!({"value": 0.0001, "confirmations": 1, "coinbase": false}),
                )
            }
        }
        _ => return None,
    })
}

// ---- synthetic chains -----------------------------------------------------------

/// The BIP-84 account key of the "abandon … about" test mnemonic
/// (m/84'/0'/0'), re-encoded with the testnet version bytes (vpub) so that
/// it derives the same keys for regtest.
pub fn bip84_vpub() -> String {
    let zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
    let mut raw = bs58::decode(zpub).with_check(None).into_vec().unwrap();
    raw[..4].copy_from_slice(&[0x04, 0x5f, 0x1c, 0xf6]);
    bs58::encode(raw).with_check().into_string()
}

/// A coinbase paying `value` sat to `script`; `tag` makes it unique.
pub fn coinbase(height: u64, tag: u32, script: ScriptBuf, value: u64) -> Transaction {
    let mut sig = bitcoin::script::Builder::new()
        .push_int(height as i64)
        .push_int(i64::from(tag))
        .into_script();
    if sig.len() < 2 {
        sig = ScriptBuf::from_bytes(vec![0x51, 0x51]);
    }
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: script,
        }],
    }
}

/// A transaction spending `inputs` into `outputs`.
pub fn spend(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect(),
    }
}

/// A block on top of `prev` holding `txs` (the first must be a coinbase).
pub fn block(prev: BlockHash, time: u32, txs: Vec<Transaction>) -> Block {
    let mut b = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: txs,
    };
    b.header.merkle_root = b.compute_merkle_root().unwrap();
    b
}

/// A script nobody watches, distinct per `n`.
pub fn filler_script(n: u32) -> ScriptBuf {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h[19] = 0xee;
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(h))
}

/// A P2WPKH script for test wallet `n`.
pub fn wallet_script(n: u32) -> ScriptBuf {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h[19] = 0x77;
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(h))
}

/// The regtest address of a script.
pub fn regtest_address(script: &ScriptBuf) -> String {
    bitcoin::Address::from_script(script, bitcoin::Network::Regtest)
        .unwrap()
        .to_string()
}

/// Extends `chain` (whose last block is at height `base + len - 1`) by `n`
/// blocks of coinbases to filler scripts; `tag` makes a fork's blocks differ.
pub fn extend(chain: &mut Vec<Block>, base: u64, n: usize, tag: u32) {
    for _ in 0..n {
        let height = base + chain.len() as u64;
        let prev = chain
            .last()
            .map(|b| b.block_hash())
            .unwrap_or_else(BlockHash::all_zeros);
        let time = 1_700_000_000 + height as u32 * 600;
        chain.push(block(
            prev,
            time,
            vec![coinbase(
                height,
                tag,
                filler_script(height as u32),
                50_0000_0000,
            )],
        ));
    }
}

/// The ids of the transactions of `chain` that pay `to`.
pub fn payments_to(chain: &[Block], to: &ScriptBuf) -> std::collections::HashSet<String> {
    chain
        .iter()
        .flat_map(|b| b.txdata.iter())
        .filter(|t| t.output.iter().any(|o| o.script_pubkey == *to))
        .map(|t| t.compute_txid().to_string())
        .collect()
}

/// A payment of `value` to `to` from a made-up outpoint `seed`.
pub fn payment_to(seed: u32, to: &ScriptBuf, value: u64) -> Transaction {
    let fake_prev = OutPoint {
        txid: bitcoin::Txid::from_byte_array([seed as u8; 32]),
        vout: seed,
    };
    spend(
        &[fake_prev],
        &[(to.clone(), value), (filler_script(seed + 9000), 1234)],
    )
}

/// Cuts `chain` to `keep` blocks and grows it by `n` blocks marked `tag`,
/// with payments to `watched` and spends of them.
pub fn grow(chain: &mut Vec<Block>, keep: usize, n: usize, tag: u32, watched: &ScriptBuf) {
    chain.truncate(keep);
    let from = chain.len();
    extend(chain, 0, n, tag);
    let mut unspent: Vec<OutPoint> = Vec::new();
    for (i, b) in chain.iter_mut().enumerate().skip(from.max(1)) {
        let mut txs = Vec::new();
        let seed = i as u32 * 31 + tag;
        if i.is_multiple_of(5) {
            let tx = payment_to(seed, watched, 10_000 + u64::from(seed));
            unspent.push(OutPoint {
                txid: tx.compute_txid(),
                vout: 0,
            });
            txs.push(tx);
        }
        if i.is_multiple_of(9) {
            if let Some(op) = unspent.pop() {
                txs.push(spend(&[op], &[(filler_script(seed), 5_000)]));
            }
        }
        if !txs.is_empty() {
            let mut all = b.txdata.clone();
            all.extend(txs);
            *b = block(b.header.prev_blockhash, b.header.time, all);
        }
    }
    for i in from.max(1)..chain.len() {
        let prev = chain[i - 1].block_hash();
        let b = &chain[i];
        chain[i] = block(prev, b.header.time, b.txdata.clone());
    }
}

// ---- daemon ---------------------------------------------------------------------

/// A paywatch daemon running in-process on a temporary data directory.
pub struct Daemon {
    pub url: String,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The config text for a data dir and chain sections.
pub fn config_text(data_dir: &std::path::Path, chains: &[String]) -> String {
    format!(
        "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n\n{}",
        data_dir.display(),
        chains.join("\n")
    )
}

impl Daemon {
    pub async fn start(config_text: &str) -> Daemon {
        // The daemon's log, shown with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .try_init();
        let config =
            paywatch::config::Config::parse(config_text, std::path::Path::new("/tmp/test.toml"))
                .expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(paywatch::daemon::run_with_listener(
            config, listener, stop_rx,
        ));
        Daemon {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .unwrap(),
            stop,
            task: Some(task),
        }
    }

    /// Stops the daemon and waits until it has closed its store.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(format!("{}/metrics", self.url)).send().await;
        r.unwrap().text().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn watch(&self, chain: &str, address: &str, label: &str) {
        let (status, body) = self
            .post_json(
                "/v1/watches",
                &json!({"chain": chain, "address": address, "label": label, "metadata": {"order": label}}),
            )
            .await;
        assert_eq!(status, 201, "watch {address}: {body}");
    }

    pub async fn chain_status(&self, chain: &str) -> Value {
        let (_, s) = self.get("/v1/status").await;
        s["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["chain"] == chain)
            .cloned()
            .unwrap()
    }

    /// Waits until `chain` has indexed `height`.
    pub async fn wait_indexed(&self, chain: &str, height: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.chain_status(chain).await;
            if s["indexed_height"].as_u64() == Some(height)
                && s["node_tip"].as_u64() == Some(height)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chain {chain} did not reach height {height}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Posts an NDJSON watch batch; returns the status and answer.
    pub async fn watch_batch(&self, ndjson: String) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/watches:batch", self.url))
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls the events feed until `f` holds for all events so far (60 s at most).
    pub async fn events_until(&self, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ev = self.events().await;
            if f(&ev) {
                return ev;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {ev:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every event so far.
    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (_, b) = self
                .get(&format!("/v1/events?after={after}&limit=1000"))
                .await;
            let list = b["events"].as_array().unwrap().clone();
            if list.is_empty() {
                return all;
            }
            after = list.last().unwrap()["seq"].as_u64().unwrap();
            all.extend(list);
        }
    }

    /// Polls invoice `id` until its status is `status` (30 s at most).
    pub async fn invoice_until(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, inv) = self.get(&format!("/v1/invoices/{id}")).await;
            if inv["status"] == status {
                return inv;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "invoice {id} never became {status}: {inv:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn transfers(&self, chain: &str, address: &str) -> Vec<Value> {
        let (status, b) = self
            .get(&format!(
                "/v1/transfers?chain={chain}&address={address}&limit=1000"
            ))
            .await;
        assert_eq!(status, 200, "{b}");
        b["transfers"].as_array().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// `(type, txid, index, direction)` of each event, for comparisons.
/// The types of the invoice events about invoice `id`, in feed order.
pub fn invoice_event_types(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["invoice"]["id"] == id)
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

pub fn event_keys(events: &[Value]) -> Vec<(String, String, u64, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["txid"].as_str().unwrap().to_string(),
                e["index"].as_u64().unwrap(),
                e["direction"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---- plugins --------------------------------------------------------------------

/// The example plugin `name` built for wasm32-wasip1 (`plugins/dist/NAME.wasm`);
/// the first call in a test binary builds them with `scripts/build-plugins.sh`.
pub fn plugin_wasm(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    BUILT.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .current_dir(&root)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "building the example plugins failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = root.join("plugins/dist").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}
