//! The one execution path of GraphQL over HTTP and over WebSocket: what a
//! document must pass before the parser and the executor see it, how an
//! operation runs (viewer and loaders attached, bounded in time and in
//! concurrency, a panic turned into a coded error), and how every error gets
//! its `extensions.code`.
//!
//! The limits, in the order they apply (docs/errors.md#limits):
//! 1. bracket nesting of the document, scanned before parsing
//!    ([`MAX_NESTING`]): async-graphql's parser recurses on nested values
//!    without a bound, so a 4 KB document could overflow the stack (a text
//!    parsed before is not parsed again: `graphql::documents`);
//! 2. the number of selected fields with every fragment spread expanded,
//!    `__typename` included (`LEADGRAPH_MAX_COMPLEXITY`);
//! 3. async-graphql's own depth, complexity (lists weighted by `first`,
//!    aggregate fields by their cost), directive and recursion limits;
//! 4. a bounded number of operations with aggregate fields running at once
//!    (`LEADGRAPH_MAX_HEAVY_QUERIES`), and a time limit per operation
//!    (`LEADGRAPH_REQUEST_TIMEOUT`);
//! 5. the size of the serialized response (`LEADGRAPH_MAX_RESPONSE_BYTES`);
//! 6. per subject, a token bucket of operations (`LEADGRAPH_RATE_LIMIT`).

use super::AppSchema;
use super::documents::{Documents, Parsed};
use super::persisted::PersistedError;
use crate::app::{AppState, Loaders};
use crate::auth::Viewer;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{Name, Positioned, Request, Response, ServerError, Value, Variables};
use futures::FutureExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// Deepest nesting of `()`, `[]` and `{}` a document may have. Selection
/// sets are limited to 12 levels anyway; values nested deeper than this
/// serve no client.
pub const MAX_NESTING: usize = 64;

/// Fields that aggregate over many rows. Each selection of one costs
/// [`AGGREGATE_COST`] fields, and an operation that selects one waits for a
/// permit of the heavy-query semaphore.
const AGGREGATE_FIELDS: [&str; 4] = ["funnel", "costPerLead", "leadRelevance", "totalCount"];

/// What one aggregate field counts for against `LEADGRAPH_MAX_COMPLEXITY`:
/// with the default 2,000, a request holds at most 19 of them.
pub const AGGREGATE_COST: usize = 100;

/// Checks and runs GraphQL operations for both transports.
#[derive(Clone)]
pub struct Executor {
    pub schema: AppSchema,
    pub state: AppState,
    heavy: Arc<Semaphore>,
    rate: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Renderings of events shared by identical subscriptions.
    pub renderings: Arc<crate::graphql::subscriptions::share::RenderCache>,
    /// Documents prepared plans may answer.
    plans: Arc<crate::graphql::plan::Plans>,
    /// Parsed documents by text (`graphql::documents`).
    documents: Arc<Documents>,
}

/// An executed operation: the executor's response, or the JSON text of the
/// `data` a prepared plan wrote (it has no errors, by construction).
pub enum Answer {
    General(Response),
    Plan(Vec<u8>),
}

/// An operation that passed the checks made before execution.
pub struct Admitted {
    /// The request, without its parsed document: [`Admitted::into_request`]
    /// attaches it.
    pub request: Request,
    /// The selected operation's type; `None` when the document does not
    /// select exactly one (validation then refuses it).
    pub operation: Option<OperationType>,
    heavy: bool,
    parsed: Arc<Parsed>,
}

impl Admitted {
    /// The request with its parsed document, for the executor.
    pub fn into_request(self) -> Request {
        let mut request = self.request;
        request.set_parsed_query(self.parsed.document.clone());
        request
    }
}

/// Why an operation was refused before execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A limit: `LIMIT_EXCEEDED`.
    Limit(String),
    /// A document that does not parse: `BAD_USER_INPUT`.
    BadInput(String),
    /// A persisted operation that does not resolve (`graphql::persisted`).
    Persisted(PersistedError),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Limit(_) => "LIMIT_EXCEEDED",
            Refusal::BadInput(_) => "BAD_USER_INPUT",
            Refusal::Persisted(e) => e.code(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Refusal::Limit(m) | Refusal::BadInput(m) => m,
            Refusal::Persisted(e) => e.message(),
        }
    }

    /// The GraphQL error, with its code (and `field` for bad input).
    pub fn into_error(self) -> ServerError {
        let mut error = ServerError::new(self.message(), None);
        let ext = error.extensions.get_or_insert_with(Default::default);
        ext.set("code", self.code());
        if let Refusal::Persisted(e) = &self
            && let Some(field) = e.field()
        {
            ext.set("field", field);
        }
        error
    }
}

