//! A forward-only JSON reader for the node answers scanned on every block.
//!
//! Why it exists: an EVM or TRON block is mostly long hex strings paywatch
//! never reads (`input`, `logsBloom`, log `data`, `raw_data_hex`,
//! signatures). serde_json steps through them one byte at a time; this
//! reader finds the end of a string with `memchr`, which looks at 16–32
//! bytes per step, and hands out the strings it reads as borrowed slices.
//!
//! It checks the structure it walks (brackets, commas, colons, literals) and
//! every value it returns. Inside strings it skips, it only follows escapes;
//! inside numbers it skips, it only checks the characters. The EVM and TRON
//! decoders keep their serde form as the reference, and
//! `tests/it/json_fast_path.rs` checks both give the same transfers on every
//! real block.

use std::borrow::Cow;
use std::fmt;

/// How a block's JSON is read: the fast reader the scanner uses, or serde,
/// which is the reference the fast reader is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Json {
    Skim,
    Serde,
}

/// Nesting deeper than this is refused rather than followed.
const MAX_DEPTH: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkimError {
    /// Byte offset in the document.
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for SkimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for SkimError {}

pub type Result<T> = std::result::Result<T, SkimError>;

/// Position in one object or array: whether a comma is due before the next
/// member.
pub struct Seq {
    first: bool,
}

pub struct Skim<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Skim<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Skim { b, i: 0 }
    }

    fn err<T>(&self, what: &'static str) -> Result<T> {
        Err(SkimError { at: self.i, what })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next non-space byte, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Only space is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters"),
        }
    }

    /// Enters an object; read it with [`Skim::key`] until that gives `None`.
    pub fn object(&mut self) -> Result<Seq> {
        self.expect(b'{', "expected an object")?;
        Ok(Seq { first: true })
    }

    /// The next key of the object (its raw bytes, escapes as written), with
    /// the colon consumed; the caller then reads or skips the value.
    pub fn key(&mut self, seq: &mut Seq) -> Result<Option<&'a [u8]>> {
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !seq.first => {
                self.i += 1;
                if self.peek() != Some(b'"') {
                    return self.err("expected a key");
                }
            }
            Some(b'"') if seq.first => {}
            _ if seq.first => return self.err("expected a key"),
            _ => return self.err("expected `,` or `}`"),
        }
        seq.first = false;
        let key = self.raw_str()?;
        if self.b.get(self.i) == Some(&b':') {
            self.i += 1;
        } else {
            self.expect(b':', "expected `:`")?;
        }
        Ok(Some(key))
    }

    /// Enters an array; step through it with [`Skim::next`].
    pub fn array(&mut self) -> Result<Seq> {
        self.expect(b'[', "expected an array")?;
        Ok(Seq { first: true })
    }

    /// Whether another element follows (then read or skip it).
    pub fn next(&mut self, seq: &mut Seq) -> Result<bool> {
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                return Ok(false);
            }
            _ if !seq.first => self.expect(b',', "expected `,` or `]`")?,
            _ => {}
        }
        seq.first = false;
        Ok(true)
    }

    /// A string's raw bytes, escapes as written; the cursor is on its
    /// opening quote. A quote is the end unless an odd number of
    /// backslashes stands before it.
    fn raw_str(&mut self) -> Result<&'a [u8]> {
        let start = self.i + 1;
        let mut at = start;
        loop {
            let Some(n) = memchr::memchr(b'"', self.b.get(at..).unwrap_or_default()) else {
                self.i = self.b.len();
                return self.err("unterminated string");
            };
            let end = at + n;
            let slashes = self.b[start..end]
                .iter()
                .rev()
                .take_while(|c| **c == b'\\')
                .count();
            if slashes % 2 == 0 {
                self.i = end + 1;
                return Ok(&self.b[start..end]);
            }
            at = end + 1;
        }
    }

    /// A string value, borrowed unless it holds escapes.
    pub fn str(&mut self) -> Result<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        let at = self.i;
        let raw = self.raw_str()?;
        // One pass: printable ASCII without backslashes is the common case
        // (hashes, addresses, quantities) and needs nothing more.
        // (Branch-free, so that the compiler checks many bytes per step.)
        let unusual = raw.iter().fold(false, |acc, b| {
            acc | (b.wrapping_sub(0x20) >= 0x5f) | (*b == b'\\')
        });
        if !unusual {
            if let Ok(s) = std::str::from_utf8(raw) {
                return Ok(Cow::Borrowed(s));
            }
        }
        if memchr::memchr(b'\\', raw).is_some() {
            // Rare in node answers: let serde_json apply the escapes.
            return serde_json::from_slice::<String>(&self.b[at..self.i])
                .map(Cow::Owned)
                .map_err(|_| SkimError {
                    at,
                    what: "invalid string escape",
                });
        }
        match std::str::from_utf8(raw) {
            Ok(s) if raw.iter().all(|b| *b >= 0x20) => Ok(Cow::Borrowed(s)),
            Ok(_) => Err(SkimError {
                at,
                what: "control character in a string",
            }),
            Err(_) => Err(SkimError {
                at,
                what: "invalid UTF-8 in a string",
            }),
        }
    }

    /// A string or `null`.
    pub fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>> {
        if self.null()? {
            Ok(None)
        } else {
            self.str().map(Some)
        }
    }

    /// Consumes `null` if that is what comes next.
    pub fn null(&mut self) -> Result<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self) -> Result<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|_| true),
            Some(b'f') => self.literal(b"false").map(|_| false),
            _ => self.err("expected true or false"),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    /// A non-negative integer that fits in a u64.
    pub fn u64(&mut self) -> Result<u64> {
        self.ws();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
            {
                Some(n) => n,
                None => return self.err("integer out of range"),
            };
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 {
            return self.err("expected a non-negative integer");
        }
        if digits > 1 && self.b[start] == b'0' {
            self.i = start;
            return self.err("leading zero in a number");
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i) {
            return self.err("expected an integer");
        }
        Ok(n)
    }

    /// A u64 or `null`.
    pub fn opt_u64(&mut self) -> Result<Option<u64>> {
        if self.null()? {
            Ok(None)
        } else {
            self.u64().map(Some)
        }
    }

    /// Leaves the object being read, skipping its remaining members at
    /// once. Only brackets and strings are followed here (JSON the node
    /// sent with its syntax already checked, or members paywatch never
    /// reads); a bracket closed by the wrong kind is still refused.
    pub fn leave_object(&mut self) -> Result<()> {
        // One bit per open bracket: 1 for `{`, 0 for `[`.
        let mut open: u64 = 1;
        let mut depth = 1u32;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.raw_str()?;
                    continue;
                }
                b'{' | b'[' => {
                    if depth >= MAX_DEPTH {
                        return self.err("nested too deep");
                    }
                    open = (open << 1) | u64::from(c == b'{');
                    depth += 1;
                }
                b'}' | b']' => {
                    if (open & 1 == 1) != (c == b'}') {
                        return self.err("mismatched bracket");
                    }
                    open >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        self.err("unexpected end of input")
    }

    /// Skips one value and gives its text, for a small part read another
    /// way.
    pub fn raw_value(&mut self) -> Result<&'a [u8]> {
        self.ws();
        let start = self.i;
        self.skip()?;
        Ok(&self.b[start..self.i])
    }

    /// Skips one value of any kind.
    pub fn skip(&mut self) -> Result<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: u32) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.raw_str().map(drop),
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return self.err("nested too deep");
                }
                let mut o = self.object()?;
                while self.key(&mut o)?.is_some() {
                    self.skip_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return self.err("nested too deep");
                }
                let mut a = self.array()?;
                while self.next(&mut a)? {
                    self.skip_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i)
                {
                    self.i += 1;
                }
                let text = &self.b[start..self.i];
                // Cheap shape check; the value itself is never used.
                if text.last().is_some_and(u8::is_ascii_digit) {
                    Ok(())
                } else {
                    self.i = start;
                    self.err("invalid number")
                }
            }
            Some(_) => self.err("expected a value"),
            None => self.err("unexpected end of input"),
        }
    }

    /// An array of strings (`null` reads as empty).
    pub fn strs(&mut self) -> Result<Vec<Cow<'a, str>>> {
        let mut out = Vec::new();
        if self.null()? {
            return Ok(out);
        }
        let mut a = self.array()?;
        while self.next(&mut a)? {
            out.push(self.str()?);
        }
        Ok(out)
    }
}

