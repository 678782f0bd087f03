//! Scoring a write incrementally (docs/scoring.md): what recording
//! interactions stores is what a full rescoring computes, old rows and rule
//! changes fall back to the full computation, and concurrent overlapping
//! batches neither deadlock nor lose a write.

use crate::helpers::{TestApp, Tokens};
use chrono::{Duration, SecondsFormat, Utc};
use entity::lead;
use futures::future::join_all;
use leadgraph::graphql::ids::{NodeType, decode};
use migration::MigratorTrait;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

const RECORD: &str =
    "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id } }";
const BATCH: &str = "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }";
const CAPTURE: &str =
    "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId created } }";
const RESCORE: &str = "mutation { rescoreLeads { leadsRescored promotedToMql } }";
const SCORES: &str = "query($id: ID!) { lead(id: $id) { stage score fitScore engagementScore scoreBreakdown { points rule { id } } } }";
const CREATE_RULE: &str =
    "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }";
const UPDATE_RULE: &str = "mutation($id: ID!, $input: ScoringRuleInput!) { updateScoringRule(id: $id, input: $input) { id } }";

async fn rule(app: &TestApp, t: &Tokens, input: Value) -> String {
    app.ok(&t.marketing, CREATE_RULE, json!({"input": input}))
        .await["createScoringRule"]["id"]
        .as_str()
        .expect("rule id")
        .to_owned()
}

/// Rules of every shape: FIT, decaying, capped, on metadata, negative.
async fn rules(app: &TestApp, t: &Tokens) -> Vec<String> {
    let inputs = [
        json!({"name": "Big", "kind": "FIT", "points": 20,
               "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["100"]}}),
        json!({"name": "Webinar", "kind": "ENGAGEMENT", "points": 10,
               "interactionKind": "WEBINAR_ATTENDED", "decayHalfLifeDays": 30}),
        json!({"name": "Download", "kind": "ENGAGEMENT", "points": 15,
               "interactionKind": "CONTENT_DOWNLOAD", "maxPointsPerLead": 40}),
        json!({"name": "Pricing", "kind": "ENGAGEMENT", "points": 7,
               "interactionKind": "PAGE_VISIT", "metadataKey": "path",
               "metadataContains": "pricing", "decayHalfLifeDays": 3, "maxPointsPerLead": 25}),
        json!({"name": "Form", "kind": "ENGAGEMENT", "points": 5,
               "interactionKind": "FORM_SUBMIT", "decayHalfLifeDays": 14}),
        json!({"name": "Unsubscribe", "kind": "ENGAGEMENT", "points": -30,
               "interactionKind": "UNSUBSCRIBE"}),
    ];
    let mut ids = Vec::new();
    for input in inputs {
        ids.push(rule(app, t, input).await);
    }
    // High enough that scoring never moves a lead: stages stay comparable.
    app.ok(
        &t.marketing,
        "mutation { updateScoringSettings(mqlThreshold: 100000) { mqlThreshold } }",
        json!({}),
    )
    .await;
    ids
}

/// `occurredAt` this many hours ago (negative: in the future). Odd hours
/// keep decayed totals away from `x.5`, where the milliseconds between the
/// writes and the rescoring could tip the rounding.
fn hours_ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn item(lead: &str, kind: &str, hours: i64, metadata: Value) -> Value {
    json!({"leadId": lead, "kind": kind, "occurredAt": hours_ago(hours), "metadata": metadata})
}

async fn scores(app: &TestApp, t: &Tokens, id: &str) -> Value {
    app.ok(&t.marketing, SCORES, json!({"id": id})).await["lead"].clone()
}

async fn stored(app: &TestApp, id: &str) -> lead::Model {
    let n = decode(NodeType::Lead, id, "id").expect("lead id");
    lead::Entity::find_by_id(n)
        .one(&app.state.db.write)
        .await
        .expect("read lead")
        .expect("lead")
}

/// The `steps` of the lead's stored state: incremental updates since its
/// last full computation (`None`: no state stored).
async fn steps(app: &TestApp, id: &str) -> Option<u64> {
    let state: Value = serde_json::from_str(stored(app, id).await.score_state.as_deref()?)
        .expect("stored state is JSON");
    state["steps"].as_u64()
}

/// Migrate down to before `score_state` and up again: rows keep their
/// scores and lose their state.
async fn before_score_state(db: &sea_orm::DatabaseConnection) {
    let all = migration::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == "m20261126_000007_score_state")
        .expect("the score_state migration");
    let steps = u32::try_from(all.len() - at).expect("few migrations");
    migration::Migrator::down(db, Some(steps))
        .await
        .expect("down");
    migration::Migrator::up(db, None).await.expect("up");
}

/// Every lead's scores now, then after a full rescoring: the same.
async fn assert_full_rescoring_changes_nothing(app: &TestApp, t: &Tokens, ids: &[String]) {
    let before = join_all(ids.iter().map(|id| scores(app, t, id))).await;
    let counts = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(
        counts["rescoreLeads"]["leadsRescored"],
        json!(ids.len()),
        "{counts}"
    );
    let after = join_all(ids.iter().map(|id| scores(app, t, id))).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn recorded_scores_are_what_a_full_rescoring_computes() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rules(&app, &t).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let data = app
            .ok(
                &t.marketing,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({"input": {"email": format!("inc{n}@example.com"), "companySize": 50 * n}}),
            )
            .await;
        ids.push(data["createLead"]["id"].as_str().expect("id").to_owned());
    }
    let pricing = json!({"path": "/pricing/enterprise"});
    let blog = json!({"path": "/blog"});
    // One at a time, past and future, on every kind of rule.
    for (n, id) in ids.iter().enumerate() {
        let hours = n as i64;
        for input in [
            item(id, "WEBINAR_ATTENDED", 24 * 31 + hours, json!({})),
            item(id, "WEBINAR_ATTENDED", 7 + hours, json!({})),
            item(id, "CONTENT_DOWNLOAD", 5, json!({})),
            item(id, "PAGE_VISIT", 13 + hours, pricing.clone()),
            item(id, "PAGE_VISIT", 1, blog.clone()),
            item(id, "CONTENT_DOWNLOAD", 3, json!({})),
        ] {
            app.ok(&t.ingest, RECORD, json!({"input": input})).await;
        }
        assert!(steps(&app, id).await.is_some_and(|s| s > 0), "incremental");
    }
    // Batches across the leads, a duplicate key, and a capped rule overflowing.
    let batch: Vec<Value> = ids
        .iter()
        .rev()
        .flat_map(|id| {
            [
                item(id, "CONTENT_DOWNLOAD", 9, json!({})),
                item(id, "CONTENT_DOWNLOAD", 11, json!({})),
                item(id, "PAGE_VISIT", 17, pricing.clone()),
                item(id, "UNSUBSCRIBE", 2, json!({})),
            ]
        })
        .collect();
    let result = app.ok(&t.ingest, BATCH, json!({"inputs": batch})).await;
    assert_eq!(result["recordInteractions"]["recorded"], 16, "{result}");
    assert_full_rescoring_changes_nothing(&app, &t, &ids).await;

    // A future-dated interaction: the write after it is computed in full.
    let id = &ids[1];
    let future = item(id, "WEBINAR_ATTENDED", -49, json!({}));
    app.ok(&t.ingest, RECORD, json!({"input": future})).await;
    let before = steps(&app, id).await.expect("state");
    let next = item(id, "FORM_SUBMIT", 3, json!({}));
    app.ok(&t.ingest, RECORD, json!({"input": next})).await;
    assert_eq!(steps(&app, id).await, Some(0), "after {before}: in full");

    // captureLead records a FORM_SUBMIT for a known and a new email.
    for email in ["inc2@example.com", "inc-new@example.com"] {
        let data = app
            .ok(
                &t.ingest,
                CAPTURE,
                json!({"input": {"lead": {"email": email, "companySize": 300}}}),
            )
            .await;
        let lead_id = data["captureLead"]["leadId"].as_str().expect("id");
        if !ids.iter().any(|id| id == lead_id) {
            ids.push(lead_id.to_owned());
        }
        assert!(steps(&app, lead_id).await.is_some_and(|s| s > 0));
    }
    assert_full_rescoring_changes_nothing(&app, &t, &ids).await;
    let l = scores(&app, &t, &ids[3]).await;
    assert!(l["score"].as_i64().expect("score") > 20, "{l}");
}

