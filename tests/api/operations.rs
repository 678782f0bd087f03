//! The documented operations (docs/operations/*.graphql): each is one named
//! operation with a story and a role, the manifest is what
//! `leadgraph operations manifest` makes of them, and every one of them runs
//! without error and with data against the demo (`serve --demo`), over HTTP
//! or WebSocket, as the role its header names.

use crate::helpers::TestApp;
use crate::subscriptions::{Incoming, Ws};
use leadgraph::auth::Role;
use leadgraph::graphql::operations::{self, Operation};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(operations::DIR)
}

fn documented() -> Vec<Operation> {
    operations::load(&dir()).expect("docs/operations loads")
}

#[test]
fn the_manifest_matches_the_operation_files() {
    let path = dir().join("manifest.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = operations::manifest(&documented()).expect("manifest");
    assert!(
        checked_in == generated,
        "docs/operations/manifest.json is out of date; regenerate it with:\n    \
         cargo run -- operations manifest docs/operations > docs/operations/manifest.json"
    );
}

#[test]
fn each_file_tells_its_story_and_the_manifest_hashes_its_body() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json"),
    )
    .expect("JSON");
    assert_eq!(manifest["format"], "apollo-persisted-query-manifest");
    assert_eq!(manifest["version"], 1);
    for op in documented() {
        let text = std::fs::read_to_string(&op.file).expect("file");
        assert!(text.starts_with("# Story: "), "{}", op.file.display());
        assert!(
            text.ends_with(&op.body) && !op.body.contains("# Story"),
            "{}",
            op.file.display()
        );
        let entry = manifest["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .find(|e| e["name"] == op.name.as_str())
            .unwrap_or_else(|| panic!("{} not in the manifest", op.name));
        assert_eq!(entry["body"], op.body.as_str());
        assert_eq!(entry["type"], op.kind);
        assert_eq!(
            entry["id"],
            operations::sha256_hex(entry["body"].as_str().expect("body"))
        );
    }
}

/// The demo, its users' tokens, and the documented operations by name.
struct Demo {
    app: TestApp,
    tokens: HashMap<&'static str, String>,
    ops: HashMap<String, Operation>,
    ran: BTreeSet<String>,
}

impl Demo {
    async fn load() -> Demo {
        let app = TestApp::spawn().await;
        let demo = leadgraph::demo::load(&app.state.db, leadgraph::demo::today())
            .await
            .expect("demo loads");
        let mut tokens = HashMap::new();
        for user in &demo.users {
            let key = match (user.role.as_str(), tokens.contains_key("SALES")) {
                ("SALES", true) => "SALES_2",
                ("ADMIN", _) => "ADMIN",
                ("MARKETING", _) => "MARKETING",
                ("SALES", false) => "SALES",
                _ => "INGEST",
            };
            let token = leadgraph::demo::token(&app.state.keys, user).expect("token");
            tokens.insert(key, token);
        }
        let ops = documented()
            .into_iter()
            .map(|o| (o.name.clone(), o))
            .collect();
        Demo {
            app,
            tokens,
            ops,
            ran: BTreeSet::new(),
        }
    }

    fn op(&mut self, name: &str) -> Operation {
        self.ran.insert(name.to_owned());
        self.ops
            .get(name)
            .unwrap_or_else(|| panic!("no documented operation {name}"))
            .clone()
    }

    fn token_of(&self, role: Role) -> &str {
        &self.tokens[role.code()]
    }

    /// Run a documented query or mutation over HTTP as the role its header
    /// names, sending its body exactly; its `data`, failing on any error.
    async fn run(&mut self, name: &str, variables: Value) -> Value {
        let op = self.op(name);
        let response = self
            .app
            .client
            .post(&self.app.url)
            .bearer_auth(self.token_of(op.role))
            .json(&json!({"query": op.body, "operationName": op.name, "variables": variables}))
            .send()
            .await
            .expect("request");
        let body: Value = response.json().await.expect("JSON");
        assert!(body.get("errors").is_none(), "{name}: {body:#}");
        body["data"].clone()
    }

    /// Open a WebSocket as the role of the documented subscription `name`
    /// and start it.
    async fn subscribe(&mut self, name: &str, variables: Value) -> Ws {
        let op = self.op(name);
        let mut ws = Ws::connect(&self.app, self.token_of(op.role)).await;
        ws.subscribe("1", &op.body, variables).await;
        ws
    }
}

