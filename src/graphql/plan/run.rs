//! Running a [`Plan`]: the same services and loaders as the resolvers, each
//! relation fetched once per page rather than once per lead, and the answer
//! written straight to JSON bytes in the executor's order and format.
//! Any error gives up: the general executor then answers, with its errors.

use super::compile::{
    ConnField, ContributionField, EdgeField, InteractionField, InteractionsArgs, LeadField,
    MoneyField, NamedField, PageInfoField, Plan, QualificationField, RootField, Sel,
    StageChangeField, UserField,
};
use crate::app::{AppState, Loaders};
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::campaigns::types::Campaign;
use crate::graphql::ids::{NodeType, encode};
use crate::graphql::pagination::PageInfo;
use crate::graphql::scalars::{DateTime, Money};
use crate::interactions::types::{InteractionConnection, connection, page_key};
use crate::leads::types::{LeadConnection, StageChange};
use crate::leads::{channel, lifecycle};
use crate::scoring::types::ScoreContribution;
use crate::users::types::User;
use async_graphql::resolver_utils::EnumType;
use entity::lead;
use std::collections::{HashMap, HashSet};

/// The plan could not answer; the general executor will.
#[derive(Debug)]
pub struct GaveUp;

impl<E: std::fmt::Display> From<E> for GaveUp {
    fn from(err: E) -> Self {
        tracing::debug!(error = %err, "a prepared plan gave up");
        GaveUp
    }
}

type R<T> = Result<T, GaveUp>;

/// The JSON text of the response's `data`.
pub async fn run(plan: &Plan, viewer: &Viewer, state: &AppState, loaders: &Loaders) -> R<Vec<u8>> {
    let mut roots = Vec::with_capacity(plan.root.len());
    for (_, field) in &plan.root {
        roots.push(match field {
            RootField::Typename => Fetched::None,
            RootField::Leads(args, sel) => {
                let connection = crate::leads::resolver::connection(
                    viewer,
                    &state.db.read,
                    args.first,
                    args.after.clone(),
                    args.filter.clone(),
                    args.order_by,
                )
                .await
                .map_err(|e| GaveUp::from(e.0))?;
                let leads: Vec<&lead::Model> = connection.edges.iter().map(|e| &e.node.0).collect();
                let related =
                    Related::fetch(plan, lead_fields_of(sel), &leads, viewer, loaders).await?;
                drop(leads);
                Fetched::Leads(connection, Box::new(related))
            }
            RootField::Lead(id, sel) => {
                let model = match id
                    .as_deref()
                    .and_then(|id| crate::graphql::ids::decode(NodeType::Lead, id, "id").ok())
                {
                    // The viewer-scoped lead loader, called directly: no
                    // batching delay for one key.
                    Some(id) => {
                        use async_graphql::dataloader::Loader;
                        loaders.leads.loader().load(&[id]).await?.remove(&id)
                    }
                    None => None,
                };
                let leads: Vec<&lead::Model> = model.iter().collect();
                let related =
                    Related::fetch(plan, sel.iter().collect(), &leads, viewer, loaders).await?;
                drop(leads);
                Fetched::Lead(Box::new(model), Box::new(related))
            }
        });
    }
    let mut w = Writer::with_capacity(4096);
    w.open();
    for ((key, field), fetched) in plan.root.iter().zip(&roots) {
        w.key(key);
        match (field, fetched) {
            (RootField::Typename, _) => w.str("Query"),
            (RootField::Leads(_, sel), Fetched::Leads(connection, related)) => {
                write_lead_connection(&mut w, sel, connection, related, state)?
            }
            (RootField::Lead(_, sel), Fetched::Lead(model, related)) => match model.as_ref() {
                Some(model) => write_lead(&mut w, sel, model, related, state)?,
                None => w.null(),
            },
            _ => return Err(GaveUp),
        }
    }
    w.close();
    Ok(w.finish())
}

