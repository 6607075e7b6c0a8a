//! Bitcoin: blocks from bitcoind's JSON-RPC (`getblockhash`, `getblock <hash> 0`)
//! through bitcoincore-rpc, decoded with the `bitcoin` crate and matched on
//! scriptPubKey bytes, so every script type can be watched. Spends of watched
//! outputs are recorded as outgoing transfers.

use super::rpc::RpcClient;
use super::skim::Skim;
use super::{error_chain, Block, DecodeError, Decoder, Node, NodeError};
use crate::address::bitcoin::display_script;
use crate::address::AddressKey;
use crate::config::{BitcoinConfig, RpcAuth};
use crate::store::{Store, StoreError};
use crate::transfer::{Asset, BlockRef, Direction, Hash32, Transfer, TransferStatus, WatchRef};
use crate::watch::{Lookup, Matcher};
use bitcoin::hashes::Hash;
use bitcoin::{Network, OutPoint, ScriptBuf, Txid};
use bitcoincore_rpc::Auth;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub mod counterparty;
pub mod walk;

/// The asset of every Bitcoin transfer.
pub fn btc_asset() -> Asset {
    Asset {
        symbol: "BTC".into(),
        decimals: 8,
        contract: None,
    }
}

/// A txid or block hash in the byte order explorers show.
pub(crate) fn display_hash(internal: [u8; 32]) -> Hash32 {
    let mut b = internal;
    b.reverse();
    Hash32::new(b)
}

pub(crate) fn txid_of(h: &Hash32) -> Txid {
    let mut b = h.bytes;
    b.reverse();
    Txid::from_byte_array(b)
}

/// A watched output that has been received, kept to recognise its spend.
#[derive(Clone, Debug)]
pub(super) struct Received {
    amount: u64,
    address: String,
    address_key: AddressKey,
    watch: WatchRef,
}

impl Received {
    /// The forms of a watched `script`, remembered per block while scanning.
    fn watched(network: Network, script: &[u8], w: &crate::transfer::WatchRecord) -> Arc<Self> {
        Arc::new(Received {
            amount: 0,
            address: display_script(network, script),
            address_key: AddressKey::Script(ScriptBuf::from_bytes(script.to_vec())),
            watch: w.as_ref(),
        })
    }

    fn of(t: &Transfer) -> Option<(OutPoint, Received)> {
        let amount = t.amount.to_u64()?;
        Some((
            OutPoint {
                txid: txid_of(&t.txid),
                vout: t.index,
            },
            Received {
                amount,
                address: t.address.clone(),
                address_key: t.address_key.clone(),
                watch: t.watch.clone(),
            },
        ))
    }
}

/// Watched outputs received so far, by outpoint.
#[derive(Default)]
pub struct Spends {
    received: foldhash::HashMap<OutPoint, Received>,
}

impl Spends {
    pub fn len(&self) -> usize {
        self.received.len()
    }

    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// Remembers an incoming transfer's output, so that its spend is seen.
    pub fn record(&mut self, t: &Transfer) {
        if t.direction == Direction::In {
            if let Some((op, r)) = Received::of(t) {
                self.received.insert(op, r);
            }
        }
    }
}

/// The sender of `tx`: the address its first input spends from, when
/// paywatch indexed that output (`spent` lists the inputs that spend
/// watched outputs) or the input's script and witness tell it (see
/// [`counterparty`]).
pub(super) fn tx_sender(
    network: Network,
    tx: &bitcoin::Transaction,
    spent: &[(u32, &Received)],
) -> Option<String> {
    if tx.is_coinbase() {
        return None;
    }
    if let Some((_, r)) = spent.iter().find(|(vin, _)| *vin == 0) {
        return Some(r.address.clone());
    }
    let input = tx.input.first()?;
    let witness: Vec<&[u8]> = input.witness.iter().collect();
    counterparty::sender(network, input.script_sig.as_bytes(), &witness)
}

