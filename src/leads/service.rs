//! The work on leads: validation, access through the policy, queries with
//! keyset pagination, and every lifecycle change in one transaction.

use super::channel::Channel;
use super::lifecycle::{self, LeadStage, Requirement};
use super::model::{
    Direction, KeyValue, LeadFilter, LeadPatch, LeadQuery, NewLead, OrderField, Qualification,
};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability, Denied, LeadAction, LeadFacts, LeadScope};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::global_id::{self, NodeType};
use crate::patch::Patch;
use crate::validate;
use entity::lead;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

/// The SQL form of a [`LeadScope`]: row rules applied in the query itself.
pub fn scope_condition(scope: LeadScope) -> Condition {
    match scope {
        LeadScope::All => Condition::all(),
        LeadScope::Nothing => Condition::all().add(Expr::val(1).eq(0)),
        LeadScope::QualifiedOrOwnedBy(user) => Condition::any()
            .add(lead::Column::Stage.is_in(policy::SALES_VISIBLE_STAGES.iter().map(|s| s.code())))
            .add(lead::Column::OwnerId.eq(user)),
    }
}

pub fn facts(lead: &lead::Model) -> AppResult<LeadFacts> {
    Ok(LeadFacts {
        stage: LeadStage::from_code(&lead.stage)?,
        owner_id: lead.owner_id,
    })
}

fn denied(denied: Denied) -> AppError {
    match denied {
        Denied::Invisible => AppError::not_found("lead"),
        Denied::Forbidden(message) => AppError::Forbidden(message),
        Denied::InvalidTransition(message) => AppError::InvalidTransition(message),
    }
}

/// `authorize_lead`, as an `AppError`.
pub fn authorize(
    viewer: &Viewer,
    lead: &lead::Model,
    action: LeadAction,
) -> AppResult<Requirement> {
    policy::authorize_lead(viewer, facts(lead)?, action).map_err(denied)
}

/// Load a lead for change, locking its row until the transaction ends
/// (PostgreSQL `FOR UPDATE`; SQLite has a single writer).
pub async fn lock(db: &impl ConnectionTrait, id: i64) -> AppResult<lead::Model> {
    let mut query = lead::Entity::find_by_id(id);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("lead"))
}

