//! The hosted checkout page: public while the API needs a key, strict
//! headers, nothing of the invoice beyond its public fields, the buyer's
//! language, a status that wakes on payment and asks the wallet for what is
//! still due; and, in a real Chromium, a buyer paying an ETH invoice on
//! Anvil in two parts and watching the page follow it to "confirmed".

use crate::common;

use common::anvil::*;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

const CHAIN: &str = "btc";
const KEY: &str = "checkout-test-key-0123456789";

/// A config whose API needs `KEY`, with `extra` appended.
fn keyed_config(dir: &std::path::Path, chains: &[String], extra: &str) -> String {
    config_text(dir, chains).replacen(
        "listen = \"127.0.0.1:0\"\n",
        &format!("listen = \"127.0.0.1:0\"\napi_key = \"{KEY}\"\nopen_reads = false\n"),
        1,
    ) + extra
}

/// Starts the daemon; its client (`d.http`) carries the API key.
async fn start_keyed(config: &str) -> Daemon {
    let mut d = Daemon::start(config).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {KEY}").parse().unwrap());
    d.http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap();
    d
}

/// A request as a buyer's browser makes it: no API key.
async fn get(d: &Daemon, path: &str, lang: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(format!("{}{path}", d.url));
    if let Some(l) = lang {
        r = r.header("accept-language", l);
    }
    r.send().await.unwrap()
}

async fn api(d: &Daemon, path: &str, body: Option<Value>) -> (u16, Value) {
    match body {
        Some(b) => d.post_json(path, &b).await,
        None => d.get(path).await,
    }
}

