//! The KPIs of docs/kpis.md — funnel, cost per lead, lead relevance —
//! aggregated in the database over the stored per-lead milestones; only the
//! per-group totals reach the process.

pub mod calc;
pub mod model;
pub mod resolver;
pub mod rollups;
pub mod service;
pub mod types;
