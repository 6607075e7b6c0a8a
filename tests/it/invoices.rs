//! Invoices through the API against a replay node speaking bitcoind's
//! JSON-RPC: addresses derived from the BIP-84 test account, exact, partial,
//! excess and late payments, a reorg after `paid`, a shared address with
//! unique amounts paid in reverse order, QR codes and bad requests.

use crate::common;

use bitcoin::{Address, Network, ScriptBuf};
use common::*;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

const CHAIN: &str = "btc";

/// The BIP-84 vector's mainnet address, as the same script on regtest.
fn on_regtest(mainnet: &str) -> (String, ScriptBuf) {
    let script = Address::from_str(mainnet)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let addr = Address::from_script(&script, Network::Regtest).unwrap();
    (addr.to_string(), script)
}

pub(crate) fn invoices_section(body: &str) -> String {
    format!("[chain.invoices]\n{body}\n")
}

/// Appends one block whose coinbase pays each `(script, sats)`.
fn pay(chain: &mut Vec<bitcoin::Block>, base: u64, outputs: &[(ScriptBuf, u64)], tag: u32) {
    let height = base + chain.len() as u64;
    let prev = chain.last().unwrap().block_hash();
    let mut cb = coinbase(height, tag, outputs[0].0.clone(), outputs[0].1);
    for (s, v) in &outputs[1..] {
        cb.output.push(bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(*v),
            script_pubkey: s.clone(),
        });
    }
    chain.push(block(prev, 1_700_000_000 + height as u32 * 600, vec![cb]));
}

async fn create(d: &Daemon, body: Value) -> (u16, Value) {
    d.post_json("/v1/invoices", &body).await
}

/// A replay node at height 3 and a daemon following it as chain `btc`
/// (`confirmations` deep), whose `[chain.invoices]` holds `body`.
async fn regtest_invoices(
    dir: &std::path::Path,
    body: &str,
    confirmations: u64,
) -> (Vec<bitcoin::Block>, ReplayNode, Daemon) {
    regtest_invoices_with(dir, body, confirmations, "").await
}

