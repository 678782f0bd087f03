//! The leads export: the rows `leads` would give the viewer, page by page
//! over the same keyset pagination (`leads::service::list`, scope in its
//! SQL `WHERE`), each page written as CSV as soon as it is read. At most one
//! page of leads is in memory at a time, whatever the number of leads.

use super::cell::{self, opt_text, text};
use super::params::LeadExportSpec;
use crate::auth::Viewer;
use crate::auth::policy::{self, Export};
use crate::error::{AppError, AppResult};
use crate::global_id::{self, NodeType};
use crate::leads::model::{KeyValue, Keyset, LeadQuery, OrderField};
use crate::leads::service;
use bytes::Bytes;
use entity::{app_user, campaign, lead, persona};
use futures::stream::{self, BoxStream, StreamExt};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use std::time::Duration;

/// The columns, in order (docs/export.md explains each).
pub const COLUMNS: [&str; 35] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "industry",
    "company_size",
    "country",
    "phone",
    "stage",
    "score",
    "fit_score",
    "engagement_score",
    "persona_id",
    "persona",
    "icp_fit",
    "source_channel",
    "source_campaign_id",
    "source_campaign",
    "owner_id",
    "owner_name",
    "owner_email",
    "budget",
    "need",
    "authority",
    "timeline",
    "qualification_notes",
    "deal_amount",
    "currency",
    "disqualification_reason",
    "created_at",
    "updated_at",
    "stage_changed_at",
    "version",
];

/// How an export runs: rows per page (and so per chunk of the body), the
/// currency of `deal_amount`, and the time one page's queries may take.
#[derive(Clone, Debug)]
pub struct ExportSettings {
    pub page_size: u64,
    pub currency: String,
    pub page_timeout: Duration,
}

/// A stream of CSV chunks: the header (with the BOM when asked) and the
/// first page, then one chunk per further page. An error ends the stream.
pub type CsvStream = BoxStream<'static, AppResult<Bytes>>;

/// Start the export: access is checked and the first page read before
/// anything is returned, so a refused or bad request fails before a byte of
/// CSV exists.
pub async fn export(
    viewer: Viewer,
    db: DatabaseConnection,
    spec: LeadExportSpec,
    settings: ExportSettings,
) -> AppResult<CsvStream> {
    policy::require_export(&viewer, Export::Leads)?;
    let query = LeadQuery {
        first: settings.page_size.max(1),
        after: None,
        filter: spec.filter,
        order: spec.order,
    };
    let (rows, next) = page(&viewer, &db, &query, &settings).await?;
    let mut head = if spec.bom {
        cell::BOM.to_vec()
    } else {
        Vec::new()
    };
    let mut w = cell::writer();
    w.write_record(COLUMNS).map_err(csv_error)?;
    head.extend(finish(w)?);
    head.extend(rows);
    let first = stream::once(async move { Ok(Bytes::from(head)) });
    let rest = stream::unfold(
        (next, viewer, db, query, settings),
        |(after, viewer, db, mut query, settings)| async move {
            let after = after?;
            query.after = Some(after);
            match page(&viewer, &db, &query, &settings).await {
                Ok((rows, next)) => {
                    Some((Ok(Bytes::from(rows)), (next, viewer, db, query, settings)))
                }
                // Stop after an error: the body ends unfinished, never silently short.
                Err(err) => Some((Err(err), (None, viewer, db, query, settings))),
            }
        },
    );
    Ok(first.chain(rest).boxed())
}

/// One page as CSV rows, and the keyset of the next page when there is one.
async fn page(
    viewer: &Viewer,
    db: &DatabaseConnection,
    query: &LeadQuery,
    settings: &ExportSettings,
) -> AppResult<(Vec<u8>, Option<Keyset>)> {
    let read = async {
        let page = service::list(viewer, db, query).await?;
        let names = Names::of(db, &page.rows).await?;
        let mut w = cell::writer();
        for row in &page.rows {
            write_lead(&mut w, row, &names, &settings.currency)?;
        }
        let next = match (page.has_next, page.rows.last()) {
            (true, Some(last)) => Some(keyset(query.order.field, last)),
            _ => None,
        };
        Ok((finish(w)?, next))
    };
    tokio::time::timeout(settings.page_timeout, read)
        .await
        .map_err(|_| {
            AppError::LimitExceeded(format!(
                "a page of the export took longer than {} s",
                settings.page_timeout.as_secs_f64()
            ))
        })?
}

/// Where the page after `last` starts (the order column's value and the id).
fn keyset(field: OrderField, last: &lead::Model) -> Keyset {
    let value = match field {
        OrderField::Score => KeyValue::Score(last.score),
        OrderField::CreatedAt => KeyValue::Time(last.created_at),
        OrderField::UpdatedAt => KeyValue::Time(last.updated_at),
        OrderField::StageChangedAt => KeyValue::Time(last.stage_changed_at),
    };
    Keyset { value, id: last.id }
}