/// Matches every output of `block` against `watches` and every input against
/// the outputs received before (`spends`) or earlier in this block.
pub fn scan_block(
    chain: &str,
    network: Network,
    height: u64,
    block: &bitcoin::Block,
    watches: &impl Lookup,
    spends: &Spends,
) -> Result<Block, StoreError> {
    let hash = display_hash(block.block_hash().to_byte_array());
    let block_ref = BlockRef {
        height,
        hash,
        time: u64::from(block.header.time),
    };
    let mut transfers = Vec::new();
    let mut in_block: HashMap<OutPoint, Received> = HashMap::new();
    let mut hits: HashMap<&[u8], Arc<Received>> = HashMap::new();
    for tx in &block.txdata {
        let mut txid: Option<Txid> = None;
        // Outputs are matched first, so that a spend's receiver can skip
        // the transaction's own watched outputs; transfers are still listed
        // spends first.
        let mut paid: Vec<(u32, Arc<Received>)> = Vec::new();
        for (vout, out) in tx.output.iter().enumerate() {
            let script = out.script_pubkey.as_bytes();
            // A watched address paid many times in one block is looked up,
            // and its forms computed, once.
            // Only positives are remembered: negatives are already cheap (the
            // bloom filter) and far too many to keep.
            let hit = match hits.get(script) {
                Some(h) => Some(h.clone()),
                None => watches.lookup(script)?.map(|w| {
                    let h = Received::watched(network, script, &w);
                    hits.insert(script, h.clone());
                    h
                }),
            };
            if let Some(w) = hit {
                paid.push((vout as u32, w));
            }
        }
        let mut spent: Vec<(u32, &Received)> = Vec::new();
        if !spends.is_empty() || !in_block.is_empty() {
            for (vin, input) in tx.input.iter().enumerate() {
                let prev = &input.previous_output;
                if let Some(r) = spends.received.get(prev).or_else(|| in_block.get(prev)) {
                    spent.push((vin as u32, r));
                }
            }
        }
        if !spent.is_empty() {
            let id = *txid.get_or_insert_with(|| tx.compute_txid());
            let to = counterparty::receiver(
                network,
                tx.output.iter().map(|o| o.script_pubkey.as_bytes()),
                |vout| paid.iter().any(|(v, _)| *v as usize == vout),
            );
            for (vin, r) in &spent {
                transfers.push(Transfer {
                    chain: chain.to_string(),
                    txid: display_hash(id.to_byte_array()),
                    index: *vin,
                    direction: Direction::Out,
                    address: r.address.clone(),
                    address_key: r.address_key.clone(),
                    counterparty: to.clone(),
                    asset: btc_asset(),
                    amount: r.amount.into(),
                    block: block_ref,
                    status: TransferStatus::Detected,
                    watch: r.watch.clone(),
                    risk: Default::default(),
                });
            }
        }
        if paid.is_empty() {
            continue;
        }
        let id = *txid.get_or_insert_with(|| tx.compute_txid());
        let from = tx_sender(network, tx, &spent);
        for (vout, w) in paid {
            let t = Transfer {
                chain: chain.to_string(),
                txid: display_hash(id.to_byte_array()),
                index: vout,
                direction: Direction::In,
                address: w.address.clone(),
                address_key: w.address_key.clone(),
                counterparty: from.clone(),
                asset: btc_asset(),
                amount: tx.output[vout as usize].value.to_sat().into(),
                block: block_ref,
                status: TransferStatus::Detected,
                watch: w.watch.clone(),
                risk: Default::default(),
            };
            if let Some((op, r)) = Received::of(&t) {
                in_block.insert(op, r);
            }
            transfers.push(t);
        }
    }
    Ok(Block {
        height,
        hash,
        parent: display_hash(block.header.prev_blockhash.to_byte_array()),
        time: block_ref.time,
        transfers,
        freezes: Vec::new(),
        skipped: 0,
    })
}

