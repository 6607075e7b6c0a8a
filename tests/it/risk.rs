//! Risk screening end to end on a real Anvil node, with a stablecoin that has
//! Tether's blacklist (`tests/evm/BlacklistToken.sol`): address poisoning
//! (a zero-value `transferFrom` and a 1-unit transfer from a look-alike
//! address), dust, a frozen sender and a sanctioned one paying invoices that
//! hold flagged payments, the merchant's own address frozen, burned and
//! released, and a clean payment that carries no flag.

use crate::common;

use common::anvil::*;
use common::*;
use serde_json::{json, Value};

const ETH: u128 = 1_000_000_000_000_000_000;

fn word_addr(a: &str) -> String {
    format!("{:0>64}", a.trim_start_matches("0x").to_lowercase())
}

fn word_u(v: u128) -> String {
    format!("{v:064x}")
}

/// The call data of `signature` with `words`.
fn call(signature: &str, words: &[String]) -> String {
    let selector = &alloy::primitives::keccak256(signature.as_bytes())[..4];
    format!("0x{}{}", hex::encode(selector), words.concat())
}

fn flags(v: &Value) -> Vec<String> {
    v["risk"]["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("no risk flags in {v}"))
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

fn of<'a>(ev: &'a [Value], kind: &str, txid: &Value) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["type"] == kind && e["txid"] == *txid)
        .collect()
}

/// An address with the first and last four hex digits of `a` and other
/// digits between: what a poisoner grinds for.
fn lookalike(a: &str) -> String {
    let hex = a.trim_start_matches("0x").to_lowercase();
    format!("0x{}{}{}", &hex[..4], "5a".repeat(16), &hex[36..])
}

