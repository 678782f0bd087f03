//! `leadgraph import leads FILE.csv`: the CSV import of docs/import-export.md
//! on the command line, with a progress bar, a summary, the failed rows by
//! line and, with `--report`, the whole report as JSON.

use crate::auth::{Role, Viewer};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::imports::mapping::{self, Field};
use crate::imports::model::{DEFAULT_CHUNK_SIZE, ImportOptions, ImportReport, OnDuplicate};
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import leads from a CSV file (header line first; `,` `;` or tab).
    Leads(ImportLeadsArgs),
}

#[derive(Debug, Args)]
pub struct ImportLeadsArgs {
    /// The CSV file (UTF-8, with or without BOM); `-` reads standard input.
    pub file: PathBuf,
    /// Map a column to a lead field, overriding the header's aliases, e.g.
    /// `--map "Firma=company"`; `--map "Notes=ignore"` leaves a column out.
    #[arg(long = "map", value_name = "COLUMN=FIELD", value_parser = parse_map)]
    pub map: Vec<(String, Option<Field>)>,
    /// Rows whose email belongs to a stored lead: `update` its attributes
    /// with the row's non-empty cells, `skip` the row, or `fail` it.
    #[arg(long, default_value = "skip", value_parser = parse_on_duplicate)]
    pub on_duplicate: OnDuplicate,
    /// Read, check and look everything up; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `,` `;` `tab` or `|`; detected from the header line by default.
    #[arg(long, value_parser = mapping::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Rows per transaction (1 to 10,000).
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    pub chunk_size: usize,
    /// Write the whole report (every failed row) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Who the history names as the actor of the leads' creation; the
    /// import runs with ADMIN rights (whoever runs it reaches the database).
    #[arg(long, default_value = "system:import")]
    pub actor: String,
    /// Failed rows printed (all of them go to `--report`).
    #[arg(long, default_value_t = 50)]
    pub show_errors: usize,
}

fn parse_map(text: &str) -> Result<(String, Option<Field>), String> {
    mapping::parse_override(text)
}

fn parse_on_duplicate(text: &str) -> Result<OnDuplicate, String> {
    OnDuplicate::parse(text).ok_or_else(|| format!("{text:?}: use update, skip or fail"))
}

/// Run `leadgraph import …`: an error (exit code 1) when rows failed.
pub async fn run(config: &Config, command: ImportCommand) -> AppResult<()> {
    match command {
        ImportCommand::Leads(args) => import_leads(config, args).await,
    }
}

async fn import_leads(config: &Config, args: ImportLeadsArgs) -> AppResult<()> {
    let options = ImportOptions {
        mapping: args.map.clone(),
        on_duplicate: args.on_duplicate,
        dry_run: args.dry_run,
        delimiter: args.delimiter,
        chunk_size: args.chunk_size,
        max_errors_listed: None,
    };
    let (source, size): (Box<dyn std::io::Read + Send>, Option<u64>) =
        if args.file.as_os_str() == "-" {
            (Box::new(std::io::stdin()), None)
        } else {
            let file = std::fs::File::open(&args.file).map_err(|err| {
                AppError::config(
                    "FILE",
                    format!("cannot open {}: {err}", args.file.display()),
                )
            })?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        };
    crate::app::migrate(config).await?;
    let db = crate::db::Db::connect(config).await?;
    let user = crate::users::service::upsert(
        &db.write,
        &args.actor,
        Role::Admin,
        Some("CSV import".to_owned()),
        None,
    )
    .await?;
    let viewer = Viewer {
        user_id: user.id,
        subject: args.actor.clone(),
        role: Role::Admin,
        expires_at: i64::MAX,
    };
    let bar = progress_bar(size);
    let mut progress = |p: crate::imports::model::Progress| {
        if size.is_some() {
            bar.set_position(p.bytes);
        } else {
            bar.set_position(p.rows);
        }
        bar.set_message(format!("{} rows", p.rows));
    };
    let started = std::time::Instant::now();
    let result =
        crate::imports::service::import_leads(&viewer, &db, source, &options, &mut progress).await;
    bar.finish_and_clear();
    let report = result?;
    print_report(&report, args.show_errors, started.elapsed());
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report)
            .map_err(|err| AppError::internal_from("writing the report", err))?;
        std::fs::write(path, json).map_err(|err| {
            AppError::config(
                "--report",
                format!("cannot write {}: {err}", path.display()),
            )
        })?;
        println!("report written to {}", path.display());
    }
    if report.failed > 0 {
        return Err(AppError::config(
            "import",
            format!("{} rows were not imported (see above)", report.failed),
        ));
    }
    Ok(())
}

/// A bar over the file's bytes (rows when the size is unknown), drawn on
/// stderr only when it is a terminal.
fn progress_bar(size: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    match size {
        Some(bytes) => {
            let bar = indicatif::ProgressBar::new(bytes);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({elapsed}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            bar
        }
        None => indicatif::ProgressBar::new_spinner(),
    }
}

fn print_report(report: &ImportReport, show_errors: usize, elapsed: std::time::Duration) {
    let what = if report.dry_run {
        "dry run (nothing written)"
    } else {
        "imported"
    };
    println!(
        "{what}: {} rows read in {:.1} s — {} created, {} updated, {} unchanged, {} skipped, {} failed; {} moved to MQL",
        report.rows,
        elapsed.as_secs_f64(),
        report.created,
        report.updated,
        report.unchanged,
        report.skipped,
        report.failed,
        report.promoted_to_mql,
    );
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for error in report.errors.iter().take(show_errors) {
        let place = match (&error.column, &error.field) {
            (Some(column), Some(field)) => format!(" column {column:?} ({field})"),
            (None, Some(field)) => format!(" ({field})"),
            _ => String::new(),
        };
        eprintln!(
            "line {}{place}: {} [{}]",
            error.line, error.message, error.code
        );
    }
    let hidden = report.errors.len().saturating_sub(show_errors) as u64 + report.errors_not_listed;
    if hidden > 0 {
        eprintln!("… and {hidden} more failed rows (see --report FILE)");
    }
}
