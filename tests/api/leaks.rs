//! Hidden leads stay hidden on write paths (issue 10, findings 2 and 6): an
//! `externalId` replay answers only for the same lead, a `CONFLICT` names a
//! lead only to who may see it, and a refused merge or erase says nothing
//! about which ids exist.

use crate::helpers::TestApp;
use serde_json::{Value, json};

const RECORD: &str = "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id kind occurredAt channel externalId metadata } }";
const BATCH: &str = "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }";
const CAPTURE: &str = "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId created interactionId } }";
const INTERACTIONS: &str = "query($id: ID!) { lead(id: $id) { interactions { totalCount edges { node { id kind externalId metadata } } } } }";

/// A lead's interactions as MARKETING sees them.
async fn interactions(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, INTERACTIONS, json!({"id": id})).await["lead"]["interactions"].clone()
}

/// Nothing of `secrets` in the response.
fn reveals_none(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked: {body:#}");
    }
}

#[tokio::test]
async fn an_external_id_of_another_lead_is_a_conflict_with_no_content() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // A lead SALES cannot see (stage LEAD), with a stored interaction.
    let hidden = app.create_lead(&t.marketing, "hidden@example.com").await;
    let stored = app
        .ok(
            &t.marketing,
            RECORD,
            json!({"input": {"leadId": hidden, "kind": "CONTENT_DOWNLOAD", "externalId": "k-1",
                             "occurredAt": "2026-01-02T03:04:05Z", "metadata": {"secret": "s3cret"}}}),
        )
        .await["recordInteraction"]
        .clone();
    let secrets = [
        hidden.as_str(),
        stored["id"].as_str().expect("id"),
        "s3cret",
        "CONTENT_DOWNLOAD",
        "2026-01-02",
    ];
    // SALES on its visible lead, INGEST on any lead: CONFLICT, nothing else.
    let visible = app.lead_at(&t, "visible@example.com", "MQL").await;
    for (token, kind) in [(&t.sales, "CALL"), (&t.ingest, "PAGE_VISIT")] {
        for lead in [
            json!({"leadId": visible}),
            json!({"leadEmail": "visible@example.com"}),
        ] {
            let mut input = json!({"kind": kind, "externalId": "k-1"});
            input
                .as_object_mut()
                .expect("object")
                .extend(lead.as_object().expect("object").clone());
            let body = app.gql(token, RECORD, json!({"input": input})).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "CONFLICT",
                "{body}"
            );
            assert_eq!(
                body["errors"][0]["extensions"]["field"], "input.externalId",
                "{body}"
            );
            assert!(
                body["errors"][0]["extensions"].get("leadId").is_none(),
                "{body}"
            );
            assert!(body["data"].is_null(), "{body}");
            assert!(
                body["errors"][0]["message"]
                    .as_str()
                    .expect("message")
                    .contains("externalId"),
                "{body}"
            );
            reveals_none(&body, &secrets);
        }
    }
    assert_eq!(
        interactions(&app, &t.marketing, &visible).await["totalCount"],
        0
    );

    // The writer's own replay on the same lead is the stored interaction.
    let again = app
        .ok(
            &t.marketing,
            RECORD,
            json!({"input": {"leadId": hidden, "kind": "CONTENT_DOWNLOAD", "externalId": "k-1"}}),
        )
        .await;
    assert_eq!(again["recordInteraction"], stored);
    assert_eq!(
        interactions(&app, &t.marketing, &hidden).await["totalCount"],
        1
    );
}

