//! EVM addresses: `0x` and 20 bytes of hex, shown in EIP-55 mixed case.

use super::{AddressError, AddressKey, WatchAddress};
use alloy::primitives::Address;
use std::str::FromStr;

/// Reads a `0x` + 40 hex address. All-lower or all-upper case is accepted
/// as it is; mixed case must carry a valid EIP-55 checksum.
pub fn parse_address(s: &str) -> Result<WatchAddress, AddressError> {
    let s = s.trim();
    let body = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| {
            AddressError(format!(
                "`{s}` is not an EVM address: it must start with 0x"
            ))
        })?;
    if body.len() != 40 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError(format!(
            "`{s}` is not an EVM address: expected 0x and 40 hex digits"
        )));
    }
    let mixed = body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_uppercase());
    let addr = if mixed {
        Address::parse_checksummed(format!("0x{body}"), None).map_err(|_| {
            AddressError(format!(
                "`{s}` has mixed case but an invalid EIP-55 checksum (a typo?)"
            ))
        })?
    } else {
        Address::from_str(body).map_err(|e| AddressError(format!("`{s}`: {e}")))?
    };
    Ok(WatchAddress {
        key: AddressKey::Evm(addr.into_array()),
        display: addr.to_checksum(None),
    })
}

/// EIP-55 form of a 20-byte address (hex of other lengths).
pub fn display(key: &[u8]) -> String {
    if key.len() == 20 {
        Address::from_slice(key).to_checksum(None)
    } else {
        hex::encode(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_any_case_are_checksummed_on_output() {
        let want = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
        for s in [
            want,
            "0xdac17f958d2ee523a2206206994597c13d831ec7",
            "0xDAC17F958D2EE523A2206206994597C13D831EC7",
        ] {
            assert_eq!(parse_address(s).unwrap().display, want, "{s}");
        }
    }

    #[test]
    fn malformed_addresses_are_named() {
        let e = parse_address("0xdAC17F958D2ee523a2206206994597C13D831eC7").unwrap_err();
        assert!(e.0.contains("checksum"), "{e}");
        assert!(parse_address("dac17f958d2ee523a2206206994597c13d831ec7")
            .unwrap_err()
            .0
            .contains("0x"));
        assert!(parse_address("0xdac17f958d2ee523a2206206994597c13d831e").is_err());
        assert!(parse_address("0xzac17f958d2ee523a2206206994597c13d831ec7").is_err());
    }
}
