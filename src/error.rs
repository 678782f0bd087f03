//! The one error type of leadgraph and its GraphQL form (DESIGN.md §8).
//!
//! async-graphql turns any `Display` error into a GraphQL error without
//! extensions, so a bare `?` on `AppError` would drop `extensions.code` and
//! leak the message. Resolvers therefore return [`ApiError`], which is *not*
//! `Display`: the only way into a GraphQL error is [`ApiError::into`], which
//! sets the code and masks internal details.

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{message}")]
    Conflict {
        message: String,
        /// The argument that conflicts, e.g. `input.externalId`.
        field: Option<String>,
        lead_id: Option<String>,
    },
    #[error("{0}")]
    LimitExceeded(String),
    #[error("internal: {0}")]
    Internal(String),
    /// A setting the operator gave does not work (an unreachable database,
    /// a bad URL, an address in use): the message names the setting and the
    /// cause. Only the command line sees it.
    #[error("{setting}: {message}")]
    Config {
        setting: &'static str,
        message: String,
    },
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::InvalidTransition(_) => "INVALID_TRANSITION",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            AppError::Internal(_) | AppError::Config { .. } => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
            field: None,
            lead_id: None,
        }
    }

    /// A `CONFLICT` on one argument, named in `extensions.field`.
    pub fn conflict_on(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
            field: Some(field.into()),
            lead_id: None,
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }

    pub fn config(setting: &'static str, message: impl Into<String>) -> Self {
        AppError::Config {
            setting,
            message: message.into(),
        }
    }

    /// The message a client may see: internal details never leave the process.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) | AppError::Config { .. } => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// The GraphQL error with `extensions.code` (and `field` / `leadId`).
    pub fn to_graphql(&self) -> async_graphql::Error {
        if matches!(self, AppError::Internal(_) | AppError::Config { .. }) {
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

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        AppError::Internal(format!("database: {err}"))
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

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
