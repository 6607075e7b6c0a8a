//! Addresses as users write them and as paywatch matches them: one module
//! per chain reads and displays them, and `derive` turns an account's
//! extended public key into its receive addresses.

pub mod bitcoin;
pub mod derive;
pub mod evm;
pub mod tron;

/// A watched address parsed at the edge: the bytes matching uses and the form
/// shown to users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchAddress {
    /// Matching key: scriptPubKey bytes for Bitcoin.
    pub key: Vec<u8>,
    pub display: String,
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
