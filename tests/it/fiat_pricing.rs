//! Invoices priced in fiat against a local HTTP rate server: the median of
//! the agreeing sources prices the invoice (rounded up to the satoshi), a
//! lying source is outvoted and shown as an outlier, the amount stays locked
//! when the rate moves, and a stale or disputed rate refuses the invoice
//! with a 503 instead of pricing it with an old figure.

use crate::common;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHAIN: &str = "btc";

/// What the rate server answers per path: HTTP status and body.
type Answers = Arc<Mutex<HashMap<String, (u16, String)>>>;

async fn rate_server(answers: Answers) -> (String, tokio::sync::watch::Sender<bool>) {
    serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let answers = answers.clone();
            async move {
                let (code, body) = answers
                    .lock()
                    .unwrap()
                    .get(req.uri().path())
                    .cloned()
                    .unwrap_or((404, "{}".into()));
                let mut r = Response::new(Full::new(Bytes::from(body)));
                *r.status_mut() = StatusCode::from_u16(code).unwrap();
                r
            }
        },
    )
    .await
}

fn set(answers: &Answers, path: &str, code: u16, body: &str) {
    answers
        .lock()
        .unwrap()
        .insert(path.to_string(), (code, body.to_string()));
}

fn pair<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pair"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

/// A replay node with two blocks from height 1, and a data dir.
async fn two_blocks() -> (Vec<bitcoin::Block>, ReplayNode, tempfile::TempDir) {
    let mut chain = Vec::new();
    extend(&mut chain, 1, 2, 0);
    let node = ReplayNode::start(1, &chain).await;
    (chain, node, tempfile::tempdir().unwrap())
}