/// The next event's data on subscription "1", failing on errors.
async fn next_event(ws: &mut Ws) -> Value {
    match ws.recv().await {
        Incoming::Json(m) if m["type"] == "next" && m["id"] == "1" => {
            assert!(m["payload"].get("errors").is_none(), "{m}");
            m["payload"]["data"].clone()
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn amount(money: &Value) -> f64 {
    money["amount"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn every_documented_operation_runs_against_the_demo_as_its_role() {
    let mut demo = Demo::load().await;

    // The sales queue: SQLs by score, a second page, and the MQLs to qualify.
    let queue = demo.run("SalesQueue", json!({"first": 5})).await;
    let sqls = nodes(&queue["leads"]);
    assert_eq!(sqls.len(), 5, "{queue:#}");
    assert!(sqls.iter().all(|l| l["stage"] == "SQL"), "{queue:#}");
    let scores: Vec<i64> = sqls.iter().map(|l| l["score"].as_i64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(sqls.iter().any(|l| !l["owner"].is_null()), "{queue:#}");
    assert!(sqls.iter().any(|l| !l["persona"].is_null()), "{queue:#}");
    assert!(
        sqls.iter()
            .all(|l| l["interactions"]["totalCount"].as_i64() > Some(0)),
        "{queue:#}"
    );
    let after = queue["leads"]["pageInfo"]["endCursor"].clone();
    let page2 = demo
        .run("SalesQueue", json!({"first": 5, "after": after}))
        .await;
    let second = nodes(&page2["leads"]);
    assert!(!second.is_empty() && second[0]["id"] != sqls[0]["id"]);
    let mqls = demo
        .run(
            "SalesQueue",
            json!({"stages": ["MQL"], "unassigned": true, "first": 2}),
        )
        .await;
    let mqls = nodes(&mqls["leads"]);
    assert_eq!(mqls.len(), 2, "unassigned MQLs to qualify");

    // A lead from the queue, in detail.
    let detail = demo.run("LeadDetail", json!({"id": sqls[0]["id"]})).await;
    let lead = &detail["lead"];
    assert_eq!(lead["id"], sqls[0]["id"]);
    assert!(
        lead["stageHistory"].as_array().unwrap().len() >= 3,
        "{lead:#}"
    );
    assert!(!nodes(&lead["interactions"]).is_empty(), "{lead:#}");
    assert_eq!(lead["qualification"]["budget"], true);
    let breakdown: i64 = lead["scoreBreakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["points"].as_i64().unwrap())
        .sum();
    assert_eq!(Some(breakdown), lead["score"].as_i64());

    // Live SQLs: qualifying an MQL reaches the subscriber.
    let mut live = demo.subscribe("NewSqls", json!({})).await;
    let bant = json!({"budget": true, "need": true, "authority": true, "timeline": "this quarter"});
    let qualified = demo
        .run("QualifyLead", json!({"id": mqls[0]["id"], "input": bant}))
        .await;
    assert_eq!(qualified["qualifyLead"]["stage"], "SQL");
    let event = next_event(&mut live).await;
    assert_eq!(event["leadQualified"]["lead"]["id"], mqls[0]["id"]);
    assert_eq!(event["leadQualified"]["to"], "SQL");
    let cursor = event["leadQualified"]["cursor"].clone();
    drop(live);

    // While disconnected: a call is logged, and another lead qualifies.
    let call = demo
        .run(
            "RecordInteraction",
            json!({"input": {"leadId": mqls[0]["id"], "kind": "CALL", "externalId": "call-1",
                             "metadata": {"outcome": "demo booked"}}}),
        )
        .await;
    assert_eq!(call["recordInteraction"]["lead"]["id"], mqls[0]["id"]);
    assert_eq!(call["recordInteraction"]["kind"], "CALL");
    demo.run("QualifyLead", json!({"id": mqls[1]["id"], "input": bant}))
        .await;

    // Resuming after the last cursor replays what was missed.
    let mut resumed = demo
        .subscribe("ResumeStageChanges", json!({"after": cursor}))
        .await;
    let missed = next_event(&mut resumed).await;
    assert_eq!(missed["leadStageChanged"]["lead"]["id"], mqls[1]["id"]);
    assert_eq!(missed["leadStageChanged"]["to"], "SQL");
    drop(resumed);

    // A web form, sent by the ingestion client.
    let form = demo
        .run(
            "CaptureWebForm",
            json!({"input": {"lead": {"email": "new.visitor@example.com", "company": "Example GmbH",
                                      "country": "DE", "sourceChannel": "PAID_SEARCH"},
                             "externalId": "form-1", "metadata": {"form": "trial"}}}),
        )
        .await;
    assert_eq!(form["captureLead"]["created"], true);
    assert!(form["captureLead"]["leadId"].as_str().is_some());

    // Marketing tunes a rule and applies it.
    let rules = demo
        .app
        .ok(
            demo.token_of(Role::Marketing),
            "{ scoringRules { id name } }",
            json!({}),
        )
        .await;
    let rule = rules["scoringRules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Demo request")
        .expect("the demo's rule")
        .clone();
    let tuned = demo
        .run(
            "TuneScoringRule",
            json!({"id": rule["id"], "input": {"name": "Demo request", "kind": "ENGAGEMENT",
                   "points": 30, "interactionKind": "DEMO_REQUEST", "decayHalfLifeDays": 60,
                   "maxPointsPerLead": 60}}),
        )
        .await;
    assert_eq!(tuned["updateScoringRule"]["points"], 30);
    assert_eq!(
        tuned["rescoreLeads"]["leadsRescored"],
        leadgraph::demo::LEADS + 1
    );

    // The KPI dashboard over the demo's year.
    let now = chrono::Utc::now();
    let period =
        json!({"from": (now - chrono::Duration::days(366)).to_rfc3339(), "to": now.to_rfc3339()});
    let kpis = demo
        .run("MarketingDashboard", json!({"period": period}))
        .await;
    let groups = kpis["funnel"]["groups"].as_array().unwrap();
    assert!(groups.len() > 3, "{kpis:#}");
    let reached = |stage: &str| -> i64 {
        groups
            .iter()
            .flat_map(|g| g["stages"].as_array().unwrap())
            .filter(|s| s["stage"] == stage)
            .map(|s| s["reached"].as_i64().unwrap())
            .sum()
    };
    assert!(reached("CUSTOMER") > 0 && reached("SQL") > reached("CUSTOMER"));
    let costs = kpis["costPerLead"].as_array().unwrap();
    assert!(costs.iter().any(|r| amount(&r["spend"]) > 0.0), "{kpis:#}");
    assert!(
        costs.iter().any(|r| amount(&r["revenue"]) > 0.0),
        "{kpis:#}"
    );
    assert!(costs.iter().any(|r| r["roi"].is_f64()), "{kpis:#}");
    assert!(kpis["leadRelevance"]["newLeads"].as_i64() > Some(0));
    assert!(kpis["leadRelevance"]["matchingIcp"].as_i64() > Some(0));

    let all: BTreeSet<String> = demo.ops.keys().cloned().collect();
    assert_eq!(demo.ran, all, "every documented operation is run here");
}

#[tokio::test]
async fn a_role_the_header_does_not_name_gets_no_costs() {
    // The dashboard's header says SALES may not read costs: it is refused.
    let mut demo = Demo::load().await;
    let op = demo.op("MarketingDashboard");
    let now = chrono::Utc::now();
    let period =
        json!({"from": (now - chrono::Duration::days(90)).to_rfc3339(), "to": now.to_rfc3339()});
    let code = demo
        .app
        .error_code(
            demo.token_of(Role::Sales),
            &op.body,
            json!({"period": period}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn the_manifest_subcommand_prints_the_checked_in_manifest_and_names_a_bad_file() {
    let run = |dir: PathBuf| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"))
            .args(["operations", "manifest"])
            .arg(dir)
            .env("RUST_LOG", "error")
            .output()
            .await
            .expect("runs")
    };
    let output = run(dir()).await;
    assert!(output.status.success());
    let checked_in = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest");
    assert_eq!(String::from_utf8_lossy(&output.stdout), checked_in);

    let bad = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        bad.path().join("anonymous.graphql"),
        "# Role: SALES\n{ me { id } }\n",
    )
    .expect("write");
    let output = run(bad.path().to_owned()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("anonymous.graphql: the operation has no name"),
        "{stderr}"
    );
}

#[test]
fn the_readme_shows_the_typescript_example_as_it_is() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let example =
        std::fs::read_to_string(root.join("clients/typescript/example.ts")).expect("example");
    assert!(
        readme.contains(&format!("```ts\n{example}```")),
        "README.md's TypeScript example differs from clients/typescript/example.ts; paste it again"
    );
}

/// The shipped manifest as the trusted documents (docs/frontend.md): the
/// documented operations run by their `id`, over POST and GET, and nothing
/// else runs.
#[tokio::test]
async fn with_the_shipped_manifest_trusted_only_the_documented_operations_run() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_documents = leadgraph::config::TrustedDocuments::Only;
        c.trusted_documents_manifest = Some(dir().join("manifest.json"));
    })
    .await;
    let demo = leadgraph::demo::load(&app.state.db, leadgraph::demo::today())
        .await
        .expect("demo loads");
    let sales = demo
        .users
        .iter()
        .find(|u| u.role == "SALES")
        .expect("a rep");
    let token = leadgraph::demo::token(&app.state.keys, sales).expect("token");
    let queue = documented()
        .into_iter()
        .find(|o| o.name == "SalesQueue")
        .expect("SalesQueue");
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": queue.id}});
    let variables = json!({"first": 3});
    let by_post: Value = app
        .client
        .post(&app.url)
        .bearer_auth(&token)
        .json(&json!({"extensions": extensions, "variables": variables}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(nodes(&by_post["data"]["leads"]).len(), 3, "{by_post:#}");
    let by_get: Value = app
        .client
        .get(&app.url)
        .bearer_auth(&token)
        .query(&[
            ("extensions", extensions.to_string()),
            ("variables", variables.to_string()),
        ])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(by_get, by_post);
    let code = app
        .error_code(&token, "{ leads(first: 3) { totalCount } }", json!({}))
        .await;
    assert_eq!(code, "PERSISTED_QUERY_NOT_TRUSTED");
}
