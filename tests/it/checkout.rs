//! The hosted checkout page: public while the API needs a key, strict
//! headers, nothing of the invoice beyond its public fields, the buyer's
//! language, a status that wakes on payment and asks the wallet for what is
//! still due, "n of N confirmations" and explorer links, the fiat price of
//! an invoice priced in fiat, the real amount and status without
//! JavaScript, a styled 404; and, in a real Chromium, a buyer paying an ETH
//! invoice on Anvil in two parts and watching the page follow it to
//! "confirmed", switching the QR code to the address alone, and the same
//! page with JavaScript off.

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
    let chain_toml = node.chain_toml(CHAIN, "regtest", 1, 2)
        + "explorer_tx_url = \"https://blocks.example/tx/{txid}\"\n\
           explorer_address_url = \"https://blocks.example/address/{address}\"\n";
    let config = keyed_config(
        dir.path(),
        &[chain_toml],
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
    assert_eq!(status["pricing"], Value::Null, "priced in BTC");
    assert_eq!(
        status["qr_default"], "uri",
        "BIP-21 is what Bitcoin wallets scan"
    );
    let address = inv["address"].as_str().unwrap().to_string();
    assert_eq!(
        status["address_explorer_url"],
        format!("https://blocks.example/address/{address}").as_str()
    );
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
    // The payment: 1 of the chain's 2 confirmations, linked to the explorer.
    let first_txid = v["payments"][0]["txid"].as_str().unwrap().to_string();
    assert_eq!(v["payments"][0]["confirmations"], 1, "{v}");
    assert_eq!(v["payments"][0]["confirmations_required"], 2, "{v}");
    assert_eq!(
        v["payments"][0]["explorer_url"],
        format!("https://blocks.example/tx/{first_txid}").as_str()
    );
    let html = get(&d, &format!("/shop/pay/{id}"), Some("en")).await;
    let html = html.text().await.unwrap();
    assert!(html.contains(">1 of 2 confirmations<"), "{html}");
    assert!(html.contains(&format!(
        "href=\"https://blocks.example/tx/{first_txid}\" target=\"_blank\" rel=\"noopener noreferrer\""
    )));
    assert!(
        html.contains(">0.0005</span> <span class=\"pw-amount-asset\">BTC<"),
        "still due"
    );
    // The QR code follows the amount still due.
    let qr_now = get(&d, &format!("/shop/pay/{id}/qr.svg"), None)
        .await
        .text()
        .await
        .unwrap();
    let first = qr_text(&inv["payment_uri"]);
    assert_ne!(qr_now, first, "the QR code still asks for the full amount");
    assert_eq!(qr_now, qr_text(&v["payment_uri"]));
    // "Address only": the same QR route holds the bare address.
    let qr_address = get(
        &d,
        &format!("/shop/pay/{id}/qr.svg?address_only=true"),
        None,
    )
    .await;
    assert_eq!(qr_address.status(), 200);
    assert_eq!(
        qr_address.text().await.unwrap(),
        qr_text(&json!(address)),
        "the address-only QR code holds something else"
    );
    let bad = get(&d, &format!("/shop/pay/{id}/qr.svg?address_only=yes"), None).await;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`address_only` must be true or false, not `yes`"),
        "{bad}"
    );

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
    assert!(
        done["payments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["confirmed"] == true && p["confirmations"].is_null()),
        "{done}"
    );

    // Without JavaScript the confirmed invoice shows what was paid, not
    // "0 BTC": the server writes amount, status and payments into the page.
    let page = get(&d, &format!("/shop/pay/{id}"), Some("en")).await;
    let page = page.text().await.unwrap();
    let noscript = &page[page.find("<noscript>").unwrap()..page.find("</noscript>").unwrap()];
    assert!(
        noscript.contains(">0.001</span> <span class=\"pw-amount-asset\">BTC<"),
        "{noscript}"
    );
    assert!(!noscript.contains(">0</span>"), "{noscript}");
    assert!(noscript.contains("data-status=\"confirmed\">Payment confirmed<"));
    assert!(noscript.contains(&address));
    assert!(noscript.contains("Return to the shop now"));
    for p in done["payments"].as_array().unwrap() {
        let txid = p["txid"].as_str().unwrap();
        assert!(
            noscript.contains(&format!("https://blocks.example/tx/{txid}")),
            "{noscript}"
        );
    }
    assert_eq!(
        noscript.matches(">Confirmed</span>").count(),
        2,
        "{noscript}"
    );

    // Unknown invoices, other methods, the API behind the page's prefix.
    let missing = get(&d, "/shop/pay/inv_0000000000000000000000000000", Some("zh")).await;
    assert_eq!(missing.status(), 404);
    let missing = missing.text().await.unwrap();
    assert!(missing.contains("未找到此付款请求"), "{missing}");
    assert!(
        missing.contains("/shop/pay/assets/checkout.css") && missing.contains("pw-card"),
        "the 404 page does not have the page's look: {missing}"
    );
    for weird in [
        "inv_%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "inv_..%2F..%2Fetc",
        "%F0%9F%92%B8",
    ] {
        let r = get(&d, &format!("/shop/pay/{weird}"), Some("en")).await;
        assert_eq!(r.status(), 404, "{weird}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Invoice not found"), "{body}");
        assert!(!body.contains("script") && !body.contains("etc"), "{body}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fiat_priced_invoice_shows_its_price_and_rate_to_the_buyer() {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 2, 0);
    let node = ReplayNode::start(1, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = keyed_config(
        dir.path(),
        &[node.chain_toml(CHAIN, "regtest", 1, 2)],
        &format!(
            "[chain.invoices]\nxpub = \"{}\"\n\n[[rate]]\npair = \"BTC/CNY\"\nfixed = \"700000\"\n",
            bip84_vpub()
        ),
    );
    let d = start_keyed(&config).await;
    d.wait_indexed(CHAIN, 2).await;
    let (code, priced) = api(
        &d,
        "/v1/invoices",
        Some(json!({"chain": CHAIN, "asset": "BTC", "price": "199", "currency": "cny", "order_id": "fiat-1"})),
    )
    .await;
    assert_eq!(code, 201, "{priced}");
    let id = priced["id"].as_str().unwrap();
    let status: Value = get(&d, &format!("/pay/{id}/status"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["pricing"],
        json!({"price": "199", "currency": "CNY", "price_text": "¥199.00 CNY", "rate": "700000",
               "rate_as_of": priced["pricing"]["rate_as_of"]}),
        "the price, its rate and time; never the rate's sources"
    );
    // The price beside the amount, in the buyer's language, JavaScript or not.
    for (lang, rate) in [
        ("en", "1 BTC = 700000 CNY · rate of "),
        ("zh-CN", "汇率 1 BTC = 700000 CNY（"),
    ] {
        let html = get(&d, &format!("/pay/{id}"), Some(lang))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("<p class=\"pw-fiat\" data-testid=\"fiat\">¥199.00 CNY</p>"),
            "{html}"
        );
        assert!(html.contains(rate), "{lang}: {html}");
        assert!(html.contains(priced["amount_due"].as_str().unwrap()));
    }
    // An invoice priced in the asset has no fiat line.
    let (_, plain) = api(
        &d,
        "/v1/invoices",
        Some(json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "plain-1"})),
    )
    .await;
    let html = get(&d, &format!("/pay/{}", plain["id"].as_str().unwrap()), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("CNY") && !html.contains("¥"), "{html}");
    d.stop().await;
}

