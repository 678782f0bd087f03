//! From a parsed, validated document to a [`Plan`]: the fields each object
//! selects, with fragments expanded, `@skip`/`@include` applied and
//! arguments coerced by the same `InputType`s the executor uses. Anything
//! outside the plan's subset is [`Unsupported`], and the general executor
//! answers instead.

use crate::interactions::types::InteractionKind;
use crate::leads::types::{LeadFilter, LeadOrder};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{InputType, Name, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};

/// The document, or this use of it, is outside what plans cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

type R<T> = Result<T, Unsupported>;

/// Fields of one object in the order of the response, each under its
/// response key (alias or name).
pub type Sel<F> = Vec<(String, F)>;

/// A query the plan runner answers.
#[derive(Debug)]
pub struct Plan {
    pub root: Sel<RootField>,
    /// How many `Lead.interactions` selections the plan holds; each is
    /// fetched once for all the leads it applies to.
    pub interaction_selections: usize,
    /// Variables used only as a whole `id` or `after` argument: their values
    /// change neither validation nor the query's cost.
    pub free_variables: Vec<Name>,
}

#[derive(Debug)]
pub enum RootField {
    Typename,
    Leads(Box<LeadsArgs>, Sel<ConnField<Sel<LeadField>>>),
    Lead(Option<String>, Sel<LeadField>),
}

#[derive(Debug, Default)]
pub struct LeadsArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub filter: Option<LeadFilter>,
    pub order_by: Option<LeadOrder>,
}

/// `LeadConnection` and `InteractionConnection` (without `totalCount`).
#[derive(Debug)]
pub enum ConnField<N> {
    Typename,
    Edges(Sel<EdgeField<N>>),
    PageInfo(Sel<PageInfoField>),
}

#[derive(Debug)]
pub enum EdgeField<N> {
    Typename,
    Cursor,
    Node(N),
}

#[derive(Debug, Clone, Copy)]
pub enum PageInfoField {
    Typename,
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

#[derive(Debug)]
pub enum LeadField {
    Typename,
    Id,
    Email,
    FirstName,
    LastName,
    Company,
    JobTitle,
    Industry,
    CompanySize,
    Country,
    Phone,
    Stage,
    Score,
    FitScore,
    EngagementScore,
    IcpFit,
    SourceChannel,
    DisqualificationReason,
    CreatedAt,
    UpdatedAt,
    StageChangedAt,
    Version,
    Qualification(Sel<QualificationField>),
    DealAmount(Sel<MoneyField>),
    Owner(Sel<UserField>),
    Persona(Sel<NamedField>),
    SourceCampaign(Sel<NamedField>),
    StageHistory(Sel<StageChangeField>),
    ScoreBreakdown(Sel<ContributionField>),
    /// The index of this selection among the plan's interaction selections.
    Interactions(
        usize,
        InteractionsArgs,
        Sel<ConnField<Sel<InteractionField>>>,
    ),
}

#[derive(Debug, Default, Clone)]
pub struct InteractionsArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub kinds: Option<Vec<InteractionKind>>,
}

#[derive(Debug, Clone, Copy)]
pub enum QualificationField {
    Typename,
    Budget,
    Need,
    Authority,
    Timeline,
    Notes,
}

#[derive(Debug, Clone, Copy)]
pub enum MoneyField {
    Typename,
    Amount,
    Currency,
}

#[derive(Debug, Clone, Copy)]
pub enum UserField {
    Typename,
    Id,
    Subject,
    Name,
    Email,
    Role,
}

/// `Persona`, `Campaign` and `ScoringRule` as far as plans read them.
#[derive(Debug, Clone, Copy)]
pub enum NamedField {
    Typename,
    Id,
    Name,
}

#[derive(Debug, Clone, Copy)]
pub enum StageChangeField {
    Typename,
    From,
    To,
    At,
    Actor,
    Reason,
}

#[derive(Debug)]
pub enum ContributionField {
    Typename,
    Points,
    Rule(Sel<NamedField>),
}

#[derive(Debug, Clone, Copy)]
pub enum InteractionField {
    Typename,
    Id,
    Kind,
    OccurredAt,
    Channel,
    ExternalId,
    Metadata,
}

