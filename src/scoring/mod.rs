//! Scoring: FIT and ENGAGEMENT rules, decay, caps and the score breakdown
//! of DESIGN.md §4.

pub mod engine;