/// A lead the viewer may see.
pub async fn get(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<lead::Model>> {
    Ok(lead::Entity::find_by_id(id)
        .filter(scope_condition(policy::lead_scope(viewer)))
        .one(db)
        .await?)
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
    let owner_id = policy::owner_of_created_lead(viewer);
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
        persona_id: None,
        icp_fit: None,
        source_channel: channel.code().to_owned(),
        source_campaign_id: new.source_campaign_id,
        owner_id,
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

fn check_version(lead: &lead::Model, expected: Option<i32>) -> AppResult<()> {
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

/// Move `lead` to `to` in memory: stage, milestones, timestamps, version.
pub fn apply_stage(lead: &mut lead::Model, to: LeadStage, now: chrono::DateTime<chrono::Utc>) {
    for rank in lifecycle::new_milestones(lead.reached_rank, to) {
        let slot = match rank {
            2 => &mut lead.mql_at,
            3 => &mut lead.sql_at,
            4 => &mut lead.opportunity_at,
            _ => &mut lead.customer_at,
        };
        slot.get_or_insert(now);
    }
    if let Some(rank) = to.rank() {
        lead.reached_rank = std::cmp::max(lead.reached_rank, rank);
    }
    lead.stage = to.code().to_owned();
    lead.stage_changed_at = now;
    lead.updated_at = now;
    lead.version += 1;
}

/// Arguments of `transitionLead`.
pub struct TransitionRequest {
    pub to: LeadStage,
    pub reason: Option<String>,
    /// As the client wrote it: `validate::amount_cents` reads it.
    pub deal_amount: Option<String>,
    pub expected_version: Option<i32>,
}

/// `transitionLead`: check the table of §3, then apply in one transaction.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn transition(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    request: TransitionRequest,
) -> AppResult<lead::Model> {
    let reason = validate::text("reason", request.reason.as_deref(), validate::MAX_STRING)?;
    let deal_cents = request
        .deal_amount
        .map(|d| validate::amount_cents("dealAmount", &d))
        .transpose()?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    // Who may touch the lead comes before its version, the move after it.
    let action = LeadAction::Transition { to: request.to };
    policy::may_act_on(viewer, facts(&current)?, action).map_err(denied)?;
    check_version(&current, request.expected_version)?;
    let requirement = authorize(viewer, &current, action)?;
    match requirement {
        Requirement::Reason if reason.is_none() => {
            return Err(AppError::bad_input(
                "reason",
                "this transition needs a reason",
            ));
        }
        Requirement::Bant => {
            let missing = lifecycle::missing_bant(
                current.qual_budget,
                current.qual_need,
                current.qual_authority,
            );
            if !missing.is_empty() {
                return Err(AppError::InvalidTransition(format!(
                    "budget, need and authority must all be confirmed first; missing: {}",
                    missing.join(", ")
                )));
            }
        }
        _ => {}
    }
    if deal_cents.is_some() && requirement != Requirement::DealAmount {
        return Err(AppError::bad_input(
            "dealAmount",
            "a deal amount is only taken moving to OPPORTUNITY or CUSTOMER",
        ));
    }
    let saved = apply_transition(
        &txn,
        current,
        request.to,
        &viewer.subject,
        reason,
        deal_cents,
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Apply an allowed transition: lead row, history, outbox — same transaction.
pub async fn apply_transition(
    txn: &impl ConnectionTrait,
    current: lead::Model,
    to: LeadStage,
    actor: &str,
    reason: Option<String>,
    deal_cents: Option<i64>,
) -> AppResult<lead::Model> {
    let now = validate::now();
    let from = LeadStage::from_code(&current.stage)?;
    let mut next = current.clone();
    apply_stage(&mut next, to, now);
    if let Some(cents) = deal_cents {
        next.deal_amount_cents = Some(cents);
    }
    next.disqualification_reason = if to == LeadStage::Disqualified {
        reason.clone()
    } else {
        None
    };
    let saved = save(txn, &current, next).await?;
    crate::events::record_stage_change(txn, &saved, Some(from), to, actor, reason, now).await?;
    Ok(saved)
}

/// `qualifyLead`: record BANT; an MQL with all three confirmed becomes SQL.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn qualify(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: Qualification,
) -> AppResult<lead::Model> {
    let timeline = validate::text(
        "input.timeline",
        input.timeline.as_deref(),
        validate::MAX_STRING,
    )?;
    let notes = validate::text("input.notes", input.notes.as_deref(), validate::MAX_NOTES)?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(viewer, &current, LeadAction::Qualify)?;
    let mut next = current.clone();
    next.qual_budget = input.budget.unwrap_or(current.qual_budget);
    next.qual_need = input.need.unwrap_or(current.qual_need);
    next.qual_authority = input.authority.unwrap_or(current.qual_authority);
    if input.timeline.is_some() {
        next.qual_timeline = timeline;
    }
    if input.notes.is_some() {
        next.qual_notes = notes;
    }
    next.updated_at = validate::now();
    next.version += 1;
    let mut saved = save(&txn, &current, next).await?;
    let complete =
        lifecycle::missing_bant(saved.qual_budget, saved.qual_need, saved.qual_authority)
            .is_empty();
    if complete && saved.stage == LeadStage::Mql.code() {
        saved = apply_transition(&txn, saved, LeadStage::Sql, &viewer.subject, None, None).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// `assignLead`: give the lead to a user, or release it (`None`).
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn assign(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    owner_id: Option<i64>,
) -> AppResult<lead::Model> {
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(
        viewer,
        &current,
        LeadAction::Assign {
            new_owner: owner_id,
        },
    )?;
    if let Some(owner_id) = owner_id {
        let exists = entity::app_user::Entity::find_by_id(owner_id)
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            return Err(AppError::bad_input("ownerId", "no such user"));
        }
    }
    let mut next = current.clone();
    next.owner_id = owner_id;
    next.updated_at = validate::now();
    next.version += 1;
    let saved = save(&txn, &current, next).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Everything `totalCount` needs to count lazily.
#[derive(Clone, Debug)]
pub struct LeadCountQuery {
    condition: Condition,
}

impl LeadCountQuery {
    pub async fn count(&self, db: &impl ConnectionTrait) -> AppResult<i64> {
        let n = lead::Entity::find()
            .filter(self.condition.clone())
            .count(db)
            .await?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One page of `leads`.
pub struct LeadPage {
    pub rows: Vec<lead::Model>,
    pub has_next: bool,
    pub count_query: LeadCountQuery,
}

fn filter_condition(viewer: &Viewer, filter: &LeadFilter) -> AppResult<Condition> {
    validate::list_lens(&[
        ("filter.stages", filter.stages.as_ref().map(Vec::len)),
        ("filter.channels", filter.channels.as_ref().map(Vec::len)),
        (
            "filter.personaIds",
            filter.persona_ids.as_ref().map(Vec::len),
        ),
        (
            "filter.campaignIds",
            filter.campaign_ids.as_ref().map(Vec::len),
        ),
    ])?;
    // The scope is one AND-ed term: filters narrow it, never widen it.
    let mut cond = Condition::all().add(scope_condition(policy::lead_scope(viewer)));
    if let Some(stages) = &filter.stages {
        cond = cond.add(lead::Column::Stage.is_in(stages.iter().map(|s| s.code())));
    }
    if let Some(owner) = filter.owner_id {
        cond = cond.add(lead::Column::OwnerId.eq(owner));
    }
    match filter.unassigned {
        Some(true) => cond = cond.add(lead::Column::OwnerId.is_null()),
        Some(false) => cond = cond.add(lead::Column::OwnerId.is_not_null()),
        None => {}
    }
    if let Some(ids) = &filter.persona_ids {
        cond = cond.add(lead::Column::PersonaId.is_in(ids.iter().copied()));
    }
    if let Some(ids) = &filter.campaign_ids {
        cond = cond.add(lead::Column::SourceCampaignId.is_in(ids.iter().copied()));
    }
    if let Some(channels) = &filter.channels {
        cond = cond.add(lead::Column::SourceChannel.is_in(channels.iter().map(|c| c.code())));
    }
    if let Some(min) = filter.score_min {
        cond = cond.add(lead::Column::Score.gte(min));
    }
    if let Some(max) = filter.score_max {
        cond = cond.add(lead::Column::Score.lte(max));
    }
    if let Some(from) = filter.created_from {
        cond = cond.add(lead::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        cond = cond.add(lead::Column::CreatedAt.lt(to));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        validate::text("filter.search", Some(search), validate::MAX_STRING)?;
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        cond = cond.add(
            Expr::col(lead::Column::SearchText)
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    Ok(cond)
}

fn order_column(field: OrderField) -> lead::Column {
    match field {
        OrderField::Score => lead::Column::Score,
        OrderField::CreatedAt => lead::Column::CreatedAt,
        OrderField::UpdatedAt => lead::Column::UpdatedAt,
        OrderField::StageChangedAt => lead::Column::StageChangedAt,
    }
}

/// `leads`: a keyset page — `(order column, id)` past the keyset, so a deep
/// page costs what the first one costs.
pub async fn list(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    query: &LeadQuery,
) -> AppResult<LeadPage> {
    let order = query.order;
    let condition = filter_condition(viewer, &query.filter)?;
    let column = order_column(order.field);
    let mut select = lead::Entity::find().filter(condition.clone());
    if let Some(after) = query.after {
        let value: sea_orm::Value = match after.value {
            KeyValue::Score(score) => score.into(),
            KeyValue::Time(time) => time.into(),
        };
        let left = Expr::tuple([Expr::col(column), Expr::col(lead::Column::Id)]);
        let right = Expr::tuple([Expr::val(value), Expr::val(after.id)]);
        select = select.filter(match order.direction {
            Direction::Asc => left.gt(right),
            Direction::Desc => left.lt(right),
        });
    }
    select = match order.direction {
        Direction::Asc => select.order_by_asc(column).order_by_asc(lead::Column::Id),
        Direction::Desc => select.order_by_desc(column).order_by_desc(lead::Column::Id),
    };
    let first = query.first;
    let mut rows = select.limit(first + 1).all(db).await?;
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(LeadPage {
        rows,
        has_next,
        count_query: LeadCountQuery { condition },
    })
}

/// Rank for "the more advanced stage" of a merge: DISQUALIFIED is least.
fn advancement(stage: &str) -> AppResult<i32> {
    Ok(LeadStage::from_code(stage)?.rank().unwrap_or(0))
}

fn earliest(
    a: Option<chrono::DateTime<chrono::Utc>>,
    b: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(std::cmp::min(x, y)),
        (x, y) => x.or(y),
    }
}

/// `mergeLeads`: the duplicate's interactions and history move to the
/// primary, which gains the duplicate's filled fields it lacks and keeps the
/// more advanced stage; the duplicate is removed.
#[tracing::instrument(skip_all, fields(primary = primary_id, duplicate = duplicate_id))]
pub async fn merge(
    viewer: &Viewer,
    db: &DatabaseConnection,
    primary_id: i64,
    duplicate_id: i64,
) -> AppResult<lead::Model> {
    use entity::{interaction, stage_change};
    // The capability first: a role that may not merge learns nothing of
    // which ids exist; for the others a hidden lead is a missing one.
    policy::require(viewer, Capability::MergeLeads)?;
    if primary_id == duplicate_id {
        return Err(AppError::bad_input(
            "duplicateId",
            "a lead cannot be merged into itself",
        ));
    }
    let txn = db.begin().await?;
    let primary = lock(&txn, primary_id).await?;
    let duplicate = lock(&txn, duplicate_id).await?;
    authorize(viewer, &primary, LeadAction::Merge)?;
    authorize(viewer, &duplicate, LeadAction::Merge)?;
    let mut next = primary.clone();
    macro_rules! fill {
        ($($field:ident),*) => {$( if next.$field.is_none() { next.$field = duplicate.$field.clone(); } )*};
    }
    fill!(
        first_name,
        last_name,
        company,
        job_title,
        industry,
        company_size,
        country,
        phone,
        source_campaign_id,
        owner_id,
        qual_timeline,
        qual_notes,
        deal_amount_cents
    );
    next.qual_budget |= duplicate.qual_budget;
    next.qual_need |= duplicate.qual_need;
    next.qual_authority |= duplicate.qual_authority;
    next.reached_rank = std::cmp::max(primary.reached_rank, duplicate.reached_rank);
    next.mql_at = earliest(primary.mql_at, duplicate.mql_at);
    next.sql_at = earliest(primary.sql_at, duplicate.sql_at);
    next.opportunity_at = earliest(primary.opportunity_at, duplicate.opportunity_at);
    next.customer_at = earliest(primary.customer_at, duplicate.customer_at);
    next.search_text = search_text(&next);
    next.updated_at = validate::now();
    next.version += 1;

    interaction::Entity::update_many()
        .col_expr(interaction::Column::LeadId, Expr::val(primary_id))
        .filter(interaction::Column::LeadId.eq(duplicate_id))
        .exec(&txn)
        .await?;
    stage_change::Entity::update_many()
        .col_expr(stage_change::Column::LeadId, Expr::val(primary_id))
        .filter(stage_change::Column::LeadId.eq(duplicate_id))
        .exec(&txn)
        .await?;
    lead::Entity::delete_by_id(duplicate_id).exec(&txn).await?;
    let mut saved = save(&txn, &primary, next).await?;
    if advancement(&duplicate.stage)? > advancement(&primary.stage)? {
        let to = LeadStage::from_code(&duplicate.stage)?;
        let reason = Some(format!(
            "merged with {}",
            global_id::encode(NodeType::Lead, duplicate_id)
        ));
        if to == LeadStage::Opportunity || to == LeadStage::Customer {
            saved.deal_amount_cents = saved.deal_amount_cents.or(duplicate.deal_amount_cents);
        }
        saved = apply_transition(&txn, saved, to, &viewer.subject, reason, None).await?;
    }
    let saved = crate::scoring::service::rescore_lead(&txn, saved, validate::now()).await?;
    txn.commit().await?;
    Ok(saved)
}

/// `eraseLead` (GDPR): wipe personal data, keep what KPIs need; the email
/// becomes free for a new lead.
#[tracing::instrument(skip_all, fields(lead_id = id))]
pub async fn erase(viewer: &Viewer, db: &DatabaseConnection, id: i64) -> AppResult<bool> {
    use entity::interaction;
    policy::require(viewer, Capability::EraseLeads)?;
    let txn = db.begin().await?;
    let current = lock(&txn, id).await?;
    authorize(viewer, &current, LeadAction::Erase)?;
    let mut next = current.clone();
    next.email = format!("erased-{id}@erased.invalid");
    next.first_name = None;
    next.last_name = None;
    next.phone = None;
    next.company = None;
    next.job_title = None;
    next.qual_notes = None;
    next.qual_timeline = None;
    next.search_text = String::new();
    next.updated_at = validate::now();
    next.version += 1;
    let saved = save(&txn, &current, next).await?;
    interaction::Entity::update_many()
        .col_expr(
            interaction::Column::Metadata,
            Expr::value(sea_orm::Value::Json(None)),
        )
        .filter(interaction::Column::LeadId.eq(id))
        .exec(&txn)
        .await?;
    crate::scoring::service::rescore_lead(&txn, saved, validate::now()).await?;
    txn.commit().await?;
    Ok(true)
}
