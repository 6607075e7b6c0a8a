//! The operator's sanctions list (`[risk] sanctions_file`): the set of
//! cryptocurrency addresses that payment counterparties are compared against.
//!
//! A file is read in one of four forms, recognized from its content:
//!
//! - OFAC's SDN advanced XML (`sdn_advanced.xml`, root `<Sanctions>`): every
//!   `<Feature FeatureTypeID="…">` whose type is a `<FeatureType>` of
//!   `ReferenceValueSets/FeatureTypeValues` named `Digital Currency Address - XBT`
//!   (`- ETH`, `- USDT`, `- TRX`, …) lists the address as the text of its
//!   `<VersionDetail>`. Features may come before or after the types they refer to.
//! - OFAC's SDN XML (`sdn.xml`, root `<sdnList>`): each
//!   `<id><idType>Digital Currency Address - XBT</idType><idNumber>…</idNumber></id>`.
//! - OFAC's SDN CSV (`sdn.csv`): twelve columns, no header; the last one, the
//!   remarks, holds `Digital Currency Address - XBT 12Qt…; alt. Digital Currency
//!   Address - ETH 0x…;`. OFAC cuts remarks at 1,000 characters, so the last
//!   address of a long one can be cut short: such an address is left out and
//!   counted ([`SanctionsList::truncated`]); the XML files have it whole.
//! - Plain text, one address per line: blank lines and `#` comments (whole
//!   lines or trailing) ignored, every other line an address of paywatch's
//!   chains (EVM, TRON, Bitcoin), or the file is refused.
//!
//! Addresses are checked syntactically only (alphabet, prefix, length; no
//! checksum). An OFAC entry that is not an address of paywatch's chains (Monero,
//! Litecoin, Zcash, …) is left out and counted ([`SanctionsList::skipped`]).
//! Addresses are kept in [`normalize`]d form and deduplicated.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

/// The largest sanctions file accepted.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// How OFAC names the type of a digital currency address entry, before the currency code.
const DCA_PREFIX: &str = "Digital Currency Address - ";
/// The words that start such an entry in the SDN CSV remarks.
const DCA_PHRASE: &str = "Digital Currency Address";
/// Columns of an SDN CSV record; the remarks are the last.
const SDN_CSV_FIELDS: usize = 12;
/// The length, in characters, at which OFAC cuts the SDN CSV remarks.
const REMARKS_LIMIT: usize = 1000;
/// How much of an offending line an error shows.
const SHOWN_LINE_CHARS: usize = 80;

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_HRPS: [&str; 3] = ["bc", "tb", "bcrt"];

/// Which of the accepted forms a file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListFormat {
    SdnAdvancedXml,
    SdnXml,
    SdnCsv,
    Lines,
}

/// A loaded list.
#[derive(Clone, Debug, Default)]
pub struct SanctionsList {
    addresses: foldhash::HashSet<String>,
    format: Option<ListFormat>,
    skipped: usize,
    truncated: usize,
}

/// Why a file could not be read as a sanctions list.
#[derive(Debug, thiserror::Error)]
pub enum SanctionsError {
    /// Not valid UTF-8: the line and byte offset of the first bad byte.
    #[error("line {line}: not UTF-8 text (byte {offset})")]
    Encoding { line: usize, offset: usize },
    /// A line (or XML/CSV record at a line) that is not what the form expects.
    #[error("line {line}: {detail}")]
    Line { line: usize, detail: String },
    /// Larger than [`MAX_FILE_BYTES`].
    #[error("{size} bytes is more than the {max} a sanctions list may have")]
    TooLarge { size: u64, max: u64 },
    /// A recognized OFAC file that lists no digital currency address at all (probably the wrong file).
    #[error("{0:?} file lists no digital currency address")]
    NoAddresses(ListFormat),
}

impl SanctionsList {
    /// Parses a whole file. Never panics on any input.
    pub fn parse(bytes: &[u8]) -> Result<SanctionsList, SanctionsError> {
        check_size(bytes.len())?;
        let text = decode(bytes)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        match detect(text) {
            Form::Xml => parse_xml(text),
            Form::Csv => parse_csv(text),
            Form::Lines => parse_lines(text),
        }
    }

    /// How many distinct addresses are listed.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether no address is listed.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// The form the file was read as; `None` for the empty default list.
    pub fn format(&self) -> Option<ListFormat> {
        self.format
    }

    /// Whether `address` (any chain's display form) is listed.
    pub fn contains(&self, address: &str) -> bool {
        self.addresses.contains(normalize(address).as_ref())
    }

    /// Distinct values an OFAC file lists as digital currency addresses that are
    /// not addresses of paywatch's chains (Monero, Litecoin, …), left out.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Addresses an SDN CSV lists but cuts short at its 1,000-character remarks
    /// limit, left out (the XML files list them whole).
    pub fn truncated(&self) -> usize {
        self.truncated
    }
}

/// Normalized form used for comparison: surrounding whitespace trimmed, EVM
/// `0x` addresses lowercased (hex is case-insensitive, EIP-55 mixed case
/// allowed), bech32 lowercased, base58 unchanged.
pub fn normalize(address: &str) -> Cow<'_, str> {
    let address = address.trim();
    let fold = is_evm_like(address) || is_bech32(address);
    if fold && address.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(address.to_ascii_lowercase())
    } else {
        Cow::Borrowed(address)
    }
}

/// Whether `address` looks like an address of one of paywatch's chains.
fn is_address(address: &str) -> bool {
    is_evm(address) || is_bech32(address) || is_tron(address) || is_bitcoin_base58(address)
}

/// `0x` (either case of `x`) and 40 hex digits.
fn is_evm_like(address: &str) -> bool {
    let bytes = address.as_bytes();
    bytes.len() == 42
        && bytes[0] == b'0'
        && (bytes[1] == b'x' || bytes[1] == b'X')
        && bytes[2..].iter().all(u8::is_ascii_hexdigit)
}

/// An EVM address: `0x` and 40 hex digits in any case.
fn is_evm(address: &str) -> bool {
    address.starts_with("0x") && is_evm_like(address)
}

/// A TRON address: `T` and 33 base58 characters.
fn is_tron(address: &str) -> bool {
    address.len() == 34 && address.starts_with('T') && all_base58(address)
}

/// A legacy Bitcoin address (mainnet `1`/`3`, testnet `m`/`n`/`2`): 25 to 35 base58 characters.
fn is_bitcoin_base58(address: &str) -> bool {
    let first_ok = matches!(
        address.bytes().next(),
        Some(b'1' | b'2' | b'3' | b'm' | b'n')
    );
    first_ok && (25..=35).contains(&address.len()) && all_base58(address)
}

