//! GraphQL types of scoring.
//!
//! SALES may not read scoring rules or settings (docs/roles.md), yet sees
//! `Lead.scoreBreakdown` with rule names. So a [`ScoringRule`] shows every
//! role its `id`, `name`, `kind` and `points`; its definition (`active`,
//! `condition`, `interactionKind`, …) is for the roles that read scoring:
//! absent from other roles' introspection and `FORBIDDEN` when asked anyway.

use super::engine;
use crate::app::Loaders;
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::AppResult;
use crate::graphql::error::ApiResult;
use crate::graphql::ids::{NodeType, encode};
use crate::interactions::{self, types::InteractionKind};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use entity::scoring_rule;

fn viewer_may(ctx: &Context<'_>, capability: Capability) -> bool {
    // No viewer: the schema export, which shows everything.
    ctx.data_opt::<Viewer>()
        .is_none_or(|viewer| policy::allows(viewer.role, capability))
}

/// Introspection visibility of what reads scoring rules and settings.
pub fn scoring_readable(ctx: &Context<'_>) -> bool {
    viewer_may(ctx, Capability::ReadScoring)
}

/// Introspection visibility of what changes scoring rules and settings.
pub fn scoring_writable(ctx: &Context<'_>) -> bool {
    viewer_may(ctx, Capability::WriteScoring)
}

/// FIT rules look at the lead's attributes, ENGAGEMENT rules at its interactions.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "engine::RuleKind")]
pub enum ScoringRuleKind {
    /// A condition on the lead's attributes; gives its points once.
    Fit,
    /// Points per matching interaction, optionally decayed and capped.
    Engagement,
}

/// The lead attribute a FIT condition reads.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "engine::LeadField")]
pub enum LeadField {
    /// Free text, e.g. `Head of Marketing`.
    JobTitle,
    /// Free text, e.g. `Software`.
    Industry,
    /// The only numeric field: `GTE` and `LTE` apply to it alone.
    CompanySize,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    Country,
    /// The part of the email after the `@`.
    EmailDomain,
}

/// How a FIT condition compares the attribute with its values.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "engine::ConditionOp")]
pub enum ConditionOp {
    /// Case-insensitive equality with the single value.
    Equals,
    /// Case-insensitive equality with any of the values.
    In,
    /// Case-insensitive substring: the attribute contains any of the values.
    Contains,
    /// `COMPANY_SIZE` at least the single integer value.
    Gte,
    /// `COMPANY_SIZE` at most the single integer value.
    Lte,
}

/// The condition of a FIT rule.
#[derive(SimpleObject, Clone, Debug)]
pub struct FitCondition {
    /// The lead attribute compared.
    pub field: LeadField,
    /// How it is compared.
    pub op: ConditionOp,
    /// What it is compared with.
    pub values: Vec<String>,
}

impl From<engine::FitCondition> for FitCondition {
    fn from(c: engine::FitCondition) -> Self {
        FitCondition {
            field: c.field.into(),
            op: c.op.into(),
            values: c.values,
        }
    }
}

/// A scoring rule (docs/scoring.md). Every role that sees a lead's
/// `scoreBreakdown` sees the rule's id, name, kind and points; the rest of
/// its definition is for MARKETING and ADMIN only.
pub struct ScoringRule(pub scoring_rule::Model);

impl ScoringRule {
    /// A rule by id for `node(id)`: `None` when deleted or the viewer may
    /// not read rules.
    pub async fn visible(viewer: &Viewer, loaders: &Loaders, id: i64) -> AppResult<Option<Self>> {
        if !policy::allows(viewer.role, Capability::ReadScoring) {
            return Ok(None);
        }
        Ok(loaders
            .scoring_rules
            .load_one(id)
            .await?
            .filter(|r| r.deleted_at.is_none())
            .map(ScoringRule))
    }

    /// The definition, for viewers who may read scoring rules.
    fn definition(&self, ctx: &Context<'_>) -> ApiResult<&scoring_rule::Model> {
        policy::require(crate::graphql::viewer(ctx)?, Capability::ReadScoring)?;
        Ok(&self.0)
    }
}

#[Object]
impl ScoringRule {
    /// Global id.
    pub async fn id(&self) -> ID {
        encode(NodeType::ScoringRule, self.0.id)
    }
    /// Shown with the rule's points in every lead's `scoreBreakdown`.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// FIT or ENGAGEMENT.
    async fn kind(&self) -> ApiResult<ScoringRuleKind> {
        Ok(super::service::rule_kind(&self.0)?.into())
    }
    /// Points per match; may be negative.
    async fn points(&self) -> i32 {
        self.0.points
    }
    /// Inactive rules give nothing. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn active(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(self.definition(ctx)?.active)
    }
    /// FIT rules: what the lead's attributes must satisfy. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn condition(&self, ctx: &Context<'_>) -> ApiResult<Option<FitCondition>> {
        Ok(super::service::condition(self.definition(ctx)?)?.map(FitCondition::from))
    }
    /// ENGAGEMENT rules: the kind of interaction that scores. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn interaction_kind(&self, ctx: &Context<'_>) -> ApiResult<Option<InteractionKind>> {
        let kind = self.definition(ctx)?.interaction_kind.as_deref();
        let kind = kind.map(interactions::kind::InteractionKind::from_code);
        Ok(kind.transpose()?.map(Into::into))
    }
    /// ENGAGEMENT rules: only interactions whose metadata has this key count.
    /// MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn metadata_key(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(self.definition(ctx)?.metadata_key.as_deref())
    }
    /// ENGAGEMENT rules: the value at `metadataKey` must be a string
    /// containing this, case-insensitively. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn metadata_contains(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(self.definition(ctx)?.metadata_contains.as_deref())
    }
    /// ENGAGEMENT rules: an interaction's points halve every this many days;
    /// `null` = no decay. MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn decay_half_life_days(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        Ok(self.definition(ctx)?.decay_half_life_days)
    }
    /// Cap on what this rule gives one lead (`|total| ≤ cap`); `null` = no cap.
    /// MARKETING and ADMIN only.
    #[graphql(visible = "scoring_readable")]
    async fn max_points_per_lead(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        Ok(self.definition(ctx)?.max_points_per_lead)
    }
}

