//! Hostile input values (issue 10, findings 3, 7, 8 and 10): each is
//! refused as `BAD_USER_INPUT` naming its field (`UNAUTHENTICATED` for a
//! token), nothing is half-written, a batch records its good items, and a
//! stored row that cannot be decoded never breaks a page.

use crate::helpers::TestApp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use leadgraph::auth::Role;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

const RECORD: &str = "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id metadata } }";
const BATCH: &str = "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }";
const CREATE_CAMPAIGN: &str = "mutation($input: CampaignInput!) { createCampaign(input: $input) { id name budget { amount } } }";
const LEADS: &str =
    "query($filter: LeadFilter) { leads(first: 100, filter: $filter) { edges { node { id } } } }";

/// The first error's code and field.
fn code_field(body: &Value) -> (String, String) {
    let ext = &body["errors"][0]["extensions"];
    (
        ext["code"].as_str().unwrap_or_default().to_owned(),
        ext["field"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn expect_bad_input(app: &TestApp, token: &str, query: &str, vars: Value, field: &str) {
    let body = app.gql(token, query, vars.clone()).await;
    assert_eq!(
        code_field(&body),
        ("BAD_USER_INPUT".to_owned(), field.to_owned()),
        "{vars}: {body:#}"
    );
}

fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..depth {
        v = json!({ "a": v });
    }
    v
}

fn raw_id(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn number(id: &str) -> i64 {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id).expect("base64")).expect("utf8");
    text.split_once(':')
        .expect("kind:id")
        .1
        .parse()
        .expect("number")
}

async fn interaction_count(app: &TestApp) -> i64 {
    let db = &app.state.db.write;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM interaction",
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n")
}

#[tokio::test]
async fn metadata_depth_and_keys_are_bounded() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "deep@example.com").await;
    // 16 levels are fine, 17 are not; 200 (stored before, unreadable after) neither.
    app.ok(
        &t.ingest,
        RECORD,
        json!({"input": {"leadId": id, "kind": "PAGE_VISIT", "metadata": nested(16)}}),
    )
    .await;
    for depth in [17, 100] {
        expect_bad_input(
            &app,
            &t.ingest,
            RECORD,
            json!({"input": {"leadId": id, "kind": "PAGE_VISIT", "metadata": nested(depth)}}),
            "input.metadata",
        )
        .await;
    }
    let many: serde_json::Map<String, Value> =
        (0..257).map(|i| (format!("k{i}"), json!(i))).collect();
    expect_bad_input(
        &app,
        &t.ingest,
        RECORD,
        json!({"input": {"leadId": id, "kind": "PAGE_VISIT", "metadata": many}}),
        "input.metadata",
    )
    .await;
    expect_bad_input(
        &app,
        &t.admin,
        "mutation($m: JSON) { captureLead(input: {lead: {email: \"c@example.com\"}, metadata: $m}) { created } }",
        json!({"m": nested(40)}),
        "input.metadata",
    )
    .await;
    // In a batch, the deep item fails alone.
    let data = app
        .ok(
            &t.ingest,
            BATCH,
            json!({"inputs": [
                {"leadId": id, "kind": "PAGE_VISIT", "metadata": {"ok": 1}},
                {"leadId": id, "kind": "PAGE_VISIT", "metadata": nested(30)},
                {"leadId": id, "kind": "PAGE_VISIT"},
            ]}),
        )
        .await;
    let result = &data["recordInteractions"];
    assert_eq!(result["recorded"], 2, "{result}");
    assert_eq!(result["errors"][0]["index"], 1);
    assert_eq!(result["errors"][0]["code"], "BAD_USER_INPUT");
    assert!(
        result["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("inputs.1.metadata"),
        "{result}"
    );
    assert_eq!(interaction_count(&app).await, 3);
}