/// A Bitcoin segwit address: `bc`, `tb` or `bcrt`, `1`, then bech32 data; 14 to
/// 74 characters, all one case.
fn is_bech32(address: &str) -> bool {
    if !(14..=74).contains(&address.len()) || is_mixed_case(address) {
        return false;
    }
    let Some(separator) = address.rfind('1') else {
        return false;
    };
    let (hrp, data) = (&address[..separator], &address[separator + 1..]);
    BECH32_HRPS
        .iter()
        .any(|known| hrp.eq_ignore_ascii_case(known))
        && data.len() >= 7
        && data
            .bytes()
            .all(|b| BECH32.contains(&b.to_ascii_lowercase()))
}

fn is_mixed_case(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_lowercase()) && text.bytes().any(|b| b.is_ascii_uppercase())
}

fn all_base58(text: &str) -> bool {
    text.bytes().all(|b| BASE58.contains(&b))
}

fn check_size(size: usize) -> Result<(), SanctionsError> {
    let size = u64::try_from(size).unwrap_or(u64::MAX);
    if size > MAX_FILE_BYTES {
        return Err(SanctionsError::TooLarge {
            size,
            max: MAX_FILE_BYTES,
        });
    }
    Ok(())
}

/// The file as text, or where its first byte that is not UTF-8 is.
fn decode(bytes: &[u8]) -> Result<&str, SanctionsError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        SanctionsError::Encoding {
            line: line_at(bytes, offset),
            offset,
        }
    })
}

/// The 1-based line that byte `offset` of `bytes` is on.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The accepted forms as told apart before parsing: the two XML ones are told
/// apart while reading.
enum Form {
    Xml,
    Csv,
    Lines,
}

/// XML if the text starts with markup, SDN CSV if its first line (comments
/// aside) is a record of at least twelve CSV fields, else lines.
fn detect(text: &str) -> Form {
    if text.trim_start().starts_with('<') {
        return Form::Xml;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    match first {
        Some(line) if csv_field_count(line) >= SDN_CSV_FIELDS => Form::Csv,
        _ => Form::Lines,
    }
}

fn csv_field_count(line: &str) -> usize {
    let mut reader = csv_reader(line);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => record.len(),
        _ => 0,
    }
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// Accumulates the addresses an OFAC file lists.
#[derive(Default)]
struct Collector {
    addresses: foldhash::HashSet<String>,
    skipped: HashSet<String>,
    truncated: usize,
}

impl Collector {
    /// Takes a value listed as a digital currency address.
    fn offer(&mut self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        if is_address(value) {
            self.addresses.insert(normalize(value).into_owned());
        } else if !self.skipped.contains(value) {
            self.skipped.insert(value.to_owned());
        }
    }

    fn finish(self, format: ListFormat) -> SanctionsList {
        SanctionsList {
            addresses: self.addresses,
            format: Some(format),
            skipped: self.skipped.len(),
            truncated: self.truncated,
        }
    }
}

fn line_error(line: usize, detail: impl Into<String>) -> SanctionsError {
    SanctionsError::Line {
        line,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------- lines

fn parse_lines(text: &str) -> Result<SanctionsList, SanctionsError> {
    let mut addresses = foldhash::HashSet::default();
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let content = line.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        if !is_address(content) {
            let detail = format!(
                "not an EVM, TRON or Bitcoin address: {:?}",
                clip(line.trim())
            );
            return Err(line_error(index + 1, detail));
        }
        addresses.insert(normalize(content).into_owned());
    }
    Ok(SanctionsList {
        addresses,
        format: Some(ListFormat::Lines),
        ..SanctionsList::default()
    })
}

/// The first [`SHOWN_LINE_CHARS`] characters of `line`, with `…` if there were more.
fn clip(line: &str) -> Cow<'_, str> {
    match line.char_indices().nth(SHOWN_LINE_CHARS) {
        Some((end, _)) => Cow::Owned(format!("{}…", &line[..end])),
        None => Cow::Borrowed(line),
    }
}

// ---------------------------------------------------------------- SDN CSV

fn parse_csv(text: &str) -> Result<SanctionsList, SanctionsError> {
    check_quotes_closed(text)?;
    let mut reader = csv_reader(text);
    let mut record = csv::StringRecord::new();
    let mut out = Collector::default();
    let mut listed = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => listed += csv_record(text, &record, &mut out)?,
            Ok(false) => break,
            Err(error) => return Err(csv_error(text, &error)),
        }
    }
    if listed == 0 {
        return Err(SanctionsError::NoAddresses(ListFormat::SdnCsv));
    }
    Ok(out.finish(ListFormat::SdnCsv))
}

/// Refuses CSV text with an odd number of `"`, whose last quoted field never
/// ends (as in a download cut short), which the CSV reader would take as ending
/// with the text.
fn check_quotes_closed(text: &str) -> Result<(), SanctionsError> {
    let quotes = text.bytes().filter(|&b| b == b'"').count();
    match text.rfind('"') {
        Some(last) if quotes % 2 == 1 => {
            let detail = "a quoted field is never closed: the file is cut short";
            Err(line_error(line_at(text.as_bytes(), last), detail))
        }
        _ => Ok(()),
    }
}

/// Takes the addresses of one record; returns how many entries it lists.
fn csv_record(
    text: &str,
    record: &csv::StringRecord,
    out: &mut Collector,
) -> Result<usize, SanctionsError> {
    if is_filler(record) {
        return Ok(0);
    }
    if record.len() != SDN_CSV_FIELDS {
        let line = csv_line(text, record.position());
        let detail = format!(
            "an SDN CSV record has {SDN_CSV_FIELDS} fields, this one {} (is the file cut short?)",
            record.len()
        );
        return Err(line_error(line, detail));
    }
    Ok(scan_remarks(&record[SDN_CSV_FIELDS - 1], out))
}

/// A record with nothing in it, such as the DOS end-of-file byte (0x1A) that
/// ends OFAC's CSV files.
fn is_filler(record: &csv::StringRecord) -> bool {
    record.iter().all(|field| {
        field
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{1a}')
            .is_empty()
    })
}

fn csv_error(text: &str, error: &csv::Error) -> SanctionsError {
    let line = csv_line(text, error.position());
    line_error(line, format!("not a valid SDN CSV record: {error}"))
}

