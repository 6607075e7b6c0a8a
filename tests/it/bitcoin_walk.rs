//! The raw-bytes walk (the scanner's Bitcoin fast path) against the
//! straightforward decoder, on every real mainnet block in the fixtures:
//! the same transfers, in the same order, with every output script watched
//! (so every transaction matches and spends inside the block are found),
//! with a sample watched, and with outputs received in an earlier block
//! being spent. Malformed bytes are refused, never a panic.

use crate::common;

use bitcoin::hashes::Hash;
use paywatch::chain::bitcoin::walk::scan_raw;
use paywatch::chain::bitcoin::{scan_block, Spends};
use paywatch::store::StoreError;
use paywatch::transfer::WatchRecord;
use paywatch::watch::Lookup;
use std::collections::HashSet;

const BLOCKS: [u64; 3] = [413567, 702861, 866342];

/// An exact set of watched scripts.
struct Set(HashSet<Vec<u8>>);

impl Lookup for Set {
    fn lookup(&self, key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        Ok(self.0.contains(key).then(|| WatchRecord {
            chain: "btc".into(),
            address: String::new(),
            label: Some(hex::encode(&key[..key.len().min(4)])),
            metadata: serde_json::json!({}),
            created_at: 0,
        }))
    }
}

fn blocks() -> Option<Vec<(u64, Vec<u8>, bitcoin::Block)>> {
    let dir = common::fixtures()?;
    Some(
        BLOCKS
            .iter()
            .map(|h| {
                let raw = std::fs::read(dir.join(format!("btc/block-{h}.raw"))).unwrap();
                let block = bitcoin::consensus::deserialize(&raw).unwrap();
                (*h, raw, block)
            })
            .collect(),
    )
}

fn both(h: u64, raw: &[u8], block: &bitcoin::Block, set: &Set, spends: &Spends) -> usize {
    let net = bitcoin::Network::Bitcoin;
    let fast = scan_raw("btc", net, h, raw, set, spends).unwrap();
    let plain = scan_block("btc", net, h, block, set, spends).unwrap();
    assert_eq!(fast.hash, plain.hash, "block {h}");
    assert_eq!(fast.parent, plain.parent, "block {h}");
    assert_eq!(fast.time, plain.time, "block {h}");
    assert_eq!(fast.transfers.len(), plain.transfers.len(), "block {h}");
    for (i, (a, b)) in fast.transfers.iter().zip(&plain.transfers).enumerate() {
        assert_eq!(a, b, "block {h}, transfer {i}");
    }
    fast.transfers.len()
}

#[test]
fn the_walk_finds_what_the_decoder_finds_on_every_real_block() {
    let Some(blocks) = blocks() else { return };
    for (h, raw, block) in &blocks {
        // Every output script: every transaction matches, and every spend
        // of an output of the same block is an `out` transfer.
        let all = Set(block
            .txdata
            .iter()
            .flat_map(|t| t.output.iter().map(|o| o.script_pubkey.to_bytes()))
            .collect());
        let n = both(*h, raw, block, &all, &Spends::default());
        let outputs: usize = block.txdata.iter().map(|t| t.output.len()).sum();
        assert!(
            n > outputs,
            "block {h}: {n} transfers for {outputs} outputs"
        );
        // A sample, as a merchant's watch list looks.
        let some = Set(block
            .txdata
            .iter()
            .step_by(50)
            .filter_map(|t| t.output.first().map(|o| o.script_pubkey.to_bytes()))
            .collect());
        assert!(both(*h, raw, block, &some, &Spends::default()) > 0);
        // Nothing watched.
        assert_eq!(
            both(*h, raw, block, &Set(HashSet::new()), &Spends::default()),
            0
        );
    }
}

