//! The GraphQL face of CSV import: `importLeads`'s options and report.

use super::mapping::{self, parse_target};
use super::model::{self, ImportOptions, ImportReport, OnDuplicate, RowError};
use crate::error::{AppError, AppResult};
use async_graphql::{Enum, InputObject, SimpleObject};

/// What to do with a row whose email belongs to a stored lead.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::imports::model::OnDuplicate")]
pub enum ImportDuplicateMode {
    /// Overwrite the lead's attributes with the row's non-empty cells.
    Update,
    /// Leave the lead as it is; the row counts as skipped.
    Skip,
    /// Report the row as a `CONFLICT`.
    Fail,
}

/// One column of the file mapped by hand, overriding the header's aliases.
#[derive(InputObject, Debug)]
pub struct ImportColumnMapping {
    /// The column's header, as in the file.
    pub column: String,
    /// The lead field it fills (`email`, `firstName`, `lastName`, `company`,
    /// `jobTitle`, `country`, `companySize`, `industry`, `phone`,
    /// `sourceChannel`, `campaign`, or an alias); `null` or `ignore` leaves
    /// the column out.
    pub field: Option<String>,
}

/// How `importLeads` reads and writes the file.
#[derive(InputObject, Debug, Default)]
pub struct ImportLeadsOptions {
    /// Columns mapped by hand; the others map by their header.
    pub mapping: Option<Vec<ImportColumnMapping>>,
    /// Rows of stored leads (same email): default `SKIP`.
    pub on_duplicate: Option<ImportDuplicateMode>,
    /// Check everything and report what would happen; write nothing.
    #[graphql(default = false)]
    pub dry_run: bool,
    /// `,`, `;`, `tab` or `|`; detected from the header line when absent.
    pub delimiter: Option<String>,
    /// Rows per transaction, 1 to 10,000 (default 500).
    pub chunk_size: Option<i32>,
}

/// Row errors listed in an `importLeads` answer; `errorsNotListed` counts the rest.
pub const MAX_ERRORS_LISTED: usize = 1000;

impl ImportLeadsOptions {
    pub fn into_domain(self, prefix: &str) -> AppResult<ImportOptions> {
        let mut options = ImportOptions {
            on_duplicate: self.on_duplicate.map_or(OnDuplicate::default(), Into::into),
            dry_run: self.dry_run,
            max_errors_listed: Some(MAX_ERRORS_LISTED),
            ..ImportOptions::default()
        };
        for (i, entry) in self.mapping.unwrap_or_default().into_iter().enumerate() {
            let field = parse_target(entry.field.as_deref().unwrap_or(""))
                .map_err(|m| AppError::bad_input(format!("{prefix}mapping.{i}.field"), m))?;
            options.mapping.push((entry.column, field));
        }
        if let Some(text) = self.delimiter {
            options.delimiter = Some(
                mapping::parse_delimiter(&text)
                    .map_err(|m| AppError::bad_input(format!("{prefix}delimiter"), m))?,
            );
        }
        if let Some(size) = self.chunk_size {
            options.chunk_size = usize::try_from(size)
                .ok()
                .filter(|s| (1..=model::MAX_CHUNK_SIZE).contains(s))
                .ok_or_else(|| {
                    AppError::bad_input(
                        format!("{prefix}chunkSize"),
                        format!("chunkSize must be between 1 and {}", model::MAX_CHUNK_SIZE),
                    )
                })?;
        }
        Ok(options)
    }
}

/// One row that was not imported.
#[derive(SimpleObject, Debug)]
pub struct ImportRowError {
    /// The line of the file where the row starts; the header is line 1.
    pub line: i32,
    /// The column at fault, as the header names it.
    pub column: Option<String>,
    /// The lead field at fault (`email`, `country`, …).
    pub field: Option<String>,
    /// `BAD_USER_INPUT`, `CONFLICT`, `NOT_FOUND`, `FORBIDDEN` or `INTERNAL_SERVER_ERROR`.
    pub code: String,
    pub message: String,
}

/// How one column of the header was read.
#[derive(SimpleObject, Debug)]
pub struct ImportColumn {
    /// The header, as in the file.
    pub column: String,
    /// The lead field it filled; `null`: not imported.
    pub field: Option<String>,
}

/// What an import did (or, with `dryRun`, would do). Every row is counted
/// once: `rows = created + updated + unchanged + skipped + failed`.
#[derive(SimpleObject, Debug)]
pub struct ImportLeadsReport {
    pub dry_run: bool,
    /// Data rows read (the header not counted).
    pub rows: i32,
    /// New leads.
    pub created: i32,
    /// Stored leads whose attributes changed (`onDuplicate: UPDATE`).
    pub updated: i32,
    /// Stored leads a row matched without changing them.
    pub unchanged: i32,
    /// Rows of stored leads left alone (`onDuplicate: SKIP`).
    pub skipped: i32,
    /// Rows not imported.
    pub failed: i32,
    /// Imported leads that scoring moved to MQL at once.
    pub promoted_to_mql: i32,
    /// The delimiter read (`,`, `;`, `\t`, `|`).
    pub delimiter: String,
    pub columns: Vec<ImportColumn>,
    /// Facts that failed no row, such as columns that were not imported.
    pub warnings: Vec<String>,
    /// The failed rows in line order, at most 1,000.
    pub errors: Vec<ImportRowError>,
    /// Failed rows beyond those listed.
    pub errors_not_listed: i32,
}

fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<RowError> for ImportRowError {
    fn from(e: RowError) -> Self {
        ImportRowError {
            line: int(e.line),
            column: e.column,
            field: e.field,
            code: e.code,
            message: e.message,
        }
    }
}

impl From<ImportReport> for ImportLeadsReport {
    fn from(r: ImportReport) -> Self {
        ImportLeadsReport {
            dry_run: r.dry_run,
            rows: int(r.rows),
            created: int(r.created),
            updated: int(r.updated),
            unchanged: int(r.unchanged),
            skipped: int(r.skipped),
            failed: int(r.failed),
            promoted_to_mql: int(r.promoted_to_mql),
            delimiter: r.delimiter,
            columns: r
                .columns
                .into_iter()
                .map(|c| ImportColumn {
                    column: c.column,
                    field: c.field,
                })
                .collect(),
            warnings: r.warnings,
            errors: r.errors.into_iter().map(Into::into).collect(),
            errors_not_listed: int(r.errors_not_listed),
        }
    }
}
