//! What an import takes and what it reports, in the domain's terms.

use super::mapping::Field;

/// What to do with a row whose email belongs to a lead already stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Overwrite the lead's attributes with the row's non-empty cells.
    Update,
    /// Leave the lead as it is and count the row as skipped (the default:
    /// an import never changes a stored lead unless asked to).
    #[default]
    Skip,
    /// Report the row as a `CONFLICT`.
    Fail,
}

impl OnDuplicate {
    /// `update`, `skip` or `fail`, any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "update" => Some(OnDuplicate::Update),
            "skip" => Some(OnDuplicate::Skip),
            "fail" => Some(OnDuplicate::Fail),
            _ => None,
        }
    }
}

/// Rows per transaction unless told otherwise.
pub const DEFAULT_CHUNK_SIZE: usize = 500;
/// The largest chunk: one transaction never holds more rows than a batch
/// of `recordInteractions` holds items times ten.
pub const MAX_CHUNK_SIZE: usize = 10_000;

/// How to import a file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// `(column, field)` overrides of the header mapping: the column's
    /// header text as in the file, `None` to ignore the column.
    pub mapping: Vec<(String, Option<Field>)>,
    pub on_duplicate: OnDuplicate,
    /// Read and check everything, look the emails and campaigns up, write
    /// nothing: the report says what an import would do.
    pub dry_run: bool,
    /// `None`: detected from the header line (`,`, `;` or tab).
    pub delimiter: Option<u8>,
    /// Rows per transaction (1 ..= [`MAX_CHUNK_SIZE`]).
    pub chunk_size: usize,
    /// Row errors kept in the report; the count of failed rows is always
    /// exact. `None`: all of them.
    pub max_errors_listed: Option<usize>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            mapping: Vec::new(),
            on_duplicate: OnDuplicate::default(),
            dry_run: false,
            delimiter: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_errors_listed: None,
        }
    }
}

/// Why one row was not imported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowError {
    /// The physical line of the file where the row starts (the header is
    /// line 1; a quoted newline makes a row span several lines).
    pub line: u64,
    /// The column's header, as in the file, when one column is at fault.
    pub column: Option<String>,
    /// The lead field that column maps to (`email`, `companySize`, …).
    pub field: Option<String>,
    /// `BAD_USER_INPUT`, `CONFLICT`, `FORBIDDEN`, `INTERNAL_SERVER_ERROR`.
    pub code: String,
    pub message: String,
}

/// How far an import has got, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file read so far.
    pub bytes: u64,
    /// Rows read so far.
    pub rows: u64,
}

/// One column of the header and the lead field it fills (`None`: not imported).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ColumnRead {
    pub column: String,
    pub field: Option<String>,
}

/// What an import did (or, in a dry run, would do). Every row read is
/// counted exactly once: `rows = created + updated + unchanged + skipped + failed`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// New leads.
    pub created: u64,
    /// Stored leads whose attributes changed (`--on-duplicate update`).
    pub updated: u64,
    /// Stored leads the row matched but did not change (`update`: the
    /// same values were stored already).
    pub unchanged: u64,
    /// Rows of stored leads left alone (`--on-duplicate skip`).
    pub skipped: u64,
    /// Rows not imported, each in `errors` (up to the listing cap).
    pub failed: u64,
    /// The delimiter read, as text (`","`, `";"`, `"\t"`).
    pub delimiter: String,
    /// How each column of the header was read.
    pub columns: Vec<ColumnRead>,
    /// Things worth knowing that failed no row (unknown columns, …).
    pub warnings: Vec<String>,
    /// The row errors, in line order, up to the cap of the options.
    pub errors: Vec<RowError>,
    /// Row errors left out of `errors` by the cap.
    pub errors_not_listed: u64,
    /// Leads moved to MQL by scoring right after their import.
    pub promoted_to_mql: u64,
}

impl ImportReport {
    pub(super) fn fail(&mut self, error: RowError, cap: Option<usize>) {
        self.failed += 1;
        if cap.is_none_or(|cap| self.errors.len() < cap) {
            self.errors.push(error);
        } else {
            self.errors_not_listed += 1;
        }
    }
}