/// Appends a block whose coinbase pays `sats` to `script`.
fn pay(chain: &mut Vec<bitcoin::Block>, script: bitcoin::ScriptBuf, sats: u64, tag: u32) {
    let height = 1 + chain.len() as u64;
    let prev = chain.last().unwrap().block_hash();
    let cb = coinbase(height, tag, script, sats);
    chain.push(block(prev, 1_700_000_000 + height as u32 * 600, vec![cb]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_page_is_public_and_follows_the_payment() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 2, 0);
    let node = ReplayNode::start(1, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = keyed_config(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 1, 2)],
        &format!(
            "[chain.invoices]\nxpub = \"{}\"\n\n[checkout]\npath = \"/shop/pay\"\n\
             public_url = \"https://pay.example\"\nshop_name = \"Example <Shop>\"\n\
             accent_color = \"#aa3300\"\n[checkout.text.zh]\nnote_pending = \"请尽快付款\"\n",
            bip84_vpub()
        ),
    );
    let d = start_keyed(&config).await;
    d.wait_indexed(CHAIN, 2).await;

    let (code, inv) = api(
        &d,
        "/v1/invoices",
        Some(json!({
            "chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "42",
            "redirect_url": "https://shop.example/thanks/42",
            "metadata": {"email": "buyer@example.com"},
        })),
    )
    .await;
    assert_eq!(code, 201, "{inv}");
    let id = inv["id"].as_str().unwrap().to_string();
    assert_eq!(
        inv["checkout_url"],
        format!("https://pay.example/shop/pay/{id}").as_str()
    );
    // The API itself stays private.
    assert_eq!(
        get(&d, &format!("/v1/invoices/{id}"), None).await.status(),
        401
    );

    // The page: no key needed, strict headers, the buyer's language, the
    // merchant's name escaped, no metadata.
    let page = get(&d, &format!("/shop/pay/{id}"), Some("en-US,en;q=0.9")).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\""), "{html}");
    assert!(html.contains("Example &lt;Shop&gt;"));
    assert!(!html.contains("Example <Shop>"));
    assert!(!html.contains("buyer@example.com"));
    assert!(html.contains(inv["address"].as_str().unwrap()));
    assert!(html.contains("/shop/pay/assets/checkout.js"));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline script or style"
    );
    let zh = get(
        &d,
        &format!("/shop/pay/{id}"),
        Some("zh-CN,zh;q=0.9,en;q=0.8"),
    )
    .await;
    let zh = zh.text().await.unwrap();
    assert!(zh.contains("<html lang=\"zh-CN\""));
    assert!(
        zh.contains("请尽快付款"),
        "the merchant's wording is passed to the page"
    );
    let forced = get(&d, &format!("/shop/pay/{id}?lang=en"), Some("zh-CN")).await;
    assert!(forced.text().await.unwrap().contains("<html lang=\"en\""));
    let preferred = get(
        &d,
        &format!("/shop/pay/{id}"),
        Some("fr;q=1, en;q=0.2, zh;q=0.5"),
    )
    .await;
    assert!(preferred
        .text()
        .await
        .unwrap()
        .contains("<html lang=\"zh-CN\""));

    // Everything the page loads, all from this server, well under 100 KB.
    let mut total = html.len();
    for (asset, kind) in [
        ("checkout.js", "text/javascript"),
        ("checkout.css", "text/css"),
        ("theme.css", "text/css"),
    ] {
        let r = get(&d, &format!("/shop/pay/assets/{asset}"), None).await;
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        let body = r.text().await.unwrap();
        if asset == "theme.css" {
            assert!(body.contains("--pw-accent:#aa3300"), "{body}");
        }
        total += body.len();
    }
    assert!(total < 100 * 1024, "the page weighs {total} bytes");
    let qr = get(&d, &format!("/shop/pay/{id}/qr.svg"), None).await;
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");

    // The status document: public fields only.
    let status: Value = get(&d, &format!("/shop/pay/{id}/status"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");
    assert_eq!(status["network"], "Bitcoin regtest");
    assert_eq!(status["remaining"], "0.001");
    assert_eq!(status["redirect_url"], Value::Null, "only once confirmed");
    assert!(status.get("metadata").is_none() && !status.to_string().contains("buyer@"));
    let version = status["version"].as_str().unwrap().to_string();

    // A waiting status request wakes when half the amount arrives; the
    // wallet is then asked for the other half.
    let script = bitcoin::Address::from_str(inv["address"].as_str().unwrap())
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let waiting = {
        let (http, url) = (
            d.http.clone(),
            format!("{}/shop/pay/{id}/status?since={version}&wait=25", d.url),
        );
        tokio::spawn(async move {
            let t = Instant::now();
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            (v, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    pay(&mut chain, script.clone(), 50_000, 1);
    node.set_chain(1, &chain);
    let (v, waited) = waiting.await.unwrap();
    assert!(waited < Duration::from_secs(20), "woke after {waited:?}");
    assert_eq!(v["status"], "underpaid", "{v}");
    assert_eq!(v["remaining"], "0.0005");
    assert_eq!(v["paid"], "0.0005");
    assert!(
        v["payment_uri"].as_str().unwrap().contains("amount=0.0005"),
        "{v}"
    );
    assert_ne!(v["version"], version.as_str());
    // The QR code follows the amount still due.
    let qr_now = get(&d, &format!("/shop/pay/{id}/qr.svg"), None)
        .await
        .text()
        .await
        .unwrap();
    let first = qr_text(&inv["payment_uri"]);
    assert_ne!(qr_now, first, "the QR code still asks for the full amount");

    // The rest arrives, then confirmations: the redirect is offered.
    pay(&mut chain, script, 50_000, 2);
    node.set_chain(1, &chain);
    d.invoice_until(&id, "paid").await;
    extend(&mut chain, 1, 1, 3);
    node.set_chain(1, &chain);
    d.invoice_until(&id, "confirmed").await;
    let done: Value = get(&d, &format!("/shop/pay/{id}/status"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "confirmed");
    assert_eq!(done["redirect_url"], "https://shop.example/thanks/42");
    assert_eq!(done["payments"].as_array().unwrap().len(), 2);

    // Unknown invoices, other methods, the API behind the page's prefix.
    let missing = get(&d, "/shop/pay/inv_0000000000000000000000000000", Some("zh")).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("找不到"));
    assert_eq!(get(&d, "/shop/pay/nope/status", None).await.status(), 404);
    let post = reqwest::Client::new()
        .post(format!("{}/shop/pay/{id}", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(
        get(&d, "/shop/payx", None).await.status(),
        401,
        "outside the page's path the API rules"
    );
    d.stop().await;
}

/// The SVG the checkout serves for a payment URI, to compare with.
fn qr_text(uri: &Value) -> String {
    paywatch::invoice::uri::qr_svg(uri.as_str().unwrap()).unwrap()
}

/// Node, the browser and playwright-core, when installed.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let npm = tools().join("npm");
    let ok = chromium.is_file()
        && npm
            .join("node_modules/playwright-core/package.json")
            .is_file()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        return Some((chromium, npm));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("chromium, node or playwright-core is missing: run scripts/setup-deps.sh");
    }
    eprintln!("skipped: chromium, node or playwright-core is missing (run scripts/setup-deps.sh)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_through_the_page_in_chromium() {
    let Some(bin) = anvil_path() else { return };
    let Some((chromium, npm)) = browser_tools() else {
        return;
    };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let buyer = accounts[1].as_str().unwrap().to_string();
    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = {start}\n\
         confirmations = 3\npoll_interval_ms = 50\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        anvil.url
    );
    let d = start_keyed(&keyed_config(
        dir.path(),
        &[section],
        "[checkout]\nshop_name = \"Paywatch Test Shop\"\n",
    ))
    .await;
    let (code, inv) = api(
        &d,
        "/v1/invoices",
        Some(json!({
            "chain": "anvil", "asset": "ETH", "amount": "0.123456789012345679",
            "order_id": "browser-1", "redirect_url": "https://shop.example/thanks/browser-1",
        })),
    )
    .await;
    assert_eq!(code, 201, "{inv}");
    let id = inv["id"].as_str().unwrap();

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("checkout-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/checkout.mjs");
    let mut cmd = std::process::Command::new("node");
    cmd.arg(&script)
        .env("PAGE_URL", format!("{}/pay/{id}", d.url))
        .env("RPC_URL", &anvil.url)
        .env("FROM", &buyer)
        .env("REDIRECT_URL", "https://shop.example/thanks/browser-1")
        .env("CONFIRM_BLOCKS", "3")
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT_DIR", &npm);
    // The script bounds its own run (90 s) and always closes the browser.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    eprintln!("screenshots kept in {}", shots.display());

    // What the buyer saw is what the API says.
    let (_, done) = api(&d, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(done["paid"], "0.123456789012345679");
    assert_eq!(done["payments"].as_array().unwrap().len(), 2);
    for name in [
        "phone-en-pending.png",
        "phone-zh-pending.png",
        "desktop-en-pending.png",
        "phone-en-underpaid.png",
        "phone-en-paid.png",
        "phone-en-confirmed.png",
    ] {
        let len = std::fs::metadata(shots.join(name))
            .unwrap_or_else(|_| panic!("no screenshot {name}"))
            .len();
        assert!(len > 10_000, "{name} is only {len} bytes");
    }
    d.stop().await;
}
