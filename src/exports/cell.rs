//! How one CSV row is written (pure): RFC 4180 quoting by the `csv` crate,
//! CRLF line ends, and text cells made safe to open in a spreadsheet.
//!
//! Spreadsheet safety ("CSV injection", OWASP): a text cell whose first
//! non-blank character is `=`, `+`, `-` or `@`, or that starts with a tab
//! or a carriage return, would be read by Excel, LibreOffice or Google
//! Sheets as a formula; it is written with a leading `'`, which they show
//! as text. Only text that came from outside (names, companies, reasons …)
//! goes through [`text`]; the numbers, dates and codes leadgraph writes
//! itself (a score of `-5`, an ROI of `-0.25`) stay numbers. A NUL byte is
//! never written: it becomes U+FFFD.

use std::borrow::Cow;

/// The UTF-8 byte order mark Excel needs to read a file as UTF-8.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// `value` as a text cell: NULs replaced, a formula-like start escaped.
pub fn text(value: &str) -> Cow<'_, str> {
    let cleaned: Cow<'_, str> = if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    };
    if looks_like_formula(&cleaned) {
        Cow::Owned(format!("'{cleaned}"))
    } else {
        cleaned
    }
}

/// An optional text cell: empty when absent.
pub fn opt_text(value: Option<&str>) -> Cow<'_, str> {
    value.map(text).unwrap_or(Cow::Borrowed(""))
}

fn looks_like_formula(value: &str) -> bool {
    if value.starts_with(['\t', '\r']) {
        return true;
    }
    value
        .trim_start_matches([' ', '\n'])
        .starts_with(FORMULA_STARTS)
}

/// A CSV writer over a buffer, as every export writes: `,`, CRLF, quotes
/// only where RFC 4180 needs them.
pub fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new())
}

/// A number written by leadgraph: as Rust prints it (the shortest text
/// that reads back as the same `f64`, as the GraphQL JSON gives it).
pub fn float(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_starts_are_escaped() {
        for (raw, cell) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("  =1+1", "'  =1+1"),
            ("\n=1", "'\n=1"),
            ("Ada", "Ada"),
            ("a=b", "a=b"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(text(raw), cell, "{raw:?}");
        }
    }

    #[test]
    fn nul_is_never_written() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(text("\0=x"), "\u{FFFD}=x");
    }

    #[test]
    fn rows_are_rfc_4180() {
        let mut w = writer();
        w.write_record(["a,b", "say \"hi\"", "two\nlines", "plain"])
            .unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",plain\r\n"
        );
    }

    proptest! {
        /// Whatever the text, the written cell reads back as the text (with
        /// at most a leading `'`), never starts like a formula, holds no NUL,
        /// and the row parses back to one record of the same width.
        #[test]
        fn any_text_round_trips_safely(values in prop::collection::vec(any::<String>(), 1..5)) {
            let cells: Vec<String> = values.iter().map(|v| text(v).into_owned()).collect();
            for (value, cell) in values.iter().zip(&cells) {
                prop_assert!(!cell.contains('\0'));
                prop_assert!(!looks_like_formula(cell) || cell.starts_with('\''));
                let unescaped = cell.strip_prefix('\'').filter(|_| looks_like_formula(&value.replace('\0', "\u{FFFD}"))).unwrap_or(cell);
                prop_assert_eq!(unescaped, value.replace('\0', "\u{FFFD}"));
            }
            let mut w = writer();
            w.write_record(&cells).unwrap();
            let bytes = w.into_inner().unwrap();
            let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
            let record = r.records().next().unwrap().unwrap();
            let read: Vec<&str> = record.iter().collect();
            prop_assert_eq!(read, cells.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