/// How long to wait before the subject may send more operations.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl Executor {
    pub fn new(schema: AppSchema, state: AppState) -> Self {
        let config = &state.config;
        let heavy = Arc::new(Semaphore::new(config.max_heavy_queries.max(1)));
        let rate = NonZeroU32::new(config.rate_limit).map(|per_second| {
            let burst = NonZeroU32::new(config.rate_burst).unwrap_or(per_second);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        });
        Executor {
            schema,
            state,
            heavy,
            rate,
            renderings: Default::default(),
            plans: Default::default(),
            documents: Default::default(),
        }
    }

    /// The heavy-query semaphore, shared with the CSV exports of KPIs
    /// (`exports::http`), which wait for a permit like a `funnel` query.
    pub fn heavy_queries(&self) -> Arc<Semaphore> {
        self.heavy.clone()
    }

    /// Take `operations` tokens from the subject's bucket, when rate
    /// limiting is on.
    pub fn rate_check(&self, subject: &str, operations: usize) -> Result<(), RateLimited> {
        let Some(limiter) = &self.rate else {
            return Ok(());
        };
        // Buckets of subjects idle long enough to be full again are dropped.
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
        let n = NonZeroU32::new(u32::try_from(operations).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        let burst = Duration::from_secs(1);
        match limiter.check_key_n(&subject.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
            // More operations at once than the burst allows: never possible.
            Err(_) => Err(RateLimited { retry_after: burst }),
        }
    }

    /// The document a client's operation names — its `query`, or the
    /// persisted operation of `extensions.persistedQuery` — through the
    /// checks of [`Executor::admit`]; an automatic persisted query is
    /// registered only once its document has passed them.
    pub fn admit_operation(
        &self,
        query: Option<String>,
        extensions: Option<&serde_json::Value>,
        variables: Option<serde_json::Value>,
        operation_name: Option<String>,
    ) -> Result<Admitted, Refusal> {
        let persisted = &self.state.persisted;
        let resolved = persisted
            .resolve(query, extensions)
            .map_err(Refusal::Persisted)?;
        let admitted = self.admit(resolved.query, variables, operation_name)?;
        persisted.register(resolved.registration, &admitted.request.query);
        Ok(admitted)
    }

    /// The checks made before execution: nesting, parsing, field count.
    /// A document this instance parsed before is not parsed again
    /// (`graphql::documents`); the checks of its cost apply all the same.
    pub fn admit(
        &self,
        query: String,
        variables: Option<serde_json::Value>,
        operation_name: Option<String>,
    ) -> Result<Admitted, Refusal> {
        let (parsed, fresh) = match self.documents.get(&query, operation_name.as_deref()) {
            Some(parsed) => (parsed, false),
            None => {
                if nesting_exceeds(&query, MAX_NESTING) {
                    return Err(Refusal::Limit(format!(
                        "the document nests brackets more than {MAX_NESTING} levels deep"
                    )));
                }
                let document = async_graphql::parser::parse_query(&query)
                    .map_err(|err| Refusal::BadInput(ServerError::from(err).message))?;
                let operation = operation_type(&document, operation_name.as_deref());
                let cost = cost(&document, operation_name.as_deref());
                let parsed =
                    Parsed::new(&query, operation_name.as_deref(), document, operation, cost);
                (Arc::new(parsed), true)
            }
        };
        let max = self.state.config.max_complexity;
        let cost = parsed.cost;
        let total = cost.total();
        if total > max {
            return Err(Refusal::Limit(format!(
                "the query costs {total} ({} fields with fragments expanded, {} aggregate fields at {AGGREGATE_COST} each); at most {max} is allowed",
                cost.fields, cost.aggregates
            )));
        }
        if fresh {
            self.documents.insert(parsed.clone());
        }
        let mut request = Request::new(query);
        if let Some(vars) = variables {
            request = request.variables(Variables::from_json(vars));
        }
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        Ok(Admitted {
            request,
            operation: parsed.operation,
            heavy: cost.aggregates > 0,
            parsed,
        })
    }

    /// Run a query or mutation: at most `LEADGRAPH_REQUEST_TIMEOUT`, heavy
    /// ones a few at a time, a panic answered as an internal error. Every
    /// error of the response has its code.
    pub async fn execute(&self, viewer: &Viewer, admitted: Admitted, request_id: &str) -> Response {
        let span = tracing::info_span!("graphql", request_id, subject = %viewer.subject);
        let started = Instant::now();
        let timeout = self.state.config.request_timeout;
        let mutation = admitted.operation == Some(OperationType::Mutation);
        let heavy = admitted.heavy;
        let request = admitted
            .into_request()
            .data(viewer.clone())
            .data(Loaders::new(&self.state, viewer));
        let run = async {
            // The semaphore is never closed, so a permit always comes.
            let _permit = if heavy {
                self.heavy.clone().acquire_owned().await.ok()
            } else {
                None
            };
            self.schema.execute(request).await
        };
        let mut response = match guarded(timeout, run).instrument(span).await {
            Ok(response) => response,
            Err(Stopped::Panicked(message)) => {
                tracing::error!(request_id, panic = message, "an operation panicked");
                internal_error()
            }
            Err(Stopped::TimedOut) => Response::from_errors(vec![
                Refusal::Limit(format!(
                    "the operation took longer than {} and was stopped",
                    humantime::format_duration(timeout)
                ))
                .into_error(),
            ]),
        };
        if mutation {
            // Its events are committed (or nothing is): this instance's
            // subscribers get them now rather than at the next poll; other
            // instances hear the NOTIFY.
            self.state.events.wake();
        }
        for error in &mut response.errors {
            classify(error, request_id);
        }
        let outcome = if response.data == Value::Null && !response.errors.is_empty() {
            "rejected"
        } else if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        metrics::counter!("leadgraph_graphql_requests_total", "outcome" => outcome).increment(1);
        metrics::histogram!("leadgraph_graphql_request_seconds")
            .record(started.elapsed().as_secs_f64());
        response
    }

    /// Run an operation for HTTP: a prepared plan answers when it may
    /// (`graphql::plan`), the executor otherwise.
    pub async fn execute_planned(
        &self,
        viewer: &Viewer,
        admitted: Admitted,
        request_id: &str,
    ) -> Answer {
        let candidate = match admitted.operation {
            Some(OperationType::Query) if self.state.config.prepared_plans => {
                let request = &admitted.request;
                self.plans.candidate(
                    viewer,
                    &admitted.parsed.document,
                    &request.query,
                    request.operation_name.as_deref(),
                    &request.variables,
                )
            }
            _ => None,
        };
        if let Some(candidate) = &candidate
            && self.plans.validated(candidate)
        {
            let started = Instant::now();
            let loaders = Loaders::new(&self.state, viewer);
            let run =
                crate::graphql::plan::run::run(&candidate.plan, viewer, &self.state, &loaders);
            let span =
                tracing::info_span!("graphql", request_id, subject = %viewer.subject, plan = true);
            match guarded(self.state.config.request_timeout, run)
                .instrument(span)
                .await
            {
                Ok(Ok(data)) => {
                    metrics::counter!("leadgraph_graphql_requests_total", "outcome" => "ok")
                        .increment(1);
                    metrics::counter!("leadgraph_graphql_plans_total", "result" => "answered")
                        .increment(1);
                    metrics::histogram!("leadgraph_graphql_request_seconds")
                        .record(started.elapsed().as_secs_f64());
                    return Answer::Plan(data);
                }
                // The executor answers, with its own errors and limits.
                _ => {
                    metrics::counter!("leadgraph_graphql_plans_total", "result" => "gave_up")
                        .increment(1);
                }
            }
        }
        let response = self.execute(viewer, admitted, request_id).await;
        if let Some(candidate) = &candidate
            && response.errors.is_empty()
        {
            self.plans.remember(candidate);
        }
        Answer::General(response)
    }

    /// The largest response body allowed, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.state.config.max_response_bytes
    }
}

