//! The database handles and the SQL helpers every store shares.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use std::time::Duration;

/// Rows per multi-row write statement on `backend`.
///
/// On PostgreSQL a statement's message must fit the socket's initial send
/// buffer (16 KiB): sqlx does not set `TCP_NODELAY`, so a larger message is
/// written in parts and its tail waits for the server's delayed ACK (about
/// 40 ms per statement, measured). SQLite has no such limit.
pub fn rows_per_statement(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 32,
        _ => 500,
    }
}

/// A pooled connection idle for this long is pinged before it is handed
/// out (a server, proxy or firewall may have dropped it); a busy one is not.
/// The pools' default pings on every checkout: one more round trip per
/// statement, which was 15 % of the server's CPU under the sales queue
/// (bench/RESULTS.md, "Issue 12: full run at commit …").
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Database handles. On SQLite all writes go through one connection (SQLite
/// has one writer anyway; this turns lock errors into a queue) and reads use
/// a small pool; on PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub read: DatabaseConnection,
    pub write: DatabaseConnection,
}

impl Db {
    pub fn backend(&self) -> DbBackend {
        self.read.get_database_backend()
    }

    /// Connect to `DATABASE_URL`; a failure names the setting, the URL
    /// (without its password) and the cause.
    pub async fn connect(config: &Config) -> AppResult<Db> {
        let url = &config.database_url;
        let unreachable = |err: &dyn std::fmt::Display| {
            AppError::config(
                "DATABASE_URL",
                format!("cannot open the database {}: {err}", redact_password(url)),
            )
        };
        if !url.starts_with("postgres://")
            && !url.starts_with("postgresql://")
            && !url.starts_with("sqlite:")
        {
            return Err(AppError::config(
                "DATABASE_URL",
                format!(
                    "{} is neither sqlite:… nor postgres://…",
                    redact_password(url)
                ),
            ));
        }
        if config.is_postgres() {
            // One plain connection first: a pool that cannot connect only
            // says it timed out, this says why (refused, unknown host, auth).
            use sea_orm::sqlx::Connection;
            match sea_orm::sqlx::PgConnection::connect(url).await {
                Ok(connection) => {
                    let _ = connection.close().await;
                }
                Err(err) => return Err(unreachable(&err)),
            }
            let mut options = ConnectOptions::new(url.clone());
            options
                .max_connections(config.db_pool)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
                .sqlx_logging(false);
            let db = Database::connect(options)
                .await
                .map_err(|e| unreachable(&e))?;
            Ok(Db {
                read: db.clone(),
                write: db,
            })
        } else {
            let sqlite = |max: u32| {
                let mut options = ConnectOptions::new(url.clone());
                options
                    .max_connections(max)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
                    .sqlx_logging(false)
                    .map_sqlx_sqlite_opts(|o| {
                        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                            .busy_timeout(Duration::from_secs(10))
                            .foreign_keys(true)
                            .create_if_missing(true)
                    });
                options
            };
            let write = Database::connect(sqlite(1))
                .await
                .map_err(|e| unreachable(&e))?;
            let read = Database::connect(sqlite(config.db_pool.clamp(1, 8)))
                .await
                .map_err(|e| unreachable(&e))?;
            Ok(Db { read, write })
        }
    }
}

/// `url` with the password of its user info, if any, replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}