/// As `regtest_invoices`, with `api` added to the `[api]` section.
async fn regtest_invoices_with(
    dir: &std::path::Path,
    body: &str,
    confirmations: u64,
    api: &str,
) -> (Vec<bitcoin::Block>, ReplayNode, Daemon) {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 3, 0);
    let node = ReplayNode::start(1, &chain).await;
    let config = format!(
        "{}{}",
        config_text(dir, &[node.chain_toml(CHAIN, "regtest", 1, confirmations)]),
        invoices_section(body),
    )
    .replacen(
        "listen = \"127.0.0.1:0\"\n",
        &format!("listen = \"127.0.0.1:0\"\n{api}"),
        1,
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 3).await;
    (chain, node, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_invoices_follow_their_payments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut chain, node, d) =
        regtest_invoices(dir.path(), &format!("xpub = \"{}\"", bip84_vpub()), 2).await;

    // Addresses come from the account in order: the BIP-84 vectors.
    let (code, a1) = create(
        &d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "A1"}),
    )
    .await;
    assert_eq!(code, 201, "{a1}");
    let (addr0, script0) = on_regtest("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu");
    assert_eq!(a1["address"], addr0.as_str());
    assert_eq!(a1["derivation_index"], 0);
    assert_eq!(a1["amount_due"], "0.001");
    assert_eq!(a1["amount_due_base"], "100000");
    assert_eq!(a1["status"], "pending");
    assert_eq!(
        a1["payment_uri"],
        format!("bitcoin:{addr0}?amount=0.001&label=A1").as_str()
    );
    let (code, again) = create(
        &d,
        json!({"chain": CHAIN, "asset": "btc", "amount": "0.0010", "order_id": "A1"}),
    )
    .await;
    assert_eq!(code, 200, "the same request again: {again}");
    assert_eq!(again["id"], a1["id"]);
    let (code, conflict) = create(
        &d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.002", "order_id": "A1"}),
    )
    .await;
    assert_eq!(code, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "invoice_exists");
    let (_, a2) = create(
        &d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "A2"}),
    )
    .await;
    let (addr1, script1) = on_regtest("bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g");
    assert_eq!(a2["address"], addr1.as_str());
    let (_, a3) = create(&d, json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": "A3", "expires_in": 1})).await;
    let script2 = script_of(&a3["address"]);

    // A3 expires before anything is paid.
    d.invoice_until(a3["id"].as_str().unwrap(), "expired").await;

    // A1 paid exactly; A2 underpaid, then topped up with 10000 sat too many;
    // A3 paid after it expired.
    pay(
        &mut chain,
        1,
        &[(script0.clone(), 100_000), (script1.clone(), 50_000)],
        1,
    );
    pay(
        &mut chain,
        1,
        &[(script1.clone(), 60_000), (script2, 100_000)],
        2,
    );
    node.set_chain(1, &chain);
    d.wait_indexed(CHAIN, 5).await;
    let inv1 = d
        .invoice_until(a1["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(inv1["paid"], "0.001");
    let inv2 = d.invoice_until(a2["id"].as_str().unwrap(), "paid").await;
    assert_eq!(inv2["paid"], "0.0011");
    assert_eq!(inv2["excess"], "0.0001");
    assert_eq!(inv2["payments"].as_array().unwrap().len(), 2);
    d.invoice_until(a3["id"].as_str().unwrap(), "paid_late")
        .await;

    let events = d
        .events_until("invoice events", |e| {
            invoice_event_types(e, a2["id"].as_str().unwrap())
                .contains(&"invoice.overpaid".to_string())
        })
        .await;
    assert_eq!(
        invoice_event_types(&events, a1["id"].as_str().unwrap()),
        ["invoice.paid", "invoice.confirmed"]
    );
    assert_eq!(
        invoice_event_types(&events, a2["id"].as_str().unwrap()),
        ["invoice.underpaid", "invoice.paid", "invoice.overpaid"]
    );
    assert_eq!(
        invoice_event_types(&events, a3["id"].as_str().unwrap()),
        ["invoice.expired", "invoice.paid_late"]
    );
    let paid = events
        .iter()
        .find(|e| e["type"] == "invoice.paid" && e["invoice"]["id"] == a1["id"])
        .unwrap();
    assert_eq!(paid["address"], addr0.as_str());
    assert_eq!(paid["watch"]["label"], "A1");
    assert!(paid["txid"].is_string(), "{paid}");

    // A reorg takes the block with A2's top-up away: A2 goes back to
    // underpaid with an event.
    let mut fork = chain[..chain.len() - 1].to_vec();
    extend(&mut fork, 1, 2, 9);
    node.set_chain(1, &fork);
    d.wait_indexed(CHAIN, 6).await;
    let inv2 = d
        .invoice_until(a2["id"].as_str().unwrap(), "underpaid")
        .await;
    assert_eq!(inv2["paid"], "0.0005");
    let events = d
        .events_until("invoice.reorged", |e| {
            invoice_event_types(e, a2["id"].as_str().unwrap())
                .contains(&"invoice.reorged".to_string())
        })
        .await;
    assert!(invoice_event_types(&events, a1["id"].as_str().unwrap()).len() == 2);

    // Listing, lookup by order id, cancel, QR codes.
    let (_, list) = d.get("/v1/invoices?order_id=A2").await;
    assert_eq!(list["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(list["invoices"][0]["id"], a2["id"]);
    let (code, body) = d
        .post_json(
            &format!("/v1/invoices/{}/cancel", a1["id"].as_str().unwrap()),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 409, "a confirmed invoice cannot be cancelled: {body}");
    let (_, a4) = create(
        &d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": "A4"}),
    )
    .await;
    let (code, cancelled) = d
        .post_json(
            &format!("/v1/invoices/{}/cancel", a4["id"].as_str().unwrap()),
            &Value::Null,
        )
        .await;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let svg = d
        .http
        .get(format!("{}{}", d.url, a1["qr_svg_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let png = d
        .http
        .get(format!(
            "{}/v1/invoices/{}/qr.png?address_only=true",
            d.url,
            a1["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[1..4], b"PNG");

    // Bad requests are named.
    for (body, code) in [
        (
            json!({"chain": CHAIN, "asset": "DOGE", "amount": "1", "order_id": "X"}),
            "unknown_asset",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "-1", "order_id": "X"}),
            "invalid_amount",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "0.000000001", "order_id": "X"}),
            "invalid_amount",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": "X", "expires_in": 0}),
            "invalid_expires_in",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": ""}),
            "invalid_order_id",
        ),
        // Trailing zeros past BTC's 8 decimals: refused like any other digit.
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": format!("1.{}", "0".repeat(30)), "order_id": "X"}),
            "invalid_amount",
        ),
        // More than Bitcoin's supply cannot be paid.
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "21000000.00000001", "order_id": "X"}),
            "invalid_amount",
        ),
    ] {
        let (status, answer) = create(&d, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let (status, _) = create(
        &d,
        json!({"chain": "nope", "asset": "BTC", "amount": "1", "order_id": "X"}),
    )
    .await;
    assert_eq!(status, 404);
    order_ids_that_spoof_another_are_refused(&d).await;
    page_sizes_outside_their_range_are_refused(&d).await;
    d.stop().await;
}

/// Bidi controls and zero-width characters would make one order id look
/// like another on the checkout page.
async fn order_ids_that_spoof_another_are_refused(d: &Daemon) {
    for spoof in [
        "A1001\u{202E}1001",
        "A10\u{200B}01",
        "\u{2066}A1001\u{2069}",
        "A1001\u{FEFF}",
        "A1001\u{061C}",
    ] {
        let body = json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": spoof});
        let (status, answer) = create(d, body).await;
        assert_eq!(status, 400, "{spoof:?}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_order_id", "{answer}");
    }
    // Letters of any script are fine.
    let (status, answer) = create(
        d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": "订单-42 é"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

/// `limit=1000001` used to answer 200 while `limit=-1` answered 400.
async fn page_sizes_outside_their_range_are_refused(d: &Daemon) {
    for path in [
        "/v1/invoices?limit=1000001",
        "/v1/invoices?limit=0",
        "/v1/invoices?limit=-1",
        "/v1/events?limit=1001",
        "/v1/events?wait=61",
        "/v1/deliveries?limit=99999999999999999999",
    ] {
        let (status, answer) = d.get(path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_parameter", "{path}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(" to "),
            "{path}: names the range: {message}"
        );
    }
    let (status, _) = d.get("/v1/invoices?limit=1000").await;
    assert_eq!(status, 200);
}

/// A daemon whose regtest chain (a replay node at height 3) takes invoices
/// on a shared address, wallet script `wallet`, with `unique_amount_step =
/// "0.0001"` and `settings` added to `[chain.invoices]`.
struct SharedBtc {
    chain: Vec<bitcoin::Block>,
    node: ReplayNode,
    shared: ScriptBuf,
    addr: String,
    d: Daemon,
    _dir: tempfile::TempDir,
}

impl SharedBtc {
    async fn start(wallet: u32, settings: &str) -> SharedBtc {
        Self::start_at(wallet, settings, 1).await
    }

    /// As `start`, with payments confirmed `confirmations` deep.
    async fn start_at(wallet: u32, settings: &str, confirmations: u64) -> SharedBtc {
        Self::start_with(wallet, settings, confirmations, "").await
    }

    /// As `start`, with one write key named `back office`, which the
    /// daemon's client sends.
    async fn start_keyed(wallet: u32, settings: &str) -> SharedBtc {
        let keys = format!(
            "[[api.keys]]\nname = \"back office\"\ntoken_sha256 = \"{}\"\nscope = \"write\"\n",
            hex::encode(paywatch::config::token_digest("office-token"))
        );
        let mut btc = Self::start_with(wallet, settings, 1, &keys).await;
        let mut auth = reqwest::header::HeaderMap::new();
        auth.insert(
            reqwest::header::AUTHORIZATION,
            "Bearer office-token".parse().unwrap(),
        );
        btc.d.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .default_headers(auth)
            .build()
            .unwrap();
        btc
    }

    async fn start_with(wallet: u32, settings: &str, confirmations: u64, api: &str) -> SharedBtc {
        let shared = wallet_script(wallet);
        let addr = regtest_address(&shared);
        let dir = tempfile::tempdir().unwrap();
        let (chain, node, d) = regtest_invoices_with(
            dir.path(),
            &format!("shared_address = \"{addr}\"\nunique_amount_step = \"0.0001\"\n{settings}"),
            confirmations,
            api,
        )
        .await;
        SharedBtc {
            chain,
            node,
            shared,
            addr,
            d,
            _dir: dir,
        }
    }

    /// Mines one block paying `sats` to the shared address, and waits
    /// until paywatch has indexed it.
    async fn pay(&mut self, sats: u64, tag: u32) {
        pay(&mut self.chain, 1, &[(self.shared.clone(), sats)], tag);
        self.node.set_chain(1, &self.chain);
        self.d.wait_indexed(CHAIN, self.chain.len() as u64).await;
    }
}

/// Invoice A for 0.01 BTC expires; B for the same price used to be handed
/// the same 0.01, and B's buyer's payment then credited A (`paid_late`)
/// while B stayed pending. Now the amount stays A's: B gets another one,
/// A's late payer credits A while B is open, and B's buyer credits B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_credited_the_wrong_order_after_an_amount_was_reused() {
    let mut btc = SharedBtc::start(91, "max_open = 3").await;
    let price = |order: &str, expires_in: u64| json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": order, "expires_in": expires_in});
    let (_, a) = create(&btc.d, price("A", 1)).await;
    assert_eq!(a["amount_due"], "0.01");
    let a_id = a["id"].as_str().unwrap();
    let expired = btc.d.invoice_until(a_id, "expired").await;
    let until = expired["amount_reserved_until"].as_u64().expect("reserved");
    let day = expired["expires_at"].as_u64().unwrap() + 86400;
    assert!(
        (day - 5..=day + 5).contains(&until),
        "held a day: {expired}"
    );
    let (code, b) = create(&btc.d, price("B", 3600)).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["amount_due"], "0.0101", "A's amount stays A's: {b}");
    let b_id = b["id"].as_str().unwrap();

    // A's late payer pays A's amount while B is open.
    btc.pay(1_000_000, 1).await;
    let late = btc.d.invoice_until(a_id, "paid_late").await;
    assert_eq!(late["paid"], "0.01");
    let (_, open) = btc.d.get(&format!("/v1/invoices/{b_id}")).await;
    assert_eq!(open["status"], "pending", "{open}");
    assert_eq!(open["paid"], "0");

    // B's buyer pays B's amount.
    btc.pay(1_010_000, 2).await;
    let paid = btc.d.invoice_until(b_id, "confirmed").await;
    assert_eq!(paid["paid"], "0.0101");
    let (_, a_after) = btc.d.get(&format!("/v1/invoices/{a_id}")).await;
    assert_eq!(a_after["status"], "paid_late");
    assert_eq!(a_after["paid"], "0.01", "{a_after}");

    // A cancelled invoice keeps its amount too: C is cancelled, D is not
    // handed C's amount, and C's payer credits C.
    let (_, c) = create(&btc.d, price("C", 3600)).await;
    assert_eq!(c["amount_due"], "0.01", "A paid late: its amount is free");
    let c_id = c["id"].as_str().unwrap();
    let (code, cancelled) = btc
        .d
        .post_json(&format!("/v1/invoices/{c_id}/cancel"), &json!({}))
        .await;
    assert_eq!(code, 200, "{cancelled}");
    assert!(
        cancelled["amount_reserved_until"].as_u64().is_some(),
        "{cancelled}"
    );
    let (_, dd) = create(&btc.d, price("D", 3600)).await;
    assert_eq!(dd["amount_due"], "0.0101", "{dd}");
    btc.pay(1_000_000, 3).await;
    btc.d.invoice_until(c_id, "paid_late").await;
    let (_, d_after) = btc
        .d
        .get(&format!("/v1/invoices/{}", dd["id"].as_str().unwrap()))
        .await;
    assert_eq!(d_after["status"], "pending", "{d_after}");
    btc.d.stop().await;
}

/// After `amount_reuse_after` an ended invoice's amount is free: a new
/// invoice gets it, and a payment of it credits the new invoice, not the
/// old one that merely asked for the same amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_hold_an_amount_belongs_to_the_new_invoice() {
    let mut btc = SharedBtc::start(92, "amount_reuse_after = \"1s\"").await;
    let (_, a) = create(
        &btc.d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "A", "expires_in": 1}),
    )
    .await;
    btc.d
        .invoice_until(a["id"].as_str().unwrap(), "expired")
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, n) = create(
        &btc.d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "N"}),
    )
    .await;
    assert_eq!(n["amount_due"], "0.01", "the hold is over: {n}");
    btc.pay(1_000_000, 1).await;
    btc.d
        .invoice_until(n["id"].as_str().unwrap(), "confirmed")
        .await;
    let (_, old) = btc
        .d
        .get(&format!("/v1/invoices/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(old["status"], "expired", "{old}");
    btc.d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_address_tells_invoices_apart_by_amount() {
    let mut btc = SharedBtc::start(90, "max_open = 2").await;
    let (d, shared, shared_addr) = (&btc.d, btc.shared.clone(), btc.addr.clone());
    let (_, b1) = create(
        d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "B1"}),
    )
    .await;
    let (_, b2) = create(
        d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "B2"}),
    )
    .await;
    assert_eq!(b1["address"], shared_addr.as_str());
    assert_eq!(b2["address"], shared_addr.as_str());
    assert_eq!(b1["amount_due"], "0.01");
    assert_eq!(b2["amount_due"], "0.0101");
    let (code, full) = create(
        d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "B3"}),
    )
    .await;
    assert_eq!(code, 409, "{full}");
    assert_eq!(full["error"]["code"], "too_many_open_invoices");

    // Paid in reverse order, each with its own amount.
    pay(&mut btc.chain, 1, &[(shared.clone(), 1_010_000)], 1);
    pay(&mut btc.chain, 1, &[(shared.clone(), 1_000_000)], 2);
    btc.node.set_chain(1, &btc.chain);
    d.wait_indexed(CHAIN, 5).await;
    let p2 = d
        .invoice_until(b2["id"].as_str().unwrap(), "confirmed")
        .await;
    let p1 = d
        .invoice_until(b1["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(p1["paid"], "0.01");
    assert_eq!(p2["paid"], "0.0101");
    assert!(p1["payments"][0]["height"].as_u64() > p2["payments"][0]["height"].as_u64());

    // Both ended: their amounts are free again.
    let (code, b3) = create(
        d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": "B3"}),
    )
    .await;
    assert_eq!(code, 201, "{b3}");
    assert_eq!(b3["amount_due"], "0.01");
    btc.d.stop().await;
}

fn script_of(address: &Value) -> ScriptBuf {
    Address::from_str(address.as_str().unwrap())
        .unwrap()
        .assume_checked()
        .script_pubkey()
}

/// A payment from an exchange arrives short by the withdrawal fee: within
/// the invoice's tolerance it pays the invoice, with `amount_short`; a
/// payment short by more leaves it underpaid. Per-invoice tolerances
/// replace the chain's, and tolerances that would let nothing pay are
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_withdrawal_short_by_its_fee_pays_within_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "xpub = \"{}\"\nunderpayment_tolerance = {{ btc = \"0.00002\" }}",
        bip84_vpub()
    );
    let (mut chain, node, d) = regtest_invoices(dir.path(), &section, 1).await;
    let order = |id: &str, extra: Value| {
        let mut body = json!({"chain": CHAIN, "asset": "BTC", "amount": "0.001", "order_id": id});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let (code, t1) = create(&d, order("T1", json!({}))).await;
    assert_eq!(code, 201, "{t1}");
    assert_eq!(
        t1["underpayment_tolerance"],
        json!({"rule": "0.00002", "amount": "0.00002", "amount_base": "2000"})
    );
    let (_, t2) = create(&d, order("T2", json!({"underpayment_tolerance": "0"}))).await;
    assert!(t2.get("underpayment_tolerance").is_none(), "{t2}");
    let (_, t3) = create(&d, order("T3", json!({"underpayment_tolerance": "0.5%"}))).await;
    assert_eq!(t3["underpayment_tolerance"]["rule"], "0.5%");
    assert_eq!(t3["underpayment_tolerance"]["amount"], "0.000005");
    for bad in ["0.001", "0.002", "100%", "1.00001%", "abc", "-1"] {
        let (code, e) = create(&d, order("T4", json!({"underpayment_tolerance": bad}))).await;
        assert_eq!(code, 400, "{bad}: {e}");
        assert_eq!(
            e["error"]["code"], "invalid_underpayment_tolerance",
            "{bad}: {e}"
        );
    }
    let (code, e) = create(
        &d,
        json!({"chain": CHAIN, "asset": "BTC", "amount": "0.00001", "order_id": "T5"}),
    )
    .await;
    assert_eq!(code, 400, "the chain's 0.00002 is more than 0.00001: {e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the chain's"),
        "{e}"
    );

    // T1 short by 1500 sat (within 2000), T2 by 1 sat (no tolerance), T3
    // by 1000 sat (beyond its 500).
    pay(
        &mut chain,
        1,
        &[
            (script_of(&t1["address"]), 98_500),
            (script_of(&t2["address"]), 99_999),
            (script_of(&t3["address"]), 99_000),
        ],
        1,
    );
    node.set_chain(1, &chain);
    let t1 = d
        .invoice_until(t1["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(t1["paid"], "0.000985");
    assert_eq!(t1["amount_short"], "0.000015");
    let events = d.events().await;
    assert_eq!(
        invoice_event_types(&events, t1["id"].as_str().unwrap()),
        ["invoice.paid", "invoice.confirmed"]
    );
    for t in [&t2, &t3] {
        let t = d
            .invoice_until(t["id"].as_str().unwrap(), "underpaid")
            .await;
        assert!(t.get("amount_short").is_none(), "{t}");
    }
    d.stop().await;
}

/// On a shared address a short payment is credited only to the one open
/// invoice whose tolerance reaches down to it; a payment short of every
/// invoice, or within reach of two, credits none and is reported with its
/// candidates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_payment_on_a_shared_address_is_credited_only_when_one_invoice_fits() {
    let mut btc = SharedBtc::start(93, "underpayment_tolerance = \"1%\"\nmax_open = 3").await;
    // Before any invoice: nothing to credit, reported all the same.
    btc.pay(10_000, 9).await;
    let order = |id: &str, amount: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": amount, "order_id": id});
    let (_, a) = create(&btc.d, order("A", "0.01")).await;
    assert_eq!(a["underpayment_tolerance"]["amount"], "0.0001", "{a}");
    let (_, b) = create(&btc.d, order("B", "0.02")).await;
    // C and D ask for the same price: D's amount is one step up. C's
    // tolerance reaches down to 0.0495 and D's to 0.049599, so a payment
    // from there up to 0.05 is within reach of both.
    let (_, c) = create(&btc.d, order("C", "0.05")).await;
    let (_, dd) = create(&btc.d, order("D", "0.05")).await;
    assert_eq!(dd["amount_due"], "0.0501");
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();

    // A: 5000 sat short, within its 10000.
    btc.pay(995_000, 1).await;
    let paid_a = btc.d.invoice_until(&id(&a), "confirmed").await;
    assert_eq!(paid_a["amount_short"], "0.00005");
    // B: 30000 sat short, beyond its 20000: no invoice fits.
    btc.pay(1_970_000, 2).await;
    // Within reach of C (4 950 000 and up) and of D (4 959 900 and up).
    btc.pay(4_996_000, 3).await;
    let events = btc
        .d
        .events_until("three unmatched payments", |ev| {
            ev.iter()
                .filter(|e| e["type"] == "invoice.unmatched_payment")
                .count()
                == 3
        })
        .await;
    let mut unmatched: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "invoice.unmatched_payment")
        .collect();
    let first = unmatched.remove(0);
    assert_eq!(first["amount"], "10000");
    assert_eq!(first["candidates"], json!([]));
    assert_eq!(first["watch"]["label"], "invoices");
    assert_eq!(unmatched[0]["amount"], "1970000");
    assert_eq!(unmatched[0]["address"], btc.addr.as_str());
    assert_eq!(unmatched[0]["candidates"], json!([]));
    assert_eq!(unmatched[1]["amount"], "4996000");
    let named: Vec<&str> = unmatched[1]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["C", "D"], "{}", unmatched[1]);
    assert_eq!(unmatched[1]["candidates"][1]["least_payable"], "0.049599");
    for e in &unmatched {
        assert!(e.get("invoice").is_none(), "{e}");
        assert_eq!(
            e["id"],
            format!(
                "invoice:unmatched_payment:{}",
                events
                    .iter()
                    .find(|p| p["id"] == e["payment_event"])
                    .expect("the payment event is in the feed")["seq"]
            )
            .as_str()
        );
    }
    for v in [&b, &c, &dd] {
        let (_, now) = btc.d.get(&format!("/v1/invoices/{}", id(v))).await;
        assert_eq!(now["status"], "pending", "{now}");
    }
    // D's exact amount is D's, tolerance or not.
    btc.pay(5_010_000, 4).await;
    btc.d.invoice_until(&id(&dd), "confirmed").await;
    btc.d.stop().await;
}

