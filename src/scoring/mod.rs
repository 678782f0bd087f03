//! Scoring: FIT and ENGAGEMENT rules, decay, caps and the score breakdown
//! of docs/scoring.md; rescoring in the write's transaction and in bulk; the
//! automatic move to MQL.

pub mod engine;
pub mod resolver;
pub mod service;
pub mod types;
