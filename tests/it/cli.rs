//! The `paywatch` binary: `check-config` verdicts and a clean stop on SIGTERM
//! and SIGINT.

use crate::common::process::free_port;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_paywatch");

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("paywatch.toml");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

#[test]
fn check_config_accepts_the_shipped_examples_shape() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "__cookie__:abc").unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/paywatch.toml"))
            .unwrap()
            .replace("/var/lib/bitcoind/.cookie", cookie.to_str().unwrap());
    let p = write_config(dir.path(), &text);
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 chain, 0 plugins, 0 sinks)"));
}

/// The shipped configs failed their own suggested `check-config` on a
/// machine where bitcoind had not written its cookie yet. As shipped, each
/// passes; a cookie not there yet is a warning naming its key and line.
#[test]
fn every_shipped_example_config_passes_check_config() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // The templates the demos fill in (scripts/demo-lib.sh's fill_config),
    // filled the same way: every @NAME@ the demo gives.
    let fill = |template: &str, pairs: &[(&str, &str)]| {
        let mut text = std::fs::read_to_string(repo.join(template)).unwrap();
        for (name, value) in [
            ("API_LISTEN", "127.0.0.1:8480"),
            ("ANVIL_URL", "http://127.0.0.1:8545"),
            (
                "TOKEN_ADDRESS",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            ),
        ]
        .iter()
        .chain(pairs)
        {
            text = text.replace(&format!("@{name}@"), value);
        }
        assert!(
            !text.lines().any(|l| !l.starts_with('#') && l.contains('@')),
            "a placeholder is left in {template}: {text}"
        );
        text
    };
    let demo = fill(
        "config/demo.toml",
        &[
            ("REPO", repo.to_str().unwrap()),
            ("RECEIVER_URL", "http://127.0.0.1:9/hook"),
        ],
    );
    // ... and the secret it writes beside it.
    std::fs::write(dir.path().join("webhook.secret"), "demo-secret-0123456789").unwrap();
    let demo_path = dir.path().join("demo.toml");
    std::fs::write(&demo_path, demo).unwrap();
    let shop = fill("config/demo-shop.toml", &[]);
    let shop_path = dir.path().join("demo-shop.toml");
    std::fs::write(&shop_path, shop).unwrap();
    // Where bitcoind is running, its cookie is there and nothing is said.
    let unless_there = |cookie: &str, line| (!repo.join(cookie).is_file()).then_some(line);
    for (path, warns) in [
        (
            repo.join("config/paywatch.toml"),
            unless_there("/var/lib/bitcoind/.cookie", 29),
        ),
        (
            repo.join("config/regtest.toml"),
            unless_there(".regtest/node/regtest/.cookie", 13),
        ),
        (demo_path, None),
        (shop_path, None),
    ] {
        let out = Command::new(BIN)
            .arg("check-config")
            .arg(&path)
            .current_dir(repo)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {err}", path.display());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(": ok ("),
            "{}",
            path.display()
        );
        match warns {
            Some(line) => assert!(
                err.contains("warning: ")
                    && err.contains(&format!("chain[0].rpc_cookie (line {line})")),
                "{}: {err}",
                path.display()
            ),
            None => assert!(err.is_empty(), "{}: {err}", path.display()),
        }
    }
}

#[test]
fn check_config_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_config(
        dir.path(),
        "data_dir = \"/tmp/x\"\n[api]\nlisten = \"127.0.0.1:8480\"\nlisten_backlog = 5\n",
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listen_backlog") && err.contains("line 4"),
        "{err}"
    );

    let missing = Command::new(BIN)
        .arg("check-config")
        .arg(dir.path().join("nope.toml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.toml"));
}

fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "API never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "exit status {s}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIG{signal}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The database was closed: it opens again.
    paywatch::store::Store::open(&dir.path().join("data/db"))
        .expect("store reopens after a clean stop");
}

#[test]
fn stops_cleanly_on_sigterm() {
    stops_cleanly_on("TERM");
}

#[test]
fn stops_cleanly_on_sigint() {
    stops_cleanly_on("INT");
}

#[test]
fn tells_systemd_when_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = free_port();
    let p = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display()
        ),
    );
    let child = Command::new(BIN)
        .args(["run", "--log-format", "json", "--config"])
        .arg(&p)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("READY=1")) {
        let n = socket
            .recv(&mut buf)
            .expect("a notification from the daemon");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // Ready means the API answers.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("API listening when READY=1 is sent");
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    while !seen.iter().any(|m| m.contains("STOPPING=1")) {
        let n = socket.recv(&mut buf).expect("STOPPING=1 before exit");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // --log-format json: every log line is a JSON object.
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.lines().count() >= 2, "{logs}");
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
}
