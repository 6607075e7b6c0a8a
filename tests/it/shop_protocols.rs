//! The shop protocols end to end on the TRON replay: EPay (`submit.php`,
//! `mapi.php`, `api.php`) and BEpusdt orders from several merchants, paid
//! in USDT, each shop called back the way its protocol does and each
//! signature checked here by an implementation of the protocol's own.

use crate::common::{self, config_text, fixtures, serve_http, Daemon};
use crate::invoices::{epusdt_signature, invoices_section, usdt_payment};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const S1: &str = "merchant-1001-secret-key";
const S2: &str = "merchant-1002-secret-key";
const S3: &str = "merchant-1003-secret-key";
const M3_KEY: &str = "merchant-1003-api-key";

/// EPay's signature, written here from the protocol: MD5 of the
/// non-empty parameters but `sign` and `sign_type`, sorted, as `k=v&…`,
/// then the key.
fn epay_sign(params: &BTreeMap<String, String>, key: &str) -> String {
    use md5::{Digest, Md5};
    let text = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && *k != "sign" && *k != "sign_type")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    hex::encode(Md5::digest(format!("{text}{key}")))
}

fn signed(pairs: &[(&str, &str)], key: &str) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sign = epay_sign(&p, key);
    p.insert("sign".into(), sign);
    p.insert("sign_type".into(), "MD5".into());
    p
}

/// `params` with `changes` made, signed again with `key`.
fn resigned(
    params: &BTreeMap<String, String>,
    changes: &[(&str, &str)],
    key: &str,
) -> BTreeMap<String, String> {
    let mut p = params.clone();
    p.retain(|k, _| !k.starts_with("sign"));
    for (k, v) in changes {
        p.insert(k.to_string(), v.to_string());
    }
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    signed(&pairs, key)
}

/// `params` URL-encoded, as a form body or a query.
fn encoded(params: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

trait Form {
    fn form_of(self, params: &BTreeMap<String, String>) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_of(self, params: &BTreeMap<String, String>) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(encoded(params))
    }
}

/// What the shop received: method, path and query, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A shop's callback receiver: `/epay…` answered `epay_answer`, the rest
/// `bep_answer`; what it received, in order.
async fn shop_receiver(
    epay_answer: &'static str,
    bep_answer: &'static str,
) -> (String, Seen, tokio::sync::watch::Sender<bool>) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let (url, stop) = serve_http(
        || false,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let record = record.clone();
            async move {
                use http_body_util::BodyExt;
                let method = req.method().to_string();
                let uri = req.uri().to_string();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let answer = if uri.starts_with("/epay") {
                    epay_answer
                } else {
                    bep_answer
                };
                record.lock().unwrap().push((
                    method,
                    uri,
                    String::from_utf8(body.to_vec()).unwrap(),
                ));
                hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(answer)))
            }
        },
    )
    .await;
    (url, seen, stop)
}

/// The query of the first EPay notification the shop received.
async fn epay_notification(seen: &Seen) -> BTreeMap<String, String> {
    let notify = wait_for("the EPay notification", || {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(_, u, _)| u.starts_with("/epay"))
            .cloned()
    })
    .await;
    assert_eq!(notify.0, "GET");
    url::form_urlencoded::parse(notify.1.split_once('?').unwrap().1.as_bytes())
        .into_owned()
        .collect()
}

/// The BEpusdt callbacks of order `trade_id`, in order.
fn bep_calls(seen: &Seen, trade_id: &str) -> Vec<Value> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(_, u, _)| u == "/bep")
        .map(|(_, _, b)| serde_json::from_str::<Value>(b).unwrap())
        .filter(|v| v["trade_id"] == trade_id)
        .collect()
}

/// Waits until every delivery of the `epusdt` sink is delivered.
async fn all_delivered(d: &Daemon) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, deliveries) = d.get("/v1/deliveries?sink=epusdt").await;
        let all = deliveries["deliveries"].as_array().unwrap();
        assert!(!all.is_empty(), "{deliveries}");
        let pending: Vec<&Value> = all.iter().filter(|x| x["status"] != "delivered").collect();
        if pending.is_empty() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TRON replay of three empty blocks from `base`, and the start of a
/// config whose chain `tron` takes invoices on the shared address of the
/// 20-byte `account`, with `[epusdt]` pricing USDT at 7.2 CNY and
/// `epusdt_more` added to that section.
struct TronShop {
    /// The real block payments are made from.
    template: common::tron::TronBlock,
    node: common::tron::TronReplay,
    shared: String,
    config: String,
}

async fn tron_shop(
    fx: &std::path::Path,
    base: u64,
    account: &str,
    dir: &std::path::Path,
    epusdt_more: &str,
) -> TronShop {
    use common::tron::{real_block, rewritten_chain, TronReplay};
    let template = real_block(fx, 60836289);
    let shared = bs58::encode(hex::decode(format!("41{account}")).unwrap())
        .with_check()
        .into_string();
    let node = TronReplay::start(rewritten_chain(base, 3, 0, None, |_| None, &template)).await;
    let config = format!(
        "{}{}\n[epusdt]\nchain = \"tron\"\nrate = \"7.2\"\npublic_url = \"https://pay.example\"\n{epusdt_more}\n",
        config_text(dir, &[node.chain_toml("tron", base, "confirmations = 1")]),
        invoices_section(&format!(
            "shared_address = \"{shared}\"\nunique_amount_step = \"0.01\""
        )),
    );
    TronShop {
        template,
        node,
        shared,
        config,
    }
}

/// An Anvil node whose chain `anvil` takes invoices on derived addresses
/// in ETH and the test token PWT (the customer holds 1,000 PWT), with one
/// more test token listed for each of `more_tokens`, and the start of a
/// config for it: ETH at 20,000 CNY, `[epusdt]` selling PWT at 7.2 CNY,
/// then `more`. `None` when Anvil is missing outside CI.
struct AnvilShop {
    anvil: common::anvil::Anvil,
    customer: String,
    token: String,
    config: String,
}