/// Waits until `f` holds for the status of `name`.
async fn rate_until(d: &Daemon, name: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = d.get("/v1/status").await;
        let p = pair(&status, name).clone();
        if f(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "rate {name} never got there: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fiat_prices_use_the_agreed_rate_and_refuse_a_stale_one() {
    let answers: Answers = Arc::default();
    set(&answers, "/a", 200, r#"{"data":{"amount":"700000.00"}}"#);
    set(&answers, "/b", 200, r#"{"price": 700100}"#);
    // A source that lies by a factor of ten.
    set(&answers, "/liar", 200, r#"{"price": 7000000}"#);
    set(&answers, "/usd", 200, r#"{"USD": {"last": "98000.12"}}"#);
    let (rates_url, _rates_stop) = rate_server(answers.clone()).await;

    let (_, node, dir) = two_blocks().await;
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\n\n\
         [[rate]]\npair = \"BTC/CNY\"\nrefresh = 1\nmax_age = 3\nmax_spread = \"2%\"\nmin_sources = 2\n\
         [[rate.source]]\nname = \"a\"\nurl = \"{rates_url}/a\"\npointer = \"/data/amount\"\n\
         [[rate.source]]\nname = \"b\"\nurl = \"{rates_url}/b\"\npointer = \"/price\"\n\
         [[rate.source]]\nname = \"liar\"\nurl = \"{rates_url}/liar\"\npointer = \"/price\"\n\n\
         [[rate]]\npair = \"BTC/USD\"\nrefresh = 1\nmax_age = 2\n\
         [[rate.source]]\nname = \"usd\"\nurl = \"{rates_url}/usd\"\npointer = \"/USD/last\"\n\n\
         [[rate]]\npair = \"BTC/EUR\"\nfixed = \"90000\"\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 2).await;

    // The median of the two honest sources; the liar is set aside.
    let cny = rate_until(&d, "BTC/CNY", |p| p["usable"] == true).await;
    assert_eq!(cny["rate"], "700050", "{cny}");
    let liar = cny["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "liar")
        .unwrap();
    assert_eq!(liar["outlier"], true, "{cny}");
    assert_eq!(liar["value"], "7000000");

    let (code, inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "199.00", "currency": "cny", "order_id": "42"}),
        )
        .await;
    assert_eq!(code, 201, "{inv}");
    // 199 / 700050 = 0.000284265409… BTC, rounded up to 28427 sat.
    assert_eq!(inv["amount"], "0.00028427");
    assert_eq!(inv["amount_due"], "0.00028427");
    assert_eq!(inv["amount_due_base"], "28427");
    assert_eq!(inv["pricing"]["price"], "199");
    assert_eq!(inv["pricing"]["currency"], "CNY");
    assert_eq!(inv["pricing"]["rate"], "700050");
    assert_eq!(inv["pricing"]["rate_sources"], json!(["a", "b"]));
    assert!(inv["payment_uri"]
        .as_str()
        .unwrap()
        .contains("amount=0.00028427"));

    // The rate moves; the invoice keeps its amount, and the same request
    // returns it unchanged. A new order gets the new rate.
    set(&answers, "/a", 200, r#"{"data":{"amount":"600000"}}"#);
    set(&answers, "/b", 200, r#"{"price": 600000}"#);
    rate_until(&d, "BTC/CNY", |p| p["rate"] == "600000").await;
    let (code, again) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "199", "currency": "CNY", "order_id": "42"}),
        )
        .await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["id"], inv["id"]);
    assert_eq!(again["amount_due_base"], "28427");
    let (code, other) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "199", "currency": "CNY", "order_id": "43"}),
        )
        .await;
    assert_eq!(code, 201, "{other}");
    // 199 / 600000 = 0.000331666… → 33167 sat.
    assert_eq!(other["amount_due_base"], "33167");
    // A different price for an existing order is a conflict.
    let (code, conflict) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "200", "currency": "CNY", "order_id": "42"}),
        )
        .await;
    assert_eq!(code, 409, "{conflict}");

    // A fixed rate needs no fetching.
    let (code, eur) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "9", "currency": "EUR", "order_id": "e1"}),
        )
        .await;
    assert_eq!(code, 201, "{eur}");
    assert_eq!(eur["amount_due"], "0.0001");

    // The USD source starts failing: once its last figure is older than
    // max_age, invoices in USD are refused, never priced with it.
    rate_until(&d, "BTC/USD", |p| p["usable"] == true).await;
    set(&answers, "/usd", 500, "oops");
    let usd = rate_until(&d, "BTC/USD", |p| p["usable"] == false).await;
    assert!(
        usd["error"].as_str().unwrap().contains("younger than 2 s"),
        "{usd}"
    );
    assert_eq!(usd["sources"][0]["fresh"], false, "{usd}");
    assert!(
        usd["sources"][0]["error"].as_str().unwrap().contains("500"),
        "{usd}"
    );
    let (code, refused) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "10", "currency": "USD", "order_id": "u1"}),
        )
        .await;
    assert_eq!(code, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "rate_unavailable", "{refused}");
    // It comes back when the source does.
    set(&answers, "/usd", 200, r#"{"USD": {"last": 100000}}"#);
    rate_until(&d, "BTC/USD", |p| p["usable"] == true).await;
    let (code, usd_inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "10", "currency": "USD", "order_id": "u1"}),
        )
        .await;
    assert_eq!(code, 201, "{usd_inv}");
    assert_eq!(usd_inv["amount_due_base"], "10000");

    // Two of three sources lie (differently): no majority agrees, no rate.
    set(&answers, "/b", 200, r#"{"price": 900000}"#);
    set(&answers, "/liar", 200, r#"{"price": 100}"#);
    let disputed = rate_until(&d, "BTC/CNY", |p| p["usable"] == false).await;
    assert!(
        disputed["error"].as_str().unwrap().contains("disagree"),
        "{disputed}"
    );
    let (code, refused) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": CHAIN, "asset": "BTC", "price": "1", "currency": "CNY", "order_id": "44"}),
        )
        .await;
    assert_eq!(code, 503, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("BTC/CNY"));

    // Requests that cannot be priced say why.
    for (body, code, what) in [
        (
            json!({"chain": CHAIN, "asset": "BTC", "price": "1", "currency": "JPY", "order_id": "x"}),
            400,
            "rate_not_configured",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "price": "1", "amount": "1", "currency": "CNY", "order_id": "x"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "price": "1", "order_id": "x"}),
            400,
            "invalid_amount",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "price": "-5", "currency": "EUR", "order_id": "x"}),
            400,
            "invalid_price",
        ),
        (
            json!({"chain": CHAIN, "asset": "BTC", "price": "5", "currency": "E/R", "order_id": "x"}),
            400,
            "invalid_currency",
        ),
    ] {
        let (got, answer) = d.post_json("/v1/invoices", &body).await;
        assert_eq!(got, code, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], what, "{body} → {answer}");
    }

    // The rates are in the metrics too.
    let metrics = d.metrics().await;
    for want in [
        "paywatch_rate{pair=\"BTC/USD\",source=\"usd\"}",
        "paywatch_rate_updated_timestamp_seconds{pair=\"BTC/CNY\",source=\"a\"}",
        "paywatch_rate_fetch_failures_total{pair=\"BTC/USD\",source=\"usd\"}",
    ] {
        assert!(metrics.contains(want), "no {want} in /metrics");
    }
    d.stop().await;
}

