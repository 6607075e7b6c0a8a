//! `paywatch plugin test` and `check-config` on plugins, through the binary.

use crate::common;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_paywatch");

const EVENT: &str = r#"{"id":"btc:ab:0:in:0011223344556677:detected","type":"payment.detected","seq":7,"chain":"btc","network":"regtest","direction":"in","address":"mzBc4XEFSdzCDcTxAgf6EZXgsZWpztRhef","txid":"ab","index":0,"block":{"height":5,"hash":"00","time":1},"confirmations":1,"asset":{"symbol":"BTC","decimals":8,"contract":null},"amount":"50000","watch":{"label":"order-42","metadata":{}}}"#;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugin_test_prints_the_verdict_the_logs_and_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, EVENT).unwrap();
    let wasm = common::plugin_wasm("min_amount");
    let (code, out, err) = run(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
        "--config",
        r#"{"min":{"BTC":"0.001"}}"#,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            r#"verdict: {"action":"drop","reason":"0.0005 BTC is below the minimum 0.001"}"#
        ),
        "{out}"
    );
    assert!(out.contains("call: "), "{out}");

    // A configuration the plugin's init rejects.
    let (code, out, err) = run(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
        "--config",
        r#"{"min":{"BTC":0.001}}"#,
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("init returned"), "{err}");
}

#[test]
fn plugin_test_points_at_the_cause_of_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, EVENT).unwrap();
    let trap = dir.path().join("trap.wat");
    std::fs::write(
        &trap,
        r#"(module (memory (export "memory") 1) (func (export "paywatch_abi_v1"))
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func $check_amount (unreachable))
             (func (export "on_event") (param i32 i32) (result i64) (call $check_amount) (i64.const 0)))"#,
    )
    .unwrap();
    let (code, _, err) = run(&[
        "plugin",
        "test",
        trap.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("trapped"), "{err}");
    assert!(
        err.contains("check_amount"),
        "the backtrace names the function: {err}"
    );

    let v2 = dir.path().join("v2.wat");
    std::fs::write(
        &v2,
        r#"(module (memory (export "memory") 1) (func (export "paywatch_abi_v2")))"#,
    )
    .unwrap();
    let (code, _, err) = run(&[
        "plugin",
        "test",
        v2.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("built for ABI v2"), "{err}");

    let (code, _, err) = run(&[
        "plugin",
        "test",
        trap.to_str().unwrap(),
        "--event",
        "/nonexistent/event.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/event.json"), "{err}");
}

#[test]
fn check_config_loads_the_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::plugin_wasm("forward_all");
    let config = |plugin_path: &str| {
        format!(
            "data_dir = \"{}\"\n[[plugin]]\nname = \"all\"\npath = \"{plugin_path}\"\n\
             [[sink]]\nname = \"shop\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
             secret = \"0123456789abcdef0123\"\n",
            dir.path().display()
        )
    };
    let good = dir.path().join("good.toml");
    std::fs::write(&good, config(wasm.to_str().unwrap())).unwrap();
    let (code, out, err) = run(&["check-config", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok (0 chains, 1 plugin, 1 sink)"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, config("/nonexistent/plugin.wasm")).unwrap();
    let (code, _, err) = run(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("plugin `all`") && err.contains("cannot read"),
        "{err}"
    );

    // A webhook without a secret is refused: unsigned callbacks are not an option.
    let unsigned = dir.path().join("unsigned.toml");
    std::fs::write(
        &unsigned,
        config(wasm.to_str().unwrap()).replace("secret = \"0123456789abcdef0123\"\n", ""),
    )
    .unwrap();
    let (code, _, err) = run(&["check-config", unsigned.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("sink[0] `shop`") && err.contains("secret"),
        "{err}"
    );
}
