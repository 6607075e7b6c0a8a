//! Hostile plugins (written in WAT) are contained: each failure is reported
//! with its cause, the instance is replaced, a plugin that keeps failing is
//! disabled, and a well-behaved plugin on the same engine keeps working.

use crate::common;

use paywatch::config::PluginLimits;
use paywatch::plugin::{CallError, MemoryKv, Plugin, PluginEngine, PluginSpec, Verdict};
use std::path::Path;
use std::sync::Arc;

const EVENT: &str = r#"{"id":"btc:ab:0:in:0011223344556677:detected","type":"payment.detected","seq":7,"chain":"btc","network":"regtest","direction":"in","address":"mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef","txid":"ab","index":0,"block":{"height":5,"hash":"00","time":1},"confirmations":1,"asset":{"symbol":"BTC","decimals":8,"contract":null},"amount":"0.5","watch":{"label":"order-42","metadata":{}}}"#;

/// A module that follows ABI v1, with `on_event` taken from `body`.
/// Offset 16 holds `{"action":"forward"}` (20 bytes), offset 64 `not json`.
fn module(abi_export: &str, body: &str, extra: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "{abi_export}"))
  (func (export "alloc") (param $len i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.shr_u (i32.add (local.get $len) (i32.const 4096)) (i32.const 16)) (i32.const 1)))
    (if (i32.lt_u (memory.size) (local.get $need))
      (then (drop (memory.grow (i32.sub (local.get $need) (memory.size))))))
    (i32.const 4096))
  (data (i32.const 16) "{{\"action\":\"forward\"}}")
  (data (i32.const 64) "not json")
  {extra}
  (func (export "on_event") (param $p i32) (param $l i32) (result i64)
    {body}))"#
    )
}

const FORWARD: &str = "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 20))";

fn load(
    engine: &PluginEngine,
    dir: &Path,
    name: &str,
    text: &str,
    limits: &PluginLimits,
) -> Result<Plugin, String> {
    try_load(engine, dir, name, text, limits)
}

fn refused(
    engine: &PluginEngine,
    dir: &Path,
    name: &str,
    text: &str,
    limits: &PluginLimits,
) -> String {
    match try_load(engine, dir, name, text, limits) {
        Ok(_) => panic!("{name} should be refused"),
        Err(e) => e,
    }
}

fn try_load(
    engine: &PluginEngine,
    dir: &Path,
    name: &str,
    text: &str,
    limits: &PluginLimits,
) -> Result<Plugin, String> {
    let path = dir.join(format!("{name}.wat"));
    std::fs::write(&path, text).unwrap();
    engine
        .load(PluginSpec {
            name,
            path: &path,
            config: &serde_json::json!({}),
            limits,
            kv: Arc::new(MemoryKv::default()),
            sinks: Arc::from(vec!["shop".to_string()]),
            capture_logs: false,
        })
        .map_err(|e| e.to_string())
}

fn assert_forwards(p: &mut Plugin) {
    match p.call(EVENT.as_bytes()) {
        Ok(Verdict::Forward { sinks: None, .. }) => {}
        other => panic!("the good plugin should forward, got {other:?}"),
    }
}

