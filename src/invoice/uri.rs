//! What a customer's wallet reads: payment URIs and their QR codes.
//!
//! - Bitcoin: BIP-21, `bitcoin:<address>?amount=<BTC>&label=<label>`.
//! - EVM: EIP-681, `ethereum:<address>@<chain id>?value=<wei>` for the native
//!   coin and `ethereum:<token>@<chain id>/transfer?address=<to>&uint256=<base
//!   units>` for a token.
//! - TRON has no URI standard. paywatch writes `tron:<address>?amount=<decimal>`
//!   plus `&token=<contract>` for a TRC-20 token: the BIP-21 shape that
//!   imToken reads; wallets that only scan addresses get the bare address
//!   from the QR endpoint with `?address_only=true`.

use ruint::aliases::U256;

/// A payment URI for `address`; `amount` in whole units and `base` in base
/// units are the same value.
pub struct UriParts<'a> {
    pub address: &'a str,
    pub amount: &'a str,
    pub base: U256,
    pub label: Option<&'a str>,
    /// The token contract, `None` for the chain's native coin.
    pub contract: Option<&'a str>,
}

/// Percent-encodes a BIP-21 parameter value: a space is `%20`, never `+`
/// (strict BIP-21 parsers read `+` as a plus sign).
fn encode(s: &str) -> String {
    /// Everything but RFC 3986's unreserved characters.
    const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, VALUE).to_string()
}

pub fn bitcoin_uri(p: &UriParts<'_>) -> String {
    let mut uri = format!("bitcoin:{}?amount={}", p.address, p.amount);
    if let Some(l) = p.label {
        uri.push_str("&label=");
        uri.push_str(&encode(l));
    }
    uri
}

pub fn evm_uri(p: &UriParts<'_>, chain_id: u64) -> String {
    match p.contract {
        None => format!("ethereum:{}@{chain_id}?value={}", p.address, p.base),
        Some(token) => format!(
            "ethereum:{token}@{chain_id}/transfer?address={}&uint256={}",
            p.address, p.base
        ),
    }
}

pub fn tron_uri(p: &UriParts<'_>) -> String {
    let mut uri = format!("tron:{}?amount={}", p.address, p.amount);
    if let Some(token) = p.contract {
        uri.push_str("&token=");
        uri.push_str(token);
    }
    uri
}

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("cannot encode a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("cannot write the PNG")]
    Png(#[from] png::EncodingError),
}

/// `text` as an SVG QR code (medium error correction, quiet zone included).
pub fn qr_svg(text: &str) -> Result<String, QrError> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build())
}

/// `text` as a PNG QR code: 8 pixels per module, a 4-module quiet zone.
pub fn qr_png(text: &str) -> Result<Vec<u8>, QrError> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(
        address: &'a str,
        amount: &'a str,
        base: u64,
        contract: Option<&'a str>,
    ) -> UriParts<'a> {
        UriParts {
            address,
            amount,
            base: U256::from(base),
            label: Some("order A1001"),
            contract,
        }
    }

    #[test]
    fn uris_follow_bip21_and_eip681() {
        assert_eq!(
            bitcoin_uri(&parts(
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
                "0.0005",
                50_000,
                None
            )),
            "bitcoin:bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu?amount=0.0005&label=order%20A1001"
        );
        let to = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94";
        assert_eq!(
            evm_uri(&parts(to, "1.5", 1_500_000_000_000_000_000, None), 1),
            format!("ethereum:{to}@1?value=1500000000000000000")
        );
        let usdt = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
        assert_eq!(
            evm_uri(&parts(to, "25", 25_000_000, Some(usdt)), 1),
            format!("ethereum:{usdt}@1/transfer?address={to}&uint256=25000000")
        );
        assert_eq!(
            tron_uri(&parts("TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", "25.01", 25_010_000, Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"))),
            "tron:TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH?amount=25.01&token=TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
        );
    }

    #[test]
    fn bip21_label_spaces_are_percent_20_not_plus() {
        let mut p = parts("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "1", 1, None);
        p.label = Some("Tea & cake + 2 cups");
        let uri = bitcoin_uri(&p);
        assert!(
            uri.ends_with("&label=Tea%20%26%20cake%20%2B%202%20cups"),
            "{uri}"
        );
    }

    #[test]
    fn qr_codes_render() {
        let svg =
            qr_svg("bitcoin:bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu?amount=0.0005").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
        let png = qr_png("tron:TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH?amount=1").unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