/// One row of OFAC's `sdn.csv` listing `address` in its remarks.
fn sdn_csv_row(address: &str) -> String {
    format!(
        "39999,\"PAYWATCH TEST ENTITY\",\"-0- \",\"CYBER2\",\"-0- \",\"-0- \",\"-0- \",\"-0- \",\"-0- \",\"-0- \",\"-0- \",\"Digital Currency Address - ETH {address}; alt. Digital Currency Address - XBT 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h; Website example.org.\"\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisoning_dust_frozen_and_sanctioned_payments_are_flagged_on_anvil() {
    let Some(bin) = anvil_path() else { return };
    let anvil = Anvil::start(&bin).await;
    let accounts = anvil.rpc("eth_accounts", json!([])).await;
    let acct = |i: usize| accounts[i].as_str().unwrap().to_string();
    let (issuer, customer, attacker, frozen, sanctioned, merchant) =
        (acct(0), acct(1), acct(2), acct(3), acct(4), acct(5));
    let token = anvil
        .deploy(&issuer, "BlacklistToken", &word_u(1_000_000_000_000))
        .await;
    let send_token = |from: String, to: String, amount: u128| {
        let (anvil, token) = (&anvil, token.clone());
        async move {
            anvil
                .send(
                    &from,
                    Some(&token),
                    0,
                    &call(
                        "transfer(address,uint256)",
                        &[word_addr(&to), word_u(amount)],
                    ),
                )
                .await
        }
    };
    let as_issuer = |f: &'static str, who: String| {
        let (anvil, token, issuer) = (&anvil, token.clone(), issuer.clone());
        async move {
            let r = anvil
                .send(&issuer, Some(&token), 0, &call(f, &[word_addr(&who)]))
                .await;
            assert_eq!(r["status"], "0x1", "{f}: {r}");
            r
        }
    };
    for who in [&customer, &sanctioned, &frozen] {
        send_token(issuer.clone(), who.clone(), 1_000_000_000).await;
    }
    // The look-alike of the customer, funded, sends as the attacker would.
    let fake = lookalike(&customer);
    anvil
        .rpc("anvil_setBalance", json!([fake, format!("0x{:x}", ETH)]))
        .await;
    anvil.rpc("anvil_impersonateAccount", json!([fake])).await;
    send_token(issuer.clone(), fake.clone(), 5).await;

    let start = anvil.height().await + 1;
    let dir = tempfile::tempdir().unwrap();
    let sdn = dir.path().join("sdn.csv");
    std::fs::write(
        &sdn,
        format!(
            "{}{}",
            sdn_csv_row("0x7F367cC41522cE07553e823bf3be79A889DEbe1B"),
            sdn_csv_row(&sanctioned)
        ),
    )
    .unwrap();
    let section = format!(
        "[[chain]]\nname = \"anvil\"\nkind = \"evm\"\nrpc_url = \"{}\"\nchain_id = 31337\nstart_height = {start}\n\
         confirmations = 2\npoll_interval_ms = 50\n\
         [[chain.token]]\nsymbol = \"USDT\"\ncontract = \"{token}\"\ndecimals = 6\n\
         [chain.invoices]\nxpub = \"{EVM_ACCOUNT_XPUB}\"\nhold_flagged = true\n\
         [risk]\nsanctions_file = \"{}\"\n",
        anvil.url,
        sdn.display()
    );
    let d = Daemon::start(&config_text(dir.path(), &[section])).await;
    let (_, status) = d.get("/v1/status").await;
    let list = &status["risk"]["sanctions"];
    assert_eq!(list["format"], "sdn_csv", "{status}");
    assert_eq!(list["addresses"], 3, "{status}");
    let (code, _) = d
        .post_json(
            "/v1/watches",
            &json!({"chain": "anvil", "address": merchant, "label": "merchant"}),
        )
        .await;
    assert_eq!(code, 201);

    // A clean payment: no flag, reported as ever.
    let clean = send_token(customer.clone(), merchant.clone(), 100_000_000).await;
    let clean_tx = &clean["transactionHash"];
    // Poisoning: a zero-value transferFrom of the merchant's tokens to the
    // look-alike (no allowance needed), sent by the attacker; then 1 unit
    // from the look-alike.
    let zero = anvil
        .send(
            &attacker,
            Some(&token),
            0,
            &call(
                "transferFrom(address,address,uint256)",
                &[word_addr(&merchant), word_addr(&fake), word_u(0)],
            ),
        )
        .await;
    assert_eq!(zero["status"], "0x1", "{zero}");
    let one = send_token(fake.clone(), merchant.clone(), 1).await;
    // Dust from the known customer: stored, flagged, silent.
    let dust = send_token(customer.clone(), merchant.clone(), 1_000).await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;

    let ev = d
        .events_until("the look-alike's payment flagged", |ev| {
            !of(ev, "payment.flagged", &one["transactionHash"]).is_empty()
                && !of(ev, "payment.confirmed", clean_tx).is_empty()
        })
        .await;
    let detected = of(&ev, "payment.detected", clean_tx);
    assert_eq!(detected.len(), 1);
    assert!(flags(detected[0]).is_empty(), "{}", detected[0]);
    assert_eq!(
        detected[0]["counterparty"].as_str().unwrap().to_lowercase(),
        customer.to_lowercase()
    );
    assert!(of(&ev, "payment.flagged", clean_tx).is_empty());

    let poison = of(&ev, "payment.flagged", &zero["transactionHash"]);
    assert_eq!(poison.len(), 1, "{ev:#?}");
    assert_eq!(poison[0]["direction"], "out");
    assert_eq!(
        flags(poison[0]),
        ["zero_value", "lookalike", "contract_sender"]
    );
    assert_eq!(
        poison[0]["counterparty"].as_str().unwrap().to_lowercase(),
        fake
    );
    let one_flagged = of(&ev, "payment.flagged", &one["transactionHash"]);
    assert_eq!(flags(one_flagged[0]), ["dust", "lookalike"]);
    for tx in [&zero, &one, &dust] {
        let h = &tx["transactionHash"];
        assert!(
            of(&ev, "payment.detected", h).is_empty() && of(&ev, "payment.confirmed", h).is_empty(),
            "zero-value and dust transfers are not reported: {h}"
        );
    }
    assert!(ev.iter().all(|e| e["txid"] != dust["transactionHash"]));
    // Stored and queryable, with their flags.
    let stored = d.transfers("anvil", &merchant).await;
    let by_tx = |h: &Value| stored.iter().find(|t| t["txid"] == *h).unwrap().clone();
    assert_eq!(flags(&by_tx(&dust["transactionHash"])), ["dust"]);
    assert!(flags(&by_tx(clean_tx)).is_empty());
    let (code, by_fake) = d
        .get(&format!("/v1/transfers?chain=anvil&counterparty={fake}"))
        .await;
    assert_eq!(code, 200, "{by_fake}");
    let fake_txs: Vec<&Value> = by_fake["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["txid"])
        .collect();
    assert_eq!(
        fake_txs,
        [&zero["transactionHash"], &one["transactionHash"]]
    );

    // A frozen sender pays an ETH invoice: held, then released by hand.
    as_issuer("addBlackList(address)", frozen.clone()).await;
    let (code, inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "ETH", "amount": "0.25", "order_id": "R1"}),
        )
        .await;
    assert_eq!(code, 201, "{inv}");
    let paid = anvil
        .send(&frozen, inv["address"].as_str(), ETH / 4, "0x")
        .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let id = inv["id"].as_str().unwrap();
    let held = d.invoice_until(id, "held").await;
    assert_eq!(
        held["payments"][0]["flags"],
        json!(["frozen_sender"]),
        "{held}"
    );
    let ev = d.events().await;
    assert_eq!(
        flags(of(&ev, "payment.flagged", &paid["transactionHash"])[0]),
        ["frozen_sender"]
    );
    let (_, frozen_list) = d.get("/v1/risk/frozen?chain=anvil").await;
    assert!(frozen_list["frozen"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["address"].as_str().unwrap().to_lowercase() == frozen));
    let (code, body) = d
        .post_json(
            &format!("/v1/invoices/{id}/release"),
            &json!({"note": "known buyer"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "confirmed");
    let (code, again) = d
        .post_json(&format!("/v1/invoices/{id}/release"), &json!({}))
        .await;
    assert_eq!(
        (code, &again["error"]["code"]),
        (409, &json!("not_held")),
        "{again}"
    );
    let ev = d.events().await;
    assert_eq!(
        invoice_event_types(&ev, id),
        [
            "invoice.paid",
            "invoice.held",
            "invoice.released",
            "invoice.confirmed"
        ]
    );

    // A sanctioned sender pays a token invoice: held, then rejected.
    let (_, inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "USDT", "amount": "20", "order_id": "R2"}),
        )
        .await;
    let paid = send_token(
        sanctioned.clone(),
        inv["address"].as_str().unwrap().to_string(),
        20_000_000,
    )
    .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let id = inv["id"].as_str().unwrap();
    d.invoice_until(id, "held").await;
    let ev = d.events().await;
    assert_eq!(
        flags(of(&ev, "payment.detected", &paid["transactionHash"])[0]),
        ["sanctioned"]
    );
    let (code, body) = d
        .post_json(&format!("/v1/invoices/{id}/reject"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["history"][0]["action"], "rejected");

    // An invoice that does not hold flagged payments confirms as before.
    let (_, inv) = d
        .post_json(
            "/v1/invoices",
            &json!({"chain": "anvil", "asset": "USDT", "amount": "3", "order_id": "R3", "hold_flagged": false}),
        )
        .await;
    send_token(
        sanctioned.clone(),
        inv["address"].as_str().unwrap().to_string(),
        3_000_000,
    )
    .await;
    anvil.rpc("evm_mine", json!([])).await;
    anvil.rpc("evm_mine", json!([])).await;
    d.invoice_until(inv["id"].as_str().unwrap(), "confirmed")
        .await;

    // The merchant's own address frozen: told at once; what it then
    // receives in the token is flagged; the issuer burns it; released.
    let froze = as_issuer("addBlackList(address)", merchant.clone()).await;
    let ev = d
        .events_until("address.frozen", |ev| {
            ev.iter().any(|e| e["type"] == "address.frozen")
        })
        .await;
    let f = ev.iter().find(|e| e["type"] == "address.frozen").unwrap();
    assert_eq!(f["txid"], froze["transactionHash"]);
    assert_eq!(f["address"].as_str().unwrap().to_lowercase(), merchant);
    assert_eq!(f["asset"]["symbol"], "USDT");
    assert_eq!(f["watch"]["label"], "merchant");
    let late = send_token(customer.clone(), merchant.clone(), 7_000_000).await;
    let burned = as_issuer("destroyBlackFunds(address)", merchant.clone()).await;
    let released = as_issuer("removeBlackList(address)", merchant.clone()).await;
    let ev = d
        .events_until("address.unfrozen", |ev| {
            ev.iter().any(|e| e["type"] == "address.unfrozen")
        })
        .await;
    assert_eq!(
        flags(of(&ev, "payment.detected", &late["transactionHash"])[0]),
        ["frozen_address"]
    );
    let burn = ev
        .iter()
        .find(|e| e["txid"] == burned["transactionHash"])
        .unwrap();
    assert_eq!(burn["type"], "address.frozen");
    // 100 + 0.000001 + 0.001 + 7 USDT received.
    assert_eq!(burn["destroyed"], "107001001", "{burn}");
    let un = ev.iter().find(|e| e["type"] == "address.unfrozen").unwrap();
    assert_eq!(un["txid"], released["transactionHash"]);
    let (_, list) = d.get("/v1/risk/frozen?chain=anvil").await;
    let listed: Vec<String> = list["frozen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["address"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&frozen), "{list}");
    // Unblacklisted: the next payment carries no flag.
    let after = send_token(customer.clone(), merchant.clone(), 2_000_000).await;
    let ev = d
        .events_until("the payment after the release", |ev| {
            !of(ev, "payment.detected", &after["transactionHash"]).is_empty()
        })
        .await;
    assert!(flags(of(&ev, "payment.detected", &after["transactionHash"])[0]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sanctions_file_is_refused_naming_the_line_and_the_old_list_stays() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("sanctions.txt");
    let good = "0x7F367cC41522cE07553e823bf3be79A889DEbe1B\nTHPvaUhoh2Qn2y9THCZML3H815hhFhn5YC\n";
    std::fs::write(&list, good).unwrap();
    let sanctions = paywatch::risk::Sanctions::load(Some(list.clone())).expect("a good list loads");
    assert!(sanctions.contains("0x7f367cc41522ce07553e823bf3be79a889debe1b"));
    // Malformed line, invalid UTF-8, a list that names nothing.
    for (bad, want) in [
        (
            format!("{good}# comment\n0x7F367cC41522cE07553e823bf3be79A889DEbe1\n").into_bytes(),
            "line 4",
        ),
        (
            b"0x7F367cC41522cE07553e823bf3be79A889DEbe1B\n\xff\xfe\n".to_vec(),
            "line 2",
        ),
    ] {
        std::fs::write(&list, &bad).unwrap();
        let e = sanctions.reload_if_changed(true).unwrap_err();
        assert!(e.contains(want) && e.contains("sanctions.txt"), "{e}");
        assert!(
            sanctions.contains("THPvaUhoh2Qn2y9THCZML3H815hhFhn5YC"),
            "old list kept"
        );
        let st = sanctions.status().unwrap();
        assert_eq!(st.addresses, 2);
        assert!(st.error.as_deref().unwrap().contains(want));
    }
    // A huge list (a million addresses, ~43 MB) loads; at start a bad one
    // is an error naming the file.
    let mut huge = String::with_capacity(44_000_000);
    for i in 0..1_000_000u64 {
        huge.push_str(&format!("0x{i:040x}\n"));
    }
    std::fs::write(&list, &huge).unwrap();
    assert!(sanctions.reload_if_changed(true).unwrap());
    assert_eq!(sanctions.status().unwrap().addresses, 1_000_000);
    assert!(sanctions.contains(&format!("0x{:040x}", 999_999)));
    std::fs::write(&list, "not an address\n").unwrap();
    let e = paywatch::risk::Sanctions::load(Some(list.clone()))
        .err()
        .expect("refused at start");
    assert!(e.contains("line 1") && e.contains("sanctions.txt"), "{e}");
}

/// The same on the TRON replay, over a real block's TRC-20 logs: a clean
/// USDT payment, a zero-value transfer from an address ground to share the
/// sender's first and last characters (1 and 1 in this config), and, in
/// the next block, Tether freezing the watched address and a payment to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trc20_poisoning_and_a_frozen_address_are_flagged_on_the_tron_replay() {
    use common::tron::*;
    const A: u64 = 60836289;
    let Some(fx) = fixtures() else { return };
    let real = real_block(&fx, A);
    let usdt = "a614f803b6fd780986a42c78ec9c7f77e6ded13c";
    let transfer_topic = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
    let info5 = &real.info[5];
    assert!(info5["id"].as_str().unwrap().starts_with("8f96aa13"));
    let log = &info5["log"][0];
    assert_eq!(log["address"], usdt);
    let key = |topic: &Value| {
        let mut k = [0x41u8; 21];
        hex::decode_to_slice(&topic.as_str().unwrap()[24..], &mut k[1..]).unwrap();
        k
    };
    let (sender, payee) = (key(&log["topics"][1]), key(&log["topics"][2]));
    let show = paywatch::address::tron::display;
    let sender_shown = show(&sender);
    // Ground: the first character after `T` and the last one the same.
    use sha2::Digest;
    let fake = (0u64..100_000)
        .map(|i| {
            let mut k = [0x41u8; 21];
            k[1..].copy_from_slice(&sha2::Sha256::digest(i.to_be_bytes())[..20]);
            k
        })
        .find(|k| {
            let s = show(k);
            s[1..2] == sender_shown[1..2] && s[33..] == sender_shown[33..] && s != sender_shown
        })
        .unwrap();
    let word = |k: &[u8; 21]| format!("{:0>64}", hex::encode(&k[1..]));
    let transfer = |from: &[u8; 21], to: &[u8; 21], amount: u64| {
        json!({"address": usdt, "topics": [transfer_topic, word(from), word(to)],
               "data": format!("{amount:064x}")})
    };
    let mut first = real.clone();
    first.info[7]["log"]
        .as_array_mut()
        .unwrap()
        .push(transfer(&fake, &payee, 0));
    let poison_tx = first.info[7]["id"].clone();
    // The next block: Tether's AddedBlackList (the address in the data),
    // then a payment to the frozen address.
    let mut second = real.clone();
    unique_ids(&mut second, 7);
    let mut info = second.info[11].clone();
    let blacklist = format!(
        "{:x}",
        alloy::primitives::keccak256("AddedBlackList(address)".as_bytes())
    );
    info["log"] = json!([
        {"address": usdt, "topics": [blacklist], "data": word(&payee)},
        transfer(&sender, &payee, 5_000_000),
    ]);
    let late_tx = info["id"].clone();
    second.info = json!([info]);
    let blocks = rewritten_chain(
        A,
        2,
        0,
        None,
        |i| Some([first.clone(), second.clone()][i].clone()),
        &real,
    );
    let node = TronReplay::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(
        dir.path(),
        &[
            node.chain_toml("tron", A, "confirmations = 1"),
            "[risk]\nlookalike_prefix = 1\nlookalike_suffix = 1\n".into(),
        ],
    ))
    .await;
    let payee_shown = show(&payee);
    d.watch("tron", &payee_shown, "shop").await;
    node.set_blocks(blocks);
    d.wait_indexed("tron", A + 1).await;

    let t = d.transfers("tron", &payee_shown).await;
    let clean = t.iter().find(|x| x["txid"] == info5["id"]).unwrap();
    assert!(flags(clean).is_empty(), "{clean}");
    assert_eq!(clean["counterparty"], sender_shown.as_str());
    let poison = t.iter().find(|x| x["txid"] == poison_tx).unwrap();
    let f = flags(poison);
    assert!(
        f.contains(&"zero_value".into()) && f.contains(&"lookalike".into()),
        "{poison}"
    );
    assert_eq!(poison["counterparty"], show(&fake).as_str());
    let late = t.iter().find(|x| x["txid"] == late_tx).unwrap();
    assert!(flags(late).contains(&"frozen_address".into()), "{late}");

    let ev = d.events().await;
    assert!(of(&ev, "payment.detected", &poison_tx).is_empty());
    assert_eq!(of(&ev, "payment.flagged", &poison_tx).len(), 1);
    let frozen: Vec<&Value> = ev
        .iter()
        .filter(|e| e["type"] == "address.frozen")
        .collect();
    assert_eq!(frozen.len(), 1, "{ev:#?}");
    assert_eq!(frozen[0]["address"], payee_shown.as_str());
    assert_eq!(frozen[0]["asset"]["symbol"], "USDT");
    assert_eq!(frozen[0]["block"]["height"], A + 1);
    let (_, list) = d.get("/v1/risk/frozen?chain=tron").await;
    assert_eq!(list["frozen"][0]["address"], payee_shown.as_str(), "{list}");
    d.stop().await;
}

/// The real binary: `systemctl reload` (SIGHUP) reads the sanctions list
/// again at once, and a daemon without one is not stopped by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_sanctions_list_and_stops_nothing() {
    use common::process::{free_port, Proc};
    for with_list in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let list = dir.path().join("sanctions.txt");
        std::fs::write(&list, "0x7F367cC41522cE07553e823bf3be79A889DEbe1B\n").unwrap();
        let risk = if with_list {
            format!("[risk]\nsanctions_file = \"{}\"\n", list.display())
        } else {
            String::new()
        };
        let config = format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n{risk}",
            dir.path().join("data").display()
        );
        let mut p = Proc::new(dir.path(), &config, port);
        p.ensure_running();
        p.until("the API", "/health", |_| true).await;
        // A second address, with the file's modification time kept: only
        // the signal can tell the daemon to read it.
        let modified = std::fs::metadata(&list).unwrap().modified().unwrap();
        std::fs::write(
            &list,
            "0x7F367cC41522cE07553e823bf3be79A889DEbe1B\nTHPvaUhoh2Qn2y9THCZML3H815hhFhn5YC\n",
        )
        .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&list)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &p.pid().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        if with_list {
            let st = p
                .until("the list read again", "/v1/status", |s| {
                    s["risk"]["sanctions"]["addresses"] == 2
                })
                .await;
            assert_eq!(st["risk"]["sanctions"]["format"], "lines");
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let st = p
                .get("/v1/status")
                .await
                .expect("still running after SIGHUP");
            assert!(st["risk"]["sanctions"].is_null(), "{st}");
        }
        p.kill();
    }
}
