//! `leadgraph export leads|kpis`: the HTTP exports for an operator at the
//! database, written to stdout or `--output FILE`.
//!
//! The operator sees what ADMIN sees. `--as-role ROLE [--as-sub SUBJECT]`
//! answers as that role (and, for SALES, as that user: its own leads are in
//! its scope) would over HTTP — to check what a rep's export holds. The
//! flags become the HTTP parameters and go through the same parser
//! (`exports::params`), so both refuse the same input.

use super::leads::ExportSettings;
use super::params;
use crate::auth::{Role, Viewer};
use crate::config::Config;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use clap::{Args, Subcommand};
use entity::app_user;
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Leads as CSV, filtered like the GraphQL `leads` filter.
    Leads(Box<LeadArgs>),
    /// A KPI table (`funnel` or `cost-per-lead`) as CSV.
    Kpis(KpiArgs),
}

/// Where the CSV goes, and whose view it is.
#[derive(Debug, Args)]
pub struct Output {
    /// Write to FILE (written whole, then renamed into place) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Start with a UTF-8 byte order mark, for Excel.
    #[arg(long)]
    pub bom: bool,
    /// Answer as this role would (ADMIN, MARKETING, SALES, INGEST); default ADMIN.
    #[arg(long, value_name = "ROLE")]
    pub as_role: Option<String>,
    /// With `--as-role`: the subject (`sub` claim) of the user to answer as.
    #[arg(long, value_name = "SUBJECT", requires = "as_role")]
    pub as_sub: Option<String>,
}

#[derive(Debug, Args)]
pub struct LeadArgs {
    /// Stage(s): LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER, DISQUALIFIED (repeat or comma-separate).
    #[arg(long)]
    pub stage: Vec<String>,
    /// Source channel(s), e.g. PAID_SEARCH.
    #[arg(long)]
    pub channel: Vec<String>,
    /// Source campaign id(s) (global ids).
    #[arg(long)]
    pub campaign_id: Vec<String>,
    /// Persona id(s) (global ids).
    #[arg(long)]
    pub persona_id: Vec<String>,
    /// The owner's user id (global id).
    #[arg(long)]
    pub owner_id: Option<String>,
    /// `true`: only unowned leads; `false`: only owned ones.
    #[arg(long)]
    pub unassigned: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub score_min: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub score_max: Option<String>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub created_from: Option<String>,
    /// Created before (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub created_to: Option<String>,
    /// Case-insensitive match on email, names and company.
    #[arg(long)]
    pub search: Option<String>,
    /// SCORE, CREATED_AT (default), UPDATED_AT or STAGE_CHANGED_AT.
    #[arg(long)]
    pub order_by: Option<String>,
    /// ASC or DESC (default).
    #[arg(long)]
    pub direction: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct KpiArgs {
    /// funnel or cost-per-lead.
    #[arg(long)]
    pub report: String,
    /// NONE, CHANNEL, CAMPAIGN or PERSONA (default: funnel NONE, cost-per-lead CHANNEL).
    #[arg(long)]
    pub group_by: Option<String>,
    /// Start of the period, included (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: String,
    /// End of the period, excluded.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub output: Output,
}

/// The HTTP parameter of each flag (for the pairs and for error messages).
const FLAGS: [(&str, &str); 17] = [
    ("stage", "--stage"),
    ("channel", "--channel"),
    ("campaignId", "--campaign-id"),
    ("personaId", "--persona-id"),
    ("ownerId", "--owner-id"),
    ("unassigned", "--unassigned"),
    ("scoreMin", "--score-min"),
    ("scoreMax", "--score-max"),
    ("createdFrom", "--created-from"),
    ("createdTo", "--created-to"),
    ("search", "--search"),
    ("orderBy", "--order-by"),
    ("direction", "--direction"),
    ("report", "--report"),
    ("groupBy", "--group-by"),
    ("from", "--from"),
    ("to", "--to"),
];

/// A parser error in the command line's words: `--created-from`, not `createdFrom`.
fn in_flags(err: AppError) -> AppError {
    match err {
        AppError::BadInput { field, message } => {
            let flag = FLAGS
                .iter()
                .find(|(param, _)| *param == field)
                .map_or(field.as_str(), |(_, flag)| flag);
            let message = FLAGS.iter().fold(message, |m, (param, flag)| {
                m.replace(&format!("`{param}`"), flag)
            });
            AppError::bad_input(flag, format!("{flag}: {message}"))
        }
        other => other,
    }
}

fn push(pairs: &mut Vec<(String, String)>, name: &str, value: Option<&String>) {
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.clone()));
    }
}

fn push_all(pairs: &mut Vec<(String, String)>, name: &str, values: &[String]) {
    for value in values {
        pairs.push((name.to_owned(), value.clone()));
    }
}

