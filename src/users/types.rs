use crate::app::Loaders;
use crate::auth::{self, Viewer};
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{NodeType, encode};
use async_graphql::{ComplexObject, Enum, ID, SimpleObject};

// The description below is part of the published SDL and stays as it is;
// its "DESIGN.md §2" is docs/roles.md in this repository.
/// What a token may do; see the role table in DESIGN.md §2.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "auth::Role")]
pub enum Role {
    /// Everything, including erasure and reassigning any lead.
    Admin,
    /// Campaigns, scoring, personas, KPIs; all leads.
    Marketing,
    /// Qualified leads (MQL and beyond) and their own.
    Sales,
    /// Write-only ingestion of leads and interactions.
    Ingest,
}

/// A person (or system) that has called the API with a valid token.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub db_id: i64,
    /// The token's `sub` claim.
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The role of the subject's latest token.
    pub role: Role,
}

impl TryFrom<entity::app_user::Model> for User {
    type Error = AppError;

    fn try_from(m: entity::app_user::Model) -> Result<Self, AppError> {
        Ok(User {
            db_id: m.id,
            role: auth::Role::from_code(&m.role)?.into(),
            subject: m.subject,
            name: m.name,
            email: m.email,
        })
    }
}

impl User {
    /// User `id`, when the viewer may see it (`users::service::may_see`).
    pub async fn visible(viewer: &Viewer, loaders: &Loaders, id: i64) -> AppResult<Option<User>> {
        if !super::service::may_see(viewer, id) {
            return Ok(None);
        }
        loaders
            .users
            .load_one(id)
            .await?
            .map(User::try_from)
            .transpose()
    }

    /// The viewer's own user.
    pub async fn me(viewer: &Viewer, loaders: &Loaders) -> AppResult<User> {
        loaders
            .users
            .load_one(viewer.user_id)
            .await?
            .map(User::try_from)
            .ok_or_else(|| AppError::internal("the viewer's user row is missing"))?
    }
}

#[ComplexObject]
impl User {
    pub async fn id(&self) -> ID {
        encode(NodeType::User, self.db_id)
    }
}
