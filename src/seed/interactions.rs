//! Seeded interactions: each lead's signals, from its creation on, in kinds
//! that fit where it stands (sales calls and meetings only once it reached
//! SQL), with the metadata real tracking sends (`{"path": "/pricing"}` …).

use super::campaigns::Campaigns;
use super::leads::SeededLead;
use super::names::*;
use super::writer::Table;
use super::{Pick, PickUniform, Window};
use crate::error::AppResult;
use crate::interactions::kind::InteractionKind;
use crate::leads::channel::Channel;
use chrono::{DateTime, Duration, Utc};
use entity::interaction;
use rand::Rng;
use rand::rngs::StdRng;
use sea_orm::Value;
use serde_json::json;

pub const TABLE: Table = Table {
    name: "interaction",
    columns: &[
        "id",
        "lead_id",
        "kind",
        "occurred_at",
        "channel",
        "campaign_id",
        "external_id",
        "metadata",
        "created_at",
    ],
};

use InteractionKind::*;

/// Marketing signals before a lead is qualified.
const EARLY: &[(InteractionKind, u32)] = &[
    (PageVisit, 40),
    (EmailOpen, 18),
    (EmailClick, 10),
    (ContentDownload, 8),
    (FormSubmit, 5),
    (WebinarRegistered, 4),
    (WebinarAttended, 3),
    (DemoRequest, 2),
    (QuoteRequest, 1),
    (Unsubscribe, 1),
];

/// Signals of a lead that became an MQL: more intent.
const ENGAGED: &[(InteractionKind, u32)] = &[
    (PageVisit, 34),
    (EmailOpen, 14),
    (EmailClick, 12),
    (ContentDownload, 10),
    (FormSubmit, 5),
    (WebinarRegistered, 6),
    (WebinarAttended, 5),
    (DemoRequest, 8),
    (QuoteRequest, 4),
];

/// What sales records once the lead is an SQL.
const SALES: &[(InteractionKind, u32)] = &[(Call, 50), (Meeting, 25), (EmailReply, 25)];

/// Interactions per lead: `total` shared out by stage (leads further down
/// the funnel interacted more), every lead getting at least one when there
/// are enough; the sum is exactly `total`.
pub fn counts(leads: &[SeededLead], total: u64, rng: &mut StdRng) -> Vec<u32> {
    let n = leads.len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let base = u64::from(total >= n);
    let spread = total - base * n;
    let weights: Vec<f64> = leads
        .iter()
        .map(|l| {
            let by_stage = [0.7, 1.3, 1.8, 2.2, 2.5]
                [usize::try_from(l.model.reached_rank.clamp(1, 5) - 1).unwrap_or(0)];
            by_stage * rng.random_range(0.3..1.7)
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<u32> = weights
        .iter()
        .map(|w| (base + (spread as f64 * w / sum).floor() as u64) as u32)
        .collect();
    let assigned: u64 = counts.iter().map(|c| u64::from(*c)).sum();
    let rest = total.saturating_sub(assigned);
    for k in 0..rest {
        let i = usize::try_from(k * n / rest.max(1)).unwrap_or(0);
        counts[i] += 1;
    }
    counts
}

fn between(from: DateTime<Utc>, to: DateTime<Utc>, rng: &mut StdRng) -> DateTime<Utc> {
    let span = (to - from).num_microseconds().unwrap_or(0).max(1);
    crate::validate::truncate_micros(from + Duration::microseconds(rng.random_range(0..span)))
}

fn metadata(kind: InteractionKind, rng: &mut StdRng) -> Option<serde_json::Value> {
    Some(match kind {
        PageVisit => json!({ "path": PAGE_PATHS.pick_uniform(rng) }),
        ContentDownload => json!({ "asset": ASSETS.pick_uniform(rng) }),
        WebinarRegistered | WebinarAttended => json!({ "webinar": WEBINARS.pick_uniform(rng) }),
        EmailOpen => json!({ "subject": EMAIL_SUBJECTS.pick_uniform(rng) }),
        EmailClick => json!({
            "subject": EMAIL_SUBJECTS.pick_uniform(rng),
            "url": PAGE_PATHS.pick_uniform(rng),
        }),
        FormSubmit => json!({ "form": FORMS.pick_uniform(rng) }),
        DemoRequest | QuoteRequest => json!({ "path": "/contact", "product": "leadgraph" }),
        Call => json!({ "durationSec": rng.random_range(60..2400) }),
        Meeting => json!({ "topic": MEETING_TOPICS.pick_uniform(rng) }),
        EmailReply | Unsubscribe => return None,
    })
}

fn channel(
    kind: InteractionKind,
    source: Channel,
    first: bool,
    rng: &mut StdRng,
) -> Option<Channel> {
    if first {
        return Some(source);
    }
    Some(match kind {
        PageVisit => *[
            Channel::OrganicSearch,
            Channel::Direct,
            Channel::PaidSearch,
            Channel::Social,
        ]
        .pick_uniform(rng),
        EmailOpen | EmailClick | Unsubscribe => Channel::Email,
        ContentDownload => Channel::Content,
        WebinarRegistered | WebinarAttended => Channel::Webinar,
        FormSubmit | DemoRequest | QuoteRequest => source,
        Call | Meeting | EmailReply => return None,
    })
}

/// `count` interactions of one lead, ids from `next_id` on, in time order.
pub fn for_lead(
    lead: &SeededLead,
    count: u32,
    next_id: &mut i64,
    window: &Window,
    campaigns: &Campaigns,
    rng: &mut StdRng,
) -> AppResult<Vec<interaction::Model>> {
    let m = &lead.model;
    let source = Channel::from_code(&m.source_channel)?;
    let horizon = std::cmp::min(window.end, m.created_at + Duration::days(365));
    let kinds = if m.reached_rank >= 2 { ENGAGED } else { EARLY };
    let mut rows: Vec<(DateTime<Utc>, InteractionKind)> = Vec::with_capacity(count as usize);
    for i in 0..count {
        let (at, kind) = if i == 0 {
            // The signal that created the lead.
            let kind =
                *[FormSubmit, ContentDownload, PageVisit, WebinarRegistered].pick_uniform(rng);
            (m.created_at, kind)
        } else if let Some(sql_at) = m.sql_at.filter(|_| rng.random_bool(0.35)) {
            let until = std::cmp::min(window.end, sql_at + Duration::days(120));
            (between(sql_at, until, rng), *SALES.pick(rng))
        } else {
            (between(m.created_at, horizon, rng), *kinds.pick(rng))
        };
        rows.push((at, kind));
    }
    rows.sort_by_key(|(at, _)| *at);
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, (at, kind))| {
            *next_id += 1;
            let channel = channel(kind, source, i == 0, rng);
            interaction::Model {
                id: *next_id,
                lead_id: m.id,
                kind: kind.code().to_owned(),
                occurred_at: at,
                channel: channel.map(|c| c.code().to_owned()),
                campaign_id: campaigns.for_interaction(channel, at, rng),
                external_id: None,
                metadata: metadata(kind, rng),
                created_at: at,
            }
        })
        .collect())
}

pub fn values(i: &interaction::Model) -> Vec<Value> {
    vec![
        i.id.into(),
        i.lead_id.into(),
        i.kind.clone().into(),
        i.occurred_at.into(),
        i.channel.clone().into(),
        i.campaign_id.into(),
        i.external_id.clone().into(),
        i.metadata.clone().into(),
        i.created_at.into(),
    ]
}