/// The line a CSV record starts on. The reader's own line count lags behind
/// after CRLF line ends, whose `\n` it counts as part of the next record, so
/// the line is counted from the record's byte offset, past line ends.
fn csv_line(text: &str, position: Option<&csv::Position>) -> usize {
    let bytes = text.as_bytes();
    let mut offset = position.map_or(0, |p| to_usize(p.byte()));
    while matches!(bytes.get(offset), Some(b'\r' | b'\n')) {
        offset += 1;
    }
    line_at(bytes, offset)
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Takes every `Digital Currency Address - <CODE> <address>` of an SDN CSV
/// remarks field; returns how many there are.
fn scan_remarks(remarks: &str, out: &mut Collector) -> usize {
    let at_limit = remarks.chars().count() >= REMARKS_LIMIT;
    let mut listed = 0;
    let mut rest = remarks;
    while let Some(start) = rest.find(DCA_PHRASE) {
        rest = &rest[start + DCA_PHRASE.len()..];
        let Some(entry) = remark_entry(rest) else {
            continue;
        };
        listed += 1;
        if entry.cut && at_limit {
            out.truncated += 1;
        } else {
            out.offer(entry.address);
        }
        rest = entry.rest;
    }
    listed
}

/// One `- <CODE> <address>` after the words "Digital Currency Address".
struct RemarkEntry<'a> {
    address: &'a str,
    /// The field ends inside the entry, with no `;` or `.` after the address.
    cut: bool,
    rest: &'a str,
}

fn remark_entry(text: &str) -> Option<RemarkEntry<'_>> {
    let after_dash = text.trim_start().strip_prefix('-')?.trim_start();
    let code_end = after_dash
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(after_dash.len());
    let value = after_dash[code_end..].trim_start();
    let end = value
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(value.len());
    let token = &value[..end];
    let cut = end == value.len() && !token.ends_with('.');
    Some(RemarkEntry {
        address: token.trim_end_matches(['.', ',']),
        cut,
        rest: &value[end..],
    })
}

// ---------------------------------------------------------------- XML

fn parse_xml(text: &str) -> Result<SanctionsList, SanctionsError> {
    let mut reader = Reader::from_str(text);
    let mut scan = XmlScan::default();
    let mut out = Collector::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|error| xml_error(text, reader.error_position(), &error))?;
        let handled = match event {
            Event::Start(element) => scan.start(&element),
            Event::Empty(element) => {
                scan.mark(element.local_name().as_ref());
                Ok(())
            }
            Event::End(element) => {
                scan.end(element.local_name().as_ref(), &mut out);
                Ok(())
            }
            Event::Text(content) if scan.collecting() => {
                scan.text.push_str(&content.xml10_content());
                Ok(())
            }
            Event::CData(content) if scan.collecting() => {
                scan.text.push_str(&content.xml10_content());
                Ok(())
            }
            Event::GeneralRef(reference) if scan.collecting() => scan.reference(&reference),
            Event::Eof => break,
            _ => Ok(()),
        };
        handled.map_err(|error| xml_error(text, reader.buffer_position(), &error))?;
    }
    scan.finish(text, out)
}

fn xml_error(text: &str, position: u64, error: &quick_xml::Error) -> SanctionsError {
    let line = line_at(text.as_bytes(), to_usize(position));
    line_error(line, format!("not well-formed XML: {error}"))
}

/// Which element's text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    FeatureType,
    VersionDetail,
    IdType,
    IdNumber,
}

impl Field {
    fn element(self) -> &'static str {
        match self {
            Field::FeatureType => "FeatureType",
            Field::VersionDetail => "VersionDetail",
            Field::IdType => "idType",
            Field::IdNumber => "idNumber",
        }
    }
}

/// What one of the two OFAC XML shapes has shown so far.
#[derive(Default)]
struct Shape {
    /// An element only that shape has was seen.
    seen: bool,
    /// Digital currency address entries it listed.
    listed: usize,
}

/// State of one streaming pass over either OFAC XML shape.
#[derive(Default)]
struct XmlScan {
    depth: usize,
    root: Option<String>,
    capture: Option<Field>,
    text: String,
    advanced: Shape,
    classic: Shape,
    /// Inside `<FeatureTypeValues>`.
    in_type_values: bool,
    /// The `ID` of the `<FeatureType>` being read.
    type_id: Option<String>,
    /// Each feature type's `ID`, and whether it is a digital currency address.
    feature_types: HashMap<String, bool>,
    /// The `FeatureTypeID` of the `<Feature>` being read.
    feature: Option<String>,
    /// Feature values whose type had not been defined yet when they were read.
    pending: Vec<(String, String)>,
    /// Inside an SDN XML `<id>`.
    in_id: bool,
    id_type: Option<String>,
    id_number: Option<String>,
}

impl XmlScan {
    fn start(&mut self, element: &BytesStart<'_>) -> Result<(), quick_xml::Error> {
        let name = element.local_name();
        let name = name.as_ref();
        if self.depth == 0 && self.root.is_none() {
            self.root = Some(name.to_owned());
        }
        self.depth += 1;
        self.mark(name);
        match name {
            "FeatureTypeValues" => self.in_type_values = true,
            "FeatureType" if self.in_type_values => {
                self.type_id = attribute(element, "ID")?;
                self.collect(Field::FeatureType);
            }
            "Feature" => self.feature = attribute(element, "FeatureTypeID")?,
            "VersionDetail" if self.feature.is_some() => self.collect(Field::VersionDetail),
            "id" => self.open_id(),
            "idType" if self.in_id => self.collect(Field::IdType),
            "idNumber" if self.in_id => self.collect(Field::IdNumber),
            _ => {}
        }
        Ok(())
    }

    /// Notes an element that only one of the two shapes has.
    fn mark(&mut self, name: &str) {
        match name {
            "Sanctions" | "DistinctParties" | "DistinctParty" | "FeatureTypeValues" => {
                self.advanced.seen = true;
            }
            "sdnList" | "sdnEntry" | "idType" => self.classic.seen = true,
            _ => {}
        }
    }

    fn collect(&mut self, field: Field) {
        self.capture = Some(field);
        self.text.clear();
    }

    /// The collected text, if `name` closes the element it was collected for.
    fn collected(&mut self, name: &str) -> Option<String> {
        if self.capture.map(Field::element) != Some(name) {
            return None;
        }
        self.capture = None;
        Some(std::mem::take(&mut self.text))
    }

    fn collecting(&self) -> bool {
        self.capture.is_some()
    }

    /// Appends the referenced character to the text being collected.
    fn reference(&mut self, reference: &BytesRef<'_>) -> Result<(), quick_xml::Error> {
        if let Some(c) = reference.resolve_char_ref()? {
            self.text.push(c);
        } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(reference) {
            self.text.push_str(s);
        } else {
            self.text.push('&');
            self.text.push_str(reference);
            self.text.push(';');
        }
        Ok(())
    }

