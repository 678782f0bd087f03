//! Importing leads from CSV: the file read row by row, checked, and written
//! in chunks, each chunk in one transaction through the lead service's bulk
//! paths (docs/import-export.md).

use super::mapping::{self, Field, Mapping, map_header};
use super::model::{
    ColumnRead, ImportOptions, ImportReport, MAX_CHUNK_SIZE, OnDuplicate, Progress, RowError,
};
use super::row::{Campaigns, read_row};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability, LeadAction};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::LeadStage;
use crate::leads::service::{self as leads, CheckedLead, Updated};
use entity::{campaign, lead};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A row read and checked, waiting for its chunk to be written.
struct Row {
    line: u64,
    lead: CheckedLead,
}

/// What one chunk did, merged into the report once it committed.
#[derive(Default)]
struct ChunkOutcome {
    created: u64,
    updated: u64,
    unchanged: u64,
    skipped: u64,
    promoted: u64,
    errors: Vec<RowError>,
}

/// Import the leads of a CSV file (`leadgraph import leads`, `importLeads`).
///
/// Nothing is written when the file cannot be read as a whole — no header,
/// no email column, a mapping that names a missing column, an undecodable
/// header — and the error is `BAD_USER_INPUT` (on `file` or `mapping`).
/// Otherwise every row is counted once in the report: imported, updated,
/// left alone, or failed with its line, column, field and code. Rows are
/// written [`ImportOptions::chunk_size`] at a time, each chunk in one
/// transaction: a bad row fails alone, a database error rolls its whole
/// chunk back and fails each of its rows. `progress` is called after each
/// chunk.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject, dry_run = options.dry_run))]
pub async fn import_leads<R: Read + Send>(
    viewer: &Viewer,
    db: &Db,
    source: R,
    options: &ImportOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> AppResult<ImportReport> {
    policy::require(viewer, Capability::ImportLeads)?;
    if !(1..=MAX_CHUNK_SIZE).contains(&options.chunk_size) {
        return Err(AppError::bad_input(
            "chunkSize",
            format!("chunkSize must be between 1 and {MAX_CHUNK_SIZE}"),
        ));
    }
    let mut buffered = BufReader::with_capacity(64 * 1024, source);
    let start = buffered
        .fill_buf()
        .map_err(|err| AppError::bad_input("file", format!("the file cannot be read: {err}")))?;
    let bom = start.starts_with(BOM);
    if bom {
        buffered.consume(BOM.len());
    }
    let start = buffered
        .fill_buf()
        .map_err(|err| AppError::bad_input("file", format!("the file cannot be read: {err}")))?;
    if start.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_input(
            "file",
            "the file is empty: a header line naming the columns comes first",
        ));
    }
    let delimiter = options
        .delimiter
        .unwrap_or_else(|| mapping::detect_delimiter(start));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(buffered);
    let mapping = read_header(&mut reader, options)?;
    let mut report = ImportReport {
        dry_run: options.dry_run,
        delimiter: mapping::delimiter_text(delimiter),
        columns: mapping
            .headers
            .iter()
            .zip(&mapping.columns)
            .map(|(h, f)| ColumnRead {
                column: h.clone(),
                field: f.map(|f| f.name().to_owned()),
            })
            .collect(),
        ..ImportReport::default()
    };
    if !mapping.unknown.is_empty() {
        report.warnings.push(format!(
            "columns not imported (no lead field has these names; map them with column=field): {}",
            mapping.unknown.join(", ")
        ));
    }
    let campaigns = if mapping.column_of(Field::Campaign).is_some() {
        campaign_directory(&db.read).await?
    } else {
        Campaigns::default()
    };
    let cap = options.max_errors_listed;
    // The first line of each email in the file: a later row is a duplicate.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    let mut chunk: Vec<Row> = Vec::with_capacity(options.chunk_size);
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(err) => {
                let line = reader.position().line();
                report.warnings.push(format!(
                    "reading stopped at line {line}: {err}; the rows after it were not read"
                ));
                false
            }
        };
        if more {
            report.rows += 1;
            let line = record.position().map_or(0, |p| p.line());
            let end_line = reader.position().line().saturating_sub(1).max(line);
            match read_row(&record, line, end_line, &mapping, &campaigns) {
                Ok(lead) => match seen.get(&lead.email) {
                    Some(first) => report.fail(
                        RowError {
                            line,
                            column: mapping
                                .column_of(Field::Email)
                                .map(|i| mapping.headers[i].clone()),
                            field: Some(Field::Email.name().to_owned()),
                            code: "CONFLICT".into(),
                            message: format!(
                                "{} is on line {first} of this file already; each lead is imported once",
                                lead.email
                            ),
                        },
                        cap,
                    ),
                    None => {
                        seen.insert(lead.email.clone(), line);
                        chunk.push(Row { line, lead });
                    }
                },
                Err(error) => report.fail(error, cap),
            }
        }
        if chunk.len() >= options.chunk_size || (!more && !chunk.is_empty()) {
            let rows = std::mem::take(&mut chunk);
            write_chunk(viewer, db, rows, options, &mut report).await;
            progress(Progress {
                bytes: reader.position().byte() + if bom { 3 } else { 0 },
                rows: report.rows,
            });
        }
        if !more {
            break;
        }
    }
    report.errors.sort_by_key(|e| e.line);
    tracing::info!(
        rows = report.rows,
        created = report.created,
        updated = report.updated,
        skipped = report.skipped,
        failed = report.failed,
        "imported leads"
    );
    Ok(report)
}