#[test]
fn rate_config_mistakes_are_named() {
    let base = "data_dir = \"/tmp/x\"\n";
    for (text, want) in [
        ("[[rate]]\npair = \"USDT\"\nfixed = \"7\"\n", "ASSET/CURRENCY"),
        ("[[rate]]\npair = \"USDT/CNY\"\n", "no source"),
        ("[[rate]]\npair = \"USDT/CNY\"\nfixed = \"-7\"\n", "fixed"),
        (
            "[[rate]]\npair = \"USDT/CNY\"\n[[rate.source]]\nurl = \"http://127.0.0.1:1/x\"\n",
            "`pointer` is required",
        ),
        (
            "[[rate]]\npair = \"USDT/CNY\"\nmin_sources = 2\nfixed = \"7\"\n",
            "min_sources",
        ),
        (
            "[[rate]]\npair = \"USDT/CNY\"\nfixed = \"7\"\n[[rate]]\npair = \"usdt/cny\"\nfixed = \"7\"\n",
            "configured twice",
        ),
        (
            "[[rate]]\npair = \"USDT/CNY\"\nrefresh = 60\nmax_age = 10\nfixed = \"7\"\n",
            "max_age",
        ),
        ("[checkout]\naccent_color = \"red; x\"\n", "checkout.accent_color"),
        ("[checkout]\npath = \"/v1/pay\"\n", "checkout.path"),
        ("[checkout.text.fr]\ntitle = \"x\"\n", "checkout.text.fr"),
        ("[checkout.text.en]\nnope = \"x\"\n", "checkout.text.en.nope"),
    ] {
        let err = paywatch::config::Config::parse(
            &format!("{base}{text}"),
            std::path::Path::new("/tmp/test.toml"),
        )
        .expect_err(text)
        .to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

/// A merchant who charges 2% over the market rate sets `rate_adjust =
/// "~0.98"` (a lower rate, more BTC for the price); one order is priced at
/// the market rate plus 10000 instead. Each invoice shows the rate it was
/// priced at next to the source rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_adjustment_prices_invoices_off_the_market_rate() {
    let (_, node, dir) = two_blocks().await;
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\nrate_adjust = \"~0.98\"\n\n\
         [[rate]]\npair = \"BTC/EUR\"\nfixed = \"90000\"\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    let order = |id: &str, adjust: Option<&str>| {
        let mut o = json!({"chain": CHAIN, "asset": "BTC", "price": "9", "currency": "EUR", "order_id": id});
        if let Some(a) = adjust {
            o["rate_adjust"] = a.into();
        }
        o
    };
    // 9 / 88200, rounded up to the satoshi.
    let (code, chain_wide) = d.post_json("/v1/invoices", &order("a1", None)).await;
    assert_eq!(code, 201, "{chain_wide}");
    assert_eq!(chain_wide["amount_due"], "0.00010205");
    let p = &chain_wide["pricing"];
    assert_eq!(
        (&p["rate"], &p["source_rate"], &p["rate_adjust"]),
        (&json!("88200"), &json!("90000"), &json!("~0.98")),
        "{p}"
    );
    let (code, own) = d
        .post_json("/v1/invoices", &order("a2", Some("+10000")))
        .await;
    assert_eq!(code, 201, "{own}");
    assert_eq!(own["amount_due"], "0.00009");
    assert_eq!(own["pricing"]["rate"], "100000");
    for (body, why) in [
        (order("a3", Some("-90000")), "to nothing or below"),
        (order("a4", Some("1.02")), "not a rate adjustment"),
        (
            json!({"chain": CHAIN, "asset": "BTC", "amount": "0.1", "order_id": "a5", "rate_adjust": "~1.1"}),
            "goes with `price`",
        ),
    ] {
        let (code, err) = d.post_json("/v1/invoices", &body).await;
        assert_eq!(
            (code, err["error"]["code"].as_str()),
            (400, Some("invalid_rate_adjust")),
            "{err}"
        );
        assert!(
            err["error"]["message"].as_str().unwrap().contains(why),
            "{err}"
        );
    }
    d.stop().await;
}

