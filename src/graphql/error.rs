//! From `AppError` to a GraphQL error.
//!
//! async-graphql turns any `Display` error into a GraphQL error without
//! extensions, so a bare `?` on `AppError` would drop `extensions.code` and
//! leak the message. Resolvers therefore return [`ApiError`], which is *not*
//! `Display`: the only way into a GraphQL error is [`ToGraphql::to_graphql`],
//! which sets the code and masks internal details.

use crate::error::AppError;
use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

/// The GraphQL form of an [`AppError`].
pub trait ToGraphql {
    /// The GraphQL error with `extensions.code` (and `field` / `leadId`).
    fn to_graphql(&self) -> async_graphql::Error;
}

impl ToGraphql for AppError {
    fn to_graphql(&self) -> async_graphql::Error {
        if matches!(self, AppError::Internal { .. } | AppError::Config { .. }) {
            tracing::error!(error = %self, "internal error");
        }
        async_graphql::Error::new(self.public_message()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                AppError::BadInput { field, .. } => ext.set("field", field.as_str()),
                AppError::Conflict { field, lead_id, .. } => {
                    if let Some(field) = field {
                        ext.set("field", field.as_str());
                    }
                    if let Some(id) = lead_id {
                        ext.set("leadId", id.as_str());
                    }
                }
                _ => {}
            }
        })
    }
}

/// Error type of every resolver. Deliberately not `Display`, so async-graphql's
/// blanket conversion cannot apply and every error keeps its code.
#[derive(Debug, Clone)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        ApiError(err)
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError(err.into())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        err.0.to_graphql()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
