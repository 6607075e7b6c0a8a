//! The fast JSON reader the EVM and TRON scanners use, against serde (the
//! reference), on every real mainnet block with its receipts or transaction
//! info: the same transfers in the same order, with every address watched
//! (so every transfer in the block is reported) and with none. The same
//! answers written compactly, as nodes send them, give the same result;
//! damaged answers are refused or skipped alike, never with a panic.

use crate::common;

use paywatch::chain::evm::{self, EvmRaw};
use paywatch::chain::skim::Json;
use paywatch::chain::tron::{self, TronRaw};
use paywatch::chain::RawJson;
use paywatch::chain::{Block, DecodeError};
use paywatch::store::StoreError;
use paywatch::transfer::WatchRecord;
use paywatch::watch::Lookup;

/// Watches every address, or none.
struct All(bool);

impl Lookup for All {
    fn lookup(&self, _key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        Ok(self.0.then(|| WatchRecord {
            chain: "x".into(),
            address: String::new(),
            label: None,
            metadata: serde_json::json!({}),
            created_at: 0,
        }))
    }
}

fn same(
    what: &str,
    fast: Result<Block, DecodeError>,
    reference: Result<Block, DecodeError>,
) -> usize {
    match (fast, reference) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.hash, a.parent, a.time),
                (b.hash, b.parent, b.time),
                "{what}"
            );
            assert_eq!(a.skipped, b.skipped, "{what}: skipped");
            assert_eq!(a.transfers.len(), b.transfers.len(), "{what}");
            for (i, (x, y)) in a.transfers.iter().zip(&b.transfers).enumerate() {
                assert_eq!(x, y, "{what}: transfer {i}");
            }
            a.transfers.len()
        }
        (Err(_), Err(_)) => 0,
        (a, b) => panic!(
            "{what}: the readers disagree: fast {:?}, serde {:?}",
            a.map(|b| b.transfers.len()),
            b.map(|b| b.transfers.len())
        ),
    }
}

fn compact(doc: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<serde_json::Value>(doc).unwrap()).unwrap()
}

fn eth_scan(
    json: Json,
    h: u64,
    block: &str,
    receipts: &str,
    traces: Option<&str>,
    all: bool,
) -> Result<Block, DecodeError> {
    let raw = EvmRaw {
        block: RawJson::from(block.to_string()),
        receipts: RawJson::from(receipts.to_string()),
        traces: traces.map(|t| evm::Traces::Parity(RawJson::from(t.to_string()))),
    };
    evm::scan_block_with(
        json,
        "eth",
        &common::evm::mainnet_assets(),
        h,
        &raw,
        &All(all),
    )
}

