//! The verification snippets in `docs/webhooks.md` checked against
//! signatures made by paywatch itself: a receiver that copies one gets a
//! function that accepts a fresh, intact request and refuses a changed body,
//! a timestamp 10 minutes old and a signature without its `v1=` prefix.
//!
//! Each language runs when its interpreter is on `PATH` (scripts/setup-deps.sh
//! installs `php`); with `CI=true` all three must be there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A webhook secret as an operator would configure it (16+ characters).
const SECRET: &str = "whsec_4f1c9a7e2b3d5a60c8e1f2a3";

/// An event as a webhook body carries it, with a non-ASCII label so that a
/// snippet which does not work on the raw bytes fails.
const BODY: &str = concat!(
    r#"{"id":"btc:52677d3f0c9e1b2a4d6f8e0a1c3b5d7f9e2a4c6b8d0f1e3a5c7b9d2f4e6a7f7a:1:in:8091a2b3c4d5e6f7:detected","#,
    r#""type":"payment.detected","seq":1042,"chain":"btc","network":"mainnet","direction":"in","#,
    r#""address":"bc1qwhgnwum33k7wxx78c9dszx7f8p5vswrnz2ke45","#,
    r#""txid":"52677d3f0c9e1b2a4d6f8e0a1c3b5d7f9e2a4c6b8d0f1e3a5c7b9d2f4e6a7f7a","index":1,"#,
    r#""block":{"height":866012,"hash":"00000000000000000001c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7","time":1729000000},"#,
    r#""confirmations":1,"asset":{"symbol":"BTC","decimals":8,"contract":null},"amount":"125500000","#,
    r#""watch":{"label":"order-42 — Müller","metadata":{"order":42}}}"#,
);

/// What the harness prints, one line per case in `cases()`.
const EXPECTED: [&str; 4] = ["true", "false", "false", "false"];

const CASE_NAMES: [&str; 4] = [
    "a fresh signature over the intact body",
    "the same signature over a body with one byte changed",
    "a valid signature with a timestamp 10 minutes old",
    "a fresh signature without its `v1=` prefix",
];

struct Language {
    /// The fence tag in the document.
    tag: &'static str,
    interpreter: &'static str,
    extension: &'static str,
    /// Whether the interpreter must exist when `CI=true`.
    required_in_ci: bool,
    /// Appended to the snippet: reads `PAYWATCH_TEST_SECRET` and
    /// `PAYWATCH_TEST_CASES` (lines of `timestamp hex-body signature`) and
    /// prints `true` or `false` for each case.
    harness: &'static str,
}

const PYTHON: Language = Language {
    tag: "python",
    interpreter: "python3",
    extension: "py",
    required_in_ci: true,
    harness: r#"

import os as _pw_os

_pw_secret = _pw_os.environ["PAYWATCH_TEST_SECRET"].encode()
for _pw_line in _pw_os.environ["PAYWATCH_TEST_CASES"].splitlines():
    _pw_ts, _pw_body, _pw_sig = _pw_line.split(" ")
    _pw_ok = verify(_pw_secret, _pw_ts, bytes.fromhex(_pw_body), _pw_sig)
    print("true" if _pw_ok is True else "false" if _pw_ok is False else "not a bool: %r" % (_pw_ok,))
"#,
};

const NODE: Language = Language {
    tag: "js",
    interpreter: "node",
    // CommonJS whatever a package.json above the temporary directory says.
    extension: "cjs",
    required_in_ci: true,
    harness: r#"

const _pwSecret = process.env.PAYWATCH_TEST_SECRET;
for (const _pwLine of process.env.PAYWATCH_TEST_CASES.split("\n")) {
  const [_pwTs, _pwBody, _pwSig] = _pwLine.split(" ");
  const _pwOk = verify(_pwSecret, _pwTs, Buffer.from(_pwBody, "hex"), _pwSig);
  console.log(_pwOk === true ? "true" : _pwOk === false ? "false" : "not a bool: " + String(_pwOk));
}
"#,
};

const PHP: Language = Language {
    tag: "php",
    interpreter: "php",
    extension: "php",
    required_in_ci: true,
    harness: r#"

$_pw_secret = getenv('PAYWATCH_TEST_SECRET');
foreach (explode("\n", getenv('PAYWATCH_TEST_CASES')) as $_pw_line) {
    list($_pw_ts, $_pw_body, $_pw_sig) = explode(' ', $_pw_line);
    $_pw_ok = paywatch_verify($_pw_secret, $_pw_ts, hex2bin($_pw_body), $_pw_sig);
    echo $_pw_ok === true ? 'true' : ($_pw_ok === false ? 'false' : 'not a bool'), "\n";
}
"#,
};

