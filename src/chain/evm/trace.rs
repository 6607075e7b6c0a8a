//! Native value moved by contracts, from either of the nodes' trace forms:
//! `trace_block` (a flat list of every call in the block, each with its
//! `traceAddress`) or `debug_traceBlockByNumber` with the `callTracer` (one
//! tree of calls per transaction). Both give the same calls in the same
//! order: a transaction's calls depth first, transactions in block order.
//! A call's position in that order is its transfer's index (above
//! [`super::INTERNAL_INDEX_BASE`]), so the two forms give the same
//! transfers, and a block traced by one endpoint and later by another is
//! not counted twice.
//!
//! A call counts only when it and every call around it succeeded: value
//! sent by a call that returned normally is still undone when a caller
//! above it reverts (a failed transaction, or a reverted `try` branch).

use super::wire::TraceJson;
use crate::chain::skim::{read_with, Cx, Json, Skim};
use std::borrow::Cow;

/// An internal call that moved value and stood: what the decoder matches.
pub(super) struct Internal<'a> {
    /// Its position among the block's calls, top-level ones included.
    pub position: usize,
    /// Its transaction's hash, when the trace names it.
    pub txid: Option<Cow<'a, str>>,
    /// Its transaction's position in the block.
    pub tx: Option<usize>,
    pub from: Option<Cow<'a, str>>,
    pub to: Option<Cow<'a, str>>,
    /// `None`: the trace gave no value (counted as a malformed call).
    pub value: Option<Cow<'a, str>>,
}

/// A call tree nested deeper than the EVM allows (1,024 frames) is refused.
const MAX_CALL_DEPTH: usize = 1100;

/// Plain `call`s below a transaction's top level, from `trace_block`.
pub(super) fn from_trace_block<'a>(json: Json, doc: &'a [u8]) -> Result<Vec<Internal<'a>>, String> {
    let traces: Vec<TraceJson> = read_with(json, doc, &Cx::default())
        .map_err(|e| format!("traces are not an array of traces: {e}"))?;
    let mut out = Vec::new();
    // Whether each call on the path to the current one stood, by depth.
    let mut stood: Vec<bool> = Vec::new();
    for (position, t) in traces.into_iter().enumerate() {
        let depth = t.trace_address.len();
        if depth == 0 {
            stood.clear();
        }
        if depth > stood.len() {
            return Err(format!(
                "trace {position} (traceAddress {:?}) comes before its caller's",
                t.trace_address
            ));
        }
        stood.truncate(depth);
        let caller_stood = depth == 0 || stood[depth - 1];
        let ok = caller_stood && t.error.is_none();
        stood.push(ok);
        let Some(action) = t.action.filter(|_| ok && depth > 0) else {
            continue;
        };
        if t.kind.as_deref() != Some("call") || action.call_type.as_deref() != Some("call") {
            continue;
        }
        out.push(Internal {
            position,
            txid: t.transaction_hash,
            tx: None,
            from: action.from,
            to: action.to,
            value: action.value,
        });
    }
    Ok(out)
}

/// One call of a `callTracer` tree.
#[derive(Default)]
struct Frame<'a> {
    caller: Option<usize>,
    tx: usize,
    kind: Option<Cow<'a, str>>,
    from: Option<Cow<'a, str>>,
    to: Option<Cow<'a, str>>,
    value: Option<Cow<'a, str>>,
    failed: bool,
}

/// A frame being read: its object, and its `calls` array while inside it.
struct Open {
    frame: usize,
    object: crate::chain::skim::Seq,
    calls: Option<crate::chain::skim::Seq>,
}

