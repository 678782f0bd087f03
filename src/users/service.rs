//! Users: created on a subject's first request, listed for assignment.

use crate::app::AppState;
use crate::auth::{Role, Viewer, policy};
use crate::error::{AppError, AppResult};
use entity::app_user;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};

/// Known subjects and what their row says, so a request costs no write.
#[derive(Clone)]
pub struct UserCache(moka::sync::Cache<String, CachedUser>);

#[derive(Clone, PartialEq, Eq)]
struct CachedUser {
    id: i64,
    role: Role,
    name: Option<String>,
    email: Option<String>,
}

impl UserCache {
    pub fn new() -> Self {
        UserCache(moka::sync::Cache::new(100_000))
    }
}

impl Default for UserCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Verify a token and find (or create) its user.
pub async fn viewer_for_token(state: &AppState, token: &str) -> AppResult<Viewer> {
    let verified = state.keys.verify(token)?;
    let wanted = |id| CachedUser {
        id,
        role: verified.role,
        name: verified.name.clone(),
        email: verified.email.clone(),
    };
    if let Some(cached) = state.users.0.get(&verified.subject)
        && cached == wanted(cached.id)
    {
        return Ok(Viewer {
            user_id: cached.id,
            subject: verified.subject,
            role: verified.role,
            expires_at: verified.expires_at,
        });
    }
    let row = upsert(
        &state.db.write,
        &verified.subject,
        verified.role,
        verified.name.clone(),
        verified.email.clone(),
    )
    .await?;
    state
        .users
        .0
        .insert(verified.subject.clone(), wanted(row.id));
    Ok(Viewer {
        user_id: row.id,
        subject: verified.subject,
        role: verified.role,
        expires_at: verified.expires_at,
    })
}

/// Insert the subject's row, or refresh its role, name and email.
pub async fn upsert(
    db: &impl ConnectionTrait,
    subject: &str,
    role: Role,
    name: Option<String>,
    email: Option<String>,
) -> AppResult<app_user::Model> {
    let model = app_user::ActiveModel {
        subject: Set(subject.to_owned()),
        name: Set(name),
        email: Set(email),
        role: Set(role.code().to_owned()),
        created_at: Set(crate::validate::now()),
        ..Default::default()
    };
    app_user::Entity::insert(model)
        .on_conflict(
            OnConflict::column(app_user::Column::Subject)
                .update_columns([
                    app_user::Column::Role,
                    app_user::Column::Name,
                    app_user::Column::Email,
                ])
                .to_owned(),
        )
        .exec_with_returning(db)
        .await
        .map_err(AppError::from)
}

/// Whether the viewer may see user `id`: itself, or anyone when it may
/// list users.
pub fn may_see(viewer: &Viewer, id: i64) -> bool {
    id == viewer.user_id || policy::allows(viewer.role, policy::Capability::ListUsers)
}

pub async fn list(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    role: Option<Role>,
) -> AppResult<Vec<app_user::Model>> {
    policy::require(viewer, policy::Capability::ListUsers)?;
    let mut query = app_user::Entity::find().order_by_asc(app_user::Column::Id);
    if let Some(role) = role {
        query = query.filter(app_user::Column::Role.eq(role.code()));
    }
    Ok(query.all(db).await?)
}