/// Why an operation did not finish.
#[derive(Debug, PartialEq, Eq)]
enum Stopped {
    Panicked(String),
    TimedOut,
}

/// Run `operation` for at most `timeout`, catching a panic: the task, the
/// connection and the other operations of a batch or socket go on.
async fn guarded<T>(
    timeout: Duration,
    operation: impl std::future::Future<Output = T>,
) -> Result<T, Stopped> {
    match tokio::time::timeout(timeout, AssertUnwindSafe(operation).catch_unwind()).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(Stopped::Panicked(panic_message(&panic).to_owned())),
        Err(_) => Err(Stopped::TimedOut),
    }
}

/// A response that stands for a panic: masked, with its code.
pub fn internal_error() -> Response {
    let mut error = ServerError::new("internal error", None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "INTERNAL_SERVER_ERROR");
    Response::from_errors(vec![error])
}

/// The text of a panic payload, for the log.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// The errors of a response too large to send.
pub fn response_too_large(max: usize) -> ServerError {
    Refusal::Limit(format!(
        "the response exceeds {max} bytes; select fewer fields or smaller pages"
    ))
    .into_error()
}

/// Give every error a code (docs/errors.md): ours carry one already; those of
/// async-graphql are its limits (known by their exact messages) or bad
/// input. Internal errors are masked and carry the request id.
pub fn classify(error: &mut ServerError, request_id: &str) {
    let limit = is_limit_message(&error.message);
    let ext = error.extensions.get_or_insert_with(Default::default);
    match ext.get("code") {
        Some(Value::String(code)) if code == "INTERNAL_SERVER_ERROR" => {
            if ext.get("requestId").is_some() {
                return;
            }
            // The interrupted-stream error says how to resume and holds no
            // internals; any other internal error is masked.
            if ext.get("resumeAfter").is_none() {
                error.message = format!("internal error (request id {request_id})");
            }
            ext.set("requestId", request_id);
        }
        Some(_) => {}
        None if limit => ext.set("code", "LIMIT_EXCEEDED"),
        None => {
            ext.set("code", "BAD_USER_INPUT");
            if let Some(field) = argument_of(&error.message) {
                ext.set("field", field);
            }
        }
    }
}