// ---- decoder --------------------------------------------------------------

pub struct BitcoinDecoder {
    chain: String,
    network: Network,
    matcher: Arc<Matcher>,
    spends: Spends,
}

impl BitcoinDecoder {
    pub fn new(
        chain: &str,
        network: Network,
        matcher: Arc<Matcher>,
        store: &Store,
    ) -> Result<Self, StoreError> {
        let mut spends = Spends::default();
        for t in store.received_transfers(chain)? {
            if let Some((op, r)) = Received::of(&t) {
                spends.received.insert(op, r);
            }
        }
        Ok(BitcoinDecoder {
            chain: chain.to_string(),
            network,
            matcher,
            spends,
        })
    }
}

impl Decoder for BitcoinDecoder {
    type Raw = Vec<u8>;

    fn decode(&mut self, height: u64, raw: Vec<u8>) -> Result<Block, DecodeError> {
        walk::scan_raw(
            &self.chain,
            self.network,
            height,
            &raw,
            self.matcher.as_ref(),
            &self.spends,
        )
    }

    fn committed(&mut self, block: &Block) {
        for t in &block.transfers {
            if t.direction == Direction::In {
                if let Some((op, r)) = Received::of(t) {
                    self.spends.received.insert(op, r);
                }
            }
        }
    }

    fn rewound(&mut self, removed: &[Transfer]) {
        for t in removed {
            if t.direction == Direction::In {
                self.spends.received.remove(&OutPoint {
                    txid: txid_of(&t.txid),
                    vout: t.index,
                });
            }
        }
    }
}

// ---- node -----------------------------------------------------------------

/// bitcoind over JSON-RPC and REST, through one HTTP client whose
/// connections are kept for the requests in flight. The credentials (the
/// cookie file, which bitcoind rewrites when it restarts) are read for each
/// request.
///
/// Not bitcoincore-rpc's own transports: minreq reads an answer a byte at a
/// time (18 ms for the 3 MB of hex of a full block, the whole cost of a
/// catch-up), and reported a connection closed without an answer as an
/// HTTP error rather than an unreachable node.
#[derive(Clone)]
pub struct BitcoinNode {
    cfg: Arc<BitcoinConfig>,
    http: reqwest::Client,
    rpc: RpcClient,
    /// Blocks come from the REST interface (`-rest=1`): binary, half the
    /// bytes of hex, and no JSON. Cleared, with JSON-RPC used from then
    /// on, once a block REST did not find is served over JSON-RPC (REST is
    /// off on that node).
    rest: Arc<std::sync::atomic::AtomicBool>,
    /// The node's request rate and pauses, for REST as for RPC.
    limits: Arc<super::limit::Limits>,
}