/// A short payment within reach of two invoices was reported unmatched;
/// one of them was paid exactly in the same block. The short payment's
/// confirmation, a block later, used to credit it to the invoice left
/// over: a guess made after the fact. It stays unmatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_payment_is_not_credited_when_it_confirms_later() {
    let mut btc = SharedBtc::start_at(94, "underpayment_tolerance = \"1%\"\nmax_open = 2", 2).await;
    let order =
        |id: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": "0.05", "order_id": id});
    let (_, c) = create(&btc.d, order("C")).await;
    let (_, dd) = create(&btc.d, order("D")).await;
    let shared = btc.shared.clone();
    pay(
        &mut btc.chain,
        1,
        &[(shared.clone(), 4_996_000), (shared, 5_010_000)],
        1,
    );
    btc.node.set_chain(1, &btc.chain);
    btc.d
        .events_until("the unmatched payment", |ev| {
            ev.iter().any(|e| e["type"] == "invoice.unmatched_payment")
        })
        .await;
    btc.d
        .invoice_until(dd["id"].as_str().unwrap(), "paid")
        .await;
    // The block that confirms both.
    btc.pay(1, 2).await;
    btc.d
        .invoice_until(dd["id"].as_str().unwrap(), "confirmed")
        .await;
    let (_, c_now) = btc
        .d
        .get(&format!("/v1/invoices/{}", c["id"].as_str().unwrap()))
        .await;
    assert_eq!(c_now["status"], "pending", "{c_now}");
    assert_eq!(c_now["payments"], json!([]), "{c_now}");
    btc.d.stop().await;
}