#[tokio::test]
async fn ingest_replays_are_acknowledged_without_reading_back() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let lead = app.create_lead(&t.marketing, "blind@example.com").await;
    let sent = json!({"leadId": lead, "kind": "EMAIL_OPEN", "externalId": "esp-1",
                      "occurredAt": "2026-03-01T10:00:00Z", "metadata": {"mail": "m-1"}});
    let first =
        app.ok(&t.ingest, RECORD, json!({"input": sent})).await["recordInteraction"].clone();
    assert_eq!(first["kind"], "EMAIL_OPEN");
    assert_eq!(first["metadata"], json!({"mail": "m-1"}));
    // The same write again: acknowledged, the same id, what was sent.
    let again = app.ok(&t.ingest, RECORD, json!({"input": sent})).await;
    assert_eq!(again["recordInteraction"], first);

    // MARKETING's interaction on the same lead: INGEST replaying its key is
    // acknowledged with what INGEST itself sent, never the stored content.
    app.ok(
        &t.marketing,
        RECORD,
        json!({"input": {"leadId": lead, "kind": "EMAIL_OPEN", "externalId": "esp-2",
                         "occurredAt": "2026-01-01T00:00:00Z", "metadata": {"note": "private"}}}),
    )
    .await;
    let body = app
        .gql(
            &t.ingest,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "EMAIL_OPEN", "externalId": "esp-2",
                             "occurredAt": "2026-03-02T00:00:00Z", "metadata": {"mail": "m-2"}}}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let echoed = &body["data"]["recordInteraction"];
    assert_eq!(echoed["metadata"], json!({"mail": "m-2"}));
    assert_eq!(echoed["occurredAt"], "2026-03-02T00:00:00Z");
    reveals_none(&body, &["private", "2026-01-01"]);
    // Returning the lead would be a read: FORBIDDEN, also on a fresh write.
    let body = app
        .gql(
            &t.ingest,
            "mutation($id: ID!) { recordInteraction(input: {leadId: $id, kind: PAGE_VISIT}) { id lead { email } } }",
            json!({"id": lead}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    reveals_none(&body, &["blind@example.com"]);
    // Nothing was recorded twice, nothing overwritten.
    let stored = interactions(&app, &t.marketing, &lead).await;
    assert_eq!(stored["totalCount"], 3);
    assert!(stored.to_string().contains("private"));
}

#[tokio::test]
async fn capture_with_another_leads_external_id_is_a_conflict_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let first = app
        .ok(
            &t.ingest,
            CAPTURE,
            json!({"input": {"lead": {"email": "pat@example.com", "firstName": "Pat"}, "externalId": "form-1"}}),
        )
        .await["captureLead"]
        .clone();
    assert_eq!(first["created"], true);
    let pat = first["leadId"].as_str().expect("id").to_owned();

    // A new person with Pat's form key: refused, and not silently dropped.
    for email in ["kim@example.com", "old@example.com"] {
        if email == "old@example.com" {
            app.create_lead(&t.marketing, email).await;
        }
        let body = app
            .gql(
                &t.ingest,
                CAPTURE,
                json!({"input": {"lead": {"email": email, "firstName": "Kim"}, "externalId": "form-1"}}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "{body}"
        );
        assert!(body["data"].is_null(), "{body}");
        reveals_none(&body, &[&pat, first["interactionId"].as_str().expect("id")]);
    }
    let data = app
        .ok(
            &t.marketing,
            "{ leads { totalCount edges { node { email firstName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["leads"]["totalCount"], 2, "no lead for kim: {data}");
    assert!(
        !data.to_string().contains("Kim"),
        "old@ gained nothing: {data}"
    );

    // Pat's own form again: the same lead and interaction, nothing new.
    let again = app
        .ok(
            &t.ingest,
            CAPTURE,
            json!({"input": {"lead": {"email": "pat@example.com"}, "externalId": "form-1"}}),
        )
        .await;
    assert_eq!(
        again["captureLead"],
        json!({"leadId": pat, "created": false, "interactionId": first["interactionId"]})
    );
    assert_eq!(
        interactions(&app, &t.marketing, &pat).await["totalCount"],
        1
    );
}

#[tokio::test]
async fn batch_duplicates_count_only_replays_on_the_same_lead() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let hidden = app.create_lead(&t.marketing, "hidden@example.com").await;
    app.ok(
        &t.marketing,
        RECORD,
        json!({"input": {"leadId": hidden, "kind": "PAGE_VISIT", "externalId": "h-1"}}),
    )
    .await;
    let mine = app.lead_at(&t, "mine@example.com", "SQL").await;
    for (token, kind) in [(&t.sales, "CALL"), (&t.ingest, "EMAIL_CLICK")] {
        let inputs = json!([
            {"leadId": mine, "kind": kind, "externalId": "h-1"},
            {"leadId": mine, "kind": kind, "externalId": format!("{kind}-1")},
            {"leadId": mine, "kind": kind, "externalId": format!("{kind}-1")},
            {"leadId": mine, "kind": kind},
            {"leadId": hidden, "kind": kind, "externalId": format!("{kind}-1")},
        ]);
        let body = app.gql(token, BATCH, json!({"inputs": inputs})).await;
        assert!(body.get("errors").is_none(), "{body}");
        let result = &body["data"]["recordInteractions"];
        assert_eq!(result["recorded"], 2, "{kind}: {result}");
        assert_eq!(
            result["duplicates"], 1,
            "{kind}: only the repeat on the same lead"
        );
        let errors: Vec<(i64, &str)> = result["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| {
                (
                    e["index"].as_i64().expect("index"),
                    e["code"].as_str().expect("code"),
                )
            })
            .collect();
        // Index 4: SALES cannot see the lead (NOT_FOUND); INGEST may write
        // there, but the key is the SQL lead's (CONFLICT).
        let fourth = if kind == "CALL" {
            "NOT_FOUND"
        } else {
            "CONFLICT"
        };
        assert_eq!(
            errors,
            vec![(0, "CONFLICT"), (4, fourth)],
            "{kind}: {result}"
        );
        reveals_none(&body, &[&hidden]);
        // The same batch again: the good items are now replays.
        let again = app.gql(token, BATCH, json!({"inputs": inputs})).await;
        let result = &again["data"]["recordInteractions"];
        assert_eq!(result["recorded"], 1, "{kind}: the keyless item: {result}");
        assert_eq!(result["duplicates"], 2, "{kind}: {result}");
    }
    assert_eq!(
        interactions(&app, &t.marketing, &mine).await["totalCount"],
        6
    );
    assert_eq!(
        interactions(&app, &t.marketing, &hidden).await["totalCount"],
        1
    );
}

