//! What the interaction services take and give, in the domain's terms.

use super::kind::InteractionKind;
use crate::error::AppError;
use crate::leads::channel::Channel;
use crate::leads::model::NewLead;
use chrono::{DateTime, Utc};

/// Where an interaction goes: a lead id or an email.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeadRef {
    Id(i64),
    Email(String),
}

/// One interaction as given (`recordInteraction`, an item of
/// `recordInteractions`); the service checks it.
#[derive(Clone, Debug)]
pub struct NewInteraction {
    pub lead: LeadRef,
    pub kind: InteractionKind,
    /// Default: now.
    pub occurred_at: Option<DateTime<Utc>>,
    pub channel: Option<Channel>,
    pub campaign_id: Option<i64>,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// Where the input was given, for the fields of its errors (`input.`,
    /// `inputs.3.`).
    pub prefix: String,
}

/// A web form (`captureLead`): the person and the submission.
#[derive(Clone, Debug)]
pub struct Capture {
    pub lead: NewLead,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// What `captureLead` did.
#[derive(Clone, Copy, Debug)]
pub struct Captured {
    pub lead_id: i64,
    pub created: bool,
    pub interaction_id: i64,
}

/// What a batch did: items stored, replays of stored items, and the refused
/// items by their index in the input.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub recorded: u64,
    pub duplicates: u64,
    pub errors: Vec<(usize, AppError)>,
}
