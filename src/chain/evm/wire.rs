//! What paywatch reads of an EVM node's answers, field by field, and the
//! hex forms those fields come in. Each struct is declared once, for both
//! readers (see [`wire!`](crate::chain::skim)).

use crate::chain::skim::wire;
use crate::chain::TRANSFER_TOPIC;
use alloy::primitives::U256;
use std::borrow::Cow;

wire! {
    /// `eth_getBlockByNumber(n, true)`.
    pub(super) struct BlockJson<'a> {
        #[serde(borrow)]
        hash: Option<Cow<'a, str>> = "hash",
        #[serde(borrow)]
        parent_hash: Option<Cow<'a, str>> = "parentHash",
        #[serde(borrow)]
        number: Option<Cow<'a, str>> = "number",
        #[serde(borrow)]
        timestamp: Option<Cow<'a, str>> = "timestamp",
        #[serde(borrow)]
        transactions: Vec<TxJson<'a>> = "transactions",
    }

    pub(super) struct TxJson<'a> {
        #[serde(borrow)]
        hash: Option<Cow<'a, str>> = "hash",
        #[serde(borrow)]
        from: Option<Cow<'a, str>> = "from",
        #[serde(borrow)]
        to: Option<Cow<'a, str>> = "to",
        #[serde(borrow)]
        value: Option<Cow<'a, str>> = "value",
    }

    /// One element of `eth_getBlockReceipts`.
    pub(super) struct ReceiptJson<'a> {
        #[serde(borrow)]
        transaction_hash: Option<Cow<'a, str>> = "transactionHash",
        #[serde(borrow)]
        status: Option<Cow<'a, str>> = "status",
        /// The contract a creation made; `null` otherwise.
        #[serde(borrow)]
        contract_address: Option<Cow<'a, str>> = "contractAddress",
        #[serde(borrow)]
        logs: Vec<LogJson<'a>> = "logs",
    }

    /// Nodes write `address` first: the fast reader leaves a log of any
    /// contract but the listed tokens there, the rest of it unread.
    pub(super) struct LogJson<'a> gate address {
        #[serde(borrow)]
        address: Option<Cow<'a, str>> = "address",
        #[serde(borrow)]
        topics: Vec<Cow<'a, str>> = "topics",
        #[serde(borrow)]
        data: Option<Cow<'a, str>> = "data",
        #[serde(borrow)]
        log_index: Option<Cow<'a, str>> = "logIndex",
    }

    /// One element of `trace_block`.
    pub(super) struct TraceJson<'a> {
        #[serde(borrow)]
        action: Option<TraceAction<'a>> = "action",
        #[serde(borrow)]
        transaction_hash: Option<Cow<'a, str>> = "transactionHash",
        trace_address: Vec<u64> = "traceAddress",
        #[serde(borrow)]
        kind: Option<Cow<'a, str>> = "type",
        #[serde(borrow)]
        error: Option<Cow<'a, str>> = "error",
    }

    pub(super) struct TraceAction<'a> {
        #[serde(borrow)]
        call_type: Option<Cow<'a, str>> = "callType",
        #[serde(borrow)]
        from: Option<Cow<'a, str>> = "from",
        #[serde(borrow)]
        to: Option<Cow<'a, str>> = "to",
        #[serde(borrow)]
        value: Option<Cow<'a, str>> = "value",
    }

    /// The few fields of a block the `eth_getLogs` fallback needs.
    pub(super) struct BlockBrief<'a> {
        #[serde(borrow)]
        hash: Option<Cow<'a, str>> = "hash",
        #[serde(borrow)]
        transactions: Vec<TxJson<'a>> = "transactions",
    }
}

pub(super) fn quantity(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

pub(super) fn u256(s: &str) -> Option<U256> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

pub(super) fn address20(s: &str) -> Option<[u8; 20]> {
    let h = s.strip_prefix("0x")?;
    let mut out = [0u8; 20];
    const_hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

pub(super) fn topic_address(t: &str) -> Option<[u8; 20]> {
    let h = t.strip_prefix("0x")?;
    if h.len() != 64 {
        return None;
    }
    let mut word = [0u8; 32];
    const_hex::decode_to_slice(h, &mut word).ok()?;
    // An address topic is 12 zero bytes and the address.
    if word[..12].iter().any(|b| *b != 0) {
        return None;
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&word[12..]);
    Some(out)
}

pub(super) fn word_u256(data: &str) -> Option<U256> {
    let h = data.strip_prefix("0x")?;
    if h.len() != 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

pub(super) fn is_transfer_topic(t: &str) -> bool {
    let Some(h) = t.strip_prefix("0x") else {
        return false;
    };
    let mut b = [0u8; 32];
    const_hex::decode_to_slice(h, &mut b).is_ok() && b == TRANSFER_TOPIC
}

pub(super) fn hex_quantity(n: u64) -> String {
    format!("0x{n:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::skim::{read_with, Cx, Json};

    #[test]
    fn topics_and_words() {
        let t = "0x000000000000000000000000dac17f958d2ee523a2206206994597c13d831ec7";
        assert_eq!(
            hex::encode(topic_address(t).unwrap()),
            "dac17f958d2ee523a2206206994597c13d831ec7"
        );
        assert!(topic_address(
            "0x0100000000000000000000000000000000000000000000000000000000000000"
        )
        .is_none());
        let big = format!("0x{}", "f".repeat(64));
        assert_eq!(word_u256(&big).unwrap(), U256::MAX);
        assert!(word_u256("0x01").is_none());
    }

    /// Both readers read the same fields; the fast one leaves the logs of
    /// other contracts unread.
    #[test]
    fn both_readers_read_one_field_list() {
        let doc = br#"[{"transactionHash":"0xaa","status":"0x1","extra":{"x":[1]},"logs":[
            {"address":"0x00000000000000000000000000000000000000bb","topics":["0x1"],"data":"0x","logIndex":"0x0"},
            {"address":"0x00000000000000000000000000000000000000cc","topics":["0x2","0x3"],"data":"0x","logIndex":"0x1"}]}]"#;
        let keep = |a: &str| address20(a).is_none_or(|a| a[19] == 0xcc);
        let serde: Vec<ReceiptJson> = read_with(Json::Serde, doc, &Cx::default()).unwrap();
        let fast: Vec<ReceiptJson> = read_with(Json::Skim, doc, &Cx { keep: Some(&keep) }).unwrap();
        assert_eq!(serde[0].logs.len(), 2);
        assert_eq!(fast.len(), 1);
        assert_eq!(fast[0].transaction_hash.as_deref(), Some("0xaa"));
        assert_eq!(fast[0].logs.len(), 1);
        assert_eq!(fast[0].logs[0].topics, ["0x2", "0x3"]);
        assert_eq!(fast[0].logs[0].log_index.as_deref(), Some("0x1"));
        let traces: Vec<TraceJson> = read_with(
            Json::Skim,
            br#"[{"action":null,"traceAddress":[0,2],"type":"call"}]"#,
            &Cx::default(),
        )
        .unwrap();
        assert!(traces[0].action.is_none());
        assert_eq!(traces[0].trace_address, [0, 2]);
        assert!(read_with::<Vec<TxJson>>(Json::Skim, b"[{]", &Cx::default()).is_err());
    }
}