/// With `relock_after`, pending invoices priced in fiat follow the rate:
/// BTC falls from 90000 to 80000 EUR and both orders are re-priced up. A's
/// buyer pays the old amount within the grace period, which still pays;
/// B's buyer pays the old amount after it, which no longer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relocked_invoice_follows_the_rate_and_honours_the_old_price_for_a_while() {
    let answers: Answers = Arc::default();
    set(&answers, "/eur", 200, r#"{"p": 90000}"#);
    let (rates_url, _rates_stop) = rate_server(answers.clone()).await;
    let (chain, node, dir) = two_blocks().await;
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\nrelock_after = \"2s\"\nrelock_grace = \"3s\"\n\n\
         [[rate]]\npair = \"BTC/EUR\"\nrefresh = 1\nmax_age = 5\n\
         [[rate.source]]\nname = \"eur\"\nurl = \"{rates_url}/eur\"\npointer = \"/p\"\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed(CHAIN, 2).await;
    rate_until(&d, "BTC/EUR", |p| p["usable"] == true).await;
    let order = |id: &str, price: &str| json!({"chain": CHAIN, "asset": "BTC", "price": price, "currency": "EUR", "order_id": id});
    let (_, a) = d.post_json("/v1/invoices", &order("A", "9")).await;
    let (_, b) = d.post_json("/v1/invoices", &order("B", "18")).await;
    assert_eq!(
        (&a["amount_due"], &b["amount_due"]),
        (&json!("0.0001"), &json!("0.0002"))
    );
    set(&answers, "/eur", 200, r#"{"p": 80000}"#);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let repriced = |ev: &[Value], v: &Value| {
        ev.iter()
            .any(|e| e["type"] == "invoice.repriced" && e["invoice"]["id"] == id(v).as_str())
    };
    d.events_until("both re-priced", |ev| repriced(ev, &a) && repriced(ev, &b))
        .await;
    let (_, a_now) = d.get(&format!("/v1/invoices/{}", id(&a))).await;
    assert_eq!(a_now["amount_due"], "0.0001125", "{a_now}");
    assert_eq!(a_now["pricing"]["rate"], "80000");
    assert_eq!(a_now["pricing"]["relocks"], 1);
    assert_eq!(a_now["pricing"]["previous"]["amount_due"], "0.0001");
    assert!(
        a_now["payment_uri"]
            .as_str()
            .unwrap()
            .contains("amount=0.0001125"),
        "{a_now}"
    );

    let mut blocks = chain.clone();
    let mut pay = |to: &Value, sats: u64, tag: u32| {
        use std::str::FromStr;
        let script = bitcoin::Address::from_str(to["address"].as_str().unwrap())
            .unwrap()
            .assume_checked()
            .script_pubkey();
        let height = 1 + blocks.len() as u64;
        let prev = blocks.last().unwrap().block_hash();
        let cb = coinbase(height, tag, script, sats);
        blocks.push(block(prev, 1_700_000_000 + height as u32 * 600, vec![cb]));
        node.set_chain(1, &blocks);
    };
    // Within the grace period, the old amount pays.
    pay(&a, 10_000, 1);
    let paid = d.invoice_until(&id(&a), "confirmed").await;
    assert_eq!(paid["pricing"]["previous"]["honoured"], true, "{paid}");
    // After it, it does not.
    let (_, b_now) = d.get(&format!("/v1/invoices/{}", id(&b))).await;
    assert_eq!(b_now["amount_due"], "0.000225");
    let until = b_now["pricing"]["previous"]["until"].as_u64().unwrap();
    while paywatch::clock::now_secs() <= until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pay(&b, 20_000, 2);
    d.invoice_until(&id(&b), "underpaid").await;
    let ev = d.events().await;
    assert_eq!(
        invoice_event_types(&ev, &id(&a)),
        ["invoice.repriced", "invoice.paid", "invoice.confirmed"]
    );
    assert_eq!(
        invoice_event_types(&ev, &id(&b)),
        ["invoice.repriced", "invoice.underpaid"]
    );
    d.stop().await;
}

