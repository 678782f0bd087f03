//! The work on campaigns: validation, access through the policy, the spend
//! upsert, and resolving a lead's or an interaction's campaign.

use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::leads::channel::Channel;
use crate::validate;
use chrono::NaiveDate;
use entity::{campaign, campaign_spend};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

/// A campaign's attributes as given (`createCampaign`, `updateCampaign`);
/// the service validates them.
#[derive(Clone, Debug)]
pub struct CampaignSpec {
    pub name: String,
    pub channel: Channel,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// A decimal amount, at most 2 decimals.
    pub budget: Option<String>,
}

/// Validated attributes of a campaign.
struct Attributes {
    name: String,
    channel: Channel,
    starts_on: Option<NaiveDate>,
    ends_on: Option<NaiveDate>,
    budget_cents: Option<i64>,
}

fn validate_input(input: &CampaignSpec) -> AppResult<Attributes> {
    let name = validate::text("input.name", Some(&input.name), validate::MAX_STRING)?
        .ok_or_else(|| AppError::bad_input("input.name", "input.name must not be empty"))?;
    let (starts_on, ends_on) = (input.starts_on, input.ends_on);
    if let (Some(start), Some(end)) = (starts_on, ends_on)
        && end < start
    {
        return Err(AppError::bad_input(
            "input.endsOn",
            "input.endsOn must not be before input.startsOn",
        ));
    }
    Ok(Attributes {
        name,
        channel: input.channel,
        starts_on,
        ends_on,
        budget_cents: input
            .budget
            .as_ref()
            .map(|b| validate::amount_cents("input.budget", b))
            .transpose()?,
    })
}

fn duplicate_name(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict("a campaign with this name already exists")
    } else {
        err.into()
    }
}

/// `campaigns`: every campaign, by name.
pub async fn list(viewer: &Viewer, db: &impl ConnectionTrait) -> AppResult<Vec<campaign::Model>> {
    policy::require(viewer, Capability::ReadCampaigns)?;
    Ok(campaign::Entity::find()
        .order_by_asc(campaign::Column::Name)
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await?)
}

/// `createCampaign`.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn create(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: CampaignSpec,
) -> AppResult<campaign::Model> {
    policy::require(viewer, Capability::WriteCampaigns)?;
    let a = validate_input(&input)?;
    let now = validate::now();
    let row = campaign::ActiveModel {
        name: Set(a.name),
        channel: Set(a.channel.code().to_owned()),
        starts_on: Set(a.starts_on),
        ends_on: Set(a.ends_on),
        budget_cents: Set(a.budget_cents),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    campaign::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(duplicate_name)
}

/// `updateCampaign`: replaces every attribute.
#[tracing::instrument(skip_all, fields(campaign_id = id))]
pub async fn update(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: CampaignSpec,
) -> AppResult<campaign::Model> {
    policy::require(viewer, Capability::WriteCampaigns)?;
    let a = validate_input(&input)?;
    let txn = db.begin().await?;
    let current = campaign::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("campaign"))?;
    let mut row: campaign::ActiveModel = current.into();
    row.name = Set(a.name);
    row.channel = Set(a.channel.code().to_owned());
    row.starts_on = Set(a.starts_on);
    row.ends_on = Set(a.ends_on);
    row.budget_cents = Set(a.budget_cents);
    row.updated_at = Set(validate::now());
    let saved = campaign::Entity::update(row)
        .exec(&txn)
        .await
        .map_err(duplicate_name)?;
    txn.commit().await?;
    Ok(saved)
}

/// `recordSpend`: one amount per campaign and day; recording a day again
/// replaces its amount (an ad platform re-reporting).
#[tracing::instrument(skip_all, fields(campaign_id = id, %on))]
pub async fn record_spend(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    on: NaiveDate,
    amount: &str,
) -> AppResult<campaign::Model> {
    policy::require(viewer, Capability::WriteCampaigns)?;
    let cents = validate::amount_cents("amount", amount)?;
    let txn = db.begin().await?;
    let current = campaign::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("campaign"))?;
    let row = campaign_spend::ActiveModel {
        campaign_id: Set(id),
        spent_on: Set(on),
        amount_cents: Set(cents),
        recorded_at: Set(validate::now()),
    };
    campaign_spend::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                campaign_spend::Column::CampaignId,
                campaign_spend::Column::SpentOn,
            ])
            .update_columns([
                campaign_spend::Column::AmountCents,
                campaign_spend::Column::RecordedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(current)
}

/// The channels of these campaigns (the ones that exist), inside the
/// caller's transaction: a lead's or an interaction's campaign must exist,
/// and its channel is their default one.
pub async fn channels(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> AppResult<std::collections::HashMap<i64, Channel>> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, String)> = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Id)
        .column(campaign::Column::Channel)
        .filter(campaign::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    rows.into_iter()
        .map(|(id, channel)| Ok((id, Channel::from_code(&channel)?)))
        .collect()
}

/// The channel of one campaign that must exist; `BAD_USER_INPUT` on `field` otherwise.
pub async fn source_channel(db: &impl ConnectionTrait, id: i64, field: &str) -> AppResult<Channel> {
    channels(db, [id])
        .await?
        .remove(&id)
        .ok_or_else(|| AppError::bad_input(field, "no such campaign"))
}