enum Fetched {
    None,
    Leads(LeadConnection, Box<Related>),
    Lead(Box<Option<lead::Model>>, Box<Related>),
}

/// Every `LeadField` the nodes of a connection selection hold.
fn lead_fields_of(sel: &Sel<ConnField<Sel<LeadField>>>) -> Vec<&(String, LeadField)> {
    let mut out = Vec::new();
    for (_, field) in sel {
        if let ConnField::Edges(edges) = field {
            for (_, edge) in edges {
                if let EdgeField::Node(node) = edge {
                    out.extend(node.iter());
                }
            }
        }
    }
    out
}

/// What the leads of one root field point to, fetched once for all of them.
#[derive(Default)]
struct Related {
    owners: HashMap<i64, User>,
    personas: HashMap<i64, entity::persona::Model>,
    campaigns: HashMap<i64, entity::campaign::Model>,
    history: HashMap<i64, Vec<StageChange>>,
    breakdowns: HashMap<i64, Vec<ScoreContribution>>,
    /// Per interaction selection (by index), each lead's page.
    interactions: Vec<HashMap<i64, InteractionConnection>>,
}

impl Related {
    /// The relations `fields` select, each read with one call of its batch
    /// loader (no per-lead futures, no batching delay), all at once.
    async fn fetch(
        plan: &Plan,
        fields: Vec<&(String, LeadField)>,
        leads: &[&lead::Model],
        viewer: &Viewer,
        loaders: &Loaders,
    ) -> R<Related> {
        use async_graphql::dataloader::Loader;
        let ids = |of: fn(&lead::Model) -> Option<i64>| -> Vec<i64> {
            let set: HashSet<i64> = leads.iter().filter_map(|l| of(l)).collect();
            set.into_iter().collect()
        };
        // A loader is never called without keys.
        let has = |wanted: fn(&LeadField) -> bool| {
            !leads.is_empty() && fields.iter().any(|(_, f)| wanted(f))
        };
        let owners = async {
            let ids = ids(|l| l.owner_id);
            if !has(|f| matches!(f, LeadField::Owner(_))) || ids.is_empty() {
                return Ok(HashMap::new());
            }
            let rows = loaders.users.loader().load(&ids).await?;
            rows.into_iter()
                .map(|(id, row)| Ok((id, User::try_from(row)?)))
                .collect::<R<HashMap<_, _>>>()
        };
        let personas = async {
            let ids = ids(|l| l.persona_id);
            if !has(|f| matches!(f, LeadField::Persona(_))) || ids.is_empty() {
                return Ok(HashMap::new());
            }
            Ok::<_, GaveUp>(loaders.personas.loader().load(&ids).await?)
        };
        let campaigns = async {
            let ids = ids(|l| l.source_campaign_id);
            if !has(|f| matches!(f, LeadField::SourceCampaign(_))) || ids.is_empty() {
                return Ok(HashMap::new());
            }
            // The resolver refuses a role that may not read campaigns, for
            // each lead that has one.
            policy::require(viewer, Capability::ReadCampaigns)?;
            Ok::<_, GaveUp>(loaders.campaigns.loader().load(&ids).await?)
        };
        let history = async {
            if !has(|f| matches!(f, LeadField::StageHistory(_))) {
                return Ok(HashMap::new());
            }
            let ids: Vec<i64> = leads.iter().map(|l| l.id).collect();
            let rows = loaders.history.loader().load(&ids).await?;
            rows.into_iter()
                .map(|(id, rows)| {
                    let changes = rows
                        .into_iter()
                        .map(StageChange::try_from)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((id, changes))
                })
                .collect::<R<HashMap<_, _>>>()
        };
        let breakdowns = async {
            if !has(|f| matches!(f, LeadField::ScoreBreakdown(_))) {
                return Ok(HashMap::new());
            }
            let ids: HashSet<i64> = leads
                .iter()
                .flat_map(|l| l.score_breakdown.0.iter().map(|share| share.rule_id))
                .collect();
            let rules = if ids.is_empty() {
                HashMap::new()
            } else {
                let ids: Vec<i64> = ids.into_iter().collect();
                loaders.scoring_rules.loader().load(&ids).await?
            };
            Ok::<_, GaveUp>(
                leads
                    .iter()
                    .map(|lead| (lead.id, crate::scoring::types::breakdown_with(&rules, lead)))
                    .collect(),
            )
        };
        let interactions = async {
            let mut pages = (0..plan.interaction_selections)
                .map(|_| HashMap::new())
                .collect::<Vec<_>>();
            for (_, field) in fields.iter().filter(|_| !leads.is_empty()) {
                if let LeadField::Interactions(index, args, _) = field {
                    pages[*index] = interaction_pages(loaders, leads, args).await?;
                }
            }
            Ok::<_, GaveUp>(pages)
        };
        let (owners, personas, campaigns, history, breakdowns, interactions) = futures::try_join!(
            owners,
            personas,
            campaigns,
            history,
            breakdowns,
            interactions
        )?;
        Ok(Related {
            owners,
            personas,
            campaigns,
            history,
            breakdowns,
            interactions,
        })
    }
}

