//! Scoring rules and settings, and rescoring (docs/scoring.md, docs/personas.md): one lead
//! inside the transaction of the write that changed it, or many leads in
//! batches of [`BATCH`] per transaction.
//!
//! Every rescoring reads the rules, personas and threshold
//! ([`ScoringContext`]) in the same transaction and holds the leads' row
//! locks (PostgreSQL `FOR UPDATE`; SQLite has one writer). A write that
//! recorded interactions scores its leads from their stored ENGAGEMENT sums
//! where that is exact ([`rescore_recorded`]); otherwise the interactions
//! of the kinds that active ENGAGEMENT rules read are loaded in one query
//! per batch. Changed scores are written in one statement per 500 leads,
//! and a LEAD that reaches the threshold moves to MQL through
//! `apply_transition` like any other change. Scores are derived data: a
//! rescoring changes neither `version` nor `updatedAt`.

mod context;
mod rescore;
mod rules;
mod settings;
mod sql;
mod write;

pub use context::*;
pub use rescore::*;
pub use rules::*;
pub use settings::*;

use crate::validate;

/// `mqlThreshold` until someone sets it.
pub const DEFAULT_MQL_THRESHOLD: i32 = 50;
/// Leads per transaction of a bulk rescoring.
pub const BATCH: u64 = 1000;
/// At most this many values in a FIT condition.
pub const MAX_VALUES: usize = validate::MAX_LIST;
const SETTINGS_ID: i32 = 1;
