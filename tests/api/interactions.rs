//! Interactions: single, batched and captured; idempotent on externalId;
//! listed newest first with cursors.

use crate::helpers::TestApp;
use serde_json::{Value, json};

const RECORD: &str = "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id kind occurredAt channel externalId metadata lead { email } } }";
const BATCH: &str = "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }";

#[tokio::test]
async fn record_by_id_or_email_exactly_one() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "i@example.com").await;
    let data = app
        .ok(
            &t.marketing,
            RECORD,
            json!({"input": {"leadId": id, "kind": "CONTENT_DOWNLOAD", "channel": "CONTENT",
            "occurredAt": "2026-11-01T10:00:00+01:00", "metadata": {"asset": "whitepaper.pdf"}}}),
        )
        .await;
    let rec = &data["recordInteraction"];
    assert_eq!(rec["kind"], "CONTENT_DOWNLOAD");
    assert_eq!(rec["occurredAt"], "2026-11-01T09:00:00Z", "returned in UTC");
    assert_eq!(rec["metadata"], json!({"asset": "whitepaper.pdf"}));
    assert_eq!(rec["lead"]["email"], "i@example.com");
    let data = app
        .ok(
            &t.marketing,
            RECORD,
            json!({"input": {"leadEmail": " I@Example.com", "kind": "PAGE_VISIT"}}),
        )
        .await;
    assert_eq!(data["recordInteraction"]["lead"]["email"], "i@example.com");

    let bad = [
        (json!({"kind": "PAGE_VISIT"}), "input.leadId"),
        (
            json!({"leadId": id, "leadEmail": "i@example.com", "kind": "PAGE_VISIT"}),
            "input.leadId",
        ),
        (
            json!({"leadId": id, "kind": "PAGE_VISIT", "metadata": [1, 2]}),
            "input.metadata",
        ),
        (
            json!({"leadId": id, "kind": "PAGE_VISIT", "metadata": {"x": "y".repeat(17 * 1024)}}),
            "input.metadata",
        ),
        (
            json!({"leadId": id, "kind": "PAGE_VISIT", "externalId": "e".repeat(300)}),
            "input.externalId",
        ),
        (
            json!({"leadEmail": "broken", "kind": "PAGE_VISIT"}),
            "input.leadEmail",
        ),
    ];
    for (input, field) in bad {
        let body = app.gql(&t.marketing, RECORD, json!({"input": input})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{field}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let body = app
        .gql(
            &t.marketing,
            RECORD,
            json!({"input": {"leadEmail": "nobody@example.com", "kind": "PAGE_VISIT"}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(count(&app, &t.marketing, &id).await, 2);
}

async fn count(app: &TestApp, token: &str, id: &str) -> i64 {
    let data = app
        .ok(
            token,
            "query($id: ID!) { lead(id: $id) { interactions { totalCount } } }",
            json!({"id": id}),
        )
        .await;
    data["lead"]["interactions"]["totalCount"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn external_ids_make_retries_harmless() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "e@example.com").await;
    let input = json!({"input": {"leadId": id, "kind": "EMAIL_CLICK", "externalId": "esp-42"}});
    let first = app
        .ok(
            &t.ingest,
            "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id } }",
            input.clone(),
        )
        .await;
    let again = app
        .ok(
            &t.ingest,
            "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id } }",
            input,
        )
        .await;
    assert_eq!(first, again);
    let batch = json!({"inputs": [
        {"leadId": id, "kind": "EMAIL_OPEN", "externalId": "esp-42"},
        {"leadId": id, "kind": "EMAIL_OPEN", "externalId": "esp-43"},
        {"leadId": id, "kind": "EMAIL_OPEN", "externalId": "esp-43"},
    ]});
    let data = app.ok(&t.ingest, BATCH, batch.clone()).await;
    assert_eq!(
        data["recordInteractions"],
        json!({"recorded": 1, "duplicates": 2, "errors": []})
    );
    let data = app.ok(&t.ingest, BATCH, batch).await;
    assert_eq!(
        data["recordInteractions"],
        json!({"recorded": 0, "duplicates": 3, "errors": []})
    );
    assert_eq!(count(&app, &t.marketing, &id).await, 2);
}

#[tokio::test]
async fn batches_report_bad_items_by_index_and_record_the_rest() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "b@example.com").await;
    let inputs = json!([
        {"leadId": id, "kind": "PAGE_VISIT"},
        {"leadEmail": "ghost@example.com", "kind": "PAGE_VISIT"},
        {"leadId": id, "kind": "PAGE_VISIT", "metadata": "not an object"},
        {"leadEmail": "b@example.com", "kind": "WEBINAR_ATTENDED"},
        {"kind": "PAGE_VISIT"},
    ]);
    let data = app.ok(&t.marketing, BATCH, json!({"inputs": inputs})).await;
    let result = &data["recordInteractions"];
    assert_eq!(result["recorded"], 2);
    assert_eq!(result["duplicates"], 0);
    let errors: Vec<(i64, String)> = result["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["index"].as_i64().expect("index"),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (1, "NOT_FOUND".into()),
            (2, "BAD_USER_INPUT".into()),
            (4, "BAD_USER_INPUT".into())
        ]
    );
    assert_eq!(count(&app, &t.marketing, &id).await, 2);

    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"leadId": id, "kind": "PAGE_VISIT"}))
        .collect();
    let body = app
        .gql(&t.marketing, BATCH, json!({"inputs": too_many}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
    assert_eq!(
        count(&app, &t.marketing, &id).await,
        2,
        "an over-long batch records nothing"
    );
    let thousand: Vec<Value> = (0..1000)
        .map(|_| json!({"leadId": id, "kind": "PAGE_VISIT"}))
        .collect();
    let data = app
        .ok(&t.marketing, BATCH, json!({"inputs": thousand}))
        .await;
    assert_eq!(data["recordInteractions"]["recorded"], 1000);
}

#[tokio::test]
async fn capture_upserts_by_email() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let q = "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId created interactionId } }";
    let data = app
        .ok(&t.ingest, q, json!({"input": {"lead": {"email": "Form@Example.com", "firstName": "Fay", "sourceChannel": "SOCIAL"}, "externalId": "form-1", "metadata": {"form": "demo"}}}))
        .await;
    let first = data["captureLead"].clone();
    assert_eq!(first["created"], true);
    let id = first["leadId"].as_str().expect("id").to_owned();
    // The lead moves on and gets an owner; a second form keeps both.
    app.transition(&t.marketing, &id, "MQL", None).await;
    let sam = app.user_id(&t.sales).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": id, "o": sam}),
    )
    .await;
    let data = app
        .ok(&t.ingest, q, json!({"input": {"lead": {"email": "form@example.com", "firstName": "Other", "company": "Fabrikam", "country": "fr"}}}))
        .await;
    assert_eq!(data["captureLead"]["created"], false);
    assert_eq!(data["captureLead"]["leadId"], id.as_str());
    let lead = app
        .ok(&t.marketing, "query($id: ID!) { lead(id: $id) { firstName company country stage sourceChannel owner { subject } interactions { edges { node { kind externalId metadata } } } } }", json!({"id": id}))
        .await;
    let lead = &lead["lead"];
    assert_eq!(lead["firstName"], "Fay", "existing attributes stay");
    assert_eq!(lead["company"], "Fabrikam", "missing attributes are gained");
    assert_eq!(lead["country"], "FR");
    assert_eq!(lead["stage"], "MQL");
    assert_eq!(lead["sourceChannel"], "SOCIAL");
    assert_eq!(lead["owner"]["subject"], "sam@example.com");
    let kinds: Vec<_> = lead["interactions"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("FORM_SUBMIT"), json!("FORM_SUBMIT")]);
    // The same externalId again records nothing.
    let again = app
        .ok(
            &t.ingest,
            q,
            json!({"input": {"lead": {"email": "form@example.com"}, "externalId": "form-1"}}),
        )
        .await;
    assert_eq!(
        again["captureLead"]["interactionId"],
        first["interactionId"]
    );
    assert_eq!(count(&app, &t.marketing, &id).await, 2);
    let body = app
        .gql(&t.ingest, q, json!({"input": {"lead": {"email": "bad"}}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.lead.email");
}

#[tokio::test]
async fn interactions_are_newest_first_with_cursors_and_kinds() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "h@example.com").await;
    let other = app.create_lead(&t.marketing, "o@example.com").await;
    let mut inputs = Vec::new();
    for day in 1..=25 {
        let kind = if day % 5 == 0 {
            "DEMO_REQUEST"
        } else {
            "PAGE_VISIT"
        };
        inputs.push(json!({"leadId": id, "kind": kind, "occurredAt": format!("2026-10-{day:02}T12:00:00Z")}));
        inputs.push(json!({"leadId": other, "kind": "PAGE_VISIT", "occurredAt": format!("2026-10-{day:02}T12:00:00Z")}));
    }
    app.ok(&t.marketing, BATCH, json!({"inputs": inputs})).await;
    let q = "query($id: ID!, $after: String, $kinds: [InteractionKind!]) { lead(id: $id) { interactions(first: 10, after: $after, kinds: $kinds) { totalCount edges { node { occurredAt kind } } pageInfo { hasNextPage endCursor } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let data = app
            .ok(&t.marketing, q, json!({"id": id, "after": after}))
            .await;
        let conn = &data["lead"]["interactions"];
        assert_eq!(conn["totalCount"], 25);
        seen.extend(
            conn["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["occurredAt"].as_str().expect("t").to_owned()),
        );
        if !conn["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (1..=25)
        .rev()
        .map(|d| format!("2026-10-{d:02}T12:00:00Z"))
        .collect();
    assert_eq!(seen, expected);
    let data = app
        .ok(
            &t.marketing,
            q,
            json!({"id": id, "kinds": ["DEMO_REQUEST"]}),
        )
        .await;
    assert_eq!(data["lead"]["interactions"]["totalCount"], 5);
    assert_eq!(
        data["lead"]["interactions"]["edges"][0]["node"]["occurredAt"],
        "2026-10-25T12:00:00Z"
    );
    // Many leads at once, each with its own newest interactions.
    let page = app
        .ok(&t.marketing, "{ leads(first: 10) { edges { node { email interactions(first: 2) { edges { node { occurredAt } } pageInfo { hasNextPage } } } } } }", json!({}))
        .await;
    for edge in page["leads"]["edges"].as_array().expect("edges") {
        let conn = &edge["node"]["interactions"];
        assert_eq!(conn["edges"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            conn["edges"][0]["node"]["occurredAt"],
            "2026-10-25T12:00:00Z"
        );
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    }
}
