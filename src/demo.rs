//! `leadgraph serve --demo`: the small deterministic data set of the
//! reference generator (`crate::seed`), loaded into an empty database in one
//! transaction before serving, and a token per role to try it with
//! (docs/frontend.md).
//!
//! The data set spans the year before the day it is loaded (UTC midnight),
//! so that "the last 90 days" of the KPI dashboard holds data whenever it is
//! run: the same rows, relative to that day, on every run and database
//! (only the automatic LEAD → MQL moves of the scoring at load time are
//! stamped with that time, as the server stamps every change).

use crate::auth::{Role, jwt::JwtKeys};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::seed::{DataSet, Plan, SeedReport, Window};
use chrono::{DateTime, Duration, Utc};
use entity::app_user;
use sea_orm::TransactionTrait;

/// One admin, one marketer, two sales reps (so ownership matters), one
/// ingestion client.
pub const TEAM: [(Role, usize); 4] = [
    (Role::Admin, 1),
    (Role::Marketing, 1),
    (Role::Sales, 2),
    (Role::Ingest, 1),
];
/// Leads, at every stage, with their histories.
pub const LEADS: u32 = 400;
pub const INTERACTIONS_PER_LEAD: u32 = 8;
pub const SEED: u64 = 42;
/// Days the data spans, up to the day it is loaded.
pub const DAYS: i64 = 365;
/// Lifetime of the printed tokens.
pub const TOKEN_TTL: Duration = Duration::hours(8);

/// Tables that hold data (what migrations write, e.g. `event_retention`'s
/// bookkeeping row, is not data): the demo loads only when all are empty.
const DATA_TABLES: [(&str, &str); 8] = [
    ("app_user", "users"),
    ("lead", "leads"),
    ("interaction", "interactions"),
    ("campaign", "campaigns"),
    ("persona", "personas"),
    ("scoring_rule", "scoring rules"),
    ("scoring_settings", "scoring settings"),
    ("stage_event", "stage-change events"),
];

/// What the demo loaded.
#[derive(Debug)]
pub struct Demo {
    pub report: SeedReport,
    /// The first user of each role, and the second sales rep.
    pub users: Vec<app_user::Model>,
}

/// The plan of the demo data set, ending at `until`.
pub fn plan(until: DateTime<Utc>) -> Plan {
    Plan {
        team: &TEAM,
        leads: LEADS,
        interactions_per_lead: INTERACTIONS_PER_LEAD,
        seed: SEED,
        window: Window {
            start: until - Duration::days(DAYS),
            end: until,
        },
    }
}

/// The start of today (UTC): where the demo's data ends.
pub fn today() -> DateTime<Utc> {
    let now = crate::validate::now();
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc())
}

/// Load the demo data set ending at `until` into the (migrated, empty)
/// database, all or nothing, and score its leads as the server would at
/// `until`. A database holding any data is refused, naming what it holds.
pub async fn load(db: &Db, until: DateTime<Utc>) -> AppResult<Demo> {
    let txn = db.write.begin().await?;
    let mut found = Vec::new();
    for (table, what) in DATA_TABLES {
        let n = crate::seed::count(&txn, table).await?;
        if n > 0 {
            found.push(format!("{n} {what}"));
        }
    }
    if !found.is_empty() {
        return Err(AppError::config(
            "DATABASE_URL",
            format!(
                "--demo loads its data only into an empty database, and this one holds {}; \
                 point DATABASE_URL at a new database (e.g. sqlite://demo.db?mode=rwc), \
                 or serve this one without --demo",
                found.join(", ")
            ),
        ));
    }
    let mut data = DataSet::generate(&txn, plan(until)).await?;
    let mut report = SeedReport::default();
    data.write_reference(&txn, &mut report).await?;
    data.write_leads(&txn, 0..data.leads.len(), &mut report)
        .await?;
    DataSet::sync_sequences(&txn).await?;
    // Scores, personas and automatic MQLs, by the server's own code, in
    // this transaction (the seed's bulk rescoring commits per batch).
    let ids = data.leads.iter().map(|l| l.model.id);
    let leads = crate::scoring::service::lock_leads(&txn, ids).await?;
    report.rescored = crate::scoring::service::rescore_leads(&txn, leads, until)
        .await?
        .len() as u64;
    report.stages = crate::seed::stage_counts(&txn).await?;
    txn.commit().await?;
    let mut users = Vec::new();
    for (role, count) in TEAM {
        users.extend(data.users.of(role).into_iter().take(count.min(2)).cloned());
    }
    Ok(Demo { report, users })
}

/// A token of `user`, signed with the server's keys, valid [`TOKEN_TTL`].
pub fn token(keys: &JwtKeys, user: &app_user::Model) -> AppResult<String> {
    let role = Role::parse(&user.role)
        .ok_or_else(|| AppError::internal(format!("demo user with role {:?}", user.role)))?;
    keys.mint(
        &user.subject,
        role,
        TOKEN_TTL.num_seconds(),
        user.name.as_deref(),
        user.email.as_deref(),
    )
}

/// What `serve --demo` prints once loaded: the GraphiQL URL and a token per
/// demo user, ready to paste into a shell or GraphiQL's headers.
pub fn announcement(demo: &Demo, keys: &JwtKeys, url: &str) -> AppResult<String> {
    use std::fmt::Write;
    let r = &demo.report;
    let stages: Vec<String> = r.stages.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Demo data loaded: {} users, {} leads ({}), {} stage changes, {} interactions, {} other rows \
         (campaigns with spend, scoring rules, personas).",
        r.users,
        r.leads,
        stages.join(", "),
        r.stage_changes,
        r.interactions,
        r.other_rows
    );
    let _ = writeln!(out, "\nGraphiQL: {url}");
    let _ = writeln!(
        out,
        "\nTokens, valid {} h (GraphiQL header: {{\"Authorization\": \"Bearer <token>\"}}):",
        TOKEN_TTL.num_hours()
    );
    let mut seen_sales = 0;
    for user in &demo.users {
        let suffix = if user.role == Role::Sales.code() {
            seen_sales += 1;
            format!("_{seen_sales}")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n# {} {} ({})\nexport {}{}_TOKEN={}",
            user.role,
            user.subject,
            user.name.as_deref().unwrap_or(""),
            user.role,
            suffix,
            token(keys, user)?
        );
    }
    let _ = writeln!(
        out,
        "\ncurl -s {url} -H \"Authorization: Bearer $SALES_1_TOKEN\" -H 'Content-Type: application/json' \\\n  \
         -d '{{\"query\":\"{{ leads(first: 5, filter: {{stages: [SQL]}}) {{ edges {{ node {{ email score }} }} }} }}\"}}'"
    );
    Ok(out)
}

/// The URL of GraphiQL on `addr` (a wildcard address is reached on loopback).
pub fn graphiql_url(addr: std::net::SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}/graphql")
}
