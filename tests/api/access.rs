//! The role table of docs/roles.md, row by row, with a token of each role.

use crate::helpers::TestApp;
use serde_json::json;

const LEAD: &str = "query($id: ID!) { lead(id: $id) { id } }";

async fn sees(app: &TestApp, token: &str, id: &str) -> bool {
    let data = app.ok(token, LEAD, json!({"id": id})).await;
    !data["lead"].is_null()
}

#[tokio::test]
async fn leads_visible_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let fresh = app.lead_at(&t, "fresh@example.com", "LEAD").await;
    let mql = app.lead_at(&t, "mql@example.com", "MQL").await;
    let customer = app.lead_at(&t, "won@example.com", "CUSTOMER").await;
    let dq = app.lead_at(&t, "dq@example.com", "DISQUALIFIED").await;
    let sam = app.user_id(&t.sales).await;
    let owned = app.create_lead(&t.admin, "owned@example.com").await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": owned, "o": sam}),
    )
    .await;

    for token in [&t.admin, &t.marketing] {
        for id in [&fresh, &mql, &customer, &dq, &owned] {
            assert!(sees(&app, token, id).await);
        }
    }
    assert!(!sees(&app, &t.sales, &fresh).await);
    assert!(sees(&app, &t.sales, &mql).await);
    assert!(sees(&app, &t.sales, &customer).await);
    assert!(!sees(&app, &t.sales, &dq).await);
    assert!(sees(&app, &t.sales, &owned).await);
    assert!(
        !sees(&app, &t.sales2, &owned).await,
        "owned by another rep, at LEAD"
    );
    // INGEST reads nothing: not even "no such lead" (see ingest_reads_nothing_but_me).
    for id in [&fresh, &mql, &customer] {
        assert_eq!(
            app.error_code(&t.ingest, LEAD, json!({"id": id})).await,
            "FORBIDDEN"
        );
    }

    // The list applies the same rule in SQL, and so does the count.
    let q = "{ leads(first: 100) { totalCount edges { node { email } } } }";
    let sales = app.ok(&t.sales, q, json!({})).await;
    let mut emails: Vec<_> = sales["leads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["email"].clone())
        .collect();
    emails.sort_by_key(|e| e.to_string());
    assert_eq!(
        emails,
        vec![
            json!("mql@example.com"),
            json!("owned@example.com"),
            json!("won@example.com")
        ]
    );
    assert_eq!(sales["leads"]["totalCount"], 3);
    assert_eq!(
        app.ok(&t.marketing, q, json!({})).await["leads"]["totalCount"],
        5
    );
    assert_eq!(app.error_code(&t.ingest, q, json!({})).await, "FORBIDDEN");

    // Invisible behaves like missing, through node() too.
    let node = app
        .ok(
            &t.sales,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": fresh}),
        )
        .await;
    assert!(node["node"].is_null());
    let code = app
        .error_code(
            &t.sales,
            "mutation($id: ID!) { updateLead(id: $id, input: {company: \"X\"}) { id } }",
            json!({"id": fresh}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
}

const UPDATE: &str =
    "mutation($id: ID!) { updateLead(id: $id, input: {company: \"Globex\"}) { company } }";

#[tokio::test]
async fn create_and_update_lead_fields_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for (i, token) in [&t.admin, &t.marketing, &t.sales].into_iter().enumerate() {
        let id = app.create_lead(token, &format!("c{i}@example.com")).await;
        let data = app.ok(token, UPDATE, json!({"id": id})).await;
        assert_eq!(data["updateLead"]["company"], "Globex");
    }
    let code = app
        .error_code(
            &t.ingest,
            "mutation { createLead(input: {email: \"i@example.com\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    // SALES: a lead it creates is its own; a visible unowned lead is fine; one
    // owned by another rep is not.
    let sql = app.lead_at(&t, "sql@example.com", "SQL").await;
    app.ok(&t.sales, UPDATE, json!({"id": sql})).await;
    let sue = app.user_id(&t.sales2).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": sql, "o": sue}),
    )
    .await;
    assert_eq!(
        app.error_code(&t.sales, UPDATE, json!({"id": sql})).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&t.ingest, UPDATE, json!({"id": sql})).await,
        "NOT_FOUND"
    );
    let mine = app
        .ok(
            &t.sales,
            "{ leads { edges { node { email owner { subject } } } } }",
            json!({}),
        )
        .await;
    assert!(
        mine["leads"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|e| e["node"]["email"] == "c2@example.com"
                && e["node"]["owner"]["subject"] == "sam@example.com")
    );
}

