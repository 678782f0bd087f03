//! The integration suite: every test talks HTTP to a real server on its own
//! fresh database — SQLite by default, PostgreSQL when `DATABASE_URL` says so.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod access;
mod helpers;
mod http;
mod interactions;
mod leads;
mod lifecycle;
mod merge;
mod schema;