/// 0.01 BTC arrived on the shared address while no invoice held that
/// amount, so it credited nothing. An invoice made next was handed 0.01,
/// and the old payment's confirmation a block later paid it: a buyer who
/// never paid got their order. It stays pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_payment_does_not_pay_an_invoice_handed_its_amount_before_it_confirmed() {
    let mut btc = SharedBtc::start_at(99, "", 2).await;
    btc.pay(1_000_000, 1).await;
    btc.d
        .events_until("the unmatched payment", |ev| {
            ev.iter().any(|e| e["type"] == "invoice.unmatched_payment")
        })
        .await;
    let order = |id: &str, amount: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": amount, "order_id": id});
    let (_, a) = create(&btc.d, order("A", "0.01")).await;
    assert_eq!(a["amount_due"], "0.01");
    // The block that confirms the old payment pays B: once B is paid, the
    // tracker has read that block's events, the confirmation among them.
    let (_, b) = create(&btc.d, order("B", "0.02")).await;
    btc.pay(2_000_000, 2).await;
    btc.d.invoice_until(b["id"].as_str().unwrap(), "paid").await;
    let (_, now) = btc
        .d
        .get(&format!("/v1/invoices/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(now["status"], "pending", "{now}");
    assert_eq!(now["payments"], json!([]), "{now}");
    btc.d.stop().await;
}

/// 0.0005 BTC reached a pool address no invoice held, and was reported.
/// The next invoice was handed that address, and the old payment's
/// confirmation a block later credited it: underpaid by a payment its
/// buyer never made. It stays pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_payment_to_a_pool_address_is_not_credited_to_its_next_holder() {
    // The pool hands out the address that sorts first before the other.
    let mut pool: Vec<(String, ScriptBuf)> = [140, 141]
        .map(|n| (regtest_address(&wallet_script(n)), wallet_script(n)))
        .into();
    pool.sort();
    let dir = tempfile::tempdir().unwrap();
    let (mut chain, node, d) = regtest_invoices(
        dir.path(),
        &format!("address_pool = [\"{}\", \"{}\"]", pool[1].0, pool[0].0),
        2,
    )
    .await;
    pay(&mut chain, 1, &[(pool[0].1.clone(), 50_000)], 1);
    node.set_chain(1, &chain);
    d.events_until("the unmatched payment", |ev| {
        ev.iter().any(|e| e["type"] == "invoice.unmatched_payment")
    })
    .await;
    let order =
        |id: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": "0.01", "order_id": id});
    let (_, p) = create(&d, order("P")).await;
    assert_eq!(p["address"], pool[0].0.as_str());
    let (_, q) = create(&d, order("Q")).await;
    // The block that confirms the old payment pays Q: once Q is paid, the
    // tracker has read that block's events, the confirmation among them.
    pay(&mut chain, 1, &[(pool[1].1.clone(), 1_000_000)], 2);
    node.set_chain(1, &chain);
    d.invoice_until(q["id"].as_str().unwrap(), "paid").await;
    let (_, now) = d
        .get(&format!("/v1/invoices/{}", p["id"].as_str().unwrap()))
        .await;
    assert_eq!(now["status"], "pending", "{now}");
    assert_eq!(now["payments"], json!([]), "{now}");
    d.stop().await;
}