#[tokio::test]
async fn an_undecodable_stored_row_does_not_break_the_page() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let bad_lead = app.lead_at(&t, "bad@example.com", "SQL").await;
    let good_lead = app.lead_at(&t, "good@example.com", "SQL").await;
    for (lead, key) in [
        (&bad_lead, "bad"),
        (&bad_lead, "fine"),
        (&good_lead, "other"),
    ] {
        app.ok(
            &t.ingest,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "externalId": key,
                   "metadata": {"k": key}}}),
        )
        .await;
    }
    // As if written before metadata depth was bounded: deeper than
    // serde_json (128 levels) reads back.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let db = &app.state.db.write;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE interaction SET metadata = CAST($1 AS json) WHERE external_id = 'bad'"
        }
        _ => "UPDATE interaction SET metadata = ? WHERE external_id = 'bad'",
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [deep.into()]))
        .await
        .expect("write the bad row");

    // The sales queue: every lead, its interactions; the bad metadata is null.
    let query = "{ leads(first: 50, filter: {stages: [SQL]}) { edges { node { email
        interactions(first: 5) { totalCount edges { node { id externalId metadata } } } } } } }";
    let data = app.ok(&t.sales, query, json!({})).await;
    let mut seen = Vec::new();
    let mut bad_id = None;
    for edge in data["leads"]["edges"].as_array().expect("edges") {
        for i in edge["node"]["interactions"]["edges"]
            .as_array()
            .expect("interactions")
        {
            let node = &i["node"];
            let key = node["externalId"].as_str().expect("externalId").to_owned();
            if key == "bad" {
                assert_eq!(node["metadata"], Value::Null, "{node}");
                bad_id = node["id"].as_str().map(str::to_owned);
            } else {
                assert_eq!(node["metadata"], json!({"k": key}), "{node}");
            }
            seen.push(key);
        }
    }
    seen.sort();
    assert_eq!(seen, ["bad", "fine", "other"]);
    // The node itself, and a page after a cursor, are served too.
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { node(id: $id) { ... on Interaction { externalId metadata } } }",
            json!({"id": bad_id.expect("the bad row was listed")}),
        )
        .await;
    assert_eq!(data["node"], json!({"externalId": "bad", "metadata": null}));
    let page = "query($id: ID!, $after: String) { lead(id: $id) { interactions(first: 1, after: $after) { pageInfo { endCursor } edges { node { externalId metadata } } } } }";
    let mut after = Value::Null;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let data = app
            .ok(&t.admin, page, json!({"id": bad_lead, "after": after}))
            .await;
        let connection = &data["lead"]["interactions"];
        for edge in connection["edges"].as_array().expect("edges") {
            keys.push(edge["node"]["externalId"].clone());
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    keys.sort_by_key(|k| k.to_string());
    assert_eq!(keys, [json!("bad"), json!("fine")]);
}

#[tokio::test]
async fn amounts_never_overflow_and_name_their_field() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let campaign = app
        .ok(
            &t.marketing,
            CREATE_CAMPAIGN,
            json!({"input": {"name": "Fine", "channel": "ORGANIC_SEARCH", "budget": "1234.50"}}),
        )
        .await["createCampaign"]
        .clone();
    assert_eq!(campaign["budget"]["amount"], "1234.50");
    let campaign_id = campaign["id"].as_str().expect("id").to_owned();
    let opportunity = app.lead_at(&t, "deal@example.com", "SQL").await;
    let huge = [
        json!("790000000000000000000000000"),
        json!("123456789012345678901234567890"),
        json!("79228162514264337593543950335"),
        json!("1000000000000.00"),
        json!(1e27),
    ];
    for (i, amount) in huge.iter().enumerate() {
        expect_bad_input(
            &app,
            &t.marketing,
            CREATE_CAMPAIGN,
            json!({"input": {"name": format!("Huge {i}"), "channel": "ORGANIC_SEARCH", "budget": amount}}),
            "input.budget",
        )
        .await;
        expect_bad_input(
            &app,
            &t.marketing,
            "mutation($id: ID!, $amount: Decimal!) { recordSpend(campaignId: $id, on: \"2026-11-01\", amount: $amount) { id } }",
            json!({"id": campaign_id, "amount": amount}),
            "amount",
        )
        .await;
        expect_bad_input(
            &app,
            &t.admin,
            "mutation($id: ID!, $amount: Decimal) { transitionLead(id: $id, to: OPPORTUNITY, dealAmount: $amount) { stage } }",
            json!({"id": opportunity, "amount": amount}),
            "dealAmount",
        )
        .await;
    }
    // As literals too, and malformed ones.
    for literal in [
        "123456789012345678901234567890",
        "\"12abc\"",
        "\"-5\"",
        "\"1.005\"",
    ] {
        let query = format!(
            "mutation {{ transitionLead(id: \"{opportunity}\", to: OPPORTUNITY, dealAmount: {literal}) {{ stage }} }}"
        );
        expect_bad_input(&app, &t.admin, &query, json!({}), "dealAmount").await;
    }
    // Nothing was written, and the server still serves.
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage dealAmount { amount } } }",
            json!({"id": opportunity}),
        )
        .await;
    assert_eq!(data["lead"], json!({"stage": "SQL", "dealAmount": null}));
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage } } ",
            json!({"id": opportunity}),
        )
        .await;
    assert_eq!(data["lead"]["stage"], "SQL");
    let data = app
        .ok(
            &t.admin,
            "mutation($id: ID!) { transitionLead(id: $id, to: OPPORTUNITY, dealAmount: \"999999999999.99\") { dealAmount { amount } } }",
            json!({"id": opportunity}),
        )
        .await;
    assert_eq!(
        data["transitionLead"]["dealAmount"]["amount"],
        "999999999999.99"
    );
}

