//! Prepared plans (`graphql::plan`) answer exactly as the executor does: a
//! generated corpus of documents (fields, aliases, fragments, `@skip` and
//! `@include`, variables, errors) sent as every role to an instance with
//! plans and to one without, on the same seeded database.

use crate::helpers::{TestApp, fresh_database};
use leadgraph::auth::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Plain fields of `Lead`, each a leaf.
const LEAD_LEAVES: [&str; 22] = [
    "id",
    "email",
    "firstName",
    "lastName",
    "company",
    "jobTitle",
    "industry",
    "companySize",
    "country",
    "phone",
    "stage",
    "score",
    "fitScore",
    "engagementScore",
    "icpFit",
    "sourceChannel",
    "disqualificationReason",
    "createdAt",
    "updatedAt",
    "stageChangedAt",
    "version",
    "__typename",
];

struct Gen {
    rng: StdRng,
    fragments: Vec<String>,
    /// Variables the document uses, with their types.
    used: Vec<(&'static str, &'static str)>,
    lead_ids: Vec<String>,
    cursor: String,
    alias: usize,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn var(&mut self, name: &'static str, ty: &'static str) -> String {
        if !self.used.iter().any(|(n, _)| *n == name) {
            self.used.push((name, ty));
        }
        format!("${name}")
    }

    /// A field, maybe aliased, maybe under a directive.
    fn field(&mut self, name: &str, rest: &str) -> String {
        let mut out = String::new();
        if self.chance(0.15) {
            self.alias += 1;
            out.push_str(&format!("a{}: ", self.alias));
        }
        out.push_str(name);
        out.push_str(rest);
        if self.chance(0.1) {
            let directive = match self.rng.random_range(0..4) {
                0 => " @skip(if: true)".to_owned(),
                1 => " @include(if: false)".to_owned(),
                2 => format!(" @include(if: {})", self.var("yes", "Boolean!")),
                _ => format!(" @skip(if: {})", self.var("no", "Boolean!")),
            };
            out.push_str(&directive);
        }
        out
    }