/// Selection sets nest at most 12 levels (the executor's depth limit);
/// fragments spreading fragments count too.
const MAX_DEPTH: usize = 32;

/// The plan of the operation `operation_name` selects in `document`, with
/// `variables`; `Unsupported` when it is not a query the plans cover.
pub fn compile(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> R<Plan> {
    let operation = select_operation(document, operation_name)?;
    if operation.ty != OperationType::Query {
        return Err(Unsupported);
    }
    let mut cx = Compiler {
        document,
        operation,
        variables,
        interaction_selections: 0,
        free: Default::default(),
        bound: Default::default(),
    };
    let root = cx.root(&operation.selection_set.node)?;
    let bound = cx.bound.into_inner();
    let free_variables = cx
        .free
        .into_inner()
        .into_iter()
        .filter(|name| !bound.contains(name))
        .collect();
    Ok(Plan {
        root,
        interaction_selections: cx.interaction_selections,
        free_variables,
    })
}

fn select_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> R<&'a OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Ok(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| &op.node).ok_or(Unsupported)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node).ok_or(Unsupported)
        }
        _ => Err(Unsupported),
    }
}

struct Compiler<'a> {
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    interaction_selections: usize,
    /// Variables seen as a whole `id` or `after` argument.
    free: std::cell::RefCell<std::collections::HashSet<Name>>,
    /// Variables seen anywhere else.
    bound: std::cell::RefCell<std::collections::HashSet<Name>>,
}

/// A field as collected from a selection set.
type Collected<'a> = (&'a str, &'a Field);