#[test]
fn evm_blocks_and_receipts_read_the_same_both_ways() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for h in [17173049u64, 17173050] {
        let block =
            std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockByNumber-{h}.json")))
                .unwrap();
        let receipts =
            std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockReceipts-{h}.json")))
                .unwrap();
        for (block, receipts) in [
            (block.clone(), receipts.clone()),
            (compact(&block), compact(&receipts)),
        ] {
            let n = same(
                &format!("eth {h}, all watched"),
                eth_scan(Json::Skim, h, &block, &receipts, None, true),
                eth_scan(Json::Serde, h, &block, &receipts, None, true),
            );
            // Every USDT transfer and ETH payment of the block, both sides.
            assert!(n > 40, "eth {h}: only {n} transfers");
            let none = same(
                &format!("eth {h}, none watched"),
                eth_scan(Json::Skim, h, &block, &receipts, None, false),
                eth_scan(Json::Serde, h, &block, &receipts, None, false),
            );
            assert_eq!(none, 0);
        }
        // Answers arrive as checked JSON; values of the wrong type or
        // missing are judged the same way by both readers.
        let receipts = compact(&receipts);
        for (from, to) in [
            (r#""status":"0x1""#, r#""status":1"#),
            (r#""logIndex":""#, r#""logIndex":null,"y":""#),
            (r#""topics":["#, r#""topics":[],"y":["#),
            (r#""transactionHash":"#, r#""transactionHash":null,"z":"#),
            (r#""logs":["#, r#""logs":{"a":1},"y":["#),
        ] {
            assert!(receipts.contains(from), "{from}");
            let changed = receipts.replacen(from, to, 3);
            same(
                &format!("eth {h}, {from} changed to {to}"),
                eth_scan(Json::Skim, h, &block, &changed, None, true),
                eth_scan(Json::Serde, h, &block, &changed, None, true),
            );
        }
    }
}

/// An Ethereum block whose receipts carry 5,000 logs (the real block's,
/// repeated): both readers give the same transfers, every USDT one.
#[test]
fn an_evm_block_of_5000_logs_reads_the_same_both_ways() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let h = 17173050u64;
    let big = common::large::eth_block_with_logs(&dir, h, 5_000);
    let logs: usize = big
        .receipts
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["logs"].as_array().unwrap().len())
        .sum();
    assert!(logs >= 5_000, "{logs} logs");
    let (block, receipts) = (big.block.to_string(), big.receipts.to_string());
    let tokens = |b: &Block| {
        b.transfers
            .iter()
            .filter(|t| t.asset.contract.is_some())
            .count()
    };
    let fast = eth_scan(Json::Skim, h, &block, &receipts, None, true).unwrap();
    let big_tokens = tokens(&fast);
    same(
        "eth 5,000 logs",
        Ok(fast),
        eth_scan(Json::Serde, h, &block, &receipts, None, true),
    );
    let real = std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockReceipts-{h}.json")))
        .unwrap();
    let once = tokens(&eth_scan(Json::Skim, h, &block, &real, None, true).unwrap());
    // Each log is there 13 times (410 logs in the real block).
    assert_eq!(big_tokens, 13 * once, "token transfers");
}

#[test]
fn evm_traces_read_the_same_both_ways() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let h = 17173049u64;
    let block = std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockByNumber-{h}.json")))
        .unwrap();
    let receipts =
        std::fs::read_to_string(dir.join(format!("eth/rpc/eth_getBlockReceipts-{h}.json")))
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&block).unwrap();
    let tx = v["transactions"][0]["hash"].as_str().unwrap();
    // `trace_block` as Parity/Erigon/Anvil write it: a top-level call, an
    // internal value transfer, a failed one and a delegatecall.
    let call = |path: &str, call_type: &str, value: &str, error: Option<&str>| {
        let error = error
            .map(|e| format!(r#","error":"{e}""#))
            .unwrap_or_default();
        format!(
            r#"{{"action":{{"callType":"{call_type}","from":"0x00000000000000000000000000000000000000a1","gas":"0x0","input":"0x","to":"0x00000000000000000000000000000000000000b2","value":"{value}"}},"blockHash":"0x00","blockNumber":{h},"result":{{"gasUsed":"0x0","output":"0x"}},"subtraces":0,"traceAddress":[{path}],"transactionHash":"{tx}","transactionPosition":0,"type":"call"{error}}}"#
        )
    };
    let traces = format!(
        "[{},{},{},{},{}]",
        call("", "call", "0x1", None),
        call("0", "call", "0xde0b6b3a7640000", None),
        call("1", "call", "0x5", Some("Reverted")),
        call("2", "delegatecall", "0x7", None),
        r#"{"action":null,"traceAddress":[3],"type":"suicide","transactionHash":null}"#
    );
    let fast = eth_scan(Json::Skim, h, &block, &receipts, Some(&traces), true).unwrap();
    let reference = eth_scan(Json::Serde, h, &block, &receipts, Some(&traces), true).unwrap();
    let internal = |b: &Block| {
        b.transfers
            .iter()
            .filter(|t| t.index >= evm::INTERNAL_INDEX_BASE)
            .count()
    };
    // One internal transfer, reported as `in` and as `out`.
    assert_eq!(internal(&fast), 2);
    same("eth traces", Ok(fast), Ok(reference));
}

fn tron_scan(
    json: Json,
    h: u64,
    block: &[u8],
    info: &[u8],
    all: bool,
) -> Result<Block, DecodeError> {
    let raw = TronRaw {
        block: block.to_vec(),
        info: info.to_vec(),
    };
    tron::scan_block_with(
        json,
        "tron",
        &common::tron::usdt_tokens(),
        h,
        &raw,
        &All(all),
    )
}

#[test]
fn tron_blocks_and_transaction_info_read_the_same_both_ways() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for h in [60836289u64, 61132092] {
        let block =
            std::fs::read_to_string(dir.join(format!("tron/getblockbynum-{h}.json"))).unwrap();
        let info = std::fs::read_to_string(dir.join(format!(
            "tron/gettransactioninfobyblocknum-{h}.derived.json"
        )))
        .unwrap();
        for (block, info) in [
            (block.clone(), info.clone()),
            (compact(&block), compact(&info)),
        ] {
            let n = same(
                &format!("tron {h}, all watched"),
                tron_scan(Json::Skim, h, block.as_bytes(), info.as_bytes(), true),
                tron_scan(Json::Serde, h, block.as_bytes(), info.as_bytes(), true),
            );
            assert!(n > 100, "tron {h}: only {n} transfers");
            same(
                &format!("tron {h}, none watched"),
                tron_scan(Json::Skim, h, block.as_bytes(), info.as_bytes(), false),
                tron_scan(Json::Serde, h, block.as_bytes(), info.as_bytes(), false),
            );
        }
        // Cut anywhere, both refuse; never a panic.
        let block = compact(&block);
        for cut in (1..block.len()).step_by(1499) {
            let b = &block.as_bytes()[..cut];
            same(
                &format!("tron {h}, block cut at {cut}"),
                tron_scan(Json::Skim, h, b, info.as_bytes(), true),
                tron_scan(Json::Serde, h, b, info.as_bytes(), true),
            );
        }
    }
}