/// Settings of the scoring engine.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct ScoringSettings {
    /// A lead at LEAD whose score reaches this moves to MQL automatically.
    pub mql_threshold: i32,
}

/// What one rule gives a lead; a lead's contributions add up to its score.
#[derive(SimpleObject)]
pub struct ScoreContribution {
    /// The rule (SALES sees its id, name, kind and points).
    pub rule: ScoringRule,
    /// What the rule gives this lead, decayed, capped and rounded; never 0.
    pub points: i32,
}

/// What `rescoreLeads` did.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct RescoreResult {
    /// Leads scored again (every lead).
    pub leads_rescored: i32,
    /// Leads that moved from LEAD to MQL because of it.
    pub promoted_to_mql: i32,
}

/// The condition of a FIT rule.
#[derive(InputObject, Clone, Debug)]
pub struct FitConditionInput {
    /// The lead attribute compared.
    pub field: LeadField,
    /// `GTE` and `LTE` on `COMPANY_SIZE` only.
    pub op: ConditionOp,
    /// `EQUALS`, `GTE`, `LTE`: exactly one (an integer for `GTE`/`LTE`);
    /// `IN`, `CONTAINS`: at least one.
    pub values: Vec<String>,
}

/// A whole scoring rule; `updateScoringRule` replaces every field.
#[derive(InputObject, Clone, Debug)]
pub struct ScoringRuleInput {
    /// At most 256 characters.
    pub name: String,
    /// FIT or ENGAGEMENT.
    pub kind: ScoringRuleKind,
    /// May be negative.
    pub points: i32,
    /// Inactive rules give nothing.
    #[graphql(default_with = "Some(true)")]
    pub active: Option<bool>,
    /// FIT rules only, and required for them.
    pub condition: Option<FitConditionInput>,
    /// ENGAGEMENT rules only, and required for them.
    pub interaction_kind: Option<InteractionKind>,
    /// ENGAGEMENT rules: count only interactions whose metadata has this key.
    pub metadata_key: Option<String>,
    /// ENGAGEMENT rules, with `metadataKey`: the value must be a string
    /// containing this, case-insensitively.
    pub metadata_contains: Option<String>,
    /// ENGAGEMENT rules: at least 1; `null` = no decay.
    pub decay_half_life_days: Option<i32>,
    /// ENGAGEMENT rules: at least 1; `null` = no cap.
    pub max_points_per_lead: Option<i32>,
}

impl From<ScoringRuleInput> for super::service::RuleSpec {
    fn from(input: ScoringRuleInput) -> Self {
        super::service::RuleSpec {
            name: input.name,
            kind: input.kind.into(),
            points: input.points,
            active: input.active.unwrap_or(true),
            condition: input.condition.map(|c| super::service::ConditionSpec {
                field: c.field.into(),
                op: c.op.into(),
                values: c.values,
            }),
            interaction_kind: input.interaction_kind.map(Into::into),
            metadata_key: input.metadata_key,
            metadata_contains: input.metadata_contains,
            decay_half_life_days: input.decay_half_life_days,
            max_points_per_lead: input.max_points_per_lead,
        }
    }
}

/// `Lead.scoreBreakdown`: each contribution with its rule, through the
/// request's rule loader (one query for a whole page of leads).
pub async fn breakdown(
    loaders: &Loaders,
    lead: &entity::lead::Model,
) -> AppResult<Vec<ScoreContribution>> {
    let contributions: Vec<(i64, i32)> = lead
        .score_breakdown
        .0
        .iter()
        .map(|share| (share.rule_id, share.points))
        .collect();
    if contributions.is_empty() {
        return Ok(Vec::new());
    }
    let rules = loaders
        .scoring_rules
        .load_many(contributions.iter().map(|(rule_id, _)| *rule_id))
        .await?;
    Ok(breakdown_with(&rules, lead))
}

/// The contributions of `lead` with their rules taken from `rules` (a rule
/// missing there is logged and left out).
pub fn breakdown_with(
    rules: &std::collections::HashMap<i64, entity::scoring_rule::Model>,
    lead: &entity::lead::Model,
) -> Vec<ScoreContribution> {
    lead.score_breakdown
        .0
        .iter()
        .filter_map(|share| match rules.get(&share.rule_id) {
            Some(rule) => Some(ScoreContribution {
                rule: ScoringRule(rule.clone()),
                points: share.points,
            }),
            None => {
                tracing::error!(
                    lead_id = lead.id,
                    rule_id = share.rule_id,
                    "score breakdown names a missing rule"
                );
                None
            }
        })
        .collect()
}