#[tokio::test]
async fn nul_bytes_are_refused_with_their_field() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let nul = "a\u{0}b";
    let lead = app.lead_at(&t, "nul@example.com", "MQL").await;
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            "admin",
            json!({"input": {"email": "n1@example.com", "company": nul}}),
            "input.company",
        ),
        (
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            "admin",
            json!({"input": {"email": "n\u{0}2@example.com"}}),
            "input.email",
        ),
        (
            "mutation($id: ID!, $input: UpdateLeadInput!) { updateLead(id: $id, input: $input) { id } }",
            "admin",
            json!({"id": lead, "input": {"jobTitle": nul}}),
            "input.jobTitle",
        ),
        (
            LEADS,
            "admin",
            json!({"filter": {"search": nul}}),
            "filter.search",
        ),
        (
            RECORD,
            "ingest",
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "externalId": nul}}),
            "input.externalId",
        ),
        (
            RECORD,
            "ingest",
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "metadata": {"k": [{"v": nul}]}}}),
            "input.metadata",
        ),
        (
            RECORD,
            "ingest",
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "metadata": {nul: 1}}}),
            "input.metadata",
        ),
        (
            "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { created } }",
            "admin",
            json!({"input": {"lead": {"email": "n3@example.com", "lastName": nul}}}),
            "input.lead.lastName",
        ),
        (
            "mutation($id: ID!, $reason: String) { transitionLead(id: $id, to: DISQUALIFIED, reason: $reason) { stage } }",
            "admin",
            json!({"id": lead, "reason": nul}),
            "reason",
        ),
        (
            "mutation($id: ID!, $t: String) { qualifyLead(id: $id, input: {timeline: $t}) { stage } }",
            "admin",
            json!({"id": lead, "t": nul}),
            "input.timeline",
        ),
        (
            CREATE_CAMPAIGN,
            "marketing",
            json!({"input": {"name": nul, "channel": "ORGANIC_SEARCH"}}),
            "input.name",
        ),
        (
            "mutation($input: PersonaInput!) { createPersona(input: $input) { id } }",
            "marketing",
            json!({"input": {"name": "P", "industries": ["ok", nul]}}),
            "input.industries",
        ),
        (
            "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
            "marketing",
            json!({"input": {"name": "R", "kind": "ENGAGEMENT", "points": 1,
                   "interactionKind": "PAGE_VISIT", "metadataKey": nul}}),
            "input.metadataKey",
        ),
        (
            "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
            "marketing",
            json!({"input": {"name": "R", "kind": "FIT", "points": 1,
                   "condition": {"field": "INDUSTRY", "op": "IN", "values": [nul]}}}),
            "input.condition.values",
        ),
    ];
    for (query, role, vars, field) in cases {
        let token = match role {
            "admin" => &t.admin,
            "marketing" => &t.marketing,
            _ => &t.ingest,
        };
        expect_bad_input(&app, token, query, vars, field).await;
    }
    // Nothing of that was written.
    assert_eq!(interaction_count(&app).await, 0);
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage jobTitle qualification { timeline } } }",
            json!({"id": lead}),
        )
        .await;
    assert_eq!(
        data["lead"],
        json!({"stage": "MQL", "jobTitle": null, "qualification": {"timeline": null}})
    );

    // A batch loses only the bad item.
    let data = app
        .ok(
            &t.ingest,
            BATCH,
            json!({"inputs": [
                {"leadId": lead, "kind": "PAGE_VISIT", "externalId": "good-1"},
                {"leadId": lead, "kind": "PAGE_VISIT", "externalId": nul},
                {"leadId": lead, "kind": "PAGE_VISIT", "metadata": {"k": nul}},
                {"leadId": lead, "kind": "PAGE_VISIT", "externalId": "good-2"},
            ]}),
        )
        .await;
    let result = &data["recordInteractions"];
    assert_eq!(result["recorded"], 2, "{result}");
    let failed: Vec<&Value> = result["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| &e["index"])
        .collect();
    assert_eq!(failed, [&json!(1), &json!(2)]);
    assert_eq!(interaction_count(&app).await, 2);
}

