//! Leads: creation and update with the input rules of docs/errors.md, filters,
//! and keyset pagination with no duplicate or gap under every order.

use crate::helpers::TestApp;
use serde_json::{Value, json};
use std::collections::HashSet;

const CREATE: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id email country companySize sourceChannel stage score version } }";

#[tokio::test]
async fn create_normalises_and_defaults() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let data = app
        .ok(&t.marketing, CREATE, json!({"input": {"email": "  Grace.Hopper@Navy.MIL ", "country": "us", "companySize": 250}}))
        .await;
    assert_eq!(
        data["createLead"],
        json!({"id": data["createLead"]["id"], "email": "grace.hopper@navy.mil", "country": "US", "companySize": 250,
               "sourceChannel": "DIRECT", "stage": "LEAD", "score": 0, "version": 1})
    );
    let data = app
        .ok(
            &t.marketing,
            CREATE,
            json!({"input": {"email": "w@example.com", "sourceChannel": "WEBINAR"}}),
        )
        .await;
    assert_eq!(data["createLead"]["sourceChannel"], "WEBINAR");
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_naming_the_lead() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "dup@example.com").await;
    let body = app
        .gql(
            &t.marketing,
            CREATE,
            json!({"input": {"email": "DUP@example.com "}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
    assert_eq!(body["errors"][0]["extensions"]["leadId"], id.as_str());
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let long = "x".repeat(257);
    let cases = [
        (json!({"email": "not-an-email"}), "input.email"),
        (json!({"email": "a@b"}), "input.email"),
        (
            json!({"email": "ok@example.com", "country": "XX"}),
            "input.country",
        ),
        (
            json!({"email": "ok@example.com", "country": "Germany"}),
            "input.country",
        ),
        (
            json!({"email": "ok@example.com", "companySize": -1}),
            "input.companySize",
        ),
        (
            json!({"email": "ok@example.com", "firstName": long}),
            "input.firstName",
        ),
        (
            json!({"email": "ok@example.com", "company": long}),
            "input.company",
        ),
        (
            json!({"email": "ok@example.com", "sourceCampaignId": "garbage"}),
            "input.sourceCampaignId",
        ),
    ];
    for (input, field) in cases {
        let body = app.gql(&t.marketing, CREATE, json!({"input": input})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{input}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    let count = app
        .ok(&t.marketing, "{ leads { totalCount } }", json!({}))
        .await;
    assert_eq!(count["leads"]["totalCount"], 0);
    // Wrong types never reach a resolver and still carry a code.
    let body = app
        .gql(&t.marketing, CREATE, json!({"input": {"email": 42}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn update_sets_clears_and_guards_versions() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "u@example.com").await;
    let q = "mutation($id: ID!, $input: UpdateLeadInput!, $v: Int) { updateLead(id: $id, input: $input, expectedVersion: $v) { firstName company country version updatedAt } }";
    let data = app.ok(&t.marketing, q, json!({"id": id, "input": {"firstName": "Ada", "company": "ACME", "country": "gb"}, "v": 1})).await;
    assert_eq!(data["updateLead"]["firstName"], "Ada");
    assert_eq!(data["updateLead"]["country"], "GB");
    assert_eq!(data["updateLead"]["version"], 2);
    let data = app
        .ok(
            &t.marketing,
            q,
            json!({"id": id, "input": {"company": null}}),
        )
        .await;
    assert_eq!(data["updateLead"]["company"], Value::Null);
    assert_eq!(
        data["updateLead"]["firstName"], "Ada",
        "untouched fields stay"
    );
    let body = app
        .gql(
            &t.marketing,
            q,
            json!({"id": id, "input": {"firstName": "Eve"}, "v": 2}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
    let body = app
        .gql(
            &t.marketing,
            q,
            json!({"id": id, "input": {"country": "ZZ"}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.country");
    let body = app
        .gql(&t.marketing, q, json!({"id": "TGVhZDo5OTk5", "input": {}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let body = app
        .gql(&t.marketing, q, json!({"id": "nonsense", "input": {}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn lookups_by_id_and_node() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.marketing, "n@example.com").await;
    let data = app
        .ok(&t.marketing, "query($id: ID!) { node(id: $id) { id ... on Lead { email } } lead(id: $id) { email } }", json!({"id": id}))
        .await;
    assert_eq!(data["node"]["email"], "n@example.com");
    assert_eq!(data["lead"]["email"], "n@example.com");
    let me = app.ok(&t.marketing, "{ me { id } }", json!({})).await;
    let node = app
        .ok(
            &t.marketing,
            "query($id: ID!) { node(id: $id) { ... on User { subject } } }",
            json!({"id": me["me"]["id"]}),
        )
        .await;
    assert_eq!(node["node"]["subject"], "mia@example.com");
    for missing in ["TGVhZDo5OTk5", "garbage", ""] {
        let data = app
            .ok(
                &t.marketing,
                "query($id: ID!) { node(id: $id) { id } lead(id: $id) { id } }",
                json!({"id": missing}),
            )
            .await;
        assert!(
            data["node"].is_null() && data["lead"].is_null(),
            "{missing}"
        );
    }
}

async fn ids_of(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let data = app
        .ok(token, "query($f: LeadFilter) { leads(first: 100, filter: $f) { totalCount edges { node { email } } } }", json!({"f": filter}))
        .await;
    let mut emails: Vec<String> = data["leads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["email"].as_str().expect("email").to_owned())
        .collect();
    assert_eq!(
        data["leads"]["totalCount"].as_u64(),
        Some(emails.len() as u64),
        "totalCount agrees with {filter}"
    );
    emails.sort();
    emails
}

#[tokio::test]
async fn every_filter_field() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let create = |email: &'static str, extra: Value| {
        let mut input = json!({"email": email});
        if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
            i.extend(e.clone());
        }
        let (app, token) = (&app, t.marketing.clone());
        async move {
            app.ok(&token, CREATE, json!({"input": input})).await["createLead"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    };
    let before = chrono::Utc::now();
    let a = create(
        "alice@acme.com",
        json!({"firstName": "Alice", "company": "ACME 100%", "sourceChannel": "SOCIAL"}),
    )
    .await;
    let b = create(
        "bob@globex.com",
        json!({"lastName": "Builder", "sourceChannel": "PAID_SEARCH"}),
    )
    .await;
    let _c = create("carol@initech.com", json!({"company": "Initech"})).await;
    let after = chrono::Utc::now();
    app.transition(&t.marketing, &a, "MQL", None).await;
    let sam = app.user_id(&t.sales).await;
    app.ok(
        &t.admin,
        "mutation($id: ID!, $o: ID) { assignLead(id: $id, ownerId: $o) { id } }",
        json!({"id": b, "o": sam}),
    )
    .await;

    let all = vec!["alice@acme.com", "bob@globex.com", "carol@initech.com"];
    assert_eq!(ids_of(&app, &t.marketing, json!({})).await, all);
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"stages": ["MQL"]})).await,
        vec!["alice@acme.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"stages": ["LEAD", "MQL"]})).await,
        all
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"ownerId": sam})).await,
        vec!["bob@globex.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"unassigned": true})).await,
        vec!["alice@acme.com", "carol@initech.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"unassigned": false})).await,
        vec!["bob@globex.com"]
    );
    assert_eq!(
        ids_of(
            &app,
            &t.marketing,
            json!({"channels": ["SOCIAL", "PAID_SEARCH"]})
        )
        .await,
        vec!["alice@acme.com", "bob@globex.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"scoreMin": 0, "scoreMax": 0})).await,
        all
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"scoreMin": 1}))
            .await
            .is_empty()
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"scoreMax": -1}))
            .await
            .is_empty()
    );
    let ts = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    assert_eq!(
        ids_of(
            &app,
            &t.marketing,
            json!({"createdFrom": ts(before), "createdTo": ts(after)})
        )
        .await,
        all
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"createdFrom": ts(after)}))
            .await
            .is_empty()
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"createdTo": ts(before)}))
            .await
            .is_empty()
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"search": "ALICE"})).await,
        vec!["alice@acme.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"search": "builder"})).await,
        vec!["bob@globex.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"search": "initech"})).await,
        vec!["carol@initech.com"]
    );
    assert_eq!(
        ids_of(&app, &t.marketing, json!({"search": "100%"})).await,
        vec!["alice@acme.com"]
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"search": "%"}))
            .await
            .len()
            == 1,
        "% is literal"
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"search": "_"}))
            .await
            .is_empty(),
        "_ is literal"
    );
    assert!(
        ids_of(&app, &t.marketing, json!({"personaIds": ["UGVyc29uYTox"]}))
            .await
            .is_empty()
    );
    assert!(
        ids_of(
            &app,
            &t.marketing,
            json!({"campaignIds": ["Q2FtcGFpZ246MQ"]})
        )
        .await
        .is_empty()
    );
    let body = app
        .gql(
            &t.marketing,
            "{ leads(filter: {ownerId: \"junk\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Filters narrow the viewer's scope; they never widen it.
    assert_eq!(
        ids_of(&app, &t.sales, json!({})).await,
        vec!["alice@acme.com", "bob@globex.com"]
    );
    assert!(
        ids_of(
            &app,
            &t.sales,
            json!({"stages": ["LEAD"], "unassigned": true})
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for q in [
        "{ leads(first: 101) { totalCount } }",
        "{ leads(first: -1) { totalCount } }",
    ] {
        let body = app.gql(&t.marketing, q, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{q}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], "first");
    }
    let body = app
        .gql(
            &t.marketing,
            "{ leads(after: \"bogus\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    app.create_lead(&t.marketing, "p1@example.com").await;
    app.create_lead(&t.marketing, "p2@example.com").await;
    let page = app.ok(&t.marketing, "{ leads(first: 1, orderBy: {field: SCORE, direction: DESC}) { pageInfo { endCursor } } }", json!({})).await;
    let cursor = page["leads"]["pageInfo"]["endCursor"].clone();
    let body = app
        .gql(&t.marketing, "query($c: String) { leads(after: $c, orderBy: {field: CREATED_AT, direction: ASC}) { totalCount } }", json!({"c": cursor}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "after",
        "a cursor of another order is refused"
    );
}

#[tokio::test]
async fn pagination_has_no_duplicate_or_gap_under_every_order() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut all = HashSet::new();
    for i in 0..250 {
        let id = app
            .create_lead(&t.marketing, &format!("lead{i:03}@example.com"))
            .await;
        all.insert(id.clone());
        if i % 7 == 0 {
            app.transition(&t.marketing, &id, "MQL", None).await;
        }
        if i % 5 == 0 {
            app.ok(
                &t.marketing,
                "mutation($id: ID!) { updateLead(id: $id, input: {company: \"X\"}) { id } }",
                json!({"id": id}),
            )
            .await;
        }
    }
    let q = "query($after: String, $o: LeadOrder) { leads(first: 20, after: $after, orderBy: $o) { totalCount edges { cursor node { id score createdAt updatedAt stageChangedAt } } pageInfo { hasNextPage endCursor } } }";
    for field in ["SCORE", "CREATED_AT", "UPDATED_AT", "STAGE_CHANGED_AT"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({"field": field, "direction": direction});
            let mut seen = Vec::new();
            let mut after = Value::Null;
            let mut pages = 0;
            loop {
                let data = app
                    .ok(&t.marketing, q, json!({"after": after, "o": order}))
                    .await;
                let conn = &data["leads"];
                assert_eq!(conn["totalCount"], 250);
                let edges = conn["edges"].as_array().expect("edges");
                let keys: Vec<Value> = edges
                    .iter()
                    .map(|e| e["node"][sort_key(field)].clone())
                    .collect();
                seen.extend(
                    edges
                        .iter()
                        .map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
                );
                let mut sorted = keys.clone();
                sorted.sort_by(cmp);
                if direction == "DESC" {
                    sorted.reverse();
                }
                assert_eq!(keys, sorted, "{field} {direction} page {pages} is ordered");
                pages += 1;
                if !conn["pageInfo"]["hasNextPage"]
                    .as_bool()
                    .expect("hasNextPage")
                {
                    break;
                }
                after = conn["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(pages, 13, "{field} {direction}");
            assert_eq!(seen.len(), 250, "{field} {direction}: no duplicate");
            assert_eq!(
                seen.iter().cloned().collect::<HashSet<_>>(),
                all,
                "{field} {direction}: no gap"
            );
        }
    }
}

fn sort_key(field: &str) -> &'static str {
    match field {
        "SCORE" => "score",
        "CREATED_AT" => "createdAt",
        "UPDATED_AT" => "updatedAt",
        _ => "stageChangedAt",
    }
}

fn cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
        (Value::String(x), Value::String(y)) => {
            let p = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("timestamp");
            p(x).cmp(&p(y))
        }
        _ => std::cmp::Ordering::Equal,
    }
}
