//! What the KPI services take and give, in the domain's terms: the period
//! asked for, the grouping, and the groups of an answer.

use crate::global_id::{self, NodeType};
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

impl Group {
    /// The group's `key` (`ALL`, a channel code, a campaign's or persona's
    /// global id, or `NONE`) and a readable `label`, as both the GraphQL
    /// answer and the CSV export show them.
    pub fn key_and_label(self) -> (String, String) {
        let named = |kind, id, name: Option<String>| {
            let key = global_id::encode(kind, id);
            let label = name.unwrap_or_else(|| key.clone());
            (key, label)
        };
        match self {
            Group::All => ("ALL".into(), "All leads".into()),
            Group::Channel(channel) => (channel.code().into(), channel_label(channel.code())),
            Group::Campaign(id, name) => named(NodeType::Campaign, id, name),
            Group::Persona(id, name) => named(NodeType::Persona, id, name),
            Group::NoCampaign => ("NONE".into(), "No campaign".into()),
            Group::NoPersona => ("NONE".into(), "No persona".into()),
        }
    }
}

/// `PAID_SEARCH` → `Paid search`.
fn channel_label(name: &str) -> String {
    let lower = name.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => lower,
    }
}
