//! The shipped service unit passes `systemd-analyze verify` (with its paths
//! pointed at the binary under test), without a single warning.

use std::process::Command;

#[test]
fn the_service_unit_verifies_cleanly() {
    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze is missing (scripts/setup-deps.sh installs systemd)"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(which.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/paywatch.service"
    ))
    .unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    // The plugin host compiles WebAssembly to machine code at run time.
    assert!(
        !unit
            .lines()
            .any(|l| l.starts_with("MemoryDenyWriteExecute=yes")),
        "MemoryDenyWriteExecute=yes would stop every plugin from loading"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paywatch.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/paywatch", env!("CARGO_BIN_EXE_paywatch")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned:\n{stderr}"
    );
}
