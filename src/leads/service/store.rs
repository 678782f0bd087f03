//! Lead records: checking new leads, inserting, updating, saving under a
//! version, locking.

use crate::auth::Viewer;
use crate::auth::policy::{self, Capability, LeadAction};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::global_id::{self, NodeType};
use crate::leads::channel::Channel;
use crate::leads::lifecycle::LeadStage;
use crate::leads::model::{LeadPatch, NewLead};
use crate::patch::Patch;
use crate::validate;
use entity::lead;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};

use super::access::{authorize, scope_condition};

/// Load a lead for change, locking its row until the transaction ends
/// (PostgreSQL `FOR UPDATE`; SQLite has a single writer).
pub async fn lock(db: &impl ConnectionTrait, id: i64) -> AppResult<lead::Model> {
    let mut query = lead::Entity::find_by_id(id);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query
        .into_model::<lead::ByPosition>()
        .one(db)
        .await?
        .map(|row| row.0)
        .ok_or_else(|| AppError::not_found("lead"))
}

pub fn search_text(m: &lead::Model) -> String {
    [
        Some(&m.email),
        m.first_name.as_ref(),
        m.last_name.as_ref(),
        m.company.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.to_lowercase())
    .collect::<Vec<_>>()
    .join(" ")
}

/// Validated attributes of a new lead.
#[derive(Clone, Debug)]
pub struct CheckedLead {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<i32>,
    pub country: Option<String>,
    pub phone: Option<String>,
    /// `None`: the campaign's channel, else DIRECT (resolved by [`insert`]).
    pub source_channel: Option<Channel>,
    pub source_campaign_id: Option<i64>,
    /// Where `sourceCampaignId` was given, for the error when no such campaign exists.
    pub source_campaign_field: String,
}

/// Check a new lead (docs/errors.md); `prefix` names nested fields.
pub fn validate_new(input: &NewLead, prefix: &str) -> AppResult<CheckedLead> {
    let f = |name: &str| format!("{prefix}{name}");
    let s = |name: &str, v: &Option<String>| {
        validate::text(&f(name), v.as_deref(), validate::MAX_STRING)
    };
    // Whether the campaign exists is checked by `insert`, in the transaction.
    let source_campaign_id = input.source_campaign_id;
    Ok(CheckedLead {
        email: validate::email(&f("email"), &input.email)?,
        first_name: s("firstName", &input.first_name)?,
        last_name: s("lastName", &input.last_name)?,
        company: s("company", &input.company)?,
        job_title: s("jobTitle", &input.job_title)?,
        industry: s("industry", &input.industry)?,
        company_size: validate::non_negative(&f("companySize"), input.company_size)?,
        country: validate::country(&f("country"), input.country.as_deref())?,
        phone: s("phone", &input.phone)?,
        source_channel: input.source_channel,
        source_campaign_id,
        source_campaign_field: f("sourceCampaignId"),
    })
}