const RECORD: &str =
    "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { kind } }";

#[tokio::test]
async fn recording_interactions_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let lead = app.create_lead(&t.admin, "r@example.com").await;
    let mql = app.lead_at(&t, "m@example.com", "MQL").await;
    for token in [&t.admin, &t.marketing, &t.ingest] {
        app.ok(
            token,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT"}}),
        )
        .await;
    }
    // SALES: its three kinds on visible leads it does not leave to others.
    for kind in ["CALL", "MEETING", "EMAIL_REPLY"] {
        app.ok(
            &t.sales,
            RECORD,
            json!({"input": {"leadId": mql, "kind": kind}}),
        )
        .await;
    }
    let code = app
        .error_code(
            &t.sales,
            RECORD,
            json!({"input": {"leadId": mql, "kind": "PAGE_VISIT"}}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .error_code(
            &t.sales,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "CALL"}}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND", "a LEAD-stage lead is invisible to SALES");
    let sue = app.user_id(&t.sales2).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": mql, "o": sue}),
    )
    .await;
    let code = app
        .error_code(
            &t.sales,
            RECORD,
            json!({"input": {"leadId": mql, "kind": "CALL"}}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    // INGEST writes blind: it may not read back the lead of what it recorded.
    let body = app
        .gql(&t.ingest, "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { lead { email } } }",
            json!({"input": {"leadId": lead, "kind": "EMAIL_OPEN"}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // captureLead: ADMIN, MARKETING, INGEST; not SALES (it records a FORM_SUBMIT).
    let capture =
        "mutation($email: String!) { captureLead(input: {lead: {email: $email}}) { created } }";
    for (i, token) in [&t.admin, &t.marketing, &t.ingest].into_iter().enumerate() {
        let data = app
            .ok(
                token,
                capture,
                json!({"email": format!("cap{i}@example.com")}),
            )
            .await;
        assert_eq!(data["captureLead"]["created"], true);
    }
    assert_eq!(
        app.error_code(&t.sales, capture, json!({"email": "capx@example.com"}))
            .await,
        "FORBIDDEN"
    );
}

const QUALIFY: &str = "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true}) { qualification { budget } } }";

#[tokio::test]
async fn qualify_lead_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mql = app.lead_at(&t, "q@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": mql})).await;
    app.ok(&t.sales, QUALIFY, json!({"id": mql})).await;
    assert_eq!(
        app.error_code(&t.marketing, QUALIFY, json!({"id": mql}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&t.ingest, QUALIFY, json!({"id": mql})).await,
        "NOT_FOUND"
    );
    let sue = app.user_id(&t.sales2).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": mql, "o": sue}),
    )
    .await;
    assert_eq!(
        app.error_code(&t.sales, QUALIFY, json!({"id": mql})).await,
        "FORBIDDEN"
    );
    app.ok(&t.sales2, QUALIFY, json!({"id": mql})).await;
}

const ASSIGN: &str =
    "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { owner { subject } version } }";

#[tokio::test]
async fn assign_lead_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let sam = app.user_id(&t.sales).await;
    let sue = app.user_id(&t.sales2).await;
    let mql = app.lead_at(&t, "a@example.com", "MQL").await;

    assert_eq!(
        app.error_code(&t.marketing, ASSIGN, json!({"id": mql, "o": sam}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&t.ingest, ASSIGN, json!({"id": mql, "o": sam}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(&t.sales, ASSIGN, json!({"id": mql, "o": sue}))
            .await,
        "FORBIDDEN",
        "not to someone else"
    );
    let data = app.ok(&t.sales, ASSIGN, json!({"id": mql, "o": sam})).await;
    assert_eq!(
        data["assignLead"]["owner"]["subject"], "sam@example.com",
        "claim an unowned lead"
    );
    assert_eq!(
        app.error_code(&t.sales2, ASSIGN, json!({"id": mql, "o": sue}))
            .await,
        "FORBIDDEN",
        "not a claimed one"
    );
    assert_eq!(
        app.error_code(&t.sales2, ASSIGN, json!({"id": mql, "o": null}))
            .await,
        "FORBIDDEN",
        "not release others'"
    );
    let data = app
        .ok(&t.sales, ASSIGN, json!({"id": mql, "o": null}))
        .await;
    assert!(data["assignLead"]["owner"].is_null(), "release its own");
    let data = app.ok(&t.admin, ASSIGN, json!({"id": mql, "o": sue})).await;
    assert_eq!(data["assignLead"]["owner"]["subject"], "sue@example.com");
    let data = app.ok(&t.admin, ASSIGN, json!({"id": mql, "o": sam})).await;
    assert_eq!(
        data["assignLead"]["owner"]["subject"], "sam@example.com",
        "admin: anyone to anyone"
    );
    let ghost = "VXNlcjo5OTk5"; // User:9999
    assert_eq!(
        app.error_code(&t.admin, ASSIGN, json!({"id": mql, "o": ghost}))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn users_are_listed_for_people_not_for_ingest() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for token in [&t.admin, &t.marketing, &t.sales] {
        app.ok(token, "{ users { subject role } }", json!({})).await;
    }
    assert_eq!(
        app.error_code(&t.ingest, "{ users { subject } }", json!({}))
            .await,
        "FORBIDDEN"
    );
    let me = app.ok(&t.ingest, "{ me { role } }", json!({})).await;
    assert_eq!(me["me"]["role"], "INGEST");
}

const TRANSITION: &str = "mutation($id: ID!, $to: LeadStage!, $reason: String) { transitionLead(id: $id, to: $to, reason: $reason) { stage } }";
const RECORD_CALL: &str =
    "mutation($id: ID!) { recordInteraction(input: {leadId: $id, kind: CALL}) { kind } }";
const STATE: &str = "query($id: ID!) { lead(id: $id) { stage version company owner { subject } interactions { totalCount } } }";

/// docs/roles.md: SALES acts only on its own or unowned leads; another rep's
/// visible lead is read-only to it. With a token of each role.
#[tokio::test]
async fn sales_acts_only_on_its_own_or_unowned_leads() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let sue = app.user_id(&t.sales2).await;
    let mut leads = Vec::new();
    for (i, stage) in ["MQL", "SQL", "OPPORTUNITY"].into_iter().enumerate() {
        let id = app.lead_at(&t, &format!("sue{i}@example.com"), stage).await;
        app.ok(
            &t.admin,
            "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
            json!({"id": id, "o": sue}),
        )
        .await;
        leads.push((stage, id));
    }
    for (stage, id) in &leads {
        let before = app.ok(&t.admin, STATE, json!({"id": id})).await;
        assert!(sees(&app, &t.sales, id).await, "{stage}: visible to Sam");
        // Every change Sam tries on Sue's lead is FORBIDDEN.
        let mut attempts = vec![
            (
                TRANSITION,
                json!({"id": id, "to": "DISQUALIFIED", "reason": "mine now"}),
            ),
            (UPDATE, json!({"id": id})),
            (QUALIFY, json!({"id": id})),
            (RECORD_CALL, json!({"id": id})),
        ];
        match *stage {
            "MQL" => {
                attempts.push((TRANSITION, json!({"id": id, "to": "SQL"})));
                attempts.push((
                    TRANSITION,
                    json!({"id": id, "to": "LEAD", "reason": "recycle"}),
                ));
            }
            "SQL" => {
                attempts.push((TRANSITION, json!({"id": id, "to": "OPPORTUNITY"})));
                attempts.push((
                    TRANSITION,
                    json!({"id": id, "to": "LEAD", "reason": "recycle"}),
                ));
            }
            _ => attempts.push((TRANSITION, json!({"id": id, "to": "CUSTOMER"}))),
        }
        for (q, vars) in &attempts {
            assert_eq!(
                app.error_code(&t.sales, q, vars.clone()).await,
                "FORBIDDEN",
                "{stage}: {q} {vars}"
            );
        }
        // INGEST sees no lead at all: a missing one.
        assert_eq!(
            app.error_code(
                &t.ingest,
                TRANSITION,
                json!({"id": id, "to": "DISQUALIFIED", "reason": "x"})
            )
            .await,
            "NOT_FOUND"
        );
        let after = app.ok(&t.admin, STATE, json!({"id": id})).await;
        assert_eq!(before, after, "{stage}: nothing changed");
    }
    // Sue, the owner, works her SQL; MARKETING edits fields; ADMIN does anything.
    let sql = &leads[1].1;
    assert_eq!(
        app.transition(&t.sales2, sql, "OPPORTUNITY", None).await,
        None
    );
    app.ok(&t.marketing, UPDATE, json!({"id": sql})).await;
    app.ok(&t.sales2, RECORD_CALL, json!({"id": sql})).await;
    assert_eq!(app.transition(&t.admin, sql, "CUSTOMER", None).await, None);
    // An unowned visible lead is Sam's to work, and so is one he owns.
    let unowned = app.lead_at(&t, "free@example.com", "SQL").await;
    app.ok(&t.sales, RECORD_CALL, json!({"id": unowned})).await;
    app.ok(&t.sales, UPDATE, json!({"id": unowned})).await;
    assert_eq!(
        app.transition(&t.sales, &unowned, "OPPORTUNITY", None)
            .await,
        None
    );
    let own = app.create_lead(&t.sales, "own@example.com").await;
    app.ok(&t.sales, UPDATE, json!({"id": own})).await;
    assert_eq!(
        app.transition(&t.sales, &own, "DISQUALIFIED", Some("no budget"))
            .await,
        Some("FORBIDDEN".into()),
        "LEAD -> DISQUALIFIED is MARKETING's (§3), whoever owns it"
    );
}

/// Every query root field of schema/schema.graphql, with arguments, as a
/// query a role may send.
fn every_query_field() -> Vec<(&'static str, &'static str)> {
    vec![
        ("campaigns", "{ campaigns { id name } }"),
        (
            "costPerLead",
            "{ costPerLead(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { key } }",
        ),
        (
            "funnel",
            "{ funnel(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { groups { key } } }",
        ),
        ("lead", "{ lead(id: \"TGVhZDox\") { id } }"),
        (
            "leadRelevance",
            "{ leadRelevance(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { newLeads } }",
        ),
        ("leads", "{ leads { totalCount edges { node { id } } } }"),
        ("me", "{ me { role } }"),
        ("node", "{ node(id: \"TGVhZDox\") { id } }"),
        ("personas", "{ personas { id } }"),
        ("scoringRules", "{ scoringRules { id } }"),
        ("scoringSettings", "{ scoringSettings { mqlThreshold } }"),
        ("users", "{ users { subject } }"),
        ("webhooks", "{ webhooks { edges { node { id } } } }"),
        (
            "webhookDeliveries",
            "{ webhookDeliveries(webhookId: \"V2ViaG9vazox\") { edges { node { id } } } }",
        ),
    ]
}

/// The names of the fields of `type Query` in the checked-in schema.
fn schema_query_fields() -> Vec<String> {
    let sdl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/schema.graphql"
    ))
    .expect("schema/schema.graphql");
    let body = sdl
        .split("type Query {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("type Query");
    let mut fields = Vec::new();
    let mut in_doc = false;
    for line in body.lines().map(str::trim) {
        if line == "\"\"\"" || (line.starts_with("\"\"\"") && !line.ends_with("\"\"\"")) {
            in_doc = !in_doc;
            continue;
        }
        if in_doc || line.is_empty() || line.starts_with('"') {
            continue;
        }
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            fields.push(name);
        }
    }
    fields
}

/// docs/roles.md: INGEST reads nothing — every query root field but `me` is
/// FORBIDDEN for it (not an empty list, not `null`), with no data; the
/// other roles still read, and INGEST still introspects and writes.
#[tokio::test]
async fn ingest_reads_nothing_but_me() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let lead = app.lead_at(&t, "read@example.com", "MQL").await;
    let mut covered: Vec<String> = every_query_field()
        .iter()
        .map(|(f, _)| (*f).to_owned())
        .collect();
    let mut listed = schema_query_fields();
    covered.sort();
    listed.sort();
    assert_eq!(covered, listed, "a query field is missing from this test");

    for (field, query) in every_query_field() {
        let body = app.gql(&t.ingest, query, json!({})).await;
        if field == "me" {
            assert!(body.get("errors").is_none(), "{body}");
            assert_eq!(body["data"]["me"]["role"], "INGEST");
            continue;
        }
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{field}: {body}"
        );
        assert!(
            body["data"].is_null() || body["data"][field].is_null(),
            "{field}: {body}"
        );
    }
    // The real lead, through `lead` and `node`: FORBIDDEN, not null.
    for q in [LEAD, "query($id: ID!) { node(id: $id) { id } }"] {
        let body = app.gql(&t.ingest, q, json!({"id": lead})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{body}"
        );
        assert!(!body.to_string().contains("read@example.com"));
    }
    // `me` beside a forbidden field does not open it.
    let body = app
        .gql(&t.ingest, "{ me { role } leads { totalCount } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["leads"]), "{body}");
    // Nor does a fragment or an alias.
    for q in [
        "query { ...Q } fragment Q on Query { leads { totalCount } }",
        "{ mine: leads { totalCount } }",
        "{ ... on Query { lead(id: \"TGVhZDox\") { id } } }",
    ] {
        assert_eq!(
            app.error_code(&t.ingest, q, json!({})).await,
            "FORBIDDEN",
            "{q}"
        );
    }
    // Introspection stays (the schema is public), and writing works.
    let data = app
        .ok(
            &t.ingest,
            "{ __typename __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    app.ok(
        &t.ingest,
        "mutation($id: ID!) { recordInteraction(input: {leadId: $id, kind: PAGE_VISIT}) { id } }",
        json!({"id": lead}),
    )
    .await;
    // The people still read.
    for token in [&t.admin, &t.marketing, &t.sales] {
        app.ok(token, "{ leads { totalCount } campaigns { name } funnel(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { from } }", json!({})).await;
        assert!(sees(&app, token, &lead).await);
    }
}