/// The first element of a JSON array, the rest walked over: for lists of
/// which paywatch only ever reads the head (a TRON transaction's `ret` and
/// `contract`), without allocating a vector per transaction.
pub struct First<T>(pub Option<T>);

impl<T> Default for First<T> {
    fn default() -> Self {
        First(None)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for First<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<First<T>, A::Error> {
                let first = seq.next_element()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// What a reader may use to leave parts of a document unread.
#[derive(Clone, Copy, Default)]
pub struct Cx<'c> {
    /// Whether an object is read on once its gate field (see [`wire!`]) is
    /// read: `false` leaves the rest of it at once, and drops it.
    pub keep: Option<&'c dyn Fn(&str) -> bool>,
}

/// A value the fast reader reads: what [`wire!`] structs are made of.
pub trait Wire<'a>: Sized {
    /// Reads one value; `None` when [`Cx::keep`] dropped it.
    fn read(s: &mut Skim<'a>, cx: &Cx<'_>) -> Result<Option<Self>>;
}

impl<'a> Wire<'a> for Cow<'a, str> {
    #[inline]
    fn read(s: &mut Skim<'a>, _: &Cx<'_>) -> Result<Option<Self>> {
        s.str().map(Some)
    }
}

impl<'a> Wire<'a> for u64 {
    #[inline]
    fn read(s: &mut Skim<'a>, _: &Cx<'_>) -> Result<Option<Self>> {
        s.u64().map(Some)
    }
}