#[test]
fn hostile_plugins_are_contained_and_the_good_one_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(None).unwrap();
    let limits = PluginLimits {
        max_failures: 3,
        ..Default::default()
    };
    let mut good = load(
        &engine,
        dir.path(),
        "good",
        &module("paywatch_abi_v1", FORWARD, ""),
        &limits,
    )
    .unwrap();
    assert_forwards(&mut good);

    type Check = fn(&CallError) -> bool;
    let cases: Vec<(&str, String, Check)> = vec![
        (
            "infinite-loop",
            module("paywatch_abi_v1", "(loop $l (br $l)) (i64.const 0)", ""),
            |e| matches!(e, CallError::Timeout(_)),
        ),
        (
            "memory-4gib",
            module(
                "paywatch_abi_v1",
                "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1024)) (i32.const -1)))) (i64.const 0)",
                "",
            ),
            |e| matches!(e, CallError::Memory(32)),
        ),
        (
            "stack-overflow",
            module(
                "paywatch_abi_v1",
                "(call $deep (i32.const 0)) (i64.const 0)",
                "(func $deep (param i32) (call $deep (i32.add (local.get 0) (i32.const 1))))",
            ),
            |e| matches!(e, CallError::Trap(m) if m.contains("call stack exhausted") && m.contains("wasm backtrace")),
        ),
        (
            "trap",
            module("paywatch_abi_v1", "unreachable", ""),
            |e| matches!(e, CallError::Trap(m) if m.contains("unreachable")),
        ),
        (
            "huge-verdict",
            // Claims a 100 MB verdict.
            module(
                "paywatch_abi_v1",
                "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 100000000))",
                "",
            ),
            |e| matches!(e, CallError::BadVerdict(m) if m.contains("100000000 bytes")),
        ),
        (
            "invalid-json",
            module(
                "paywatch_abi_v1",
                "(i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 8))",
                "",
            ),
            |e| matches!(e, CallError::BadVerdict(m) if m.contains("not json")),
        ),
        (
            "error-code",
            module("paywatch_abi_v1", "(i64.const -7)", ""),
            |e| matches!(e, CallError::Code(-7)),
        ),
    ];
    for (name, text, check) in cases {
        let mut bad = load(&engine, dir.path(), name, &text, &limits)
            .unwrap_or_else(|e| panic!("{name} should load: {e}"));
        for round in 0..3 {
            let err = bad.call(EVENT.as_bytes()).expect_err(name);
            assert!(check(&err), "{name}, call {round}: unexpected {err:?}");
            // The good plugin is untouched by the failure next to it.
            assert_forwards(&mut good);
        }
        // Three failures in a row (the limit here): disabled, not called.
        let status = bad.status();
        assert_eq!(status.state, "disabled", "{name}: {status:?}");
        assert_eq!(status.failures, 3);
        assert!(status.last_error.is_some());
        assert!(
            matches!(
                bad.call(EVENT.as_bytes()),
                Err(CallError::Disabled { failures: 3, .. })
            ),
            "{name} should be disabled"
        );
    }
    assert_eq!(good.status().failures, 0);
    assert_eq!(good.status().calls, 1 + 7 * 3);
}

#[test]
fn a_trap_recycles_the_instance() {
    // The first call sets a global and traps; a recycled instance starts
    // with the global clear again, so the second call forwards.
    let body = r#"(if (i32.eqz (global.get $calls))
         (then (global.set $calls (i32.const 1)) unreachable))
       (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 20))"#;
    let dir = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(None).unwrap();
    let limits = PluginLimits::default();
    let text = module(
        "paywatch_abi_v1",
        body,
        "(global $calls (mut i32) (i32.const 0))",
    );
    let mut p = load(&engine, dir.path(), "flaky", &text, &limits).unwrap();
    assert!(matches!(p.call(EVENT.as_bytes()), Err(CallError::Trap(_))));
    // A fresh instance has `$calls` = 0 again, so it traps once more: the
    // state of the failed instance did not survive.
    assert!(matches!(p.call(EVENT.as_bytes()), Err(CallError::Trap(_))));
    assert_eq!(p.status().consecutive_failures, 2);
}

