//! Campaigns and their daily spend (docs/performance.md: "20 campaigns with daily
//! spend"), written when the campaigns migration (#5) is there.
//!
//! Leads and interactions ask [`Campaigns::source_for`] and
//! [`Campaigns::for_interaction`] for a campaign id. Without the campaign
//! table the list is empty, and neither draws from the random generator, so
//! the rest of the data set is what it would be without campaigns.

use super::writer::{Table, sync_sequence, table_exists};
use super::{PickUniform, Window};
use crate::error::AppResult;
use crate::leads::channel::Channel;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use sea_orm::{ConnectionTrait, Value};

pub const TABLE: Table = Table {
    name: "campaign",
    columns: &[
        "id",
        "name",
        "channel",
        "starts_on",
        "ends_on",
        "budget_cents",
        "created_at",
        "updated_at",
    ],
};

pub const SPEND_TABLE: Table = Table {
    name: "campaign_spend",
    columns: &["campaign_id", "spent_on", "amount_cents", "recorded_at"],
};

/// How many campaigns of each channel (20 in all).
const MIX: &[(Channel, usize)] = &[
    (Channel::PaidSearch, 4),
    (Channel::Social, 3),
    (Channel::Email, 3),
    (Channel::Content, 3),
    (Channel::Webinar, 3),
    (Channel::Event, 2),
    (Channel::OrganicSearch, 1),
    (Channel::Referral, 1),
];

const THEMES: &[&str] = &[
    "Lead Scoring",
    "Pipeline Growth",
    "ICP Playbook",
    "Revenue Ops",
    "Spring Launch",
    "Year End",
    "Partner Push",
    "Product Tour",
];

/// One seeded campaign, as leads and interactions need to know it.
#[derive(Clone, Debug)]
pub struct SeededCampaign {
    pub id: i64,
    pub name: String,
    pub channel: Channel,
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub budget_cents: i64,
}

#[derive(Default)]
pub struct Campaigns {
    pub list: Vec<SeededCampaign>,
}

fn day(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

impl Campaigns {
    /// The data set's campaigns, when the database has a campaign table.
    pub async fn generate(
        db: &impl ConnectionTrait,
        window: &Window,
        rng: &mut StdRng,
    ) -> AppResult<Campaigns> {
        if !table_exists(db, TABLE.name).await? {
            return Ok(Campaigns::default());
        }
        let days = (window.end - window.start).num_days().max(2);
        let mut list = Vec::new();
        for (channel, count) in MIX {
            for _ in 0..*count {
                let id = list.len() as i64 + 1;
                let length = rng.random_range(60..=365).min(days - 1);
                let offset = rng.random_range(0..(days - length).max(1));
                let starts = (window.start + Duration::days(offset))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(window.start);
                let budget_cents = rng.random_range(100..=2000) * 10_000;
                list.push(SeededCampaign {
                    id,
                    name: format!(
                        "{} {} #{id}",
                        channel.code().replace('_', " ").to_lowercase(),
                        THEMES.pick_uniform(rng)
                    ),
                    channel: *channel,
                    starts,
                    ends: starts + Duration::days(length),
                    budget_cents,
                });
            }
        }
        Ok(Campaigns { list })
    }

    /// Write the campaigns and one spend row per running day (the budget
    /// spread over the days, ±40 %); returns the rows written.
    pub async fn write(&self, db: &impl ConnectionTrait, rng: &mut StdRng) -> AppResult<u64> {
        if self.list.is_empty() {
            return Ok(0);
        }
        let mut campaigns = Vec::new();
        let mut spend = Vec::new();
        for c in &self.list {
            let created = c.starts - Duration::days(14);
            campaigns.push(vec![
                c.id.into(),
                c.name.clone().into(),
                c.channel.code().into(),
                Value::from(day(c.starts)),
                Value::from(day(c.ends) - Duration::days(1)),
                Value::from(c.budget_cents),
                created.into(),
                created.into(),
            ]);
            let days = (c.ends - c.starts).num_days().max(1);
            let daily = c.budget_cents / days;
            let mut on = day(c.starts);
            while on < day(c.ends) {
                let amount = (daily as f64 * rng.random_range(0.6..1.4)).round() as i64;
                let recorded = on
                    .and_hms_opt(23, 0, 0)
                    .map(|t| t.and_utc())
                    .unwrap_or(c.starts);
                spend.push(vec![
                    c.id.into(),
                    Value::from(on),
                    amount.into(),
                    recorded.into(),
                ]);
                on += Duration::days(1);
            }
        }
        let mut written = TABLE.insert(db, campaigns).await?;
        written += SPEND_TABLE.insert(db, spend).await?;
        sync_sequence(db, TABLE.name, "id").await?;
        Ok(written)
    }

    fn running(&self, channel: Channel, at: DateTime<Utc>) -> Vec<i64> {
        self.list
            .iter()
            .filter(|c| c.channel == channel && c.starts <= at && at < c.ends)
            .map(|c| c.id)
            .collect()
    }

    /// The first-touch campaign of a lead from `channel` created at `at`:
    /// most leads of a channel with a running campaign came through it.
    pub fn source_for(&self, channel: Channel, at: DateTime<Utc>, rng: &mut StdRng) -> Option<i64> {
        let running = self.running(channel, at);
        if running.is_empty() || !rng.random_bool(0.8) {
            return None;
        }
        Some(*running.pick_uniform(rng))
    }

    /// The campaign an interaction on `channel` at `at` belongs to, if any.
    pub fn for_interaction(
        &self,
        channel: Option<Channel>,
        at: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> Option<i64> {
        let running = self.running(channel?, at);
        if running.is_empty() || !rng.random_bool(0.5) {
            return None;
        }
        Some(*running.pick_uniform(rng))
    }
}
