//! The stage machine of docs/lifecycle.md through the API: every allowed and every
//! refused move with its code, requirements, versions, history and outbox.

use crate::helpers::{TestApp, Tokens};
use serde_json::{Value, json};

const STAGES: [&str; 6] = [
    "LEAD",
    "MQL",
    "SQL",
    "OPPORTUNITY",
    "CUSTOMER",
    "DISQUALIFIED",
];

/// docs/lifecycle.md, written out: (from, to) → roles allowed.
fn allowed(from: &str, to: &str) -> Option<&'static [&'static str]> {
    Some(match (from, to) {
        ("LEAD", "MQL") => &["ADMIN", "MARKETING"],
        ("MQL", "SQL") => &["ADMIN", "SALES"],
        ("SQL", "OPPORTUNITY") => &["ADMIN", "SALES"],
        ("OPPORTUNITY", "CUSTOMER") => &["ADMIN", "SALES"],
        ("LEAD", "DISQUALIFIED") => &["ADMIN", "MARKETING"],
        ("MQL", "DISQUALIFIED") => &["ADMIN", "MARKETING", "SALES"],
        ("SQL", "DISQUALIFIED") | ("OPPORTUNITY", "DISQUALIFIED") => &["ADMIN", "SALES"],
        ("MQL", "LEAD") => &["ADMIN", "MARKETING", "SALES"],
        ("SQL", "LEAD") => &["ADMIN", "SALES"],
        ("DISQUALIFIED", "LEAD") => &["ADMIN", "MARKETING"],
        _ => return None,
    })
}

fn path_to(stage: &str) -> &'static [&'static str] {
    match stage {
        "LEAD" => &[],
        "MQL" => &["MQL"],
        "SQL" => &["MQL", "SQL"],
        "OPPORTUNITY" => &["MQL", "SQL", "OPPORTUNITY"],
        "CUSTOMER" => &["MQL", "SQL", "OPPORTUNITY", "CUSTOMER"],
        _ => &["DISQUALIFIED"],
    }
}

/// A lead at `stage`, BANT confirmed, owned by `owner` (so SALES sees it).
async fn prepared_lead(app: &TestApp, t: &Tokens, email: &str, stage: &str, owner: &str) -> String {
    let id = app.create_lead(&t.admin, email).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { id } }",
        json!({"id": id}),
    )
    .await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": id, "o": owner}),
    )
    .await;
    for step in path_to(stage) {
        assert_eq!(
            app.transition(&t.admin, &id, step, Some("setup")).await,
            None,
            "setup to {step}"
        );
    }
    id
}

#[tokio::test]
async fn every_transition_for_every_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let sam = app.user_id(&t.sales).await;
    let mut n = 0;
    for from in STAGES {
        for to in STAGES {
            for (role, token) in [
                ("ADMIN", &t.admin),
                ("MARKETING", &t.marketing),
                ("SALES", &t.sales),
                ("INGEST", &t.ingest),
            ] {
                n += 1;
                let id = prepared_lead(&app, &t, &format!("t{n}@example.com"), from, &sam).await;
                let got = app.transition(token, &id, to, Some("because")).await;
                let expected = match (role, allowed(from, to)) {
                    ("INGEST", _) => Some("NOT_FOUND"),
                    (_, Some(roles)) if roles.contains(&role) => None,
                    (_, Some(_)) => Some("FORBIDDEN"),
                    (_, None) => Some("INVALID_TRANSITION"),
                };
                assert_eq!(got.as_deref(), expected, "{role}: {from} -> {to}");
            }
        }
    }
}

#[tokio::test]
async fn mql_to_sql_needs_bant_and_names_what_is_missing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.lead_at(&t, "bant@example.com", "MQL").await;
    app.ok(
        &t.sales,
        "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true}) { stage } }",
        json!({"id": id}),
    )
    .await;
    let body = app
        .gql(
            &t.sales,
            "mutation($id: ID!) { transitionLead(id: $id, to: SQL) { stage } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "INVALID_TRANSITION"
    );
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.ends_with("missing: need, authority"), "{message}");
    // Completing BANT with qualifyLead promotes automatically, by the viewer.
    let data = app
        .ok(
            &t.sales,
            "mutation($id: ID!) { qualifyLead(id: $id, input: {need: true, authority: true, timeline: \"Q3\"}) { stage qualification { budget need authority timeline } stageHistory { from to actor } } }",
            json!({"id": id}),
        )
        .await;
    let lead = &data["qualifyLead"];
    assert_eq!(lead["stage"], "SQL");
    assert_eq!(
        lead["qualification"],
        json!({"budget": true, "need": true, "authority": true, "timeline": "Q3"})
    );
    assert_eq!(
        lead["stageHistory"][2],
        json!({"from": "MQL", "to": "SQL", "actor": "sam@example.com"})
    );
}

