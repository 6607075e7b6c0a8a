//! Blocks larger than any fixture, built from the fixtures' own contents:
//! Bitcoin blocks of 4 MB and of 20,000 transactions (made with the
//! `bitcoin` crate from the real blocks' transactions), and an Ethereum
//! block whose receipts carry 5,000 logs (the real block's receipts, each
//! receipt's logs repeated).

use super::evm::{real_block, EthBlock};
use bitcoin::absolute::LockTime;
use bitcoin::{Block, BlockHash, Transaction};
use serde_json::Value;
use std::path::Path;

/// The Bitcoin fixture blocks' heights.
pub const BTC_FIXTURES: [u64; 3] = [413567, 702861, 866342];

/// A Bitcoin fixture block, raw.
pub fn btc_raw(fixtures: &Path, height: u64) -> Vec<u8> {
    std::fs::read(fixtures.join(format!("btc/block-{height}.raw"))).unwrap()
}

/// Every non-coinbase transaction of the fixture blocks, and the last
/// block's coinbase.
fn fixture_txs(fixtures: &Path) -> (Transaction, Vec<Transaction>) {
    let blocks: Vec<Block> = BTC_FIXTURES
        .iter()
        .map(|h| bitcoin::consensus::deserialize(&btc_raw(fixtures, *h)).unwrap())
        .collect();
    let coinbase = blocks.last().unwrap().txdata[0].clone();
    let txs = blocks
        .into_iter()
        .flat_map(|b| b.txdata.into_iter().skip(1))
        .collect();
    (coinbase, txs)
}

/// A block of `coinbase` and `txs` taken in turn until `enough` says so;
/// each repeat gets its own lock time, hence its own txid.
fn built(
    coinbase: Transaction,
    txs: &[Transaction],
    mut enough: impl FnMut(usize, usize) -> bool,
) -> Block {
    let mut out = vec![coinbase];
    let mut bytes = 80 + bitcoin::consensus::serialize(&out[0]).len();
    let mut i = 0usize;
    while !enough(out.len(), bytes) {
        let mut tx = txs[i % txs.len()].clone();
        if i >= txs.len() {
            tx.lock_time = LockTime::from_consensus(i as u32);
        }
        bytes += bitcoin::consensus::serialize(&tx).len();
        out.push(tx);
        i += 1;
    }
    super::block(
        <BlockHash as bitcoin::hashes::Hash>::from_byte_array([3; 32]),
        1_700_000_000,
        out,
    )
}

/// A block of at least `size` bytes of the fixtures' transactions.
pub fn btc_block_of_size(fixtures: &Path, size: usize) -> Block {
    let (coinbase, txs) = fixture_txs(fixtures);
    built(coinbase, &txs, |_, bytes| bytes >= size)
}

/// A block of `n` transactions (the coinbase included), the smaller half
/// of the fixtures' transactions in turn, as a block of many small
/// payments is.
pub fn btc_block_of_txs(fixtures: &Path, n: usize) -> Block {
    let (coinbase, mut txs) = fixture_txs(fixtures);
    txs.sort_by_key(|t| bitcoin::consensus::serialize(t).len());
    txs.truncate(txs.len() / 2);
    built(coinbase, &txs, |count, _| count >= n)
}

/// Ethereum fixture block `height` with every receipt's logs repeated
/// until the block has at least `logs` logs, their `logIndex` numbered
/// again in order.
pub fn eth_block_with_logs(fixtures: &Path, height: u64, logs: usize) -> EthBlock {
    let mut b = real_block(fixtures, height);
    let receipts = b.receipts.as_array_mut().unwrap();
    let have: usize = receipts
        .iter()
        .map(|r| r["logs"].as_array().unwrap().len())
        .sum();
    let times = logs.div_ceil(have.max(1));
    let mut index = 0u64;
    for r in receipts.iter_mut() {
        let once = r["logs"].as_array().unwrap().clone();
        let mut all: Vec<Value> = Vec::with_capacity(once.len() * times);
        for _ in 0..times {
            for l in &once {
                let mut l = l.clone();
                l["logIndex"] = format!("0x{index:x}").into();
                index += 1;
                all.push(l);
            }
        }
        r["logs"] = all.into();
    }
    b
}