#[test]
fn spends_of_outputs_received_before_are_found() {
    let Some(blocks) = blocks() else { return };
    for (h, raw, block) in &blocks {
        // Pretend every output the block spends was received earlier.
        let mut spends = Spends::default();
        for t in block.txdata.iter().skip(1).step_by(7) {
            for (i, input) in t.input.iter().enumerate() {
                spends.record(&paywatch::transfer::Transfer {
                    chain: "btc".into(),
                    // Shown byte order: the internal one reversed.
                    txid: {
                        let mut b = input.previous_output.txid.to_byte_array();
                        b.reverse();
                        paywatch::transfer::Hash32::new(b)
                    },
                    index: input.previous_output.vout,
                    direction: paywatch::transfer::Direction::In,
                    address: format!("earlier-{i}"),
                    address_key: paywatch::address::AddressKey::Script(bitcoin::ScriptBuf::new()),
                    counterparty: None,
                    asset: paywatch::chain::bitcoin::btc_asset(),
                    amount: 1000u64.into(),
                    block: paywatch::transfer::BlockRef {
                        height: h - 1,
                        hash: paywatch::transfer::Hash32::default(),
                        time: 0,
                    },
                    status: paywatch::transfer::TransferStatus::Confirmed,
                    watch: Default::default(),
                    risk: Default::default(),
                });
            }
        }
        let n = both(*h, raw, block, &Set(HashSet::new()), &spends);
        assert!(n > 0, "block {h}: no spend found");
    }
}

#[test]
fn malformed_blocks_are_refused() {
    let Some(blocks) = blocks() else { return };
    let (h, raw, block) = &blocks[0];
    let set = Set(block
        .txdata
        .iter()
        .flat_map(|t| t.output.iter().map(|o| o.script_pubkey.to_bytes()))
        .collect());
    let net = bitcoin::Network::Bitcoin;
    // Cut anywhere: an error naming the block, never a panic.
    for cut in (0..raw.len())
        .step_by(997)
        .chain([0, 79, 80, 81, raw.len() - 1])
    {
        let err = scan_raw("btc", net, *h, &raw[..cut], &set, &Spends::default())
            .expect_err("a truncated block");
        assert!(err.to_string().contains(&format!("block {h}")), "{err}");
    }
    let mut longer = raw.clone();
    longer.push(0);
    let err = scan_raw("btc", net, *h, &longer, &set, &Spends::default()).unwrap_err();
    assert!(
        err.to_string().contains("left after the last transaction"),
        "{err}"
    );
    // A huge count is refused before anything is read for it.
    let mut huge = raw[..80].to_vec();
    huge.extend_from_slice(&[0xff; 9]);
    let err = scan_raw("btc", net, *h, &huge, &set, &Spends::default()).unwrap_err();
    assert!(err.to_string().contains("beyond the block's end"), "{err}");
}

/// A watch added while a block was being scanned could stop the chain for
/// good: the scan held the filter's read lock for the whole block and, for
/// an output the filter passed, took it again to look the script up. With a
/// writer (the watch being added) waiting, std's `RwLock` makes that second
/// read wait for the writer, which waits for the first read. Here a real
/// block with every output watched is scanned, through the daemon's own
/// filter and store, while watches are added without pause.
#[test]
fn a_watch_added_while_a_block_is_scanned_does_not_hang_the_scan() {
    use paywatch::store::Store;
    use paywatch::watch::Matcher;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    let Some(blocks) = blocks() else { return };
    let (h, raw, block) = blocks.into_iter().last().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let record = |n: usize| WatchRecord {
        chain: "btc".into(),
        address: format!("script {n}"),
        label: None,
        metadata: serde_json::json!({}),
        created_at: 0,
    };
    let scripts: HashSet<Vec<u8>> = block
        .txdata
        .iter()
        .flat_map(|tx| &tx.output)
        .map(|o| o.script_pubkey.to_bytes())
        .collect();
    let items: Vec<(Vec<u8>, WatchRecord)> = scripts
        .into_iter()
        .enumerate()
        .map(|(n, s)| (s, record(n)))
        .collect();
    store.insert_watches("btc", &items).unwrap();
    let matcher = Arc::new(Matcher::load("btc", store.clone()).unwrap());
    // What the plain decoder finds with the same scripts watched.
    let set = Set(items.iter().map(|(s, _)| s.clone()).collect());
    let expected = scan_block(
        "btc",
        bitcoin::Network::Bitcoin,
        h,
        &block,
        &set,
        &Spends::default(),
    )
    .unwrap()
    .transfers
    .len();
    assert!(expected > 1000, "block {h}: {expected} transfers");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (matcher, stop) = (matcher.clone(), stop.clone());
        move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = n.to_le_bytes();
                matcher.add_keys([&key[..]]).unwrap();
                n += 1;
            }
        }
    });
    let (done, scans) = mpsc::channel();
    std::thread::spawn({
        let matcher = matcher.clone();
        move || {
            let spends = Spends::default();
            for _ in 0..20 {
                let b = scan_raw(
                    "btc",
                    bitcoin::Network::Bitcoin,
                    h,
                    &raw,
                    &*matcher,
                    &spends,
                )
                .unwrap();
                let _ = done.send(b.transfers.len());
            }
        }
    });
    for i in 0..20 {
        let found = scans
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("scan {i} of block {h} hung while watches were added"));
        assert_eq!(found, expected, "scan {i}");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

