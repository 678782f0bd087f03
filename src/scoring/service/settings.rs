//! The scoring settings: the MQL threshold.

use super::{DEFAULT_MQL_THRESHOLD, SETTINGS_ID};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::{AppError, AppResult};
use crate::validate;
use entity::scoring_settings;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};

/// The MQL threshold in force.
pub async fn mql_threshold(db: &impl ConnectionTrait) -> AppResult<i32> {
    Ok(scoring_settings::Entity::find_by_id(SETTINGS_ID)
        .one(db)
        .await?
        .map_or(DEFAULT_MQL_THRESHOLD, |s| s.mql_threshold))
}

/// `scoringSettings`: the threshold.
pub async fn settings(viewer: &Viewer, db: &impl ConnectionTrait) -> AppResult<i32> {
    policy::require(viewer, Capability::ReadScoring)?;
    mql_threshold(db).await
}

/// `updateScoringSettings`; it takes effect on the next rescoring.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn update_settings(
    viewer: &Viewer,
    db: &DatabaseConnection,
    mql_threshold: i32,
) -> AppResult<i32> {
    policy::require(viewer, Capability::WriteScoring)?;
    if mql_threshold < 1 {
        return Err(AppError::bad_input(
            "mqlThreshold",
            "mqlThreshold must be at least 1",
        ));
    }
    let row = scoring_settings::ActiveModel {
        id: Set(SETTINGS_ID),
        mql_threshold: Set(mql_threshold),
        updated_at: Set(validate::now()),
    };
    scoring_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(scoring_settings::Column::Id)
                .update_columns([
                    scoring_settings::Column::MqlThreshold,
                    scoring_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(mql_threshold)
}