/// Plain `CALL`s below a transaction's top level, from
/// `debug_traceBlockByNumber` with the `callTracer`; also the transaction
/// hashes the trace names (`txHash`, which older nodes leave out).
pub(super) fn from_call_tracer(doc: &[u8]) -> Result<(Vec<Internal<'_>>, usize), String> {
    let at = |e: crate::chain::skim::SkimError| format!("the callTracer trace: {e}");
    let mut s = Skim::new(doc);
    let mut frames: Vec<Frame> = Vec::new();
    let mut hashes: Vec<Option<Cow<str>>> = Vec::new();
    let mut txs = s.array().map_err(at)?;
    while s.next(&mut txs).map_err(at)? {
        let tx = hashes.len();
        let mut entry = s.object().map_err(at)?;
        let mut hash = None;
        let mut traced = false;
        while let Some(key) = s.key(&mut entry).map_err(at)? {
            match key {
                b"txHash" => hash = s.opt_str().map_err(at)?,
                b"result" if !s.null().map_err(at)? => {
                    read_tree(&mut s, tx, &mut frames)?;
                    traced = true;
                }
                b"error" => {
                    if let Some(e) = s.opt_str().map_err(at)? {
                        return Err(format!("the node could not trace transaction {tx}: {e}"));
                    }
                }
                _ => s.skip().map_err(at)?,
            }
        }
        if !traced {
            return Err(format!("the trace of transaction {tx} has no result"));
        }
        hashes.push(hash);
    }
    s.end().map_err(at)?;

    let mut stood = vec![false; frames.len()];
    let mut out = Vec::new();
    for (position, f) in frames.into_iter().enumerate() {
        let ok = !f.failed && f.caller.is_none_or(|c| stood[c]);
        stood[position] = ok;
        let plain_call = f
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("call"));
        if !(ok && plain_call && f.caller.is_some()) {
            continue;
        }
        out.push(Internal {
            position,
            txid: hashes[f.tx].clone(),
            tx: Some(f.tx),
            from: f.from,
            to: f.to,
            // The tracer leaves out a zero value.
            value: Some(f.value.unwrap_or(Cow::Borrowed("0x0"))),
        });
    }
    Ok((out, hashes.len()))
}

