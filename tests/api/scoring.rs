//! Scoring (docs/scoring.md): rules and settings with their validation and
//! access, rescoring in the write's transaction, automatic MQL, bulk
//! rescoring with decay, and the worked example of the design.

use crate::helpers::{TestApp, Tokens};
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const RULE_FIELDS: &str = "id name kind points active condition { field op values } interactionKind metadataKey metadataContains decayHalfLifeDays maxPointsPerLead";
const RECORD: &str =
    "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id } }";
const SETTINGS: &str =
    "mutation($t: Int!) { updateScoringSettings(mqlThreshold: $t) { mqlThreshold } }";
const RESCORE: &str = "mutation { rescoreLeads { leadsRescored promotedToMql } }";
const LEAD: &str = "query($id: ID!) { lead(id: $id) { stage score fitScore engagementScore scoreBreakdown { points rule { id name kind points } } stageHistory { from to actor } } }";

fn create_rule_query() -> String {
    format!(
        "mutation($input: ScoringRuleInput!) {{ createScoringRule(input: $input) {{ {RULE_FIELDS} }} }}"
    )
}

/// Create a rule as `token`; its id.
async fn rule(app: &TestApp, token: &str, input: Value) -> String {
    let data = app
        .ok(token, &create_rule_query(), json!({"input": input}))
        .await;
    data["createScoringRule"]["id"]
        .as_str()
        .expect("rule id")
        .to_owned()
}

async fn threshold(app: &TestApp, token: &str, t: i32) {
    app.ok(token, SETTINGS, json!({"t": t})).await;
}

async fn create_lead(app: &TestApp, token: &str, input: Value) -> Value {
    let data = app
        .ok(
            token,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id stage score version } }",
            json!({"input": input}),
        )
        .await;
    data["createLead"].clone()
}

async fn record(app: &TestApp, token: &str, lead: &str, kind: &str, extra: Value) {
    let mut input = json!({"leadId": lead, "kind": kind});
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    app.ok(token, RECORD, json!({"input": input})).await;
}

async fn lead(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, LEAD, json!({"id": id})).await["lead"].clone()
}

fn breakdown_points(lead: &Value) -> Vec<i64> {
    lead["scoreBreakdown"]
        .as_array()
        .expect("breakdown")
        .iter()
        .map(|c| c["points"].as_i64().expect("points"))
        .collect()
}

