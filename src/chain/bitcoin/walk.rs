//! The scanner's fast path for Bitcoin blocks: a walk over the raw block
//! bytes that never builds a `Transaction`.
//!
//! Why it exists: the node has already validated the block, and matching
//! needs only each output's scriptPubKey and value and each input's
//! previous outpoint. Deserializing a block allocates every script, witness
//! and transaction, and computing every txid hashes the whole block again;
//! together that is most of the cost of a scan. Here scripts and outpoints
//! are borrowed slices of the block, the bloom filter answers for almost
//! every output, and a txid is hashed (from slices, skipping the witness)
//! only for a transaction that touches a watched address.
//!
//! [`super::scan_block`] is the straightforward version of the same rules;
//! a test compares the two on every real block in the fixtures.

use super::{btc_asset, counterparty, display_hash, Received, Spends};
use crate::chain::{Block, DecodeError};
use crate::transfer::{BlockRef, Direction, Transfer, TransferStatus};
use crate::watch::Lookup;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{Network, OutPoint, Txid};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// Where the block's bytes end too early.
#[derive(Debug, thiserror::Error)]
enum BytesError {
    #[error("ends inside a field at byte {at} (wants {wants} more)")]
    Short { at: usize, wants: usize },
    #[error("length {n} at byte {at} is beyond the block's end")]
    TooLong { n: u64, at: usize },
}

/// A bounds-checked reader over the block's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BytesError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(BytesError::Short {
                at: self.pos,
                wants: n,
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, BytesError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, BytesError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// Bitcoin's CompactSize.
    fn varint(&mut self) -> Result<u64, BytesError> {
        let first = self.take(1)?[0];
        Ok(match first {
            0xfd => {
                let s = self.take(2)?;
                u64::from(u16::from_le_bytes([s[0], s[1]]))
            }
            0xfe => u64::from(self.u32()?),
            0xff => self.u64()?,
            n => u64::from(n),
        })
    }

    /// A count or length that must fit in what is left of the block.
    fn len(&mut self) -> Result<usize, BytesError> {
        let at = self.pos;
        let n = self.varint()?;
        if n > (self.b.len() - self.pos) as u64 {
            return Err(BytesError::TooLong { n, at });
        }
        Ok(n as usize)
    }
}

/// A matched output of the transaction being walked.
struct OutHit {
    vout: u32,
    value: u64,
    hit: Arc<Received>,
}

/// Scans the raw bytes of a block at `height`: the same transfers, in the
/// same order, as [`super::scan_block`] on the decoded block.
pub fn scan_raw(
    chain: &str,
    network: Network,
    height: u64,
    raw: &[u8],
    watches: &impl Lookup,
    spends: &Spends,
) -> Result<Block, DecodeError> {
    let malformed = |detail: String| DecodeError::Malformed { height, detail };
    let mut c = Cursor { b: raw, pos: 0 };
    let header = c.take(80).map_err(|e| malformed(format!("header: {e}")))?;
    let hash = display_hash(sha256d::Hash::hash(header).to_byte_array());
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&header[4..36]);
    let time = u64::from(u32::from_le_bytes([
        header[68], header[69], header[70], header[71],
    ]));
    let block_ref = BlockRef { height, hash, time };
    let count = c
        .len()
        .map_err(|e| malformed(format!("transaction count: {e}")))?;

    let transfers = watches.with_filter(|maybe| {
        let mut transfers = Vec::new();
        let mut in_block: HashMap<OutPoint, Received> = HashMap::new();
        let mut hits: HashMap<&[u8], Arc<Received>> = HashMap::new();
        let mut spent: Vec<(u32, Received)> = Vec::new();
        let mut paid: Vec<OutHit> = Vec::new();
        for n in 0..count {
            let txid = walk_tx(
                &mut c, network, watches, maybe, spends, &in_block, &mut hits, &mut spent,
                &mut paid,
            )
            .map_err(|e| match e {
                WalkError::Bytes(e) => malformed(format!("transaction {n}: {e}")),
                WalkError::Store(e) => DecodeError::Store(e),
            })?;
            let Some(Walked { txid, from, to }) = txid else {
                continue;
            };
            let shown = display_hash(txid.to_byte_array());
            for (vin, r) in spent.drain(..) {
                transfers.push(Transfer {
                    chain: chain.to_string(),
                    txid: shown,
                    index: vin,
                    direction: Direction::Out,
                    address: r.address,
                    address_key: r.address_key,
                    counterparty: to.clone(),
                    asset: btc_asset(),
                    amount: r.amount.into(),
                    block: block_ref,
                    status: TransferStatus::Detected,
                    watch: r.watch,
                    risk: Default::default(),
                });
            }
            for h in paid.drain(..) {
                in_block.insert(
                    OutPoint { txid, vout: h.vout },
                    Received {
                        amount: h.value,
                        address: h.hit.address.clone(),
                        address_key: h.hit.address_key.clone(),
                        watch: h.hit.watch.clone(),
                    },
                );
                transfers.push(Transfer {
                    chain: chain.to_string(),
                    txid: shown,
                    index: h.vout,
                    direction: Direction::In,
                    address: h.hit.address.clone(),
                    address_key: h.hit.address_key.clone(),
                    counterparty: from.clone(),
                    asset: btc_asset(),
                    amount: h.value.into(),
                    block: block_ref,
                    status: TransferStatus::Detected,
                    watch: h.hit.watch.clone(),
                    risk: Default::default(),
                });
            }
        }
        Ok::<_, DecodeError>(transfers)
    })?;
    if c.pos != raw.len() {
        return Err(malformed(format!(
            "{} bytes left after the last transaction",
            raw.len() - c.pos
        )));
    }
    Ok(Block {
        height,
        hash,
        parent: display_hash(prev),
        time,
        transfers,
        freezes: Vec::new(),
        skipped: 0,
    })
}

