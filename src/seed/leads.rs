//! Seeded leads and their stage histories.
//!
//! Each lead walks the stage machine of docs/lifecycle.md from its creation, one
//! allowed transition at a time, by an actor of a role that may make it, until
//! it stops or reaches the end of the dataset's window. The lead row is moved
//! with [`crate::leads::service::apply_stage`], the function the server uses,
//! so stage, `reached_rank`, the milestones (`mql_at` … `customer_at`),
//! `stage_changed_at`, `updated_at` and `version` are what the server would
//! have stored after the same changes.

use super::campaigns::Campaigns;
use super::names::*;
use super::users::Users;
use super::writer::Table;
use super::{Pick, PickUniform, Window};
use crate::auth::Role;
use crate::events::SCORING_ACTOR;
use crate::leads::channel::Channel;
use crate::leads::lifecycle::LeadStage;
use crate::leads::service::{apply_stage, search_text};
use chrono::{DateTime, Duration, Utc};
use entity::{lead, stage_change};
use rand::Rng;
use rand::rngs::StdRng;
use sea_orm::Value;

/// Where leads come from (first touch), with weights.
pub const SOURCE_CHANNELS: &[(Channel, u32)] = &[
    (Channel::OrganicSearch, 22),
    (Channel::PaidSearch, 16),
    (Channel::Social, 12),
    (Channel::Email, 8),
    (Channel::Content, 12),
    (Channel::Webinar, 7),
    (Channel::Event, 5),
    (Channel::Referral, 6),
    (Channel::Direct, 10),
    (Channel::Other, 2),
];

pub const TABLE: Table = Table {
    name: "lead",
    columns: &[
        "id",
        "email",
        "first_name",
        "last_name",
        "company",
        "job_title",
        "industry",
        "company_size",
        "country",
        "phone",
        "search_text",
        "stage",
        "reached_rank",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "persona_id",
        "icp_fit",
        "source_channel",
        "source_campaign_id",
        "owner_id",
        "qual_budget",
        "qual_need",
        "qual_authority",
        "qual_timeline",
        "qual_notes",
        "deal_amount_cents",
        "disqualification_reason",
        "created_at",
        "updated_at",
        "stage_changed_at",
        "mql_at",
        "sql_at",
        "opportunity_at",
        "customer_at",
        "version",
    ],
};

pub const HISTORY_TABLE: Table = Table {
    name: "stage_change",
    columns: &[
        "id",
        "lead_id",
        "from_stage",
        "to_stage",
        "at",
        "actor",
        "reason",
    ],
};

/// A lead with its whole history.
pub struct SeededLead {
    pub model: lead::Model,
    pub history: Vec<stage_change::Model>,
}

/// One step of the walk: where to go from a stage, with weights; `None`
/// stops the walk (the lead stays where it is).
fn next_stage(from: LeadStage, rng: &mut StdRng) -> Option<LeadStage> {
    use LeadStage::*;
    let options: &[(Option<LeadStage>, u32)] = match from {
        Lead => &[(Some(Mql), 30), (Some(Disqualified), 8), (None, 62)],
        Mql => &[
            (Some(Sql), 40),
            (Some(Lead), 12),
            (Some(Disqualified), 10),
            (None, 38),
        ],
        Sql => &[
            (Some(Opportunity), 55),
            (Some(Lead), 8),
            (Some(Disqualified), 12),
            (None, 25),
        ],
        Opportunity => &[(Some(Customer), 45), (Some(Disqualified), 30), (None, 25)],
        Customer => &[(None, 1)],
        Disqualified => &[(Some(Lead), 15), (None, 85)],
    };
    *options.pick(rng)
}

/// Days a step takes, by destination.
fn step_days(from: LeadStage, to: LeadStage, rng: &mut StdRng) -> f64 {
    use LeadStage::*;
    let (lo, hi) = match (from, to) {
        (Lead, Mql) => (1.0, 60.0),
        (Mql, Sql) => (2.0, 45.0),
        (Sql, Opportunity) => (5.0, 40.0),
        (Opportunity, Customer) => (10.0, 90.0),
        (_, Disqualified) => (1.0, 60.0),
        _ => (30.0, 180.0), // recycling
    };
    // Log-uniform: most steps are quick, a few take long.
    let (a, b): (f64, f64) = (f64::ln(lo), f64::ln(hi));
    (a + (b - a) * rng.random::<f64>()).exp()
}

fn at_offset(start: DateTime<Utc>, days: f64) -> DateTime<Utc> {
    let micros = (days * 86_400_000_000.0) as i64;
    start + Duration::microseconds(micros)
}

/// A creation time in the window, more leads lately (density grows linearly
/// to twice the start's).
fn creation_time(window: &Window, rng: &mut StdRng) -> DateTime<Utc> {
    let u: f64 = rng.random();
    let x = -1.0 + (1.0 + 3.0 * u).sqrt();
    let span = (window.end - window.start).num_microseconds().unwrap_or(0) as f64;
    window.start + Duration::microseconds((span * x) as i64)
}