/// Names of a page's personas, campaigns and owners: three queries per page
/// at most, never one per lead.
#[derive(Default)]
struct Names {
    personas: HashMap<i64, String>,
    campaigns: HashMap<i64, String>,
    owners: HashMap<i64, (Option<String>, Option<String>)>,
}

impl Names {
    async fn of(db: &DatabaseConnection, rows: &[lead::Model]) -> AppResult<Names> {
        let ids = |f: fn(&lead::Model) -> Option<i64>| {
            let mut ids: Vec<i64> = rows.iter().filter_map(f).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let persona_ids = ids(|l| l.persona_id);
        let campaign_ids = ids(|l| l.source_campaign_id);
        let owner_ids = ids(|l| l.owner_id);
        let mut names = Names::default();
        if !persona_ids.is_empty() {
            names.personas = persona::Entity::find()
                .select_only()
                .column(persona::Column::Id)
                .column(persona::Column::Name)
                .filter(persona::Column::Id.is_in(persona_ids))
                .into_tuple::<(i64, String)>()
                .all(db)
                .await?
                .into_iter()
                .collect();
        }
        if !campaign_ids.is_empty() {
            names.campaigns = campaign::Entity::find()
                .select_only()
                .column(campaign::Column::Id)
                .column(campaign::Column::Name)
                .filter(campaign::Column::Id.is_in(campaign_ids))
                .into_tuple::<(i64, String)>()
                .all(db)
                .await?
                .into_iter()
                .collect();
        }
        if !owner_ids.is_empty() {
            names.owners = app_user::Entity::find()
                .select_only()
                .column(app_user::Column::Id)
                .column(app_user::Column::Name)
                .column(app_user::Column::Email)
                .filter(app_user::Column::Id.is_in(owner_ids))
                .into_tuple::<(i64, Option<String>, Option<String>)>()
                .all(db)
                .await?
                .into_iter()
                .map(|(id, name, email)| (id, (name, email)))
                .collect();
        }
        Ok(names)
    }
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn write_lead(
    w: &mut csv::Writer<Vec<u8>>,
    l: &lead::Model,
    names: &Names,
    currency: &str,
) -> AppResult<()> {
    let id = |kind, id: Option<i64>| id.map(|n| global_id::encode(kind, n)).unwrap_or_default();
    let owner = l.owner_id.and_then(|o| names.owners.get(&o));
    let record: [std::borrow::Cow<'_, str>; COLUMNS.len()] = [
        global_id::encode(NodeType::Lead, l.id).into(),
        text(&l.email),
        opt_text(l.first_name.as_deref()),
        opt_text(l.last_name.as_deref()),
        opt_text(l.company.as_deref()),
        opt_text(l.job_title.as_deref()),
        opt_text(l.industry.as_deref()),
        l.company_size
            .map(|n| n.to_string())
            .unwrap_or_default()
            .into(),
        opt_text(l.country.as_deref()),
        opt_text(l.phone.as_deref()),
        l.stage.as_str().into(),
        l.score.to_string().into(),
        l.fit_score.to_string().into(),
        l.engagement_score.to_string().into(),
        id(NodeType::Persona, l.persona_id).into(),
        opt_text(
            l.persona_id
                .and_then(|p| names.personas.get(&p))
                .map(String::as_str),
        ),
        cell::float(l.icp_fit).into(),
        l.source_channel.as_str().into(),
        id(NodeType::Campaign, l.source_campaign_id).into(),
        opt_text(
            l.source_campaign_id
                .and_then(|c| names.campaigns.get(&c))
                .map(String::as_str),
        ),
        id(NodeType::User, l.owner_id).into(),
        opt_text(owner.and_then(|(name, _)| name.as_deref())),
        opt_text(owner.and_then(|(_, email)| email.as_deref())),
        l.qual_budget.to_string().into(),
        l.qual_need.to_string().into(),
        l.qual_authority.to_string().into(),
        opt_text(l.qual_timeline.as_deref()),
        opt_text(l.qual_notes.as_deref()),
        l.deal_amount_cents
            .map(|c| crate::validate::cents_text(c.into()))
            .unwrap_or_default()
            .into(),
        if l.deal_amount_cents.is_some() {
            currency.into()
        } else {
            "".into()
        },
        opt_text(l.disqualification_reason.as_deref()),
        time(l.created_at).into(),
        time(l.updated_at).into(),
        time(l.stage_changed_at).into(),
        l.version.to_string().into(),
    ];
    w.write_record(record.iter().map(|c| c.as_bytes()))
        .map_err(csv_error)
}

/// The bytes written so far.
pub(super) fn finish(w: csv::Writer<Vec<u8>>) -> AppResult<Vec<u8>> {
    w.into_inner()
        .map_err(|e| AppError::internal(format!("writing CSV: {}", e.error())))
}

pub(super) fn csv_error(err: csv::Error) -> AppError {
    AppError::internal_from("writing CSV", err)
}