#[tokio::test]
async fn rows_without_a_stored_state_and_rule_changes_are_scored_in_full() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let rule_ids = rules(&app, &t).await;
    let id = app.create_lead(&t.marketing, "old@example.com").await;
    let visit = || item(&id, "PAGE_VISIT", 5, json!({"path": "/pricing"}));
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(2));

    // Back to before the migration and up again: the row has no state.
    let db = &app.state.db.write;
    before_score_state(db).await;
    assert_eq!(steps(&app, &id).await, None);
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(0), "scored in full");
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(1), "incremental again");
    // 4 visits × 7, capped at 25 (decay over hours leaves > 24.5).
    assert_eq!(scores(&app, &t, &id).await["score"], 25);

    // Another cap only: the sums still hold.
    let update = |points: i32, cap: i32| {
        json!({"id": rule_ids[3], "input": {"name": "Pricing", "kind": "ENGAGEMENT",
               "points": points, "interactionKind": "PAGE_VISIT", "metadataKey": "path",
               "metadataContains": "pricing", "decayHalfLifeDays": 3, "maxPointsPerLead": cap}})
    };
    app.ok(&t.marketing, UPDATE_RULE, update(7, 100)).await;
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(2));
    // Other points: the sums are recomputed.
    app.ok(&t.marketing, UPDATE_RULE, update(2, 100)).await;
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(0));
    // A new ENGAGEMENT rule, likewise.
    rule(
        &app,
        &t,
        json!({"name": "Call", "kind": "ENGAGEMENT", "points": 3, "interactionKind": "CALL"}),
    )
    .await;
    app.ok(&t.ingest, RECORD, json!({"input": visit()})).await;
    assert_eq!(steps(&app, &id).await, Some(0));
    assert_full_rescoring_changes_nothing(&app, &t, std::slice::from_ref(&id)).await;
}

