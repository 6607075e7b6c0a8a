//! Bitcoin addresses (every standard type) and raw scriptPubKeys: watches
//! match on the script's bytes.

use super::{AddressError, AddressKey, WatchAddress};
use bitcoin::{Address, Network};
use std::str::FromStr;

/// Longest raw script accepted as a watch.
const MAX_SCRIPT_BYTES: usize = 10_000;

/// Reads a user-given address (any standard type) or raw scriptPubKey hex,
/// checking that an address belongs to `network`.
pub fn parse_address(network: Network, s: &str) -> Result<WatchAddress, AddressError> {
    let s = s.trim();
    match Address::from_str(s) {
        Ok(unchecked) => {
            let addr = unchecked.require_network(network).map_err(|_| {
                AddressError(format!(
                    "address `{s}` belongs to another network (this chain is {})",
                    network_label(network)
                ))
            })?;
            Ok(WatchAddress {
                key: AddressKey::Script(addr.script_pubkey()),
                display: addr.to_string(),
            })
        }
        Err(addr_err) => {
            let is_hex = !s.is_empty()
                && s.len().is_multiple_of(2)
                && s.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_hex {
                return Err(AddressError(format!(
                    "`{s}` is not a valid Bitcoin address ({addr_err}) nor scriptPubKey hex"
                )));
            }
            let bytes = hex::decode(s).expect("checked to be hex of even length");
            if bytes.len() > MAX_SCRIPT_BYTES {
                return Err(AddressError(format!(
                    "script of {} bytes is longer than the {MAX_SCRIPT_BYTES} accepted",
                    bytes.len()
                )));
            }
            let display = display_script(network, &bytes);
            Ok(WatchAddress {
                key: AddressKey::Script(bitcoin::ScriptBuf::from_bytes(bytes)),
                display,
            })
        }
    }
}

/// The address form of a scriptPubKey, or its hex when it has none.
pub fn display_script(network: Network, script: &[u8]) -> String {
    let script = bitcoin::Script::from_bytes(script);
    match Address::from_script(script, network) {
        Ok(a) => a.to_string(),
        Err(_) => hex::encode(script.as_bytes()),
    }
}

fn network_label(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        _ => "another network",
    }
}