pub async fn run(config: &Config, command: &ExportCommand) -> AppResult<()> {
    match command {
        ExportCommand::Leads(args) => {
            let mut pairs = Vec::new();
            push_all(&mut pairs, "stage", &args.stage);
            push_all(&mut pairs, "channel", &args.channel);
            push_all(&mut pairs, "campaignId", &args.campaign_id);
            push_all(&mut pairs, "personaId", &args.persona_id);
            push(&mut pairs, "ownerId", args.owner_id.as_ref());
            push(&mut pairs, "unassigned", args.unassigned.as_ref());
            push(&mut pairs, "scoreMin", args.score_min.as_ref());
            push(&mut pairs, "scoreMax", args.score_max.as_ref());
            push(&mut pairs, "createdFrom", args.created_from.as_ref());
            push(&mut pairs, "createdTo", args.created_to.as_ref());
            push(&mut pairs, "search", args.search.as_ref());
            push(&mut pairs, "orderBy", args.order_by.as_ref());
            push(&mut pairs, "direction", args.direction.as_ref());
            let mut spec = params::lead_export(&pairs).map_err(in_flags)?;
            spec.bom = args.output.bom;
            let db = Db::connect(config).await?;
            let viewer = viewer(&db, &args.output).await?;
            let settings = ExportSettings {
                page_size: config.export_page_size,
                currency: config.currency.clone(),
                page_timeout: config.request_timeout,
            };
            let mut stream = super::leads::export(viewer, db.read, spec, settings).await?;
            write_to(args.output.output.as_deref(), async |out| {
                while let Some(chunk) = stream.next().await {
                    out.write_all(&chunk?).map_err(write_error)?;
                }
                Ok(())
            })
            .await
        }
        ExportCommand::Kpis(args) => {
            let mut pairs = vec![
                ("report".to_owned(), args.report.clone()),
                ("from".to_owned(), args.from.clone()),
                ("to".to_owned(), args.to.clone()),
            ];
            push(&mut pairs, "groupBy", args.group_by.as_ref());
            let mut spec = params::kpi_export(&pairs).map_err(in_flags)?;
            spec.bom = args.output.bom;
            let db = Db::connect(config).await?;
            let viewer = viewer(&db, &args.output).await?;
            let csv = super::kpis::export(&viewer, &db.read, &spec, &config.currency)
                .await
                .map_err(|err| match err {
                    // The service names the period; here it is two flags.
                    AppError::BadInput { field, message } if field == "period" => {
                        AppError::bad_input("--from", format!("--from/--to: {message}"))
                    }
                    other => other,
                })?;
            write_to(args.output.output.as_deref(), async |out| {
                out.write_all(&csv).map_err(write_error)
            })
            .await
        }
    }
}

/// Whose view: ADMIN by default, else the role asked and the user of
/// `--as-sub` if it exists (a subject never seen owns nothing: id 0).
async fn viewer(db: &Db, output: &Output) -> AppResult<Viewer> {
    let role = match &output.as_role {
        None => Role::Admin,
        Some(name) => Role::parse(&name.to_uppercase()).ok_or_else(|| {
            AppError::bad_input(
                "--as-role",
                format!("--as-role: unknown role {name:?}: use ADMIN, MARKETING, SALES or INGEST"),
            )
        })?,
    };
    let subject = output
        .as_sub
        .clone()
        .unwrap_or_else(|| "leadgraph-cli".to_owned());
    let user_id = match &output.as_sub {
        None => 0,
        Some(sub) => app_user::Entity::find()
            .select_only()
            .column(app_user::Column::Id)
            .filter(app_user::Column::Subject.eq(sub.as_str()))
            .into_tuple::<i64>()
            .one(&db.read)
            .await?
            .unwrap_or(0),
    };
    Ok(Viewer {
        user_id,
        subject,
        role,
        expires_at: i64::MAX,
    })
}

fn write_error(err: std::io::Error) -> AppError {
    AppError::internal_from("writing the export", err)
}

/// Run `write` on stdout, or on `FILE.partial` renamed to FILE once all is
/// written (a failed export never leaves a FILE that looks complete).
async fn write_to(
    path: Option<&Path>,
    write: impl AsyncFnOnce(&mut dyn Write) -> AppResult<()>,
) -> AppResult<()> {
    match path {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let result = write(&mut out).await;
            let flushed = out.flush().map_err(write_error);
            match result.and(flushed) {
                // `export … | head`: the reader has what it wanted.
                Err(AppError::Internal {
                    source: Some(source),
                    ..
                }) if source
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(())
                }
                other => other,
            }
        }
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = std::fs::File::create(&partial).map_err(|e| {
                AppError::bad_input(
                    "--output",
                    format!("--output: cannot create {}: {e}", partial.display()),
                )
            })?;
            let mut out = std::io::BufWriter::new(file);
            let result = write(&mut out).await;
            let done = result
                .and_then(|()| out.flush().map_err(write_error))
                .and_then(|()| std::fs::rename(&partial, path).map_err(write_error));
            if done.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            done
        }
    }
}
