//! Addresses as users write them and as paywatch matches them: one module
//! per chain reads and displays them, and `derive` turns an account's
//! extended public key into its receive addresses.

pub mod bitcoin;
pub mod derive;
pub mod evm;
pub mod tron;

use std::fmt;

/// A watched address parsed at the edge: the key matching uses and the form
/// shown to users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchAddress {
    pub key: AddressKey,
    pub display: String,
}

/// What a chain matches an address by: the scriptPubKey on Bitcoin, the
/// 20 address bytes on EVM chains, the 21 (`0x41` first) on TRON.
///
/// Watched sets and indexes hold [`AddressKey::as_bytes`]; in JSON the key is
/// those bytes as hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressKey {
    Script(::bitcoin::ScriptBuf),
    Evm([u8; 20]),
    Tron([u8; 21]),
}

/// Which of the [`AddressKey`] forms a chain's addresses take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Script,
    Evm,
    Tron,
}

impl AddressKey {
    /// The bytes watched sets and indexes are keyed by.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            AddressKey::Script(s) => s.as_bytes(),
            AddressKey::Evm(a) => a,
            AddressKey::Tron(a) => a,
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            AddressKey::Script(_) => KeyKind::Script,
            AddressKey::Evm(_) => KeyKind::Evm,
            AddressKey::Tron(_) => KeyKind::Tron,
        }
    }

    /// `bytes` as a key of `kind`; `None` when they have the wrong length
    /// (or, for TRON, do not start with `0x41`).
    pub fn from_slice(kind: KeyKind, bytes: &[u8]) -> Option<AddressKey> {
        match kind {
            KeyKind::Script => Some(AddressKey::Script(::bitcoin::ScriptBuf::from_bytes(
                bytes.to_vec(),
            ))),
            KeyKind::Evm => bytes.try_into().ok().map(AddressKey::Evm),
            KeyKind::Tron => bytes
                .try_into()
                .ok()
                .filter(|b: &[u8; 21]| b[0] == 0x41)
                .map(AddressKey::Tron),
        }
    }

    /// The key a stored transfer names by its display form and key bytes.
    /// The display form tells the kinds apart: EVM addresses are shown as
    /// `0x…`, TRON ones as base58 `T…`, and a Bitcoin address or script hex
    /// never starts with either.
    pub fn from_display(display: &str, bytes: Vec<u8>) -> Option<AddressKey> {
        if display.starts_with("0x") {
            AddressKey::from_slice(KeyKind::Evm, &bytes)
        } else if display.starts_with('T') {
            AddressKey::from_slice(KeyKind::Tron, &bytes)
        } else {
            Some(AddressKey::Script(::bitcoin::ScriptBuf::from_bytes(bytes)))
        }
    }
}

impl AsRef<[u8]> for AddressKey {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for AddressKey {
    /// The key bytes as lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({self})", self.kind())
    }
}

impl serde::Serialize for AddressKey {
    /// Hex, written from a buffer on the stack for every key but a long
    /// script: the API writes one per transfer it serves.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.as_bytes();
        let mut buf = [0u8; 128];
        match buf.get_mut(..bytes.len() * 2) {
            Some(out) => {
                hex::encode_to_slice(bytes, out).expect("the buffer is twice the key's length");
                s.serialize_str(std::str::from_utf8(out).expect("hex is ASCII"))
            }
            None => s.collect_str(self),
        }
    }
}

/// An address that cannot be watched on a chain; the message says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub String);

/// How addresses of one chain are read.
#[derive(Clone, Debug)]
pub enum AddressFormat {
    Bitcoin(::bitcoin::Network),
    Tron,
    Evm,
}

impl AddressFormat {
    /// Reads `s` as an address (or, on Bitcoin, scriptPubKey hex) of this chain.
    pub fn parse(&self, s: &str) -> Result<WatchAddress, AddressError> {
        match self {
            AddressFormat::Bitcoin(n) => bitcoin::parse_address(*n, s),
            AddressFormat::Tron => tron::parse_address(s),
            AddressFormat::Evm => evm::parse_address(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_reads_back_as_the_kind_its_address_shows() {
        let btc = bitcoin::parse_address(
            ::bitcoin::Network::Bitcoin,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        )
        .unwrap();
        let evm = evm::parse_address("0xdAC17F958D2ee523a2206206994597C13D831ec7").unwrap();
        let tron = tron::parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
        // A raw script as long as an EVM address is still a script.
        let raw = bitcoin::parse_address(::bitcoin::Network::Bitcoin, &"51".repeat(20)).unwrap();
        for (a, kind) in [
            (&btc, KeyKind::Script),
            (&evm, KeyKind::Evm),
            (&tron, KeyKind::Tron),
            (&raw, KeyKind::Script),
        ] {
            assert_eq!(a.key.kind(), kind, "{}", a.display);
            let back = AddressKey::from_display(&a.display, a.key.as_bytes().to_vec());
            assert_eq!(back.as_ref(), Some(&a.key), "{}", a.display);
        }
        assert_eq!(
            serde_json::to_string(&evm.key).unwrap(),
            "\"dac17f958d2ee523a2206206994597c13d831ec7\""
        );
        // A script too long for the stack buffer is written the same way.
        let long = bitcoin::parse_address(::bitcoin::Network::Bitcoin, &"51".repeat(100)).unwrap();
        assert_eq!(
            serde_json::to_string(&long.key).unwrap(),
            format!("\"{}\"", "51".repeat(100))
        );
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused() {
        assert_eq!(AddressKey::from_slice(KeyKind::Evm, &[0; 21]), None);
        assert_eq!(AddressKey::from_slice(KeyKind::Tron, &[0; 21]), None);
        assert!(AddressKey::from_slice(KeyKind::Tron, &[0x41; 21]).is_some());
    }
}