impl<'a> Wire<'a> for bool {
    #[inline]
    fn read(s: &mut Skim<'a>, _: &Cx<'_>) -> Result<Option<Self>> {
        s.bool().map(Some)
    }
}

/// `null` reads as `None`.
impl<'a, T: Wire<'a>> Wire<'a> for Option<T> {
    #[inline]
    fn read(s: &mut Skim<'a>, cx: &Cx<'_>) -> Result<Option<Self>> {
        if s.null()? {
            Ok(Some(None))
        } else {
            T::read(s, cx).map(Some)
        }
    }
}

/// An array; elements [`Cx::keep`] drops are left out.
impl<'a, T: Wire<'a>> Wire<'a> for Vec<T> {
    #[inline]
    fn read(s: &mut Skim<'a>, cx: &Cx<'_>) -> Result<Option<Self>> {
        let mut out = Vec::new();
        let mut a = s.array()?;
        while s.next(&mut a)? {
            if let Some(v) = T::read(s, cx)? {
                out.push(v);
            }
        }
        Ok(Some(out))
    }
}

impl<'a, T: Wire<'a>> Wire<'a> for First<T> {
    #[inline]
    fn read(s: &mut Skim<'a>, cx: &Cx<'_>) -> Result<Option<Self>> {
        let mut first = None;
        let mut a = s.array()?;
        while s.next(&mut a)? {
            if first.is_some() {
                s.skip()?;
            } else {
                first = T::read(s, cx)?;
            }
        }
        Ok(Some(First(first)))
    }
}

/// Why a document could not be read, by either reader.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Skim(#[from] SkimError),
    #[error(transparent)]
    Serde(#[from] serde_json::Error),
}

/// Reads `doc` as `T` with the chosen reader; `cx` applies to the fast
/// reader only (serde reads everything).
pub fn read_with<'a, T>(json: Json, doc: &'a [u8], cx: &Cx<'_>) -> std::result::Result<T, ReadError>
where
    T: Wire<'a> + serde::Deserialize<'a>,
{
    Ok(match json {
        Json::Skim => read_doc(doc, cx)?,
        Json::Serde => serde_json::from_slice(doc)?,
    })
}

/// Reads a whole document as `T`: nothing but space may follow it.
pub fn read_doc<'a, T: Wire<'a>>(doc: &'a [u8], cx: &Cx<'_>) -> Result<T> {
    let mut s = Skim::new(doc);
    let v = T::read(&mut s, cx)?.ok_or(SkimError {
        at: 0,
        what: "the document was dropped",
    })?;
    s.end()?;
    Ok(v)
}

