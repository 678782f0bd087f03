//! leadgraph: a GraphQL API backend that follows every B2B lead from its
//! first signal to a sale. See `README.md` and the design in `docs/`
//! (`docs/architecture.md` first).

pub mod app;
pub mod auth;
pub mod campaigns;
pub mod cli;
pub mod cli_import;
pub mod config;
pub mod cors;
pub mod cursor;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod exports;
pub mod global_id;
pub mod graphql;
pub mod imports;
pub mod interactions;
pub mod kpis;
pub mod leads;
pub mod patch;
pub mod personas;
pub mod scoring;
pub mod seed;
pub mod telemetry;
pub mod users;
pub mod validate;
pub mod webhooks;
