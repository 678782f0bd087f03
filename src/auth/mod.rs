//! Authentication (JWT → [`Viewer`]) and authorization ([`policy`]).

pub mod jwt;
pub mod policy;

use crate::error::{AppError, AppResult};

/// What a token may do; see the role table in docs/roles.md.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Marketing, Role::Sales, Role::Ingest];

    /// The stored and token spelling (`app_user.role`, the `role` claim), e.g. `"SALES"`.
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Marketing => "MARKETING",
            Role::Sales => "SALES",
            Role::Ingest => "INGEST",
        }
    }

    /// The role of a stored code; an unknown one is a broken database.
    pub fn from_code(code: &str) -> AppResult<Self> {
        Self::parse(code).ok_or_else(|| AppError::internal(format!("unknown stored role {code:?}")))
    }

    /// The role spelled `code`, if any (a token's claim, a CLI argument).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The token of a `Bearer …` value (an `Authorization` header), scheme in
/// any letter case.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// The authenticated caller of one request or subscription.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    pub subject: String,
    pub role: Role,
    /// `exp` of the token, seconds since the epoch.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_codes_are_pinned() {
        let codes: Vec<_> = Role::ALL.iter().map(|r| (*r, r.code())).collect();
        assert_eq!(
            codes,
            [
                (Role::Admin, "ADMIN"),
                (Role::Marketing, "MARKETING"),
                (Role::Sales, "SALES"),
                (Role::Ingest, "INGEST"),
            ]
        );
        for role in Role::ALL {
            assert_eq!(Role::from_code(role.code()).ok(), Some(role));
        }
        assert!(matches!(
            Role::from_code("Admin"),
            Err(AppError::Internal { message: m, .. }) if m.contains("\"Admin\"")
        ));
    }
}