#[tokio::test]
async fn reasons_deal_amounts_and_recycling() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "r@example.com").await;
    let body = app
        .gql(
            &t.marketing,
            "mutation($id: ID!) { transitionLead(id: $id, to: DISQUALIFIED) { stage } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    let q = "mutation($id: ID!, $to: LeadStage!, $r: String) { transitionLead(id: $id, to: $to, reason: $r) { stage disqualificationReason } }";
    let data = app
        .ok(
            &t.marketing,
            q,
            json!({"id": id, "to": "DISQUALIFIED", "r": "student"}),
        )
        .await;
    assert_eq!(
        data["transitionLead"],
        json!({"stage": "DISQUALIFIED", "disqualificationReason": "student"})
    );
    let data = app
        .ok(
            &t.marketing,
            q,
            json!({"id": id, "to": "LEAD", "r": "new job"}),
        )
        .await;
    assert_eq!(
        data["transitionLead"],
        json!({"stage": "LEAD", "disqualificationReason": null})
    );

    let sql = app.lead_at(&t, "deal@example.com", "SQL").await;
    let deal = "mutation($id: ID!, $to: LeadStage!, $d: Decimal) { transitionLead(id: $id, to: $to, dealAmount: $d) { stage dealAmount { amount currency } } }";
    for bad in ["12.345", "-5", "abc"] {
        let body = app
            .gql(
                &t.sales,
                deal,
                json!({"id": sql, "to": "OPPORTUNITY", "d": bad}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}"
        );
    }
    let data = app
        .ok(
            &t.sales,
            deal,
            json!({"id": sql, "to": "OPPORTUNITY", "d": "1234.5"}),
        )
        .await;
    assert_eq!(
        data["transitionLead"]["dealAmount"],
        json!({"amount": "1234.50", "currency": "EUR"})
    );
    let data = app
        .ok(
            &t.sales,
            deal,
            json!({"id": sql, "to": "CUSTOMER", "d": "1500.00"}),
        )
        .await;
    assert_eq!(data["transitionLead"]["dealAmount"]["amount"], "1500.00");
    let mql = app.lead_at(&t, "nodeal@example.com", "LEAD").await;
    let body = app
        .gql(
            &t.marketing,
            deal,
            json!({"id": mql, "to": "MQL", "d": "10"}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "dealAmount");
}

#[tokio::test]
async fn versions_history_and_outbox_move_together() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "v@example.com").await;
    let q = "mutation($id: ID!, $v: Int) { transitionLead(id: $id, to: MQL, expectedVersion: $v) { version stageChangedAt createdAt } }";
    assert_eq!(
        app.error_code(&t.marketing, q, json!({"id": id, "v": 7}))
            .await,
        "CONFLICT"
    );
    let data = app.ok(&t.marketing, q, json!({"id": id, "v": 1})).await;
    assert_eq!(data["transitionLead"]["version"], 2);
    assert!(
        data["transitionLead"]["stageChangedAt"].as_str()
            > data["transitionLead"]["createdAt"].as_str()
    );
    let lead = app
        .ok(
            &t.marketing,
            "query($id: ID!) { lead(id: $id) { stageHistory { from to actor reason at } } }",
            json!({"id": id}),
        )
        .await;
    let history = lead["lead"]["stageHistory"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["from"], Value::Null);
    assert_eq!(history[0]["to"], "LEAD");
    assert_eq!(history[1]["from"], "LEAD");
    assert_eq!(history[1]["actor"], "mia@example.com");
    assert!(history[1]["at"].as_str().expect("at").ends_with('Z'));
    assert_eq!(outbox_count(&app).await, 2);
    // A refused change writes nothing.
    assert_eq!(
        app.transition(&t.marketing, &id, "CUSTOMER", None)
            .await
            .as_deref(),
        Some("INVALID_TRANSITION")
    );
    assert_eq!(outbox_count(&app).await, 2);
}

async fn outbox_count(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entity::stage_event::Entity::find()
        .count(&app.state.db.read)
        .await
        .expect("count")
}

#[tokio::test]
async fn concurrent_transitions_of_one_lead_apply_once() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "race@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        let (token, id) = (t.marketing.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            app.transition(&token, &id, "MQL", None).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            None => ok += 1,
            Some(code) => assert!(code == "INVALID_TRANSITION" || code == "CONFLICT", "{code}"),
        }
    }
    assert_eq!(ok, 1);
    let lead = app
        .ok(
            &t.marketing,
            "query($id: ID!) { lead(id: $id) { stage version stageHistory { to } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        lead["lead"]["stageHistory"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(lead["lead"]["version"], 2);
}
