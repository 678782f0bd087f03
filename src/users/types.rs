use crate::auth::Role;
use crate::graphql::ids::{NodeType, encode};
use async_graphql::{ComplexObject, ID, SimpleObject};

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

impl From<entity::app_user::Model> for User {
    fn from(m: entity::app_user::Model) -> Self {
        User {
            db_id: m.id,
            subject: m.subject,
            name: m.name,
            email: m.email,
            role: crate::graphql::enum_from_db(&m.role),
        }
    }
}

#[ComplexObject]
impl User {
    pub async fn id(&self) -> ID {
        encode(NodeType::User, self.db_id)
    }
}
