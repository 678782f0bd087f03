//! The one error type of leadgraph and its GraphQL form (docs/errors.md).
//!
//! Each variant is one public error code (docs/errors.md). How an `AppError`
//! becomes a GraphQL error (with `extensions.code`, internal details masked)
//! is the GraphQL layer's business: `graphql::error`.

use sea_orm::DbErr;
use std::sync::Arc;

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
    /// A fault of the server or the database; the client sees only
    /// "internal error" and the request id, the log sees the message and the
    /// chain of sources.
    #[error("internal: {message}")]
    Internal {
        message: String,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
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
            AppError::Internal { .. } | AppError::Config { .. } => "INTERNAL_SERVER_ERROR",
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
        AppError::Internal {
            message: detail.to_string(),
            source: None,
        }
    }

    /// An internal error caused by `source`, which it keeps (for the log's
    /// chain of causes and for callers that inspect it).
    pub fn internal_from(
        context: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        AppError::Internal {
            message: format!("{context}: {source}"),
            source: Some(Arc::new(source)),
        }
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
            AppError::Internal { .. } | AppError::Config { .. } => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        AppError::internal_from("database", err)
    }
}

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn internal_errors_keep_their_source() {
        let err: AppError = DbErr::Custom("the disk is full".into()).into();
        assert_eq!(err.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(err.public_message(), "internal error");
        let source = err.source().expect("the database error is kept");
        assert!(source.to_string().contains("the disk is full"), "{source}");
        assert!(AppError::internal("plain").source().is_none());
    }
}
