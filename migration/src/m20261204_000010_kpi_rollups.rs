//! Daily KPI rollups (issue 15, docs/kpis.md "Rollups").
//!
//! `kpi_rollup` holds, per (cohort day UTC, channel, campaign, persona),
//! the sums every funnel and cost figure needs; `kpi_fit_rollup` holds, per
//! (cohort day, icpFit value), how many leads have that fit. Triggers on
//! `lead` keep both in the writing transaction, so no writer can forget
//! them: the services, `leadgraph seed`, an import, a migration or an
//! operator's SQL (the same reasoning as `scoring_version`).
//!
//! What one lead contributes is a set of SQL expressions over its row
//! ([`contributions`]); the triggers add the new row's contribution and
//! subtract the old one's with upserts (`n = n + excluded.n`, atomic on both
//! databases), `rollups rebuild` and this migration sum it over every lead,
//! and `rollups verify` compares the two. One generator for all three, so
//! they cannot disagree on a definition.
//!
//! - SQLite: row triggers (one writer at a time, so no lock order to keep);
//!   the update trigger fires only when a KPI fact changed.
//! - PostgreSQL: statement triggers with transition tables: an update that
//!   changes no KPI column returns at once; else one upsert per
//!   statement, its deltas summed per rollup row, zero deltas dropped, and
//!   rows locked in key order (`ORDER BY` the key), so two writers never
//!   wait on each other in opposite orders within a statement.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key columns of `kpi_rollup`; `campaign_id` and `persona_id` are 0
/// for a lead without one (ids start at 1).
pub const KEY: [&str; 4] = ["day", "channel", "campaign_id", "persona_id"];

/// The count columns of `kpi_rollup`, in order. `timed{k}` counts the leads
/// that reached rank k with both milestones set; `secs{k}`/`micros{k}` are
/// the sum of (milestone k − milestone k−1) in microseconds, split into
/// whole seconds and the remainder so that no sum can overflow 64 bits;
/// `revenue_hi`/`revenue_lo` split the won deal amounts (cents) at 10^6.
pub const COUNTS: [&str; 20] = [
    "leads",
    "reached2",
    "reached3",
    "reached4",
    "reached5",
    "disqualified",
    "timed2",
    "timed3",
    "timed4",
    "timed5",
    "secs2",
    "secs3",
    "secs4",
    "secs5",
    "micros2",
    "micros3",
    "micros4",
    "micros5",
    "revenue_hi",
    "revenue_lo",
];

/// Milestone columns of funnel ranks 1 (LEAD: the creation) … 5.
const MILESTONES: [&str; 5] = [
    "created_at",
    "mql_at",
    "sql_at",
    "opportunity_at",
    "customer_at",
];

/// `t` in microseconds since the epoch, as a BIGINT. SQLite stores
/// timestamps as RFC 3339 text with 0, 3, 6 or 9 fractional digits (always
/// `+00:00`); its date functions see milliseconds only, so the fraction is
/// read from the text.
pub fn micros(backend: DbBackend, t: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("CAST(EXTRACT(EPOCH FROM {t}) * 1000000 AS BIGINT)"),
        _ => format!(
            "(CAST(strftime('%s', {t}) AS INTEGER) * 1000000 + \
             CASE WHEN substr({t}, 20, 1) <> '.' THEN 0 \
             WHEN substr({t}, 24, 1) BETWEEN '0' AND '9' THEN CAST(substr({t}, 21, 6) AS INTEGER) \
             ELSE CAST(substr({t}, 21, 3) AS INTEGER) * 1000 END)"
        ),
    }
}

/// The cohort day (UTC) of a lead row `l`.
pub fn day(backend: DbBackend, l: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("CAST(({l}.created_at AT TIME ZONE 'UTC') AS DATE)"),
        _ => format!("substr({l}.created_at, 1, 10)"),
    }
}