/// The argument path an async-graphql input error names
/// (`Invalid value for argument "input.startsOn", …`), for `extensions.field`.
fn argument_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    let (path, _) = rest.split_once('"')?;
    (!path.is_empty()).then(|| path.to_owned())
}

/// The messages of async-graphql's limits (async-graphql 7.2,
/// `validation/mod.rs` and `schema.rs`); every other error it makes is a
/// problem of the document or its variables.
fn is_limit_message(message: &str) -> bool {
    message == "Query is too complex."
        || message == "Query is nested too deep."
        || message.starts_with("The number of directives on the field")
        || message.starts_with("The recursion depth of the query cannot be greater than")
}

/// Whether `source` nests `()`, `[]` or `{}` deeper than `limit`, outside
/// strings, block strings and comments. Linear, no allocation: it runs
/// before the parser, on untrusted text.
pub fn nesting_exceeds(source: &str, limit: usize) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // A block string: only `\"""` escapes.
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                // A string ends at its closing quote, or (invalid) at a line end.
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// The type of the operation the request selects; `None` when the document
/// and `operationName` do not select exactly one.
pub fn operation_type(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    selected_operations(document, operation_name)
        .and_then(|mut ops| ops.next())
        .map(|set| set.0)
}

/// The operation the request selects, or every operation when it selects
/// none in particular (counted all: the stricter reading).
fn selected_operations<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<impl Iterator<Item = (OperationType, &'a SelectionSet)>> {
    let one = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    };
    one.map(|op| std::iter::once((op.ty, &op.selection_set.node)))
}

/// Every operation's selection set, for counting.
fn counted_sets<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Vec<&'a SelectionSet> {
    match selected_operations(document, operation_name) {
        Some(ops) => ops.map(|(_, set)| set).collect(),
        None => document
            .operations
            .iter()
            .map(|(_, op)| &op.node.selection_set.node)
            .collect(),
    }
}