/// The SVG the checkout serves for a payment URI, to compare with.
fn qr_text(uri: &Value) -> String {
    paywatch::invoice::uri::qr_svg(uri.as_str().unwrap()).unwrap()
}

/// The block explorer the browser test's chain links to.
const EXPLORER_TX: &str = "https://explorer.example/tx/{txid}";
const EXPLORER_ADDRESS: &str = "https://explorer.example/address/{address}";

/// Debian's QR code reader (zbar-tools), when installed.
fn zbarimg() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/zbarimg");
    path.is_file().then_some(path)
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
         explorer_tx_url = \"{EXPLORER_TX}\"\nexplorer_address_url = \"{EXPLORER_ADDRESS}\"\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        anvil.url
    );
    // A second chain, for an order the buyer may pay on either.
    let bsc = Anvil::start_with(&bin, &["--chain-id", "97"]).await;
    let bsc_section = format!(
        "[[chain]]\nname = \"bsc\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 97\nstart_height = {}\n\
         confirmations = 3\npoll_interval_ms = 50\n[chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        bsc.url,
        bsc.height().await + 1
    );
    let d = start_keyed(&keyed_config(
        dir.path(),
        &[section, bsc_section],
        "[checkout]\nshop_name = \"Paywatch Test Shop\"\n\n[[rate]]\npair = \"ETH/CNY\"\nfixed = \"20000\"\n\n\
         [[rate]]\npair = \"BNB/CNY\"\nfixed = \"4000\"\n",
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
    let (code, priced) = api(
        &d,
        "/v1/invoices",
        Some(
            json!({"chain": "anvil", "asset": "ETH", "price": "199", "currency": "CNY",
                    "order_id": "browser-fiat-1"}),
        ),
    )
    .await;
    assert_eq!(code, 201, "{priced}");
    // A confirmed invoice with two refunds: one paid back from the
    // invoice's address and confirmed, one not paid yet.
    let (code, refunded) = api(
        &d,
        "/v1/invoices",
        Some(json!({"chain": "anvil", "asset": "ETH", "amount": "0.5", "order_id": "browser-refund-1"})),
    )
    .await;
    assert_eq!(code, 201, "{refunded}");
    let refunded_id = refunded["id"].as_str().unwrap();
    let shop = refunded["address"].as_str().unwrap();
    anvil
        .send(&buyer, Some(shop), 500_000_000_000_000_000, "0x")
        .await;
    anvil.rpc("anvil_mine", json!([3])).await;
    d.invoice_until(refunded_id, "confirmed").await;
    let refunds = format!("/v1/invoices/{refunded_id}/refunds");
    let (code, r) = api(&d, &refunds, Some(json!({"amount": "0.1"}))).await;
    assert_eq!(code, 201, "{r}");
    anvil.rpc("anvil_impersonateAccount", json!([shop])).await;
    anvil
        .send(shop, Some(&buyer), 100_000_000_000_000_000, "0x")
        .await;
    anvil.rpc("anvil_mine", json!([3])).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, now) = api(&d, &format!("/v1/invoices/{refunded_id}"), None).await;
        if now["refunds"][0]["status"] == "completed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (code, r) = api(&d, &refunds, Some(json!({"amount": "0.05"}))).await;
    assert_eq!(code, 201, "{r}");

    let (code, choice) = api(
        &d,
        "/v1/invoices",
        Some(json!({"options": [{"chain": "anvil", "asset": "ETH"}, {"chain": "bsc", "asset": "BNB"}],
                    "price": "100", "currency": "CNY", "order_id": "browser-choice-1"})),
    )
    .await;
    assert_eq!(code, 201, "{choice}");
    let choice_id = choice["id"].as_str().unwrap().to_string();

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
        .env(
            "FIAT_PAGE_URL",
            format!("{}/pay/{}", d.url, priced["id"].as_str().unwrap()),
        )
        .env("FIAT_TEXT", "¥199.00 CNY")
        .env("REFUND_PAGE_URL", format!("{}/pay/{refunded_id}", d.url))
        .env("REFUND_DONE", "0.1")
        .env("CHOICE_PAGE_URL", format!("{}/pay/{choice_id}", d.url))
        .env("CHOICE_NETWORK", "BNB Smart Chain testnet")
        .env("REFUND_OPEN", "0.05")
        .env("FIAT_RATE", "1 ETH = 20000 CNY")
        .env(
            "NOT_FOUND_URL",
            format!("{}/pay/inv_00000000000000000000000000000", d.url),
        )
        .env("EXPLORER_TX", EXPLORER_TX)
        .env("EXPLORER_ADDRESS", EXPLORER_ADDRESS)
        .env("QR_DIR", shots.join("qr"))
        .env("CHROMIUM", &chromium)
        .env("PLAYWRIGHT_DIR", &npm);
    // The script bounds its own run (150 s) and always closes the browser.
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

    // The buyer's choice made the second option's invoice, and only it.
    let (_, chosen) = api(&d, &format!("/v1/invoices/{choice_id}"), None).await;
    assert!(chosen["options"][0]["invoice"].is_null(), "{chosen}");
    assert_eq!(chosen["options"][1]["invoice"]["chain"], "bsc", "{chosen}");
    assert_eq!(chosen["options"][1]["invoice"]["amount_due"], "0.025");

    // What the buyer saw is what the API says.
    let (_, done) = api(&d, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(done["paid"], "0.123456789012345679");
    assert_eq!(done["payments"].as_array().unwrap().len(), 2);
    // The QR code as the buyer's camera sees it: the wallet link, then the
    // address alone.
    match zbarimg() {
        Some(zbar) => {
            for (file, want) in [
                ("qr-uri.png", inv["payment_uri"].as_str().unwrap()),
                ("qr-address.png", inv["address"].as_str().unwrap()),
            ] {
                let out = std::process::Command::new(&zbar)
                    .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
                    .arg(shots.join("qr").join(file))
                    .output()
                    .expect("run zbarimg");
                let read = String::from_utf8_lossy(&out.stdout);
                assert_eq!(read.trim(), want, "{file} holds something else");
            }
        }
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "zbarimg is missing: run scripts/setup-deps.sh (zbar-tools)"
            );
            eprintln!("skipped: zbarimg is missing (zbar-tools), the QR images were not decoded")
        }
    }
    for name in [
        "phone-en-pending.png",
        "phone-zh-pending.png",
        "desktop-en-pending.png",
        "phone-en-address-only.png",
        "phone-en-underpaid.png",
        "phone-en-paid.png",
        "phone-en-confirmed.png",
        "phone-en-nojs-confirmed.png",
        "phone-en-fiat.png",
        "phone-zh-fiat.png",
        "phone-zh-fiat-nojs.png",
        "phone-en-refund.png",
        "phone-en-choice.png",
        "phone-zh-choice.png",
        "phone-zh-choice-nojs.png",
        "phone-en-choice-chosen.png",
        "phone-zh-refund.png",
        "phone-zh-refund-nojs.png",
        "phone-en-404.png",
        "phone-zh-404.png",
    ] {
        let len = std::fs::metadata(shots.join(name))
            .unwrap_or_else(|_| panic!("no screenshot {name}"))
            .len();
        assert!(len > 10_000, "{name} is only {len} bytes");
    }
    d.stop().await;
}
