//! Seeded users: a few admins, a marketing team, a few dozen sales reps (the
//! owners of qualified leads) and ingestion clients, with subjects the bench
//! can mint tokens for.

use super::writer::Table;
use crate::auth::Role;
use entity::app_user;
use sea_orm::Value;

/// How many users of each role the reference data set has.
pub const TEAM: [(Role, usize); 4] = [
    (Role::Admin, 2),
    (Role::Marketing, 8),
    (Role::Sales, 40),
    (Role::Ingest, 2),
];

pub const TABLE: Table = Table {
    name: "app_user",
    columns: &["id", "subject", "name", "email", "role", "created_at"],
};

/// The seeded subject of the `n`-th (1-based) user of `role`, e.g.
/// `sales-07@seed.leadgraph.test`.
pub fn subject(role: Role, n: usize) -> String {
    format!("{}-{n:02}@seed.leadgraph.test", role.code().to_lowercase())
}

/// The users, by role.
pub struct Users {
    pub rows: Vec<app_user::Model>,
}

impl Users {
    pub fn of(&self, role: Role) -> Vec<&app_user::Model> {
        let name = role.code();
        self.rows.iter().filter(|u| u.role == name).collect()
    }
}

/// `team`'s users (how many of each role), ids from 1 in that order.
pub fn generate(team: &[(Role, usize)], created_at: chrono::DateTime<chrono::Utc>) -> Users {
    let mut rows = Vec::new();
    for &(role, count) in team {
        for n in 1..=count {
            let id = i64::try_from(rows.len() + 1).unwrap_or(i64::MAX);
            let first =
                super::names::FIRST_NAMES[(id as usize * 7) % super::names::FIRST_NAMES.len()];
            let last =
                super::names::LAST_NAMES[(id as usize * 13) % super::names::LAST_NAMES.len()];
            let subject = subject(role, n);
            rows.push(app_user::Model {
                id,
                name: Some(format!("{first} {last}")),
                email: Some(subject.clone()),
                subject,
                role: role.code().to_owned(),
                created_at,
            });
        }
    }
    Users { rows }
}

pub fn values(u: &app_user::Model) -> Vec<Value> {
    vec![
        u.id.into(),
        u.subject.clone().into(),
        u.name.clone().into(),
        u.email.clone().into(),
        u.role.clone().into(),
        u.created_at.into(),
    ]
}
