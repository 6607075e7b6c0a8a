//! End to end against a real Anvil node: an ERC-20 compiled from
//! `tests/evm/`, native and token payments to and from watched addresses, a
//! failed transfer that must not count, payments made inside a contract, and
//! a reorg that removes a counted payment. Anvil and the compiled contracts
//! come from `scripts/setup-deps.sh`.

use crate::common;

use common::anvil::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) const ETH: u128 = 1_000_000_000_000_000_000;

pub(crate) fn word_addr(a: &str) -> String {
    format!("{:0>64}", a.trim_start_matches("0x"))
}

pub(crate) fn word_u(v: u128) -> String {
    format!("{v:064x}")
}

fn of<'a>(ev: &'a [Value], kind: &str, txid: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["type"] == kind && e["txid"] == txid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_native_token_failed_internal_and_reorg() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let acct = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (deployer, merchant, customer) = (acct(0), acct(1), acct(2));

    let token = anvil
        .deploy(&deployer, "TestToken", &word_u(1_000_000_000_000))
        .await;
    let forwarder = anvil.deploy(&deployer, "Forwarder", "").await;
    let rejecter = anvil.deploy(&deployer, "Rejecter", "").await;
    let start = anvil.height().await + 1;

    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = {start}\n\
         confirmations = 3\npoll_interval_ms = 50\ninternal_transfers = true\n\
         [[chain.token]]\nsymbol = \"PWT\"\ncontract = \"{token}\"\ndecimals = 6\n",
        anvil.url
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    for (a, label) in [
        (&merchant, "merchant"),
        (&customer, "customer"),
        (&rejecter, "rejecter"),
    ] {
        d.watch("anvil", a, label).await;
    }

    // 1. Native payment to the merchant.
    let r1 = anvil
        .send(&deployer, Some(&merchant), 3 * ETH / 2, "0x")
        .await;
    // 2. Token payment to the merchant.
    let r2 = anvil
        .send(
            &deployer,
            Some(&token),
            0,
            &format!("0xa9059cbb{}{}", word_addr(&merchant), word_u(25_000_000)),
        )
        .await;
    // 3. The watched customer pays someone (out).
    let r3 = anvil.send(&customer, Some(&deployer), ETH / 10, "0x").await;
    // 4. A failed payment: ETH to a contract that rejects it (status 0).
    let r4 = anvil.send(&deployer, Some(&rejecter), ETH, "0x").await;
    assert_eq!(r4["status"], "0x0");
    // 5. Payments made inside a contract: native (internal) and token.
    let r5 = anvil
        .send(
            &deployer,
            Some(&forwarder),
            3 * ETH / 10,
            &format!("0x101e8952{}", word_addr(&merchant)),
        )
        .await;
    anvil
        .send(
            &deployer,
            Some(&token),
            0,
            &format!("0xa9059cbb{}{}", word_addr(&forwarder), word_u(9_000_000)),
        )
        .await;
    let r6 = anvil
        .send(
            &deployer,
            Some(&forwarder),
            0,
            &format!(
                "0x60a8d7a5{}{}{}",
                word_addr(&token),
                word_addr(&merchant),
                word_u(5_000_000)
            ),
        )
        .await;
    let tx = |r: &Value| r["transactionHash"].as_str().unwrap().to_string();
    let (t1, t2, t3, t4, t5, t6) = (tx(&r1), tx(&r2), tx(&r3), tx(&r4), tx(&r5), tx(&r6));
    anvil.rpc("anvil_mine", json!(["0x3"])).await;

    let ev = d
        .events_until("confirmations", |ev| {
            of(ev, "payment.confirmed", &t6).len() == 1
        })
        .await;
    let detected = |t: &str| of(&ev, "payment.detected", t);
    // Native in, index 0, full wei.
    let e1 = detected(&t1);
    assert_eq!(e1.len(), 1);
    assert_eq!(
        (e1[0]["direction"].as_str(), e1[0]["index"].as_u64()),
        (Some("in"), Some(0))
    );
    assert_eq!(e1[0]["amount"], "1500000000000000000");
    assert_eq!(
        e1[0]["asset"],
        json!({"symbol": "ETH", "decimals": 18, "contract": null})
    );
    assert_eq!(e1[0]["network"], "chain-31337");
    assert_eq!(e1[0]["watch"]["label"], "merchant");
    // Token in, index = log index + 1.
    let e2 = detected(&t2);
    assert_eq!(e2.len(), 1);
    assert_eq!(e2[0]["amount"], "25000000");
    assert_eq!(e2[0]["asset"]["symbol"], "PWT");
    assert_eq!(e2[0]["index"], 1);
    // Native out from the watched customer.
    let e3 = detected(&t3);
    assert_eq!(e3.len(), 1);
    assert_eq!(
        (e3[0]["direction"].as_str(), e3[0]["amount"].as_str()),
        (Some("out"), Some("100000000000000000"))
    );
    // The failed payment never counts.
    assert!(
        ev.iter().all(|e| e["txid"] != t4.as_str()),
        "failed transaction reported"
    );
    // Inside a contract: the internal native transfer and the token transfer.
    let e5 = detected(&t5);
    assert_eq!(e5.len(), 1, "{e5:#?}");
    assert_eq!(e5[0]["amount"], "300000000000000000");
    assert!(
        e5[0]["index"].as_u64().unwrap() >= 1 << 30,
        "internal transfers have their own index range"
    );
    let e6 = detected(&t6);
    assert_eq!(e6.len(), 1);
    assert_eq!(
        (e6[0]["amount"].as_str(), e6[0]["asset"]["symbol"].as_str()),
        (Some("5000000"), Some("PWT"))
    );
    for t in [&t1, &t2, &t3, &t5, &t6] {
        let c = of(&ev, "payment.confirmed", t);
        assert_eq!(c.len(), 1, "{t}");
        assert!(c[0]["confirmations"].as_u64().unwrap() >= 3);
    }
    // Output is EIP-55, whatever case was given.
    assert_ne!(e1[0]["address"].as_str().unwrap(), merchant.as_str());
    assert_eq!(
        e1[0]["address"].as_str().unwrap().to_lowercase(),
        merchant.to_lowercase()
    );

    // 7. Reorg: a payment is mined, seen, then its block is replaced.
    let snapshot = anvil.rpc("evm_snapshot", json!([])).await;
    let r7 = anvil.send(&deployer, Some(&merchant), 2 * ETH, "0x").await;
    let t7 = tx(&r7);
    d.events_until("the payment to be reorged", |ev| {
        of(ev, "payment.detected", &t7).len() == 1
    })
    .await;
    assert_eq!(
        anvil.rpc("evm_revert", json!([snapshot])).await,
        json!(true)
    );
    // Different blocks at the same heights and beyond.
    anvil.rpc("evm_mine", json!([1_900_000_000u64])).await;
    anvil.rpc("anvil_mine", json!(["0x2"])).await;
    let ev = d
        .events_until("payment.reorged", |ev| {
            of(ev, "payment.reorged", &t7).len() == 1
        })
        .await;
    assert!(
        of(&ev, "payment.confirmed", &t7).is_empty(),
        "never had 3 confirmations"
    );
    let tip = anvil.height().await;
    d.wait_indexed("anvil", tip).await;
    let t = d.transfers("anvil", &merchant).await;
    assert!(t.iter().all(|x| x["txid"] != t7.as_str()));
    assert_eq!(
        t.len(),
        4,
        "native, token, internal, token via contract: {t:#?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chain_id_stops_the_start() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        dir.path(),
        &[format!(
            "[[chain]]\nname = \"eth\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 1\n",
            anvil.url
        )],
    );
    let config =
        paywatch::config::Config::parse(&text, std::path::Path::new("/tmp/t.toml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let err = paywatch::daemon::run_with_listener(config, listener, rx)
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("31337") && msg.contains("chain_id = 1"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalized_tag_confirms_at_the_nodes_mark() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let (payer, merchant) = (
        accounts[0].as_str().unwrap().to_string(),
        accounts[5].as_str().unwrap().to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = 1\n\
         finality = \"finalized\"\npoll_interval_ms = 50\n",
        anvil.url
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    d.watch("anvil", &merchant, "f").await;
    let paid = anvil.send(&payer, Some(&merchant), ETH, "0x").await;
    let txid = paid["transactionHash"].as_str().unwrap().to_string();
    let height = u64::from_str_radix(
        paid["blockNumber"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    // Anvil finalizes 64 blocks behind its tip: 60 more blocks are not enough.
    anvil
        .rpc("anvil_mine", json!([format!("0x{:x}", 60)]))
        .await;
    d.wait_indexed("anvil", height + 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ev = d.events().await;
    assert_eq!(of(&ev, "payment.detected", &txid).len(), 1);
    assert!(
        of(&ev, "payment.confirmed", &txid).is_empty(),
        "confirmed before the finalized mark"
    );
    anvil.rpc("anvil_mine", json!(["0x8"])).await;
    let ev = d
        .events_until("finalized", |ev| {
            of(ev, "payment.confirmed", &txid).len() == 1
        })
        .await;
    assert_eq!(
        of(&ev, "payment.confirmed", &txid)[0]["block"]["height"],
        height
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_in_ether_and_a_token_are_paid_on_anvil() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let (deployer, customer) = (
        accounts[0].as_str().unwrap().to_string(),
        accounts[1].as_str().unwrap().to_string(),
    );
    let token = anvil
        .deploy(&deployer, "TestToken", &word_u(1_000_000_000_000))
        .await;
    // The customer holds tokens to pay with.
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
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = {start}\n\
         confirmations = 2\npoll_interval_ms = 50\n\
         [[chain.token]]\nsymbol = \"PWT\"\ncontract = \"{token}\"\ndecimals = 6\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        anvil.url
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;

    let (code, eth) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "ETH", "amount": "1.5", "order_id": "E1"}),
        )
        .await;
    assert_eq!(code, 201, "{eth}");
    // Receive address 0/0 of the account: the published m/44'/60'/0'/0/0.
    let to_eth = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94";
    assert_eq!(eth["address"], to_eth);
    assert_eq!(
        eth["payment_uri"],
        format!("ethereum:{to_eth}@31337?value=1500000000000000000").as_str()
    );
    let (_, pwt) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "PWT", "amount": "25", "order_id": "E2"}),
        )
        .await;
    let to_pwt = "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0";
    assert_eq!(pwt["address"], to_pwt);
    let token_checksummed = pwt["asset"]["contract"].as_str().unwrap();
    assert_eq!(
        pwt["payment_uri"],
        format!("ethereum:{token_checksummed}@31337/transfer?address={to_pwt}&uint256=25000000")
            .as_str()
    );

    anvil.send(&customer, Some(to_eth), 3 * ETH / 2, "0x").await;
    anvil
        .send(
            &customer,
            Some(&token),
            0,
            &format!("0xa9059cbb{}{}", word_addr(to_pwt), word_u(25_000_000)),
        )
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;

    for id in [&eth["id"], &pwt["id"]] {
        let inv = d.invoice_until(id.as_str().unwrap(), "confirmed").await;
        assert_eq!(inv["paid"], inv["amount_due"], "{inv}");
    }
    let events = d.events().await;
    let kinds = |id: &Value| invoice_event_types(&events, id.as_str().unwrap());
    assert_eq!(kinds(&eth["id"]), ["invoice.paid", "invoice.confirmed"]);
    assert_eq!(kinds(&pwt["id"]), ["invoice.paid", "invoice.confirmed"]);

    // E3: 4 PWT, then 7 more (1 too many). E4: expires, then gets paid.
    let (_, e3) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "PWT", "amount": "10", "order_id": "E3"}),
        )
        .await;
    let (_, e4) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "ETH", "amount": "0.5", "order_id": "E4", "expires_in": 1}),
        )
        .await;
    let pay_token = |to: String, amount: u128| {
        let anvil = &anvil;
        let (customer, token) = (customer.clone(), token.clone());
        async move {
            anvil
                .send(
                    &customer,
                    Some(&token),
                    0,
                    &format!("0xa9059cbb{}{}", word_addr(&to), word_u(amount)),
                )
                .await
        }
    };
    let e3_to = e3["address"].as_str().unwrap().to_string();
    pay_token(e3_to.clone(), 4_000_000).await;
    let (e3_id, e4_id) = (e3["id"].as_str().unwrap(), e4["id"].as_str().unwrap());
    d.invoice_until(e3_id, "underpaid").await;
    d.invoice_until(e4_id, "expired").await;
    pay_token(e3_to, 7_000_000).await;
    anvil
        .send(
            &customer,
            Some(e4["address"].as_str().unwrap()),
            ETH / 2,
            "0x",
        )
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let paid3 = d.invoice_until(e3_id, "confirmed").await;
    assert_eq!(paid3["paid"], "11");
    assert_eq!(paid3["excess"], "1");
    d.invoice_until(e4_id, "paid_late").await;
    let events = d.events().await;
    let kinds = |id: &Value| invoice_event_types(&events, id.as_str().unwrap());
    assert_eq!(
        kinds(&e3["id"]),
        [
            "invoice.underpaid",
            "invoice.paid",
            "invoice.overpaid",
            "invoice.confirmed"
        ]
    );
    assert_eq!(kinds(&e4["id"]), ["invoice.expired", "invoice.paid_late"]);

    // E5 takes payments up to 0.5% short: 0.004 ETH short is paid.
    let (code, e5) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "ETH", "amount": "1", "order_id": "E5", "underpayment_tolerance": "0.5%"}),
        )
        .await;
    assert_eq!(code, 201, "{e5}");
    assert_eq!(e5["underpayment_tolerance"]["amount"], "0.005");
    let paid_e5 = anvil
        .send(
            &customer,
            Some(e5["address"].as_str().unwrap()),
            ETH - 4 * ETH / 1000,
            "0x",
        )
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let paid5 = d
        .invoice_until(e5["id"].as_str().unwrap(), "confirmed")
        .await;
    assert_eq!(paid5["paid"], "0.996");
    assert_eq!(paid5["amount_short"], "0.004");

    // Attaching by hand: E5's own payment is credited already; PWT sent
    // to E5's address is not the ETH it asks for; ether sent to an
    // address paywatch does not watch is in no block it scanned.
    let e5_id = e5["id"].as_str().unwrap();
    let attach = |txid: &str| {
        let (d, txid) = (&d, txid.to_string());
        async move {
            d.post_json(
                &format!("/v1/invoices/{e5_id}/attach"),
                &json!({"txid": txid}),
            )
            .await
        }
    };
    let own = paid_e5["transactionHash"].as_str().unwrap();
    let token_to_e5 = pay_token(e5["address"].as_str().unwrap().to_string(), 1_000_000).await;
    let elsewhere = anvil
        .send(&customer, Some(accounts[3].as_str().unwrap()), ETH, "0x")
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    let token_txid = token_to_e5["transactionHash"].as_str().unwrap().to_string();
    d.events_until("the token payment to E5", |ev| {
        !of(ev, "payment.detected", &token_txid).is_empty()
    })
    .await;
    for (txid, status, code) in [
        (own, 409, "payment_already_credited"),
        (token_txid.as_str(), 422, "transaction_not_for_invoice"),
        (
            elsewhere["transactionHash"].as_str().unwrap(),
            404,
            "transaction_not_found",
        ),
    ] {
        let (st, err) = attach(txid).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{txid}: {err}"
        );
    }
    // E4 was paid late; the merchant accepts it.
    let (st, e4_now) = d
        .post_json(
            &format!("/v1/invoices/{e4_id}/settle"),
            &json!({"note": "late, accepted"}),
        )
        .await;
    assert_eq!(st, 200, "{e4_now}");
    assert_eq!(e4_now["status"], "settled");
    assert_eq!(e4_now["history"][0]["from"], "paid_late");
    d.stop().await;
}

