//! What the KPI services take and give, in the domain's terms: the period
//! asked for, the grouping, and the groups of an answer.

use crate::leads::channel::Channel;
use chrono::{DateTime, Utc};

/// A period `[from, to)` as asked; the services check it (`from < to`, at
/// most 5 years) after the caller's access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// How KPI figures are grouped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    None,
    Channel,
    Campaign,
    Persona,
}

/// One group of a KPI answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    /// The whole cohort (`GroupBy::None`).
    All,
    Channel(Channel),
    /// A campaign, with its name unless it has since been deleted.
    Campaign(i64, Option<String>),
    /// Leads without a source campaign.
    NoCampaign,
    /// A persona, with its name unless it has since been deleted.
    Persona(i64, Option<String>),
    /// Leads without a persona.
    NoPersona,
}
