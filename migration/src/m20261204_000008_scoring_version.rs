//! A version of what scoring reads besides the lead: the rules, the personas
//! and the scoring settings. Every change to those tables replaces the token
//! with a new random one, so a token names one content of them: instances
//! keep the scoring context by token and read only the token on a write
//! (docs/scoring.md, "The scoring context cache"). A random token rather
//! than a counter: two databases (a test's, a copy) can never show the same
//! token for different rules. Triggers replace it, so no writer can forget
//! to: the services, `leadgraph seed`, a migration or an operator's SQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 3] = ["scoring_rule", "persona", "scoring_settings"];

/// A random non-negative bigint, in each backend's SQL.
fn random_token(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "floor(random() * 9007199254740991)::bigint",
        _ => "abs(random() / 2)",
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let token = random_token(backend);
        db.execute_unprepared(
            "CREATE TABLE scoring_version (id integer PRIMARY KEY, token bigint NOT NULL)",
        )
        .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO scoring_version (id, token) VALUES (1, {token})"
        ))
        .await?;
        let bump = format!("UPDATE scoring_version SET token = {token} WHERE id = 1");
        match backend {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION new_scoring_version() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN {bump}; RETURN NULL; END $$"
                ))
                .await?;
                for table in TABLES {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_version \
                         AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION new_scoring_version()"
                    ))
                    .await?;
                }
            }
            _ => {
                // SQLite has row triggers only, one per event.
                for table in TABLES {
                    for event in ["insert", "update", "delete"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_version_{event} AFTER {event} ON {table} \
                             BEGIN {bump}; END"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for table in TABLES {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS {table}_version ON {table}"
                    ))
                    .await?;
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS new_scoring_version()")
                    .await?;
            }
            _ => {
                for table in TABLES {
                    for event in ["insert", "update", "delete"] {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS {table}_version_{event}"
                        ))
                        .await?;
                    }
                }
            }
        }
        db.execute_unprepared("DROP TABLE scoring_version").await?;
        Ok(())
    }
}
