//! JSON written the way Go's `encoding/json` writes it, for the answers and
//! callbacks of Go-based shop protocols (Epusdt and its forks): a `float64`
//! in its shortest round-trip form without a trailing `.0` (`72`, `0.1`),
//! in exponent form below 1e-6 and from 1e21 up (`1e-7`, `1e+21`), and the
//! characters `<`, `>`, `&`, U+2028 and U+2029 escaped in strings. A client
//! that parses the numbers and signs them as parsed then signs what was sent.

use serde_json::Value;

/// `f` as Go's `encoding/json` writes a `float64`.
pub fn float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Shortest round-trip, never an exponent: Go's 'f' with precision -1.
        return format!("{f}");
    }
    // Go's 'e' with precision -1, then "e-09" cleaned to "e-9": the
    // exponent has a sign, and two digits when positive (it is 21 or more).
    let e = format!("{f:e}");
    let (mantissa, exponent) = e.split_once('e').expect("{:e} writes an exponent");
    match exponent.strip_prefix('-') {
        Some(neg) => format!("{mantissa}e-{neg}"),
        None => format!("{mantissa}e+{exponent:0>2}"),
    }
}

/// A string as Go writes it: JSON-escaped, HTML-safe.
pub fn string(s: &str) -> String {
    let mut out = String::new();
    string_into(s, &mut out);
    out
}

fn string_into(s: &str, out: &mut String) {
    let text = serde_json::to_string(s).expect("a string always serializes");
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

fn value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => out.push_str(&float(n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string_into(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let pairs: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
            object_into(&pairs, out);
        }
    }
}

fn object_into(pairs: &[(&str, &Value)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string_into(k, out);
        out.push(':');
        value(v, out);
    }
    out.push('}');
}

/// An object with its fields in the given order, as Go writes a struct.
pub fn object(pairs: &[(&str, &Value)]) -> String {
    let mut out = String::new();
    object_into(pairs, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `go_floats.tsv`: values and what Go's `encoding/json` writes for
    /// them, made by `go run scripts/go-json-floats.go` (Go 1.19).
    #[test]
    fn callback_numbers_are_written_as_go_writes_them() {
        let table = include_str!("go_floats.tsv");
        let mut n = 0;
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let (bits, go) = line.split_once('\t').expect("bits<TAB>json");
            let f = f64::from_bits(u64::from_str_radix(bits, 16).expect("hex bits"));
            assert_eq!(float(f), go, "{f:?} (bits {bits})");
            n += 1;
        }
        assert!(n > 100, "the table has {n} rows");
    }

    #[test]
    fn whole_amounts_have_no_trailing_point_zero() {
        assert_eq!(float(72.0), "72");
        assert_eq!(float(10.0), "10");
        assert_eq!(
            object(&[("amount", &Value::from(72.0)), ("status", &Value::from(2))]),
            r#"{"amount":72,"status":2}"#
        );
        assert_eq!(
            object(&[("order_id", &Value::from("a<b>&c"))]),
            r#"{"order_id":"a\u003cb\u003e\u0026c"}"#
        );
    }
}