async fn anvil_shop(
    dir: &tempfile::TempDir,
    more_tokens: &[&str],
    more: &str,
) -> Option<AnvilShop> {
    use crate::evm_anvil::{word_addr, word_u};
    use common::anvil::{anvil_path, Anvil, EVM_ACCOUNT_XPUB};
    let bin = anvil_path()?;
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let (deployer, customer) = (
        accounts[0].as_str().unwrap().to_string(),
        accounts[1].as_str().unwrap().to_string(),
    );
    let supply = word_u(1_000_000_000_000);
    let token = anvil.deploy(&deployer, "TestToken", &supply).await;
    let mut tokens =
        format!("[[chain.token]]\nsymbol = \"PWT\"\ncontract = \"{token}\"\ndecimals = 6\n");
    for symbol in more_tokens {
        let contract = anvil.deploy(&deployer, "TestToken", &supply).await;
        tokens.push_str(&format!(
            "[[chain.token]]\nsymbol = \"{symbol}\"\ncontract = \"{contract}\"\ndecimals = 6\n"
        ));
    }
    anvil
        .send(
            &deployer,
            Some(&token),
            0,
            &format!(
                "0xa9059cbb{}{}",
                word_addr(&customer),
                word_u(1_000_000_000)
            ),
        )
        .await;
    let start = anvil.height().await + 1;
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = {start}\n\
         confirmations = 2\npoll_interval_ms = 50\n{tokens}\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        anvil.url
    );
    let config = format!(
        "{}\n[[rate]]\npair = \"ETH/CNY\"\nfixed = \"20000\"\n\n\
         [epusdt]\nchain = \"anvil\"\nasset = \"PWT\"\nrate = \"7.2\"\npublic_url = \"https://pay.example\"\n\
         {more}",
        config_text(dir.path(), &[section])
    );
    Some(AnvilShop {
        anvil,
        customer,
        token,
        config,
    })
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn invoice_count(d: &Daemon) -> usize {
    let (_, list) = d.get("/v1/invoices?limit=1000").await;
    list["invoices"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epay_and_bepusdt_merchants_order_get_paid_and_are_called_back() {
    use common::tron::rewritten_chain;
    let Some(fx) = fixtures() else { return };
    let account = "c0ffee00000000000000000000000000000000cc";
    const BASE: u64 = 9000;
    // The shop: EPay's notifications answered `success`, BEpusdt's `OK`.
    let (shop, seen, _shop_stop) = shop_receiver("success", "OK").await;
    let dir = tempfile::tempdir().unwrap();
    let key_digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(M3_KEY))
    };
    let TronShop {
        template: a,
        node,
        shared,
        config,
    } = tron_shop(
        &fx,
        BASE,
        account,
        dir.path(),
        &format!(
            "expires_in = 4\n\n\
             [[merchant]]\nid = \"1001\"\nsecret = \"{S1}\"\nallowed_ips = [\"127.0.0.0/8\"]\nallow_private_notify = true\n\n\
             [[merchant]]\nid = \"1002\"\nsecret = \"{S2}\"\nallowed_ips = [\"10.1.2.0/24\"]\nallow_private_notify = true\n\n\
             [[merchant]]\nid = \"1003\"\nsecret = \"{S3}\"\nallow_private_notify = true\nassets = [\"tron:USDT\"]\n\n\
             [[api.keys]]\nname = \"m3\"\ntoken_sha256 = \"{key_digest}\"\nscope = \"write\"\nmerchant = \"1003\"\n"
        ),
    )
    .await;
    let d = Daemon::start(&config).await;
    d.wait_indexed("tron", BASE + 2).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // EPay: submit.php as a shop's form posts it, then as a GET on
    // Epusdt's path; each sends the buyer to the checkout page.
    let e1 = signed(
        &[
            ("pid", "1001"),
            ("type", "usdt.trc20"),
            ("out_trade_no", "E-1"),
            ("notify_url", &format!("{shop}/epay")),
            ("return_url", "https://shop.example/return"),
            ("name", "VIP plan"),
            ("money", "72"),
            ("param", "user=7"),
        ],
        S1,
    );
    let r = http
        .post(format!("{}/submit.php", d.url))
        .form_of(&e1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let e1_id = to
        .strip_prefix("https://pay.example/pay/")
        .unwrap()
        .to_string();
    let e2 = signed(
        &[
            ("pid", "1001"),
            ("out_trade_no", "E-2"),
            ("notify_url", &format!("{shop}/epay")),
            ("money", "14.4"),
        ],
        S1,
    );
    let r = http
        .get(format!(
            "{}/payments/epay/v1/order/create-transaction/submit.php?{}",
            d.url,
            encoded(&e2)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    // mapi.php answers JSON: where to send the buyer and what to scan.
    let e3 = resigned(&e2, &[("out_trade_no", "E-3")], S1);
    let m: Value = http
        .post(format!("{}/mapi.php", d.url))
        .form_of(&e3)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["code"], 1, "{m}");
    assert!(m["payurl"]
        .as_str()
        .unwrap()
        .starts_with("https://pay.example/pay/inv_"));
    assert!(
        m["qrcode"].as_str().unwrap().contains(shared.as_str()),
        "{m}"
    );

    // Each refusal is the protocol's own answer, and creates nothing.
    let before = invoice_count(&d).await;
    let mut bad_sign = e1.clone();
    bad_sign.insert("out_trade_no".into(), "E-9".into());
    let mut unknown_pid = signed(
        &[("pid", "9999"), ("out_trade_no", "E-9"), ("money", "1")],
        S1,
    );
    unknown_pid.insert("notify_url".into(), format!("{shop}/epay"));
    let wrong_ip = signed(
        &[
            ("pid", "1002"),
            ("out_trade_no", "E-9"),
            ("money", "1"),
            ("notify_url", &format!("{shop}/epay")),
        ],
        S2,
    );
    let too_precise = resigned(&e1, &[("out_trade_no", "E-9"), ("money", "7.201")], S1);
    let replayed = resigned(&e1, &[("money", "80")], S1);
    for (what, params, says) in [
        ("a bad signature", &bad_sign, "signature"),
        ("an unknown pid", &unknown_pid, "no merchant `9999`"),
        (
            "a disallowed address",
            &wrong_ip,
            "may not order from 127.0.0.1",
        ),
        ("money with three decimals", &too_precise, "amount"),
        (
            "a replayed order with another amount",
            &replayed,
            "already has invoice",
        ),
    ] {
        let m: Value = http
            .post(format!("{}/mapi.php", d.url))
            .form_of(params)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["code"], -1, "{what}: {m}");
        assert!(m["msg"].as_str().unwrap().contains(says), "{what}: {m}");
        let r = http
            .post(format!("{}/submit.php", d.url))
            .form_of(params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{what}");
        assert!(r.text().await.unwrap().contains(says), "{what}");
    }
    assert_eq!(
        invoice_count(&d).await,
        before,
        "a refused order made an invoice"
    );

    // The order query: unpaid yet; another merchant cannot see it.
    let q = |pid: &str, key: &str, by: (&str, &str)| {
        format!(
            "{}/api.php?act=order&pid={pid}&key={key}&{}={}",
            d.url, by.0, by.1
        )
    };
    let o: Value = http
        .get(q("1001", S1, ("out_trade_no", "E-1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((&o["code"], &o["status"]), (&json!(1), &json!(0)), "{o}");
    assert_eq!(o["trade_no"], e1_id.as_str());
    assert_eq!(o["money"], "72");
    for url in [
        q("1003", S3, ("trade_no", &e1_id)),
        q("1003", S3, ("out_trade_no", "E-1")),
        q("1001", S3, ("trade_no", &e1_id)),
    ] {
        let o: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(o["code"], -1, "{url}: {o}");
    }

    // BEpusdt: the merchant is the one whose secret signs (no pid).
    let bep = |order: &str, amount: f64, timeout: Option<u64>| {
        let mut o = json!({
            "order_id": order, "amount": amount, "trade_type": "usdt.trc20",
            "fiat": "CNY", "name": "Plan", "notify_url": format!("{shop}/bep"),
            "redirect_url": "https://shop.example/done",
        });
        if let Some(t) = timeout {
            o["timeout"] = json!(t);
        }
        let s = epusdt_signature(o.as_object().unwrap(), S1);
        o["signature"] = json!(s);
        o
    };
    let (_, b1) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &bep("B-1", 36.0, Some(600)),
        )
        .await;
    assert_eq!(b1["status_code"], 200, "{b1}");
    let data = &b1["data"];
    assert_eq!(
        (
            &data["trade_type"],
            &data["status"],
            &data["fiat"],
            &data["amount"]
        ),
        (&json!("usdt.trc20"), &json!(1), &json!("CNY"), &json!("36")),
        "{b1}"
    );
    assert!(data["expiration_time"].as_u64().unwrap() <= 600, "{b1}");
    let b1_id = data["trade_id"].as_str().unwrap().to_string();
    let b1_due = data["actual_amount"].as_str().unwrap().to_string();
    let (_, b2) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &bep("B-2", 7.2, Some(600)),
        )
        .await;
    let b2_id = b2["data"]["trade_id"].as_str().unwrap().to_string();
    // Without `timeout`, [epusdt] expires_in (4 s) applies.
    let (_, b3) = d
        .post_json("/api/v1/order/create-transaction", &bep("B-3", 3.6, None))
        .await;
    let b3_id = b3["data"]["trade_id"].as_str().unwrap().to_string();
    // Below BEpusdt's 120 s minimum: BEpusdt's failure envelope.
    let (_, short) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &bep("B-4", 1.0, Some(30)),
        )
        .await;
    assert_eq!(short["status_code"], 400, "{short}");
    assert!(
        short["message"].as_str().unwrap().contains("timeout"),
        "{short}"
    );
    // `address` may name the shared address the order is paid to anyway;
    // any other is refused, nothing created.
    let with_address = |order: &str, address: &str| {
        let mut o = bep(order, 7.2, Some(600));
        o.as_object_mut().unwrap().remove("signature");
        o["address"] = json!(address);
        let s = epusdt_signature(o.as_object().unwrap(), S1);
        o["signature"] = json!(s);
        o
    };
    let (_, named) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &with_address("B-5", &shared),
        )
        .await;
    assert_eq!(
        (&named["status_code"], &named["data"]["token"]),
        (&json!(200), &json!(shared)),
        "{named}"
    );
    let (_, elsewhere) = d
        .post_json(
            "/api/v1/order/create-transaction",
            &with_address("B-6", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        )
        .await;
    assert_eq!(elsewhere["status_code"], 400, "{elsewhere}");
    assert!(
        elsewhere["message"]
            .as_str()
            .unwrap()
            .contains("address: `TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t`"),
        "{elsewhere}"
    );

    // Cancelling: merchant 1003 cannot cancel 1001's order, 1001 can.
    let cancel = |id: &str, secret: &str| {
        let mut c = json!({"trade_id": id});
        let s = epusdt_signature(c.as_object().unwrap(), secret);
        c["signature"] = json!(s);
        c
    };
    let (_, refused) = d
        .post_json("/api/v1/order/cancel-transaction", &cancel(&b2_id, S3))
        .await;
    assert_eq!(refused["status_code"], 400, "{refused}");
    let (_, done) = d
        .post_json("/api/v1/order/cancel-transaction", &cancel(&b2_id, S1))
        .await;
    assert_eq!(
        (&done["status_code"], &done["data"]["trade_id"]),
        (&json!(200), &json!(b2_id)),
        "{done}"
    );

    // Merchant 1003's key: its own invoices only, its order ids its own.
    let keyed = |r: reqwest::RequestBuilder| r.bearer_auth(M3_KEY);
    let r = keyed(http.get(format!("{}/v1/invoices/{e1_id}", d.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another merchant's invoice is not found");
    let r = keyed(http.post(format!("{}/v1/invoices/{e1_id}/cancel", d.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = keyed(http.get(format!("{}/v1/events", d.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a merchant's key reaches its invoices only"
    );
    let r = keyed(http.post(format!("{}/v1/invoices", d.url)))
        .json(&json!({"chain": "tron", "asset": "USDT", "amount": "3", "order_id": "E-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "the same order id is another merchant's own"
    );
    let own: Value = r.json().await.unwrap();
    assert_eq!(own["merchant"], "1003");
    assert_ne!(own["id"], e1_id.as_str());
    let r = keyed(http.post(format!("{}/v1/invoices", d.url)))
        .json(&json!({"chain": "tron", "asset": "TRX", "amount": "3", "order_id": "E-5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "TRX is not among merchant 1003's assets");
    let list: Value = keyed(http.get(format!("{}/v1/invoices", d.url)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own["id"].as_str().unwrap()], "{list}");
    let (_, theirs) = d.get("/v1/invoices?merchant=1001").await;
    assert_eq!(theirs["invoices"].as_array().unwrap().len(), 7, "{theirs}");

    // The checkout page sends the EPay buyer back only once paid.
    let (_, page) = d.get(&format!("/pay/{e1_id}/status")).await;
    assert!(page["redirect_url"].is_null(), "{page}");

    // The buyers pay E-1 and B-1.
    let (_, e1_inv) = d.get(&format!("/v1/invoices/{e1_id}")).await;
    let units = |due: &str| -> u64 {
        let (whole, frac) = due.split_once('.').unwrap_or((due, ""));
        whole.parse::<u64>().unwrap() * 1_000_000 + format!("{frac:0<6}").parse::<u64>().unwrap()
    };
    let e1_due = units(e1_inv["amount_due"].as_str().unwrap());
    let b1_units = units(&b1_due);
    let chain = rewritten_chain(
        BASE,
        6,
        0,
        None,
        |i| match i {
            3 => Some(usdt_payment(&a, account, e1_due, 3)),
            4 => Some(usdt_payment(&a, account, b1_units, 4)),
            _ => None,
        },
        &a,
    );
    node.set_blocks(chain);
    d.wait_indexed("tron", BASE + 5).await;

    // EPay's notification: a GET, signed as EPay signs, answered `success`.
    let query = epay_notification(&seen).await;
    assert_eq!(query["trade_status"], "TRADE_SUCCESS");
    assert_eq!(
        (
            query["pid"].as_str(),
            query["out_trade_no"].as_str(),
            query["money"].as_str()
        ),
        ("1001", "E-1", "72")
    );
    assert_eq!(query["trade_no"], e1_id);
    assert_eq!(query["param"], "user=7");
    assert_eq!(query["name"], "VIP plan");
    assert_eq!(query["sign"], epay_sign(&query, S1), "{query:?}");

    // BEpusdt's: its order confirmed (2) last, B-2 cancelled (4), B-3
    // expired (3); each signed, each answered `OK`.
    for (id, status) in [(&b1_id, 2), (&b2_id, 4), (&b3_id, 3)] {
        let calls = wait_for(&format!("status {status} of {id}"), || {
            let c = bep_calls(&seen, id);
            c.iter().any(|v| v["status"] == status).then_some(c)
        })
        .await;
        for c in &calls {
            assert_eq!(
                c["signature"],
                epusdt_signature(c.as_object().unwrap(), S1).as_str(),
                "{c}"
            );
        }
        assert_eq!(calls.last().unwrap()["status"], status, "{calls:?}");
    }
    let b1_paid = bep_calls(&seen, &b1_id).last().cloned().unwrap();
    assert_eq!(
        b1_paid["actual_amount"],
        b1_due.as_str(),
        "a string, as BEpusdt sends it"
    );
    assert_eq!(b1_paid["amount"], 36);

    // Every callback shows as delivered.
    all_delivered(&d).await;

    // Now the EPay buyer goes back with the signed order.
    let (_, page) = d.get(&format!("/pay/{e1_id}/status")).await;
    let back = page["redirect_url"].as_str().unwrap();
    let (base, query) = back.split_once('?').unwrap();
    assert_eq!(base, "https://shop.example/return");
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(query["sign"], epay_sign(&query, S1));
    let o: Value = http
        .get(q("1001", S1, ("trade_no", &e1_id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(o["status"], 1, "{o}");

    // The merchants' secrets show nowhere: not in what the API serves,
    // not in the configuration's Debug form.
    for path in [
        "/v1/status",
        "/metrics",
        "/v1/deliveries?sink=epusdt",
        "/v1/invoices?limit=1000",
        "/v1/events",
    ] {
        let body = http
            .get(format!("{}{path}", d.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for secret in [S1, S2, S3] {
            assert!(!body.contains(secret), "{path} shows a merchant's secret");
        }
    }
    let parsed =
        paywatch::config::Config::parse(&config, std::path::Path::new("/tmp/shop.toml")).unwrap();
    let debug = format!("{parsed:?}");
    assert!(
        debug.contains("1002"),
        "the merchants are in the Debug form"
    );
    for secret in [S1, S2, S3] {
        assert!(!debug.contains(secret), "Debug shows a merchant's secret");
    }
    d.stop().await;
}

/// The same protocols on Anvil, in a token and in ether: an EPay order
/// paid in the token (the shop answers `ok`), a BEpusdt order paid in
/// ether (the shop answers `success`), each to its own derived address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epay_in_a_token_and_bepusdt_in_ether_are_paid_on_anvil() {
    use crate::evm_anvil::{word_addr, word_u, ETH};
    let dir = tempfile::tempdir().unwrap();
    let Some(AnvilShop {
        anvil,
        customer,
        token,
        config,
        ..
    }) = anvil_shop(
        &dir,
        &[],
        &format!(
            "[epusdt.trade_types]\n\"usdt.erc20\" = \"anvil:PWT\"\n\"ethereum.eth\" = \"anvil:ETH\"\n\n\
             [[merchant]]\nid = \"2001\"\nsecret = \"{S1}\"\nallow_private_notify = true\n"
        ),
    )
    .await
    else {
        return;
    };
    let transfer = |to: &str, units: u128| format!("0xa9059cbb{}{}", word_addr(to), word_u(units));
    let (shop, seen, _shop_stop) = shop_receiver("ok", "success").await;
    let d = Daemon::start(&config).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // EPay, as a GET: 72 CNY at 7.2 is 10 PWT.
    let order = signed(
        &[
            ("pid", "2001"),
            ("type", "usdt.erc20"),
            ("out_trade_no", "A-1"),
            ("notify_url", &format!("{shop}/epay")),
            ("return_url", "https://shop.example/back"),
            ("name", "Plan"),
            ("money", "72"),
        ],
        S1,
    );
    let r = http
        .get(format!("{}/submit.php?{}", d.url, encoded(&order)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let epay_id = r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, epay_inv) = d.get(&format!("/v1/invoices/{epay_id}")).await;
    assert_eq!(
        (
            &epay_inv["amount_due"],
            &epay_inv["asset"]["symbol"],
            &epay_inv["merchant"]
        ),
        (&json!("10"), &json!("PWT"), &json!("2001")),
        "{epay_inv}"
    );

    // BEpusdt in ether: 200 CNY at 20000 is 0.01 ETH.
    let mut b = json!({
        "order_id": "A-2", "amount": 200, "trade_type": "ethereum.eth",
        "notify_url": format!("{shop}/bep"), "redirect_url": "https://shop.example/done",
        "timeout": 600,
    });
    let s = epusdt_signature(b.as_object().unwrap(), S1);
    b["signature"] = json!(s);
    let (_, created) = d.post_json("/api/v1/order/create-transaction", &b).await;
    assert_eq!(created["status_code"], 200, "{created}");
    assert_eq!(created["data"]["actual_amount"], "0.01", "{created}");
    let eth_id = created["data"]["trade_id"].as_str().unwrap().to_string();
    let eth_to = created["data"]["token"].as_str().unwrap().to_string();

    anvil
        .send(
            &customer,
            Some(&token),
            0,
            &transfer(epay_inv["address"].as_str().unwrap(), 10_000_000),
        )
        .await;
    anvil.send(&customer, Some(&eth_to), ETH / 100, "0x").await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    for id in [&epay_id, &eth_id] {
        d.invoice_until(id, "confirmed").await;
    }

    let query = epay_notification(&seen).await;
    assert_eq!(
        (
            query["out_trade_no"].as_str(),
            query["type"].as_str(),
            query["money"].as_str()
        ),
        ("A-1", "usdt.erc20", "72")
    );
    assert_eq!(query["sign"], epay_sign(&query, S1), "{query:?}");
    let calls = wait_for("BEpusdt's paid callback", || {
        let c = bep_calls(&seen, &eth_id);
        c.iter().any(|v| v["status"] == 2).then_some(c)
    })
    .await;
    let paid = calls.last().unwrap();
    assert_eq!(paid["status"], 2);
    assert_eq!(paid["actual_amount"], "0.01");
    assert_eq!(
        paid["signature"],
        epusdt_signature(paid.as_object().unwrap(), S1).as_str()
    );
    all_delivered(&d).await;
    d.stop().await;
}

/// GMPay's text to sign, written here from its documentation and code:
/// every parameter but `signature`, null and empty ones left out, numbers
/// as Go writes them, `k=v` sorted, joined with `&`.
fn gmpay_text(params: &serde_json::Map<String, Value>) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, v)| *k != "signature" && !v.is_null() && **v != json!(""))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            Value::Number(n) => format!("{k}={}", n.as_f64().unwrap()),
            other => panic!("{k}: {other} is not signed"),
        })
        .collect();
    pairs.sort();
    pairs.join("&")
}

fn gmpay_hmac(params: &serde_json::Map<String, Value>, key: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(gmpay_text(params).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn gmpay_md5(params: &serde_json::Map<String, Value>, key: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(format!("{}{key}", gmpay_text(params))))
}

/// GMPay orders from a merchant signing with HMAC-SHA256 (JSON body) and
/// one signing with MD5 (form body), paid in USDT on the TRON replay, each
/// called back signed the way its order was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmpay_orders_signed_both_ways_are_paid_and_called_back() {
    use common::tron::rewritten_chain;
    let Some(fx) = fixtures() else { return };
    let account = "c0ffee00000000000000000000000000000000dd";
    const BASE: u64 = 9500;
    let (shop, seen, _shop_stop) = shop_receiver("ok", "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let TronShop {
        template: a,
        node,
        shared,
        config,
    } = tron_shop(
        &fx,
        BASE,
        account,
        dir.path(),
        &format!(
            "\n[[merchant]]\nid = \"3001\"\nsecret = \"{S1}\"\nallow_private_notify = true\ngmpay_sign = \"hmac_sha256\"\n\n\
             [[merchant]]\nid = \"3002\"\nsecret = \"{S2}\"\nallow_private_notify = true\ngmpay_sign = \"md5\"\n"
        ),
    )
    .await;
    let d = Daemon::start(&config).await;
    d.wait_indexed("tron", BASE + 2).await;
    let http = reqwest::Client::new();
    let create = "/payments/gmpay/v1/order/create-transaction";
    let post = |body: Value| {
        let http = http.clone();
        let url = format!("{}{create}", d.url);
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let order = |pid: &str, id: &str, amount: Value| {
        json!({
            "pid": pid, "order_id": id, "currency": "cny", "token": "usdt", "network": "tron",
            "amount": amount, "notify_url": format!("{shop}/gm"),
            "redirect_url": "https://shop.example/back", "name": "VIP",
        })
    };
    let with_sig = |mut o: Value, sig: String| {
        o["signature"] = json!(sig);
        o
    };

    // HMAC-SHA256, JSON: 72 CNY at 7.2 is 10 USDT.
    let g1 = order("3001", "G-1", json!(72.00));
    let sig = gmpay_hmac(g1.as_object().unwrap(), S1);
    let (code, created) = post(with_sig(g1, sig)).await;
    assert_eq!(
        (code, &created["status_code"]),
        (200, &json!(200)),
        "{created}"
    );
    let data = &created["data"];
    assert_eq!(
        (
            &data["order_id"],
            &data["currency"],
            &data["token"],
            &data["status"],
            &data["amount"]
        ),
        (
            &json!("G-1"),
            &json!("CNY"),
            &json!("USDT"),
            &json!(1),
            &json!(72)
        ),
        "{created}"
    );
    assert_eq!(data["receive_address"], shared.as_str());
    let g1_id = data["trade_id"].as_str().unwrap().to_string();
    let g1_due = data["actual_amount"].as_f64().unwrap();

    // MD5, form body, for the merchant that signs so.
    let g2 = order("3002", "G-2", json!("36"));
    let sig = gmpay_md5(g2.as_object().unwrap(), S2);
    let mut form: BTreeMap<String, String> = g2
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    form.insert("signature".into(), sig);
    let r = http
        .post(format!("{}{create}", d.url))
        .form_of(&form)
        .send()
        .await
        .unwrap();
    let g2_created: Value = r.json().await.unwrap();
    assert_eq!(g2_created["status_code"], 200, "{g2_created}");
    let g2_id = g2_created["data"]["trade_id"].as_str().unwrap().to_string();
    let g2_due = g2_created["data"]["actual_amount"].as_f64().unwrap();

    // Refusals, each GMPay's errno; nothing is created.
    let before = invoice_count(&d).await;
    let signed_hmac = |o: Value| {
        let s = gmpay_hmac(o.as_object().unwrap(), S1);
        with_sig(o, s)
    };
    let mut only_token = order("3001", "G-9", json!(5));
    only_token.as_object_mut().unwrap().remove("network");
    let mut bsc = order("3001", "G-9", json!(5));
    bsc["network"] = json!("bsc");
    let mut doge = order("3001", "G-9", json!(5));
    doge["token"] = json!("doge");
    let hmac_for_md5 = {
        let o = order("3002", "G-9", json!(5));
        let s = gmpay_hmac(o.as_object().unwrap(), S2);
        with_sig(o, s)
    };
    for (what, body, http_code, errno) in [
        (
            "a wrong signature",
            with_sig(order("3001", "G-9", json!(5)), "0".repeat(64)),
            401,
            401,
        ),
        ("HMAC for an MD5 merchant", hmac_for_md5, 401, 401),
        (
            "an order id used before",
            signed_hmac(order("3001", "G-1", json!(72))),
            400,
            10002,
        ),
        ("a network not configured", signed_hmac(bsc), 400, 10014),
        (
            "a token the chain does not take",
            signed_hmac(doge),
            400,
            10016,
        ),
        (
            "a token without its network",
            signed_hmac(only_token),
            400,
            10009,
        ),
        (
            "an amount of 0.01 or less",
            signed_hmac(order("3001", "G-9", json!(0.01))),
            400,
            10009,
        ),
    ] {
        let (code, answer) = post(body).await;
        assert_eq!(
            (code, &answer["status_code"]),
            (http_code, &json!(errno)),
            "{what}: {answer}"
        );
        assert!(answer["data"].is_null(), "{what}: {answer}");
    }
    assert_eq!(
        invoice_count(&d).await,
        before,
        "a refused order made an invoice"
    );

    let status = |id: String| {
        let url = format!("{}/pay/check-status/{id}", d.url);
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(status(g1_id.clone()).await["data"]["status"], 1);
    let cfg: Value = http
        .get(format!("{}/payments/gmpay/v1/config", d.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tron = cfg["data"]["supported_assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["network"] == "tron")
        .cloned()
        .unwrap_or_default();
    assert!(
        tron["tokens"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("USDT"))),
        "{cfg}"
    );

    // Both are paid.
    let units = |due: f64| (due * 1_000_000.0).round() as u64;
    let chain = rewritten_chain(
        BASE,
        6,
        0,
        None,
        |i| match i {
            3 => Some(usdt_payment(&a, account, units(g1_due), 5)),
            4 => Some(usdt_payment(&a, account, units(g2_due), 6)),
            _ => None,
        },
        &a,
    );
    node.set_blocks(chain);
    d.wait_indexed("tron", BASE + 5).await;
    for (id, key, hmac) in [(&g1_id, S1, true), (&g2_id, S2, false)] {
        let call = wait_for(&format!("GMPay's callback for {id}"), || {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|(m, u, _)| m == "POST" && u == "/gm")
                .map(|(_, _, b)| serde_json::from_str::<Value>(b).unwrap())
                .find(|v| v["trade_id"] == id.as_str())
        })
        .await;
        assert_eq!(call["status"], 2, "{call}");
        assert!(call["pid"].is_string(), "pid is a string: {call}");
        assert_eq!(call["receive_address"], shared.as_str());
        assert_eq!(call["token"], "USDT");
        let fields = call.as_object().unwrap();
        let want = if hmac {
            gmpay_hmac(fields, key)
        } else {
            gmpay_md5(fields, key)
        };
        assert_eq!(call["signature"], want.as_str(), "{call}");
        assert_eq!(status(id.clone()).await["data"]["status"], 2);
    }
    all_delivered(&d).await;
    d.stop().await;
}

/// GMPay's cashier routes on Anvil: an order's cashier view, the buyer
/// switching it to ether (a second invoice with its own trade id, which
/// pays the order and closes the first), switching once only and never
/// from the second invoice, a named transaction credited only when it
/// really pays, `X-Request-ID` echoed, and an order with `payment_type`
/// `Epay` called back as EPay calls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmpay_cashier_switches_network_takes_a_named_transaction_and_calls_back_epay_style() {
    use crate::evm_anvil::{word_addr, word_u, ETH};
    let dir = tempfile::tempdir().unwrap();
    let Some(AnvilShop {
        anvil,
        customer,
        token,
        config,
        ..
    }) = anvil_shop(
        &dir,
        &["PWU"],
        &format!(
            "[epusdt.gmpay_networks]\nanvil = \"anvil\"\n\n\
             [[rate]]\npair = \"PWU/CNY\"\nfixed = \"7.2\"\n\n\
             [[merchant]]\nid = \"4001\"\nsecret = \"{S1}\"\nallow_private_notify = true\n"
        ),
    )
    .await
    else {
        return;
    };
    let transfer = |to: &str, units: u128| format!("0xa9059cbb{}{}", word_addr(to), word_u(units));
    let (shop, seen, _shop_stop) = shop_receiver("success", "ok").await;
    let d = Daemon::start(&config).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = http.request(method, format!("{}{path}", d.url));
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let signed_order = |id: &str, amount: u64, notify: &str, more: Value| {
        let mut o = json!({
            "pid": "4001", "order_id": id, "currency": "cny", "token": "pwt", "network": "anvil",
            "amount": amount, "notify_url": format!("{shop}{notify}"),
            "redirect_url": "https://shop.example/back", "name": "VIP",
        });
        o.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        // MD5, GMPay's own signature, is a merchant's default.
        let s = gmpay_md5(o.as_object().unwrap(), S1);
        o["signature"] = json!(s);
        o
    };
    let create = "/payments/gmpay/v1/order/create-transaction";

    // The shop's X-Request-ID comes back in the answer and its header.
    let r = http
        .post(format!("{}{create}", d.url))
        .header("X-Request-ID", "shop-req-7")
        .json(&signed_order("G-1", 72, "/gm", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "shop-req-7");
    let g1: Value = r.json().await.unwrap();
    assert_eq!(
        (&g1["status_code"], &g1["request_id"]),
        (&json!(200), &json!("shop-req-7")),
        "{g1}"
    );
    let g1_id = g1["data"]["trade_id"].as_str().unwrap().to_string();
    // Without one, a new UUID.
    let (_, g2) = call(
        reqwest::Method::POST,
        create.into(),
        Some(signed_order(
            "G-2",
            36,
            "/epay-gm",
            json!({"payment_type": "Epay"}),
        )),
    )
    .await;
    assert_eq!(g2["status_code"], 200, "{g2}");
    let rid = g2["request_id"].as_str().unwrap();
    assert!(
        rid.len() == 36 && rid.matches('-').count() == 4,
        "a UUID: {rid}"
    );
    let g2_id = g2["data"]["trade_id"].as_str().unwrap().to_string();
    let g2_address = g2["data"]["receive_address"].as_str().unwrap().to_string();

    // The cashier's view: times in milliseconds, as GMPay's are there.
    let (code, view) = call(
        reqwest::Method::GET,
        format!("/pay/checkout-counter-resp/{g1_id}"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{view}");
    let v = &view["data"];
    assert_eq!(
        (
            &v["amount"],
            &v["actual_amount"],
            &v["token"],
            &v["currency"],
            &v["network"],
            &v["status"],
            &v["payment_type"],
            &v["payment_url"],
            &v["is_selected"]
        ),
        (
            &json!(72),
            &json!(10),
            &json!("PWT"),
            &json!("CNY"),
            &json!("anvil"),
            &json!(1),
            &json!("gmpay"),
            &json!(""),
            &json!(false)
        ),
        "{view}"
    );
    assert!(v["expiration_time"].as_u64().unwrap() > 1_000_000_000_000);
    assert!(v["created_at"].as_u64().unwrap() > 1_000_000_000_000);
    let (_, v2) = call(
        reqwest::Method::GET,
        format!("/pay/checkout-counter-resp/{g2_id}"),
        None,
    )
    .await;
    assert_eq!(v2["data"]["payment_type"], "epay", "{v2}");
    let (code, none) = call(
        reqwest::Method::GET,
        "/pay/checkout-counter-resp/inv_nothing".into(),
        None,
    )
    .await;
    assert_eq!((code, &none["status_code"]), (400, &json!(10008)));
    // GMPay's cashier link leads to the checkout page.
    let r = http
        .get(format!("{}/pay/checkout-counter/{g1_id}", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/{g1_id}")));

    let switch = |trade_id: &str, token: &str| {
        call(
            reqwest::Method::POST,
            "/pay/switch-network".into(),
            Some(json!({"trade_id": trade_id, "token": token, "network": "anvil"})),
        )
    };
    // The network it is on: chosen, and remembered.
    let (_, same) = switch(&g1_id, "pwt").await;
    assert_eq!(
        (&same["data"]["trade_id"], &same["data"]["is_selected"]),
        (&json!(g1_id), &json!(true)),
        "{same}"
    );
    let (_, again) = call(
        reqwest::Method::GET,
        format!("/pay/checkout-counter-resp/{g1_id}"),
        None,
    )
    .await;
    assert_eq!(again["data"]["is_selected"], true);
    // Ether instead: 72 CNY at 20000 is 0.0036 ETH, on an invoice of its own.
    let (code, eth) = switch(&g1_id, "eth").await;
    assert_eq!(code, 200, "{eth}");
    let e = &eth["data"];
    let sub_id = e["trade_id"].as_str().unwrap().to_string();
    let sub_address = e["receive_address"].as_str().unwrap().to_string();
    assert_ne!(sub_id, g1_id);
    assert_ne!(sub_address, g1["data"]["receive_address"].as_str().unwrap());
    assert_eq!(
        (
            &e["token"],
            &e["actual_amount"],
            &e["amount"],
            &e["is_selected"],
            &e["status"]
        ),
        (
            &json!("ETH"),
            &json!(0.0036),
            &json!(72),
            &json!(true),
            &json!(1)
        ),
        "{eth}"
    );
    // Asking again gives the same invoice; another network, or switching
    // the second invoice, is refused.
    let (_, twice) = switch(&g1_id, "ETH").await;
    assert_eq!(twice["data"]["trade_id"], sub_id.as_str(), "{twice}");
    for (what, (code, answer), errno) in [
        ("a second switch", switch(&g1_id, "PWU").await, 10011),
        (
            "switching the second invoice",
            switch(&sub_id, "PWT").await,
            10012,
        ),
        (
            "an unknown order",
            switch("inv_nothing", "ETH").await,
            10008,
        ),
        ("an unknown token", switch(&g2_id, "DOGE").await, 10016),
    ] {
        assert_eq!(
            (code, &answer["status_code"]),
            (400, &json!(errno)),
            "{what}: {answer}"
        );
    }

    // A named transaction that paywatch has not seen, or that does not
    // pay the order, is not credited.
    let submit = |trade_id: &str, txid: &str| {
        call(
            reqwest::Method::POST,
            format!("/pay/submit-tx-hash/{trade_id}"),
            Some(json!({ "block_transaction_id": txid })),
        )
    };
    let (code, unseen) = submit(&sub_id, &format!("0x{}", "ab".repeat(32))).await;
    assert_eq!(
        (code, &unseen["status_code"]),
        (400, &json!(10038)),
        "{unseen}"
    );
    let short = anvil
        .send(&customer, Some(&sub_address), ETH / 1000, "0x")
        .await;
    let short = short["transactionHash"].as_str().unwrap().to_string();
    d.wait_indexed("anvil", anvil.height().await).await;
    let (_, wrong) = submit(&sub_id, &short).await;
    assert_eq!(
        wrong["status_code"], 10038,
        "not the order's amount: {wrong}"
    );
    // The buyer pays the ether invoice the rest; the shop's order is paid
    // once it is confirmed.
    let paid = anvil
        .send(
            &customer,
            Some(&sub_address),
            36 * ETH / 10_000 - ETH / 1000,
            "0x",
        )
        .await;
    let paid_hash = paid["transactionHash"].as_str().unwrap().to_string();
    let (_, not_exact) = submit(&sub_id, &paid_hash).await;
    assert_eq!(not_exact["status_code"], 10038, "{not_exact}");
    // Paid, not yet confirmed: the order waits (1), for the first invoice
    // too, which the payment closed (it read 3, expired, before).
    d.invoice_until(&sub_id, "paid").await;
    for id in [&g1_id, &sub_id] {
        let (_, s) = call(
            reqwest::Method::GET,
            format!("/pay/check-status/{id}"),
            None,
        )
        .await;
        assert_eq!(s["data"]["status"], 1, "{id} while confirming: {s}");
    }
    anvil.rpc("evm_mine", json!([])).await;
    d.invoice_until(&sub_id, "confirmed").await;
    let (_, closed) = d.get(&format!("/v1/invoices/{g1_id}")).await;
    assert_eq!(
        (&closed["status"], &closed["superseded_by"]),
        (&json!("cancelled"), &json!(sub_id)),
        "{closed}"
    );
    for id in [&g1_id, &sub_id] {
        let (_, s) = call(
            reqwest::Method::GET,
            format!("/pay/check-status/{id}"),
            None,
        )
        .await;
        assert_eq!(s["data"]["status"], 2, "{id}: {s}");
    }
    let (code, late) = submit(&g1_id, &paid_hash).await;
    assert_eq!((code, &late["status_code"]), (400, &json!(10013)), "{late}");
    let callback = wait_for("GMPay's callback for the switched order", || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(m, u, _)| m == "POST" && u == "/gm")
            .map(|(_, _, b)| serde_json::from_str::<Value>(b).unwrap())
            .next()
    })
    .await;
    assert_eq!(
        (
            &callback["trade_id"],
            &callback["order_id"],
            &callback["token"],
            &callback["status"],
            &callback["pid"]
        ),
        (
            &json!(g1_id),
            &json!("G-1"),
            &json!("ETH"),
            &json!(2),
            &json!("4001")
        ),
        "the shop hears of its own order: {callback}"
    );
    assert_eq!(
        callback["signature"],
        gmpay_md5(callback.as_object().unwrap(), S1).as_str(),
        "{callback}"
    );

    // The EPay-style order: a transaction named before it is credited...
    let pay_g2 = anvil
        .send(
            &customer,
            Some(&token),
            0,
            &transfer(&g2_address, 5_000_000),
        )
        .await;
    let pay_g2 = pay_g2["transactionHash"].as_str().unwrap().to_string();
    d.invoice_until(&g2_id, "paid").await;
    let (code, named) = submit(&g2_id, &pay_g2.to_uppercase().replace("0X", "")).await;
    assert_eq!(code, 200, "{named}");
    assert_eq!(
        (
            &named["data"]["trade_id"],
            &named["data"]["block_transaction_id"]
        ),
        (&json!(g2_id), &json!(pay_g2.to_lowercase())),
        "{named}"
    );
    // ... and on confirmation EPay's GET reaches the shop.
    anvil.rpc("evm_mine", json!([])).await;
    d.invoice_until(&g2_id, "confirmed").await;
    let query = epay_notification(&seen).await;
    assert_eq!(
        (
            query["pid"].as_str(),
            query["trade_no"].as_str(),
            query["out_trade_no"].as_str(),
            query["type"].as_str(),
            query["money"].as_str(),
            query["trade_status"].as_str(),
            query["sign_type"].as_str()
        ),
        (
            "4001",
            g2_id.as_str(),
            "G-2",
            "alipay",
            "36.0000",
            "TRADE_SUCCESS",
            "MD5"
        ),
        "{query:?}"
    );
    assert_eq!(query["sign"], epay_sign(&query, S1), "{query:?}");
    all_delivered(&d).await;
    d.stop().await;
}