    /// Some of `leaves` (at least one), in random order.
    fn leaves(&mut self, leaves: &[&str]) -> String {
        let n = self.rng.random_range(1..=leaves.len().min(5));
        (0..n)
            .map(|_| {
                let name = self.pick(leaves).to_owned();
                self.field(&name, "")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn lead(&mut self) -> String {
        let mut parts = Vec::new();
        for _ in 0..self.rng.random_range(1..6) {
            let part = match self.rng.random_range(0..14) {
                0..=4 => self.leaves(&LEAD_LEAVES),
                5 => {
                    let f = self.leaves(&["name", "id", "email", "subject", "role", "__typename"]);
                    self.field("owner", &format!(" {{ {f} }}"))
                }
                6 => {
                    let mut f = self.leaves(&["name", "id", "__typename"]);
                    if self.chance(0.2) {
                        f.push_str(" description");
                    }
                    self.field("persona", &format!(" {{ {f} }}"))
                }
                7 => {
                    let mut f = self.leaves(&["name", "id"]);
                    if self.chance(0.2) {
                        f.push_str(" channel");
                    }
                    self.field("sourceCampaign", &format!(" {{ {f} }}"))
                }
                8 => {
                    let f = self.leaves(&["budget", "need", "authority", "timeline", "notes"]);
                    self.field("qualification", &format!(" {{ {f} }}"))
                }
                9 => {
                    let f = self.leaves(&["amount", "currency", "__typename"]);
                    self.field("dealAmount", &format!(" {{ {f} }}"))
                }
                10 => {
                    let f = self.leaves(&["from", "to", "at", "actor", "reason"]);
                    self.field("stageHistory", &format!(" {{ {f} }}"))
                }
                11 => {
                    let rule = self.leaves(&["name", "id"]);
                    let f = if self.chance(0.7) {
                        format!("points rule {{ {rule} }}")
                    } else {
                        "points".to_owned()
                    };
                    self.field("scoreBreakdown", &format!(" {{ {f} }}"))
                }
                12 => self.interactions(),
                _ => {
                    // A fragment: inline (with or without a type condition)
                    // or named.
                    let inner = self.leaves(&LEAD_LEAVES);
                    match self.rng.random_range(0..4) {
                        0 => format!("... {{ {inner} }}"),
                        1 => format!("... on Lead {{ {inner} }}"),
                        2 => "... on Node { id }".to_owned(),
                        _ => {
                            let name = format!("F{}", self.fragments.len());
                            self.fragments
                                .push(format!("fragment {name} on Lead {{ {inner} }}"));
                            format!("...{name}")
                        }
                    }
                }
            };
            parts.push(part);
        }
        parts.join(" ")
    }

    fn interactions(&mut self) -> String {
        let node = self.leaves(&[
            "id",
            "kind",
            "occurredAt",
            "channel",
            "externalId",
            "metadata",
            "__typename",
        ]);
        let first = match self.rng.random_range(0..4) {
            0 => String::new(),
            1 => "(first: 3)".to_owned(),
            2 => "(first: 0, kinds: [PAGE_VISIT, EMAIL_OPEN])".to_owned(),
            _ => "(first: 5)".to_owned(),
        };
        let mut conn = format!("edges {{ cursor node {{ {node} }} }}");
        if self.chance(0.3) {
            conn.push_str(" pageInfo { hasNextPage endCursor startCursor hasPreviousPage }");
        }
        if self.chance(0.1) {
            conn.push_str(" totalCount");
        }
        self.field("interactions", &format!("{first} {{ {conn} }}"))
    }

    fn leads(&mut self) -> String {
        let mut args = Vec::new();
        match self.rng.random_range(0..4) {
            0 => {}
            1 => args.push("first: 7".to_owned()),
            2 => args.push(format!("first: {}", self.var("first", "Int"))),
            _ => args.push("first: 50".to_owned()),
        }
        match self.rng.random_range(0..6) {
            0 => args.push("filter: {stages: [SQL]}".to_owned()),
            1 => args.push(format!(
                "filter: {{stages: {}}}",
                self.var("stages", "[LeadStage!]")
            )),
            2 => args.push("filter: {scoreMin: 10, channels: [EMAIL, WEBINAR]}".to_owned()),
            3 => args.push("filter: {unassigned: true}".to_owned()),
            _ => {}
        }
        match self.rng.random_range(0..4) {
            0 => args.push("orderBy: {field: SCORE, direction: DESC}".to_owned()),
            1 => args.push("orderBy: {field: CREATED_AT, direction: ASC}".to_owned()),
            _ => {}
        }
        if self.chance(0.2) {
            args.push(format!("after: {}", self.var("after", "String")));
        }
        if self.chance(0.03) {
            args.push("first: 500".to_owned());
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let node = self.lead();
        let mut conn = format!("edges {{ node {{ {node} }} }}");
        if self.chance(0.3) {
            conn = format!("edges {{ cursor node {{ {node} }} __typename }}");
        }
        if self.chance(0.3) {
            conn.push_str(" pageInfo { hasNextPage endCursor }");
        }
        if self.chance(0.2) {
            conn.push_str(" __typename");
        }
        self.field("leads", &format!("{args} {{ {conn} }}"))
    }

    fn document(&mut self) -> (String, Value) {
        self.fragments.clear();
        self.used.clear();
        let mut roots = Vec::new();
        for _ in 0..self.rng.random_range(1..3) {
            roots.push(match self.rng.random_range(0..5) {
                0..=2 => self.leads(),
                3 => {
                    let id = self.var("id", "ID!");
                    let lead = self.lead();
                    self.field("lead", &format!("(id: {id}) {{ {lead} }}"))
                }
                _ => "__typename".to_owned(),
            });
        }
        if self.chance(0.03) {
            roots.push("nonsense".to_owned());
        }
        let mut variables = serde_json::Map::new();
        for (name, _) in self.used.clone() {
            let value = match name {
                "yes" => json!(true),
                "no" => json!(false),
                "first" => json!(self.rng.random_range(0..12)),
                "stages" => json!(["SQL", "MQL"]),
                "after" => {
                    if self.chance(0.8) {
                        json!(self.cursor)
                    } else {
                        json!("not-a-cursor")
                    }
                }
                _ => {
                    let i = self.rng.random_range(0..self.lead_ids.len() + 2);
                    match self.lead_ids.get(i) {
                        Some(id) => json!(id),
                        None if i == self.lead_ids.len() => json!("TGVhZDo5OTk5OTk5"),
                        None => json!("garbage"),
                    }
                }
            };
            variables.insert(name.to_owned(), value);
        }
        let declared: Vec<String> = self
            .used
            .iter()
            .map(|(name, ty)| format!("${name}: {ty}"))
            .collect();
        let head = if declared.is_empty() {
            "query Q".to_owned()
        } else {
            format!("query Q({})", declared.join(", "))
        };
        let doc = format!(
            "{head} {{ {} }} {}",
            roots.join(" "),
            self.fragments.join(" ")
        );
        (doc, Value::Object(variables))
    }
}

/// The errors of a body in a fixed order: the executor reports some
/// validation errors (unused variables) in hash order.
fn sorted_errors(mut body: Value) -> Value {
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e.to_string());
    }
    body
}

/// POST and return the status, the plans header and the JSON body.
async fn post(app: &TestApp, token: &str, query: &str, variables: &Value) -> (u16, bool, Value) {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let planned = response.headers().contains_key("x-leadgraph-plans");
    let body = response.json().await.expect("JSON body");
    (status, planned, sorted_errors(body))
}

/// A seeded database served twice: with prepared plans and without.
pub async fn two_instances() -> (TestApp, TestApp) {
    let (database_url, dir) = fresh_database().await;
    let mut config = leadgraph::config::Config::for_database(&database_url);
    config.db_pool = 5;
    let args = leadgraph::seed::SeedArgs {
        leads: 400,
        interactions_per_lead: 6,
        seed: 7,
        reset: false,
        until: "2026-11-01T00:00:00Z".parse().expect("time"),
    };
    leadgraph::seed::seed(&config, &args).await.expect("seed");
    let planned = TestApp::spawn_on(database_url.clone(), dir, |_| {}).await;
    let general = TestApp::spawn_on(database_url, None, |c| c.prepared_plans = false).await;
    (planned, general)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_answer_a_generated_corpus_exactly_as_the_executor_does() {
    let (planned, general) = two_instances().await;
    let tokens: Vec<(Role, String)> = vec![
        (
            Role::Admin,
            planned.token(Role::Admin, "admin-01@seed.leadgraph.test"),
        ),
        (
            Role::Marketing,
            planned.token(Role::Marketing, "marketing-01@seed.leadgraph.test"),
        ),
        (
            Role::Sales,
            planned.token(Role::Sales, "sales-01@seed.leadgraph.test"),
        ),
        (
            Role::Sales,
            planned.token(Role::Sales, "sales-02@seed.leadgraph.test"),
        ),
        (
            Role::Ingest,
            planned.token(Role::Ingest, "ingest@seed.leadgraph.test"),
        ),
    ];
    let admin = &tokens[0].1;
    let page = planned
        .ok(
            admin,
            "{ leads(first: 60) { edges { node { id } } pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let lead_ids: Vec<String> = page["leads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .step_by(6)
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    let cursor = page["leads"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let mut generator = Gen {
        rng: StdRng::seed_from_u64(12),
        fragments: Vec::new(),
        used: Vec::new(),
        lead_ids,
        cursor,
        alias: 0,
    };
    let cases = 250;
    let mut answered_by_plans = 0;
    let mut with_data = 0;
    for case in 0..cases {
        let (query, variables) = generator.document();
        let (role, token) = &tokens[case % tokens.len()];
        let expected = post(&general, token, &query, &variables).await;
        assert!(!expected.1, "plans are off on this instance");
        // The first use goes through the executor and validates the
        // document; the second may be answered by a plan.
        let first = post(&planned, token, &query, &variables).await;
        let second = post(&planned, token, &query, &variables).await;
        for (which, got) in [("first", &first), ("second", &second)] {
            assert_eq!(
                (got.0, &got.2),
                (expected.0, &expected.2),
                "{which} answer differs for {role:?}:\n{query}\n{variables}"
            );
        }
        assert!(!first.1 || second.1, "a plan answered before validation");
        answered_by_plans += usize::from(second.1);
        with_data += usize::from(expected.2.get("errors").is_none());
    }
    // The corpus exercises plans, and the executor for what they leave.
    println!("{answered_by_plans} of {cases} answered by plans, {with_data} without errors");
    assert!(
        answered_by_plans > cases / 4,
        "only {answered_by_plans} of {cases} answered by plans"
    );
    assert!(
        answered_by_plans < with_data,
        "every error-free answer came from a plan: the corpus leaves nothing to the executor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_queue_and_lead_detail_are_answered_by_plans_as_by_the_executor() {
    let (planned, general) = two_instances().await;
    let sales = planned.token(Role::Sales, "sales-01@seed.leadgraph.test");
    let queue = "query SalesQueue { leads(first: 50, filter: {stages: [SQL, MQL]}, \
        orderBy: {field: SCORE, direction: DESC}) { edges { node { id email company score \
        owner { name } interactions(first: 5) { edges { node { kind occurredAt metadata } } } \
        persona { name } sourceCampaign { name } } } } }";
    let (_, planned_first, executor_answer) = post(&planned, &sales, queue, &json!({})).await;
    let (_, planned_second, plan_answer) = post(&planned, &sales, queue, &json!({})).await;
    assert!(!planned_first && planned_second);
    assert_eq!(plan_answer, executor_answer);
    let leads = plan_answer["data"]["leads"]["edges"]
        .as_array()
        .expect("edges");
    assert!(leads.len() > 5, "the seeded rep has a queue");
    let id = leads[0]["node"]["id"].clone();
    let detail = "query LeadDetail($id: ID!) { lead(id: $id) { id email firstName lastName \
        company jobTitle industry companySize country phone stage score fitScore \
        engagementScore sourceChannel qualification { budget need authority timeline } \
        dealAmount { amount currency } disqualificationReason owner { name } \
        stageHistory { from to at actor reason } createdAt updatedAt stageChangedAt version \
        scoreBreakdown { points rule { name } } } }";
    let admin = planned.token(Role::Admin, "admin-01@seed.leadgraph.test");
    post(&planned, &admin, detail, &json!({"id": id})).await;
    // Another lead, same document: the id does not change validation.
    let other = leads[1]["node"]["id"].clone();
    let (_, by_plan, answer) = post(&planned, &admin, detail, &json!({"id": other})).await;
    assert!(by_plan);
    let (_, _, expected) = post(&general, &admin, detail, &json!({"id": other})).await;
    assert_eq!(answer, expected);
    assert!(answer["data"]["lead"]["stageHistory"][0]["from"].is_null());
    // Without plans, nothing is answered by one.
    let (_, by_plan, _) = post(&general, &sales, queue, &json!({})).await;
    assert!(!by_plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_never_answers_what_the_executor_refused_for_another_role_or_cost() {
    let (planned, _) = two_instances().await;
    let admin = planned.token(Role::Admin, "admin-01@seed.leadgraph.test");
    let ingest = planned.token(Role::Ingest, "ingest@seed.leadgraph.test");
    let query = "query Q($n: Int) { leads(first: $n) { edges { node { id email } } } }";
    for round in 0..2 {
        let (_, by_plan, answer) = post(&planned, &admin, query, &json!({"n": 5})).await;
        assert!(answer.get("errors").is_none(), "{answer}");
        assert_eq!(by_plan, round == 1);
    }
    // Validated for ADMIN, not for INGEST: the executor refuses it again.
    for _ in 0..2 {
        let (_, by_plan, answer) = post(&planned, &ingest, query, &json!({"n": 5})).await;
        assert!(!by_plan);
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    }
    // A page size that the executor refuses is not answered by the plan
    // validated with another.
    for _ in 0..2 {
        let (_, by_plan, answer) = post(&planned, &admin, query, &json!({"n": 500})).await;
        assert!(!by_plan);
        assert!(answer.get("errors").is_some(), "{answer}");
    }
}