/// BTC falls from 90000 to 80000 EUR. Re-locking used to skip the checks
/// creating an invoice makes, so A's 9 EUR would have become 0.0001125
/// BTC, past the chain's max_amount of 0.00011. A keeps its price; B, well
/// under the bound, is re-priced in the same pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relock_never_prices_an_invoice_past_its_max_amount() {
    let answers: Answers = Arc::default();
    set(&answers, "/eur", 200, r#"{"p": 90000}"#);
    let (rates_url, _rates_stop) = rate_server(answers.clone()).await;
    let (_, node, dir) = two_blocks().await;
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\nrelock_after = \"1s\"\nmax_amount = {{ BTC = \"0.00011\" }}\n\n\
         [[rate]]\npair = \"BTC/EUR\"\nrefresh = 1\nmax_age = 5\n\
         [[rate.source]]\nname = \"eur\"\nurl = \"{rates_url}/eur\"\npointer = \"/p\"\n",
        config_text(dir.path(), &[node.chain_toml(CHAIN, "regtest", 1, 1)]),
        bip84_vpub(),
    );
    let d = Daemon::start(&config).await;
    rate_until(&d, "BTC/EUR", |p| p["usable"] == true).await;
    let order = |id: &str, price: &str| json!({"chain": CHAIN, "asset": "BTC", "price": price, "currency": "EUR", "order_id": id});
    let (_, a) = d.post_json("/v1/invoices", &order("A", "9")).await;
    let (_, b) = d.post_json("/v1/invoices", &order("B", "4.5")).await;
    set(&answers, "/eur", 200, r#"{"p": 80000}"#);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let ev = d
        .events_until("B re-priced", |ev| {
            ev.iter()
                .any(|e| e["type"] == "invoice.repriced" && e["invoice"]["id"] == id(&b).as_str())
        })
        .await;
    assert!(invoice_event_types(&ev, &id(&a)).is_empty(), "{ev:?}");
    let (_, a_now) = d.get(&format!("/v1/invoices/{}", id(&a))).await;
    assert_eq!(a_now["amount_due"], "0.0001", "{a_now}");
    assert!(a_now["pricing"].get("previous").is_none(), "{a_now}");
    let (_, b_now) = d.get(&format!("/v1/invoices/{}", id(&b))).await;
    assert_eq!(b_now["amount_due"], "0.00005625");
    d.stop().await;
}