#[tokio::test]
async fn a_duplicate_email_names_the_lead_only_to_who_may_see_it() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let create = "mutation($e: String!) { createLead(input: {email: $e}) { id } }";
    let hidden = app.create_lead(&t.marketing, "hidden@example.com").await;
    let visible = app.lead_at(&t, "visible@example.com", "MQL").await;

    let body = app
        .gql(&t.sales, create, json!({"e": "Hidden@Example.com"}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "CONFLICT",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "input.email",
        "{body}"
    );
    assert!(
        body["errors"][0]["extensions"].get("leadId").is_none(),
        "{body}"
    );
    reveals_none(&body, &[&hidden]);

    for (token, email, id) in [
        (&t.sales, "visible@example.com", &visible),
        (&t.marketing, "hidden@example.com", &hidden),
        (&t.admin, "visible@example.com", &visible),
    ] {
        let body = app.gql(token, create, json!({"e": email})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["leadId"],
            id.as_str(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn refused_merges_and_erasures_say_nothing_about_which_ids_exist() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let merge = "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { id } }";
    let erase = "mutation($id: ID!) { eraseLead(id: $id) }";
    let visible = app.lead_at(&t, "visible@example.com", "MQL").await;
    let hidden = app.create_lead(&t.marketing, "hidden@example.com").await;
    let missing = "TGVhZDo5OTk5OTk"; // Lead:999999

    // Roles that may not merge or erase: FORBIDDEN whatever the ids name.
    for token in [&t.sales, &t.ingest] {
        for (p, d) in [
            (visible.as_str(), hidden.as_str()),
            (&visible, missing),
            (&hidden, &visible),
            (missing, &visible),
        ] {
            assert_eq!(
                app.error_code(token, merge, json!({"p": p, "d": d})).await,
                "FORBIDDEN",
                "{p} {d}"
            );
        }
    }
    for token in [&t.marketing, &t.sales, &t.ingest] {
        for id in [visible.as_str(), &hidden, missing] {
            assert_eq!(
                app.error_code(token, erase, json!({"id": id})).await,
                "FORBIDDEN",
                "{id}"
            );
        }
    }
    // Roles that may: a missing lead is NOT_FOUND; nothing was changed.
    assert_eq!(
        app.error_code(&t.marketing, merge, json!({"p": visible, "d": missing}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(&t.admin, erase, json!({"id": missing}))
            .await,
        "NOT_FOUND"
    );
    let data = app
        .ok(&t.marketing, "{ leads { totalCount } }", json!({}))
        .await;
    assert_eq!(data["leads"]["totalCount"], 2);
}

/// Concurrent writers racing for one key on different leads: exactly one
/// records it, every other one is told CONFLICT — never a duplicate.
#[tokio::test]
async fn a_key_raced_for_by_several_leads_is_recorded_once_and_conflicts_elsewhere() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut leads = Vec::new();
    for i in 0..8 {
        leads.push(
            app.create_lead(&t.marketing, &format!("race{i}@example.com"))
                .await,
        );
    }
    let writes = leads.iter().enumerate().map(|(i, lead)| {
        let (app, token) = (&app, &t.ingest);
        async move {
            if i % 2 == 0 {
                let body = app
                    .gql(
                        token,
                        BATCH,
                        json!({"inputs": [{"leadId": lead, "kind": "PAGE_VISIT", "externalId": "race-1"}]}),
                    )
                    .await;
                let result = &body["data"]["recordInteractions"];
                assert_eq!(result["duplicates"], 0, "{body}");
                match result["recorded"].as_i64() {
                    Some(1) => true,
                    _ => {
                        assert_eq!(result["errors"][0]["code"], "CONFLICT", "{body}");
                        false
                    }
                }
            } else {
                let body = app
                    .gql(
                        token,
                        RECORD,
                        json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "externalId": "race-1"}}),
                    )
                    .await;
                match body["errors"][0]["extensions"]["code"].as_str() {
                    None => true,
                    Some(code) => {
                        assert_eq!(code, "CONFLICT", "{body}");
                        false
                    }
                }
            }
        }
    });
    let won = futures::future::join_all(writes).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let mut total = 0;
    for lead in &leads {
        total += interactions(&app, &t.marketing, lead).await["totalCount"]
            .as_i64()
            .expect("count");
    }
    assert_eq!(total, 1);
}
