//! TRON addresses: base58check `T…` or 41-prefixed hex, 21 bytes.

use super::{AddressError, AddressKey, WatchAddress};

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
    let key = AddressKey::from_slice(super::KeyKind::Tron, &bytes).ok_or_else(|| {
        AddressError(format!(
            "`{s}` is not a TRON address: expected 21 bytes starting with 0x41"
        ))
    })?;
    Ok(WatchAddress {
        display: display(&bytes),
        key,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_and_hex_forms_are_the_same_address() {
        let a = parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
        let b = parse_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.display, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t");
    }

    #[test]
    fn bad_checksum_is_named() {
        let e = parse_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u").unwrap_err();
        assert!(e.0.contains("checksum"), "{e}");
        assert!(parse_address("41a614f803").is_err());
        assert!(parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").is_err());
    }
}