    fn end(&mut self, name: &str, out: &mut Collector) {
        self.depth = self.depth.saturating_sub(1);
        let value = self.collected(name);
        match name {
            "FeatureTypeValues" => self.in_type_values = false,
            "FeatureType" => self.define_type(value),
            "VersionDetail" => self.feature_value(value, out),
            "Feature" => self.feature = None,
            "idType" => self.id_type = value.or(self.id_type.take()),
            "idNumber" => self.id_number = value.or(self.id_number.take()),
            "id" => self.close_id(out),
            _ => {}
        }
    }

    /// Records the type just read: its `ID`, and whether its name says it is a
    /// digital currency address.
    fn define_type(&mut self, name: Option<String>) {
        if let (Some(id), Some(name)) = (self.type_id.take(), name) {
            let is_address = name.trim().starts_with(DCA_PREFIX);
            self.feature_types.insert(id, is_address);
        }
    }

    fn feature_value(&mut self, value: Option<String>, out: &mut Collector) {
        let (Some(type_id), Some(value)) = (&self.feature, value) else {
            return;
        };
        match self.feature_types.get(type_id) {
            Some(true) => {
                self.advanced.listed += 1;
                out.offer(&value);
            }
            Some(false) => {}
            None => self.pending.push((type_id.clone(), value)),
        }
    }

    fn open_id(&mut self) {
        self.in_id = true;
        self.id_type = None;
        self.id_number = None;
    }

    fn close_id(&mut self, out: &mut Collector) {
        self.in_id = false;
        let id_type = self.id_type.take().unwrap_or_default();
        let number = self.id_number.take().unwrap_or_default();
        if id_type.trim().starts_with(DCA_PREFIX) {
            self.classic.listed += 1;
            out.offer(&number);
        }
    }

    /// Resolves the features read before their types, and names the shape the
    /// file had.
    fn finish(mut self, text: &str, mut out: Collector) -> Result<SanctionsList, SanctionsError> {
        if self.depth > 0 {
            let root = self.root.as_deref().unwrap_or_default();
            let detail = format!("the XML ends inside <{root}>: the file is cut short");
            return Err(line_error(line_at(text.as_bytes(), text.len()), detail));
        }
        for (type_id, value) in std::mem::take(&mut self.pending) {
            if self.feature_types.get(&type_id) == Some(&true) {
                self.advanced.listed += 1;
                out.offer(&value);
            }
        }
        let format = self.shape()?;
        let listed = match format {
            ListFormat::SdnAdvancedXml => self.advanced.listed,
            _ => self.classic.listed,
        };
        if listed == 0 {
            return Err(SanctionsError::NoAddresses(format));
        }
        Ok(out.finish(format))
    }

    /// The shape that listed addresses, or else the one whose elements were seen.
    fn shape(&self) -> Result<ListFormat, SanctionsError> {
        let (advanced, classic) = (&self.advanced, &self.classic);
        if advanced.listed > 0 && advanced.listed >= classic.listed {
            return Ok(ListFormat::SdnAdvancedXml);
        }
        if classic.listed > 0 {
            return Ok(ListFormat::SdnXml);
        }
        if advanced.seen {
            return Ok(ListFormat::SdnAdvancedXml);
        }
        if classic.seen {
            return Ok(ListFormat::SdnXml);
        }
        let root = self.root.as_deref().unwrap_or_default();
        let detail = format!(
            "XML with root element <{root}> is neither OFAC's SDN advanced XML \
             (<Sanctions>) nor its SDN XML (<sdnList>)"
        );
        Err(line_error(1, detail))
    }
}

