//! What the lead services take, in the domain's terms: new leads, patches,
//! qualifications and queries with their keyset already decoded.

use super::channel::Channel;
use super::lifecycle::LeadStage;
use crate::patch::Patch;
use chrono::{DateTime, Utc};

/// A new lead as given (`createLead`, `captureLead`); the service checks it.
#[derive(Clone, Debug, Default)]
pub struct NewLead {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<i32>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub source_channel: Option<Channel>,
    pub source_campaign_id: Option<i64>,
}

/// A change of a lead's attributes (`updateLead`): each field kept, cleared
/// or set.
#[derive(Clone, Debug, Default)]
pub struct LeadPatch {
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub company: Patch<String>,
    pub job_title: Patch<String>,
    pub industry: Patch<String>,
    pub company_size: Patch<i32>,
    pub country: Patch<String>,
    pub phone: Patch<String>,
}

/// BANT as recorded by `qualifyLead`: an absent field keeps its value.
#[derive(Clone, Debug, Default)]
pub struct Qualification {
    pub budget: Option<bool>,
    pub authority: Option<bool>,
    pub need: Option<bool>,
    pub timeline: Option<String>,
    pub notes: Option<String>,
}

/// The column a lead list is ordered by (then by id).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderField {
    Score,
    CreatedAt,
    UpdatedAt,
    StageChangedAt,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub field: OrderField,
    pub direction: Direction,
}

impl Default for Order {
    /// Newest first.
    fn default() -> Self {
        Order {
            field: OrderField::CreatedAt,
            direction: Direction::Desc,
        }
    }
}

/// Which leads a list holds, narrowed further by the viewer's scope.
#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    pub stages: Option<Vec<LeadStage>>,
    pub owner_id: Option<i64>,
    pub unassigned: Option<bool>,
    pub persona_ids: Option<Vec<i64>>,
    pub campaign_ids: Option<Vec<i64>>,
    pub channels: Option<Vec<Channel>>,
    pub score_min: Option<i32>,
    pub score_max: Option<i32>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub search: Option<String>,
}

/// The position after which a page starts: the order column's value and
/// the id of the last lead seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keyset {
    pub value: KeyValue,
    pub id: i64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyValue {
    Score(i32),
    Time(DateTime<Utc>),
}

/// One page of `leads`.
#[derive(Clone, Debug, Default)]
pub struct LeadQuery {
    pub first: u64,
    pub after: Option<Keyset>,
    pub filter: LeadFilter,
    pub order: Order,
}
