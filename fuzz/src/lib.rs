//! What each fuzz target checks. Every decoder of input paywatch does not
//! control (a node's answer, a user's address or config file, a plugin's
//! verdict) must refuse bad input with an error, never a panic; where
//! paywatch has a fast path beside a reference decoder, both must read the
//! same input the same way.
//!
//! `tests/it/fuzz_inputs.rs` runs these same checks on the seed corpus and on
//! every input kept in `fuzz/regressions/<target>/`, in the normal test run.

use bitcoin::Network;
use paywatch::address::{bitcoin as btc_address, evm as evm_address, tron as tron_address};
use paywatch::chain::bitcoin::walk::scan_raw;
use paywatch::chain::bitcoin::{self as btc, Spends};
use paywatch::chain::evm::{self, EvmAssets, EvmRaw, Traces};
use paywatch::chain::rpc::rpc_answer as read_answer;
use paywatch::chain::skim::Json;
use paywatch::chain::tron::{self, TronRaw};
use paywatch::chain::{Block, DecodeError, RawJson};
use paywatch::config::{Config, Token};
use paywatch::plugin::parse_verdict;
use paywatch::store::StoreError;
use paywatch::transfer::Asset;
use paywatch::transfer::WatchRecord;
use paywatch::watch::Lookup;
use serde_json::Value;
use std::path::Path;

/// A target's check: panics when the input breaks a rule.
pub type Check = fn(&[u8]);

/// Every target, by the name cargo-fuzz knows it by.
pub const TARGETS: [(&str, Check); 7] = [
    ("bitcoin_block", bitcoin_block),
    ("evm_block", evm_block),
    ("tron_block", tron_block),
    ("rpc_answer", rpc_answer),
    ("address", address),
    ("config", config),
    ("verdict", verdict),
];

/// Watches every key, so every output, transaction and log that decodes is
/// reported and every code path that builds a transfer runs.
struct Every;

impl Lookup for Every {
    fn lookup(&self, _key: &[u8]) -> Result<Option<WatchRecord>, StoreError> {
        Ok(Some(WatchRecord {
            chain: "x".into(),
            address: String::new(),
            label: None,
            metadata: serde_json::json!({}),
            created_at: 0,
        }))
    }
}

fn same(what: &str, fast: &Block, reference: &Block) {
    assert_eq!(
        (&fast.hash, &fast.parent, fast.time),
        (&reference.hash, &reference.parent, reference.time),
        "{what}: block header"
    );
    assert_eq!(fast.skipped, reference.skipped, "{what}: skipped");
    assert_eq!(fast.transfers, reference.transfers, "{what}: transfers");
    assert_eq!(fast.freezes, reference.freezes, "{what}: blacklist changes");
}

/// Both JSON readers accept the input with the same transfers, or both
/// refuse it.
fn agree(what: &str, fast: Result<Block, DecodeError>, reference: Result<Block, DecodeError>) {
    match (fast, reference) {
        (Ok(a), Ok(b)) => same(what, &a, &b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "{what}: the fast reader {} but serde {}",
            verdict_of(&a),
            verdict_of(&b)
        ),
    }
}

fn verdict_of(r: &Result<Block, DecodeError>) -> String {
    match r {
        Ok(b) => format!("accepts ({} transfers)", b.transfers.len()),
        Err(e) => format!("refuses ({e})"),
    }
}

/// The raw-bytes block walk the scanner uses, against rust-bitcoin's
/// decoder: whatever rust-bitcoin decodes, the walk reads to the same
/// transfers; anything else is refused or read without a panic.
pub fn bitcoin_block(data: &[u8]) {
    let net = Network::Bitcoin;
    let spends = Spends::default();
    let fast = scan_raw("btc", net, 7, data, &Every, &spends);
    if let Ok(block) = bitcoin::consensus::deserialize::<bitcoin::Block>(data) {
        let reference = btc::scan_block("btc", net, 7, &block, &Every, &spends)
            .expect("a block rust-bitcoin decodes is scanned");
        match fast {
            Ok(fast) => same("bitcoin block", &fast, &reference),
            Err(e) => panic!("the walk refuses a block rust-bitcoin decodes: {e}"),
        }
    }
}