/// A refund, watch-only: paywatch prepares it for the merchant's wallet and
/// follows the payment. The buyer's address is the sender of the
/// invoice's payment; a payment to another address and one short of the
/// amount do not count; the merchant's payment from the invoice's address
/// makes it sent, then completed; a second refund paid from a
/// `refund_from` address is followed the same way; refunds beyond what
/// was paid are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_is_followed_from_the_merchants_address_to_the_buyer() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let account = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (customer, stranger, treasury) = (account(1), account(2), account(7));
    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\n\
         start_height = {start}\nconfirmations = 2\npoll_interval_ms = 50\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\nrefund_from = [\"{treasury}\"]\n",
        anvil.url
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    let (code, inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "ETH", "amount": "1", "order_id": "R1"}),
        )
        .await;
    assert_eq!(code, 201, "{inv}");
    let id = inv["id"].as_str().unwrap().to_string();
    let shop = inv["address"].as_str().unwrap().to_string();
    let refunds = format!("/v1/invoices/{id}/refunds");

    // Nothing paid yet: nothing to refund.
    let (code, err) = d.post_json(&refunds, &json!({"amount": "0.1"})).await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (409, Some("refund_exceeds_paid")),
        "{err}"
    );
    anvil.send(&customer, Some(&shop), ETH, "0x").await;
    anvil.rpc("evm_mine", json!([])).await;
    d.invoice_until(&id, "confirmed").await;

    for (body, status, code) in [
        (json!({"amount": "1.5"}), 409, "refund_exceeds_paid"),
        (json!({"amount": "0"}), 400, "invalid_amount"),
        (
            json!({"amount": "0.4", "asset": "USDT"}),
            400,
            "invalid_asset",
        ),
        (
            json!({"amount": "0.4", "address": "0x12"}),
            400,
            "invalid_address",
        ),
        (
            json!({"amount": "0.4", "address": treasury}),
            400,
            "invalid_address",
        ),
    ] {
        let (st, err) = d.post_json(&refunds, &body).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {err}"
        );
    }
    let (code, now) = d
        .post_json(
            &refunds,
            &json!({"amount": "0.4", "note": "one item returned"}),
        )
        .await;
    assert_eq!(code, 201, "{now}");
    let r1 = &now["refunds"][0];
    assert_eq!(r1["status"], "requested");
    assert_eq!(
        r1["address"].as_str().unwrap().to_lowercase(),
        customer.to_lowercase()
    );
    assert_eq!(
        r1["payment_uri"],
        format!(
            "ethereum:{}@31337?value=400000000000000000",
            r1["address"].as_str().unwrap()
        )
        .as_str()
    );
    assert_eq!(r1["from"][0], shop.as_str());
    let (code, _) = d.get(r1["qr_svg_url"].as_str().unwrap()).await;
    assert_eq!(code, 200);

    // The merchant's wallet, here the invoice's address on Anvil.
    anvil.rpc("anvil_impersonateAccount", json!([shop])).await;
    let wrong = anvil.send(&shop, Some(&stranger), 4 * ETH / 10, "0x").await;
    let short = anvil.send(&shop, Some(&customer), ETH / 10, "0x").await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    for r in [&wrong, &short] {
        let txid = r["transactionHash"].as_str().unwrap().to_string();
        d.events_until("the merchant's other payments", |ev| {
            !of(ev, "payment.confirmed", &txid).is_empty()
        })
        .await;
    }
    let (_, still) = d.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(still["refunds"][0]["status"], "requested", "{still}");

    let paid = anvil.send(&shop, Some(&customer), 4 * ETH / 10, "0x").await;
    let paid_txid = paid["transactionHash"].as_str().unwrap().to_string();
    let sent = d
        .events_until("refund.sent", |ev| {
            ev.iter().any(|e| e["type"] == "refund.sent")
        })
        .await;
    let e = sent.iter().find(|e| e["type"] == "refund.sent").unwrap();
    assert_eq!(e["refund"]["txid"], paid_txid.as_str(), "{e}");
    assert_eq!(e["direction"], "out");
    assert_eq!(e["amount"], "400000000000000000");
    anvil.rpc("evm_mine", json!([])).await;
    d.events_until("refund.completed", |ev| {
        ev.iter().any(|e| e["type"] == "refund.completed")
    })
    .await;
    let (_, done) = d.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(done["refunds"][0]["status"], "completed", "{done}");
    assert_eq!(
        done["status"], "confirmed",
        "a refund leaves the invoice's status"
    );

    // A second refund, paid from the chain's refund_from address.
    let (code, err) = d
        .post_json(&refunds, &json!({"amount": "0.7", "address": customer}))
        .await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (409, Some("refund_exceeds_paid")),
        "0.4 + 0.7 is more than the 1 paid: {err}"
    );
    let (code, now) = d
        .post_json(&refunds, &json!({"amount": "0.6", "address": customer}))
        .await;
    assert_eq!(code, 201, "{now}");
    assert_eq!(now["refunds"][1]["id"], format!("{id}-r2").as_str());
    anvil
        .send(&treasury, Some(&customer), 6 * ETH / 10, "0x")
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let events = d
        .events_until("the second refund completed", |ev| {
            ev.iter()
                .filter(|e| e["type"] == "refund.completed")
                .count()
                == 2
        })
        .await;
    assert_eq!(
        invoice_event_types(&events, &id),
        [
            "invoice.paid",
            "invoice.confirmed",
            "refund.requested",
            "refund.sent",
            "refund.completed",
            "refund.requested",
            "refund.sent",
            "refund.completed"
        ]
    );
    // The payment events carry who was paid.
    let out = of(&events, "payment.detected", &paid_txid);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["direction"], "out");
    assert_eq!(
        out[0]["counterparty"].as_str().unwrap().to_lowercase(),
        customer.to_lowercase()
    );
    d.stop().await;
}

