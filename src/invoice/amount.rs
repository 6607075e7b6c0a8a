//! Decimal amounts in whole units (`"25.01"` USDT) and their base units
//! (`25010000`), exactly: 256-bit integers, never floats.

use ruint::aliases::U256;

/// Reads a positive decimal in whole units into base units. Refuses signs,
/// exponents, more fraction digits than `decimals` (trailing zeros count:
/// `"1.0000000"` is refused for a 6-decimal asset), zero, and values that
/// do not fit in 256 bits.
pub fn to_base(text: &str, decimals: u8) -> Result<U256, String> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (t.contains('.') && frac.is_empty()) {
        return Err(format!(
            "`{text}` is not a positive decimal amount such as \"25\" or \"25.01\""
        ));
    }
    if frac.len() > decimals as usize {
        return Err(format!(
            "`{text}` has more decimal places than the asset's {decimals}"
        ));
    }
    let mut all = String::with_capacity(int.len() + decimals as usize);
    all.push_str(int);
    all.push_str(frac);
    all.extend(std::iter::repeat_n('0', decimals as usize - frac.len()));
    let value = U256::from_str_radix(&all, 10).map_err(|_| format!("`{text}` is too large"))?;
    if value.is_zero() {
        return Err(format!("`{text}`: the amount must be above zero"));
    }
    Ok(value)
}

/// Base units as a decimal in whole units, without trailing zeros.
pub fn from_base(value: U256, decimals: u8) -> String {
    let s = value.to_string();
    let d = decimals as usize;
    if d == 0 {
        return s;
    }
    let padded = if s.len() <= d {
        format!("{}{s}", "0".repeat(d + 1 - s.len()))
    } else {
        s
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        assert_eq!(to_base("25.01", 6).unwrap(), U256::from(25_010_000u64));
        assert_eq!(to_base("0.0005", 8).unwrap(), U256::from(50_000u64));
        assert_eq!(
            to_base("1.500", 18).unwrap().to_string(),
            "1500000000000000000"
        );
        assert_eq!(from_base(U256::from(25_010_000u64), 6), "25.01");
        assert_eq!(from_base(U256::from(50_000u64), 8), "0.0005");
        assert_eq!(from_base(U256::from(7u64), 0), "7");
        assert_eq!(from_base(U256::from(100_000_000u64), 8), "1");
    }

    /// Random amounts in random decimals read back to the same base units,
    /// and a sum that would pass 2^256 - 1 is caught, never wrapped.
    #[test]
    fn amounts_round_trip_and_never_wrap() {
        let mut rng = fastrand::Rng::with_seed(19);
        for _ in 0..20_000 {
            let decimals = rng.u8(0..=36);
            let limbs = [rng.u64(..), rng.u64(..), rng.u64(..), rng.u64(..)];
            let mut value = U256::from_limbs(limbs) >> rng.usize(0..256);
            if value.is_zero() {
                value = U256::from(1u8);
            }
            let text = from_base(value, decimals);
            assert_eq!(
                to_base(&text, decimals).unwrap(),
                value,
                "{text} ({decimals})"
            );
            let step = U256::from(rng.u64(1..)) << rng.usize(0..200);
            let k = U256::from(rng.u32(..));
            let checked = step.checked_mul(k).and_then(|s| value.checked_add(s));
            let wide = |x: U256| ruint::Uint::<320, 5>::from(x);
            let exact = wide(value) + wide(step) * wide(k);
            match checked {
                Some(sum) => assert_eq!(wide(sum), exact),
                None => assert!(exact > wide(U256::MAX)),
            }
        }
    }

    #[test]
    fn trailing_zeros_past_the_decimals_are_refused() {
        let long = format!("1.{}", "0".repeat(30));
        assert!(to_base(&long, 6)
            .unwrap_err()
            .contains("more decimal places"));
        assert_eq!(to_base("1.000000", 6).unwrap(), U256::from(1_000_000u64));
    }

    #[test]
    fn bad_amounts_say_why() {
        assert!(to_base("-1", 6)
            .unwrap_err()
            .contains("not a positive decimal"));
        assert!(to_base("1e3", 6)
            .unwrap_err()
            .contains("not a positive decimal"));
        assert!(to_base("0.0000001", 6)
            .unwrap_err()
            .contains("more decimal places"));
        assert!(to_base("0", 6).unwrap_err().contains("above zero"));
        assert!(to_base("1.", 6).is_err());
        assert!(to_base("1.500", 2)
            .unwrap_err()
            .contains("more decimal places"));
        assert!(to_base("", 6).is_err());
    }
}