/// Splits `data` at 0xFF bytes (never part of UTF-8 JSON) into up to `N`
/// documents.
fn documents<const N: usize>(data: &[u8]) -> [Option<&[u8]>; N] {
    let mut out = [None; N];
    for (slot, part) in out.iter_mut().zip(data.splitn(N, |b| *b == 0xff)) {
        *slot = Some(part);
    }
    out
}

pub fn evm_assets() -> EvmAssets {
    let usdt = evm_address::parse_address("0xdAC17F958D2ee523a2206206994597C13D831ec7")
        .expect("USDT's address");
    EvmAssets {
        native: Asset {
            symbol: "ETH".into(),
            decimals: 18,
            contract: None,
        },
        tokens: vec![Token {
            symbol: "USDT".into(),
            contract: usdt.key,
            display: usdt.display,
            decimals: 6,
        }],
    }
}

/// An EVM block, its receipts and optionally its traces (the input's first
/// three 0xFF-separated parts) through the fast reader and through serde,
/// the traces as `trace_block` gives them; then the same traces read as
/// `debug_traceBlockByNumber`'s call trees, which must not panic either.
pub fn evm_block(data: &[u8]) {
    let [block, receipts, traces] = documents::<3>(data);
    let mut raw = EvmRaw {
        block: RawJson::from(block.unwrap_or_default().to_vec()),
        receipts: RawJson::from(receipts.unwrap_or(b"[]").to_vec()),
        traces: traces.map(|t| Traces::Parity(RawJson::from(t.to_vec()))),
    };
    let assets = evm_assets();
    agree(
        "evm block",
        evm::scan_block_with(Json::Skim, "eth", &assets, 7, &raw, &Every),
        evm::scan_block_with(Json::Serde, "eth", &assets, 7, &raw, &Every),
    );
    raw.traces = traces.map(|t| Traces::CallTracer(RawJson::from(t.to_vec())));
    let _ = evm::scan_block("eth", &assets, 7, &raw, &Every);
}

pub fn tron_tokens() -> Vec<Token> {
    let usdt =
        tron_address::parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").expect("USDT's address");
    vec![Token {
        symbol: "USDT".into(),
        contract: usdt.key,
        display: usdt.display,
        decimals: 6,
    }]
}

/// A TRON block and its transaction info (the input's two 0xFF-separated
/// parts) through the fast reader and through serde.
pub fn tron_block(data: &[u8]) {
    let [block, info] = documents::<2>(data);
    let raw = TronRaw {
        block: block.unwrap_or_default().to_vec(),
        info: info.unwrap_or(b"[]").to_vec(),
    };
    let tokens = tron_tokens();
    agree(
        "tron block",
        tron::scan_block_with(Json::Skim, "tron", &tokens, 7, &raw, &Every),
        tron::scan_block_with(Json::Serde, "tron", &tokens, 7, &raw, &Every),
    );
}

/// The JSON-RPC answer reader (Bitcoin and EVM nodes): every JSON object
/// without an `error` is read, and its `result` is the same value serde
/// finds.
pub fn rpc_answer(data: &[u8]) {
    let ours = read_answer(bytes::Bytes::copy_from_slice(data));
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if map.get("error").is_some_and(|e| !e.is_null()) {
        return;
    }
    let answer = match ours {
        Ok(a) => a,
        Err(e) => panic!("a JSON object is refused: {e}"),
    };
    let want = map.get("result").filter(|v| !v.is_null());
    let got = answer
        .result
        .map(|r| serde_json::from_slice::<Value>(r.as_bytes()).expect("the result kept is JSON"));
    assert_eq!(got.as_ref(), want, "result");
    assert_eq!(answer.error, None, "error");
}

