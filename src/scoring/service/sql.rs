//! A raw SQL builder with the backend's placeholders.

use sea_orm::{DbBackend, Statement, Value};
use std::fmt::Write as _;

/// Raw SQL with backend placeholders (`$n` on PostgreSQL, `?` on SQLite).
pub(super) struct Sql {
    text: String,
    values: Vec<Value>,
    pub(super) postgres: bool,
}

impl Sql {
    pub(super) fn new(backend: DbBackend) -> Sql {
        Sql {
            text: String::with_capacity(256),
            values: Vec::new(),
            postgres: backend == DbBackend::Postgres,
        }
    }

    pub(super) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// A bound parameter.
    pub(super) fn param(&mut self, value: impl Into<Value>) -> &mut Sql {
        self.values.push(value.into());
        if self.postgres {
            let _ = write!(self.text, "${}", self.values.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(p, p, …)` of strings.
    pub(super) fn list(&mut self, items: &[String]) -> &mut Sql {
        self.push("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.param(item.clone());
        }
        self.push(")")
    }

    pub(super) fn statement(self, backend: DbBackend) -> Statement {
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}