fn subject_of(users: &Users, id: i64) -> String {
    users
        .rows
        .iter()
        .find(|u| u.id == id)
        .map(|u| u.subject.clone())
        .unwrap_or_default()
}

/// Generate `count` leads with ids 1..=count in creation order.
pub fn generate(
    count: u32,
    window: &Window,
    users: &Users,
    campaigns: &Campaigns,
    rng: &mut StdRng,
) -> Vec<SeededLead> {
    let mut created: Vec<DateTime<Utc>> = (0..count).map(|_| creation_time(window, rng)).collect();
    created.sort_unstable();
    let marketing: Vec<String> = users
        .of(Role::Marketing)
        .iter()
        .map(|u| u.subject.clone())
        .collect();
    let ingest: Vec<String> = users
        .of(Role::Ingest)
        .iter()
        .map(|u| u.subject.clone())
        .collect();
    let admins: Vec<String> = users
        .of(Role::Admin)
        .iter()
        .map(|u| u.subject.clone())
        .collect();
    let sales: Vec<i64> = users.of(Role::Sales).iter().map(|u| u.id).collect();
    let sales_subjects: std::collections::HashMap<i64, String> = sales
        .iter()
        .map(|id| (*id, subject_of(users, *id)))
        .collect();
    let mut history_id = 0i64;
    let mut leads = Vec::with_capacity(count as usize);
    for (index, created_at) in created.into_iter().enumerate() {
        let id = index as i64 + 1;
        let created_at = crate::validate::truncate_micros(created_at);
        let first = *FIRST_NAMES.pick_uniform(rng);
        let last = *LAST_NAMES.pick_uniform(rng);
        let company = format!(
            "{} {}",
            COMPANY_PREFIXES.pick_uniform(rng),
            COMPANY_SUFFIXES.pick_uniform(rng)
        );
        let domain = format!("{}.example", company.to_lowercase().replace(' ', "-"));
        let local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let email = format!("{local}.{id}@{domain}");
        let source_channel = *SOURCE_CHANNELS.pick(rng);
        // A lead SALES created is theirs from the start (as `insert` does).
        let created_by_sales = rng.random_bool(0.04);
        let (creator, mut owner_id) = if created_by_sales {
            let owner = *sales.pick_uniform(rng);
            (sales_subjects[&owner].clone(), Some(owner))
        } else if rng.random_bool(0.6) {
            (ingest.pick_uniform(rng).clone(), None)
        } else {
            (marketing.pick_uniform(rng).clone(), None)
        };
        let size_exp: f64 = rng.random_range(0.0..4.7);
        let mut model = lead::Model {
            id,
            email,
            first_name: Some(first.to_owned()),
            last_name: rng.random_bool(0.95).then(|| last.to_owned()),
            company: rng.random_bool(0.9).then_some(company),
            job_title: rng
                .random_bool(0.85)
                .then(|| JOB_TITLES.pick_uniform(rng).to_string()),
            industry: rng
                .random_bool(0.8)
                .then(|| INDUSTRIES.pick_uniform(rng).to_string()),
            company_size: rng.random_bool(0.7).then(|| 10f64.powf(size_exp) as i32),
            country: rng
                .random_bool(0.9)
                .then(|| COUNTRIES.pick(rng).to_string()),
            phone: rng
                .random_bool(0.4)
                .then(|| format!("+49 30 {:07}", rng.random_range(0..10_000_000))),
            search_text: String::new(),
            stage: LeadStage::Lead.code().to_owned(),
            reached_rank: 1,
            score: 0,
            fit_score: 0,
            engagement_score: 0,
            score_breakdown: Default::default(),
            score_state: None,
            persona_id: None,
            icp_fit: None,
            source_channel: source_channel.code().to_owned(),
            source_campaign_id: campaigns.source_for(source_channel, created_at, rng),
            owner_id,
            qual_budget: false,
            qual_need: false,
            qual_authority: false,
            qual_timeline: None,
            qual_notes: None,
            deal_amount_cents: None,
            disqualification_reason: None,
            created_at,
            updated_at: created_at,
            stage_changed_at: created_at,
            mql_at: None,
            sql_at: None,
            opportunity_at: None,
            customer_at: None,
            version: 1,
        };
        model.search_text = search_text(&model);
        history_id += 1;
        let mut history = vec![stage_change::Model {
            id: history_id,
            lead_id: id,
            from_stage: None,
            to_stage: LeadStage::Lead.code().to_owned(),
            at: created_at,
            actor: creator,
            reason: None,
        }];
        let mut stage = LeadStage::Lead;
        let mut at = created_at;
        for _ in 0..8 {
            let Some(to) = next_stage(stage, rng) else {
                break;
            };
            let next_at =
                crate::validate::truncate_micros(at_offset(at, step_days(stage, to, rng)));
            if next_at >= window.end {
                break;
            }
            // Who makes the change (docs/roles.md/§3), and what it carries.
            let mut reason = None;
            let actor = match (stage, to) {
                (LeadStage::Lead, LeadStage::Mql) => {
                    if rng.random_bool(0.6) {
                        SCORING_ACTOR.to_owned()
                    } else {
                        marketing.pick_uniform(rng).clone()
                    }
                }
                (LeadStage::Mql, LeadStage::Sql) => {
                    // A rep claims the lead (assignLead), confirms BANT
                    // (qualifyLead), which moves it to SQL: two more versions.
                    if owner_id.is_none() && rng.random_bool(0.88) {
                        owner_id = Some(*sales.pick_uniform(rng));
                        model.version += 1;
                    }
                    model.qual_budget = true;
                    model.qual_need = true;
                    model.qual_authority = true;
                    model.qual_timeline = Some(TIMELINES.pick_uniform(rng).to_string());
                    model.version += 1;
                    match owner_id {
                        Some(owner) => sales_subjects.get(&owner).cloned().unwrap_or_default(),
                        None => admins.pick_uniform(rng).clone(),
                    }
                }
                (from, LeadStage::Lead | LeadStage::Disqualified) => {
                    reason = Some(if to == LeadStage::Lead {
                        RECYCLE_REASONS.pick_uniform(rng).to_string()
                    } else {
                        DISQUALIFICATION_REASONS.pick_uniform(rng).to_string()
                    });
                    // LEAD and DISQUALIFIED belong to marketing; from MQL on,
                    // the owner (or marketing for MQL, an admin beyond) acts.
                    match (from, owner_id) {
                        (LeadStage::Lead | LeadStage::Disqualified, _) | (LeadStage::Mql, None) => {
                            marketing.pick_uniform(rng).clone()
                        }
                        (_, Some(owner)) => sales_subjects.get(&owner).cloned().unwrap_or_default(),
                        (_, None) => admins.pick_uniform(rng).clone(),
                    }
                }
                _ => match owner_id {
                    Some(owner) => sales_subjects.get(&owner).cloned().unwrap_or_default(),
                    None => admins.pick_uniform(rng).clone(),
                },
            };
            match to {
                LeadStage::Opportunity => {
                    // Deal sizes: 2,000 to 250,000, log-uniform, whole hundreds.
                    let e: f64 = rng.random_range(3.3..5.4);
                    let amount = (10f64.powf(e) / 100.0).round() as i64 * 100;
                    model.deal_amount_cents = Some(amount * 100);
                }
                LeadStage::Customer => {
                    let quoted = model.deal_amount_cents.unwrap_or(1_000_000);
                    let won = (quoted as f64 * rng.random_range(0.7..1.1) / 100.0).round() as i64;
                    model.deal_amount_cents = Some(won * 100);
                }
                _ => {}
            }
            model.owner_id = owner_id;
            apply_stage(&mut model, to, next_at);
            model.disqualification_reason = if to == LeadStage::Disqualified {
                reason.clone()
            } else {
                None
            };
            history_id += 1;
            history.push(stage_change::Model {
                id: history_id,
                lead_id: id,
                from_stage: Some(stage.code().to_owned()),
                to_stage: to.code().to_owned(),
                at: next_at,
                actor,
                reason,
            });
            stage = to;
            at = next_at;
        }
        model.owner_id = owner_id;
        leads.push(SeededLead { model, history });
    }
    leads
}

