//! The role table of DESIGN.md §2, row by row, with a token of each role.

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
    for id in [&fresh, &mql, &customer] {
        assert!(!sees(&app, &t.ingest, id).await);
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
    assert_eq!(
        app.ok(&t.ingest, q, json!({})).await["leads"]["totalCount"],
        0
    );

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