impl BitcoinNode {
    pub fn new(cfg: BitcoinConfig, size: usize) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.rpc_timeout)
            .pool_max_idle_per_host(size.max(1))
            .build()
            .unwrap_or_default();
        let limits = Arc::new(super::limit::Limits::new(cfg.max_rps));
        let rpc = RpcClient::new(
            http.clone(),
            cfg.rpc_url.clone(),
            "1.0",
            cfg.rpc_timeout,
            limits.clone(),
        );
        BitcoinNode {
            cfg: Arc::new(cfg),
            http,
            rpc,
            limits,
            rest: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    fn credentials(&self) -> Result<(String, String), NodeError> {
        let auth = match &self.cfg.auth {
            RpcAuth::Cookie(p) => Auth::CookieFile(p.clone()),
            RpcAuth::UserPass { user, password } => {
                Auth::UserPass(user.clone(), password.expose().to_string())
            }
        };
        let (user, pass) = auth
            .get_user_pass()
            .map_err(|e| NodeError::Unreachable(format!("cannot read RPC credentials: {e}")))?;
        Ok((user.unwrap_or_default(), pass.unwrap_or_default()))
    }

    /// `GET /rest/block/<hash>.bin`: the block's raw bytes, or `None` when
    /// the node answers 404 (REST is off, or the block is unknown).
    async fn rest_block(&self, hash: &bitcoin::BlockHash) -> Result<Option<Vec<u8>>, NodeError> {
        let mut url = self.cfg.rpc_url.clone();
        url.set_path(&format!("/rest/block/{hash}.bin"));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        self.limits.ready().await;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(error_chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.limits
                .pause(super::limit::retry_after(response.headers()));
            return Err(NodeError::RateLimited(format!(
                "REST block {hash}: HTTP 429"
            )));
        }
        if !status.is_success() {
            return Err(NodeError::Rpc(format!(
                "REST block {hash}: HTTP {}",
                status.as_u16()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| NodeError::Unreachable(error_chain(&e)))?;
        Ok(Some(Vec::from(body)))
    }

    /// The block's raw bytes: over REST while the node serves it, else
    /// `getblock`.
    async fn block(&self, hash: &bitcoin::BlockHash) -> Result<Vec<u8>, NodeError> {
        use std::sync::atomic::Ordering;
        if !self.rest.load(Ordering::Relaxed) {
            return self.block_bytes(hash).await;
        }
        if let Some(raw) = self.rest_block(hash).await? {
            return Ok(raw);
        }
        let raw = self.block_bytes(hash).await?;
        if self.rest.swap(false, Ordering::Relaxed) {
            tracing::info!(
                "the node's REST interface is off (start bitcoind with -rest=1 for faster blocks); using JSON-RPC getblock"
            );
        }
        Ok(raw)
    }

    /// One JSON-RPC call; its result as the node wrote it (`None` for
    /// null), read in place: a block's hex is megabytes.
    async fn rpc_raw(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<Option<super::RawJson>, NodeError> {
        let auth = self.credentials()?;
        self.rpc.call_raw(method, params, Some(auth)).await
    }

    /// One JSON-RPC call whose result is read as `T`.
    async fn rpc<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, NodeError> {
        let auth = self.credentials()?;
        self.rpc.call(method, params, Some(auth)).await
    }

    /// `getblock <hash> 0`: the block's raw bytes.
    async fn block_bytes(&self, hash: &bitcoin::BlockHash) -> Result<Vec<u8>, NodeError> {
        let raw = self
            .rpc_raw("getblock", serde_json::json!([hash.to_string(), 0]))
            .await?
            .ok_or_else(|| NodeError::Invalid(format!("getblock {hash} answered no block")))?;
        let hex = Skim::new(raw.as_bytes())
            .str()
            .map_err(|e| NodeError::Invalid(format!("block {hash} is not a string: {e}")))?;
        const_hex::decode(hex.trim())
            .map_err(|e| NodeError::Invalid(format!("block {hash} is not hex: {e}")))
    }

    /// `getblockhash <height>`.
    async fn block_hash(&self, height: u64) -> Result<bitcoin::BlockHash, NodeError> {
        let h: String = self
            .rpc("getblockhash", serde_json::json!([height]))
            .await?;
        h.parse()
            .map_err(|_| NodeError::Invalid(format!("getblockhash {height}: `{h}` is not a hash")))
    }

    /// Any RPC, answered as JSON.
    pub async fn raw_call(
        &self,
        method: &'static str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, NodeError> {
        self.rpc(method, serde_json::Value::Array(params)).await
    }

    /// The lowest height whose block the node still has, when it is a
    /// pruned node (`getblockchaininfo`'s `pruneheight`); `None` for a node
    /// that keeps every block.
    pub async fn prune_height(&self) -> Result<Option<u64>, NodeError> {
        #[derive(serde::Deserialize)]
        struct Info {
            #[serde(default)]
            pruned: bool,
            pruneheight: Option<u64>,
        }
        let info: Info = self.rpc("getblockchaininfo", serde_json::json!([])).await?;
        Ok(info.pruned.then(|| info.pruneheight.unwrap_or(0)))
    }

    /// The configured request timeout.
    pub fn timeout(&self) -> Duration {
        self.cfg.rpc_timeout
    }
}

impl Node for BitcoinNode {
    /// The block's raw bytes, its header checked against the requested
    /// hash; the decoder walks them without building transactions.
    type Raw = Vec<u8>;

    async fn tip(&self) -> Result<u64, NodeError> {
        self.rpc("getblockcount", serde_json::json!([])).await
    }

    async fn hash_at(&self, height: u64) -> Result<Hash32, NodeError> {
        let h = self.block_hash(height).await?;
        Ok(display_hash(h.to_byte_array()))
    }

    async fn knows(&self, hash: Hash32) -> Result<Option<bool>, NodeError> {
        match self
            .rpc_raw(
                "getblockheader",
                serde_json::json!([hash.to_string(), true]),
            )
            .await
        {
            Ok(header) => Ok(Some(header.is_some())),
            Err(NodeError::Rpc(e)) if e.contains("(code -5)") => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn fetch(&self, height: u64) -> Result<Vec<u8>, NodeError> {
        let hash = self.block_hash(height).await?;
        let fetched = self.block(&hash).await.and_then(|raw| {
            let header = raw.get(..80).ok_or_else(|| {
                NodeError::Invalid(format!(
                    "block {height}: {} bytes, shorter than a header",
                    raw.len()
                ))
            })?;
            let got = bitcoin::BlockHash::from_byte_array(
                bitcoin::hashes::sha256d::Hash::hash(header).to_byte_array(),
            );
            if got != hash {
                return Err(NodeError::Invalid(format!(
                    "block {height}: the node sent a block whose hash is {got} instead of {hash}"
                )));
            }
            Ok(raw)
        });
        fetched
    }
}

/// The script type of a watch key, for logs and tests.
pub fn script_kind(key: &[u8]) -> &'static str {
    let s = ScriptBuf::from_bytes(key.to_vec());
    if s.is_p2pkh() {
        "p2pkh"
    } else if s.is_p2sh() {
        "p2sh"
    } else if s.is_p2wpkh() {
        "p2wpkh"
    } else if s.is_p2wsh() {
        "p2wsh"
    } else if s.is_p2tr() {
        "p2tr"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::bitcoin::parse_address;

    #[test]
    fn parses_every_standard_address_type() {
        let cases = [
            ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "p2pkh"),
            ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "p2sh"),
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
            (
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                "p2wsh",
            ),
            (
                "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
                "p2tr",
            ),
        ];
        for (addr, kind) in cases {
            let w = parse_address(Network::Bitcoin, addr).unwrap();
            assert_eq!(script_kind(w.key.as_bytes()), kind, "{addr}");
            assert_eq!(w.display, addr);
        }
    }

    #[test]
    fn rejects_address_of_another_network() {
        let e = parse_address(
            Network::Bitcoin,
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        )
        .unwrap_err();
        assert!(e.0.contains("another network"), "{e}");
        let e = parse_address(
            Network::Regtest,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        )
        .unwrap_err();
        assert!(e.0.contains("regtest"), "{e}");
    }

    #[test]
    fn rejects_bad_checksum_and_garbage() {
        assert!(parse_address(Network::Bitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").is_err());
        assert!(parse_address(Network::Bitcoin, "hello").is_err());
        assert!(parse_address(Network::Bitcoin, "").is_err());
    }

    #[test]
    fn raw_script_hex_is_accepted_and_shown_as_address_when_standard() {
        let w = parse_address(
            Network::Bitcoin,
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
        )
        .unwrap();
        assert_eq!(w.display, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
        let w = parse_address(Network::Bitcoin, "6a0401020304").unwrap();
        assert_eq!(w.display, "6a0401020304");
    }
}