/// The value of attribute `name` of `element`, trimmed.
fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, quick_xml::Error> {
    let found = element.try_get_attribute(name)?;
    Ok(found.map(|attribute| attribute.value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like OFAC's `sdn_advanced.xml`: its root and namespaces, the
    /// reference value sets before the parties, features of other types beside
    /// the digital currency addresses, and the sanctions entries after them.
    const ADVANCED_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <DateOfIssue CalendarTypeID="1">
    <Year>2025</Year>
    <Month>3</Month>
    <Day>4</Day>
  </DateOfIssue>
  <ReferenceValueSets>
    <AliasTypeValues>
      <AliasType ID="1400">A.K.A.</AliasType>
      <AliasType ID="1403">Name</AliasType>
    </AliasTypeValues>
    <FeatureTypeValues>
      <FeatureType ID="8" FeatureTypeGroupID="1">Birthdate</FeatureType>
      <FeatureType ID="14" FeatureTypeGroupID="1">Website</FeatureType>
      <FeatureType ID="21" FeatureTypeGroupID="1">Email Address</FeatureType>
      <FeatureType ID="224" FeatureTypeGroupID="1">Gender</FeatureType>
      <FeatureType ID="344" FeatureTypeGroupID="1">Digital Currency Address - XBT</FeatureType>
      <FeatureType ID="345" FeatureTypeGroupID="1">Digital Currency Address - ETH</FeatureType>
      <FeatureType ID="444" FeatureTypeGroupID="1">Digital Currency Address - XMR</FeatureType>
      <FeatureType ID="566" FeatureTypeGroupID="1">Digital Currency Address - LTC</FeatureType>
      <FeatureType ID="887" FeatureTypeGroupID="1">Digital Currency Address - USDT</FeatureType>
      <FeatureType ID="992" FeatureTypeGroupID="1">Digital Currency Address - TRX</FeatureType>
    </FeatureTypeValues>
    <DetailTypeValues>
      <DetailType ID="1430">DATE</DetailType>
      <DetailType ID="1431">LOOKUP</DetailType>
      <DetailType ID="1432">TEXT</DetailType>
    </DetailTypeValues>
  </ReferenceValueSets>
  <Locations>
    <Location ID="25">
      <LocationCountry CountryID="11272" CountryRelevanceID="1413" />
    </Location>
  </Locations>
  <IDRegDocuments />
  <DistinctParties>
    <DistinctParty FixedRef="29702">
      <Comment />
      <Profile ID="29702" PartySubTypeID="4">
        <Identity ID="21386" FixedRef="29702" Primary="true" False="false">
          <Alias FixedRef="29702" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="51262" FixedRef="29702" DocNameStatusID="1">
              <DocumentedNamePart>
                <NamePartValue NamePartGroupID="71502" ScriptID="215" ScriptStatusID="1" Acronym="false">LIFSHITS</NamePartValue>
              </DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="36608" FeatureTypeID="21">
          <FeatureVersion ID="34327" ReliabilityID="1">
            <Comment />
            <VersionDetail DetailTypeID="1432">mycryptodeals@yandex.ru</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="21386" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="36609" FeatureTypeID="224">
          <FeatureVersion ID="34328" ReliabilityID="1">
            <Comment />
            <VersionDetail DetailTypeID="1431" DetailReferenceID="91526" />
          </FeatureVersion>
          <IdentityReference IdentityID="21386" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="36616" FeatureTypeID="344">
          <FeatureVersion ID="34335" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">12udabs2TkX7NXCSj6KpqXfakjE52ZPLhz</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="21386" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="36618" FeatureTypeID="345">
          <FeatureVersion ID="34337" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">0x901bb9583b24d97e995513c6778dc6888ab6870e</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="21386" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="36620" FeatureTypeID="566">
          <FeatureVersion ID="34339" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">Leo3j36nn1JcsUQruytQhFUdCdCH5YHMR3</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="21386" IdentityFeatureLinkTypeID="1" />
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="27307">
      <Comment />
      <Profile ID="27307" PartySubTypeID="3">
        <Identity ID="19011" FixedRef="27307" Primary="true" False="false">
          <Alias FixedRef="27307" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="37268" FixedRef="27307" DocNameStatusID="1">
              <DocumentedNamePart>
                <NamePartValue NamePartGroupID="72496" ScriptID="215" ScriptStatusID="1" Acronym="false">LAZARUS GROUP</NamePartValue>
              </DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="50215" FeatureTypeID="345">
          <FeatureVersion ID="47914" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">0x098B716B8Aaf21512996dC57EB0615e2383E2f96</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="19011" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="50216" FeatureTypeID="887">
          <FeatureVersion ID="47915" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">0x098b716b8aaf21512996dc57eb0615e2383e2f96</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="19011" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="50217" FeatureTypeID="887">
          <FeatureVersion ID="47916" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">TGW3PzkTjkyKxLnG7BftcyhArEtuTrm6Yp</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="19011" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="50218" FeatureTypeID="344">
          <FeatureVersion ID="47917" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">bc1qvhnfknw852ephxyc5hm4q520zmvf9maphetc9z</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="19011" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="50219" FeatureTypeID="444">
          <FeatureVersion ID="47918" ReliabilityID="1560">
            <Comment />
            <VersionDetail DetailTypeID="1432">44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="19011" IdentityFeatureLinkTypeID="1" />
        </Feature>
        <Feature ID="50220" FeatureTypeID="14">
          <FeatureVersion ID="47919" ReliabilityID="1">
            <Comment />
            <VersionDetail DetailTypeID="1432">www.example.kp</VersionDetail>
          </FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
    <DistinctParty FixedRef="4632">
      <Comment />
      <Profile ID="4632" PartySubTypeID="3">
        <Feature ID="197667" FeatureTypeID="992">
          <FeatureVersion ID="197667" ReliabilityID="1">
            <Comment />
            <VersionDetail DetailTypeID="1432">TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81</VersionDetail>
          </FeatureVersion>
        </Feature>
      </Profile>
    </DistinctParty>
  </DistinctParties>
  <ProfileRelationships />
  <SanctionsEntries>
    <SanctionsEntry ID="27307" ProfileID="27307" ListID="1550">
      <EntryEvent ID="27307" EntryEventTypeID="1" LegalBasisID="1">
        <Comment />
        <Date CalendarTypeID="1"><Year>2019</Year><Month>9</Month><Day>13</Day></Date>
      </EntryEvent>
      <SanctionsMeasure ID="221839" SanctionsTypeID="1"><Comment>DPRK3</Comment></SanctionsMeasure>
    </SanctionsEntry>
  </SanctionsEntries>
</Sanctions>
"#;

    /// Shaped like OFAC's `sdn.xml`: CRLF line ends, its declaration, root and
    /// namespaces, and `<id>`s of other types beside the addresses.
    fn sdn_xml() -> String {
        let xml = r#"<?xml version="1.0" standalone="yes"?>
<sdnList xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML">
  <publshInformation>
    <Publish_Date>09/29/2025</Publish_Date>
    <Record_Count>3</Record_Count>
  </publshInformation>
  <sdnEntry>
    <uid>57118</uid>
    <firstName>Rodrigo</firstName>
    <lastName>ALARCON PALOMARES</lastName>
    <sdnType>Individual</sdnType>
    <programList>
      <program>ILLICIT-DRUGS-EO14059</program>
    </programList>
    <idList>
      <id>
        <uid>51344</uid>
        <idType>C.U.R.P.</idType>
        <idNumber>AAPR960621HSLLLD02</idNumber>
        <idCountry>Mexico</idCountry>
      </id>
      <id>
        <uid>196727</uid>
        <idType>Digital Currency Address - ETH</idType>
        <idNumber>0xaC4cC4B68ea24BbFAAC8fD127B67Ed445ACcCE22</idNumber>
      </id>
    </idList>
    <addressList>
      <address>
        <uid>87469</uid>
        <country>Mexico</country>
      </address>
    </addressList>
  </sdnEntry>
  <sdnEntry>
    <uid>4632</uid>
    <lastName>BANK MARKAZI JOMHOURI ISLAMI IRAN</lastName>
    <sdnType>Entity</sdnType>
    <programList>
      <program>IRAN</program>
      <program>SDGT</program>
    </programList>
    <idList>
      <id>
        <uid>185825</uid>
        <idType>Secondary sanctions risk:</idType>
        <idNumber>section 1(b) of Executive Order 13224</idNumber>
      </id>
      <id>
        <uid>197667</uid>
        <idType>Digital Currency Address - TRX</idType>
        <idNumber>TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81</idNumber>
      </id>
      <id>
        <uid>197668</uid>
        <idType>Digital Currency Address - TRX</idType>
        <idNumber>TTiDLWE6fZK8okMJv6ijg42yrH6W2pjSr9</idNumber>
      </id>
    </idList>
    <akaList>
      <aka>
        <uid>3553</uid>
        <type>a.k.a.</type>
        <category>strong</category>
        <lastName>CENTRAL BANK OF THE ISLAMIC REPUBLIC OF IRAN</lastName>
      </aka>
    </akaList>
  </sdnEntry>
  <sdnEntry>
    <uid>25308</uid>
    <firstName>Xiaobing</firstName>
    <lastName>YAN</lastName>
    <sdnType>Individual</sdnType>
    <idList>
      <id>
        <uid>120001</uid>
        <idType>Digital Currency Address - XBT</idType>
        <idNumber>12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h</idNumber>
      </id>
      <id>
        <uid>120002</uid>
        <idType>Digital Currency Address - XBT</idType>
        <idNumber>1Kuf2Rd8mDyAViwBozGTNYnvWL8uYFrkVo</idNumber>
      </id>
      <id>
        <uid>120003</uid>
        <idType>Digital Currency Address - ZEC</idType>
        <idNumber>t1g9J8RbTT4ZkRTWtGzRnYoaVbcPmF4ciPS</idNumber>
      </id>
    </idList>
  </sdnEntry>
</sdnList>
"#;
        xml.replace('\n', "\r\n")
    }

    /// Shaped like OFAC's `sdn.csv`: no header, CRLF line ends, `-0- ` for
    /// empty fields, commas inside quoted fields, and the DOS end-of-file byte.
    fn sdn_csv() -> String {
        let rows = [
            r#"10278,"LOGAN MOREY, Elvis Angus","individual","SDNT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 28 Jul 1963; POB Toledo District, Belize; Passport P0017003 (Belize); a.k.a. 'BURTON BURGESS'.""#,
            r#"29702,"LIFSHITS, Artem Mikhaylovich","individual","CYBER2] [ELECTION-EO13848",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 26 Dec 1992; nationality Russia; Email Address mycryptodeals@yandex.ru; Gender Male; Digital Currency Address - XBT 12udabs2TkX7NXCSj6KpqXfakjE52ZPLhz; alt. Digital Currency Address - XBT 1DT3tenf14cxz9WFNxmYrXFbB6TFiVWA9U; Digital Currency Address - ETH 0x901bb9583b24d97e995513c6778dc6888ab6870e; alt. Digital Currency Address - ETH 0xa7e5d5a720f06526557c513402f2e6b5fa20b008; Phone Number 79110354982; Digital Currency Address - LTC Leo3j36nn1JcsUQruytQhFUdCdCH5YHMR3; Digital Currency Address - DASH Xs3vzQmNvAxRa3Xo8XzQqUb3BMgb9EogF4; Passport 719032284.""#,
            r#"40716,"IRIS MAKRAN","vessel","IRAN",-0- ,-0- ,"Naval Auxiliary Vessel",-0- ,-0- ,"Iran",-0- ,"Vessel Registration Identification IMO 9486910; a.k.a. 'MAKRAN'.""#,
            r#"48603,"KHOROSHEV, Dmitry Yuryevich","individual","CYBER2",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 17 Apr 1993; Gender Male; Digital Currency Address - XBT bc1qvhnfknw852ephxyc5hm4q520zmvf9maphetc9z; a.k.a. 'LOCKBITSUPP'.""#,
            r#"27307,"LAZARUS GROUP",-0- ,"DPRK3",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"Digital Currency Address - ETH 0x098B716B8Aaf21512996dC57EB0615e2383E2f96; alt. Digital Currency Address - USDT TGW3PzkTjkyKxLnG7BftcyhArEtuTrm6Yp; alt. Digital Currency Address - ETH 0x098b716b8aaf21512996dc57eb0615e2383e2f96.""#,
            r#"52327,"TASCA","vessel","IRAN-EO13846",-0- ,"3E2647","Crude Oil Tanker",-0- ,-0- ,"Panama",-0- ,-0- "#,
        ];
        let mut csv = rows.join("\r\n");
        csv.push_str("\r\n");
        csv.push_str(&suex_row());
        csv.push_str("\r\n\u{1a}");
        csv
    }

    /// A record whose remarks reach OFAC's 1,000-character limit in the middle
    /// of its last address, as SUEX's does in the real file.
    fn suex_row() -> String {
        let head =
            "Website suex.io; Digital Currency Address - XBT 12HQDsicffSBaYdJ6BhnE22sfjTESmmzKx; ";
        let tail = "alt. Digital Currency Address - XBT 1B64QRxf";
        let filler = "Organization Established Date 25 Sep 2018; ";
        let mut remarks = head.to_owned();
        while remarks.len() + filler.len() + tail.len() <= REMARKS_LIMIT {
            remarks.push_str(filler);
        }
        let pad = REMARKS_LIMIT - remarks.len() - tail.len();
        remarks.push_str(&"x".repeat(pad));
        remarks.push_str(tail);
        assert_eq!(remarks.len(), REMARKS_LIMIT);
        format!(
            r#"33151,"SUEX OTC, S.R.O.",-0- ,"CYBER2",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"{remarks}""#
        )
    }

    fn line_of(error: SanctionsError) -> usize {
        match error {
            SanctionsError::Line { line, .. } => line,
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn reads_sdn_advanced_xml() {
        let list = SanctionsList::parse(ADVANCED_XML.as_bytes()).unwrap();
        assert_eq!(list.format(), Some(ListFormat::SdnAdvancedXml));
        assert_eq!(list.len(), 6);
        for address in [
            "12udabs2TkX7NXCSj6KpqXfakjE52ZPLhz",
            "0x901bb9583b24d97e995513c6778dc6888ab6870e",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96",
            "TGW3PzkTjkyKxLnG7BftcyhArEtuTrm6Yp",
            "bc1qvhnfknw852ephxyc5hm4q520zmvf9maphetc9z",
            "TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81",
        ] {
            assert!(list.contains(address), "{address}");
        }
        // Monero and Litecoin.
        assert_eq!(list.skipped(), 2);
        assert!(!list.contains("mycryptodeals@yandex.ru"));
        assert!(!list.contains("www.example.kp"));
    }

    #[test]
    fn advanced_xml_features_may_precede_their_types() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<sdn:Sanctions xmlns:sdn="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <sdn:DistinctParties>
    <sdn:DistinctParty FixedRef="1">
      <sdn:Profile ID="1">
        <sdn:Feature ID="1" FeatureTypeID="992">
          <sdn:FeatureVersion ID="1"><sdn:VersionDetail DetailTypeID="1432">
            TTiDLWE6fZK8okMJv6ijg42yrH6W2pjSr9
          </sdn:VersionDetail></sdn:FeatureVersion>
        </sdn:Feature>
        <sdn:Feature ID="2" FeatureTypeID="9">
          <sdn:FeatureVersion ID="2"><sdn:VersionDetail DetailTypeID="1432">1111111111111111111114oLvT2</sdn:VersionDetail></sdn:FeatureVersion>
        </sdn:Feature>
      </sdn:Profile>
    </sdn:DistinctParty>
  </sdn:DistinctParties>
  <sdn:ReferenceValueSets>
    <sdn:FeatureTypeValues>
      <sdn:FeatureType ID="9">Place of Birth</sdn:FeatureType>
      <sdn:FeatureType ID="992">Digital Currency Address - TRX</sdn:FeatureType>
    </sdn:FeatureTypeValues>
  </sdn:ReferenceValueSets>
</sdn:Sanctions>"#;
        let list = SanctionsList::parse(xml.as_bytes()).unwrap();
        assert_eq!(list.format(), Some(ListFormat::SdnAdvancedXml));
        assert_eq!(list.len(), 1);
        assert!(list.contains("TTiDLWE6fZK8okMJv6ijg42yrH6W2pjSr9"));
    }

    #[test]
    fn reads_sdn_xml() {
        let list = SanctionsList::parse(sdn_xml().as_bytes()).unwrap();
        assert_eq!(list.format(), Some(ListFormat::SdnXml));
        assert_eq!(list.len(), 5);
        assert!(list.contains("0xac4cc4b68ea24bbfaac8fd127b67ed445accce22"));
        assert!(list.contains("TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81"));
        assert!(list.contains("TTiDLWE6fZK8okMJv6ijg42yrH6W2pjSr9"));
        assert!(list.contains("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"));
        assert!(list.contains("1Kuf2Rd8mDyAViwBozGTNYnvWL8uYFrkVo"));
        assert!(!list.contains("AAPR960621HSLLLD02"));
        // Zcash.
        assert_eq!(list.skipped(), 1);
    }

    #[test]
    fn reads_sdn_csv() {
        let list = SanctionsList::parse(sdn_csv().as_bytes()).unwrap();
        assert_eq!(list.format(), Some(ListFormat::SdnCsv));
        for address in [
            "12udabs2TkX7NXCSj6KpqXfakjE52ZPLhz",
            "1DT3tenf14cxz9WFNxmYrXFbB6TFiVWA9U",
            "0x901bb9583b24d97e995513c6778dc6888ab6870e",
            "0xa7e5d5a720f06526557c513402f2e6b5fa20b008",
            "bc1qvhnfknw852ephxyc5hm4q520zmvf9maphetc9z",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96",
            "TGW3PzkTjkyKxLnG7BftcyhArEtuTrm6Yp",
            "12HQDsicffSBaYdJ6BhnE22sfjTESmmzKx",
        ] {
            assert!(list.contains(address), "{address}");
        }
        assert_eq!(list.len(), 8);
        // Litecoin and Dash.
        assert_eq!(list.skipped(), 2);
        // SUEX's last address, cut at the remarks limit.
        assert_eq!(list.truncated(), 1);
        assert!(!list.contains("1B64QRxf"));
    }

    #[test]
    fn a_short_csv_record_is_an_error_at_its_line() {
        let mut csv = sdn_csv();
        csv.truncate(csv.find("IRIS MAKRAN").unwrap() + 20);
        let error = SanctionsList::parse(csv.as_bytes()).unwrap_err();
        assert_eq!(line_of(error), 3);
    }

    #[test]
    fn a_csv_cut_inside_a_quoted_field_is_an_error() {
        let csv = sdn_csv();
        let cut = &csv[..csv
            .find("0x098B716B8Aaf21512996dC57EB0615e2383E2f96")
            .unwrap()];
        let error = SanctionsList::parse(cut.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("cut short"), "{error}");
        assert_eq!(line_of(error), 5);
        let lf = sdn_csv().replace("\r\n", "\n");
        let cut = &lf[..lf.find("IRIS MAKRAN").unwrap() + 20];
        assert_eq!(
            line_of(SanctionsList::parse(cut.as_bytes()).unwrap_err()),
            3
        );
    }

    #[test]
    fn reads_lines() {
        let text = "# sanctioned by the operator\n\
                    \n\
                    0x098B716B8Aaf21512996dC57EB0615e2383E2f96\n\
                    \t TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81   # USDT on TRON\r\n\
                    12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n\
                    3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy\n\
                    BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ\n\
                    tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx\n\
                    bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw\n\
                    mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\n\
                    n3GNqMveyvaPvUbH469vDRadqpJMPc84JA\n\
                    2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc\n\
                    # the end\n";
        let list = SanctionsList::parse(text.as_bytes()).unwrap();
        assert_eq!(list.format(), Some(ListFormat::Lines));
        assert_eq!(list.len(), 10);
        assert_eq!(list.skipped(), 0);
        assert!(list.contains("0x098b716b8aaf21512996dc57eb0615e2383e2f96"));
        assert!(list.contains(" 0X098B716B8AAF21512996DC57EB0615E2383E2F96 "));
        assert!(list.contains("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        assert!(list.contains("TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81"));
        // Base58 is case-sensitive.
        assert!(!list.contains("tniq9axbp9ejuqhdhrwrfvaa8u3guqzh81"));
        assert!(!list.contains("12qtd5bfwrsdnsazy76uve1xycgntojh9h"));
    }

    #[test]
    fn evm_addresses_compare_in_any_case() {
        let list = SanctionsList::parse(b"0xABCDEF0123456789abcdef0123456789ABCDEF01\n").unwrap();
        assert!(list.contains("0xabcdef0123456789abcdef0123456789abcdef01"));
        assert!(list.contains("0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"));
        assert_eq!(
            normalize("  0xAbCdEf0123456789aBcDeF0123456789AbCdEf01\n"),
            "0xabcdef0123456789abcdef0123456789abcdef01"
        );
        assert_eq!(
            normalize("TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81"),
            "TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH81"
        );
        assert!(matches!(normalize("bc1qabc"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let lines = b"\xEF\xBB\xBF12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n";
        let list = SanctionsList::parse(lines).unwrap();
        assert!(list.contains("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"));

        let xml = [b"\xEF\xBB\xBF".as_slice(), sdn_xml().as_bytes()].concat();
        assert_eq!(SanctionsList::parse(&xml).unwrap().len(), 5);

        let csv = [b"\xEF\xBB\xBF".as_slice(), sdn_csv().as_bytes()].concat();
        assert_eq!(
            SanctionsList::parse(&csv).unwrap().format(),
            Some(ListFormat::SdnCsv)
        );
    }

    #[test]
    fn a_line_that_is_no_address_is_an_error_naming_it() {
        let text = "# list\n0x098B716B8Aaf21512996dC57EB0615e2383E2f96\nLeo3j36nn1JcsUQruytQhFUdCdCH5YHMR3\n";
        let error = SanctionsList::parse(text.as_bytes()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("Leo3j36nn1JcsUQruytQhFUdCdCH5YHMR3"),
            "{message}"
        );
        assert_eq!(line_of(error), 3);

        for bad in [
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f9",
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f9g",
            "TNiq9AXBp9EjUqhDhrwrfvAA8U3GUQZH8l",
            "1BoatSLRHtKNngkdXEeobR76b53LETtpy0",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdb",
            "ltc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "bC1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h 1Kuf2Rd8mDyAViwBozGTNYnvWL8uYFrkVo",
        ] {
            assert!(SanctionsList::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_long_bad_line_is_shown_cut_to_80_characters() {
        let line = "é".repeat(200);
        let message = SanctionsList::parse(line.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("{}…", "é".repeat(80))),
            "{message}"
        );
        assert!(!message.contains(&"é".repeat(81)));
    }

    #[test]
    fn invalid_utf8_names_its_line_and_byte() {
        let bytes = b"12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n1Kuf2Rd8\xFFmDyAViwBozGTNYnvWL8uYFrkVo\n";
        match SanctionsList::parse(bytes) {
            Err(SanctionsError::Encoding { line, offset }) => {
                assert_eq!((line, offset), (2, 43));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_xml_is_an_error_with_a_line() {
        let cut_between_elements =
            &ADVANCED_XML[..ADVANCED_XML.find("<SanctionsEntries>").unwrap()];
        let error = SanctionsList::parse(cut_between_elements.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("cut short"), "{error}");
        assert_eq!(line_of(error), cut_between_elements.lines().count());

        let cut_in_tag = &ADVANCED_XML[..ADVANCED_XML.find("LAZARUS").unwrap() - 30];
        let tag_line = cut_in_tag[..cut_in_tag.rfind('<').unwrap()].lines().count();
        let error = SanctionsList::parse(cut_in_tag.as_bytes()).unwrap_err();
        assert_eq!(line_of(error), tag_line);

        let xml = sdn_xml();
        let mismatched = xml.replacen("</idType>", "</idTyp>", 1);
        let line = xml[..xml.find("</idType>").unwrap()].lines().count();
        assert_eq!(
            line_of(SanctionsList::parse(mismatched.as_bytes()).unwrap_err()),
            line
        );
    }

    #[test]
    fn an_ofac_file_without_addresses_is_refused() {
        let advanced = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
            <Sanctions xmlns=\"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML\">\n\
            <ReferenceValueSets><FeatureTypeValues><FeatureType ID=\"14\">Website</FeatureType></FeatureTypeValues></ReferenceValueSets>\n\
            <DistinctParties><DistinctParty FixedRef=\"1\"><Profile ID=\"1\"><Feature ID=\"1\" FeatureTypeID=\"14\">\
            <FeatureVersion ID=\"1\"><VersionDetail DetailTypeID=\"1432\">www.gicdf.org</VersionDetail></FeatureVersion>\
            </Feature></Profile></DistinctParty></DistinctParties>\n</Sanctions>\n";
        assert!(matches!(
            SanctionsList::parse(advanced.as_bytes()),
            Err(SanctionsError::NoAddresses(ListFormat::SdnAdvancedXml))
        ));

        let classic = "<?xml version=\"1.0\" standalone=\"yes\"?>\r\n<sdnList>\r\n<sdnEntry><uid>1</uid>\
            <idList><id><uid>2</uid><idType>Passport</idType><idNumber>X123</idNumber></id></idList></sdnEntry>\r\n</sdnList>\r\n";
        assert!(matches!(
            SanctionsList::parse(classic.as_bytes()),
            Err(SanctionsError::NoAddresses(ListFormat::SdnXml))
        ));

        let csv = "10278,\"LOGAN MOREY, Elvis Angus\",\"individual\",\"SDNT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 28 Jul 1963.\"\r\n\u{1a}";
        assert!(matches!(
            SanctionsList::parse(csv.as_bytes()),
            Err(SanctionsError::NoAddresses(ListFormat::SdnCsv))
        ));

        let html = "<!DOCTYPE html>\n<html><body><p>Service unavailable</p></body></html>\n";
        assert_eq!(
            line_of(SanctionsList::parse(html.as_bytes()).unwrap_err()),
            1
        );
    }

    #[test]
    fn other_chains_are_skipped_and_counted() {
        let xml = sdn_xml().replace(
            "0xaC4cC4B68ea24BbFAAC8fD127B67Ed445ACcCE22",
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
        );
        let list = SanctionsList::parse(xml.as_bytes()).unwrap();
        assert_eq!((list.len(), list.skipped()), (4, 2));

        let only_monero = "<sdnList><sdnEntry><idList><id><idType>Digital Currency Address - XMR</idType>\
            <idNumber>44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A</idNumber>\
            </id></idList></sdnEntry></sdnList>";
        let list = SanctionsList::parse(only_monero.as_bytes()).unwrap();
        assert!(list.is_empty());
        assert_eq!(list.skipped(), 1);
    }

    #[test]
    fn a_large_lines_file_parses() {
        let mut text = String::with_capacity(200_000 * 44);
        for i in 0..200_000u64 {
            text.push_str(&format!("0x{i:040x}\n"));
        }
        let list = SanctionsList::parse(text.as_bytes()).unwrap();
        assert_eq!(list.len(), 200_000);
        assert!(list.contains(&format!("0x{:040X}", 199_999)));
    }

    #[test]
    fn a_comment_with_commas_does_not_make_a_csv() {
        let text = "# a,b,c,d,e,f,g,h,i,j,k,l,m\n12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n";
        assert_eq!(
            SanctionsList::parse(text.as_bytes()).unwrap().format(),
            Some(ListFormat::Lines)
        );
    }

    #[test]
    fn empty_files_and_the_default() {
        let list = SanctionsList::default();
        assert!(list.is_empty());
        assert_eq!(list.format(), None);
        assert!(!list.contains("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"));
        let list = SanctionsList::parse(b"").unwrap();
        assert!(list.is_empty());
        assert_eq!(list.format(), Some(ListFormat::Lines));
    }

    #[test]
    fn the_size_limit_is_enforced() {
        assert!(check_size(512 * 1024 * 1024).is_ok());
        match check_size(512 * 1024 * 1024 + 1) {
            Err(SanctionsError::TooLarge { size, max }) => {
                assert_eq!((size, max), (MAX_FILE_BYTES + 1, MAX_FILE_BYTES))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_format_serializes_in_snake_case() {
        fn assert_serialize<T: serde::Serialize>(_: &T) {}
        assert_serialize(&ListFormat::SdnAdvancedXml);
    }

    #[test]
    fn no_prefix_or_corruption_of_a_sample_panics() {
        let samples = [
            ADVANCED_XML.to_owned(),
            sdn_xml(),
            sdn_csv(),
            "0x098B716B8Aaf21512996dC57EB0615e2383E2f96 # x\n".repeat(3),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for sample in &samples {
            let bytes = sample.as_bytes();
            for end in 0..=bytes.len() {
                let _ = SanctionsList::parse(&bytes[..end]);
            }
            for _ in 0..2_000 {
                let mut corrupted = bytes.to_vec();
                for _ in 0..4 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let at = (seed % corrupted.len() as u64) as usize;
                    corrupted[at] = (seed >> 32) as u8;
                }
                let _ = SanctionsList::parse(&corrupted);
            }
        }
    }
}
