//! TRON addresses: base58check `T…` or 41-prefixed hex, 21 bytes.

use super::{AddressError, WatchAddress};

/// Reads a base58check `T…` address or 41-prefixed hex.
pub fn parse_address(s: &str) -> Result<WatchAddress, AddressError> {
    let s = s.trim();
    let bytes = if s.starts_with('T') {
        bs58::decode(s).with_check(None).into_vec().map_err(|e| {
            AddressError(format!(
                "`{s}` is not a valid TRON address: {}",
                describe_bs58(&e)
            ))
        })?
    } else {
        let h = s.strip_prefix("0x").unwrap_or(s);
        hex::decode(h).map_err(|_| {
            AddressError(format!(
                "`{s}` is not a TRON address (base58 `T…` or hex `41…`)"
            ))
        })?
    };
    if bytes.len() != 21 || bytes[0] != 0x41 {
        return Err(AddressError(format!(
            "`{s}` is not a TRON address: expected 21 bytes starting with 0x41"
        )));
    }
    Ok(WatchAddress {
        display: display(&bytes),
        key: bytes,
    })
}

fn describe_bs58(e: &bs58::decode::Error) -> String {
    match e {
        bs58::decode::Error::InvalidChecksum { .. } => "bad checksum".into(),
        other => other.to_string(),
    }
}

/// Base58check form of a 21-byte address.
pub fn display(key: &[u8]) -> String {
    bs58::encode(key).with_check().into_string()
}
