//! Exact amounts: conversion between base units and whole units, and
//! comparison.
//!
//! An event's [`amount`](crate::Event::amount) is an integer string in the
//! asset's base units: satoshi for BTC, wei for ETH, 10^-6 USDT for
//! USDT-TRC20. The asset's [`decimals`](crate::Asset::decimals) give the
//! scale, so `"125500000"` with 6 decimals is 125.5 USDT and `"50000"` with 8
//! is 0.0005 BTC. An amount may exceed 2^128 (a full uint256), so it never
//! goes through a float or a fixed-width integer: these functions work on
//! the digits.
//!
//! - [`from_base_units`] turns a base-unit amount into a decimal amount in
//!   whole units, [`to_base_units`] the other way;
//! - [`cmp`] compares two decimal amounts;
//! - [`Event::amount_decimal`](crate::Event::amount_decimal) and
//!   [`Event::amount_cmp`](crate::Event::amount_cmp) do the same for an
//!   event, with its asset's decimals.
//!
//! A base-unit amount is one or more ASCII digits: `"125500000"`, `"0"`.
//! A decimal amount is one or more ASCII digits, optionally followed by `.`
//! and one or more digits: `"10"`, `"0.0005"`, `"007.50"`. Signs, exponents,
//! spaces and a bare `"."` are neither.

use std::cmp::Ordering;
use std::iter;

/// Whether `s` is a decimal amount.
///
/// ```
/// use paywatch_plugin::amount;
/// assert!(amount::is_valid("0.0005"));
/// assert!(!amount::is_valid("1e-4"));
/// assert!(!amount::is_valid("-1"));
/// ```
pub fn is_valid(s: &str) -> bool {
    split(s).is_some()
}

/// The decimal amount in whole units of `base`, an amount in base units of
/// an asset with `decimals` decimal places; `None` when `base` is not one or
/// more ASCII digits.
///
/// The result has no leading zeros in its integer part and no trailing zeros
/// in its fraction, and no `.` when it is a whole number.
///
/// ```
/// use paywatch_plugin::amount;
/// assert_eq!(amount::from_base_units("125500000", 6).as_deref(), Some("125.5")); // USDT
/// assert_eq!(amount::from_base_units("50000", 8).as_deref(), Some("0.0005")); // BTC
/// assert_eq!(amount::from_base_units("0", 8).as_deref(), Some("0"));
/// assert_eq!(amount::from_base_units("1000000000000000000", 18).as_deref(), Some("1")); // ETH
/// assert_eq!(amount::from_base_units("125.5", 6), None);
/// ```
pub fn from_base_units(base: &str, decimals: u8) -> Option<String> {
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = base.trim_start_matches('0');
    let decimals = usize::from(decimals);
    let (int, frac) = digits.split_at(digits.len().saturating_sub(decimals));
    // The fraction's leading zeros that `digits` is too short to hold.
    let pad = decimals - frac.len();
    let frac = frac.trim_end_matches('0');
    let mut whole = String::with_capacity(int.len().max(1) + 1 + pad + frac.len());
    whole.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        whole.push('.');
        whole.extend(iter::repeat_n('0', pad));
        whole.push_str(frac);
    }
    Some(whole)
}

/// The amount in base units of `decimal`, a decimal amount in whole units of
/// an asset with `decimals` decimal places: the inverse of
/// [`from_base_units`]. `None` when `decimal` is not a decimal amount, or
/// is finer than the base unit (more fraction digits than `decimals`, not
/// counting trailing zeros).
///
/// ```
/// use paywatch_plugin::amount;
/// assert_eq!(amount::to_base_units("125.5", 6).as_deref(), Some("125500000")); // USDT
/// assert_eq!(amount::to_base_units("0.0005", 8).as_deref(), Some("50000")); // BTC
/// assert_eq!(amount::to_base_units("1.50", 1).as_deref(), Some("15"));
/// assert_eq!(amount::to_base_units("0.000000001", 8), None); // below a satoshi
/// assert_eq!(amount::to_base_units("1e-4", 8), None);
/// ```
pub fn to_base_units(decimal: &str, decimals: u8) -> Option<String> {
    let (int, frac) = split(decimal)?;
    let pad = usize::from(decimals).checked_sub(frac.len())?;
    let mut base = String::with_capacity(int.len() + frac.len() + pad);
    base.push_str(int);
    base.push_str(frac);
    base.extend(iter::repeat_n('0', pad));
    // Without an integer part, the fraction's leading zeros lead.
    let zeros = base.len() - base.trim_start_matches('0').len();
    base.drain(..zeros);
    if base.is_empty() {
        base.push('0');
    }
    Some(base)
}

