//! The other side of a Bitcoin transfer, from the transaction alone.
//!
//! A Bitcoin input names the output it spends, not that output's address;
//! a block carries no prevouts. The sender of an incoming payment is told
//! here by what its first input reveals, with no call to the node:
//!
//! | first input spends   | what the input carries            | sender        |
//! |----------------------|-----------------------------------|---------------|
//! | an output paywatch indexed | (its own record)            | its address   |
//! | P2PKH                | `<sig> <pubkey>`                  | P2PKH of key  |
//! | P2WPKH               | witness `<sig> <pubkey>`          | P2WPKH of key |
//! | P2SH-P2WPKH / -P2WSH | script `<witness program>`        | P2SH of it    |
//! | P2SH (multisig, …)   | script `… <redeem script>`        | P2SH of it    |
//! | P2WSH                | witness `… <witness script>`      | P2WSH of it   |
//! | P2TR, P2PK, bare multisig, coinbase | —                  | `None`        |
//!
//! A taproot spend shows neither the output key (key path) nor, without
//! hashing the whole tree, the tweak (script path); a P2PK or bare
//! multisig spend shows only signatures. Those stay unknown rather than
//! guessed.
//!
//! The receiver of an outgoing transfer is the first output that pays
//! neither a watched address nor `OP_RETURN` data; when every output pays
//! a watched address it is the first of them (a move between the
//! merchant's own addresses).

use crate::address::bitcoin::display_script;
use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::script::Instruction;
use bitcoin::{Network, PubkeyHash, Script, ScriptBuf, ScriptHash, WPubkeyHash, WScriptHash};

/// The display form of the address an input spends from, when its script
/// and witness tell it.
pub fn sender(network: Network, script_sig: &[u8], witness: &[&[u8]]) -> Option<String> {
    spent_script(script_sig, witness).map(|s| display_script(network, s.as_bytes()))
}

/// The scriptPubKey an input spends, told by its script and witness.
pub fn spent_script(script_sig: &[u8], witness: &[&[u8]]) -> Option<ScriptBuf> {
    let pushes = pushes(script_sig)?;
    if witness.is_empty() {
        return legacy(&pushes);
    }
    match pushes.as_slice() {
        // Native segwit.
        [] => native(witness),
        // Nested segwit: the script pushes the witness program alone.
        [program] if is_witness_program(program) => Some(p2sh(program)),
        _ => None,
    }
}

/// The data pushes of a scriptSig; `None` when it runs an opcode that is
/// not a push (no standard spend does).
fn pushes(script_sig: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    for i in Script::from_bytes(script_sig).instructions() {
        match i.ok()? {
            Instruction::PushBytes(p) => out.push(p.as_bytes()),
            // OP_0 is an empty push (the dummy of CHECKMULTISIG); small
            // numbers appear in some redeem scripts' arguments.
            Instruction::Op(op) if op.to_u8() == 0 || (0x51..=0x60).contains(&op.to_u8()) => {
                out.push(&[])
            }
            Instruction::Op(_) => return None,
        }
    }
    Some(out)
}

fn legacy(pushes: &[&[u8]]) -> Option<ScriptBuf> {
    match pushes {
        [sig, key] if is_signature(sig) && is_public_key(key) => Some(ScriptBuf::new_p2pkh(
            &PubkeyHash::from_raw_hash(hash160::Hash::hash(key)),
        )),
        // P2SH: any arguments, then the redeem script. A lone signature (a
        // P2PK spend) ends in its sighash byte, never in a signature check.
        [.., redeem] if is_redeem_script(redeem) => Some(p2sh(redeem)),
        _ => None,
    }
}

fn native(witness: &[&[u8]]) -> Option<ScriptBuf> {
    match witness {
        [sig, key] if is_signature(sig) && key.len() == 33 && is_public_key(key) => Some(
            ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(hash160::Hash::hash(key))),
        ),
        // A single item is a taproot key-path signature.
        [_] => None,
        [.., last] => {
            // A taproot script path ends in a control block (leaf version
            // 0xc0 or 0xc1 in its first byte) or an annex (0x50); neither
            // begins a witness script that can run, as both are opcodes
            // that fail.
            let taproot = matches!(last.first(), Some(0xc0 | 0xc1 | 0x50));
            (!taproot && !last.is_empty()).then(|| {
                ScriptBuf::new_p2wsh(&WScriptHash::from_raw_hash(sha256::Hash::hash(last)))
            })
        }
        [] => None,
    }
}

fn p2sh(redeem: &[u8]) -> ScriptBuf {
    ScriptBuf::new_p2sh(&ScriptHash::from_raw_hash(hash160::Hash::hash(redeem)))
}

/// `OP_0 <20 or 32 bytes>`.
fn is_witness_program(p: &[u8]) -> bool {
    matches!(p, [0x00, 0x14, rest @ ..] if rest.len() == 20)
        || matches!(p, [0x00, 0x20, rest @ ..] if rest.len() == 32)
}