/// Run `statements` in order on `db` (a migration's generated SQL).
pub async fn run_all(
    db: &SchemaManagerConnection<'_>,
    statements: impl IntoIterator<Item = String>,
) -> Result<(), DbErr> {
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// The key expressions of a lead row `l`, in [`KEY`] order.
pub fn keys(backend: DbBackend, l: &str) -> [String; 4] {
    [
        day(backend, l),
        format!("{l}.source_channel"),
        format!("COALESCE({l}.source_campaign_id, 0)"),
        format!("COALESCE({l}.persona_id, 0)"),
    ]
}

/// What the lead row `l` contributes to its rollup row, in [`COUNTS`]
/// order. The definitions of DESIGN §6: reached S when `reached_rank ≥ S`,
/// disqualified when the current stage is DISQUALIFIED, revenue the deal
/// amount of a lead that reached CUSTOMER.
pub fn contributions(backend: DbBackend, l: &str) -> Vec<String> {
    let reached = |k: usize| format!("CASE WHEN {l}.reached_rank >= {k} THEN 1 ELSE 0 END");
    let timed_when = |k: usize| {
        format!(
            "{l}.reached_rank >= {k} AND {l}.{prev} IS NOT NULL AND {l}.{cur} IS NOT NULL",
            prev = MILESTONES[k - 2],
            cur = MILESTONES[k - 1]
        )
    };
    let diff = |k: usize| {
        format!(
            "CASE WHEN {} THEN {} - {} ELSE 0 END",
            timed_when(k),
            micros(backend, &format!("{l}.{}", MILESTONES[k - 1])),
            micros(backend, &format!("{l}.{}", MILESTONES[k - 2])),
        )
    };
    let revenue = format!(
        "CASE WHEN {l}.reached_rank >= 5 THEN COALESCE({l}.deal_amount_cents, 0) ELSE 0 END"
    );
    let mut out = vec!["1".to_owned()];
    out.extend((2..=5).map(reached));
    out.push(format!(
        "CASE WHEN {l}.stage = 'DISQUALIFIED' THEN 1 ELSE 0 END"
    ));
    out.extend((2..=5).map(|k| format!("CASE WHEN {} THEN 1 ELSE 0 END", timed_when(k))));
    out.extend((2..=5).map(|k| format!("(({}) / 1000000)", diff(k))));
    out.extend((2..=5).map(|k| format!("(({}) % 1000000)", diff(k))));
    out.push(format!("(({revenue}) / 1000000)"));
    out.push(format!("(({revenue}) % 1000000)"));
    out
}

/// `SELECT <keys>, SUM(sign · contribution)… FROM <source> l WHERE
/// <filter> GROUP BY <keys>` where `source` has a `sign` column (1 or −1)
/// and the lead columns. `having_nonzero` drops rows whose every sum is 0.
pub fn aggregate(backend: DbBackend, source: &str, filter: &str, having_nonzero: bool) -> String {
    let keys = keys(backend, "l");
    let sums: Vec<String> = contributions(backend, "l")
        .into_iter()
        .zip(COUNTS)
        .map(|(e, c)| format!("SUM(l.sign * ({e})) AS {c}"))
        .collect();
    let key_list: Vec<String> = keys
        .iter()
        .zip(KEY)
        .map(|(e, k)| format!("{e} AS {k}"))
        .collect();
    let group: Vec<String> = (1..=KEY.len()).map(|i| i.to_string()).collect();
    let having = if having_nonzero {
        let any: Vec<String> = contributions(backend, "l")
            .into_iter()
            .map(|e| format!("SUM(l.sign * ({e})) <> 0"))
            .collect();
        format!(" HAVING {}", any.join(" OR "))
    } else {
        String::new()
    };
    format!(
        "SELECT {}, {} FROM {source} l WHERE {filter} GROUP BY {}{having} ORDER BY {}",
        key_list.join(", "),
        sums.join(", "),
        group.join(", "),
        group.join(", ")
    )
}

/// The fit histogram of `source` (as for [`aggregate`]).
pub fn fit_aggregate(
    backend: DbBackend,
    source: &str,
    filter: &str,
    having_nonzero: bool,
) -> String {
    let having = if having_nonzero {
        " HAVING SUM(l.sign) <> 0"
    } else {
        ""
    };
    format!(
        "SELECT {} AS day, l.icp_fit AS icp_fit, SUM(l.sign) AS leads FROM {source} l \
         WHERE l.icp_fit IS NOT NULL AND ({filter}) GROUP BY 1, 2{having} ORDER BY 1, 2",
        day(backend, "l")
    )
}

fn upsert_rollup(select: &str) -> String {
    upsert_keyed(&KEY, select)
}

/// `INSERT INTO kpi_rollup (<key>, <counts>) <select> ON CONFLICT (<key>)`
/// adding the counts: the upsert of every rollup layout.
pub fn upsert_keyed(key: &[&str], select: &str) -> String {
    let cols: Vec<&str> = key.iter().chain(COUNTS.iter()).copied().collect();
    let sets: Vec<String> = COUNTS
        .iter()
        .map(|c| format!("{c} = kpi_rollup.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO kpi_rollup ({}) {select} ON CONFLICT ({}) DO UPDATE SET {}",
        cols.join(", "),
        key.join(", "),
        sets.join(", ")
    )
}

pub fn upsert_fit(select: &str) -> String {
    format!(
        "INSERT INTO kpi_fit_rollup (day, icp_fit, leads) {select} \
         ON CONFLICT (day, icp_fit) DO UPDATE SET leads = kpi_fit_rollup.leads + excluded.leads"
    )
}

/// The statements that rebuild both rollup tables from the lead rows
/// (`leadgraph rollups rebuild`, and this migration for existing data).
pub fn rebuild_statements(backend: DbBackend) -> Vec<String> {
    rebuild_keyed(backend, &KEY, aggregate)
}

/// The rebuild of a rollup layout: its key and its `aggregate` generator.
pub fn rebuild_keyed(
    backend: DbBackend,
    key: &[&str],
    aggregate: fn(DbBackend, &str, &str, bool) -> String,
) -> Vec<String> {
    let source = "(SELECT 1 AS sign, lead.* FROM lead)";
    let cols: Vec<&str> = key.iter().chain(COUNTS.iter()).copied().collect();
    vec![
        "DELETE FROM kpi_rollup".to_owned(),
        "DELETE FROM kpi_fit_rollup".to_owned(),
        format!(
            "INSERT INTO kpi_rollup ({}) {}",
            cols.join(", "),
            aggregate(backend, source, "1 = 1", false)
        ),
        format!(
            "INSERT INTO kpi_fit_rollup (day, icp_fit, leads) {}",
            fit_aggregate(backend, source, "1 = 1", false)
        ),
    ]
}

/// Row-trigger statements of SQLite for the row `r` (`NEW` or `OLD`)
/// counted with `sign`.
pub fn sqlite_row(r: &str, sign: i64) -> [String; 2] {
    let backend = DbBackend::Sqlite;
    let values: Vec<String> = keys(backend, r)
        .into_iter()
        .chain(
            contributions(backend, r)
                .into_iter()
                .map(|e| format!("{sign} * ({e})")),
        )
        .collect();
    [
        format!(
            "{};",
            upsert_rollup(&format!("VALUES ({})", values.join(", ")))
        ),
        format!(
            "{};",
            upsert_fit(&format!(
                "SELECT {}, {r}.icp_fit, {sign} WHERE {r}.icp_fit IS NOT NULL",
                day(backend, r)
            ))
        ),
    ]
}

/// The lead columns the KPIs read: an update that changes none of them
/// leaves the rollups alone.
pub const FACTS: [&str; 12] = [
    "created_at",
    "source_channel",
    "source_campaign_id",
    "persona_id",
    "icp_fit",
    "reached_rank",
    "stage",
    "deal_amount_cents",
    "mql_at",
    "sql_at",
    "opportunity_at",
    "customer_at",
];

/// The `WHEN` of SQLite's update trigger: one of the [`FACTS`] changed.
pub fn sqlite_facts_changed() -> String {
    let changed: Vec<String> = FACTS
        .iter()
        .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
        .collect();
    changed.join(" OR ")
}

/// The rollup statements of one layout, for [`create_triggers`]: the
/// upsert of the aggregated `source` (PostgreSQL) and the statements of a
/// SQLite row trigger for the row `r` counted with `sign`.
pub struct Layout {
    pub upsert: fn(DbBackend, &str) -> String,
    pub sqlite_row: fn(&str, i64) -> Vec<String>,
}

/// This migration's layout: one row per (day, channel, campaign, persona).
pub const LAYOUT: Layout = Layout {
    upsert: |backend, source| upsert_rollup(&aggregate(backend, source, "1 = 1", true)),
    sqlite_row: |r, sign| sqlite_row(r, sign).to_vec(),
};

/// The triggers on `lead` that keep the rollups of `layout` and the fit
/// histogram (PostgreSQL: functions `kpi_rollup_{insert,update,delete}`,
/// created or replaced; SQLite: triggers created, so drop them first).
pub async fn create_triggers(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
    layout: &Layout,
) -> Result<(), DbErr> {
    match backend {
        DbBackend::Postgres => {
            for (event, source) in [
                ("insert", "(SELECT 1 AS sign, n.* FROM kpi_new n)"),
                ("delete", "(SELECT -1 AS sign, o.* FROM kpi_old o)"),
                (
                    "update",
                    "(SELECT 1 AS sign, n.* FROM kpi_new n UNION ALL SELECT -1 AS sign, o.* FROM kpi_old o)",
                ),
            ] {
                // An update that changes no KPI column (a score, a note)
                // returns after one join of the transition tables by id.
                let guard = if event == "update" {
                    let facts = |t: &str| {
                        FACTS
                            .iter()
                            .map(|c| format!("{t}.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    format!(
                        "IF NOT EXISTS (SELECT 1 FROM kpi_new n FULL JOIN kpi_old o ON o.id = n.id \
                         WHERE o.id IS NULL OR n.id IS NULL OR ({}) IS DISTINCT FROM ({})) \
                         THEN RETURN NULL; END IF; ",
                        facts("o"),
                        facts("n")
                    )
                } else {
                    String::new()
                };
                let body = format!(
                    "{guard}{}; {};",
                    (layout.upsert)(backend, source),
                    upsert_fit(&fit_aggregate(backend, source, "1 = 1", true))
                );
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION kpi_rollup_{event}() RETURNS trigger LANGUAGE plpgsql \
                     AS $$ BEGIN {body} RETURN NULL; END $$"
                ))
                .await?;
                let referencing = match event {
                    "insert" => "NEW TABLE AS kpi_new",
                    "delete" => "OLD TABLE AS kpi_old",
                    _ => "OLD TABLE AS kpi_old NEW TABLE AS kpi_new",
                };
                db.execute_unprepared(&format!(
                    "DROP TRIGGER IF EXISTS lead_kpi_rollup_{event} ON lead"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER lead_kpi_rollup_{event} AFTER {event} ON lead \
                     REFERENCING {referencing} FOR EACH STATEMENT \
                     EXECUTE FUNCTION kpi_rollup_{event}()"
                ))
                .await?;
            }
        }
        _ => {
            let add = (layout.sqlite_row)("NEW", 1).join(" ");
            let sub = (layout.sqlite_row)("OLD", -1).join(" ");
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_insert AFTER INSERT ON lead BEGIN {add} END"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_delete AFTER DELETE ON lead BEGIN {sub} END"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER lead_kpi_rollup_update AFTER UPDATE ON lead WHEN {} \
                 BEGIN {sub} {add} END",
                sqlite_facts_changed()
            ))
            .await?;
        }
    }
    Ok(())
}