/// On a chain confirming at 2, a small order asks for 1 confirmation and
/// a large one for 3: each is confirmed at its own depth, the large one
/// only by a later block that carries no payment of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invoice_confirms_at_its_own_depth_within_the_chains_bounds() {
    let mut btc = SharedBtc::start_at(
        98,
        "max_open = 3\nmin_confirmations = 1\nmax_confirmations = 4",
        2,
    )
    .await;
    let order = |id: &str, amount: &str, confirmations: Option<u64>| {
        let mut o = json!({"chain": CHAIN, "asset": "BTC", "amount": amount, "order_id": id});
        if let Some(c) = confirmations {
            o["confirmations"] = c.into();
        }
        o
    };
    for bad in [0, 5] {
        let (st, err) = create(&btc.d, order("X", "0.01", Some(bad))).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (400, Some("invalid_confirmations"))
        );
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("between 1 and 4"),
            "{err}"
        );
    }
    let (_, small) = create(&btc.d, order("small", "0.01", Some(1))).await;
    let (_, large) = create(&btc.d, order("large", "0.02", Some(3))).await;
    let (_, plain) = create(&btc.d, order("plain", "0.03", None)).await;
    assert_eq!(small["confirmations"], 1);
    assert!(plain.get("confirmations").is_none(), "{plain}");
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let shared = btc.shared.clone();
    pay(
        &mut btc.chain,
        1,
        &[
            (shared.clone(), 1_000_000),
            (shared.clone(), 2_000_000),
            (shared, 3_000_000),
        ],
        1,
    );
    btc.node.set_chain(1, &btc.chain);
    btc.d.invoice_until(&id(&small), "confirmed").await;
    for v in [&large, &plain] {
        btc.d.invoice_until(&id(v), "paid").await;
    }
    // Depth 2: the chain's own confirmation.
    extend(&mut btc.chain, 1, 1, 2);
    btc.node.set_chain(1, &btc.chain);
    btc.d.invoice_until(&id(&plain), "confirmed").await;
    let (_, now) = btc.d.get(&format!("/v1/invoices/{}", id(&large))).await;
    assert_eq!(now["status"], "paid", "{now}");
    // Depth 3: no payment event of its own, and yet confirmed.
    extend(&mut btc.chain, 1, 1, 3);
    btc.node.set_chain(1, &btc.chain);
    let done = btc.d.invoice_until(&id(&large), "confirmed").await;
    assert_eq!(done["payments"][0]["confirmed"], true);
    let events = btc.d.events().await;
    let confirmed = events
        .iter()
        .find(|e| e["type"] == "invoice.confirmed" && e["invoice"]["id"] == id(&large).as_str())
        .unwrap();
    assert_eq!(
        confirmed["id"],
        format!("invoice:{}:confirmed:{}", id(&large), confirmed["seq"]).as_str()
    );
    assert!(confirmed.get("txid").is_none(), "{confirmed}");
    assert_eq!(
        invoice_event_types(&events, &id(&large)),
        ["invoice.paid", "invoice.confirmed"]
    );
    btc.d.stop().await;
}

/// `POST /v1/invoices/{id}/{action}` with `body`.
async fn by_hand(d: &Daemon, inv: &Value, action: &str, body: Value) -> (u16, Value) {
    let path = format!("/v1/invoices/{}/{action}", inv["id"].as_str().unwrap());
    d.post_json(&path, &body).await
}

