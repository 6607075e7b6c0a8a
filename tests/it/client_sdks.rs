//! The client SDKs (`clients/`), each built as its ecosystem builds it
//! (a wheel, an npm tarball, the PHP package's autoloader) and run end to
//! end against this build of paywatch on Anvil by `clients/run-e2e.sh`: a
//! token invoice paid and waited for, its webhook verified, the events
//! iterator resumed across a restart, the API's errors as typed
//! exceptions.

use crate::common::anvil::anvil_path;
use std::process::Command;

#[test]
fn python_typescript_and_php_clients_pay_verify_and_resume() {
    if anvil_path().is_none() {
        return;
    }
    let repo = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg("clients/run-e2e.sh")
        .env("PAYWATCH_BIN", env!("CARGO_BIN_EXE_paywatch"))
        .current_dir(repo)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "clients/run-e2e.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for sdk in ["python", "typescript", "php"] {
        assert!(
            stdout.contains(&format!("{sdk}: passed")),
            "{sdk} did not pass:\n{stdout}\n{stderr}"
        );
    }
}