fn breakdown_names(lead: &Value) -> Vec<String> {
    lead["scoreBreakdown"]
        .as_array()
        .expect("breakdown")
        .iter()
        .map(|c| c["rule"]["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The error's code and field.
async fn refused(app: &TestApp, token: &str, query: &str, vars: Value) -> (String, String) {
    let body = app.gql(token, query, vars).await;
    let ext = &body["errors"][0]["extensions"];
    (
        ext["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {body:#}"))
            .to_owned(),
        ext["field"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Outbox events of a lead: (to, actor).
async fn outbox(app: &TestApp, lead_db_id: i64) -> Vec<(String, String)> {
    entity::stage_event::Entity::find()
        .filter(entity::stage_event::Column::LeadId.eq(lead_db_id))
        .order_by_asc(entity::stage_event::Column::Seq)
        .all(&app.state.db.read)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| (e.to_stage, e.actor))
        .collect()
}

fn db_id(id: &str) -> i64 {
    match leadgraph::graphql::ids::decode_any(id) {
        Some((_, n)) => n,
        None => panic!("not an id: {id}"),
    }
}

/// The four rules and the threshold of the docs/scoring.md example.
async fn design_rules(app: &TestApp, t: &Tokens) {
    rule(
        app,
        &t.marketing,
        json!({"name": "Company of 100+", "kind": "FIT", "points": 20,
               "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["100"]}}),
    )
    .await;
    rule(
        app,
        &t.marketing,
        json!({"name": "Content download", "kind": "ENGAGEMENT", "points": 15,
               "interactionKind": "CONTENT_DOWNLOAD", "maxPointsPerLead": 30}),
    )
    .await;
    rule(
        app,
        &t.marketing,
        json!({"name": "Pricing page", "kind": "ENGAGEMENT", "points": 10,
               "interactionKind": "PAGE_VISIT", "metadataKey": "path", "metadataContains": "pricing"}),
    )
    .await;
    rule(
        app,
        &t.marketing,
        json!({"name": "Unsubscribed", "kind": "ENGAGEMENT", "points": -50,
               "interactionKind": "UNSUBSCRIBE"}),
    )
    .await;
    threshold(app, &t.marketing, 50).await;
}

/// The "Done when" scenario of the scoring issue, as a user would do it.
#[tokio::test]
async fn design_example_as_a_user_would() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    design_rules(&app, &t).await;

    let created = create_lead(
        &app,
        &t.marketing,
        json!({"email": "cto@acme.example", "companySize": 200}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["score"], 20, "FIT rule applied at creation");
    assert_eq!(created["stage"], "LEAD");

    for n in 1..=3 {
        record(
            &app,
            &t.ingest,
            &id,
            "CONTENT_DOWNLOAD",
            json!({"metadata": {"asset": format!("whitepaper-{n}.pdf")}}),
        )
        .await;
    }
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(l["score"], 50);
    assert_eq!(
        (l["fitScore"].clone(), l["engagementScore"].clone()),
        (json!(20), json!(30))
    );
    assert_eq!(breakdown_points(&l), vec![20, 30]);
    assert_eq!(
        breakdown_names(&l),
        vec!["Company of 100+", "Content download"]
    );
    assert_eq!(l["stage"], "MQL");
    assert_eq!(
        l["stageHistory"],
        json!([{"from": null, "to": "LEAD", "actor": "mia@example.com"},
               {"from": "LEAD", "to": "MQL", "actor": "system:scoring"}])
    );
    assert_eq!(
        outbox(&app, db_id(&id)).await,
        vec![
            ("LEAD".to_owned(), "mia@example.com".to_owned()),
            ("MQL".to_owned(), "system:scoring".to_owned())
        ]
    );

    record(
        &app,
        &t.ingest,
        &id,
        "PAGE_VISIT",
        json!({"metadata": {"path": "/pricing"}}),
    )
    .await;
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(l["score"], 60);
    assert_eq!(breakdown_points(&l), vec![20, 30, 10]);

    record(&app, &t.ingest, &id, "UNSUBSCRIBE", json!({})).await;
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(l["score"], 10);
    assert_eq!(breakdown_points(&l), vec![20, 30, 10, -50]);
    assert_eq!(l["stage"], "MQL", "scoring never demotes");
    assert_eq!(l["stageHistory"].as_array().expect("history").len(), 2);
    assert_eq!(outbox(&app, db_id(&id)).await.len(), 2);

    // SALES sees the breakdown with rule names (the lead is an MQL now).
    let l = lead(&app, &t.sales, &id).await;
    assert_eq!(
        breakdown_names(&l),
        vec![
            "Company of 100+",
            "Content download",
            "Pricing page",
            "Unsubscribed"
        ]
    );
    assert_eq!(l["scoreBreakdown"][0]["rule"]["kind"], "FIT");
    assert_eq!(l["scoreBreakdown"][3]["rule"]["points"], -50);
}

#[tokio::test]
async fn rules_are_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let fit = app
        .ok(
            &t.marketing,
            &create_rule_query(),
            json!({"input": {"name": " Software ", "kind": "FIT", "points": -5,
                   "condition": {"field": "INDUSTRY", "op": "IN", "values": ["Software", " SaaS "]}}}),
        )
        .await["createScoringRule"]
        .clone();
    assert_eq!(
        fit,
        json!({"id": fit["id"], "name": "Software", "kind": "FIT", "points": -5, "active": true,
               "condition": {"field": "INDUSTRY", "op": "IN", "values": ["Software", "SaaS"]},
               "interactionKind": null, "metadataKey": null, "metadataContains": null,
               "decayHalfLifeDays": null, "maxPointsPerLead": null})
    );
    let engagement = rule(
        &app,
        &t.admin,
        json!({"name": "Opens", "kind": "ENGAGEMENT", "points": 2, "active": false,
               "interactionKind": "EMAIL_OPEN", "metadataKey": "campaign",
               "decayHalfLifeDays": 30, "maxPointsPerLead": 10}),
    )
    .await;
    let list = app
        .ok(
            &t.admin,
            &format!("{{ scoringRules {{ {RULE_FIELDS} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(list["scoringRules"][0], fit, "oldest first");
    assert_eq!(
        list["scoringRules"][1],
        json!({"id": engagement, "name": "Opens", "kind": "ENGAGEMENT", "points": 2, "active": false,
               "condition": null, "interactionKind": "EMAIL_OPEN", "metadataKey": "campaign",
               "metadataContains": null, "decayHalfLifeDays": 30, "maxPointsPerLead": 10})
    );

    // Update replaces every field.
    let updated = app
        .ok(
            &t.marketing,
            &format!(
                "mutation($id: ID!, $input: ScoringRuleInput!) {{ updateScoringRule(id: $id, input: $input) {{ {RULE_FIELDS} }} }}"
            ),
            json!({"id": engagement, "input": {"name": "Clicks", "kind": "ENGAGEMENT", "points": 4,
                   "interactionKind": "EMAIL_CLICK"}}),
        )
        .await["updateScoringRule"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": engagement, "name": "Clicks", "kind": "ENGAGEMENT", "points": 4, "active": true,
               "condition": null, "interactionKind": "EMAIL_CLICK", "metadataKey": null,
               "metadataContains": null, "decayHalfLifeDays": null, "maxPointsPerLead": null})
    );
    let node = app
        .ok(
            &t.marketing,
            "query($id: ID!) { node(id: $id) { id ... on ScoringRule { name } } }",
            json!({"id": engagement}),
        )
        .await;
    assert_eq!(node["node"]["name"], "Clicks");

    // Settings: 50 until set.
    let q = "{ scoringSettings { mqlThreshold } }";
    assert_eq!(
        app.ok(&t.marketing, q, json!({})).await["scoringSettings"]["mqlThreshold"],
        50
    );
    threshold(&app, &t.admin, 70).await;
    assert_eq!(
        app.ok(&t.admin, q, json!({})).await["scoringSettings"]["mqlThreshold"],
        70
    );
    threshold(&app, &t.marketing, 65).await;
    assert_eq!(
        app.ok(&t.admin, q, json!({})).await["scoringSettings"]["mqlThreshold"],
        65
    );

    // Delete: gone from the list and from node(); a second delete is NOT_FOUND.
    let delete = "mutation($id: ID!) { deleteScoringRule(id: $id) }";
    assert_eq!(
        app.ok(&t.marketing, delete, json!({"id": engagement}))
            .await["deleteScoringRule"],
        true
    );
    let list = app.ok(&t.admin, "{ scoringRules { id } }", json!({})).await;
    assert_eq!(list["scoringRules"], json!([{"id": fit["id"]}]));
    let node = app
        .ok(
            &t.marketing,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": engagement}),
        )
        .await;
    assert!(node["node"].is_null());
    assert_eq!(
        app.error_code(&t.marketing, delete, json!({"id": engagement}))
            .await,
        "NOT_FOUND"
    );
    let update = "mutation($id: ID!, $input: ScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id } }";
    let input = json!({"name": "x", "kind": "ENGAGEMENT", "points": 1, "interactionKind": "CALL"});
    assert_eq!(
        app.error_code(
            &t.marketing,
            update,
            json!({"id": engagement, "input": input})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        refused(
            &app,
            &t.marketing,
            update,
            json!({"id": "garbage", "input": input})
        )
        .await,
        ("BAD_USER_INPUT".to_owned(), "id".to_owned())
    );
    assert_eq!(
        refused(&app, &t.marketing, delete, json!({"id": "TGVhZDox"})).await,
        ("BAD_USER_INPUT".to_owned(), "id".to_owned()),
        "a Lead id is not a ScoringRule id"
    );
}

#[tokio::test]
async fn every_rule_validation_names_its_field() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let fit =
        |condition: Value| json!({"name": "r", "kind": "FIT", "points": 1, "condition": condition});
    let size =
        |op: &str, values: Value| fit(json!({"field": "COMPANY_SIZE", "op": op, "values": values}));
    let engagement = |extra: Value| {
        let mut rule = json!({"name": "r", "kind": "ENGAGEMENT", "points": 1, "interactionKind": "PAGE_VISIT"});
        if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
            rule.extend(extra.clone());
        }
        rule
    };
    let cases = [
        // FIT needs a condition and no interactionKind.
        (
            json!({"name": "r", "kind": "FIT", "points": 1}),
            "input.condition",
        ),
        (
            json!({"name": "r", "kind": "FIT", "points": 1, "interactionKind": "PAGE_VISIT",
                   "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}),
            "input.interactionKind",
        ),
        (
            json!({"name": "r", "kind": "FIT", "points": 1, "maxPointsPerLead": 5,
                   "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}),
            "input.maxPointsPerLead",
        ),
        (
            json!({"name": "r", "kind": "FIT", "points": 1, "decayHalfLifeDays": 5,
                   "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}),
            "input.decayHalfLifeDays",
        ),
        (
            json!({"name": "r", "kind": "FIT", "points": 1, "metadataKey": "path",
                   "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}),
            "input.metadataKey",
        ),
        // ENGAGEMENT the reverse.
        (
            json!({"name": "r", "kind": "ENGAGEMENT", "points": 1}),
            "input.interactionKind",
        ),
        (
            engagement(
                json!({"condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}),
            ),
            "input.condition",
        ),
        // GTE/LTE on COMPANY_SIZE only, with one integer.
        (
            fit(json!({"field": "INDUSTRY", "op": "GTE", "values": ["10"]})),
            "input.condition.op",
        ),
        (
            fit(json!({"field": "JOB_TITLE", "op": "LTE", "values": ["10"]})),
            "input.condition.op",
        ),
        (size("GTE", json!(["many"])), "input.condition.values"),
        (size("LTE", json!(["1.5"])), "input.condition.values"),
        (size("GTE", json!([])), "input.condition.values"),
        (size("GTE", json!(["1", "2"])), "input.condition.values"),
        // IN/CONTAINS need at least one value; EQUALS exactly one.
        (
            fit(json!({"field": "COUNTRY", "op": "IN", "values": []})),
            "input.condition.values",
        ),
        (
            fit(json!({"field": "JOB_TITLE", "op": "CONTAINS", "values": []})),
            "input.condition.values",
        ),
        (
            fit(json!({"field": "COUNTRY", "op": "EQUALS", "values": []})),
            "input.condition.values",
        ),
        (
            fit(json!({"field": "JOB_TITLE", "op": "CONTAINS", "values": ["cto", "  "]})),
            "input.condition.values",
        ),
        (
            fit(json!({"field": "JOB_TITLE", "op": "CONTAINS", "values": ["x".repeat(257)]})),
            "input.condition.values",
        ),
        (
            fit(json!({"field": "JOB_TITLE", "op": "IN", "values": vec!["x"; 101]})),
            "input.condition.values",
        ),
        // Half-life and cap at least 1.
        (
            engagement(json!({"decayHalfLifeDays": 0})),
            "input.decayHalfLifeDays",
        ),
        (
            engagement(json!({"decayHalfLifeDays": -3})),
            "input.decayHalfLifeDays",
        ),
        (
            engagement(json!({"maxPointsPerLead": 0})),
            "input.maxPointsPerLead",
        ),
        (
            engagement(json!({"maxPointsPerLead": -1})),
            "input.maxPointsPerLead",
        ),
        (
            engagement(json!({"metadataContains": "pricing"})),
            "input.metadataContains",
        ),
        // Strings.
        (engagement(json!({"name": "  "})), "input.name"),
        (engagement(json!({"name": "n".repeat(257)})), "input.name"),
        (
            engagement(json!({"metadataKey": "k".repeat(257)})),
            "input.metadataKey",
        ),
        (
            engagement(json!({"metadataKey": "path", "metadataContains": "c".repeat(257)})),
            "input.metadataContains",
        ),
    ];
    let create = create_rule_query();
    let existing = rule(
        &app,
        &t.marketing,
        json!({"name": "ok", "kind": "ENGAGEMENT", "points": 1, "interactionKind": "CALL"}),
    )
    .await;
    let update = "mutation($id: ID!, $input: ScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id } }";
    for (input, field) in cases {
        assert_eq!(
            refused(&app, &t.marketing, &create, json!({"input": input})).await,
            ("BAD_USER_INPUT".to_owned(), field.to_owned()),
            "create {input}"
        );
        assert_eq!(
            refused(
                &app,
                &t.admin,
                update,
                json!({"id": existing, "input": input})
            )
            .await,
            ("BAD_USER_INPUT".to_owned(), field.to_owned()),
            "update {input}"
        );
    }
    // Nothing was stored or changed by the refused requests.
    let list = app
        .ok(&t.marketing, "{ scoringRules { name } }", json!({}))
        .await;
    assert_eq!(list["scoringRules"], json!([{"name": "ok"}]));

    for bad in [0, -1, i32::MIN] {
        assert_eq!(
            refused(&app, &t.marketing, SETTINGS, json!({"t": bad})).await,
            ("BAD_USER_INPUT".to_owned(), "mqlThreshold".to_owned())
        );
    }
    threshold(&app, &t.marketing, 1).await;
}

#[tokio::test]
async fn scoring_access_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let rule_input = json!({"name": "Big", "kind": "FIT", "points": 60,
        "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["100"]}});
    let id = rule(&app, &t.admin, rule_input.clone()).await;
    let lead_id = create_lead(
        &app,
        &t.admin,
        json!({"email": "big@example.com", "companySize": 500}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let reads = [
        "{ scoringRules { id } }".to_owned(),
        "{ scoringSettings { mqlThreshold } }".to_owned(),
    ];
    let writes = [
        (create_rule_query(), json!({"input": rule_input})),
        (
            "mutation($id: ID!, $input: ScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id } }".to_owned(),
            json!({"id": id, "input": rule_input}),
        ),
        (SETTINGS.to_owned(), json!({"t": 40})),
        (RESCORE.to_owned(), json!({})),
        (
            "mutation($id: ID!) { deleteScoringRule(id: $id) }".to_owned(),
            json!({"id": id}),
        ),
    ];
    for token in [&t.sales, &t.ingest] {
        for q in &reads {
            assert_eq!(
                app.error_code(token, q, json!({})).await,
                "FORBIDDEN",
                "{q}"
            );
        }
        for (q, vars) in &writes {
            assert_eq!(
                app.error_code(token, q, vars.clone()).await,
                "FORBIDDEN",
                "{q}"
            );
        }
        // node() of a rule behaves as missing to SALES; INGEST reads
        // nothing, node() included (issue 10).
        let body = app
            .gql(
                token,
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        if token == &t.ingest {
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        } else {
            assert!(body.get("errors").is_none(), "{body}");
            assert!(body["data"]["node"].is_null());
        }
    }
    // SALES sees the breakdown (the lead is an MQL by scoring): id, name,
    // kind and points of the rule, not its definition.
    let l = app
        .ok(
            &t.sales,
            "query($id: ID!) { lead(id: $id) { stage scoreBreakdown { points rule { id name kind points } } } }",
            json!({"id": lead_id}),
        )
        .await;
    assert_eq!(l["lead"]["stage"], "MQL");
    assert_eq!(
        l["lead"]["scoreBreakdown"],
        json!([{"points": 60, "rule": {"id": id, "name": "Big", "kind": "FIT", "points": 60}}])
    );
    for field in [
        "active",
        "condition { op }",
        "interactionKind",
        "metadataKey",
        "metadataContains",
        "decayHalfLifeDays",
        "maxPointsPerLead",
    ] {
        let q = format!(
            "query($id: ID!) {{ lead(id: $id) {{ scoreBreakdown {{ rule {{ {field} }} }} }} }}"
        );
        assert_eq!(
            app.error_code(&t.sales, &q, json!({"id": lead_id})).await,
            "FORBIDDEN",
            "{field}"
        );
        // MARKETING reads the definition through the breakdown too.
        app.ok(&t.marketing, &q, json!({"id": lead_id})).await;
    }
    // Nothing the refused roles sent went through.
    let state = app
        .ok(
            &t.marketing,
            "{ scoringRules { id } scoringSettings { mqlThreshold } }",
            json!({}),
        )
        .await;
    assert_eq!(
        state,
        json!({"scoringRules": [{"id": id}], "scoringSettings": {"mqlThreshold": 50}})
    );
    // MARKETING and ADMIN may do all of it.
    for token in [&t.marketing, &t.admin] {
        for q in &reads {
            app.ok(token, q, json!({})).await;
        }
        for (q, vars) in &writes[..4] {
            app.ok(token, q, vars.clone()).await;
        }
    }
    let (q, vars) = &writes[4];
    app.ok(&t.admin, q, vars.clone()).await;
}

const INTROSPECTION: &str = r#"
query {
  __schema {
    queryType { fields { name } }
    mutationType { fields { name } }
    types {
      name kind
      fields(includeDeprecated: true) { name args { name type { ...T } } type { ...T } }
      inputFields { name type { ...T } }
      interfaces { name }
      possibleTypes { name }
      enumValues(includeDeprecated: true) { name }
    }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
"#;

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn sales_introspection_hides_scoring_rules_and_settings() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let hidden_queries = ["scoringRules", "scoringSettings"];
    let hidden_mutations = [
        "createScoringRule",
        "updateScoringRule",
        "deleteScoringRule",
        "updateScoringSettings",
        "rescoreLeads",
    ];
    let hidden_types = [
        "ScoringSettings",
        "ScoringRuleInput",
        "FitConditionInput",
        "FitCondition",
        "RescoreResult",
        "LeadField",
        "ConditionOp",
    ];
    let definition = [
        "active",
        "condition",
        "interactionKind",
        "metadataKey",
        "metadataContains",
        "decayHalfLifeDays",
        "maxPointsPerLead",
    ];
    for (token, visible) in [
        (&t.admin, true),
        (&t.marketing, true),
        (&t.sales, false),
        (&t.ingest, false),
    ] {
        // The full introspection works for every role.
        let schema = app.ok(token, INTROSPECTION, json!({})).await["__schema"].clone();
        let queries = names(&schema["queryType"]["fields"]);
        let mutations = names(&schema["mutationType"]["fields"]);
        let types = names(&schema["types"]);
        for q in hidden_queries {
            assert_eq!(queries.contains(&q.to_owned()), visible, "{q}");
        }
        for m in hidden_mutations {
            assert_eq!(mutations.contains(&m.to_owned()), visible, "{m}");
        }
        for ty in hidden_types {
            assert_eq!(types.contains(&ty.to_owned()), visible, "{ty}");
        }
        // Every role that sees leads sees the breakdown and the rule's name.
        assert!(types.contains(&"ScoringRule".to_owned()));
        assert!(types.contains(&"ScoreContribution".to_owned()));
        let rule = schema["types"]
            .as_array()
            .expect("types")
            .iter()
            .find(|ty| ty["name"] == "ScoringRule")
            .expect("ScoringRule")
            .clone();
        let fields = names(&rule["fields"]);
        for f in ["id", "name", "kind", "points"] {
            assert!(fields.contains(&f.to_owned()), "{f}");
        }
        for f in definition {
            assert_eq!(fields.contains(&f.to_owned()), visible, "ScoringRule.{f}");
        }
        // No visible field names a type the role cannot see.
        for ty in schema["types"].as_array().expect("types") {
            for field in ty["fields"].as_array().into_iter().flatten() {
                let mut inner = &field["type"];
                while !inner["ofType"].is_null() {
                    inner = &inner["ofType"];
                }
                let name = inner["name"].as_str().expect("type name");
                assert!(
                    types.contains(&name.to_owned()),
                    "{}.{} names hidden type {name}",
                    ty["name"],
                    field["name"]
                );
            }
        }
        let by_name = app
            .ok(
                token,
                r#"{ __type(name: "ScoringSettings") { name } }"#,
                json!({}),
            )
            .await;
        assert_eq!(by_name["__type"].is_null(), !visible);
    }
    // Personas stay visible to SALES.
    let schema = app.ok(&t.sales, INTROSPECTION, json!({})).await;
    assert!(names(&schema["__schema"]["queryType"]["fields"]).contains(&"personas".to_owned()));
    // The published SDL has everything.
    let sdl = leadgraph::graphql::sdl();
    for name in hidden_queries.iter().chain(&hidden_mutations) {
        assert!(sdl.contains(&format!("{name}(")) || sdl.contains(&format!("{name}:")));
    }
}

#[tokio::test]
async fn concurrent_recordings_leave_the_from_scratch_score() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rule(
        &app,
        &t.marketing,
        json!({"name": "Visit", "kind": "ENGAGEMENT", "points": 3, "interactionKind": "PAGE_VISIT"}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Download", "kind": "ENGAGEMENT", "points": 5,
               "interactionKind": "CONTENT_DOWNLOAD", "maxPointsPerLead": 20}),
    )
    .await;
    threshold(&app, &t.marketing, 1000).await;
    let id = app.create_lead(&t.marketing, "busy@example.com").await;
    let calls = (0..20).map(|n| {
        let kind = if n % 2 == 0 {
            "PAGE_VISIT"
        } else {
            "CONTENT_DOWNLOAD"
        };
        let input = json!({"input": {"leadId": id, "kind": kind, "externalId": format!("c-{n}")}});
        let (app, token) = (&app, &t.ingest);
        async move { app.ok(token, RECORD, input).await }
    });
    join_all(calls).await;
    // 10 visits × 3 = 30; 10 downloads × 5 = 50, capped at 20.
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(l["score"], 50);
    assert_eq!(breakdown_points(&l), vec![30, 20]);
    // A from-scratch recomputation agrees.
    let r = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(
        r["rescoreLeads"],
        json!({"leadsRescored": 1, "promotedToMql": 0})
    );
    assert_eq!(lead(&app, &t.marketing, &id).await, l);
}

#[tokio::test]
async fn automatic_mql_happens_once_and_never_demotes() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rule(
        &app,
        &t.marketing,
        json!({"name": "Demo", "kind": "ENGAGEMENT", "points": 60, "interactionKind": "DEMO_REQUEST"}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Unsubscribe", "kind": "ENGAGEMENT", "points": -100, "interactionKind": "UNSUBSCRIBE"}),
    )
    .await;
    let fit = rule(
        &app,
        &t.marketing,
        json!({"name": "Enterprise", "kind": "FIT", "points": 55,
               "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["1000"]}}),
    )
    .await;
    let id = app.create_lead(&t.marketing, "demo@example.com").await;
    record(&app, &t.ingest, &id, "DEMO_REQUEST", json!({})).await;
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(
        (l["stage"].clone(), l["score"].clone()),
        (json!("MQL"), json!(60))
    );
    let promoted = json!([{"from": null, "to": "LEAD", "actor": "mia@example.com"},
                          {"from": "LEAD", "to": "MQL", "actor": "system:scoring"}]);
    assert_eq!(l["stageHistory"], promoted);

    // Never twice: more points, a bulk rescoring.
    record(&app, &t.ingest, &id, "DEMO_REQUEST", json!({})).await;
    let r = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(r["rescoreLeads"]["promotedToMql"], 0);
    // Never a demotion.
    record(&app, &t.ingest, &id, "UNSUBSCRIBE", json!({})).await;
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(
        (l["stage"].clone(), l["score"].clone()),
        (json!("MQL"), json!(20))
    );
    assert_eq!(l["stageHistory"], promoted);
    assert_eq!(outbox(&app, db_id(&id)).await.len(), 2);

    // Only a LEAD moves: SQL and DISQUALIFIED leads stay where they are.
    let sql = app.lead_at(&t, "sql@example.com", "SQL").await;
    let dq = app.lead_at(&t, "dq@example.com", "DISQUALIFIED").await;
    for other in [&sql, &dq] {
        record(&app, &t.ingest, other, "DEMO_REQUEST", json!({})).await;
    }
    assert_eq!(lead(&app, &t.admin, &sql).await["stage"], "SQL");
    assert_eq!(lead(&app, &t.admin, &dq).await["stage"], "DISQUALIFIED");

    // A lead created with enough fit is an MQL straight away, by scoring.
    let big = create_lead(
        &app,
        &t.marketing,
        json!({"email": "enterprise@example.com", "companySize": 5000}),
    )
    .await;
    assert_eq!(
        (big["stage"].clone(), big["score"].clone()),
        (json!("MQL"), json!(55))
    );
    let big_id = big["id"].as_str().expect("id");
    let l = lead(&app, &t.marketing, big_id).await;
    assert_eq!(l["stageHistory"][1]["actor"], "system:scoring");
    assert_eq!(
        outbox(&app, db_id(big_id)).await,
        vec![
            ("LEAD".to_owned(), "mia@example.com".to_owned()),
            ("MQL".to_owned(), "system:scoring".to_owned())
        ]
    );

    // Updating a lead rescores it in the same write: growing past 1,000.
    let small = create_lead(
        &app,
        &t.marketing,
        json!({"email": "grows@example.com", "companySize": 10}),
    )
    .await;
    assert_eq!(small["score"], 0);
    let updated = app
        .ok(
            &t.marketing,
            "mutation($id: ID!) { updateLead(id: $id, input: {companySize: 1200}) { stage score version scoreBreakdown { rule { id } } } }",
            json!({"id": small["id"]}),
        )
        .await["updateLead"]
        .clone();
    assert_eq!(updated["score"], 55);
    assert_eq!(updated["stage"], "MQL");
    assert_eq!(updated["scoreBreakdown"], json!([{"rule": {"id": fit}}]));
    // Version: +1 for the update, +1 for the stage change.
    assert_eq!(
        updated["version"],
        small["version"].as_i64().expect("v") + 2
    );
}

#[tokio::test]
async fn every_write_rescores_its_lead() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rule(
        &app,
        &t.marketing,
        json!({"name": "Form", "kind": "ENGAGEMENT", "points": 7, "interactionKind": "FORM_SUBMIT"}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Visit", "kind": "ENGAGEMENT", "points": 2, "interactionKind": "PAGE_VISIT"}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Acme", "kind": "FIT", "points": 4,
               "condition": {"field": "EMAIL_DOMAIN", "op": "EQUALS", "values": ["ACME.example"]}}),
    )
    .await;
    threshold(&app, &t.marketing, 1000).await;

    // captureLead: a new lead and its FORM_SUBMIT.
    let captured = app
        .ok(
            &t.ingest,
            "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId } }",
            json!({"input": {"lead": {"email": "form@acme.example"}}}),
        )
        .await["captureLead"]["leadId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(lead(&app, &t.admin, &captured).await["score"], 11);

    // recordInteractions: several leads, several items each.
    let other = app.create_lead(&t.admin, "other@example.com").await;
    let batch = app
        .ok(
            &t.ingest,
            "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded errors { index } } }",
            json!({"inputs": [
                {"leadId": captured, "kind": "PAGE_VISIT"},
                {"leadEmail": "other@example.com", "kind": "PAGE_VISIT"},
                {"leadId": other, "kind": "FORM_SUBMIT"},
                {"leadId": captured, "kind": "PAGE_VISIT"},
                {"leadId": "TGVhZDo5OTk5", "kind": "PAGE_VISIT"},
            ]}),
        )
        .await;
    assert_eq!(batch["recordInteractions"]["recorded"], 4);
    assert_eq!(lead(&app, &t.admin, &captured).await["score"], 15);
    assert_eq!(lead(&app, &t.admin, &other).await["score"], 9);

    // mergeLeads: the primary is rescored with the duplicate's interactions.
    let merged = app
        .ok(
            &t.marketing,
            "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { score engagementScore fitScore } }",
            json!({"p": captured, "d": other}),
        )
        .await["mergeLeads"]
        .clone();
    // FORM 2×7 + visits 3×2 + FIT 4.
    assert_eq!(
        merged,
        json!({"score": 24, "engagementScore": 20, "fitScore": 4})
    );

    // eraseLead: the email domain is gone, and so are its points.
    app.ok(
        &t.admin,
        "mutation($id: ID!) { eraseLead(id: $id) }",
        json!({"id": captured}),
    )
    .await;
    assert_eq!(lead(&app, &t.admin, &captured).await["score"], 20);
}

#[tokio::test]
async fn rescore_leads_applies_rule_changes_and_decay() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let now = chrono::Utc::now();
    let ago = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();
    let ids = [
        app.create_lead(&t.marketing, "a@example.com").await,
        app.create_lead(&t.marketing, "b@example.com").await,
        app.create_lead(&t.marketing, "c@example.com").await,
    ];
    // Interactions before any rule: nothing scores yet.
    record(
        &app,
        &t.ingest,
        &ids[0],
        "EMAIL_OPEN",
        json!({"occurredAt": ago(10)}),
    )
    .await;
    record(
        &app,
        &t.ingest,
        &ids[1],
        "EMAIL_OPEN",
        json!({"occurredAt": ago(20)}),
    )
    .await;
    let future = (now + chrono::Duration::days(3)).to_rfc3339();
    record(
        &app,
        &t.ingest,
        &ids[2],
        "EMAIL_OPEN",
        json!({"occurredAt": future}),
    )
    .await;
    let opens = rule(
        &app,
        &t.marketing,
        json!({"name": "Opens", "kind": "ENGAGEMENT", "points": 40,
               "interactionKind": "EMAIL_OPEN", "decayHalfLifeDays": 10}),
    )
    .await;
    for id in &ids {
        assert_eq!(
            lead(&app, &t.marketing, id).await["score"],
            0,
            "until rescored"
        );
    }
    let r = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(
        r["rescoreLeads"],
        json!({"leadsRescored": 3, "promotedToMql": 0})
    );
    // 40 × 0.5^(10/10) = 20; 40 × 0.5^2 = 10; a future interaction is not decayed.
    let scores: Vec<Value> = join_all(ids.iter().map(|id| lead(&app, &t.marketing, id)))
        .await
        .into_iter()
        .map(|l| l["score"].clone())
        .collect();
    assert_eq!(scores, vec![json!(20), json!(10), json!(40)]);

    // A lower threshold promotes on the next rescoring, and only then.
    threshold(&app, &t.marketing, 15).await;
    assert_eq!(lead(&app, &t.marketing, &ids[0]).await["stage"], "LEAD");
    let r = app.ok(&t.admin, RESCORE, json!({})).await;
    assert_eq!(
        r["rescoreLeads"],
        json!({"leadsRescored": 3, "promotedToMql": 2})
    );
    assert_eq!(lead(&app, &t.marketing, &ids[0]).await["stage"], "MQL");
    assert_eq!(lead(&app, &t.marketing, &ids[1]).await["stage"], "LEAD");
    // A bulk promotion writes what any promotion writes: history, outbox,
    // milestone, version.
    for id in [&ids[0], &ids[2]] {
        let l = lead(&app, &t.marketing, id).await;
        assert_eq!(
            l["stageHistory"],
            json!([{"from": null, "to": "LEAD", "actor": "mia@example.com"},
                   {"from": "LEAD", "to": "MQL", "actor": "system:scoring"}])
        );
        assert_eq!(
            outbox(&app, db_id(id)).await,
            vec![
                ("LEAD".to_owned(), "mia@example.com".to_owned()),
                ("MQL".to_owned(), "system:scoring".to_owned())
            ]
        );
        let row = entity::lead::Entity::find_by_id(db_id(id))
            .one(&app.state.db.read)
            .await
            .expect("query")
            .expect("lead");
        assert_eq!((row.version, row.reached_rank), (2, 2));
        assert_eq!(row.mql_at, Some(row.stage_changed_at));
        assert!(row.updated_at >= row.created_at);
    }
    let r = app.ok(&t.admin, RESCORE, json!({})).await;
    assert_eq!(r["rescoreLeads"]["promotedToMql"], 0);

    // A rule change, too.
    app.ok(
        &t.marketing,
        "mutation($id: ID!, $input: ScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id } }",
        json!({"id": opens, "input": {"name": "Opens", "kind": "ENGAGEMENT", "points": 8, "interactionKind": "EMAIL_OPEN"}}),
    )
    .await;
    assert_eq!(lead(&app, &t.marketing, &ids[1]).await["score"], 10);
    app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(lead(&app, &t.marketing, &ids[1]).await["score"], 8);
}

#[tokio::test]
async fn rescore_leads_works_in_batches() {
    use sea_orm::{ActiveValue::Set, ConnectionTrait};
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rule(
        &app,
        &t.marketing,
        json!({"name": "German", "kind": "FIT", "points": 5,
               "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["de"]}}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Visit", "kind": "ENGAGEMENT", "points": 1, "interactionKind": "PAGE_VISIT"}),
    )
    .await;
    // 2,500 leads written straight to the database (unscored), so that the
    // rescoring runs three batches.
    let now = leadgraph::validate::now();
    let leads: Vec<entity::lead::ActiveModel> = (0..2500)
        .map(|n| entity::lead::ActiveModel {
            email: Set(format!("bulk{n}@example.com")),
            search_text: Set(format!("bulk{n}@example.com")),
            country: Set(Some(if n % 2 == 0 { "DE" } else { "FR" }.to_owned())),
            stage: Set("LEAD".to_owned()),
            reached_rank: Set(1),
            score: Set(0),
            fit_score: Set(0),
            engagement_score: Set(0),
            score_breakdown: Set(Default::default()),
            source_channel: Set("DIRECT".to_owned()),
            qual_budget: Set(false),
            qual_need: Set(false),
            qual_authority: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            stage_changed_at: Set(now),
            version: Set(1),
            ..Default::default()
        })
        .collect();
    let db = &app.state.db.write;
    for chunk in leads.chunks(500) {
        entity::lead::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .expect("insert leads");
    }
    let first = entity::lead::Entity::find()
        .order_by_asc(entity::lead::Column::Id)
        .one(db)
        .await
        .expect("query")
        .expect("a lead");
    let visits: Vec<entity::interaction::ActiveModel> = (0..3)
        .map(|_| entity::interaction::ActiveModel {
            lead_id: Set(first.id + 2499),
            kind: Set("PAGE_VISIT".to_owned()),
            occurred_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    entity::interaction::Entity::insert_many(visits)
        .exec_without_returning(db)
        .await
        .expect("insert interactions");

    let r = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(
        r["rescoreLeads"],
        json!({"leadsRescored": 2500, "promotedToMql": 0})
    );
    let scored = app
        .state
        .db
        .read
        .query_one_raw(sea_orm::Statement::from_string(
            app.state.db.backend(),
            "SELECT COUNT(*) AS n, SUM(score) AS s FROM lead",
        ))
        .await
        .expect("query")
        .expect("row");
    let n: i64 = scored.try_get("", "n").expect("n");
    let s: i64 = scored.try_get("", "s").expect("s");
    // 1,250 German leads × 5, and the last lead (odd: French) visited 3 times.
    assert_eq!((n, s), (2500, 1250 * 5 + 3));
    let last =
        leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Lead, first.id + 2499);
    assert_eq!(
        breakdown_names(&lead(&app, &t.admin, &last).await),
        vec!["Visit"]
    );
}

#[tokio::test]
async fn deleting_a_rule_rescores_the_leads_it_scored() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let german = rule(
        &app,
        &t.marketing,
        json!({"name": "German", "kind": "FIT", "points": 10,
               "condition": {"field": "COUNTRY", "op": "IN", "values": ["DE", "AT"]}}),
    )
    .await;
    rule(
        &app,
        &t.marketing,
        json!({"name": "Visit", "kind": "ENGAGEMENT", "points": 5, "interactionKind": "PAGE_VISIT"}),
    )
    .await;
    let de = create_lead(
        &app,
        &t.marketing,
        json!({"email": "de@example.com", "country": "de"}),
    )
    .await;
    let fr = create_lead(
        &app,
        &t.marketing,
        json!({"email": "fr@example.com", "country": "FR"}),
    )
    .await;
    let (de, fr) = (
        de["id"].as_str().expect("id").to_owned(),
        fr["id"].as_str().expect("id").to_owned(),
    );
    record(&app, &t.ingest, &de, "PAGE_VISIT", json!({})).await;
    record(&app, &t.ingest, &fr, "PAGE_VISIT", json!({})).await;
    assert_eq!(
        breakdown_points(&lead(&app, &t.marketing, &de).await),
        vec![10, 5]
    );

    app.ok(
        &t.marketing,
        "mutation($id: ID!) { deleteScoringRule(id: $id) }",
        json!({"id": german}),
    )
    .await;
    // No rescoreLeads needed: the breakdown never names a deleted rule.
    let l = lead(&app, &t.marketing, &de).await;
    assert_eq!(
        (l["score"].clone(), breakdown_names(&l)),
        (json!(5), vec!["Visit".to_owned()])
    );
    let l = lead(&app, &t.marketing, &fr).await;
    assert_eq!(
        (l["score"].clone(), breakdown_names(&l)),
        (json!(5), vec!["Visit".to_owned()])
    );
}

#[tokio::test]
async fn the_periodic_rescoring_applies_rule_changes() {
    use futures::StreamExt;
    use leadgraph::auth::policy::LeadScope;
    use leadgraph::events::bus::Filter;
    use leadgraph::leads::lifecycle::LeadStage;
    let app =
        TestApp::spawn_with(|c| c.rescore_interval = std::time::Duration::from_millis(100)).await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "later@example.com").await;
    record(&app, &t.ingest, &id, "DEMO_REQUEST", json!({})).await;
    // The rule comes after the interaction: only a rescoring applies it.
    rule(
        &app,
        &t.marketing,
        json!({"name": "Demo", "kind": "ENGAGEMENT", "points": 70, "interactionKind": "DEMO_REQUEST"}),
    )
    .await;
    assert_eq!(lead(&app, &t.marketing, &id).await["score"], 0);
    let filter = Filter {
        scope: LeadScope::All,
        to_stages: Some(vec![LeadStage::Mql]),
    };
    let mut events = Box::pin(
        app.state
            .events
            .follow(app.state.db.read.clone(), filter, None),
    );
    let job = leadgraph::scoring::service::spawn_periodic(&app.state).expect("interval set");
    let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
        .await
        .expect("a promotion within 20 s")
        .expect("stream open")
        .expect("event");
    job.abort();
    assert_eq!(event.row.lead_id, db_id(&id));
    assert_eq!(event.row.actor, "system:scoring");
    let l = lead(&app, &t.marketing, &id).await;
    assert_eq!(
        (l["stage"].clone(), l["score"].clone()),
        (json!("MQL"), json!(70))
    );
    // Off by default in tests, and `0` means off.
    let off = TestApp::spawn().await;
    assert!(leadgraph::scoring::service::spawn_periodic(&off.state).is_none());
}