/// The sender paywatch reads off an input is checked against the truth on
/// real blocks: where an input spends an output of the same block, that
/// output's script is known. The inferred script must never differ from
/// it, and must be found for the common kinds (P2PKH, P2WPKH, P2SH, P2WSH).
#[test]
fn the_sender_read_off_an_input_is_the_script_it_spends_on_real_blocks() {
    use paywatch::chain::bitcoin::counterparty::spent_script;
    let Some(blocks) = blocks() else { return };
    let (mut checked, mut told, mut common_kinds, mut common_told) = (0, 0, 0, 0);
    for (h, _, block) in &blocks {
        let mut created = std::collections::HashMap::new();
        for tx in &block.txdata {
            let id = tx.compute_txid();
            for (vout, out) in tx.output.iter().enumerate() {
                created.insert(
                    bitcoin::OutPoint::new(id, vout as u32),
                    out.script_pubkey.clone(),
                );
            }
        }
        for tx in block.txdata.iter().skip(1) {
            for input in &tx.input {
                let Some(real) = created.get(&input.previous_output) else {
                    continue;
                };
                checked += 1;
                let witness: Vec<&[u8]> = input.witness.iter().collect();
                let got = spent_script(input.script_sig.as_bytes(), &witness);
                if let Some(got) = &got {
                    told += 1;
                    assert_eq!(
                        got,
                        real,
                        "block {h}: input {} of {} names the wrong script",
                        input.previous_output,
                        tx.compute_txid()
                    );
                }
                if real.is_p2pkh() || real.is_p2wpkh() || real.is_p2sh() || real.is_p2wsh() {
                    common_kinds += 1;
                    common_told += usize::from(got.is_some());
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} spends inside the fixture blocks"
    );
    assert!(told > 0);
    // A P2SH or P2WSH script that ends in no signature check (a hash or
    // time lock alone) is left unknown; nearly every spend names its sender.
    assert!(
        common_told * 100 >= common_kinds * 95,
        "{common_told} of {common_kinds} common spends told"
    );
}

/// Blocks larger than any fixture — 4 MB, and 20,000 transactions — built
/// from the real blocks' transactions: the walk decodes them whole and
/// finds what the decoder finds.
#[test]
fn blocks_of_4_mb_and_of_20000_transactions_walk_like_the_decoder() {
    use common::large::{btc_block_of_size, btc_block_of_txs};
    let Some(dir) = common::fixtures() else {
        return;
    };
    for (what, block) in [
        ("4 MB", btc_block_of_size(&dir, 4_000_000)),
        ("20,000 transactions", btc_block_of_txs(&dir, 20_000)),
    ] {
        let raw = bitcoin::consensus::serialize(&block);
        if what == "4 MB" {
            assert!(raw.len() >= 4_000_000, "{} bytes", raw.len());
        } else {
            assert_eq!(block.txdata.len(), 20_000);
        }
        let some = Set(block
            .txdata
            .iter()
            .step_by(40)
            .filter_map(|t| t.output.first().map(|o| o.script_pubkey.to_bytes()))
            .collect());
        let n = both(900_000, &raw, &block, &some, &Spends::default());
        assert!(n >= block.txdata.len() / 40, "{what}: {n} transfers");
    }
}