/// The id of the lead with this email, if any.
pub async fn id_by_email(db: &impl ConnectionTrait, email: &str) -> AppResult<Option<i64>> {
    Ok(lead::Entity::find()
        .select_only()
        .column(lead::Column::Id)
        .filter(lead::Column::Email.eq(email))
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// The `CONFLICT` of a duplicate email: with the existing lead's id only when
/// the viewer may see that lead, so a hidden lead stays hidden (§2, §8).
async fn duplicate(
    viewer: &Viewer,
    txn: &impl ConnectionTrait,
    email: &str,
    field: &str,
) -> AppError {
    let visible = lead::Entity::find()
        .filter(lead::Column::Email.eq(email))
        .filter(scope_condition(policy::lead_scope(viewer)))
        .select_only()
        .column(lead::Column::Id)
        .into_tuple::<i64>()
        .one(txn)
        .await;
    AppError::Conflict {
        message: "a lead with this email already exists".into(),
        field: Some(field.to_owned()),
        lead_id: match visible {
            Ok(Some(id)) => Some(global_id::encode(NodeType::Lead, id)),
            _ => None,
        },
    }
}

/// The source channel of a new lead: the given one, else its campaign's
/// (which must exist: `BAD_USER_INPUT` otherwise), else DIRECT.
pub async fn source_channel(txn: &impl ConnectionTrait, new: &CheckedLead) -> AppResult<Channel> {
    let campaign_channel = match new.source_campaign_id {
        Some(id) => Some(
            crate::campaigns::service::source_channel(txn, id, &new.source_campaign_field).await?,
        ),
        None => None,
    };
    Ok(new
        .source_channel
        .or(campaign_channel)
        .unwrap_or(Channel::Direct))
}

/// The argument path of the new lead's email: a sibling of its
/// `sourceCampaignId` (`input.email`, `input.lead.email`).
fn email_field(new: &CheckedLead) -> String {
    match new.source_campaign_field.rsplit_once('.') {
        Some((parent, _)) => format!("{parent}.email"),
        None => "email".to_owned(),
    }
}

/// The row of a new lead at LEAD, unscored, before its id is known.
pub(super) fn new_model(
    viewer: &Viewer,
    new: CheckedLead,
    channel: Channel,
    now: chrono::DateTime<chrono::Utc>,
) -> lead::Model {
    let mut model = lead::Model {
        id: 0,
        email: new.email,
        first_name: new.first_name,
        last_name: new.last_name,
        company: new.company,
        job_title: new.job_title,
        industry: new.industry,
        company_size: new.company_size,
        country: new.country,
        phone: new.phone,
        search_text: String::new(),
        stage: LeadStage::Lead.code().to_owned(),
        reached_rank: 1,
        score: 0,
        fit_score: 0,
        engagement_score: 0,
        score_breakdown: Default::default(),
        score_state: None,
        persona_id: None,
        icp_fit: None,
        source_channel: channel.code().to_owned(),
        source_campaign_id: new.source_campaign_id,
        owner_id: policy::owner_of_created_lead(viewer),
        qual_budget: false,
        qual_need: false,
        qual_authority: false,
        qual_timeline: None,
        qual_notes: None,
        deal_amount_cents: None,
        disqualification_reason: None,
        created_at: now,
        updated_at: now,
        stage_changed_at: now,
        mql_at: None,
        sql_at: None,
        opportunity_at: None,
        customer_at: None,
        version: 1,
    };
    model.search_text = search_text(&model);
    model
}

/// Insert a lead with its creation in the history and the outbox, inside the
/// caller's transaction. A duplicate email is `CONFLICT`; a source campaign
/// that does not exist is `BAD_USER_INPUT`.
pub async fn insert(
    viewer: &Viewer,
    txn: &impl ConnectionTrait,
    new: CheckedLead,
) -> AppResult<lead::Model> {
    let channel = source_channel(txn, &new).await?;
    if id_by_email(txn, &new.email).await?.is_some() {
        return Err(duplicate(viewer, txn, &new.email, &email_field(&new)).await);
    }
    let email = new.email.clone();
    let email_field = email_field(&new);
    let now = validate::now();
    let model = new_model(viewer, new, channel, now);
    let mut active: lead::ActiveModel = model.into();
    active.id = sea_orm::ActiveValue::NotSet;
    let inserted = match lead::Entity::insert(active).exec_with_returning(txn).await {
        Ok(m) => m,
        Err(err) if is_unique_violation(&err) => {
            return Err(duplicate(viewer, txn, &email, &email_field).await);
        }
        Err(err) => return Err(err.into()),
    };
    crate::events::record_stage_change(
        txn,
        &inserted,
        None,
        LeadStage::Lead,
        &viewer.subject,
        None,
        now,
    )
    .await?;
    crate::scoring::service::rescore_lead(txn, inserted, now).await
}

/// `createLead`.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn create(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: NewLead,
) -> AppResult<lead::Model> {
    policy::require(viewer, Capability::CreateLead)?;
    let new = validate_new(&input, "input.")?;
    let txn = db.begin().await?;
    let lead = insert(viewer, &txn, new).await?;
    txn.commit().await?;
    Ok(lead)
}

fn apply_text(field: &str, value: &Patch<String>, target: &mut Option<String>) -> AppResult<()> {
    match value {
        Patch::Keep => {}
        Patch::Clear => *target = None,
        Patch::Set(v) => *target = validate::text(field, Some(v), validate::MAX_STRING)?,
    }
    Ok(())
}

pub(super) fn check_version(lead: &lead::Model, expected: Option<i32>) -> AppResult<()> {
    match expected {
        Some(v) if v != lead.version => Err(AppError::conflict(format!(
            "the lead changed: expected version {v}, current version {}",
            lead.version
        ))),
        _ => Ok(()),
    }
}

/// `updateLead`.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn update(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: LeadPatch,
    expected_version: Option<i32>,
) -> AppResult<lead::Model> {
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(viewer, &current, LeadAction::UpdateFields)?;
    check_version(&current, expected_version)?;
    let mut next = current.clone();
    apply_text("input.firstName", &input.first_name, &mut next.first_name)?;
    apply_text("input.lastName", &input.last_name, &mut next.last_name)?;
    apply_text("input.company", &input.company, &mut next.company)?;
    apply_text("input.jobTitle", &input.job_title, &mut next.job_title)?;
    apply_text("input.industry", &input.industry, &mut next.industry)?;
    apply_text("input.phone", &input.phone, &mut next.phone)?;
    match &input.company_size {
        Patch::Keep => {}
        Patch::Clear => next.company_size = None,
        Patch::Set(v) => next.company_size = validate::non_negative("input.companySize", Some(*v))?,
    }
    match &input.country {
        Patch::Keep => {}
        Patch::Clear => next.country = None,
        Patch::Set(v) => next.country = validate::country("input.country", Some(v))?,
    }
    next.search_text = search_text(&next);
    next.updated_at = validate::now();
    next.version = current.version + 1;
    let saved = save(&txn, &current, next).await?;
    let saved = crate::scoring::service::rescore_lead(&txn, saved, validate::now()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Write the changed columns of `next`, guarded by the version read.
pub async fn save(
    txn: &impl ConnectionTrait,
    current: &lead::Model,
    next: lead::Model,
) -> AppResult<lead::Model> {
    let mut active: lead::ActiveModel = current.clone().into();
    macro_rules! set_changed {
        ($($field:ident),*) => {$(
            if current.$field != next.$field { active.$field = Set(next.$field.clone()); }
        )*};
    }
    set_changed!(
        email,
        first_name,
        last_name,
        company,
        job_title,
        industry,
        company_size,
        country,
        phone,
        search_text,
        stage,
        reached_rank,
        score,
        fit_score,
        engagement_score,
        score_breakdown,
        persona_id,
        icp_fit,
        source_channel,
        source_campaign_id,
        owner_id,
        qual_budget,
        qual_need,
        qual_authority,
        qual_timeline,
        qual_notes,
        deal_amount_cents,
        disqualification_reason,
        updated_at,
        stage_changed_at,
        mql_at,
        sql_at,
        opportunity_at,
        customer_at,
        version
    );
    let result = lead::Entity::update_many()
        .set(active)
        .filter(lead::Column::Id.eq(current.id))
        .filter(lead::Column::Version.eq(current.version))
        .exec(txn)
        .await?;
    if result.rows_affected != 1 {
        return Err(AppError::conflict(
            "the lead was changed concurrently; retry",
        ));
    }
    Ok(next)
}