#[tokio::test]
async fn a_full_rescoring_stores_a_state_where_none_serves() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rules(&app, &t).await;
    let id = app.create_lead(&t.marketing, "bulk@example.com").await;
    let visit = item(&id, "CONTENT_DOWNLOAD", 5, json!({}));
    app.ok(&t.ingest, RECORD, json!({"input": visit})).await;
    let db = &app.state.db.write;
    before_score_state(db).await;
    let before = scores(&app, &t, &id).await;
    // Its scores do not change, its missing state is stored.
    app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(steps(&app, &id).await, Some(0));
    assert_eq!(scores(&app, &t, &id).await, before);
    let again = item(&id, "CONTENT_DOWNLOAD", 2, json!({}));
    app.ok(&t.ingest, RECORD, json!({"input": again})).await;
    assert_eq!(steps(&app, &id).await, Some(1));
}

#[tokio::test]
async fn concurrent_overlapping_batches_neither_deadlock_nor_lose_writes() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rules(&app, &t).await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            app.create_lead(&t.marketing, &format!("batch{n}@example.com"))
                .await,
        );
    }
    // Each batch names every lead, half of them in reverse order: a batch
    // that locked its leads in the order given would deadlock with another.
    let batches = (0..8).map(|b| {
        let mut order: Vec<&String> = ids.iter().collect();
        if b % 2 == 1 {
            order.reverse();
        }
        let inputs: Vec<Value> = order
            .iter()
            .flat_map(|id| {
                [
                    item(id, "CONTENT_DOWNLOAD", 1 + b, json!({})),
                    item(id, "WEBINAR_ATTENDED", 3 + b, json!({})),
                ]
            })
            .collect();
        let (app, token) = (&app, &t.ingest);
        async move { app.gql(token, BATCH, json!({"inputs": inputs})).await }
    });
    for body in join_all(batches).await {
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["recordInteractions"]["recorded"], 24, "{body}");
    }
    for id in &ids {
        let l = scores(&app, &t, id).await;
        // 8 downloads × 15, capped at 40; 8 webinars of hours ago ≈ 79.x.
        assert_eq!(l["scoreBreakdown"][1]["points"], 40, "{l}");
    }
    assert_full_rescoring_changes_nothing(&app, &t, &ids).await;
}

/// The token that names the scoring tables' content (docs/scoring.md, "The
/// scoring context cache").
async fn scoring_version(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.state.db.write;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT token FROM scoring_version WHERE id = 1",
        ))
        .await
        .expect("read scoring_version")
        .expect("one row");
    row.try_get::<i64>("", "token").expect("token")
}

/// Writes keep the scoring context between requests, so a change to the
/// rules, personas or threshold must reach the next write however it was
/// made: here by plain SQL on the database, as another instance, a seed or
/// an operator would, never through this instance's services.
#[tokio::test]
async fn a_write_sees_rule_persona_and_threshold_changes_made_behind_its_back() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let t = app.tokens();
    rule(
        &app,
        &t,
        json!({"name": "Webinar", "kind": "ENGAGEMENT", "points": 10,
               "interactionKind": "WEBINAR_ATTENDED"}),
    )
    .await;
    app.ok(
        &t.marketing,
        "mutation { updateScoringSettings(mqlThreshold: 100000) { mqlThreshold } }",
        json!({}),
    )
    .await;
    let lead = app.lead_at(&t, "cache@example.com", "LEAD").await;
    let record = || {
        app.ok(
            &t.ingest,
            RECORD,
            json!({"input": item(&lead, "WEBINAR_ATTENDED", 1, json!({}))}),
        )
    };
    record().await;
    assert_eq!(scores(&app, &t, &lead).await["engagementScore"], 10);

    let db = &app.state.db.write;
    let app = &app;
    let sql = |sql: &'static str| async move {
        let before = scoring_version(app).await;
        db.execute_unprepared(sql).await.expect(sql);
        assert_ne!(
            scoring_version(app).await,
            before,
            "{sql} left the version alone"
        );
    };
    sql("UPDATE scoring_rule SET points = 25").await;
    record().await;
    assert_eq!(
        scores(app, &t, &lead).await["engagementScore"],
        50,
        "the second write scores both webinars with the new points"
    );

    sql(
        "INSERT INTO persona (name, industries, countries, job_title_keywords, created_at) \
         SELECT 'Anyone', '[]', '[]', '[]', created_at FROM scoring_rule LIMIT 1",
    )
    .await;
    sql("DELETE FROM persona").await;
    sql("UPDATE scoring_settings SET mql_threshold = 1").await;
    record().await;
    let now = scores(app, &t, &lead).await;
    assert_eq!(now["engagementScore"], 75, "{now}");
    assert_eq!(
        now["stage"], "MQL",
        "the write read the new threshold: {now}"
    );
}