#[tokio::test]
async fn a_token_with_nul_in_its_claims_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let tokens = [
        app.state
            .keys
            .mint("ali\u{0}ce", Role::Sales, 3600, None, None)
            .expect("mint"),
        app.state
            .keys
            .mint("bob", Role::Sales, 3600, Some("B\u{0}b"), None)
            .expect("mint"),
        app.state
            .keys
            .mint("carl", Role::Sales, 3600, None, Some("c\u{0}@example.com"))
            .expect("mint"),
    ];
    for token in tokens {
        let response = app
            .client
            .post(&app.url)
            .bearer_auth(&token)
            .json(&json!({"query": "{ me { id } }"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn list_arguments_are_capped_at_100() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let lead = app.create_lead(&t.admin, "list@example.com").await;
    let campaigns: Vec<String> = (1..=101)
        .map(|i| raw_id(&format!("Campaign:{i}")))
        .collect();
    let personas: Vec<String> = (1..=101).map(|i| raw_id(&format!("Persona:{i}"))).collect();
    let stages: Vec<&str> = std::iter::repeat_n("LEAD", 101).collect();
    let channels: Vec<&str> = std::iter::repeat_n("ORGANIC_SEARCH", 101).collect();
    for (filter, field) in [
        (json!({"campaignIds": campaigns}), "filter.campaignIds"),
        (json!({"personaIds": personas}), "filter.personaIds"),
        (json!({"stages": stages}), "filter.stages"),
        (json!({"channels": channels}), "filter.channels"),
    ] {
        expect_bad_input(&app, &t.admin, LEADS, json!({"filter": filter}), field).await;
    }
    // 100 are fine.
    let campaigns: Vec<String> = (1..=100)
        .map(|i| raw_id(&format!("Campaign:{i}")))
        .collect();
    app.ok(
        &t.admin,
        LEADS,
        json!({"filter": {"campaignIds": campaigns}}),
    )
    .await;
    let kinds: Vec<&str> = std::iter::repeat_n("PAGE_VISIT", 101).collect();
    expect_bad_input(
        &app,
        &t.admin,
        "query($id: ID!, $kinds: [InteractionKind!]) { lead(id: $id) { interactions(kinds: $kinds) { totalCount } } }",
        json!({"id": lead, "kinds": kinds}),
        "kinds",
    )
    .await;
    let many: Vec<String> = (0..101).map(|i| format!("v{i}")).collect();
    expect_bad_input(
        &app,
        &t.marketing,
        "mutation($input: PersonaInput!) { createPersona(input: $input) { id } }",
        json!({"input": {"name": "P", "jobTitleKeywords": many}}),
        "input.jobTitleKeywords",
    )
    .await;
    expect_bad_input(
        &app,
        &t.marketing,
        "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({"input": {"name": "R", "kind": "FIT", "points": 1,
               "condition": {"field": "INDUSTRY", "op": "IN", "values": many}}}),
        "input.condition.values",
    )
    .await;
}

#[tokio::test]
async fn only_canonical_global_ids_resolve() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "canon@example.com").await;
    let n = number(&id);
    assert_eq!(id, raw_id(&format!("Lead:{n}")));
    let lookup = "query($id: ID!) { lead(id: $id) { id } node(id: $id) { id } }";
    let data = app.ok(&t.admin, lookup, json!({"id": id})).await;
    assert_eq!(data["lead"]["id"], id.as_str());
    let standard = base64::engine::general_purpose::STANDARD.encode(format!("Lead:{n}"));
    let variants = [
        raw_id(&format!("Lead:+{n}")),
        raw_id(&format!("Lead:0{n}")),
        raw_id(&format!("Lead:00{n}")),
        raw_id(&format!("Lead: {n}")),
        raw_id(&format!("Lead:{n} ")),
        format!(" {id}"),
        format!("{id} "),
        format!("{id}="),
        format!("{id}=="),
        standard,
    ];
    for variant in variants {
        if variant == id {
            continue;
        }
        let data = app.ok(&t.admin, lookup, json!({"id": variant})).await;
        assert_eq!(data, json!({"lead": null, "node": null}), "{variant:?}");
        expect_bad_input(
            &app,
            &t.admin,
            "mutation($id: ID!) { updateLead(id: $id, input: {company: \"X\"}) { id } }",
            json!({"id": variant}),
            "id",
        )
        .await;
    }
}