/// Address parsers: anything accepted is shown in a form that reads back
/// to the same key.
pub fn address(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for net in [
        Network::Bitcoin,
        Network::Testnet,
        Network::Signet,
        Network::Regtest,
    ] {
        if let Ok(a) = btc_address::parse_address(net, s) {
            let again = btc_address::parse_address(net, &a.display)
                .unwrap_or_else(|e| panic!("{net}: `{s}` shown as `{}`: {e}", a.display));
            assert_eq!(again.key, a.key, "{net}: `{s}`");
            assert_stored_key_reads_back(&a);
            assert_eq!(
                btc_address::display_script(net, a.key.as_bytes()),
                a.display,
                "{net}: `{s}`"
            );
        }
    }
    if let Ok(a) = evm_address::parse_address(s) {
        let again = evm_address::parse_address(&a.display)
            .unwrap_or_else(|e| panic!("evm: `{s}` shown as `{}`: {e}", a.display));
        assert_eq!(again.key, a.key, "evm: `{s}`");
        assert_eq!(
            evm_address::display(a.key.as_bytes()),
            a.display,
            "evm: `{s}`"
        );
        assert_stored_key_reads_back(&a);
    }
    if let Ok(a) = tron_address::parse_address(s) {
        let again = tron_address::parse_address(&a.display)
            .unwrap_or_else(|e| panic!("tron: `{s}` shown as `{}`: {e}", a.display));
        assert_eq!(again.key, a.key, "tron: `{s}`");
        assert_eq!(
            tron_address::display(a.key.as_bytes()),
            a.display,
            "tron: `{s}`"
        );
        assert_stored_key_reads_back(&a);
    }
}

/// A stored transfer keeps the key as bytes next to the display form; the
/// two must give back the same key, of the same kind.
fn assert_stored_key_reads_back(a: &paywatch::address::WatchAddress) {
    assert_eq!(
        paywatch::address::AddressKey::from_display(&a.display, a.key.as_bytes().to_vec()).as_ref(),
        Some(&a.key),
        "`{}`",
        a.display
    );
}

/// The config loader: any text is accepted or refused with a message
/// naming the file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/paywatch-fuzz/paywatch.toml");
    if let Err(e) = Config::parse(text, path) {
        let message = e.to_string();
        assert!(
            message.contains("paywatch.toml"),
            "the error does not name the file: {message}"
        );
    }
}

/// The plugin verdict reader: a verdict accepted is written back in the
/// ABI's form, which reads to the same verdict.
pub fn verdict(data: &[u8]) {
    for sinks in [vec![], vec!["hook".to_string(), "bus".to_string()]] {
        if let Ok(v) = parse_verdict(data, &sinks) {
            let json = v.to_json();
            let again = parse_verdict(json.as_bytes(), &sinks)
                .unwrap_or_else(|e| panic!("`{json}` does not read back: {e}"));
            assert_eq!(again.to_json(), json);
        }
    }
}

// ---- seeds ------------------------------------------------------------------------

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn joined(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&0xffu8)
}

