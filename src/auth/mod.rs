//! Authentication (JWT → [`Viewer`]) and authorization ([`policy`]).

pub mod jwt;
pub mod policy;

use crate::cli::TokenArgs;
use crate::config::Config;
use async_graphql::Enum;

/// What a token may do; see the role table in DESIGN.md §2.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

/// The authenticated caller of one request or subscription.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    pub subject: String,
    pub role: Role,
    /// `exp` of the token, seconds since the epoch.
    pub expires_at: i64,
}

/// `leadgraph token`: print a signed token for the configured HS256 secret.
pub fn mint_token_command(config: &Config, args: &TokenArgs) -> Result<(), String> {
    let role = crate::graphql::enum_parse::<Role>(&args.role.to_uppercase()).ok_or_else(|| {
        format!(
            "unknown role {:?}: use ADMIN, MARKETING, SALES or INGEST",
            args.role
        )
    })?;
    let keys = jwt::JwtKeys::from_config(config, true).map_err(|e| e.to_string())?;
    let ttl = i64::try_from(args.ttl.as_secs()).map_err(|_| "ttl too long".to_owned())?;
    let token = keys
        .mint(
            &args.sub,
            role,
            ttl,
            args.name.as_deref(),
            args.email.as_deref(),
        )
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
