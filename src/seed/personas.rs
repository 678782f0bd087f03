//! Personas (docs/performance.md: "8 personas"), written when the personas
//! migration (#4) is there. They match the seeded attributes (industries,
//! sizes, countries, job titles of `names.rs`). Each lead's `persona_id` and
//! `icp_fit` are set by the rescoring (`scoring::rescore`), the server's own
//! code; the seed never computes them itself.

use super::writer::{Table, sync_sequence, table_exists};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde_json::json;

pub const TABLE: Table = Table {
    name: "persona",
    columns: &[
        "id",
        "name",
        "description",
        "industries",
        "company_size_min",
        "company_size_max",
        "countries",
        "job_title_keywords",
        "created_at",
        "deleted_at",
    ],
};

type Persona = (
    &'static str,
    &'static [&'static str],
    Option<i32>,
    Option<i32>,
    &'static [&'static str],
    &'static [&'static str],
);

/// Name, industries, size bounds, countries, job-title keywords.
const PERSONAS: [Persona; 8] = [
    (
        "Software CTO",
        &["Software"],
        Some(50),
        Some(5000),
        &[],
        &["CTO", "Head of IT"],
    ),
    (
        "DACH manufacturing operations",
        &["Manufacturing"],
        None,
        None,
        &["DE", "AT", "CH"],
        &["Operations", "COO"],
    ),
    (
        "Finance decision maker",
        &["Finance"],
        Some(500),
        None,
        &[],
        &["CFO", "Procurement"],
    ),
    (
        "Retail marketer",
        &["Retail", "Media"],
        None,
        None,
        &[],
        &["Marketing"],
    ),
    (
        "Healthcare IT",
        &["Healthcare"],
        None,
        None,
        &[],
        &["IT", "CTO"],
    ),
    ("SMB founder", &[], None, Some(50), &[], &["CEO", "Founder"]),
    (
        "Enterprise sales leader",
        &[],
        Some(1000),
        None,
        &["US", "GB", "DE", "FR"],
        &["VP Sales", "Sales Manager"],
    ),
    (
        "Logistics and energy buyer",
        &["Logistics", "Energy"],
        None,
        None,
        &[],
        &["Procurement", "Operations"],
    ),
];

/// Write the personas; returns the rows written.
pub async fn write(db: &impl ConnectionTrait, created_at: DateTime<Utc>) -> AppResult<u64> {
    if !table_exists(db, TABLE.name).await? {
        return Ok(0);
    }
    let rows = PERSONAS
        .iter()
        .enumerate()
        .map(|(i, (name, industries, min, max, countries, titles))| {
            vec![
                (i as i64 + 1).into(),
                (*name).into(),
                Value::from(Some(format!("Seeded ideal customer profile: {name}"))),
                json!(industries).into(),
                (*min).into(),
                (*max).into(),
                json!(countries).into(),
                json!(titles).into(),
                created_at.into(),
                Option::<DateTime<Utc>>::None.into(),
            ]
        })
        .collect();
    let written = TABLE.insert(db, rows).await?;
    sync_sequence(db, TABLE.name, "id").await?;
    Ok(written)
}