/// Reads one transaction's call tree into `frames`, depth first, without
/// recursion (a tree may be 1,024 calls deep).
fn read_tree<'a>(s: &mut Skim<'a>, tx: usize, frames: &mut Vec<Frame<'a>>) -> Result<(), String> {
    let at = |e: crate::chain::skim::SkimError| format!("the callTracer trace: {e}");
    frames.push(Frame {
        tx,
        ..Frame::default()
    });
    let mut stack = vec![Open {
        frame: frames.len() - 1,
        object: s.object().map_err(at)?,
        calls: None,
    }];
    while let Some(top) = stack.last_mut() {
        if let Some(calls) = top.calls.as_mut() {
            if !s.next(calls).map_err(at)? {
                top.calls = None;
                continue;
            }
            let caller = top.frame;
            if stack.len() >= MAX_CALL_DEPTH {
                return Err(format!(
                    "the call tree of transaction {tx} is more than {MAX_CALL_DEPTH} calls deep"
                ));
            }
            frames.push(Frame {
                caller: Some(caller),
                tx,
                ..Frame::default()
            });
            stack.push(Open {
                frame: frames.len() - 1,
                object: s.object().map_err(at)?,
                calls: None,
            });
            continue;
        }
        let frame = top.frame;
        let Some(key) = s.key(&mut top.object).map_err(at)? else {
            stack.pop();
            continue;
        };
        let f = &mut frames[frame];
        match key {
            b"calls" => {
                if !s.null().map_err(at)? {
                    top.calls = Some(s.array().map_err(at)?);
                }
            }
            b"type" => f.kind = s.opt_str().map_err(at)?,
            b"from" => f.from = s.opt_str().map_err(at)?,
            b"to" => f.to = s.opt_str().map_err(at)?,
            b"value" => f.value = s.opt_str().map_err(at)?,
            b"error" => f.failed = s.opt_str().map_err(at)?.is_some_and(|e| !e.is_empty()),
            _ => s.skip().map_err(at)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(doc: &str) -> Vec<(usize, Option<usize>, String, String)> {
        let (out, _) = from_call_tracer(doc.as_bytes()).unwrap();
        out.into_iter()
            .map(|c| {
                (
                    c.position,
                    c.tx,
                    c.to.unwrap().into_owned(),
                    c.value.unwrap().into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_reverted_callers_calls_do_not_count_in_either_form() {
        // tx 0: A calls B (value 1, stands). tx 1: reverts at the top after
        // its call to C (value 2) returned. tx 2: D's call to E (value 3)
        // returned inside a call that reverted; F (value 4) stands.
        let tree = r#"[
          {"txHash":"0x01","result":{"type":"CALL","from":"0xa","to":"0xt0","value":"0x0",
            "calls":[{"type":"CALL","from":"0xt0","to":"0xb","value":"0x1"}]}},
          {"txHash":"0x02","result":{"type":"CALL","from":"0xa","to":"0xt1","value":"0x2",
            "calls":[{"type":"CALL","from":"0xt1","to":"0xc","value":"0x2"}],"error":"execution reverted"}},
          {"txHash":"0x03","result":{"calls":[
              {"type":"CALL","from":"0xt2","to":"0xd","error":"execution reverted",
               "calls":[{"type":"CALL","from":"0xd","to":"0xe","value":"0x3"}]},
              {"type":"STATICCALL","from":"0xt2","to":"0xs"},
              {"type":"CALL","from":"0xt2","to":"0xf","value":"0x4"}],
            "type":"CALL","from":"0xa","to":"0xt2"}}
        ]"#;
        assert_eq!(
            calls(tree),
            [
                (1, Some(0), "0xb".into(), "0x1".into()),
                (8, Some(2), "0xf".into(), "0x4".into())
            ]
        );
        let flat = r#"[
          {"type":"call","traceAddress":[],"transactionHash":"0x01","action":{"callType":"call","from":"0xa","to":"0xt0","value":"0x0"}},
          {"type":"call","traceAddress":[0],"transactionHash":"0x01","action":{"callType":"call","from":"0xt0","to":"0xb","value":"0x1"}},
          {"type":"call","traceAddress":[],"transactionHash":"0x02","error":"Reverted","action":{"callType":"call","from":"0xa","to":"0xt1","value":"0x2"}},
          {"type":"call","traceAddress":[0],"transactionHash":"0x02","action":{"callType":"call","from":"0xt1","to":"0xc","value":"0x2"}},
          {"type":"call","traceAddress":[],"transactionHash":"0x03","action":{"callType":"call","from":"0xa","to":"0xt2","value":"0x0"}},
          {"type":"call","traceAddress":[0],"transactionHash":"0x03","error":"Reverted","action":{"callType":"call","from":"0xt2","to":"0xd","value":"0x0"}},
          {"type":"call","traceAddress":[0,0],"transactionHash":"0x03","action":{"callType":"call","from":"0xd","to":"0xe","value":"0x3"}},
          {"type":"call","traceAddress":[1],"transactionHash":"0x03","action":{"callType":"staticcall","from":"0xt2","to":"0xs","value":"0x0"}},
          {"type":"call","traceAddress":[2],"transactionHash":"0x03","action":{"callType":"call","from":"0xt2","to":"0xf","value":"0x4"}},
          {"type":"reward","traceAddress":[],"action":{"author":"0xm","value":"0x9"}}
        ]"#;
        for json in [Json::Skim, Json::Serde] {
            let flat: Vec<(usize, String, String)> = from_trace_block(json, flat.as_bytes())
                .unwrap()
                .into_iter()
                .map(|c| {
                    (
                        c.position,
                        c.to.unwrap().into_owned(),
                        c.value.unwrap().into_owned(),
                    )
                })
                .collect();
            assert_eq!(
                flat,
                [
                    (1, "0xb".into(), "0x1".into()),
                    (8, "0xf".into(), "0x4".into())
                ]
            );
        }
    }

    fn nested(depth: usize) -> String {
        let mut doc = String::from(r#"[{"txHash":"0x01","result":"#);
        for _ in 0..depth {
            doc.push_str(r#"{"type":"CALL","from":"0xa","to":"0xb","value":"0x1","calls":["#);
        }
        doc.push_str(r#"{"type":"CALL","from":"0xa","to":"0xz","value":"0x5"}"#);
        doc.push_str(&"]}".repeat(depth));
        doc.push_str("}]");
        doc
    }

    #[test]
    fn a_call_tree_a_thousand_calls_deep_is_read_without_recursion() {
        let out = calls(&nested(1023));
        assert_eq!(out.len(), 1023, "every call below the top one");
        assert_eq!(out.last().unwrap().2, "0xz");
        let e = from_call_tracer(nested(MAX_CALL_DEPTH + 1).as_bytes())
            .err()
            .unwrap();
        assert!(e.contains("calls deep"), "{e}");
    }

    #[test]
    fn a_transaction_the_node_could_not_trace_is_an_error_naming_it() {
        let e = from_call_tracer(br#"[{"txHash":"0x01","error":"execution timeout"}]"#)
            .err()
            .unwrap();
        assert!(
            e.contains("transaction 0") && e.contains("execution timeout"),
            "{e}"
        );
    }
}
