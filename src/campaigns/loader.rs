//! DataLoaders of campaigns and their spend: one query per batch.

use crate::error::AppError;
use async_graphql::dataloader::Loader;
use chrono::NaiveDate;
use entity::{campaign, campaign_spend};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;

/// Campaigns by id.
pub struct CampaignLoader {
    pub db: DatabaseConnection,
}

impl Loader<i64> for CampaignLoader {
    type Value = campaign::Model;
    type Error = AppError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = campaign::Entity::find()
            .filter(campaign::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// One campaign's spend over `[from, to)` of spend dates (open bounds: unbounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpendKey {
    pub campaign_id: i64,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Spend in cents; keys with the same range share one grouped query.
pub struct SpendLoader {
    pub db: DatabaseConnection,
}

impl Loader<SpendKey> for SpendLoader {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[SpendKey]) -> Result<HashMap<SpendKey, i64>, Self::Error> {
        let mut ranges: HashMap<(Option<NaiveDate>, Option<NaiveDate>), Vec<i64>> = HashMap::new();
        for key in keys {
            ranges
                .entry((key.from, key.to))
                .or_default()
                .push(key.campaign_id);
        }
        let mut result = HashMap::new();
        for ((from, to), ids) in ranges {
            let mut query = campaign_spend::Entity::find()
                .select_only()
                .column(campaign_spend::Column::CampaignId)
                // PostgreSQL sums BIGINT as NUMERIC: cast back on both databases.
                .column_as(
                    Expr::from(Func::cast_as(
                        Func::sum(Expr::col(campaign_spend::Column::AmountCents)),
                        "BIGINT",
                    )),
                    "total",
                )
                .filter(campaign_spend::Column::CampaignId.is_in(ids.iter().copied()))
                .group_by(campaign_spend::Column::CampaignId);
            if let Some(from) = from {
                query = query.filter(campaign_spend::Column::SpentOn.gte(from));
            }
            if let Some(to) = to {
                query = query.filter(campaign_spend::Column::SpentOn.lt(to));
            }
            let totals: Vec<(i64, Option<i64>)> = query.into_tuple().all(&self.db).await?;
            let totals: HashMap<i64, i64> = totals
                .into_iter()
                .map(|(id, total)| (id, total.unwrap_or(0)))
                .collect();
            for campaign_id in ids {
                let key = SpendKey {
                    campaign_id,
                    from,
                    to,
                };
                result.insert(key, totals.get(&campaign_id).copied().unwrap_or(0));
            }
        }
        Ok(result)
    }
}