enum WalkError {
    Bytes(BytesError),
    Store(crate::store::StoreError),
}

impl From<BytesError> for WalkError {
    fn from(e: BytesError) -> Self {
        WalkError::Bytes(e)
    }
}

/// A transaction that touches a watched address: its txid and, as far as
/// it tells them, its sender (for `paid`) and receiver (for `spent`).
struct Walked {
    txid: Txid,
    from: Option<String>,
    to: Option<String>,
}

/// Walks one transaction, collecting watched spends into `spent` and
/// watched outputs into `paid`; returns what the transfers need when either
/// is non-empty.
#[allow(clippy::too_many_arguments)]
fn walk_tx<'a>(
    c: &mut Cursor<'a>,
    network: Network,
    watches: &impl Lookup,
    maybe: &dyn Fn(&[u8]) -> bool,
    spends: &Spends,
    in_block: &HashMap<OutPoint, Received>,
    hits: &mut HashMap<&'a [u8], Arc<Received>>,
    spent: &mut Vec<(u32, Received)>,
    paid: &mut Vec<OutHit>,
) -> Result<Option<Walked>, WalkError> {
    let start = c.pos;
    c.take(4)?; // version
    let segwit = c.b.get(c.pos) == Some(&0) && c.b.get(c.pos + 1) == Some(&1);
    if segwit {
        c.pos += 2;
    }
    let body = c.pos;
    let inputs = c.len()?;
    let check_spends = !spends.is_empty() || !in_block.is_empty();
    for vin in 0..inputs {
        let prev = c.take(36)?;
        if check_spends {
            let mut t = [0u8; 32];
            t.copy_from_slice(&prev[..32]);
            let op = OutPoint {
                txid: Txid::from_byte_array(t),
                vout: u32::from_le_bytes([prev[32], prev[33], prev[34], prev[35]]),
            };
            if let Some(r) = spends.received.get(&op).or_else(|| in_block.get(&op)) {
                spent.push((vin as u32, r.clone()));
            }
        }
        let script = c.len()?;
        c.take(script)?;
        c.take(4)?; // sequence
    }
    let outputs_at = c.pos;
    let outputs = c.len()?;
    for vout in 0..outputs {
        let value = c.u64()?;
        let len = c.len()?;
        let script = c.take(len)?;
        // Almost every output stops at the filter. A script paid many
        // times in one block is looked up, and its forms computed, once;
        // only positives are remembered.
        if !maybe(script) {
            continue;
        }
        let hit = match hits.get(script) {
            Some(h) => Some(h.clone()),
            // The filter said maybe: ask the exact set (the filter's lock
            // is held, see `Lookup::with_filter`).
            None => watches
                .lookup_exact(script)
                .map_err(WalkError::Store)?
                .map(|w| {
                    let h = Received::watched(network, script, &w);
                    hits.insert(script, h.clone());
                    h
                }),
        };
        if let Some(hit) = hit {
            paid.push(OutHit {
                vout: vout as u32,
                value,
                hit,
            });
        }
    }
    // The witnesses, if any, start where the body ends.
    let body_end = c.pos;
    if segwit {
        for _ in 0..inputs {
            let items = c.len()?;
            for _ in 0..items {
                let len = c.len()?;
                c.take(len)?;
            }
        }
    }
    let lock = c.take(4)?;
    if spent.is_empty() && paid.is_empty() {
        return Ok(None);
    }
    // The txid covers version, inputs, outputs and lock time: no marker,
    // flag or witness.
    let mut e = sha256d::Hash::engine();
    e.input(&c.b[start..start + 4]);
    e.input(&c.b[body..body_end]);
    e.input(lock);
    let txid = Txid::from_raw_hash(sha256d::Hash::from_engine(e));
    // The walk above read these bytes already: they cannot end early now.
    let b = c.b;
    let from = if paid.is_empty() {
        None
    } else if let Some((_, r)) = spent.iter().find(|(vin, _)| *vin == 0) {
        Some(r.address.clone())
    } else {
        first_input_sender(network, b, body, segwit.then_some(body_end))?
    };
    let to = if spent.is_empty() {
        None
    } else {
        let mut o = Cursor { b, pos: outputs_at };
        let n = o.len()?;
        let mut scripts = Vec::with_capacity(n);
        for _ in 0..n {
            o.take(8)?;
            let len = o.len()?;
            scripts.push(o.take(len)?);
        }
        counterparty::receiver(network, scripts.into_iter(), |vout| {
            paid.iter().any(|h| h.vout as usize == vout)
        })
    };
    Ok(Some(Walked { txid, from, to }))
}

/// The sender told by the first input of the transaction whose inputs
/// start at `inputs_at` (and whose witnesses, if any, at `witness_at`).
fn first_input_sender(
    network: Network,
    b: &[u8],
    inputs_at: usize,
    witness_at: Option<usize>,
) -> Result<Option<String>, BytesError> {
    let mut i = Cursor { b, pos: inputs_at };
    if i.len()? == 0 {
        return Ok(None);
    }
    let prev = i.take(36)?;
    // A coinbase spends nothing.
    if prev[..32].iter().all(|x| *x == 0) && prev[32..] == [0xff; 4] {
        return Ok(None);
    }
    let len = i.len()?;
    let script_sig = i.take(len)?;
    let mut witness = Vec::new();
    if let Some(at) = witness_at {
        let mut w = Cursor { b, pos: at };
        for _ in 0..w.len()? {
            let len = w.len()?;
            witness.push(w.take(len)?);
        }
    }
    Ok(counterparty::sender(network, script_sig, &witness))
}
