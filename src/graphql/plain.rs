//! Lists of plain-data objects resolved in one pass: the buckets of a KPI
//! trend (`kpis::types`).
//!
//! A weekly trend over a year by channel is 53 buckets × 10 groups × 2
//! fields, about 29,000 output values, all plain data already computed.
//! async-graphql resolves every one of them with a future and a context of
//! its own (about a microsecond each), which made the executor, not the
//! database, most of the request (bench/RESULTS.md, issue 15). [`Buckets`]
//! is a list that async-graphql sees as the `[T!]` it replaces (same type,
//! same schema) but whose `resolve` reads the selection set once for the
//! whole list and writes every bucket's object directly.
//!
//! It covers what a bucket selection can hold: fields by name and alias,
//! `__typename`, inline fragments and fragment spreads on the type itself,
//! `@skip`/`@include` with a literal or a variable. Anything else (another
//! directive, a response key selected twice, an argument) is resolved by
//! async-graphql's own list resolver, as is everything when prepared plans
//! are off (`LEADGRAPH_PREPARED_PLANS=false`): `tests/api/trends.rs`
//! compares the two answers over a generated corpus of documents.

use crate::app::AppState;
use crate::graphql::scalars::Money;
use async_graphql::parser::types::{Directive, Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};
use std::borrow::Cow;

/// A list of `T` resolved in one pass when the selection allows it.
#[derive(Clone, Debug)]
pub struct Buckets<T>(pub Vec<T>);

/// A plain-data object type of a bucket.
pub trait Plain {
    /// Its GraphQL name.
    const NAME: &'static str;
    /// The object type of `field` of the type named `parent` (this type or
    /// one it holds), when that field holds objects.
    fn child(parent: &str, field: &str) -> Option<&'static str>;
    /// The value of `field` with the sub-selection `children`; `None` for
    /// a field this type does not have.
    fn value(&self, field: &str, children: &[Sel]) -> Option<Value>;
}

/// One selected field: response key, field name, sub-selection.
#[derive(Debug)]
pub struct Sel {
    key: Name,
    name: String,
    children: Vec<Sel>,
}

/// The object of `item` for `selection`.
pub fn object<T: Plain>(item: &T, selection: &[Sel]) -> Option<Value> {
    let mut map = async_graphql::indexmap::IndexMap::with_capacity(selection.len());
    for s in selection {
        let value = if s.name == "__typename" {
            Value::String(T::NAME.to_owned())
        } else {
            item.value(&s.name, &s.children)?
        };
        map.insert(s.key.clone(), value);
    }
    // As async-graphql's container resolver: an object whose every field
    // was skipped is null.
    Some(if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    })
}

/// An optional float as the executor writes it.
pub fn float(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |x| x.to_value())
}

/// An optional `Money` object.
pub fn money(m: Option<&Money>, children: &[Sel]) -> Option<Value> {
    match m {
        Some(m) => object(m, children),
        None => Some(Value::Null),
    }
}

impl Plain for Money {
    const NAME: &'static str = "Money";
    fn child(_: &str, _: &str) -> Option<&'static str> {
        None
    }
    fn value(&self, field: &str, _: &[Sel]) -> Option<Value> {
        Some(match field {
            "amount" => self.amount.to_value(),
            "currency" => Value::String(self.currency.clone()),
            _ => return None,
        })
    }
}

/// Fragments spreading fragments nest at most this deep here.
const MAX_DEPTH: usize = 16;

struct Collector<'c, 'a> {
    ctx: &'c ContextSelectionSet<'a>,
    /// The child type of a field, by parent type name and field name.
    child_of: fn(&str, &str) -> Option<&'static str>,
}

impl Collector<'_, '_> {
    /// Whether `@skip`/`@include` keep a selection; `None` for anything
    /// else.
    fn included(&self, directives: &[Positioned<Directive>]) -> Option<bool> {
        let mut keep = true;
        for directive in directives {
            let d = &directive.node;
            let [(arg, value)] = d.arguments.as_slice() else {
                return None;
            };
            if arg.node.as_str() != "if" {
                return None;
            }
            let flag = match &value.node {
                async_graphql_value::Value::Boolean(b) => *b,
                async_graphql_value::Value::Variable(name) => {
                    let env = self.ctx.query_env;
                    let given = env.variables.get(name).cloned().or_else(|| {
                        env.operation
                            .node
                            .variable_definitions
                            .iter()
                            .find(|v| v.node.name.node == *name)
                            .and_then(|v| v.node.default_value.as_ref())
                            .map(|v| v.node.clone())
                    });
                    match given {
                        Some(Value::Boolean(b)) => b,
                        _ => return None,
                    }
                }
                _ => return None,
            };
            match d.name.node.as_str() {
                "skip" => keep &= !flag,
                "include" => keep &= flag,
                _ => return None,
            }
        }
        Some(keep)
    }

    fn collect(&self, type_name: &str, set: &SelectionSet, depth: usize) -> Option<Vec<Sel>> {
        let mut out = Vec::new();
        self.collect_into(type_name, set, &mut out, depth)?;
        Some(out)
    }

    fn collect_into(
        &self,
        type_name: &str,
        set: &SelectionSet,
        out: &mut Vec<Sel>,
        depth: usize,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let f: &Field = &field.node;
                    if !self.included(&f.directives)? {
                        continue;
                    }
                    let key = f.response_key().node.clone();
                    if !f.arguments.is_empty() || out.iter().any(|s| s.key == key) {
                        return None;
                    }
                    let name = f.name.node.as_str();
                    let children = match (self.child_of)(type_name, name) {
                        Some(child) => self.collect(child, &f.selection_set.node, depth + 1)?,
                        None if f.selection_set.node.items.is_empty() => Vec::new(),
                        None => return None,
                    };
                    out.push(Sel {
                        key,
                        name: name.to_owned(),
                        children,
                    });
                }
                Selection::InlineFragment(fragment) => {
                    let f = &fragment.node;
                    if let Some(condition) = &f.type_condition
                        && condition.node.on.node.as_str() != type_name
                    {
                        return None;
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
                    let fragment = self.ctx.query_env.fragments.get(&s.fragment_name.node)?;
                    let f = &fragment.node;
                    if f.type_condition.node.on.node.as_str() != type_name
                        || !f.directives.is_empty()
                    {
                        return None;
                    }
                    self.collect_into(type_name, &f.selection_set.node, out, depth + 1)?;
                }
            }
        }
        Some(())
    }
}

impl<T: Plain + OutputType + Sync> Buckets<T> {
    /// The list in one pass, or `None` when the selection is not one this
    /// module covers (or the child types' names do not line up).
    fn fast(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Value> {
        let state = ctx.data_unchecked::<AppState>();
        if !state.config.prepared_plans {
            return None;
        }
        let collector = Collector {
            ctx,
            child_of: T::child,
        };
        let selection = collector.collect(T::NAME, &field.node.selection_set.node, 0)?;
        self.0
            .iter()
            .map(|item| object(item, &selection))
            .collect::<Option<Vec<_>>>()
            .map(Value::List)
    }
}

impl<T: Plain + OutputType + Sync> OutputType for Buckets<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if let Some(value) = self.fast(ctx, field) {
            return Ok(value);
        }
        async_graphql::resolver_utils::resolve_list(ctx, field, &self.0, Some(self.0.len())).await
    }
}