#[test]
fn python_snippet_verifies_paywatch_signatures() {
    check(&PYTHON);
}

#[test]
fn node_snippet_verifies_paywatch_signatures() {
    check(&NODE);
}

#[test]
fn php_snippet_verifies_paywatch_signatures() {
    check(&PHP);
}

fn check(lang: &Language) {
    let block = snippet(lang.tag);
    let Some(interpreter) = on_path(lang.interpreter) else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !(ci && lang.required_in_ci),
            "CI=true but `{}` is not on PATH: the ```{} snippet of docs/webhooks.md must be checked in CI",
            lang.interpreter,
            lang.tag
        );
        println!(
            "note: `{}` is not on PATH; the ```{} snippet of docs/webhooks.md was not run",
            lang.interpreter, lang.tag
        );
        return;
    };

    let mut script = String::new();
    if lang.tag == "php" {
        let code = block.trim_end();
        if !code.trim_start().starts_with("<?php") {
            script.push_str("<?php\n");
        }
        // Code after a closing tag would be printed, not run.
        script.push_str(code.strip_suffix("?>").unwrap_or(code));
    } else {
        script.push_str(&block);
    }
    script.push_str(lang.harness);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(format!("verify.{}", lang.extension));
    std::fs::write(&path, &script).expect("the harness script is written");

    let output = Command::new(&interpreter)
        .arg(&path)
        .current_dir(dir.path())
        .env("PAYWATCH_TEST_SECRET", SECRET)
        .env("PAYWATCH_TEST_CASES", cases())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", interpreter.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} exited with {} running the ```{} snippet\nstdout:\n{stdout}\nstderr:\n{stderr}\nscript:\n{script}",
        lang.interpreter,
        output.status,
        lang.tag
    );
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines.len(),
        EXPECTED.len(),
        "the ```{} snippet printed {} lines, not one per case\nstdout:\n{stdout}\nstderr:\n{stderr}",
        lang.tag,
        lines.len()
    );
    for ((got, want), case) in lines.iter().zip(EXPECTED).zip(CASE_NAMES) {
        assert_eq!(
            *got, want,
            "the ```{} snippet answered {got} for {case}\nstderr:\n{stderr}",
            lang.tag
        );
    }
}

/// The cases as lines of `timestamp hex-body signature`, in the order of
/// `CASE_NAMES`.
fn cases() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    let old = now - 600;
    let body = BODY.as_bytes();

    let fresh = paywatch::deliver::signature(SECRET.as_bytes(), now, body);
    assert!(
        fresh.starts_with("v1="),
        "signature() gives `v1=<hex>`, got {fresh}"
    );
    let stale = paywatch::deliver::signature(SECRET.as_bytes(), old, body);

    let needle: &[u8] = br#""amount":"125500000""#;
    let at = body
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the body has the amount")
        + needle.len()
        - 2;
    let mut tampered = body.to_vec();
    tampered[at] = b'1';
    assert_ne!(tampered, body);

    let unprefixed = &fresh["v1=".len()..];
    [
        format!("{now} {} {fresh}", hex::encode(body)),
        format!("{now} {} {fresh}", hex::encode(&tampered)),
        format!("{old} {} {stale}", hex::encode(body)),
        format!("{now} {} {unprefixed}", hex::encode(body)),
    ]
    .join("\n")
}

/// The one fenced block tagged `tag` in docs/webhooks.md.
fn snippet(tag: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/webhooks.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let opening = format!("```{tag}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(mut code) = current.take() {
            if line.trim_end() == "```" {
                blocks.push(code);
            } else {
                code.push_str(line);
                code.push('\n');
                current = Some(code);
            }
        } else if line.trim_end() == opening {
            current = Some(String::new());
        }
    }
    assert!(
        current.is_none(),
        "the last ```{tag} block of {} is not closed",
        path.display()
    );
    assert_eq!(
        blocks.len(),
        1,
        "{} should have exactly one ```{tag} block, the verification snippet",
        path.display()
    );
    blocks.pop().expect("one block")
}

/// `name` as a shell would find it on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}