/// A merchant without an account key hands out its own two addresses in
/// turn: one invoice per address at a time, any amount to it credits that
/// invoice, a buyer's second payment after it is paid still does, and the
/// pool says when it is exhausted instead of reusing a held address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_pool_hands_out_one_invoice_per_address() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let account = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (customer, first, second) = (account(1), account(5), account(6));
    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\n\
         start_height = {start}\nconfirmations = 1\npoll_interval_ms = 50\n\
         [chain.invoices]\naddress_pool = [\"{first}\"]\namount_reuse_after = \"1h\"\n",
        anvil.url
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    let order = |id: &str, amount: &str| json!({"chain": "anvil", "asset": "ETH", "amount": amount, "order_id": id});
    let (code, p1) = d.post_json("/v1/invoices", &order("P1", "1")).await;
    assert_eq!(code, 201, "{p1}");
    assert_eq!(
        p1["address"].as_str().unwrap().to_lowercase(),
        first.to_lowercase()
    );
    assert_eq!(p1["pooled"], true);
    let (code, err) = d.post_json("/v1/invoices", &order("P2", "2")).await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (409, Some("pool_exhausted")),
        "{err}"
    );

    // The second address, through the API (the first is there already).
    let (code, err) = d
        .post_json(
            "/v1/chains/anvil/pool",
            &json!({"addresses": [second, "nope"]}),
        )
        .await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (400, Some("invalid_address")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("addresses[1]"),
        "{err}"
    );
    let (code, added) = d
        .post_json(
            "/v1/chains/anvil/pool",
            &json!({"addresses": [second, first]}),
        )
        .await;
    assert_eq!(code, 200, "{added}");
    assert_eq!(
        added,
        json!({"added": 1, "pool": {"free": 1, "reserved": 1}})
    );
    let (code, p2) = d.post_json("/v1/invoices", &order("P2", "2")).await;
    assert_eq!(code, 201, "{p2}");
    assert_eq!(
        p2["address"].as_str().unwrap().to_lowercase(),
        second.to_lowercase()
    );
    let (_, status) = d.get("/v1/status").await;
    assert_eq!(
        status["invoice_pools"]["anvil"],
        json!({"free": 0, "reserved": 2})
    );

    // Paid in two parts, and the other in one.
    anvil
        .send(&customer, Some(&first), 4 * ETH / 10, "0x")
        .await;
    anvil
        .send(&customer, Some(&first), 6 * ETH / 10, "0x")
        .await;
    anvil.send(&customer, Some(&second), 2 * ETH, "0x").await;
    anvil.rpc("evm_mine", json!([])).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    d.invoice_until(&id(&p1), "confirmed").await;
    d.invoice_until(&id(&p2), "confirmed").await;
    // The first buyer pays again: still P1's, as an excess to refund.
    anvil.send(&customer, Some(&first), ETH / 10, "0x").await;
    anvil.rpc("evm_mine", json!([])).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, now) = d.get(&format!("/v1/invoices/{}", id(&p1))).await;
        if now["excess"] == "0.1" {
            assert_eq!(now["status"], "confirmed");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both paid, both held for their buyers' second payments.
    let (code, err) = d.post_json("/v1/invoices", &order("P3", "3")).await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (409, Some("pool_exhausted")),
        "{err}"
    );
    let events = d.events().await;
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "invoice.unmatched_payment"),
        "every payment had its holder"
    );
    d.stop().await;
}

