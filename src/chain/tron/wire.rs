//! What paywatch reads of a java-tron node's answers, field by field, and
//! the forms addresses come in. Each struct is declared once, for both
//! readers (see [`wire!`](crate::chain::skim)).

use super::TronAddress;
use crate::chain::skim::{wire, First};
use std::borrow::Cow;

wire! {
    /// `wallet/getblockbynum`, one block of `getblockbylimitnext`.
    pub(super) struct BlockJson<'a> {
        #[serde(borrow)]
        block_id: Option<Cow<'a, str>> = "blockID",
        #[serde(borrow)]
        block_header: Option<HeaderJson<'a>> = "block_header",
        #[serde(borrow)]
        transactions: Vec<TxJson<'a>> = "transactions",
    }

    pub(super) struct HeaderJson<'a> {
        #[serde(borrow)]
        raw_data: Option<HeaderRawJson<'a>> = "raw_data",
    }

    pub(super) struct HeaderRawJson<'a> {
        number: u64 = "number",
        #[serde(borrow)]
        parent_hash: Option<Cow<'a, str>> = "parentHash",
        timestamp: u64 = "timestamp",
    }

    pub(super) struct TxJson<'a> {
        #[serde(borrow)]
        txid: Option<Cow<'a, str>> = "txID",
        #[serde(borrow)]
        ret: First<RetJson<'a>> = "ret",
        #[serde(borrow)]
        raw_data: Option<TxRawJson<'a>> = "raw_data",
    }

    pub(super) struct RetJson<'a> {
        #[serde(borrow)]
        contract_ret: Option<Cow<'a, str>> = "contractRet",
    }

    pub(super) struct TxRawJson<'a> {
        #[serde(borrow)]
        contract: First<ContractJson<'a>> = "contract",
    }

    pub(super) struct ContractJson<'a> {
        #[serde(borrow)]
        kind: Option<Cow<'a, str>> = "type",
        #[serde(borrow)]
        parameter: Option<ParamJson<'a>> = "parameter",
    }

    pub(super) struct ParamJson<'a> {
        #[serde(borrow)]
        value: Option<ValueJson<'a>> = "value",
    }

    pub(super) struct ValueJson<'a> {
        amount: Option<u64> = "amount",
        #[serde(borrow)]
        owner_address: Option<Cow<'a, str>> = "owner_address",
        #[serde(borrow)]
        to_address: Option<Cow<'a, str>> = "to_address",
        #[serde(borrow)]
        asset_name: Option<Cow<'a, str>> = "asset_name",
    }

    /// One element of `wallet/gettransactioninfobyblocknum`.
    pub(super) struct InfoJson<'a> {
        #[serde(borrow)]
        id: Option<Cow<'a, str>> = "id",
        #[serde(borrow)]
        result: Option<Cow<'a, str>> = "result",
        #[serde(borrow)]
        receipt: Option<ReceiptJson<'a>> = "receipt",
        #[serde(borrow)]
        log: Vec<LogJson<'a>> = "log",
        /// TRX and TRC-10 that contracts moved during the call.
        #[serde(borrow)]
        internal_transactions: Vec<InternalJson<'a>> = "internal_transactions",
    }

    /// One element of `internal_transactions`: a value transfer made by a
    /// contract during the transaction (`note` says call, create or
    /// suicide; all of them move `callValueInfo`).
    pub(super) struct InternalJson<'a> {
        #[serde(borrow)]
        caller_address: Option<Cow<'a, str>> = "caller_address",
        #[serde(borrow)]
        transfer_to_address: Option<Cow<'a, str>> = "transferTo_address",
        #[serde(borrow)]
        call_value_info: Vec<CallValueJson<'a>> = "callValueInfo",
        /// Present, and true, when the call failed and moved nothing.
        rejected: bool = "rejected",
    }

    /// What one internal transaction moved: sun of TRX, or units of the
    /// TRC-10 asset `tokenId`. java-tron leaves a zero `callValue` out.
    pub(super) struct CallValueJson<'a> {
        call_value: Option<u64> = "callValue",
        #[serde(borrow)]
        token_id: Option<Cow<'a, str>> = "tokenId",
    }

    pub(super) struct ReceiptJson<'a> {
        #[serde(borrow)]
        result: Option<Cow<'a, str>> = "result",
    }

    pub(super) struct LogJson<'a> {
        #[serde(borrow)]
        address: Option<Cow<'a, str>> = "address",
        #[serde(borrow)]
        topics: Vec<Cow<'a, str>> = "topics",
        #[serde(borrow)]
        data: Option<Cow<'a, str>> = "data",
    }
}