impl<'a> Compiler<'a> {
    /// The value of a variable: given, else its default; a variable neither
    /// given nor defaulted is left to the executor.
    fn variable(&self, name: &Name) -> R<ConstValue> {
        if let Some(value) = self.variables.get(name) {
            return Ok(value.clone());
        }
        self.operation
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value.as_ref())
            .map(|v| v.node.clone())
            .ok_or(Unsupported)
    }

    fn constant(&self, value: &Value) -> R<ConstValue> {
        value.clone().into_const_with(|name| {
            let value = self.variable(&name);
            self.bound.borrow_mut().insert(name);
            value
        })
    }

    /// Whether `@skip`/`@include` keep a selection; other directives are
    /// left to the executor.
    fn included(
        &self,
        directives: &[Positioned<async_graphql::parser::types::Directive>],
    ) -> R<bool> {
        let mut keep = true;
        for directive in directives {
            let d = &directive.node;
            let [(arg, value)] = d.arguments.as_slice() else {
                return Err(Unsupported);
            };
            if arg.node.as_str() != "if" {
                return Err(Unsupported);
            }
            let ConstValue::Boolean(flag) = self.constant(&value.node)? else {
                return Err(Unsupported);
            };
            match d.name.node.as_str() {
                "skip" => keep &= !flag,
                "include" => keep &= flag,
                _ => return Err(Unsupported),
            }
        }
        Ok(keep)
    }

    /// The fields `set` selects on the object type `type_name`, fragments
    /// expanded. A response key selected twice is left to the executor
    /// (it merges the selections).
    fn collect(&self, type_name: &str, set: &'a SelectionSet) -> R<Vec<Collected<'a>>> {
        let mut out = Vec::new();
        self.collect_into(type_name, set, &mut out, 0)?;
        Ok(out)
    }

    fn collect_into(
        &self,
        type_name: &str,
        set: &'a SelectionSet,
        out: &mut Vec<Collected<'a>>,
        depth: usize,
    ) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let f = &field.node;
                    if !self.included(&f.directives)? {
                        continue;
                    }
                    let key = f.response_key().node.as_str();
                    match out.iter().find(|(k, _)| *k == key) {
                        None => out.push((key, f)),
                        // The same leaf twice: one value, at the place of
                        // the first (validation made them the same field).
                        Some((_, seen))
                            if is_plain_leaf(seen)
                                && is_plain_leaf(f)
                                && seen.name.node == f.name.node => {}
                        // Selections to merge: left to the executor.
                        Some(_) => return Err(Unsupported),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let f = &fragment.node;
                    if let Some(condition) = &f.type_condition
                        && !applies(type_name, condition.node.on.node.as_str())
                    {
                        return Err(Unsupported);
                    }
                    if self.included(&f.directives)? {
                        self.collect_into(type_name, &f.selection_set.node, out, depth + 1)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let s = &spread.node;
                    if !self.included(&s.directives)? {
                        continue;
                    }
                    let fragment = self
                        .document
                        .fragments
                        .get(&s.fragment_name.node)
                        .ok_or(Unsupported)?;
                    let f = &fragment.node;
                    if !applies(type_name, f.type_condition.node.on.node.as_str())
                        || !f.directives.is_empty()
                    {
                        return Err(Unsupported);
                    }
                    self.collect_into(type_name, &f.selection_set.node, out, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// An argument of `field`, coerced as the executor coerces it; `None`
    /// when absent (or a variable given as absent, which the executor
    /// treats alike only through its default: left to it).
    fn argument<T: InputType>(&self, field: &Field, name: &str) -> R<Option<T>> {
        match field.get_argument(name) {
            None => Ok(None),
            Some(value) => {
                let value = self.constant(&value.node)?;
                T::parse(Some(value)).map(Some).map_err(|_| Unsupported)
            }
        }
    }

    /// An `id` or `after` argument: a variable given whole is free.
    fn free_argument<T: InputType>(&self, field: &Field, name: &str) -> R<Option<T>> {
        match field.get_argument(name).map(|v| &v.node) {
            Some(Value::Variable(var)) => {
                let value = self.variable(var)?;
                self.free.borrow_mut().insert(var.clone());
                T::parse(Some(value)).map(Some).map_err(|_| Unsupported)
            }
            _ => self.argument(field, name),
        }
    }

    /// Refuse arguments other than `allowed`, and any at all on plain fields.
    fn only_arguments(field: &Field, allowed: &[&str]) -> R<()> {
        if field
            .arguments
            .iter()
            .all(|(name, _)| allowed.contains(&name.node.as_str()))
        {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    /// A field without arguments and without a selection set.
    fn leaf<F>(field: &Field, value: F) -> R<F> {
        if field.arguments.is_empty() && field.selection_set.node.items.is_empty() {
            Ok(value)
        } else {
            Err(Unsupported)
        }
    }

    fn root(&mut self, set: &'a SelectionSet) -> R<Sel<RootField>> {
        let mut out = Vec::new();
        for (key, field) in self.collect("Query", set)? {
            let value = match field.name.node.as_str() {
                "__typename" => Self::leaf(field, RootField::Typename)?,
                "leads" => {
                    Self::only_arguments(field, &["first", "after", "filter", "orderBy"])?;
                    let args = LeadsArgs {
                        first: self.argument::<Option<i32>>(field, "first")?.flatten(),
                        after: self
                            .free_argument::<Option<String>>(field, "after")?
                            .flatten(),
                        filter: self
                            .argument::<Option<LeadFilter>>(field, "filter")?
                            .flatten(),
                        order_by: self
                            .argument::<Option<LeadOrder>>(field, "orderBy")?
                            .flatten(),
                    };
                    let sel = self.connection("LeadConnection", "LeadEdge", field, |cx, f| {
                        cx.lead(&f.selection_set.node)
                    })?;
                    RootField::Leads(Box::new(args), sel)
                }
                "lead" => {
                    Self::only_arguments(field, &["id"])?;
                    let id = self
                        .free_argument::<async_graphql::ID>(field, "id")?
                        .ok_or(Unsupported)?;
                    RootField::Lead(Some(id.0), self.lead(&field.selection_set.node)?)
                }
                _ => return Err(Unsupported),
            };
            out.push((key.to_owned(), value));
        }
        Ok(out)
    }

    fn connection<N>(
        &mut self,
        connection: &str,
        edge: &str,
        field: &'a Field,
        mut node: impl FnMut(&mut Self, &'a Field) -> R<N>,
    ) -> R<Sel<ConnField<N>>> {
        let mut out = Vec::new();
        for (key, f) in self.collect(connection, &field.selection_set.node)? {
            let value = match f.name.node.as_str() {
                "__typename" => Self::leaf(f, ConnField::Typename)?,
                "edges" => {
                    Self::only_arguments(f, &[])?;
                    let mut edges = Vec::new();
                    for (key, e) in self.collect(edge, &f.selection_set.node)? {
                        let value = match e.name.node.as_str() {
                            "__typename" => Self::leaf(e, EdgeField::Typename)?,
                            "cursor" => Self::leaf(e, EdgeField::Cursor)?,
                            "node" => {
                                Self::only_arguments(e, &[])?;
                                EdgeField::Node(node(self, e)?)
                            }
                            _ => return Err(Unsupported),
                        };
                        edges.push((key.to_owned(), value));
                    }
                    ConnField::Edges(edges)
                }
                "pageInfo" => {
                    Self::only_arguments(f, &[])?;
                    ConnField::PageInfo(self.page_info(&f.selection_set.node)?)
                }
                _ => return Err(Unsupported),
            };
            out.push((key.to_owned(), value));
        }
        Ok(out)
    }

    fn page_info(&self, set: &'a SelectionSet) -> R<Sel<PageInfoField>> {
        self.leaves("PageInfo", set, |name| {
            Some(match name {
                "__typename" => PageInfoField::Typename,
                "hasNextPage" => PageInfoField::HasNextPage,
                "hasPreviousPage" => PageInfoField::HasPreviousPage,
                "startCursor" => PageInfoField::StartCursor,
                "endCursor" => PageInfoField::EndCursor,
                _ => return None,
            })
        })
    }

    /// An object whose selected fields are all leaves named by `field`.
    fn leaves<F>(
        &self,
        type_name: &str,
        set: &'a SelectionSet,
        field: impl Fn(&str) -> Option<F>,
    ) -> R<Sel<F>> {
        self.collect(type_name, set)?
            .into_iter()
            .map(|(key, f)| {
                let value = field(f.name.node.as_str()).ok_or(Unsupported)?;
                Ok((key.to_owned(), Self::leaf(f, value)?))
            })
            .collect()
    }

    fn named(&self, type_name: &str, set: &'a SelectionSet) -> R<Sel<NamedField>> {
        self.leaves(type_name, set, |name| {
            Some(match name {
                "__typename" => NamedField::Typename,
                "id" => NamedField::Id,
                "name" => NamedField::Name,
                _ => return None,
            })
        })
    }

    fn lead(&mut self, set: &'a SelectionSet) -> R<Sel<LeadField>> {
        let mut out = Vec::new();
        for (key, f) in self.collect("Lead", set)? {
            let sub = &f.selection_set.node;
            let value = match f.name.node.as_str() {
                "__typename" => Self::leaf(f, LeadField::Typename)?,
                "id" => Self::leaf(f, LeadField::Id)?,
                "email" => Self::leaf(f, LeadField::Email)?,
                "firstName" => Self::leaf(f, LeadField::FirstName)?,
                "lastName" => Self::leaf(f, LeadField::LastName)?,
                "company" => Self::leaf(f, LeadField::Company)?,
                "jobTitle" => Self::leaf(f, LeadField::JobTitle)?,
                "industry" => Self::leaf(f, LeadField::Industry)?,
                "companySize" => Self::leaf(f, LeadField::CompanySize)?,
                "country" => Self::leaf(f, LeadField::Country)?,
                "phone" => Self::leaf(f, LeadField::Phone)?,
                "stage" => Self::leaf(f, LeadField::Stage)?,
                "score" => Self::leaf(f, LeadField::Score)?,
                "fitScore" => Self::leaf(f, LeadField::FitScore)?,
                "engagementScore" => Self::leaf(f, LeadField::EngagementScore)?,
                "icpFit" => Self::leaf(f, LeadField::IcpFit)?,
                "sourceChannel" => Self::leaf(f, LeadField::SourceChannel)?,
                "disqualificationReason" => Self::leaf(f, LeadField::DisqualificationReason)?,
                "createdAt" => Self::leaf(f, LeadField::CreatedAt)?,
                "updatedAt" => Self::leaf(f, LeadField::UpdatedAt)?,
                "stageChangedAt" => Self::leaf(f, LeadField::StageChangedAt)?,
                "version" => Self::leaf(f, LeadField::Version)?,
                "qualification" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::Qualification(self.leaves("Qualification", sub, |name| {
                        Some(match name {
                            "__typename" => QualificationField::Typename,
                            "budget" => QualificationField::Budget,
                            "need" => QualificationField::Need,
                            "authority" => QualificationField::Authority,
                            "timeline" => QualificationField::Timeline,
                            "notes" => QualificationField::Notes,
                            _ => return None,
                        })
                    })?)
                }
                "dealAmount" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::DealAmount(self.leaves("Money", sub, |name| {
                        Some(match name {
                            "__typename" => MoneyField::Typename,
                            "amount" => MoneyField::Amount,
                            "currency" => MoneyField::Currency,
                            _ => return None,
                        })
                    })?)
                }
                "owner" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::Owner(self.leaves("User", sub, |name| {
                        Some(match name {
                            "__typename" => UserField::Typename,
                            "id" => UserField::Id,
                            "subject" => UserField::Subject,
                            "name" => UserField::Name,
                            "email" => UserField::Email,
                            "role" => UserField::Role,
                            _ => return None,
                        })
                    })?)
                }
                "persona" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::Persona(self.named("Persona", sub)?)
                }
                "sourceCampaign" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::SourceCampaign(self.named("Campaign", sub)?)
                }
                "stageHistory" => {
                    Self::only_arguments(f, &[])?;
                    LeadField::StageHistory(self.leaves("StageChange", sub, |name| {
                        Some(match name {
                            "__typename" => StageChangeField::Typename,
                            "from" => StageChangeField::From,
                            "to" => StageChangeField::To,
                            "at" => StageChangeField::At,
                            "actor" => StageChangeField::Actor,
                            "reason" => StageChangeField::Reason,
                            _ => return None,
                        })
                    })?)
                }
                "scoreBreakdown" => {
                    Self::only_arguments(f, &[])?;
                    let mut fields = Vec::new();
                    for (key, c) in self.collect("ScoreContribution", sub)? {
                        let value = match c.name.node.as_str() {
                            "__typename" => Self::leaf(c, ContributionField::Typename)?,
                            "points" => Self::leaf(c, ContributionField::Points)?,
                            "rule" => {
                                Self::only_arguments(c, &[])?;
                                ContributionField::Rule(
                                    self.named("ScoringRule", &c.selection_set.node)?,
                                )
                            }
                            _ => return Err(Unsupported),
                        };
                        fields.push((key.to_owned(), value));
                    }
                    LeadField::ScoreBreakdown(fields)
                }
                "interactions" => {
                    Self::only_arguments(f, &["first", "after", "kinds"])?;
                    let args = InteractionsArgs {
                        first: self.argument::<Option<i32>>(f, "first")?.flatten(),
                        after: self.free_argument::<Option<String>>(f, "after")?.flatten(),
                        kinds: self
                            .argument::<Option<Vec<InteractionKind>>>(f, "kinds")?
                            .flatten(),
                    };
                    let index = self.interaction_selections;
                    self.interaction_selections += 1;
                    let sel = self.connection(
                        "InteractionConnection",
                        "InteractionEdge",
                        f,
                        |cx, node| cx.interaction(&node.selection_set.node),
                    )?;
                    LeadField::Interactions(index, args, sel)
                }
                _ => return Err(Unsupported),
            };
            out.push((key.to_owned(), value));
        }
        Ok(out)
    }

    fn interaction(&self, set: &'a SelectionSet) -> R<Sel<InteractionField>> {
        self.leaves("Interaction", set, |name| {
            Some(match name {
                "__typename" => InteractionField::Typename,
                "id" => InteractionField::Id,
                "kind" => InteractionField::Kind,
                "occurredAt" => InteractionField::OccurredAt,
                "channel" => InteractionField::Channel,
                "externalId" => InteractionField::ExternalId,
                "metadata" => InteractionField::Metadata,
                _ => return None,
            })
        })
    }
}

fn is_plain_leaf(field: &Field) -> bool {
    field.arguments.is_empty() && field.selection_set.node.items.is_empty()
}

/// Whether a fragment on `condition` applies to the object type `type_name`:
/// the type itself, or `Node`, which every type plans cover and that has an
/// `id` implements.
fn applies(type_name: &str, condition: &str) -> bool {
    condition == type_name
        || (condition == "Node"
            && matches!(
                type_name,
                "Lead" | "User" | "Persona" | "Campaign" | "ScoringRule" | "Interaction"
            ))
}