/// One interaction page per lead, in one call of the page loader.
async fn interaction_pages(
    loaders: &Loaders,
    leads: &[&lead::Model],
    args: &InteractionsArgs,
) -> R<HashMap<i64, InteractionConnection>> {
    use async_graphql::dataloader::Loader;
    let kinds: Option<Vec<crate::interactions::kind::InteractionKind>> = args
        .kinds
        .as_ref()
        .map(|kinds| kinds.iter().copied().map(Into::into).collect());
    let keys = leads
        .iter()
        .map(|lead| page_key(lead.id, args.first, args.after.clone(), kinds.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pages = loaders.interactions.loader().load(&keys).await?;
    Ok(keys
        .into_iter()
        .map(|key| {
            let page = pages.remove(&key).unwrap_or_default();
            (key.lead_id, connection(key, page))
        })
        .collect())
}

/// A connection (`LeadConnection`, `InteractionConnection`): its edges,
/// each node written by `node`, and its page info.
fn write_connection<'a, F, N: 'a>(
    w: &mut Writer,
    sel: &Sel<ConnField<F>>,
    names: [&str; 2],
    page_info: &PageInfo,
    edges: impl Iterator<Item = (&'a str, &'a N)> + Clone,
    mut node: impl FnMut(&mut Writer, &F, &N) -> R<()>,
) -> R<()> {
    let [connection, edge] = names;
    w.open();
    for (key, field) in sel {
        w.key(key);
        match field {
            ConnField::Typename => w.str(connection),
            ConnField::PageInfo(fields) => write_page_info(w, fields, page_info),
            ConnField::Edges(fields) => {
                w.open_list();
                for (cursor, n) in edges.clone() {
                    w.open();
                    for (key, field) in fields {
                        w.key(key);
                        match field {
                            EdgeField::Typename => w.str(edge),
                            EdgeField::Cursor => w.str(cursor),
                            EdgeField::Node(sel) => node(w, sel, n)?,
                        }
                    }
                    w.close();
                }
                w.close_list();
            }
        }
    }
    w.close();
    Ok(())
}

fn write_lead_connection(
    w: &mut Writer,
    sel: &Sel<ConnField<Sel<LeadField>>>,
    connection: &LeadConnection,
    related: &Related,
    state: &AppState,
) -> R<()> {
    let edges = connection
        .edges
        .iter()
        .map(|e| (e.cursor.as_str(), &e.node.0));
    write_connection(
        w,
        sel,
        ["LeadConnection", "LeadEdge"],
        &connection.page_info,
        edges,
        |w, sel, lead| write_lead(w, sel, lead, related, state),
    )
}

fn write_page_info(w: &mut Writer, fields: &Sel<PageInfoField>, info: &PageInfo) {
    w.open();
    for (key, field) in fields {
        w.key(key);
        match field {
            PageInfoField::Typename => w.str("PageInfo"),
            PageInfoField::HasNextPage => w.bool(info.has_next_page),
            PageInfoField::HasPreviousPage => w.bool(info.has_previous_page),
            PageInfoField::StartCursor => w.opt_str(info.start_cursor.as_deref()),
            PageInfoField::EndCursor => w.opt_str(info.end_cursor.as_deref()),
        }
    }
    w.close();
}

fn write_lead(
    w: &mut Writer,
    sel: &Sel<LeadField>,
    lead: &lead::Model,
    related: &Related,
    state: &AppState,
) -> R<()> {
    w.open();
    for (key, field) in sel {
        w.key(key);
        match field {
            LeadField::Typename => w.str("Lead"),
            LeadField::Id => w.str(&encode(NodeType::Lead, lead.id).0),
            LeadField::Email => w.str(&lead.email),
            LeadField::FirstName => w.opt_str(lead.first_name.as_deref()),
            LeadField::LastName => w.opt_str(lead.last_name.as_deref()),
            LeadField::Company => w.opt_str(lead.company.as_deref()),
            LeadField::JobTitle => w.opt_str(lead.job_title.as_deref()),
            LeadField::Industry => w.opt_str(lead.industry.as_deref()),
            LeadField::CompanySize => w.opt_i64(lead.company_size.map(i64::from)),
            LeadField::Country => w.opt_str(lead.country.as_deref()),
            LeadField::Phone => w.opt_str(lead.phone.as_deref()),
            LeadField::Stage => {
                let stage: crate::leads::types::LeadStage =
                    lifecycle::LeadStage::from_code(&lead.stage)?.into();
                w.str(enum_name(stage)?)
            }
            LeadField::Score => w.i64(lead.score.into()),
            LeadField::FitScore => w.i64(lead.fit_score.into()),
            LeadField::EngagementScore => w.i64(lead.engagement_score.into()),
            LeadField::IcpFit => w.opt_f64(lead.icp_fit),
            LeadField::SourceChannel => {
                let channel: crate::leads::types::Channel =
                    channel::Channel::from_code(&lead.source_channel)?.into();
                w.str(enum_name(channel)?)
            }
            LeadField::DisqualificationReason => w.opt_str(lead.disqualification_reason.as_deref()),
            LeadField::CreatedAt => w.str(&DateTime(lead.created_at).render()),
            LeadField::UpdatedAt => w.str(&DateTime(lead.updated_at).render()),
            LeadField::StageChangedAt => w.str(&DateTime(lead.stage_changed_at).render()),
            LeadField::Version => w.i64(lead.version.into()),
            LeadField::Qualification(fields) => {
                w.open();
                for (key, field) in fields {
                    w.key(key);
                    match field {
                        QualificationField::Typename => w.str("Qualification"),
                        QualificationField::Budget => w.bool(lead.qual_budget),
                        QualificationField::Need => w.bool(lead.qual_need),
                        QualificationField::Authority => w.bool(lead.qual_authority),
                        QualificationField::Timeline => w.opt_str(lead.qual_timeline.as_deref()),
                        QualificationField::Notes => w.opt_str(lead.qual_notes.as_deref()),
                    }
                }
                w.close();
            }
            LeadField::DealAmount(fields) => match lead.deal_amount_cents {
                None => w.null(),
                Some(cents) => {
                    let money = Money::from_cents(cents, state.currency());
                    w.open();
                    for (key, field) in fields {
                        w.key(key);
                        match field {
                            MoneyField::Typename => w.str("Money"),
                            MoneyField::Amount => w.str(&money.amount.0),
                            MoneyField::Currency => w.str(&money.currency),
                        }
                    }
                    w.close();
                }
            },
            LeadField::Owner(fields) => match lead.owner_id {
                None => w.null(),
                Some(id) => match related.owners.get(&id) {
                    None => w.null(),
                    Some(user) => write_user(w, fields, user)?,
                },
            },
            LeadField::Persona(fields) => match lead.persona_id {
                None => w.null(),
                Some(id) => match related.personas.get(&id) {
                    None => w.null(),
                    Some(p) => write_named(w, fields, "Persona", NodeType::Persona, p.id, &p.name),
                },
            },
            LeadField::SourceCampaign(fields) => match lead.source_campaign_id {
                None => w.null(),
                Some(id) => match related.campaigns.get(&id) {
                    None => w.null(),
                    Some(c) => {
                        let c = Campaign(c.clone());
                        write_named(w, fields, "Campaign", NodeType::Campaign, c.0.id, &c.0.name)
                    }
                },
            },
            LeadField::StageHistory(fields) => {
                let changes = related
                    .history
                    .get(&lead.id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                w.open_list();
                for change in changes {
                    write_stage_change(w, fields, change)?;
                }
                w.close_list();
            }
            LeadField::ScoreBreakdown(fields) => {
                let contributions = related.breakdowns.get(&lead.id).ok_or(GaveUp)?;
                w.open_list();
                for c in contributions {
                    w.open();
                    for (key, field) in fields {
                        w.key(key);
                        match field {
                            ContributionField::Typename => w.str("ScoreContribution"),
                            ContributionField::Points => w.i64(c.points.into()),
                            ContributionField::Rule(fields) => write_named(
                                w,
                                fields,
                                "ScoringRule",
                                NodeType::ScoringRule,
                                c.rule.0.id,
                                &c.rule.0.name,
                            ),
                        }
                    }
                    w.close();
                }
                w.close_list();
            }
            LeadField::Interactions(index, _, sel) => {
                let page = related
                    .interactions
                    .get(*index)
                    .and_then(|pages| pages.get(&lead.id))
                    .ok_or(GaveUp)?;
                write_interaction_connection(w, sel, page)?;
            }
        }
    }
    w.close();
    Ok(())
}

fn write_user(w: &mut Writer, fields: &Sel<UserField>, user: &User) -> R<()> {
    w.open();
    for (key, field) in fields {
        w.key(key);
        match field {
            UserField::Typename => w.str("User"),
            UserField::Id => w.str(&encode(NodeType::User, user.db_id).0),
            UserField::Subject => w.str(&user.subject),
            UserField::Name => w.opt_str(user.name.as_deref()),
            UserField::Email => w.opt_str(user.email.as_deref()),
            UserField::Role => w.str(enum_name(user.role)?),
        }
    }
    w.close();
    Ok(())
}

fn write_named(
    w: &mut Writer,
    fields: &Sel<NamedField>,
    type_name: &str,
    node: NodeType,
    id: i64,
    name: &str,
) {
    w.open();
    for (key, field) in fields {
        w.key(key);
        match field {
            NamedField::Typename => w.str(type_name),
            NamedField::Id => w.str(&encode(node, id).0),
            NamedField::Name => w.str(name),
        }
    }
    w.close();
}

fn write_stage_change(w: &mut Writer, fields: &Sel<StageChangeField>, c: &StageChange) -> R<()> {
    w.open();
    for (key, field) in fields {
        w.key(key);
        match field {
            StageChangeField::Typename => w.str("StageChange"),
            StageChangeField::From => match c.from {
                None => w.null(),
                Some(stage) => w.str(enum_name(stage)?),
            },
            StageChangeField::To => w.str(enum_name(c.to)?),
            StageChangeField::At => w.str(&c.at.render()),
            StageChangeField::Actor => w.str(&c.actor),
            StageChangeField::Reason => w.opt_str(c.reason.as_deref()),
        }
    }
    w.close();
    Ok(())
}

fn write_interaction_connection(
    w: &mut Writer,
    sel: &Sel<ConnField<Sel<InteractionField>>>,
    page: &InteractionConnection,
) -> R<()> {
    let edges = page.edges.iter().map(|e| (e.cursor.as_str(), &e.node.0));
    write_connection(
        w,
        sel,
        ["InteractionConnection", "InteractionEdge"],
        &page.page_info,
        edges,
        write_interaction,
    )
}

fn write_interaction(
    w: &mut Writer,
    sel: &Sel<InteractionField>,
    m: &entity::interaction::Model,
) -> R<()> {
    w.open();
    for (key, field) in sel {
        w.key(key);
        match field {
            InteractionField::Typename => w.str("Interaction"),
            InteractionField::Id => w.str(&encode(NodeType::Interaction, m.id).0),
            InteractionField::Kind => {
                let kind: crate::interactions::types::InteractionKind =
                    crate::interactions::kind::InteractionKind::from_code(&m.kind)?.into();
                w.str(enum_name(kind)?)
            }
            InteractionField::OccurredAt => w.str(&DateTime(m.occurred_at).render()),
            InteractionField::Channel => match m.channel.as_deref() {
                None => w.null(),
                Some(code) => {
                    let channel: crate::leads::types::Channel =
                        channel::Channel::from_code(code)?.into();
                    w.str(enum_name(channel)?)
                }
            },
            InteractionField::ExternalId => w.opt_str(m.external_id.as_deref()),
            InteractionField::Metadata => match &m.metadata {
                None => w.null(),
                Some(value) => w.json(value),
            },
        }
    }
    w.close();
    Ok(())
}

/// The GraphQL name of an enum value, as the executor writes it.
fn enum_name<T: EnumType>(value: T) -> R<&'static str> {
    T::items()
        .iter()
        .find(|item| item.value == value)
        .map(|item| item.name)
        .ok_or(GaveUp)
}

/// JSON text, written as serde_json writes the executor's values. Every
/// value is followed by a comma; closing an object or a list drops the
/// comma of its last member.
struct Writer(Vec<u8>);

impl Writer {
    fn with_capacity(n: usize) -> Self {
        Writer(Vec::with_capacity(n))
    }
    fn open(&mut self) {
        self.0.push(b'{');
    }
    fn close(&mut self) {
        self.end(b'}');
    }
    fn open_list(&mut self) {
        self.0.push(b'[');
    }
    fn close_list(&mut self) {
        self.end(b']');
    }
    fn end(&mut self, bracket: u8) {
        match self.0.last() {
            Some(b',') => {
                self.0.pop();
            }
            // The executor answers an object with no field selected (all
            // skipped) as `null`.
            Some(b'{') if bracket == b'}' => {
                self.0.pop();
                self.null();
                return;
            }
            _ => {}
        }
        self.0.push(bracket);
        self.0.push(b',');
    }
    /// The finished text, without the comma after the outermost value.
    fn finish(mut self) -> Vec<u8> {
        if self.0.last() == Some(&b',') {
            self.0.pop();
        }
        self.0
    }
    fn key(&mut self, key: &str) {
        self.raw(key);
        self.0.push(b':');
    }
    /// A value serde_json writes; writing to a `Vec` cannot fail.
    fn raw<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        let _ = serde_json::to_writer(&mut self.0, value);
    }
    fn str(&mut self, s: &str) {
        self.raw(s);
        self.0.push(b',');
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }
    fn null(&mut self) {
        self.0.extend_from_slice(b"null,");
    }
    fn bool(&mut self, b: bool) {
        self.0
            .extend_from_slice(if b { b"true," } else { b"false," });
    }
    fn i64(&mut self, n: i64) {
        self.raw(&n);
        self.0.push(b',');
    }
    fn opt_i64(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.i64(n),
            None => self.null(),
        }
    }
    /// As `async_graphql::Value::from(f64)`: a number, `null` when not finite.
    fn opt_f64(&mut self, n: Option<f64>) {
        match n.and_then(serde_json::Number::from_f64) {
            Some(n) => {
                self.raw(&n);
                self.0.push(b',');
            }
            None => self.null(),
        }
    }
    fn json(&mut self, value: &serde_json::Value) {
        self.raw(value);
        self.0.push(b',');
    }
}
