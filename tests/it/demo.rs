//! The README's first command, `bash scripts/demo.sh`, runs to the end: both
//! payments reach the demo's webhook receiver as detected and confirmed
//! events with good signatures, and the demo leaves nothing behind. It uses
//! the binary under test (`PAYWATCH_BIN`), so it never runs cargo on this
//! crate from inside `cargo test`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(300);

/// Whether Anvil is installed where `scripts/setup-deps.sh` puts it; outside
/// CI a missing one skips the test with a note.
fn anvil_installed(repo: &Path) -> bool {
    let anvil = repo.join(".tools/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if anvil.is_file() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: run scripts/setup-deps.sh",
        anvil.display()
    );
    eprintln!(
        "skipped: {} is missing (run scripts/setup-deps.sh)",
        anvil.display()
    );
    false
}

/// Reads a pipe to its end on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Sends `signal` to every process of the group led by `pid`; false when
/// the group has no process left (bash's `kill`, so no procps is needed).
fn kill_group(pid: u32, signal: &str) -> bool {
    Command::new("bash")
        .args(["-c", &format!("kill -{signal} -- -{pid} 2>/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn demo_script_delivers_both_payments_detected_and_confirmed() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !anvil_installed(repo) {
        return;
    }
    // The demo's temporary folder goes here, so that its removal shows.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("bash")
        .arg("scripts/demo.sh")
        .current_dir(repo)
        .env("PAYWATCH_BIN", env!("CARGO_BIN_EXE_paywatch"))
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout stops anvil, paywatch and the
        // receiver too.
        .process_group(0)
        .spawn()
        .expect("run bash scripts/demo.sh");
    let stdout = collect(child.stdout.take().expect("stdout is piped"));
    let stderr = collect(child.stderr.take().expect("stderr is piped"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            // The demo's trap stops what it started; KILL whatever is left.
            kill_group(child.id(), "TERM");
            std::thread::sleep(Duration::from_secs(10));
            kill_group(child.id(), "KILL");
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let output = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    let Some(status) = status else {
        panic!("the demo did not finish within {TIMEOUT:?}\n{output}");
    };
    assert!(status.success(), "the demo failed: {status}\n{output}");

    // One receiver line per event and payment: "payment.detected  eth
    // 0x…  1.25 ETH  (order-1001)  signature ok".
    for kind in ["payment.detected", "payment.confirmed"] {
        for payment in ["1.25 ETH  (order-1001)", "42.5 PWT  (order-1002)"] {
            assert!(
                stdout.lines().any(|l| l.trim_start().starts_with(kind)
                    && l.contains(payment)
                    && l.ends_with("signature ok")),
                "no signed {kind} line for {payment}\n{output}"
            );
        }
    }
    assert!(
        !stdout.contains("rejected"),
        "the receiver refused a request\n{output}"
    );
    assert!(
        !kill_group(child.id(), "0"),
        "the demo left processes running\n{output}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} behind\n{output}");
}
