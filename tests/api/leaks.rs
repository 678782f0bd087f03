//! Hidden leads stay hidden on write paths (issue 10, findings 2 and 6): an
//! `externalId` replay answers only for the same lead, a `CONFLICT` names a
//! lead only to who may see it, and a refused merge or erase says nothing
//! about which ids exist.

use crate::helpers::TestApp;
use serde_json::{Value, json};

/// Nothing of `secrets` in the response.
fn reveals_none(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked: {body:#}");
    }
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
