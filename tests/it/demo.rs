//! The README's demo commands run to the end and leave nothing behind.
//! `bash scripts/demo.sh`: both payments reach the demo's webhook receiver
//! as detected and confirmed events with good signatures.
//! `bash scripts/demo-shop.sh`: a token invoice is paid in two parts and an
//! ETH invoice in full, each followed to confirmed. Both use the binary
//! under test (`PAYWATCH_BIN`), so they never run cargo on this crate from
//! inside `cargo test`.

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

/// What a demo printed: its stdout, and stdout with stderr for failure
/// messages.
struct DemoRun {
    stdout: String,
    output: String,
}

/// Runs `bash {script}` in the repository with the binary under test, its
/// temporary folder in a folder of the test's own (so that its removal
/// shows) and `env` added; fails unless the demo exits 0 within `TIMEOUT`,
/// leaving no process running and nothing in that folder. `None`: skipped,
/// Anvil is not installed.
fn run_demo(script: &str, env: &[(&str, &str)]) -> Option<DemoRun> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !anvil_installed(repo) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let mut child = Command::new("bash")
        .arg(script)
        .current_dir(repo)
        .env("PAYWATCH_BIN", env!("CARGO_BIN_EXE_paywatch"))
        .env("TMPDIR", tmp)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout stops anvil, paywatch and the
        // rest too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("run bash {script}: {e}"));
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
        panic!("{script} did not finish within {TIMEOUT:?}\n{output}");
    };
    assert!(status.success(), "{script} failed: {status}\n{output}");
    assert!(
        !kill_group(child.id(), "0"),
        "{script} left processes running\n{output}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{script} left {left:?} behind\n{output}");
    Some(DemoRun { stdout, output })
}

#[test]
fn demo_script_delivers_both_payments_detected_and_confirmed() {
    let Some(DemoRun { stdout, output }) = run_demo("scripts/demo.sh", &[]) else {
        return;
    };

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
}

#[test]
fn shop_demo_pays_a_token_invoice_partly_then_fully() {
    let Some(DemoRun { stdout, output }) = run_demo(
        "scripts/demo-shop.sh",
        &[("PAYWATCH_DEMO_SCREENSHOTS", "0")],
    ) else {
        return;
    };
    // The number of the first line that starts with `text`, indent aside.
    let at = |text: &str| {
        stdout
            .lines()
            .position(|l| l.trim_start().starts_with(text))
            .unwrap_or_else(|| panic!("no line starting with {text:?}\n{output}"))
    };

    // Both invoices, each with its address, exact amount and checkout page.
    at("==> creating invoice 1001 for 25 PWT");
    at("==> creating invoice 1002 for 0.05 ETH");
    for line in [
        "pay       exactly 25 PWT to 0x",
        "pay       exactly 0.05 ETH to 0x",
    ] {
        at(line);
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("checkout  http://127.0.0.1:"))
            .count(),
        2,
        "a checkout URL per invoice\n{output}"
    );
    at("==> skipping the screenshots (PAYWATCH_DEMO_SCREENSHOTS=0)");

    // The token invoice: 40 % paid, as the API and the checkout page say;
    // then the rest; then the chain's confirmations.
    let underpaid = at("invoice 1001: underpaid, 10 of 25 PWT paid in 1 payment");
    let page = at("status underpaid: 10 PWT paid, 15 PWT still due");
    let paid = at("invoice 1001: paid, 25 of 25 PWT paid in 2 payments");
    let confirmed = at("invoice 1001: confirmed, 25 of 25 PWT paid in 2 payments (2 confirmed)");
    assert!(
        underpaid < page && page < paid && paid < confirmed,
        "the token invoice went underpaid, paid, confirmed out of order\n{output}"
    );
    // The ETH invoice, in full.
    let eth_paid = at("invoice 1002: paid, 0.05 of 0.05 ETH paid in 1 payment");
    let eth_confirmed =
        at("invoice 1002: confirmed, 0.05 of 0.05 ETH paid in 1 payment (1 confirmed)");
    assert!(eth_paid < eth_confirmed, "{output}");

    // The invoice events from the feed, in order.
    let event = |kind: &str, order: &str| {
        stdout
            .lines()
            .position(|l| {
                l.trim_start().starts_with(&format!("{kind} "))
                    && l.contains(&format!(" order {order} "))
            })
            .unwrap_or_else(|| panic!("no {kind} event for order {order}\n{output}"))
    };
    let events = [
        event("invoice.underpaid", "1001"),
        event("invoice.paid", "1001"),
        event("invoice.confirmed", "1001"),
        event("invoice.paid", "1002"),
        event("invoice.confirmed", "1002"),
    ];
    assert!(
        events.windows(2).all(|w| w[0] < w[1]),
        "the invoice events are out of order\n{output}"
    );
    assert!(
        events[0] > eth_confirmed,
        "the events are shown at the end\n{output}"
    );
    at("Done in ");
}
