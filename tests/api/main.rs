//! The integration suite: every test talks HTTP to a real server on its own
//! fresh database — SQLite by default, PostgreSQL when `DATABASE_URL` says so.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod abuse;
mod access;
mod architecture;
mod campaigns;
mod cli;
mod cors;
mod demo;
mod export;
mod graphiql;
mod helpers;
mod http;
mod import;
mod incremental;
mod inputs;
mod interactions;
mod kpis;
mod leads;
mod leaks;
mod lifecycle;
mod limits;
mod merge;
mod operations;
mod persisted;
mod personas;
mod plans;
mod rollups;
mod schema;
mod scoring;
mod storage;
mod subscriptions;
mod trends;
mod webhooks;
