//! Bulk writes for the seed: multi-row `INSERT`s through the same SeaORM
//! values (and so the same timestamp and JSON encoders) the server writes
//! with, chunked under each database's bind-parameter limit.

use crate::error::AppResult;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// Bind parameters one statement may carry: SQLite's default
/// `SQLITE_MAX_VARIABLE_NUMBER` is 32,766, PostgreSQL's protocol allows 65,535.
fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 65_535,
        _ => 32_766,
    }
}

/// One table's insert: its name and columns, in the order of each row's values.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

impl Table {
    /// Rows one statement may hold on `backend`.
    pub fn rows_per_statement(&self, backend: DbBackend) -> usize {
        (max_params(backend) / self.columns.len()).max(1)
    }

    fn sql(&self, backend: DbBackend, rows: usize) -> String {
        let width = self.columns.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.name,
            self.columns.join(", ")
        );
        sql.reserve(rows * width * 7);
        let mut n = 0usize;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for col in 0..width {
                if col > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                match backend {
                    DbBackend::Postgres => {
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        sql
    }

    /// Insert `rows` (each exactly `columns.len()` values) in as few
    /// statements as the parameter limit allows; returns the rows written.
    pub async fn insert(&self, db: &impl ConnectionTrait, rows: Vec<Vec<Value>>) -> AppResult<u64> {
        let backend = db.get_database_backend();
        let per = self.rows_per_statement(backend);
        let total = rows.len();
        let mut full_sql: Option<String> = None;
        let mut written = 0u64;
        let mut iter = rows.into_iter();
        let mut done = 0usize;
        while done < total {
            let n = per.min(total - done);
            let sql = if n == per {
                full_sql
                    .get_or_insert_with(|| self.sql(backend, per))
                    .clone()
            } else {
                self.sql(backend, n)
            };
            let mut values = Vec::with_capacity(n * self.columns.len());
            for row in iter.by_ref().take(n) {
                debug_assert_eq!(row.len(), self.columns.len());
                values.extend(row);
            }
            let result = db
                .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            written += result.rows_affected();
            done += n;
        }
        Ok(written)
    }
}

/// After rows were inserted with explicit ids, move PostgreSQL's sequence
/// past them so the server's own inserts do not collide (SQLite's
/// AUTOINCREMENT follows explicit ids by itself).
pub async fn sync_sequence(
    db: &impl ConnectionTrait,
    table: &str,
    id_column: &str,
) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{id_column}'), \
             COALESCE((SELECT MAX({id_column}) FROM {table}), 0) + 1, false)"
        ))
        .await?;
    }
    Ok(())
}

/// Whether `table` exists: the seed writes a later domain's rows only once
/// its migration is there.
pub async fn table_exists(db: &impl ConnectionTrait, table: &str) -> AppResult<bool> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = $1"
        }
        _ => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "n")? > 0,
        None => false,
    })
}