/// This migration's `kpi_rollup` table, empty.
pub async fn create_rollup_table(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let counts: Vec<String> = COUNTS
        .iter()
        .map(|c| format!("{c} bigint NOT NULL DEFAULT 0"))
        .collect();
    db.execute_unprepared(&format!(
        "CREATE TABLE kpi_rollup (day date NOT NULL, channel varchar NOT NULL, \
         campaign_id bigint NOT NULL, persona_id bigint NOT NULL, {}, \
         PRIMARY KEY (day, channel, campaign_id, persona_id))",
        counts.join(", ")
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        create_rollup_table(db).await?;
        db.execute_unprepared(
            "CREATE TABLE kpi_fit_rollup (day date NOT NULL, icp_fit double precision NOT NULL, \
             leads bigint NOT NULL DEFAULT 0, PRIMARY KEY (day, icp_fit))",
        )
        .await?;
        run_all(db, rebuild_statements(backend)).await?;
        create_triggers(db, backend, &LAYOUT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for event in ["insert", "update", "delete"] {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS lead_kpi_rollup_{event} ON lead"
                    ))
                    .await?;
                    db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS kpi_rollup_{event}()"))
                        .await?;
                }
            }
            _ => {
                for event in ["insert", "update", "delete"] {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS lead_kpi_rollup_{event}"
                    ))
                    .await?;
                }
            }
        }
        db.execute_unprepared("DROP TABLE kpi_fit_rollup").await?;
        db.execute_unprepared("DROP TABLE kpi_rollup").await?;
        Ok(())
    }
}