/// The back office at work on a shared address: a buyer's payment that
/// matched no amount is attached to its order by hand, an order paid in
/// cash is settled, a fraudulent one invalidated and later settled after
/// all; each change is kept with the key that made it, and every attach
/// that would credit the wrong invoice or nothing is refused with its own
/// code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_settles_invalidates_and_attaches_by_hand() {
    let mut btc = SharedBtc::start_keyed(96, "max_open = 4").await;
    let order = |id: &str, amount: &str| json!({"chain": CHAIN, "asset": "BTC", "amount": amount, "order_id": id});
    let (_, a) = create(&btc.d, order("A", "0.01")).await;
    let (_, b) = create(&btc.d, order("B", "0.02")).await;
    let (_, c) = create(&btc.d, order("C", "0.03")).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();

    // A's buyer sent 0.010005: no invoice's amount, so nothing credited.
    btc.pay(1_000_500, 1).await;
    let events = btc
        .d
        .events_until("the unmatched payment", |ev| {
            ev.iter().any(|e| e["type"] == "invoice.unmatched_payment")
        })
        .await;
    let txid = events
        .iter()
        .find(|e| e["type"] == "invoice.unmatched_payment")
        .unwrap()["txid"]
        .as_str()
        .unwrap()
        .to_string();
    for (body, status, code) in [
        (json!({"txid": "not hex"}), 400, "invalid_txid"),
        (json!({}), 400, "invalid_txid"),
        (
            json!({"txid": "11".repeat(32)}),
            404,
            "transaction_not_found",
        ),
        (json!({"txid": txid, "extra": 1}), 400, "invalid_request"),
        (
            json!({"txid": txid, "note": "a\u{202e}b"}),
            400,
            "invalid_note",
        ),
    ] {
        let (st, err) = by_hand(&btc.d, &a, "attach", body.clone()).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {err}"
        );
    }
    let (st, got) = by_hand(
        &btc.d,
        &a,
        "attach",
        json!({"txid": txid, "note": "the buyer's txid"}),
    )
    .await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["paid"], "0.010005");
    assert_eq!(got["excess"], "0.000005");
    assert_eq!(got["payments"][0]["txid"], txid.as_str());
    let h = &got["history"][0];
    assert_eq!(
        (&h["action"], &h["by"], &h["note"], &h["from"], &h["txid"]),
        (
            &json!("payment_attached"),
            &json!("back office"),
            &json!("the buyer's txid"),
            &json!("pending"),
            &json!(txid)
        ),
        "{got}"
    );
    btc.d.invoice_until(&id(&a), "confirmed").await;
    // Once credited, to this invoice or to another, never again.
    let (st, err) = by_hand(&btc.d, &a, "attach", json!({"txid": txid})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("payment_already_credited"))
    );
    let (st, err) = by_hand(&btc.d, &b, "attach", json!({"txid": txid})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("payment_already_credited"))
    );
    assert!(
        err["error"]["message"].as_str().unwrap().contains(&id(&a)),
        "{err}"
    );

    // A transaction paying another address paywatch watches.
    let other = wallet_script(97);
    let other_addr = regtest_address(&other);
    btc.d.watch(CHAIN, &other_addr, "elsewhere").await;
    pay(&mut btc.chain, 1, &[(other, 50_000)], 2);
    btc.node.set_chain(1, &btc.chain);
    btc.d.wait_indexed(CHAIN, btc.chain.len() as u64).await;
    let elsewhere = btc.d.transfers(CHAIN, &other_addr).await;
    let other_txid = elsewhere[0]["txid"].as_str().unwrap();
    let (st, err) = by_hand(&btc.d, &b, "attach", json!({"txid": other_txid})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (422, Some("transaction_not_for_invoice")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&other_addr),
        "{err}"
    );

    // B was paid in cash.
    let (st, got) = by_hand(&btc.d, &b, "settle", json!({"note": "paid in cash"})).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["status"], "settled");
    assert_eq!(got["history"][0]["by"], "back office");
    assert_eq!(got["history"][0]["from"], "pending");
    for (inv, action) in [(&b, "settle"), (&a, "settle")] {
        let (st, err) = by_hand(&btc.d, inv, action, json!({})).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (409, Some("not_settleable")),
            "{err}"
        );
    }

    // C looks fraudulent: invalidated, with no body at all.
    let r = btc
        .d
        .http
        .post(format!("{}/v1/invoices/{}/invalidate", btc.d.url, id(&c)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, err) = by_hand(&btc.d, &c, "invalidate", json!({})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("not_invalidatable"))
    );
    let (st, err) = by_hand(&btc.d, &c, "attach", json!({"txid": txid})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("invoice_invalid"))
    );
    // Its amount stays its own: C's exact payment is recorded on C, which
    // stays invalid, and no other invoice gets it.
    btc.pay(3_000_000, 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let c_now = loop {
        let (_, now) = btc.d.get(&format!("/v1/invoices/{}", id(&c))).await;
        if now["paid"] == "0.03" {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "C never saw its payment: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(c_now["status"], "invalid", "{c_now}");
    // The buyer cleared it up: settled after all.
    let (st, got) = by_hand(&btc.d, &c, "settle", json!({"note": "buyer verified"})).await;
    assert_eq!(st, 200, "{got}");
    let actions: Vec<(&str, &str)> = got["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap(), h["from"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("invalidated", "pending"), ("settled", "invalid")]
    );

    // Each change is an event whose id ends in its own seq, as do those
    // an attach causes, so no id repeats.
    let events = btc.d.events().await;
    // Confirmed at the attach, or by the next block's confirmation.
    let mut of_a = invoice_event_types(&events, &id(&a));
    assert_eq!(of_a[0], "invoice.payment_attached", "{of_a:?}");
    of_a.sort();
    assert_eq!(
        of_a,
        [
            "invoice.confirmed",
            "invoice.overpaid",
            "invoice.paid",
            "invoice.payment_attached"
        ]
    );
    let attached = events
        .iter()
        .find(|e| e["type"] == "invoice.payment_attached")
        .unwrap();
    let seq = attached["seq"].as_u64().unwrap();
    assert_eq!(
        attached["id"],
        format!("invoice:{}:payment_attached:{seq}", id(&a)).as_str()
    );
    assert_eq!(attached["txid"], txid.as_str());
    assert_eq!(attached["invoice"]["paid"], "0.010005");
    let paid = events
        .iter()
        .find(|e| e["type"] == "invoice.paid" && e["invoice"]["id"] == id(&a).as_str())
        .unwrap();
    assert_eq!(
        paid["id"],
        format!("invoice:{}:paid:{}", id(&a), paid["seq"]).as_str()
    );
    assert_eq!(paid["seq"], seq + 1);
    assert_eq!(invoice_event_types(&events, &id(&b)), ["invoice.settled"]);
    assert_eq!(
        invoice_event_types(&events, &id(&c)),
        ["invoice.invalidated", "invoice.settled"]
    );
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "an event id repeats");
    btc.d.stop().await;
}

/// A block (height set later by `rewritten_chain`) holding one USDT
/// transfer of `amount` base units to the 20-byte account `to_hex`: the real
/// transfer 8f96aa13 of block 60836289 with its recipient, amount and ids
/// rewritten.
pub(crate) fn usdt_payment(
    a: &common::tron::TronBlock,
    to_hex: &str,
    amount: u64,
    n: u8,
) -> common::tron::TronBlock {
    let mut b = a.clone();
    let tx = b.block["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["txID"].as_str().unwrap().starts_with("8f96aa13"))
        .unwrap()
        .clone();
    let info = b
        .info
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"].as_str().unwrap().starts_with("8f96aa13"))
        .unwrap()
        .clone();
    let txid = format!("{n:02x}{}", &tx["txID"].as_str().unwrap()[2..]);
    let mut tx = tx;
    tx["txID"] = json!(txid);
    let mut info = info;
    info["id"] = json!(txid);
    info["log"][0]["topics"][2] = json!(format!("{:0>64}", to_hex));
    info["log"][0]["data"] = json!(format!("{amount:064x}"));
    b.block["transactions"] = json!([tx]);
    b.info = json!([info]);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usdt_on_a_shared_tron_address_paid_in_reverse_order() {
    use common::tron::{real_block, rewritten_chain, TronReplay};
    let Some(fx) = fixtures() else { return };
    let a = real_block(&fx, 60836289);
    // The shared address: 41 + this account id.
    let account = "c0ffee00000000000000000000000000000000aa";
    let shared = bs58::encode(hex::decode(format!("41{account}")).unwrap())
        .with_check()
        .into_string();
    const BASE: u64 = 7000;
    let empty = rewritten_chain(BASE, 3, 0, None, |_| None, &a);
    let node = TronReplay::start(empty.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        config_text(
            dir.path(),
            &[node.chain_toml("tron", BASE, "confirmations = 2")]
        ),
        invoices_section(&format!(
            "shared_address = \"{shared}\"\nunique_amount_step = \"0.01\"\nmax_open = 10"
        )),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed("tron", BASE + 2).await;
    let (code, t1) = create(
        &d,
        json!({"chain": "tron", "asset": "USDT", "amount": "25", "order_id": "T1"}),
    )
    .await;
    assert_eq!(code, 201, "{t1}");
    let (_, t2) = create(
        &d,
        json!({"chain": "tron", "asset": "USDT", "amount": "25", "order_id": "T2"}),
    )
    .await;
    assert_eq!(t1["amount_due"], "25");
    assert_eq!(t2["amount_due"], "25.01");
    // T3 takes payments up to 1 USDT short (an exchange's withdrawal fee).
    let (code, t3) = create(
        &d,
        json!({"chain": "tron", "asset": "USDT", "amount": "30", "order_id": "T3", "underpayment_tolerance": "1"}),
    )
    .await;
    assert_eq!(code, 201, "{t3}");
    assert_eq!(t3["underpayment_tolerance"]["amount_base"], "1000000");
    // T4 takes no shortfall: its buyer's 39.5 matches nothing.
    let (_, t4) = create(
        &d,
        json!({"chain": "tron", "asset": "USDT", "amount": "40", "order_id": "T4"}),
    )
    .await;
    // 2^256 - 1 base units: the unique step used to wrap around to 0.009999.
    let max = "115792089237316195423570985008687907853269984665640564039457584007913129.639935";
    for order in ["W1", "W2"] {
        let (code, answer) = create(
            &d,
            json!({"chain": "tron", "asset": "USDT", "amount": max, "order_id": order}),
        )
        .await;
        assert_eq!(code, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_amount", "{answer}");
    }
    assert_eq!(t2["address"], shared.as_str());
    assert_eq!(
        t2["payment_uri"],
        format!("tron:{shared}?amount=25.01&token=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").as_str()
    );

    // 25.01 first (for T2), then 25 (for T1), 29.2 (T3), 39.5, then two
    // empty blocks.
    let chain = rewritten_chain(
        BASE,
        8,
        0,
        None,
        |i| match i {
            3 => Some(usdt_payment(&a, account, 25_010_000, 1)),
            4 => Some(usdt_payment(&a, account, 25_000_000, 2)),
            5 => Some(usdt_payment(&a, account, 29_200_000, 3)),
            6 => Some(usdt_payment(&a, account, 39_500_000, 4)),
            _ => None,
        },
        &a,
    );
    node.set_blocks(chain);
    d.wait_indexed("tron", BASE + 7).await;
    for (inv, height) in [(&t1, BASE + 4), (&t2, BASE + 3)] {
        let got = d
            .invoice_until(inv["id"].as_str().unwrap(), "confirmed")
            .await;
        assert_eq!(got["paid"], got["amount_due"], "{got}");
        assert_eq!(got["payments"][0]["height"], height);
        assert!(got.get("excess").is_none(), "{got}");
    }
    let got = d
        .invoice_until(t3["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(got["paid"], "29.2");
    assert_eq!(got["amount_short"], "0.8", "{got}");

    // The buyer of T4 sends their txid: attached, underpaid; the
    // merchant accepts the shortfall. T1's payment cannot be attached too.
    let events = d
        .events_until("the unmatched 39.5", |ev| {
            ev.iter().any(|e| e["type"] == "invoice.unmatched_payment")
        })
        .await;
    let stray = events
        .iter()
        .find(|e| e["type"] == "invoice.unmatched_payment")
        .unwrap();
    assert_eq!(stray["amount"], "39500000");
    let (st, got) = by_hand(&d, &t4, "attach", json!({"txid": stray["txid"]})).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(
        (&got["status"], &got["paid"]),
        (&json!("underpaid"), &json!("39.5"))
    );
    let (st, got) = by_hand(&d, &t4, "settle", json!({"note": "shortfall accepted"})).await;
    assert_eq!((st, &got["status"]), (200, &json!("settled")), "{got}");
    let (_, t1_now) = d
        .get(&format!("/v1/invoices/{}", t1["id"].as_str().unwrap()))
        .await;
    let (st, err) = by_hand(
        &d,
        &t4,
        "attach",
        json!({"txid": t1_now["payments"][0]["txid"]}),
    )
    .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("payment_already_credited")),
        "{err}"
    );
    d.stop().await;
}

/// Epusdt's signature, computed here independently of paywatch. Numbers
/// print as a PHP or Go shop prints the decoded float (72.0 as `72`).
pub(crate) fn epusdt_signature(params: &serde_json::Map<String, Value>, token: &str) -> String {
    use md5::{Digest, Md5};
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, v)| *k != "signature" && !v.is_null() && **v != json!(""))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            Value::Number(n) => format!("{k}={}", n.as_f64().unwrap()),
            other => format!("{k}={other}"),
        })
        .collect();
    pairs.sort();
    hex::encode(Md5::digest(format!("{}{token}", pairs.join("&"))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epusdt_shop_creates_an_order_and_gets_its_signed_callback() {
    use common::tron::{real_block, rewritten_chain, TronReplay};
    use std::sync::{Arc, Mutex};
    let Some(fx) = fixtures() else { return };
    let a = real_block(&fx, 60836289);
    let account = "c0ffee00000000000000000000000000000000bb";
    let shared = bs58::encode(hex::decode(format!("41{account}")).unwrap())
        .with_check()
        .into_string();
    const BASE: u64 = 8000;
    const TOKEN: &str = "epusdt_password_xasddawqe";
    let node = TronReplay::start(rewritten_chain(BASE, 3, 0, None, |_| None, &a)).await;
    let callbacks: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = callbacks.clone();
    let (shop, _shop_stop) = serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let seen = seen.clone();
            async move {
                use http_body_util::BodyExt;
                let body = req.into_body().collect().await.unwrap().to_bytes();
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8(body.to_vec()).unwrap());
                hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok")))
            }
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}\n[epusdt]\ntoken = \"{TOKEN}\"\nchain = \"tron\"\nrate = \"7.2\"\npublic_url = \"https://pay.example\"\n\
         # The shop runs on this host.\nallow_private_notify = true\n",
        config_text(dir.path(), &[node.chain_toml("tron", BASE, "confirmations = 1")]),
        invoices_section(&format!(
            "shared_address = \"{shared}\"\nunique_amount_step = \"0.01\""
        )),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed("tron", BASE + 2).await;

    // The shop's request, signed as Epusdt's documentation says.
    let mut order = json!({
        "order_id": "DJK-1001",
        "amount": 72,
        "notify_url": format!("{shop}/notify"),
        "redirect_url": "https://shop.example/done",
    });
    let signature = epusdt_signature(order.as_object().unwrap(), TOKEN);
    order["signature"] = json!(signature);
    let (code, created) = d
        .post_json("/api/v1/order/create-transaction", &order)
        .await;
    assert_eq!(code, 200);
    assert_eq!(created["status_code"], 200, "{created}");
    let data = &created["data"];
    assert_eq!(data["order_id"], "DJK-1001");
    assert_eq!(data["actual_amount"], 10.0, "72 CNY at 7.2 CNY per USDT");
    assert_eq!(data["token"], shared.as_str());
    let trade_id = data["trade_id"].as_str().unwrap().to_string();
    // The buyer is sent to the checkout page.
    assert_eq!(
        data["payment_url"],
        format!("https://pay.example/pay/{trade_id}").as_str()
    );
    let page = d
        .http
        .get(format!("{}/pay/{trade_id}", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(shared.as_str()));

    // Callbacks only to http(s); the metadata address only because this
    // daemon allows private addresses, which the next test does not.
    for (n, bad) in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://shop.example/n",
    ]
    .into_iter()
    .enumerate()
    {
        let mut o = json!({"order_id": format!("BAD-{n}"), "amount": 72, "notify_url": bad});
        let signature = epusdt_signature(o.as_object().unwrap(), TOKEN);
        o["signature"] = json!(signature);
        let (_, refused) = d.post_json("/api/v1/order/create-transaction", &o).await;
        assert_eq!(refused["status_code"], 10009, "{bad}: {refused}");
        assert!(
            refused["message"].as_str().unwrap().contains("notify_url"),
            "{refused}"
        );
    }

    // A wrong signature is refused the way Epusdt does.
    order["signature"] = json!("0".repeat(32));
    order["order_id"] = json!("DJK-1002");
    let (_, refused) = d
        .post_json("/api/v1/order/create-transaction", &order)
        .await;
    assert_eq!(refused["status_code"], 401, "{refused}");

    // The customer pays 10 USDT; the shop gets the signed callback.
    let chain = rewritten_chain(
        BASE,
        5,
        0,
        None,
        |i| (i == 3).then(|| usdt_payment(&a, account, 10_000_000, 3)),
        &a,
    );
    node.set_blocks(chain);
    d.wait_indexed("tron", BASE + 4).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let raw = loop {
        if let Some(c) = callbacks.lock().unwrap().first().cloned() {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no callback");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Whole amounts as Epusdt (Go) writes them: `72`, never `72.0`.
    assert!(
        raw.contains(r#""amount":72,"actual_amount":10,"#),
        "numbers as Go writes them: {raw}"
    );
    let callback: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(callback["trade_id"], trade_id.as_str());
    assert_eq!(callback["order_id"], "DJK-1001");
    assert_eq!(callback["status"], 2);
    assert_eq!(callback["amount"], 72.0);
    assert_eq!(callback["actual_amount"], 10.0);
    assert_eq!(callback["token"], shared.as_str());
    assert!(callback["block_transaction_id"]
        .as_str()
        .unwrap()
        .starts_with("03"));
    let obj = callback.as_object().unwrap();
    assert_eq!(
        callback["signature"],
        epusdt_signature(obj, TOKEN).as_str(),
        "the callback's signature checks out"
    );
    d.stop().await;
}

/// Without `allow_private_notify`, paywatch would otherwise POST signed
/// callbacks to cloud metadata or a service on the shop's network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epusdt_callbacks_to_private_addresses_are_refused() {
    use common::tron::{real_block, rewritten_chain, TronReplay};
    let Some(fx) = fixtures() else { return };
    let a = real_block(&fx, 60836289);
    let shared = bs58::encode(hex::decode(format!("41{}", "c0ffee".repeat(6) + "00aa")).unwrap())
        .with_check()
        .into_string();
    const BASE: u64 = 8000;
    const TOKEN: &str = "epusdt_password_xasddawqe";
    let node = TronReplay::start(rewritten_chain(BASE, 3, 0, None, |_| None, &a)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}\n[epusdt]\ntoken = \"{TOKEN}\"\nchain = \"tron\"\nrate = \"7.2\"\npublic_url = \"https://pay.example\"\n",
        config_text(dir.path(), &[node.chain_toml("tron", BASE, "confirmations = 1")]),
        invoices_section(&format!(
            "shared_address = \"{shared}\"\nunique_amount_step = \"0.01\""
        )),
    );
    let d = Daemon::start(&config).await;
    let order = |n: usize, notify: &str, redirect: Option<&str>| {
        let mut o = json!({"order_id": format!("P-{n}"), "amount": 72, "notify_url": notify});
        if let Some(r) = redirect {
            o["redirect_url"] = json!(r);
        }
        let signature = epusdt_signature(o.as_object().unwrap(), TOKEN);
        o["signature"] = json!(signature);
        o
    };
    for (n, (notify, redirect)) in [
        ("http://169.254.169.254/latest/meta-data/", None),
        ("http://127.0.0.1:9/notify", None),
        ("http://localhost/notify", None),
        ("http://[::1]/notify", None),
        ("http://192.168.1.10/notify", None),
        ("https://shop.example/notify", Some("file:///etc/passwd")),
        ("https://shop.example/notify", Some("http://10.0.0.1/done")),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, refused) = d
            .post_json(
                "/api/v1/order/create-transaction",
                &order(n, notify, redirect),
            )
            .await;
        let code = if redirect.is_some() { 10004 } else { 10009 };
        assert_eq!(
            refused["status_code"], code,
            "{notify} {redirect:?}: {refused}"
        );
    }
    let (_, ok) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &order(
                99,
                "https://shop.example/notify",
                Some("https://shop.example/done"),
            ),
        )
        .await;
    assert_eq!(ok["status_code"], 200, "{ok}");
    d.stop().await;
}

/// `key` with its four version bytes replaced.
fn with_version(key: &str, version: [u8; 4]) -> String {
    let mut raw = bs58::decode(key).with_check(None).into_vec().unwrap();
    raw[..4].copy_from_slice(&version);
    bs58::encode(raw).with_check().into_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_account_keys_give_their_published_first_addresses() {
    // The account keys of the "abandon … about" test mnemonic (BIP-44/49/86,
    // SLIP-132), re-encoded for regtest, and their published first receive
    // addresses (mainnet form; the same scripts on regtest).
    const TPUB: [u8; 4] = [0x04, 0x35, 0x87, 0xcf];
    const UPUB: [u8; 4] = [0x04, 0x4a, 0x52, 0x62];
    let cases = [
        (
            with_version("xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj", TPUB),
            "script_type = \"p2pkh\"",
            "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
        ),
        (
            with_version("ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP", UPUB),
            "",
            "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf",
        ),
        (
            with_version("xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ", TPUB),
            "script_type = \"p2tr\"",
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
        ),
    ];
    let mut chain = Vec::new();
    extend(&mut chain, 1, 1, 0);
    let node = ReplayNode::start(1, &chain).await;
    for (key, script, published) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "{}{}",
            config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
            invoices_section(&format!("xpub = \"{key}\"\n{script}")),
        );
        let d = Daemon::start(&config).await;
        let (code, inv) = create(
            &d,
            json!({"chain": CHAIN, "asset": "BTC", "amount": "1", "order_id": "V"}),
        )
        .await;
        assert_eq!(code, 201, "{inv}");
        assert_eq!(
            inv["address"],
            on_regtest(published).0.as_str(),
            "{published}"
        );
        d.stop().await;
    }

    // TRON: the m/44'/195'/0' account key gives m/44'/195'/0'/0/0.
    let Some(fx) = fixtures() else { return };
    let a = common::tron::real_block(&fx, 60836289);
    let tron = common::tron::TronReplay::start(common::tron::rewritten_chain(
        9000,
        1,
        0,
        None,
        |_| None,
        &a,
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        config_text(dir.path(), &[tron.chain_toml("tron", 9000, "confirmations = 1")]),
        invoices_section("xpub = \"xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd\""),
    );
    let d = Daemon::start(&config).await;
    let (code, inv) = create(
        &d,
        json!({"chain": "tron", "asset": "USDT", "amount": "25", "order_id": "V"}),
    )
    .await;
    assert_eq!(code, 201, "{inv}");
    assert_eq!(inv["address"], "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH");
    assert_eq!(
        inv["payment_uri"],
        "tron:TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH?amount=25&token=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    );
    d.stop().await;
}

/// `paywatch invoice create|get|list|cancel` against a running daemon: the
/// shell does what the API does, and an API error is the command's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_commands_create_read_list_and_cancel() {
    let mut btc = SharedBtc::start(93, "").await;
    let url = btc.d.url.clone();
    // A command line, split at its spaces, run off the runtime's threads.
    let cli = |line: &str| {
        let (url, line) = (url.clone(), line.to_string());
        tokio::task::spawn_blocking(move || {
            common::process::client(&url, &line.split(' ').collect::<Vec<_>>())
        })
    };

    let (ok, out, err) = cli(
        "invoice create --chain btc --asset BTC --amount 0.01 --order-id 42 --metadata {\"sku\":7}",
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["order_id"], "42");
    assert_eq!(a["status"], "pending");
    assert_eq!(a["address"], btc.addr);
    assert_eq!(a["metadata"], json!({"sku": 7}));
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(
        btc.d.get(&format!("/v1/invoices/{id}")).await.1["amount_due"],
        a["amount_due"]
    );

    // Paid in full, one confirmation: `get` and `list` show it.
    let due = bitcoin::Amount::from_str_in(
        a["amount_due"].as_str().unwrap(),
        bitcoin::Denomination::Bitcoin,
    )
    .unwrap();
    btc.pay(due.to_sat(), 1).await;
    let (ok, out, err) = cli(&format!("invoice get {id}")).await.unwrap();
    assert!(ok, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["status"], "confirmed", "{got}");
    assert_eq!(got["paid"], a["amount_due"]);
    let (ok, out, err) = cli("invoice list --order-id 42").await.unwrap();
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("confirmed") && row.ends_with(" 42"), "{row}");

    // Another order, cancelled from the shell.
    let (ok, out, err) = cli("invoice create --chain btc --asset BTC --amount 0.02 --order-id 43")
        .await
        .unwrap();
    assert!(ok, "{err}");
    let b: Value = serde_json::from_str(&out).unwrap();
    let b_id = b["id"].as_str().unwrap().to_string();
    let (ok, out, err) = cli(&format!("invoice cancel {b_id}")).await.unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "cancelled"
    );
    // Paid by bank transfer after all: settled by hand, with the note.
    let (ok, out, err) = cli(&format!("invoice settle {b_id} --note by-bank-transfer"))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let settled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(settled["status"], "settled");
    assert_eq!(settled["history"][0]["note"], "by-bank-transfer");
    assert_eq!(settled["history"][0]["from"], "cancelled");
    let (ok, _, err) = cli(&format!("invoice attach {b_id} --txid 00"))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("invalid_txid"), "{err}");
    let (ok, out, _) = cli("invoice list --status settled --json").await.unwrap();
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b_id.as_str()]);

    // The API's refusals are the command's: exit status and the code.
    let (ok, _, err) = cli("invoice create --chain btc --asset DOGE --amount 1 --order-id 44")
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("unknown_asset"), "{err}");
    let (ok, _, err) = cli("invoice get inv_0000").await.unwrap();
    assert!(!ok);
    assert!(err.contains("404") && err.contains("inv_0000"), "{err}");
    // An id that would be another path is refused before any request.
    let (ok, _, err) = cli("invoice cancel inv_0/../../v1/status").await.unwrap();
    assert!(!ok);
    assert!(err.contains("is not an invoice id"), "{err}");
}