fn read_header<R: Read>(
    reader: &mut csv::Reader<R>,
    options: &ImportOptions,
) -> AppResult<Mapping> {
    let header = reader
        .byte_headers()
        .map_err(|err| AppError::bad_input("file", format!("the header cannot be read: {err}")))?;
    let headers = header
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            std::str::from_utf8(cell).map(str::to_owned).map_err(|_| {
                AppError::bad_input(
                    "file",
                    format!(
                        "column {} of the header is not valid UTF-8; save the file as UTF-8",
                        i + 1
                    ),
                )
            })
        })
        .collect::<AppResult<Vec<String>>>()?;
    map_header(&headers, &options.mapping).map_err(|err| {
        let field = match err {
            mapping::HeaderError::NoSuchColumn(_) | mapping::HeaderError::OverriddenTwice(_) => {
                "mapping"
            }
            _ => "file",
        };
        AppError::bad_input(field, err.to_string())
    })
}

async fn campaign_directory(db: &impl ConnectionTrait) -> AppResult<Campaigns> {
    let rows: Vec<(i64, String)> = campaign::Entity::find()
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Name])
        .into_tuple()
        .all(db)
        .await?;
    Ok(Campaigns::new(rows))
}

/// Write (or, in a dry run, weigh) one chunk and merge its outcome into the
/// report. A chunk that loses a race on a new email (another writer created
/// the lead meanwhile) is tried once more; any other failure rolls it back
/// and fails each of its rows with the chunk's error.
async fn write_chunk(
    viewer: &Viewer,
    db: &Db,
    rows: Vec<Row>,
    options: &ImportOptions,
    report: &mut ImportReport,
) {
    let cap = options.max_errors_listed;
    let mut outcome = if options.dry_run {
        weigh_chunk(viewer, &db.read, &rows, options.on_duplicate).await
    } else {
        match write_once(viewer, db, &rows, options.on_duplicate).await {
            Err(AppError::Conflict { .. }) => {
                write_once(viewer, db, &rows, options.on_duplicate).await
            }
            other => other,
        }
    };
    if let Err(err) = &outcome {
        tracing::warn!(error = %err, first_line = rows.first().map(|r| r.line), "an import chunk failed and was rolled back");
        let (first, last) = (
            rows.first().map_or(0, |r| r.line),
            rows.last().map_or(0, |r| r.line),
        );
        let message = format!(
            "not imported: the rows of lines {first}–{last} were written together and rolled back ({})",
            err.public_message()
        );
        for row in &rows {
            report.fail(
                RowError {
                    line: row.line,
                    column: None,
                    field: None,
                    code: err.code().to_owned(),
                    message: message.clone(),
                },
                cap,
            );
        }
        return;
    }
    if let Ok(done) = &mut outcome {
        report.created += done.created;
        report.updated += done.updated;
        report.unchanged += done.unchanged;
        report.skipped += done.skipped;
        report.promoted_to_mql += done.promoted;
        for error in done.errors.drain(..) {
            report.fail(error, cap);
        }
    }
}