/// With `ws_url`, a block is fetched as soon as Anvil announces it over
/// `newHeads`: the tip is polled only every 10 minutes here, so polling
/// cannot be what finds the payments. Each is detected within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_heads_announce_blocks_without_polling() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let (payer, merchant) = (
        accounts[0].as_str().unwrap().to_string(),
        accounts[1].as_str().unwrap().to_string(),
    );
    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nws_url = \"{}\"\n\
         chain_id = 31337\nstart_height = {start}\nconfirmations = 1\npoll_interval_ms = 600000\n",
        anvil.url,
        anvil.url.replace("http://", "ws://"),
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    d.watch("anvil", &merchant, "shop").await;
    for i in 1..=3u128 {
        let r = anvil.send(&payer, Some(&merchant), i * ETH, "0x").await;
        let txid = r["transactionHash"].as_str().unwrap().to_string();
        let sent = std::time::Instant::now();
        let ev = d
            .events_until("the payment over newHeads", |ev| {
                !of(ev, "payment.detected", &txid).is_empty()
            })
            .await;
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "payment {i} found by the subscription, not by polling"
        );
        assert_eq!(
            of(&ev, "payment.detected", &txid)[0]["amount"],
            (i * ETH).to_string()
        );
    }
    d.stop().await;
}

/// Internal transfers read through `debug_traceBlockByNumber` (Geth's
/// `callTracer`, for nodes without `trace_block`) are the same, at the same
/// indexes, as through `trace_block`; and in neither does value count that
/// a call sent but a caller above it undid: a transaction that reverted
/// after its inner payment returned, or a caught revert inside one that
/// succeeded. (Before, the inner payment of both was credited.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_trace_and_trace_block_give_the_same_internal_transfers_and_skip_undone_ones() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let acct = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (deployer, merchant) = (acct(0), acct(1));
    let forwarder = anvil.deploy(&deployer, "Forwarder", "").await;
    let start = anvil.height().await + 1;

    let dir = tempfile::tempdir().unwrap();
    let section = |name: &str, api: &str| {
        format!(
            "[[chain]]\nname = \"{name}\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\n\
             start_height = {start}\nconfirmations = 1\npoll_interval_ms = 50\n\
             internal_transfers = true\ntrace_api = \"{api}\"\n",
            anvil.url
        )
    };
    let d = Daemon::start(&config_text(
        dir.path(),
        &[
            section("viatrace", "trace_block"),
            section("viadebug", "debug_trace"),
        ],
    ))
    .await;
    d.watch("viatrace", &merchant, "merchant").await;
    d.watch("viadebug", &merchant, "merchant").await;

    let call = |signature: &str| {
        format!(
            "0x{}{}",
            hex::encode(&alloy::primitives::keccak256(signature.as_bytes())[..4]),
            word_addr(&merchant)
        )
    };
    let paid = anvil
        .send(
            &deployer,
            Some(&forwarder),
            ETH / 5,
            &call("forward(address)"),
        )
        .await;
    // With gas to spare, so that the inner payment itself succeeds (an
    // estimate for a caught revert is only enough for it to fail).
    let with_gas = |value: u128, data: String| {
        json!({"from": deployer, "to": forwarder, "value": format!("0x{value:x}"),
               "data": data, "gas": "0x493e0"})
    };
    let reverted = anvil
        .send_tx(with_gas(ETH / 7, call("forwardThenRevert(address)")))
        .await;
    assert_eq!(reverted["status"], "0x0", "the whole transaction reverts");
    let caught = anvil
        .send_tx(with_gas(ETH / 9, call("tryForward(address)")))
        .await;
    assert_eq!(caught["status"], "0x1", "the revert is caught inside");
    // The inner payment returned: only the revert above it undoes it.
    let traces = anvil
        .rpc("trace_block", json!([caught["blockNumber"]]))
        .await;
    assert!(
        traces.as_array().unwrap().iter().any(|t| {
            t["traceAddress"] == json!([0, 0])
                && t["error"].is_null()
                && t["action"]["to"].as_str() == Some(merchant.to_lowercase().as_str())
        }),
        "{traces:#}"
    );
    // And a second payment after them, so that positions after an undone
    // call are compared too.
    let again = anvil
        .send(
            &deployer,
            Some(&forwarder),
            ETH / 3,
            &call("forward(address)"),
        )
        .await;
    anvil.rpc("anvil_mine", json!(["0x2"])).await;
    let tip = anvil.height().await;
    d.wait_indexed("viatrace", tip).await;
    d.wait_indexed("viadebug", tip).await;

    let seen = |t: Vec<Value>| -> Vec<(String, u64, String, String)> {
        let mut v: Vec<_> = t
            .iter()
            .map(|t| {
                (
                    t["txid"].as_str().unwrap().to_string(),
                    t["index"].as_u64().unwrap(),
                    t["amount"].as_str().unwrap().to_string(),
                    t["direction"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let via_trace = seen(d.transfers("viatrace", &merchant).await);
    let via_debug = seen(d.transfers("viadebug", &merchant).await);
    assert_eq!(via_trace, via_debug, "the two trace forms disagree");
    let tx = |r: &Value| r["transactionHash"].as_str().unwrap().to_string();
    let mut expected = vec![
        (tx(&paid), (ETH / 5).to_string()),
        (tx(&again), (ETH / 3).to_string()),
    ];
    expected.sort();
    let got: Vec<(String, String)> = via_debug
        .iter()
        .map(|(t, index, amount, direction)| {
            assert!(*index >= 1 << 30, "an internal transfer's index");
            assert_eq!(direction, "in");
            (t.clone(), amount.clone())
        })
        .collect();
    assert_eq!(got, expected, "only the payments that stood count");
    d.stop().await;
}