/// What an operation selects, fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Field selections, `__typename` and aliases included.
    pub fields: usize,
    /// Selections of [`AGGREGATE_FIELDS`].
    pub aggregates: usize,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            fields: self.fields.saturating_add(other.fields),
            aggregates: self.aggregates.saturating_add(other.aggregates),
        }
    }

    /// The figure compared with `LEADGRAPH_MAX_COMPLEXITY`.
    pub fn total(self) -> usize {
        self.fields
            .saturating_add(self.aggregates.saturating_mul(AGGREGATE_COST))
    }
}

/// Walks selection sets with fragment spreads expanded; each fragment is
/// counted once and remembered, so a document of fragments that spread each
/// other many times is counted in linear time (the totals saturate).
struct Expander<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    costs: HashMap<&'a str, Cost>,
    visiting: HashSet<&'a str>,
}

impl<'a> Expander<'a> {
    fn new(document: &'a ExecutableDocument) -> Self {
        Expander {
            fragments: &document.fragments,
            costs: HashMap::new(),
            visiting: HashSet::new(),
        }
    }

    fn cost(&mut self, set: &'a SelectionSet) -> Cost {
        set.items.iter().fold(Cost::default(), |total, item| {
            let cost = match &item.node {
                Selection::Field(f) => {
                    let aggregate = AGGREGATE_FIELDS.contains(&f.node.name.node.as_str());
                    let own = Cost {
                        fields: 1,
                        aggregates: usize::from(aggregate),
                    };
                    own.add(self.cost(&f.node.selection_set.node))
                }
                Selection::InlineFragment(f) => self.cost(&f.node.selection_set.node),
                Selection::FragmentSpread(s) => self.fragment(s.node.fragment_name.node.as_str()),
            };
            total.add(cost)
        })
    }

    fn fragment(&mut self, name: &'a str) -> Cost {
        if let Some(cost) = self.costs.get(name) {
            return *cost;
        }
        // A cycle fails validation; it adds nothing here.
        if !self.visiting.insert(name) {
            return Cost::default();
        }
        let cost = match self.fragments.get(name) {
            Some(f) => self.cost(&f.node.selection_set.node),
            None => Cost::default(),
        };
        self.visiting.remove(name);
        self.costs.insert(name, cost);
        cost
    }
}

/// What the selected operation (or, when none is selected, every operation)
/// selects, with fragments expanded.
pub fn cost(document: &ExecutableDocument, operation_name: Option<&str>) -> Cost {
    let mut expander = Expander::new(document);
    counted_sets(document, operation_name)
        .into_iter()
        .fold(Cost::default(), |total, set| total.add(expander.cost(set)))
}