/// A DER signature with its sighash byte.
fn is_signature(s: &[u8]) -> bool {
    bitcoin::ecdsa::Signature::from_slice(s).is_ok()
}

fn is_public_key(k: &[u8]) -> bool {
    bitcoin::PublicKey::from_slice(k).is_ok()
}

/// A script that a P2SH output could commit to: it parses, and it ends in
/// a signature check (what every standard redeem script does) or is a
/// witness program.
fn is_redeem_script(s: &[u8]) -> bool {
    if is_witness_program(s) {
        return true;
    }
    let script = Script::from_bytes(s);
    if script.instructions().any(|i| i.is_err()) {
        return false;
    }
    // OP_CHECKSIG, OP_CHECKSIGVERIFY, OP_CHECKMULTISIG(VERIFY).
    matches!(s.last(), Some(0xac..=0xaf))
}

/// The receiver of an outgoing transfer among a transaction's output
/// scripts (in order), `watched` telling which of them pay a watched
/// address.
pub fn receiver<'a>(
    network: Network,
    outputs: impl Iterator<Item = &'a [u8]>,
    watched: impl Fn(usize) -> bool,
) -> Option<String> {
    let mut own = None;
    for (vout, script) in outputs.enumerate() {
        if is_data(script) {
            continue;
        }
        if !watched(vout) {
            return Some(display_script(network, script));
        }
        own.get_or_insert(script);
    }
    own.map(|s| display_script(network, s))
}

/// Whether `script` is data (`OP_RETURN …`) rather than a payee.
pub fn is_data(script: &[u8]) -> bool {
    script.first() == Some(&0x6a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::{Secp256k1, SecretKey};

    fn key() -> bitcoin::PublicKey {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[7u8; 32]).unwrap();
        bitcoin::PublicKey::new(sk.public_key(&secp))
    }

    fn sig() -> Vec<u8> {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let msg = bitcoin::secp256k1::Message::from_digest([1u8; 32]);
        let s = bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(&msg, &sk));
        s.to_vec()
    }

    fn push(items: &[&[u8]]) -> Vec<u8> {
        let mut b = bitcoin::script::Builder::new();
        for i in items {
            b = b.push_slice(<&bitcoin::script::PushBytes>::try_from(*i).unwrap());
        }
        b.into_script().into_bytes()
    }

    #[test]
    fn a_p2pkh_spend_names_the_key_hash_address() {
        let k = key();
        let spent = spent_script(&push(&[&sig(), &k.to_bytes()]), &[]).unwrap();
        assert_eq!(spent, ScriptBuf::new_p2pkh(&k.pubkey_hash()));
    }

    #[test]
    fn a_p2wpkh_spend_names_the_witness_key_hash_address() {
        let k = key();
        let (s, kb) = (sig(), k.to_bytes());
        let spent = spent_script(&[], &[&s, &kb]).unwrap();
        assert_eq!(spent, ScriptBuf::new_p2wpkh(&k.wpubkey_hash().unwrap()));
    }

    #[test]
    fn a_nested_segwit_spend_names_the_p2sh_address() {
        let k = key();
        let program = ScriptBuf::new_p2wpkh(&k.wpubkey_hash().unwrap());
        let (s, kb) = (sig(), k.to_bytes());
        let spent = spent_script(&push(&[program.as_bytes()]), &[&s, &kb]).unwrap();
        assert_eq!(spent, ScriptBuf::new_p2sh(&program.script_hash()));
    }

    #[test]
    fn a_multisig_spend_names_its_p2sh_and_p2wsh_addresses() {
        let k = key();
        let redeem = bitcoin::script::Builder::new()
            .push_int(1)
            .push_key(&k)
            .push_int(1)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        let s = sig();
        let script_sig = push(&[&[], &s, redeem.as_bytes()]);
        assert_eq!(
            spent_script(&script_sig, &[]).unwrap(),
            ScriptBuf::new_p2sh(&redeem.script_hash())
        );
        let empty: &[u8] = &[];
        assert_eq!(
            spent_script(&[], &[empty, &s, redeem.as_bytes()]).unwrap(),
            ScriptBuf::new_p2wsh(&redeem.wscript_hash())
        );
    }

    #[test]
    fn taproot_p2pk_and_coinbase_like_inputs_stay_unknown() {
        let s = sig();
        // Key path: one 64-byte signature.
        assert_eq!(spent_script(&[], &[&[1u8; 64]]), None);
        // Script path: script, then a control block.
        let mut control = vec![0xc0];
        control.extend([2u8; 32]);
        assert_eq!(spent_script(&[], &[&s, &[0x51], &control]), None);
        // P2PK: a lone signature.
        assert_eq!(spent_script(&push(&[&s]), &[]), None);
        // Arbitrary bytes (a coinbase's script).
        assert_eq!(spent_script(&[0x03, 0x01, 0x02, 0x03, 0xff], &[]), None);
        assert_eq!(spent_script(&[0x4c], &[]), None);
    }
}
