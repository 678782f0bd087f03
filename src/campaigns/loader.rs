//! The DataLoader of campaign spend: one query per batch (campaigns by id
//! load through `app::ById`).

use crate::error::AppError;
use crate::kpis::calc::{SUM_SPLIT, join_sum};
use async_graphql::dataloader::Loader;
use chrono::NaiveDate;
use entity::campaign_spend;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;

/// One campaign's spend over `[from, to)` of spend dates (open bounds: unbounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpendKey {
    pub campaign_id: i64,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Spend in cents; keys with the same range share one grouped query.
/// In `i128`: a campaign may record up to `validate::MAX_CENTS` a day for
/// millions of days, past `i64`.
pub struct SpendLoader {
    pub db: DatabaseConnection,
}

impl Loader<SpendKey> for SpendLoader {
    type Value = i128;
    type Error = AppError;

    async fn load(&self, keys: &[SpendKey]) -> Result<HashMap<SpendKey, i128>, Self::Error> {
        let mut ranges: HashMap<(Option<NaiveDate>, Option<NaiveDate>), Vec<i64>> = HashMap::new();
        for key in keys {
            ranges
                .entry((key.from, key.to))
                .or_default()
                .push(key.campaign_id);
        }
        let mut result = HashMap::new();
        for ((from, to), ids) in ranges {
            // Summed in two parts that cannot overflow (`calc::SUM_SPLIT`);
            // PostgreSQL sums BIGINT as NUMERIC: cast back on both databases.
            let part = |expr: Expr, alias: &str| {
                (
                    Expr::from(Func::cast_as(Func::sum(expr), "BIGINT")),
                    alias.to_owned(),
                )
            };
            let amount = || Expr::col(campaign_spend::Column::AmountCents);
            let (high, high_alias) = part(amount().div(SUM_SPLIT), "high");
            let (low, low_alias) = part(amount().modulo(SUM_SPLIT), "low");
            let mut query = campaign_spend::Entity::find()
                .select_only()
                .column(campaign_spend::Column::CampaignId)
                .column_as(high, high_alias)
                .column_as(low, low_alias)
                .filter(campaign_spend::Column::CampaignId.is_in(ids.iter().copied()))
                .group_by(campaign_spend::Column::CampaignId);
            if let Some(from) = from {
                query = query.filter(campaign_spend::Column::SpentOn.gte(from));
            }
            if let Some(to) = to {
                query = query.filter(campaign_spend::Column::SpentOn.lt(to));
            }
            let totals: Vec<(i64, Option<i64>, Option<i64>)> =
                query.into_tuple().all(&self.db).await?;
            let totals: HashMap<i64, i128> = totals
                .into_iter()
                .map(|(id, high, low)| (id, join_sum(high.unwrap_or(0), low.unwrap_or(0))))
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