/// An address as a node writes it: base58, `41…` hex (21 bytes) or, in
/// logs, bare 20-byte hex.
pub(super) fn node_address(s: &str) -> Option<TronAddress> {
    let mut out = [0u8; 21];
    if s.len() == 34 && s.starts_with('T') {
        let v = bs58::decode(s).with_check(None).into_vec().ok()?;
        if v.len() != 21 {
            return None;
        }
        out.copy_from_slice(&v);
    } else if s.len() == 42 {
        const_hex::decode_to_slice(s, &mut out).ok()?;
    } else if s.len() == 40 {
        out[0] = 0x41;
        const_hex::decode_to_slice(s, &mut out[1..]).ok()?;
    } else {
        return None;
    }
    (out[0] == 0x41).then_some(out)
}

/// The address in the low 20 bytes of a 32-byte log topic.
pub(super) fn topic_address(topic: &str) -> Option<TronAddress> {
    let t = topic.strip_prefix("0x").unwrap_or(topic);
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 21];
    out[0] = 0x41;
    const_hex::decode_to_slice(&t[24..], &mut out[1..]).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::skim::{read_with, Cx, Json};

    #[test]
    fn node_forms_of_addresses() {
        let full = node_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c").unwrap();
        assert_eq!(
            node_address("a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            Some(full)
        );
        assert_eq!(
            node_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            Some(full)
        );
        assert_eq!(
            node_address("42a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            None
        );
        assert_eq!(node_address("xyz"), None);
    }

    /// Both readers read the one field list: the first `ret` and `contract`
    /// only, `null` members as absent.
    #[test]
    fn both_readers_read_one_field_list() {
        let doc = br#"{"blockID":"00ab","block_header":{"raw_data":{"number":7,"timestamp":1}},
            "transactions":[{"txID":"aa","ret":[{"contractRet":"SUCCESS"},{"contractRet":"REVERT"}],
            "raw_data":{"contract":[{"type":"TransferContract","parameter":{"value":{"amount":5,"to_address":"41ff"}}},
            {"type":"Other"}]}},{"txID":"bb","raw_data":null}]}"#;
        for json in [Json::Skim, Json::Serde] {
            let b: BlockJson = read_with(json, doc, &Cx::default()).unwrap();
            let header = b.block_header.unwrap().raw_data.unwrap();
            assert_eq!((header.number, header.parent_hash), (7, None));
            let tx = &b.transactions[0];
            let ret = tx.ret.0.as_ref().unwrap();
            assert_eq!(ret.contract_ret.as_deref(), Some("SUCCESS"), "{json:?}");
            let c = tx.raw_data.as_ref().unwrap().contract.0.as_ref().unwrap();
            assert_eq!(c.kind.as_deref(), Some("TransferContract"));
            let v = c.parameter.as_ref().unwrap().value.as_ref().unwrap();
            assert_eq!((v.amount, v.to_address.as_deref()), (Some(5), Some("41ff")));
            assert!(b.transactions[1].raw_data.is_none());
        }
        assert!(
            read_with::<BlockJson>(Json::Skim, br#"{"transactions":[}"#, &Cx::default()).is_err()
        );
    }
}
