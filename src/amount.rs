//! Amounts, exactly: an [`Amount`] is an asset's base units (satoshi, wei,
//! sun) as a 256-bit integer, written as a decimal string in JSON so that
//! token amounts survive every JSON reader. Whole units (`"25.01"` USDT) and
//! exchange rates scaled by 10^18 convert to and from it without floats.

use ruint::aliases::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An asset's base units. Serialized as a decimal string (`"25010000"`).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(U256);

/// Text that is not an amount or a rate, and why; the text is quoted as
/// given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{0}` is not an amount in base units (decimal digits)")]
    NotBaseUnits(String),
    #[error("`{0}` is not a positive decimal amount such as \"25\" or \"25.01\"")]
    NotDecimal(String),
    #[error("`{text}` has more decimal places than the asset's {decimals}")]
    TooPrecise { text: String, decimals: u8 },
    #[error("`{0}` does not fit in 256 bits")]
    TooLargeForBase(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}`: the amount must be above zero")]
    Zero(String),
    #[error("`{0}` is not a positive decimal number")]
    NotRate(String),
    #[error("`{0}` is too large for a rate")]
    RateTooLarge(String),
    #[error("`{0}` is not above zero (to 18 decimals)")]
    RateZero(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(U256::ZERO);

    pub const fn new(base: U256) -> Self {
        Amount(base)
    }

    /// The base units.
    pub const fn base(self) -> U256 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Reads base units written as decimal digits (`"25010000"`).
    pub fn parse_base(text: &str) -> Result<Self, AmountError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotBaseUnits(text.into()));
        }
        U256::from_str_radix(text, 10)
            .map(Amount)
            .map_err(|_| AmountError::TooLargeForBase(text.into()))
    }

    /// Reads a positive amount in whole units (`"25.01"`) of an asset with
    /// `decimals` decimals; see [`to_base`].
    pub fn from_whole(text: &str, decimals: u8) -> Result<Self, AmountError> {
        to_base(text, decimals).map(Amount)
    }

    /// The amount in whole units, without trailing zeros (`"25.01"`).
    pub fn to_whole(self, decimals: u8) -> String {
        from_base(self.0, decimals)
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// The sum, or the largest amount where it would not fit in 256 bits
    /// (far beyond any asset's supply).
    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// `self` as a `u64` (satoshi), when it fits.
    pub fn to_u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }
}

impl From<u64> for Amount {
    fn from(v: u64) -> Self {
        Amount(U256::from(v))
    }
}

impl From<U256> for Amount {
    fn from(v: U256) -> Self {
        Amount(v)
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Self {
        iter.fold(Amount::ZERO, Amount::saturating_add)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl std::str::FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse_base(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Amount::parse_base(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads a positive decimal in whole units into base units. Refuses signs,
/// exponents, more fraction digits than `decimals` (trailing zeros count:
/// `"1.0000000"` is refused for a 6-decimal asset), zero, and values that
/// do not fit in 256 bits.
pub fn to_base(text: &str, decimals: u8) -> Result<U256, AmountError> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (t.contains('.') && frac.is_empty()) {
        return Err(AmountError::NotDecimal(text.into()));
    }
    if frac.len() > decimals as usize {
        return Err(AmountError::TooPrecise {
            text: text.into(),
            decimals,
        });
    }
    let mut all = String::with_capacity(int.len() + decimals as usize);
    all.push_str(int);
    all.push_str(frac);
    all.extend(std::iter::repeat_n('0', decimals as usize - frac.len()));
    let value = U256::from_str_radix(&all, 10).map_err(|_| AmountError::TooLarge(text.into()))?;
    if value.is_zero() {
        return Err(AmountError::Zero(text.into()));
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

/// Decimal places kept in a rate.
pub const RATE_DECIMALS: u8 = 18;

/// Reads a positive decimal (`"7.2"`, `"98000.12"`, `"1e-7"`) scaled by
/// 10^18; digits beyond the 18th decimal are rounded half up.
/// A rate (scaled by 10^18) as a decimal string.
pub fn from_base_rate(rate: U256) -> String {
    from_base(rate, RATE_DECIMALS)
}

pub fn parse_rate(text: &str) -> Result<U256, AmountError> {
    let t = text.trim();
    let bad = || AmountError::NotRate(text.into());
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || !(-60..=60).contains(&exp)
    {
        return Err(bad());
    }
    // All the digits as an integer, and the power of ten to scale it by.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let shift = RATE_DECIMALS as i32 + exp - frac.len() as i32;
    let too_large = || AmountError::RateTooLarge(text.into());
    let mut value = if digits.is_empty() {
        U256::ZERO
    } else {
        if digits.len() > 70 {
            return Err(too_large());
        }
        U256::from_str_radix(digits, 10).map_err(|_| too_large())?
    };
    let ten = U256::from(10u8);
    if shift >= 0 {
        value = value
            .checked_mul(
                ten.checked_pow(U256::from(shift as u32))
                    .ok_or_else(too_large)?,
            )
            .ok_or_else(too_large)?;
    } else {
        let div = ten.pow(U256::from((-shift) as u32));
        value = (value + div / U256::from(2u8)) / div;
    }
    if value.is_zero() {
        return Err(AmountError::RateZero(text.into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_in_json_and_back() {
        let a = Amount::parse_base(
            "115792089237316195423570985008687907853269984665640564039457584007913129639935",
        )
        .unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            "\"115792089237316195423570985008687907853269984665640564039457584007913129639935\""
        );
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
        assert_eq!(a.checked_add(Amount::from(1)), None);
        assert_eq!(a.saturating_add(Amount::from(1)), a);
        for bad in ["", "-1", "1.5", " 1", "0x10", "1e3"] {
            assert!(Amount::parse_base(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(serde_json::from_str::<Amount>("\"12a\"").is_err());
        assert_eq!(Amount::from(25_010_000).to_whole(6), "25.01");
        assert_eq!(
            Amount::from_whole("25.01", 6).unwrap(),
            Amount::from(25_010_000)
        );
        assert_eq!(Amount::from(7).to_u64(), Some(7));
        assert_eq!(a.to_u64(), None);
    }

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
            .to_string()
            .contains("more decimal places"));
        assert_eq!(to_base("1.000000", 6).unwrap(), U256::from(1_000_000u64));
    }

    #[test]
    fn bad_amounts_say_why() {
        assert!(to_base("-1", 6)
            .unwrap_err()
            .to_string()
            .contains("not a positive decimal"));
        assert!(to_base("1e3", 6)
            .unwrap_err()
            .to_string()
            .contains("not a positive decimal"));
        assert!(to_base("0.0000001", 6)
            .unwrap_err()
            .to_string()
            .contains("more decimal places"));
        assert!(to_base("0", 6)
            .unwrap_err()
            .to_string()
            .contains("above zero"));
        assert!(to_base("1.", 6).is_err());
        assert!(to_base("1.500", 2)
            .unwrap_err()
            .to_string()
            .contains("more decimal places"));
        assert!(to_base("", 6).is_err());
    }
}
