//! Leads: records, queries with keyset pagination, and the lifecycle
//! (transitions, qualification, assignment) of docs/lifecycle.md.

pub mod channel;
pub mod lifecycle;
pub mod loader;
pub mod model;
pub mod resolver;
pub mod service;
pub mod types;