/// The seed corpus: the real blocks of the fixtures whole and cut to a few
/// transactions (small inputs mutate faster), addresses seen in them, the
/// repository's config files and verdicts of each kind.
pub fn seeds(fixtures: &Path, repo: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();

    // Bitcoin: each block whole and cut to its first transactions.
    for h in [413567u64, 702861, 866342] {
        let raw = read(&fixtures.join(format!("btc/block-{h}.raw")));
        let mut block: bitcoin::Block =
            bitcoin::consensus::deserialize(&raw).expect("a fixture block decodes");
        for tx in block.txdata.iter().take(3) {
            for o in &tx.output {
                let script = o.script_pubkey.as_bytes();
                out.push(("address", hex::encode(script).into_bytes()));
                out.push((
                    "address",
                    btc_address::display_script(Network::Bitcoin, script).into_bytes(),
                ));
            }
        }
        out.push(("bitcoin_block", raw));
        block.txdata.truncate(4);
        out.push(("bitcoin_block", bitcoin::consensus::serialize(&block)));
    }

    // Ethereum: each block with its receipts, whole and cut.
    for h in [17173049u64, 17173050] {
        let rpc = fixtures.join("eth/rpc");
        let block = read(&rpc.join(format!("eth_getBlockByNumber-{h}.json")));
        let receipts = read(&rpc.join(format!("eth_getBlockReceipts-{h}.json")));
        out.push(("evm_block", joined(&[&block, &receipts])));
        out.push((
            "rpc_answer",
            [&br#"{"jsonrpc":"2.0","id":1,"result":"#[..], &block, b"}"].concat(),
        ));
        let mut block: Value = serde_json::from_slice(&block).expect("fixture JSON");
        let mut receipts: Value = serde_json::from_slice(&receipts).expect("fixture JSON");
        // The first transactions and a few that move USDT.
        let usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7";
        let keep: Vec<usize> = (0..receipts.as_array().map_or(0, Vec::len))
            .filter(|&i| {
                i < 2
                    || receipts[i]["logs"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|l| l["address"] == usdt))
            })
            .take(5)
            .collect();
        let pick = |v: &Value| -> Value { keep.iter().map(|&i| v[i].clone()).collect() };
        let txs = pick(&block["transactions"]);
        for tx in txs.as_array().into_iter().flatten() {
            for key in ["from", "to"] {
                if let Some(a) = tx[key].as_str() {
                    out.push(("address", a.as_bytes().to_vec()));
                }
            }
        }
        block["transactions"] = txs;
        receipts = pick(&receipts);
        let tx0 = block["transactions"][0]["hash"].clone();
        let traces = serde_json::json!([{
            "action": {"callType": "call", "from": "0x00000000000000000000000000000000000000a1",
                       "to": "0x00000000000000000000000000000000000000b2", "value": "0x5",
                       "gas": "0x0", "input": "0x"},
            "result": {"gasUsed": "0x0", "output": "0x"}, "subtraces": 0,
            "traceAddress": [0], "transactionHash": tx0, "transactionPosition": 0,
            "type": "call"
        }]);
        let (block, receipts, traces) =
            (block.to_string(), receipts.to_string(), traces.to_string());
        out.push((
            "evm_block",
            joined(&[block.as_bytes(), receipts.as_bytes()]),
        ));
        out.push((
            "evm_block",
            joined(&[block.as_bytes(), receipts.as_bytes(), traces.as_bytes()]),
        ));
    }
    out.push((
        "rpc_answer",
        br#"{"jsonrpc":"2.0","id":3,"error":{"code":-5,"message":"Block not found"}}"#.to_vec(),
    ));
    out.push((
        "rpc_answer",
        br#"{"result":null,"error":null,"id":"x"}"#.to_vec(),
    ));

    // TRON: each block with its transaction info, whole and cut.
    for h in [60836289u64, 61132092] {
        let dir = fixtures.join("tron");
        let block = read(&dir.join(format!("getblockbynum-{h}.json")));
        let info = read(&dir.join(format!("gettransactioninfobyblocknum-{h}.derived.json")));
        out.push(("tron_block", joined(&[&block, &info])));
        let mut block: Value = json(&dir.join(format!("getblockbynum-{h}.json")));
        let info: Value = serde_json::from_slice(&info).expect("fixture JSON");
        let with_logs: Vec<&Value> = info
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i.get("log").is_some())
            .take(4)
            .collect();
        let ids: Vec<&Value> = with_logs.iter().map(|i| &i["id"]).collect();
        let txs: Vec<Value> = block["transactions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(n, t)| *n < 2 || ids.contains(&&t["txID"]))
            .map(|(_, t)| t.clone())
            .collect();
        let kept: Vec<&Value> = txs.iter().map(|t| &t["txID"]).collect();
        let info: Vec<&Value> = info
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| kept.contains(&&i["id"]))
            .collect();
        block["transactions"] = Value::Array(txs);
        let (block, info) = (block.to_string(), serde_json::json!(info).to_string());
        out.push(("tron_block", joined(&[block.as_bytes(), info.as_bytes()])));
    }
    for a in [
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "41a614f803b6fd780986a42c78ec9c7f77e6ded13c",
        "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
        "6a0b68656c6c6f20776f726c64",
    ] {
        out.push(("address", a.as_bytes().to_vec()));
    }

    // Config: the repository's examples.
    for name in ["paywatch.toml", "demo.toml", "regtest.toml"] {
        out.push(("config", read(&repo.join("config").join(name))));
    }

    for v in [
        r#"{"action":"forward"}"#,
        r#"{"action":"forward","sinks":["hook"],"payload":{"order":42,"paid":true}}"#,
        r#"{"action":"drop","reason":"below the minimum"}"#,
        r#"{"action":"delay","ms":60000}"#,
    ] {
        out.push(("verdict", v.as_bytes().to_vec()));
    }
    out
}