#[test]
fn modules_that_cannot_be_plugins_are_refused_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(None).unwrap();
    let limits = PluginLimits::default();
    let err = refused(
        &engine,
        dir.path(),
        "v2",
        &module("paywatch_abi_v2", FORWARD, ""),
        &limits,
    );
    assert!(err.contains("built for ABI v2"), "{err}");
    let err = refused(
        &engine,
        dir.path(),
        "none",
        &module("something_else", FORWARD, ""),
        &limits,
    );
    assert!(err.contains("paywatch_abi_v1` is missing"), "{err}");
    let no_alloc = module("paywatch_abi_v1", FORWARD, "").replace("(export \"alloc\")", "");
    let err = refused(&engine, dir.path(), "no-alloc", &no_alloc, &limits);
    assert!(err.contains("`alloc` is missing"), "{err}");
    let import = module("paywatch_abi_v1", FORWARD, "").replacen(
        "(module",
        "(module (import \"env\" \"open_socket\" (func)) ",
        1,
    );
    let err = refused(&engine, dir.path(), "socket", &import, &limits);
    assert!(err.contains("open_socket"), "{err}");
    std::fs::write(dir.path().join("junk.wasm"), b"\0asm junk").unwrap();
    let err = engine
        .load(PluginSpec {
            name: "junk",
            path: &dir.path().join("junk.wasm"),
            config: &serde_json::json!({}),
            limits: &limits,
            kv: Arc::new(MemoryKv::default()),
            sinks: Arc::from(Vec::<String>::new()),
            capture_logs: false,
        })
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid WebAssembly module"), "{err}");
}

#[test]
fn example_plugins_decide_as_documented() {
    let engine = PluginEngine::new(None).unwrap();
    let limits = PluginLimits::default();
    let kv = Arc::new(MemoryKv::default());
    let sinks: Arc<[String]> = Arc::from(vec!["shop".to_string(), "ops".to_string()]);
    let load = |name: &str, config: serde_json::Value| {
        engine
            .load(PluginSpec {
                name,
                path: &common::plugin_wasm(name),
                config: &config,
                limits: &limits,
                kv: kv.clone(),
                sinks: sinks.clone(),
                capture_logs: true,
            })
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // Amounts are base units: BTC has 8 decimals, USDT 6.
    let event = |amount: &str, symbol: &str| {
        let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        v["amount"] = amount.into();
        v["asset"]["symbol"] = symbol.into();
        v["asset"]["decimals"] = if symbol == "BTC" { 8 } else { 6 }.into();
        serde_json::to_vec(&v).unwrap()
    };

    let mut min = load(
        "min_amount",
        serde_json::json!({"min": {"BTC": "0.001", "USDT": "10"}}),
    );
    assert!(matches!(
        min.call(&event("50000", "BTC")).unwrap(),
        Verdict::Drop { .. }
    ));
    assert!(matches!(
        min.call(&event("100000", "BTC")).unwrap(),
        Verdict::Forward { .. }
    ));
    assert!(matches!(
        min.call(&event("9999999", "USDT")).unwrap(),
        Verdict::Drop { .. }
    ));
    assert!(matches!(
        min.call(&event("125500000", "USDT")).unwrap(),
        Verdict::Forward { .. }
    ));

    let mut route = load(
        "route",
        serde_json::json!({"routes": [{"asset": "USDT", "sinks": ["shop"]}], "default": ["ops"]}),
    );
    match route.call(&event("1", "USDT")).unwrap() {
        Verdict::Forward { sinks, .. } => assert_eq!(sinks.unwrap(), vec!["shop"]),
        other => panic!("{other:?}"),
    }
    match route.call(&event("1", "BTC")).unwrap() {
        Verdict::Forward { sinks, .. } => assert_eq!(sinks.unwrap(), vec!["ops"]),
        other => panic!("{other:?}"),
    }

    // Two a minute per address: the third is held until the window ends.
    let mut limit = load("rate_limit", serde_json::json!({"max_per_minute": 2}));
    for _ in 0..2 {
        assert!(matches!(
            limit.call(&event("1", "BTC")).unwrap(),
            Verdict::Forward { .. }
        ));
    }
    match limit.call(&event("1", "BTC")).unwrap() {
        Verdict::Delay { ms } => assert!((1..=60_000).contains(&ms), "{ms}"),
        other => panic!("{other:?}"),
    }
    // The count lives in the key-value store, so a new instance sees it.
    limit.recycle().unwrap();
    assert!(matches!(
        limit.call(&event("1", "BTC")).unwrap(),
        Verdict::Delay { .. }
    ));

    let mut all = load("forward_all", serde_json::json!({}));
    assert!(matches!(
        all.call(&event("1", "BTC")).unwrap(),
        Verdict::Forward { sinks: None, .. }
    ));
}
