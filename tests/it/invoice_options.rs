//! The buyer picks the network: one order priced in fiat, offered as BTC on
//! a Bitcoin replay node, ETH on an Anvil chain and BNB on a second one. An option gets its
//! invoice only when chosen; the first option paid wins; what another
//! option received before or after is reported as an excess to refund,
//! never as a second payment of the order.

use crate::common;

use bitcoin::{Address, ScriptBuf};
use common::anvil::*;
use common::*;
use serde_json::{json, Value};
use std::str::FromStr;
use std::time::Duration;

const FINNEY: u128 = 1_000_000_000_000_000;

fn script_of(address: &Value) -> ScriptBuf {
    Address::from_str(address.as_str().unwrap())
        .unwrap()
        .assume_checked()
        .script_pubkey()
}

fn anvil_section(name: &str, anvil: &Anvil, chain_id: u64, start: u64) -> String {
    format!(
        "[[chain]]\nname = \"{name}\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = {chain_id}\n\
         start_height = {start}\nconfirmations = 1\npoll_interval_ms = 50\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\n",
        anvil.url
    )
}

/// Polls `GET /v1/invoices/{id}` until `f` holds (30 s at most).
async fn until(d: &Daemon, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = d.get(&format!("/v1/invoices/{id}")).await;
        if f(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {v:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_option_invoice_is_paid_on_one_option_then_on_a_second() {
    let Some(bin) = anvil_path() else { return };
    let eth = Anvil::start(&bin).await;
    let bsc = Anvil::start_with(&bin, &["--chain-id", "97"]).await;
    let accounts = eth.rpc("eth_accounts", json!([])).await;
    let buyer = accounts[1].as_str().unwrap().to_string();
    let mut chain = Vec::new();
    extend(&mut chain, 1, 3, 0);
    let btc = ReplayNode::start(1, &chain).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[chain.invoices]\nxpub = \"{}\"\n\n{}\n{}\n\
         [[rate]]\npair = \"ETH/CNY\"\nfixed = \"20000\"\n\n\
         [[rate]]\npair = \"BTC/CNY\"\nfixed = \"400000\"\n\n\
         [[rate]]\npair = \"BNB/CNY\"\nfixed = \"4000\"\n",
        config_text(dir.path(), &[btc.chain_toml("btc", "regtest", 1, 1)]),
        bip84_vpub(),
        anvil_section("eth", &eth, 31337, eth.height().await + 1),
        anvil_section("bsc", &bsc, 97, bsc.height().await + 1),
    );
    let d = Daemon::start(&config).await;
    d.wait_indexed("btc", 3).await;

    let order = json!({
        "options": [
            {"chain": "btc", "asset": "BTC"},
            {"chain": "eth", "asset": "ETH"},
            {"chain": "bsc", "asset": "bnb"},
        ],
        "price": "200", "currency": "CNY", "order_id": "O-1",
        "metadata": {"cart": 7}, "hold_flagged": true,
    });
    let (code, c) = d.post_json("/v1/invoices", &order).await;
    assert_eq!(code, 201, "{c}");
    assert_eq!(c["kind"], "choice");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["options"][2]["asset"], "BNB");
    assert_eq!(c["options"][2]["network"], "BNB Smart Chain testnet");
    assert!(c["options"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["invoice"].is_null()));
    let id = c["id"].as_str().unwrap().to_string();
    let (code, again) = d.post_json("/v1/invoices", &order).await;
    assert_eq!((code, &again["id"]), (200, &c["id"]), "{again}");
    let (_, got) = d.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(got["order_id"], "O-1");

    // What cannot be offered is refused, each with its reason.
    let mut twice = order.clone();
    twice["order_id"] = json!("O-2");
    twice["options"][1] = json!({"chain": "btc", "asset": "BTC"});
    let mut one = twice.clone();
    one["options"] = json!([{"chain": "btc", "asset": "BTC"}]);
    let mut usd = twice.clone();
    usd["options"][1] = json!({"chain": "eth", "asset": "ETH"});
    usd["currency"] = json!("USD");
    let mut amount = usd.clone();
    amount["currency"] = json!("CNY");
    amount.as_object_mut().unwrap().remove("price");
    let mut unknown = usd.clone();
    unknown["currency"] = json!("CNY");
    unknown["options"][1] = json!({"chain": "eth", "asset": "DOGE"});
    for (body, code) in [
        (twice, "invalid_options"),
        (one, "invalid_options"),
        (usd, "rate_not_configured"),
        (amount, "invalid_amount"),
        (unknown, "invalid_options"),
    ] {
        let (st, err) = d.post_json("/v1/invoices", &body).await;
        assert_eq!(
            (st, err["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }

    // The buyer looks at BSC first, then picks Bitcoin.
    let choose = |n: usize| {
        let (d, id) = (&d, id.clone());
        async move {
            d.post_json(&format!("/v1/invoices/{id}/options/{n}"), &json!({}))
                .await
        }
    };
    let (code, on_bsc) = choose(2).await;
    assert_eq!(code, 201, "{on_bsc}");
    assert_eq!(on_bsc["amount_due"], "0.05", "200 CNY at 4000 CNY per BNB");
    assert_eq!(on_bsc["order_id"], "O-1");
    assert_eq!(on_bsc["choice"], id.as_str());
    assert_eq!(on_bsc["metadata"], json!({"cart": 7}));
    assert_eq!(
        on_bsc["hold_flagged"], true,
        "the order's choice reaches its options"
    );
    let (code, same) = choose(2).await;
    assert_eq!((code, &same["id"]), (200, &on_bsc["id"]), "{same}");
    let (code, on_btc) = choose(0).await;
    assert_eq!(code, 201, "{on_btc}");
    assert_eq!(on_btc["amount_due"], "0.0005");
    let (code, err) = choose(3).await;
    assert_eq!(code, 404, "{err}");

    // Half paid on BSC, then all of it in BTC: Bitcoin wins.
    bsc.send(&buyer, on_bsc["address"].as_str(), 25 * FINNEY, "0x")
        .await;
    let bsc_id = on_bsc["id"].as_str().unwrap().to_string();
    d.invoice_until(&bsc_id, "underpaid").await;
    let (_, now) = d.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(now["status"], "underpaid", "{now}");
    let cb = coinbase(4, 9, script_of(&on_btc["address"]), 50_000);
    chain.push(block(
        chain.last().unwrap().block_hash(),
        1_700_002_400,
        vec![cb],
    ));
    btc.set_chain(1, &chain);
    let btc_id = on_btc["id"].as_str().unwrap().to_string();
    d.invoice_until(&btc_id, "confirmed").await;
    let won = until(&d, &id, "the order paid in BTC", |v| {
        v["status"] == "confirmed"
    })
    .await;
    assert_eq!(won["paid_by"], btc_id.as_str());
    let lost = until(&d, &bsc_id, "the BSC option closed", |v| {
        v["status"] == "cancelled"
    })
    .await;
    assert_eq!(lost["superseded_by"], btc_id.as_str());
    assert_eq!(
        lost["excess"], "0.025",
        "its half payment is to refund: {lost}"
    );

    // The buyer pays the rest on BSC anyway: an excess, not a payment.
    bsc.send(&buyer, on_bsc["address"].as_str(), 25 * FINNEY, "0x")
        .await;
    let lost = until(&d, &bsc_id, "the second BSC payment", |v| {
        v["excess"] == "0.05"
    })
    .await;
    assert_eq!(lost["status"], "cancelled", "never paid_late: {lost}");
    let (code, err) = choose(1).await;
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (409, Some("invoice_paid")),
        "{err}"
    );
    let events = d.events().await;
    assert_eq!(
        invoice_event_types(&events, &btc_id),
        ["invoice.paid", "invoice.confirmed"]
    );
    assert_eq!(
        invoice_event_types(&events, &bsc_id),
        [
            "invoice.underpaid",
            "invoice.cancelled",
            "invoice.overpaid",
            "invoice.overpaid"
        ]
    );
    assert!(
        !events.iter().any(|e| e["invoice"]["id"] == on_bsc["id"]
            && matches!(
                e["type"].as_str(),
                Some("invoice.paid" | "invoice.paid_late")
            )),
        "the order is paid once"
    );
    d.stop().await;
}