#[tokio::test]
async fn years_outside_1900_to_9999_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let campaign = app
        .ok(
            &t.marketing,
            CREATE_CAMPAIGN,
            json!({"input": {"name": "Dated", "channel": "ORGANIC_SEARCH"}}),
        )
        .await["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let spend = "mutation($id: ID!, $on: Date!) { recordSpend(campaignId: $id, on: $on, amount: \"5\") { id } }";
    for on in ["0999-01-01", "1899-12-31", "0001-01-01"] {
        let code = app
            .error_code(&t.marketing, spend, json!({"id": campaign, "on": on}))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{on}");
    }
    app.ok(
        &t.marketing,
        spend,
        json!({"id": campaign, "on": "1900-01-01"}),
    )
    .await;
    for (input, field) in [
        (
            json!({"name": "Old", "channel": "ORGANIC_SEARCH", "startsOn": "1066-10-14"}),
            "input.startsOn",
        ),
        (
            json!({"name": "Old", "channel": "ORGANIC_SEARCH", "endsOn": "0500-01-01"}),
            "input.endsOn",
        ),
    ] {
        let body = app
            .gql(&t.marketing, CREATE_CAMPAIGN, json!({"input": input}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    for filter in [
        json!({"createdFrom": "0001-01-01T00:00:00Z"}),
        json!({"createdTo": "1899-12-31T23:59:59Z"}),
    ] {
        let code = app
            .error_code(&t.admin, LEADS, json!({"filter": filter}))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{filter}");
    }
    let code = app
        .error_code(
            &t.admin,
            "query($p: PeriodInput!) { funnel(period: $p) { groups { key } } }",
            json!({"p": {"from": "1899-06-01T00:00:00Z", "to": "1900-06-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    // A period whose spend dates would reach year 10000.
    expect_bad_input(
        &app,
        &t.marketing,
        "query($p: PeriodInput!) { costPerLead(period: $p) { key } }",
        json!({"p": {"from": "9999-06-01T00:00:00Z", "to": "9999-12-31T12:00:00Z"}}),
        "period",
    )
    .await;
    let lead = app.create_lead(&t.admin, "dated@example.com").await;
    let code = app
        .error_code(
            &t.ingest,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "occurredAt": "0001-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(interaction_count(&app).await, 0);
}

#[tokio::test]
async fn erasure_wipes_the_qualification_timeline() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let lead = app.lead_at(&t, "gdpr@example.com", "MQL").await;
    app.ok(
        &t.admin,
        "mutation($id: ID!) { qualifyLead(id: $id, input: {timeline: \"Ada Lovelace decides in Q3\", notes: \"call Ada\", budget: true}) { id } }",
        json!({"id": lead}),
    )
    .await;
    app.ok(
        &t.admin,
        "mutation($id: ID!) { eraseLead(id: $id) }",
        json!({"id": lead}),
    )
    .await;
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage qualification { budget timeline notes } } }",
            json!({"id": lead}),
        )
        .await;
    assert_eq!(
        data["lead"],
        json!({"stage": "MQL", "qualification": {"budget": true, "timeline": null, "notes": null}})
    );
}

#[tokio::test]
async fn money_sums_past_i64_stay_exact() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // 55 campaigns spending the largest amount every day of five years, and
    // the first one 100,000 days more: sums past i64::MAX cents.
    let mut first = None;
    for i in 0..55 {
        let id = app
            .ok(
                &t.marketing,
                CREATE_CAMPAIGN,
                json!({"input": {"name": format!("Big {i}"), "channel": "PAID_SEARCH"}}),
            )
            .await["createCampaign"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        first.get_or_insert(id);
    }
    let first = first.expect("a campaign");
    let max = 99_999_999_999_999i64;
    let db = &app.state.db.write;
    let backend = db.get_database_backend();
    let insert = |from: &str, days: i64, only_first: bool| {
        let which = if only_first {
            format!("WHERE c.id = {}", number(&first))
        } else {
            String::new()
        };
        match backend {
            DbBackend::Postgres => format!(
                "INSERT INTO campaign_spend (campaign_id, spent_on, amount_cents, recorded_at) \
                 SELECT c.id, DATE '{from}' + n, {max}, now() FROM campaign c \
                 CROSS JOIN generate_series(0, {}) AS n {which}",
                days - 1
            ),
            _ => format!(
                "WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < {}) \
                 INSERT INTO campaign_spend (campaign_id, spent_on, amount_cents, recorded_at) \
                 SELECT c.id, date('{from}', '+' || n || ' days'), {max}, '2026-11-01T00:00:00+00:00' \
                 FROM campaign c, d {which}",
                days - 1
            ),
        }
    };
    for sql in [
        insert("2020-01-01", 1826, false),
        insert("2025-01-01", 100_000, true),
    ] {
        db.execute_unprepared(&sql).await.expect("insert spend");
    }
    let cents = |n: i128| {
        let total = n * i128::from(max);
        format!("{}.{:02}", total / 100, total % 100)
    };
    let data = app
        .ok(
            &t.marketing,
            "query($p: PeriodInput!) { costPerLead(period: $p, groupBy: NONE) { spend { amount } roi } }",
            json!({"p": {"from": "2020-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(
        data["costPerLead"][0]["spend"]["amount"],
        cents(55 * 1826).as_str()
    );
    let data = app
        .ok(
            &t.marketing,
            "query($p: PeriodInput!) { costPerLead(period: $p, groupBy: CHANNEL) { key spend { amount } } }",
            json!({"p": {"from": "2020-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}}),
        )
        .await;
    let paid = data["costPerLead"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["key"] == "PAID_SEARCH")
        .expect("PAID_SEARCH row");
    assert_eq!(paid["spend"]["amount"], cents(55 * 1826).as_str());
    let data = app
        .ok(
            &t.marketing,
            "query($id: ID!) { node(id: $id) { ... on Campaign { spend { amount } } } }",
            json!({"id": first}),
        )
        .await;
    assert_eq!(
        data["node"]["spend"]["amount"],
        cents(1826 + 100_000).as_str()
    );
}

#[tokio::test]
async fn an_undecodable_stored_row_does_not_break_rescoring() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.ok(
        &t.marketing,
        "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({"input": {"name": "Read k", "kind": "ENGAGEMENT", "points": 10,
               "interactionKind": "PAGE_VISIT", "metadataKey": "k"}}),
    )
    .await;
    let lead = app.create_lead(&t.admin, "rescore@example.com").await;
    for key in ["good", "bad"] {
        app.ok(
            &t.ingest,
            RECORD,
            json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "externalId": key,
                   "metadata": {"k": key}}}),
        )
        .await;
    }
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let db = &app.state.db.write;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE interaction SET metadata = CAST($1 AS json) WHERE external_id = 'bad'"
        }
        _ => "UPDATE interaction SET metadata = ? WHERE external_id = 'bad'",
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [deep.into()]))
        .await
        .expect("write the bad row");
    // Recording for the lead rescores it; the bad interaction counts as
    // having no metadata, the others as before.
    app.ok(
        &t.ingest,
        RECORD,
        json!({"input": {"leadId": lead, "kind": "PAGE_VISIT", "metadata": {"k": "new"}}}),
    )
    .await;
    app.ok(
        &t.marketing,
        "mutation { rescoreLeads { leadsRescored } }",
        json!({}),
    )
    .await;
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { score } }",
            json!({"id": lead}),
        )
        .await;
    assert_eq!(data["lead"]["score"], 20);
}

#[tokio::test]
async fn a_token_with_nul_is_refused_on_the_websocket_too() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let app = TestApp::spawn().await;
    let token = app
        .state
        .keys
        .mint("ali\u{0}ce", Role::Admin, 3600, None, None)
        .expect("mint");
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    ws.send(Message::text(init.to_string()))
        .await
        .expect("send");
    let reply = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return format!("text {text}"),
                Some(Ok(Message::Close(frame))) => {
                    return format!("close {:?}", frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => return format!("error {err}"),
                None => return "end".to_owned(),
            }
        }
    })
    .await
    .expect("a reply in time");
    assert_eq!(reply, "close Some(4403)");
    // The server still serves.
    let t = app.tokens();
    app.ok(&t.admin, "{ me { id } }", json!({})).await;
}