/// The `CONFLICT` of a row whose email is stored (`--on-duplicate fail`).
fn stored_already(row: &Row) -> RowError {
    RowError {
        line: row.line,
        column: None,
        field: Some(Field::Email.name().to_owned()),
        code: "CONFLICT".into(),
        message: format!("a lead with the email {} exists already", row.lead.email),
    }
}

fn row_error(row: &Row, err: &AppError) -> RowError {
    RowError {
        line: row.line,
        column: None,
        field: None,
        code: err.code().to_owned(),
        message: err.public_message(),
    }
}

/// One chunk in one transaction.
async fn write_once(
    viewer: &Viewer,
    db: &Db,
    rows: &[Row],
    on_duplicate: OnDuplicate,
) -> AppResult<ChunkOutcome> {
    let txn = db.write.begin().await?;
    let emails: Vec<&str> = rows.iter().map(|r| r.lead.email.as_str()).collect();
    let stored = leads::ids_by_emails(&txn, &emails).await?;
    let mut outcome = ChunkOutcome::default();
    let mut new = Vec::new();
    let mut updates = Vec::new();
    let mut updated_rows = Vec::new();
    for row in rows {
        match (stored.get(&row.lead.email), on_duplicate) {
            (None, _) => new.push(row.lead.clone()),
            (Some(_), OnDuplicate::Skip) => outcome.skipped += 1,
            (Some(_), OnDuplicate::Fail) => outcome.errors.push(stored_already(row)),
            (Some(id), OnDuplicate::Update) => {
                updates.push((*id, row.lead.clone()));
                updated_rows.push(row);
            }
        }
    }
    let created = leads::insert_many(viewer, &txn, new).await?;
    outcome.created = created.len() as u64;
    outcome.promoted += created
        .iter()
        .filter(|l| l.stage == LeadStage::Mql.code())
        .count() as u64;
    let answers = leads::update_many(viewer, &txn, updates).await?;
    for (row, answer) in updated_rows.into_iter().zip(answers) {
        match answer {
            Ok(Updated::Changed { promoted, .. }) => {
                outcome.updated += 1;
                outcome.promoted += u64::from(promoted);
            }
            Ok(Updated::Unchanged) => outcome.unchanged += 1,
            Err(err) => outcome.errors.push(row_error(row, &err)),
        }
    }
    txn.commit().await?;
    Ok(outcome)
}

/// A dry run of one chunk: the same lookups and checks, no write.
async fn weigh_chunk(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    rows: &[Row],
    on_duplicate: OnDuplicate,
) -> AppResult<ChunkOutcome> {
    let emails: Vec<&str> = rows.iter().map(|r| r.lead.email.as_str()).collect();
    let stored = leads::ids_by_emails(db, &emails).await?;
    let current: HashMap<i64, lead::Model> = if on_duplicate == OnDuplicate::Update {
        lead::Entity::find()
            .filter(lead::Column::Id.is_in(stored.values().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect()
    } else {
        HashMap::new()
    };
    let mut outcome = ChunkOutcome::default();
    for row in rows {
        match (stored.get(&row.lead.email), on_duplicate) {
            (None, _) => outcome.created += 1,
            (Some(_), OnDuplicate::Skip) => outcome.skipped += 1,
            (Some(_), OnDuplicate::Fail) => outcome.errors.push(stored_already(row)),
            (Some(id), OnDuplicate::Update) => {
                let Some(lead) = current.get(id) else {
                    outcome
                        .errors
                        .push(row_error(row, &AppError::not_found("lead")));
                    continue;
                };
                match leads::authorize(viewer, lead, LeadAction::UpdateFields) {
                    Err(err) => outcome.errors.push(row_error(row, &err)),
                    Ok(_) if leads::overwrite(lead, &row.lead) == *lead => outcome.unchanged += 1,
                    Ok(_) => outcome.updated += 1,
                }
            }
        }
    }
    Ok(outcome)
}
