//! Scoring rules and settings (docs/performance.md: "about a dozen scoring
//! rules"), written when the scoring migration (#4) is there, and the
//! rescoring of the seeded leads.
//!
//! [`rescore`] then runs the server's own rescoring of every lead at the
//! window's end (`scoring::service::rescore_all`), so each lead's score,
//! breakdown, persona and ICP fit are what the server computes, and LEADs
//! over the threshold move to MQL as `system:scoring`, with history and
//! outbox rows, as the server does.

use super::writer::{Table, sync_sequence, table_exists};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde_json::json;

pub const TABLE: Table = Table {
    name: "scoring_rule",
    columns: &[
        "id",
        "name",
        "kind",
        "points",
        "active",
        "condition_field",
        "condition_op",
        "condition_values",
        "interaction_kind",
        "metadata_key",
        "metadata_contains",
        "decay_half_life_days",
        "max_points_per_lead",
        "created_at",
        "updated_at",
        "deleted_at",
    ],
};

pub const SETTINGS_TABLE: Table = Table {
    name: "scoring_settings",
    columns: &["id", "mql_threshold", "updated_at"],
};

/// The MQL threshold of the data set (the default).
pub const MQL_THRESHOLD: i32 = 50;

/// A FIT rule: name, points, field, op, values.
const FIT: &[(&str, i32, &str, &str, &[&str])] = &[
    (
        "Senior title",
        15,
        "JOB_TITLE",
        "CONTAINS",
        &["CEO", "CTO", "CFO", "VP", "Head of"],
    ),
    (
        "Target industry",
        10,
        "INDUSTRY",
        "IN",
        &["Software", "Finance", "Healthcare"],
    ),
    ("Mid-size or larger", 10, "COMPANY_SIZE", "GTE", &["200"]),
    ("Micro company", -10, "COMPANY_SIZE", "LTE", &["10"]),
    (
        "Core market",
        5,
        "COUNTRY",
        "IN",
        &["DE", "AT", "CH", "FR", "GB", "US", "NL"],
    ),
    ("Student", -20, "JOB_TITLE", "CONTAINS", &["Student"]),
];

/// An ENGAGEMENT rule: name, points, kind, metadata key, contains,
/// half-life (days), cap.
type Engagement = (
    &'static str,
    i32,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<i32>,
    Option<i32>,
);
const ENGAGEMENT: &[Engagement] = &[
    (
        "Pricing page",
        10,
        "PAGE_VISIT",
        Some("path"),
        Some("/pricing"),
        Some(30),
        Some(30),
    ),
    (
        "Any page visit",
        1,
        "PAGE_VISIT",
        None,
        None,
        Some(14),
        Some(10),
    ),
    (
        "Content download",
        8,
        "CONTENT_DOWNLOAD",
        None,
        None,
        Some(60),
        Some(24),
    ),
    (
        "Webinar attended",
        12,
        "WEBINAR_ATTENDED",
        None,
        None,
        Some(90),
        Some(24),
    ),
    (
        "Demo request",
        25,
        "DEMO_REQUEST",
        None,
        None,
        Some(60),
        Some(50),
    ),
    (
        "Email click",
        3,
        "EMAIL_CLICK",
        None,
        None,
        Some(30),
        Some(15),
    ),
    (
        "Unsubscribed",
        -15,
        "UNSUBSCRIBE",
        None,
        None,
        None,
        Some(15),
    ),
];

/// Write the scoring rules and the settings; returns the rows written.
pub async fn write_rules(db: &impl ConnectionTrait, created_at: DateTime<Utc>) -> AppResult<u64> {
    let mut written = 0;
    if table_exists(db, TABLE.name).await? {
        let none_s = || Value::from(Option::<String>::None);
        let none_i = || Value::from(Option::<i32>::None);
        let mut rows = Vec::new();
        for (name, points, field, op, values) in FIT {
            rows.push(vec![
                (rows.len() as i64 + 1).into(),
                (*name).into(),
                "FIT".into(),
                (*points).into(),
                true.into(),
                Value::from(Some(field.to_string())),
                Value::from(Some(op.to_string())),
                Value::from(Some(json!(values))),
                none_s(),
                none_s(),
                none_s(),
                none_i(),
                none_i(),
                created_at.into(),
                created_at.into(),
                Option::<DateTime<Utc>>::None.into(),
            ]);
        }
        for (name, points, kind, key, contains, half_life, cap) in ENGAGEMENT {
            rows.push(vec![
                (rows.len() as i64 + 1).into(),
                (*name).into(),
                "ENGAGEMENT".into(),
                (*points).into(),
                true.into(),
                none_s(),
                none_s(),
                Value::from(Option::<serde_json::Value>::None),
                Value::from(Some(kind.to_string())),
                Value::from(key.map(str::to_owned)),
                Value::from(contains.map(str::to_owned)),
                (*half_life).into(),
                (*cap).into(),
                created_at.into(),
                created_at.into(),
                Option::<DateTime<Utc>>::None.into(),
            ]);
        }
        written += TABLE.insert(db, rows).await?;
        sync_sequence(db, TABLE.name, "id").await?;
    }
    if table_exists(db, SETTINGS_TABLE.name).await? {
        written += SETTINGS_TABLE
            .insert(
                db,
                vec![vec![1i32.into(), MQL_THRESHOLD.into(), created_at.into()]],
            )
            .await?;
    }
    Ok(written)
}

/// Score every seeded lead as the server would at `at` (the window's end, so
/// the result does not depend on the day the seed runs); returns the leads
/// rescored.
pub async fn rescore(db: &crate::db::Db, at: DateTime<Utc>) -> AppResult<u64> {
    Ok(crate::scoring::service::rescore_all(db, at)
        .await?
        .leads_rescored)
}
