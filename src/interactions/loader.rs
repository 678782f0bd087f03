//! DataLoaders of interaction pages and counts: one windowed query per batch
//! of leads, never a query per lead.

use crate::error::AppError;
use async_graphql::dataloader::Loader;
use entity::interaction;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use std::collections::HashMap;

/// A page request for one lead's interactions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InteractionPageKey {
    pub lead_id: i64,
    pub first: u64,
    /// `(occurred_at, id)` of the last item of the previous page.
    pub after: Option<(chrono::DateTime<chrono::Utc>, i64)>,
    /// Sorted kind names; empty = all kinds.
    pub kinds: Vec<&'static str>,
}

#[derive(Clone, Debug, Default)]
pub struct InteractionPage {
    pub rows: Vec<interaction::Model>,
    pub has_next: bool,
}

pub struct InteractionPageLoader {
    pub db: DatabaseConnection,
}

fn placeholders(backend: DbBackend, start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Loader<InteractionPageKey> for InteractionPageLoader {
    type Value = InteractionPage;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[InteractionPageKey],
    ) -> Result<HashMap<InteractionPageKey, Self::Value>, Self::Error> {
        let mut result = HashMap::new();
        // Keys that differ only by lead share one windowed query.
        let mut groups: HashMap<(u64, Vec<&'static str>), Vec<i64>> = HashMap::new();
        for key in keys {
            if let Some((at, id)) = key.after {
                let mut query = interaction::Entity::find()
                    .filter(interaction::Column::LeadId.eq(key.lead_id))
                    .filter(
                        Expr::tuple([
                            Expr::col(interaction::Column::OccurredAt),
                            Expr::col(interaction::Column::Id),
                        ])
                        .lt(Expr::tuple([Expr::val(at), Expr::val(id)])),
                    );
                if !key.kinds.is_empty() {
                    query =
                        query.filter(interaction::Column::Kind.is_in(key.kinds.iter().copied()));
                }
                let mut rows = query
                    .order_by_desc(interaction::Column::OccurredAt)
                    .order_by_desc(interaction::Column::Id)
                    .limit(key.first + 1)
                    .all(&self.db)
                    .await?;
                let has_next = rows.len() as u64 > key.first;
                rows.truncate(key.first as usize);
                result.insert(key.clone(), InteractionPage { rows, has_next });
            } else {
                groups
                    .entry((key.first, key.kinds.clone()))
                    .or_default()
                    .push(key.lead_id);
            }
        }
        let backend = self.db.get_database_backend();
        for ((first, kinds), mut lead_ids) in groups {
            lead_ids.sort_unstable();
            lead_ids.dedup();
            let mut values: Vec<sea_orm::Value> = lead_ids.iter().map(|id| (*id).into()).collect();
            let mut sql = format!(
                "SELECT * FROM (SELECT i.*, ROW_NUMBER() OVER (PARTITION BY i.lead_id ORDER BY i.occurred_at DESC, i.id DESC) AS rn \
                 FROM interaction i WHERE i.lead_id IN ({})",
                placeholders(backend, 1, lead_ids.len())
            );
            if !kinds.is_empty() {
                sql.push_str(&format!(
                    " AND i.kind IN ({})",
                    placeholders(backend, values.len() + 1, kinds.len())
                ));
                values.extend(kinds.iter().map(|k| sea_orm::Value::from(*k)));
            }
            let limit_at = values.len() + 1;
            sql.push_str(&format!(
                ") t WHERE t.rn <= {} ORDER BY t.lead_id, t.rn",
                placeholders(backend, limit_at, 1)
            ));
            values.push(i64::try_from(first + 1).unwrap_or(i64::MAX).into());
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            let mut pages: HashMap<i64, InteractionPage> = HashMap::new();
            for row in rows {
                let model = interaction::Model::from_query_result(&row, "")?;
                let page = pages.entry(model.lead_id).or_default();
                if page.rows.len() as u64 >= first {
                    page.has_next = true;
                } else {
                    page.rows.push(model);
                }
            }
            for lead_id in lead_ids {
                let key = InteractionPageKey {
                    lead_id,
                    first,
                    after: None,
                    kinds: kinds.clone(),
                };
                result.insert(key, pages.remove(&lead_id).unwrap_or_default());
            }
        }
        Ok(result)
    }
}

/// Count of one lead's interactions of some kinds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InteractionCountKey {
    pub lead_id: i64,
    pub kinds: Vec<&'static str>,
}

pub struct InteractionCountLoader {
    pub db: DatabaseConnection,
}

impl Loader<InteractionCountKey> for InteractionCountLoader {
    type Value = i64;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[InteractionCountKey],
    ) -> Result<HashMap<InteractionCountKey, i64>, Self::Error> {
        let mut groups: HashMap<Vec<&'static str>, Vec<i64>> = HashMap::new();
        for key in keys {
            groups
                .entry(key.kinds.clone())
                .or_default()
                .push(key.lead_id);
        }
        let mut result = HashMap::new();
        for (kinds, lead_ids) in groups {
            let mut query = interaction::Entity::find()
                .select_only()
                .column(interaction::Column::LeadId)
                .column_as(interaction::Column::Id.count(), "n")
                .filter(interaction::Column::LeadId.is_in(lead_ids.iter().copied()))
                .group_by(interaction::Column::LeadId);
            if !kinds.is_empty() {
                query = query.filter(interaction::Column::Kind.is_in(kinds.iter().copied()));
            }
            let counts: Vec<(i64, i64)> = query.into_tuple().all(&self.db).await?;
            let counts: HashMap<i64, i64> = counts.into_iter().collect();
            for lead_id in lead_ids {
                let key = InteractionCountKey {
                    lead_id,
                    kinds: kinds.clone(),
                };
                result.insert(key, counts.get(&lead_id).copied().unwrap_or(0));
            }
        }
        Ok(result)
    }
}