pub fn values(m: &lead::Model) -> Vec<Value> {
    vec![
        m.id.into(),
        m.email.clone().into(),
        m.first_name.clone().into(),
        m.last_name.clone().into(),
        m.company.clone().into(),
        m.job_title.clone().into(),
        m.industry.clone().into(),
        m.company_size.into(),
        m.country.clone().into(),
        m.phone.clone().into(),
        m.search_text.clone().into(),
        m.stage.clone().into(),
        m.reached_rank.into(),
        m.score.into(),
        m.fit_score.into(),
        m.engagement_score.into(),
        m.score_breakdown.clone().into(),
        m.persona_id.into(),
        m.icp_fit.into(),
        m.source_channel.clone().into(),
        m.source_campaign_id.into(),
        m.owner_id.into(),
        m.qual_budget.into(),
        m.qual_need.into(),
        m.qual_authority.into(),
        m.qual_timeline.clone().into(),
        m.qual_notes.clone().into(),
        m.deal_amount_cents.into(),
        m.disqualification_reason.clone().into(),
        m.created_at.into(),
        m.updated_at.into(),
        m.stage_changed_at.into(),
        m.mql_at.into(),
        m.sql_at.into(),
        m.opportunity_at.into(),
        m.customer_at.into(),
        m.version.into(),
    ]
}

pub fn history_values(h: &stage_change::Model) -> Vec<Value> {
    vec![
        h.id.into(),
        h.lead_id.into(),
        h.from_stage.clone().into(),
        h.to_stage.clone().into(),
        h.at.into(),
        h.actor.clone().into(),
        h.reason.clone().into(),
    ]
}