/// The same rules over the WebSocket transport: a query sent on the socket
/// is FORBIDDEN to INGEST (`me` answers), and so is a subscription.
#[tokio::test]
async fn ingest_reads_nothing_over_websocket_either() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = async |ws: &mut tokio_tungstenite::WebSocketStream<_>, m: serde_json::Value| {
        ws.send(Message::text(m.to_string())).await.expect("send");
    };
    send(&mut ws, json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", t.ingest)}})).await;
    let recv = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str::<serde_json::Value>(text.as_str()).expect("JSON");
        }
    };
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    for (id, query) in [
        ("q", "{ leads { totalCount } }"),
        ("s", "subscription { leadQualified { cursor } }"),
        ("m", "{ me { role } }"),
    ] {
        send(
            &mut ws,
            json!({"type": "subscribe", "id": id, "payload": {"query": query}}),
        )
        .await;
        let m = recv(&mut ws).await;
        assert_eq!(m["id"], id, "{m}");
        let errors = match m["type"].as_str() {
            Some("error") => m["payload"].clone(),
            _ => m["payload"]["errors"].clone(),
        };
        if id == "m" {
            assert_eq!(m["payload"]["data"]["me"]["role"], "INGEST", "{m}");
        } else {
            assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{m}");
            assert!(m["payload"]["data"]["leads"].is_null(), "{m}");
        }
        if m["type"] == "next" {
            assert_eq!(recv(&mut ws).await["type"], "complete");
        }
    }
}