/// Compares two decimal amounts by value, `None` when either is not a
/// decimal amount.
///
/// ```
/// use paywatch_plugin::amount;
/// use std::cmp::Ordering;
/// assert_eq!(amount::cmp("125.5", "200"), Some(Ordering::Less));
/// assert_eq!(amount::cmp("0.00050", "0.0005"), Some(Ordering::Equal));
/// assert_eq!(amount::cmp("10", "9.999999999999999999"), Some(Ordering::Greater));
/// assert_eq!(amount::cmp("ten", "9"), None);
/// ```
pub fn cmp(a: &str, b: &str) -> Option<Ordering> {
    let (a_int, a_frac) = split(a)?;
    let (b_int, b_frac) = split(b)?;
    // Without leading zeros, a longer integer part is a larger number; of two
    // equally long ones, the digits decide. Without trailing zeros, fraction
    // digits compare as strings: a shorter fraction that is a prefix of a
    // longer one is the smaller.
    let ordering = a_int
        .len()
        .cmp(&b_int.len())
        .then_with(|| a_int.cmp(b_int))
        .then_with(|| a_frac.cmp(b_frac));
    Some(ordering)
}

/// Splits a decimal amount into its integer digits without leading zeros and
/// its fraction digits without trailing zeros.
fn split(s: &str) -> Option<(&str, &str)> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (s, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    Some((
        int.trim_start_matches('0'),
        frac.unwrap_or("").trim_end_matches('0'),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn compares_by_value() {
        let cases = [
            ("0", "0", Equal),
            ("0", "0.000", Equal),
            ("000", "0", Equal),
            ("1", "0.999", Greater),
            ("125.5", "200", Less),
            ("200", "125.5", Greater),
            ("125.5", "125.50", Equal),
            ("0.00049", "0.0005", Less),
            ("0.0005", "0.0005", Equal),
            ("0.00051", "0.0005", Greater),
            ("10", "9", Greater),
            ("010", "9", Greater),
            ("99", "100", Less),
            ("1.1", "1.09", Greater),
            (
                "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
                "115792089237316195423570985008687907853269984665640564039457.584007913129639936",
                Less,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp(a, b), Some(want), "{a} vs {b}");
            assert_eq!(cmp(b, a), Some(want.reverse()), "{b} vs {a}");
        }
    }

    #[test]
    fn converts_base_units_to_whole_units_and_back() {
        let cases = [
            ("0", 0, "0"),
            ("0", 8, "0"),
            ("000", 6, "0"),
            ("7", 0, "7"),
            ("700", 0, "700"),
            ("1", 8, "0.00000001"),
            ("50000", 8, "0.0005"),
            ("100000000", 8, "1"),
            ("2100000000000000", 8, "21000000"),
            ("125500000", 6, "125.5"),
            ("125000000", 6, "125"),
            ("1000000000000000000", 18, "1"),
            ("100000000000000001", 18, "0.100000000000000001"),
            (
                "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                18,
                "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
            ),
        ];
        for (base, decimals, whole) in cases {
            assert_eq!(
                from_base_units(base, decimals).as_deref(),
                Some(whole),
                "{base} with {decimals} decimals"
            );
            let canonical = base.trim_start_matches('0');
            let canonical = if canonical.is_empty() { "0" } else { canonical };
            assert_eq!(
                to_base_units(whole, decimals).as_deref(),
                Some(canonical),
                "{whole} with {decimals} decimals"
            );
        }
        let tiny = format!("0.{}1", "0".repeat(254));
        assert_eq!(from_base_units("1", 255), Some(tiny.clone()));
        assert_eq!(to_base_units(&tiny, 255).as_deref(), Some("1"));
        assert_eq!(from_base_units("007", 2).as_deref(), Some("0.07"));
        assert_eq!(to_base_units("007.50", 2).as_deref(), Some("750"));
        assert_eq!(to_base_units("0.000", 0).as_deref(), Some("0"));
        assert_eq!(to_base_units("12.3400", 2).as_deref(), Some("1234"));
    }

    #[test]
    fn refuses_amounts_finer_than_the_base_unit() {
        assert_eq!(to_base_units("0.000000001", 8), None);
        assert_eq!(to_base_units("1.5", 0), None);
        assert_eq!(to_base_units("1.50", 0), None);
        assert_eq!(to_base_units("1.0", 0).as_deref(), Some("1"));
    }

    #[test]
    fn refuses_base_units_that_are_not_an_integer() {
        for bad in [
            "", "125.5", "1.0", "-1", "+1", "1e3", " 1", "1 ", "0x10", "1,5", "١",
        ] {
            assert_eq!(from_base_units(bad, 6), None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for bad in [
            "", ".", "1.", ".5", "-1", "+1", "1e3", " 1", "1 ", "1.2.3", "0x10", "1,5",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
            assert_eq!(cmp(bad, "1"), None, "{bad:?}");
            assert_eq!(cmp("1", bad), None, "{bad:?}");
            assert_eq!(to_base_units(bad, 18), None, "{bad:?}");
        }
    }
}