/// Every field selection the operation makes with fragments expanded,
/// `__typename` and aliases included (async-graphql's complexity skips
/// `__typename`).
pub fn count_fields(document: &ExecutableDocument, operation_name: Option<&str>) -> usize {
    cost(document, operation_name).fields
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_comments() {
        assert!(!nesting_exceeds("{ a { b } }", 2));
        assert!(nesting_exceeds("{ a { b { c } } }", 2));
        assert!(!nesting_exceeds(r#"{ a(x: "[[[[[[") }"#, 3));
        assert!(!nesting_exceeds(r#"{ a(x: "\"[[[[[[") }"#, 3));
        assert!(!nesting_exceeds(
            "{ a(x: \"\"\"[[[[\\\"\"\"[[[[\"\"\") }",
            3
        ));
        assert!(!nesting_exceeds("# [[[[[[[[\n{ a }", 2));
        assert!(nesting_exceeds("\"unterminated\n[[[[", 3));
        let deep = format!(
            "{{ __typename @include(if: {}true{}) }}",
            "[".repeat(1500),
            "]".repeat(1500)
        );
        assert!(nesting_exceeds(&deep, MAX_NESTING));
        let object = format!("{{ a(x: {}1{}) }}", "{a:".repeat(1500), "}".repeat(1500));
        assert!(nesting_exceeds(&object, MAX_NESTING));
    }

    #[test]
    fn fields_are_counted_with_fragments_expanded() {
        let d = doc("{ a b ...F } fragment F on Query { c d __typename }");
        assert_eq!(count_fields(&d, None), 5);
        let d = doc("{ x: a ...F ...F } fragment F on Query { b { c } }");
        assert_eq!(count_fields(&d, None), 5);
        // Fragments that spread each other double at each level.
        let mut q = String::from("{ ...F0 }");
        for i in 0..40 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F40 on Query { __typename }");
        assert_eq!(count_fields(&doc(&q), None), 1 << 40);
        let d = doc("query A { a } query B { b c }");
        assert_eq!(count_fields(&d, Some("B")), 2);
        assert_eq!(count_fields(&d, None), 3);
        let d = doc("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A x }");
        assert_eq!(count_fields(&d, None), 1);
    }

    #[test]
    fn aggregate_fields_are_found_behind_fragments_and_aliases() {
        let aggregates = |q: &str| cost(&doc(q), None).aggregates;
        assert_eq!(
            aggregates("{ funnel(period: {from: 1, to: 2}) { from } }"),
            1
        );
        assert_eq!(
            aggregates(
                "{ ...F ...F } fragment F on Query { a: leads { totalCount } b: funnel { from } }"
            ),
            4
        );
        assert_eq!(aggregates("{ leads { edges { node { id } } } }"), 0);
        let aliased: String = (0..200)
            .map(|i| format!(" f{i}: funnel {{ from }}"))
            .collect();
        let c = cost(&doc(&format!("{{{aliased} }}")), None);
        assert_eq!(c.aggregates, 200);
        assert_eq!(c.total(), 200 * 2 + 200 * AGGREGATE_COST);
    }

    #[test]
    fn limits_are_recognised_by_their_exact_messages() {
        assert!(is_limit_message("Query is too complex."));
        assert!(is_limit_message("Query is nested too deep."));
        assert!(!is_limit_message(
            "Invalid value for argument \"amount\", too many digits"
        ));
        let mut error = ServerError::new("Failed to parse \"Decimal\": too many digits", None);
        classify(&mut error, "r");
        let mut date = ServerError::new(
            "Invalid value for argument \"input.startsOn\", expected type \"Date\"",
            None,
        );
        classify(&mut date, "r");
        assert_eq!(
            date.extensions.unwrap().get("field"),
            Some(&Value::from("input.startsOn"))
        );
        assert_eq!(
            error.extensions.unwrap().get("code"),
            Some(&Value::from("BAD_USER_INPUT"))
        );
    }

    #[tokio::test]
    async fn a_panic_or_a_timeout_stops_only_the_operation() {
        let second = Duration::from_secs(1);
        assert_eq!(guarded(second, async { 7 }).await, Ok(7));
        let panicked = guarded(second, async { panic!("overflow in a resolver") }).await;
        assert_eq!(
            panicked,
            Err::<(), _>(Stopped::Panicked("overflow in a resolver".into()))
        );
        let slow = guarded(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert_eq!(slow, Err(Stopped::TimedOut));
        // The masked response a client gets for a panic.
        let mut response = internal_error();
        classify(&mut response.errors[0], "req-1");
        let ext = response.errors[0].extensions.clone().unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("INTERNAL_SERVER_ERROR")));
        assert_eq!(ext.get("requestId"), Some(&Value::from("req-1")));
        assert_eq!(
            response.errors[0].message,
            "internal error (request id req-1)"
        );
    }

    proptest! {
        /// The scan never panics on any mix of brackets, quotes and comments.
        #[test]
        fn nesting_scan_is_total(s in "[\\[\\]{}()\"#\\\\a \n]{0,200}") {
            let _ = nesting_exceeds(&s, 4);
        }

        /// Counting agrees with a naive expansion on small documents.
        #[test]
        fn count_matches_naive_expansion(spreads in proptest::collection::vec(0usize..3, 1..6)) {
            // F_i has one field and spreads F_{i+1} `spreads[i]` times.
            let n = spreads.len();
            let mut q = String::from("{ ...F0 }");
            for (i, k) in spreads.iter().enumerate() {
                let next = if i + 1 < n { format!("...F{} ", i + 1).repeat(*k) } else { String::new() };
                q.push_str(&format!(" fragment F{i} on Query {{ a {next}}}"));
            }
            let mut naive = 0usize;
            let mut copies = 1usize;
            for k in &spreads {
                naive += copies;
                copies *= k;
            }
            prop_assert_eq!(count_fields(&doc(&q), None), naive);
        }
    }
}
