//! mergeLeads and eraseLead (docs/roles.md, docs/errors.md).

use crate::helpers::TestApp;
use serde_json::json;

const MERGE: &str = "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { id email firstName company stage version stageHistory { from to } interactions { totalCount } } }";

#[tokio::test]
async fn merge_moves_history_fills_fields_and_keeps_the_further_stage() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let primary = app.create_lead(&t.marketing, "p@example.com").await;
    let dup = app
        .ok(&t.marketing, "mutation { createLead(input: {email: \"p.dup@example.com\", firstName: \"Pat\", company: \"Dup Inc\"}) { id } }", json!({}))
        .await["createLead"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.ok(
        &t.marketing,
        "mutation($id: ID!) { updateLead(id: $id, input: {company: \"Primary Ltd\"}) { id } }",
        json!({"id": primary}),
    )
    .await;
    app.transition(&t.marketing, &dup, "MQL", None).await;
    for lead in [&primary, &dup] {
        app.ok(&t.marketing, "mutation($id: ID!) { recordInteraction(input: {leadId: $id, kind: PAGE_VISIT}) { id } }", json!({"id": lead}))
            .await;
    }
    for token in [&t.sales, &t.ingest] {
        let body = app.gql(token, MERGE, json!({"p": primary, "d": dup})).await;
        assert!(
            body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
                || body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        );
    }
    let body = app
        .gql(&t.marketing, MERGE, json!({"p": primary, "d": primary}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let data = app
        .ok(&t.marketing, MERGE, json!({"p": primary, "d": dup}))
        .await;
    let lead = &data["mergeLeads"];
    assert_eq!(lead["id"], primary.as_str());
    assert_eq!(lead["email"], "p@example.com");
    assert_eq!(lead["firstName"], "Pat", "empty fields are filled");
    assert_eq!(lead["company"], "Primary Ltd", "filled fields stay");
    assert_eq!(lead["stage"], "MQL", "the more advanced stage");
    assert_eq!(lead["interactions"]["totalCount"], 2);
    let history = lead["stageHistory"].as_array().expect("history");
    assert_eq!(
        history.len(),
        4,
        "both histories and the merge's own change: {history:?}"
    );
    assert_eq!(
        history.last().expect("last"),
        &json!({"from": "LEAD", "to": "MQL"})
    );
    let gone = app
        .ok(
            &t.marketing,
            "query($id: ID!) { lead(id: $id) { id } node(id: $id) { id } }",
            json!({"id": dup}),
        )
        .await;
    assert!(gone["lead"].is_null() && gone["node"].is_null());
    // ADMIN merges too.
    let other = app.create_lead(&t.admin, "o@example.com").await;
    app.ok(&t.admin, MERGE, json!({"p": primary, "d": other}))
        .await;
}

#[tokio::test]
async fn erase_wipes_personal_data_and_frees_the_email() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app
        .ok(&t.marketing, "mutation { createLead(input: {email: \"gdpr@example.com\", firstName: \"Gus\", lastName: \"Dpr\", phone: \"+49 1\", company: \"Co\", jobTitle: \"CTO\", industry: \"Software\", sourceChannel: \"EMAIL\"}) { id } }", json!({}))
        .await["createLead"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.ok(&t.marketing, "mutation($id: ID!) { recordInteraction(input: {leadId: $id, kind: PAGE_VISIT, metadata: {ip: \"10.0.0.1\"}}) { id } }", json!({"id": id}))
        .await;
    app.transition(&t.marketing, &id, "MQL", None).await;
    let erase = "mutation($id: ID!) { eraseLead(id: $id) }";
    for token in [&t.marketing, &t.sales, &t.ingest] {
        let body = app.gql(token, erase, json!({"id": id})).await;
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .expect("code");
        assert!(code == "FORBIDDEN" || code == "NOT_FOUND", "{code}");
    }
    assert_eq!(
        app.ok(&t.admin, erase, json!({"id": id})).await["eraseLead"],
        true
    );
    let lead = app
        .ok(&t.admin, "query($id: ID!) { lead(id: $id) { email firstName lastName phone company jobTitle industry sourceChannel stage stageHistory { to } interactions { edges { node { metadata } } } } }", json!({"id": id}))
        .await;
    let lead = &lead["lead"];
    assert!(!lead["email"].as_str().expect("email").contains("gdpr"));
    for field in ["firstName", "lastName", "phone", "company", "jobTitle"] {
        assert!(lead[field].is_null(), "{field}");
    }
    assert_eq!(lead["industry"], "Software");
    assert_eq!(lead["sourceChannel"], "EMAIL");
    assert_eq!(lead["stage"], "MQL");
    assert_eq!(lead["stageHistory"].as_array().map(Vec::len), Some(2));
    assert!(lead["interactions"]["edges"][0]["node"]["metadata"].is_null());
    app.create_lead(&t.marketing, "gdpr@example.com").await;
}