/// Declares the fields paywatch reads of one node answer, once, for both
/// readers: a struct that serde deserializes (the reference) and a
/// [`Wire`] reading of it by the fast reader. Each field is
/// `name: Type = "jsonKey"`; every field defaults when absent; unknown
/// keys are skipped. `gate field` after the name lets [`Cx::keep`] drop
/// the object as soon as that field is read (serde reads on).
macro_rules! wire {
    ($(
        $(#[$attr:meta])*
        $vis:vis struct $name:ident<'a> $(gate $gate:ident)? {
            $( $(#[$fattr:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)?
        }
    )*) => {$(
        $(#[$attr])*
        #[derive(serde::Deserialize)]
        $vis struct $name<'a> {
            $( #[serde(rename = $key, default)] $(#[$fattr])* pub $field: $ty, )*
        }

        impl<'a> $crate::chain::skim::Wire<'a> for $name<'a> {
            fn read(
                s: &mut $crate::chain::skim::Skim<'a>,
                cx: &$crate::chain::skim::Cx<'_>,
            ) -> $crate::chain::skim::Result<Option<Self>> {
                let _ = cx;
                let mut o = s.object()?;
                let mut out = $name { $( $field: Default::default(), )* };
                $( let mut gated = { let _ = stringify!($gate); false }; )?
                while let Some(k) = s.key(&mut o)? {
                    $(
                        if $crate::chain::skim::is(k, {
                            const KEY: &[u8; $key.len()] = match $key.as_bytes().first_chunk() {
                                Some(k) => k,
                                None => unreachable!(),
                            };
                            KEY
                        }) {
                            if let Some(v) = <$ty as $crate::chain::skim::Wire<'a>>::read(s, cx)? {
                                out.$field = v;
                            }
                        } else
                    )* {
                        s.skip()?;
                    }
                    $(
                        if !gated {
                            if let (Some(v), Some(keep)) = (out.$gate.as_deref(), cx.keep) {
                                gated = true;
                                if !keep(v) {
                                    s.leave_object()?;
                                    return Ok(None);
                                }
                            }
                        }
                    )?
                }
                Ok(Some(out))
            }
        }
    )*};
}
pub(crate) use wire;

/// Whether a key read by [`Skim::key`] is `name`. Written as a fixed-size
/// comparison so that it compiles to a few integer compares, not a call.
#[inline(always)]
pub fn is<const N: usize>(key: &[u8], name: &[u8; N]) -> bool {
    key.len() == N && key.first_chunk::<N>() == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(doc: &str) -> Result<Vec<(String, String)>> {
        let mut s = Skim::new(doc.as_bytes());
        let mut o = s.object()?;
        let mut out = Vec::new();
        while let Some(k) = s.key(&mut o)? {
            let k = String::from_utf8_lossy(k).into_owned();
            match k.as_str() {
                "s" => out.push((k, s.opt_str()?.map(|c| c.into_owned()).unwrap_or_default())),
                "n" => out.push((k, s.u64()?.to_string())),
                _ => s.skip()?,
            }
        }
        s.end()?;
        Ok(out)
    }

    #[test]
    fn reads_what_it_is_asked_and_skips_the_rest() {
        let doc = r#" { "x": {"a":[1,2.5e3,-0.1,{"q":"\"}]"}],"b":true,"c":null},
            "s": "0xab\u0063", "n": 18446744073709551615, "y": [[[]]], "z": false } "#;
        assert_eq!(
            read(doc).unwrap(),
            vec![
                ("s".into(), "0xabc".into()),
                ("n".into(), u64::MAX.to_string())
            ]
        );
    }

    #[test]
    fn broken_structure_is_named_with_its_place() {
        for (doc, what) in [
            (r#"{"a":1,}"#, "expected a key"),
            (r#"{"a":1 "b":2}"#, "expected `,` or `}`"),
            (r#"{"a" 1}"#, "expected `:`"),
            (r#"{"a":[1,]}"#, "expected a value"),
            (r#"{"a":"abc"#, "unterminated string"),
            (r#"{"a":"abc\"#, "unterminated string"),
            (r#"{"a":tru}"#, "invalid literal"),
            (r#"{"n":18446744073709551616}"#, "integer out of range"),
            (r#"{"n":-1}"#, "expected a non-negative integer"),
            (r#"{"n":1.5}"#, "expected an integer"),
            (r#"{"n":01}"#, "leading zero in a number"),
            (r#"{"s":5}"#, "expected a string"),
            (r#"{"a":1-}"#, "invalid number"),
            (r#"{"a":1} x"#, "trailing characters"),
            (r#"{"a":"#, "unexpected end of input"),
            ("{\"s\":\"a\u{1}\"}", "control character in a string"),
        ] {
            let e = read(doc).unwrap_err();
            assert_eq!(e.what, what, "{doc}");
        }
        let deep = "[".repeat(100_000);
        let e = read(&format!(r#"{{"a":{deep}"#)).unwrap_err();
        assert_eq!(e.what, "nested too deep");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut s = Skim::new(b"\"\xff\xfe\"");
        assert_eq!(s.str().unwrap_err().what, "invalid UTF-8 in a string");
    }
}
