//! Campaigns and spend: create, update, the spend upsert, exact money,
//! leads' and interactions' campaigns, and who sees cost (docs/roles.md).

use crate::helpers::TestApp;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CampaignInput!) { createCampaign(input: $input) { id name channel startsOn endsOn budget { amount currency } } }";
const SPEND: &str = "mutation($id: ID!, $on: Date!, $amount: Decimal!) { recordSpend(campaignId: $id, on: $on, amount: $amount) { id } }";

async fn campaign(app: &TestApp, token: &str, name: &str, channel: &str) -> String {
    let data = app
        .ok(
            token,
            CREATE,
            json!({"input": {"name": name, "channel": channel}}),
        )
        .await;
    data["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn spend(app: &TestApp, token: &str, id: &str, on: &str, amount: &str) {
    app.ok(token, SPEND, json!({"id": id, "on": on, "amount": amount}))
        .await;
}

/// The first error's `extensions.field`.
async fn error_field(app: &TestApp, token: &str, query: &str, vars: Value) -> (String, String) {
    let body = app.gql(token, query, vars).await;
    let ext = &body["errors"][0]["extensions"];
    (
        ext["code"].as_str().unwrap_or_default().to_owned(),
        ext["field"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn campaigns_are_created_updated_and_listed() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let data = app
        .ok(
            &t.marketing,
            CREATE,
            json!({"input": {"name": "Spring search", "channel": "PAID_SEARCH",
                              "startsOn": "2026-03-01", "endsOn": "2026-05-31", "budget": "5000.5"}}),
        )
        .await;
    let c = &data["createCampaign"];
    assert_eq!(c["name"], "Spring search");
    assert_eq!(c["channel"], "PAID_SEARCH");
    assert_eq!(c["startsOn"], "2026-03-01");
    assert_eq!(c["endsOn"], "2026-05-31");
    assert_eq!(c["budget"], json!({"amount": "5000.50", "currency": "EUR"}));
    let id = c["id"].as_str().expect("id").to_owned();

    // updateCampaign replaces every attribute: an omitted budget becomes null.
    let data = app
        .ok(
            &t.admin,
            "mutation($id: ID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input) { id name channel startsOn endsOn budget { amount } } }",
            json!({"id": id, "input": {"name": "Spring search DE", "channel": "SOCIAL", "startsOn": "2026-03-02"}}),
        )
        .await;
    assert_eq!(
        data["updateCampaign"],
        json!({"id": id, "name": "Spring search DE", "channel": "SOCIAL",
               "startsOn": "2026-03-02", "endsOn": null, "budget": null})
    );
    campaign(&app, &t.admin, "Autumn webinar", "WEBINAR").await;

    // Listed by name; node() resolves a campaign.
    let data = app
        .ok(&t.marketing, "{ campaigns { name channel } }", json!({}))
        .await;
    assert_eq!(
        data["campaigns"],
        json!([{"name": "Autumn webinar", "channel": "WEBINAR"},
               {"name": "Spring search DE", "channel": "SOCIAL"}])
    );
    let data = app
        .ok(
            &t.marketing,
            "query($id: ID!) { node(id: $id) { __typename ... on Campaign { name } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data["node"],
        json!({"__typename": "Campaign", "name": "Spring search DE"})
    );

    // A name in use is CONFLICT; an unknown campaign NOT_FOUND.
    assert_eq!(
        app.error_code(
            &t.marketing,
            CREATE,
            json!({"input": {"name": "Autumn webinar", "channel": "EMAIL"}})
        )
        .await,
        "CONFLICT"
    );
    let unknown =
        leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Campaign, 999).0;
    assert_eq!(
        app.error_code(
            &t.marketing,
            "mutation($id: ID!) { updateCampaign(id: $id, input: {name: \"x\", channel: EMAIL}) { id } }",
            json!({"id": unknown})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(
            &t.marketing,
            SPEND,
            json!({"id": unknown, "on": "2026-03-01", "amount": "1"})
        )
        .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn spend_is_exact_per_day_and_replaced_when_reported_again() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = campaign(&app, &t.marketing, "Search", "PAID_SEARCH").await;
    let other = campaign(&app, &t.marketing, "Social", "SOCIAL").await;
    spend(&app, &t.marketing, &id, "2026-02-28", "100").await;
    spend(&app, &t.marketing, &id, "2026-03-01", "200.00").await;
    spend(&app, &t.marketing, &id, "2026-03-15", "300.10").await;
    // The ad platform re-reports the 15th: the amount is replaced, not added.
    spend(&app, &t.admin, &id, "2026-03-15", "350.55").await;
    spend(&app, &t.marketing, &id, "2026-04-01", "0.01").await;
    spend(&app, &t.marketing, &other, "2026-03-15", "7.77").await;

    let q = r#"query($id: ID!) { node(id: $id) { ... on Campaign {
        all: spend { amount currency }
        march: spend(from: "2026-03-01", to: "2026-04-01") { amount }
        fromMid: spend(from: "2026-03-15") { amount }
        beforeMarch: spend(to: "2026-03-01") { amount }
        empty: spend(from: "2026-03-02", to: "2026-03-02") { amount }
    } } }"#;
    let data = app.ok(&t.marketing, q, json!({"id": id})).await;
    let n = &data["node"];
    assert_eq!(n["all"], json!({"amount": "650.56", "currency": "EUR"}));
    assert_eq!(n["march"]["amount"], "550.55");
    assert_eq!(n["fromMid"]["amount"], "350.56");
    assert_eq!(n["beforeMarch"]["amount"], "100.00");
    assert_eq!(n["empty"]["amount"], "0.00");

    // Every campaign's spend in one list (batched by the loader).
    let data = app
        .ok(
            &t.marketing,
            r#"{ campaigns { name spend(from: "2026-03-01", to: "2026-04-01") { amount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["campaigns"],
        json!([{"name": "Search", "spend": {"amount": "550.55"}},
               {"name": "Social", "spend": {"amount": "7.77"}}])
    );
    let (code, field) = error_field(
        &app,
        &t.marketing,
        r#"query($id: ID!) { node(id: $id) { ... on Campaign { spend(from: "2026-03-02", to: "2026-03-01") { amount } } } }"#,
        json!({"id": id}),
    )
    .await;
    assert_eq!((code.as_str(), field.as_str()), ("BAD_USER_INPUT", "to"));
}

#[tokio::test]
async fn money_and_campaign_input_are_validated() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = campaign(&app, &t.marketing, "Search", "PAID_SEARCH").await;
    let create = |input: Value| json!({"input": input});
    for (vars, field) in [
        (
            create(json!({"name": "a", "channel": "EMAIL", "budget": "10.001"})),
            "input.budget",
        ),
        (
            create(json!({"name": "b", "channel": "EMAIL", "budget": "-5"})),
            "input.budget",
        ),
        (
            create(json!({"name": "  ", "channel": "EMAIL"})),
            "input.name",
        ),
        (
            create(json!({"name": "x".repeat(257), "channel": "EMAIL"})),
            "input.name",
        ),
        (
            create(
                json!({"name": "c", "channel": "EMAIL", "startsOn": "2026-03-02", "endsOn": "2026-03-01"}),
            ),
            "input.endsOn",
        ),
    ] {
        let (code, f) = error_field(&app, &t.marketing, CREATE, vars.clone()).await;
        assert_eq!(
            (code.as_str(), f.as_str()),
            ("BAD_USER_INPUT", field),
            "{vars}"
        );
    }
    for amount in ["1.234", "-0.01", "-3"] {
        let (code, f) = error_field(
            &app,
            &t.marketing,
            SPEND,
            json!({"id": id, "on": "2026-03-01", "amount": amount}),
        )
        .await;
        assert_eq!(
            (code.as_str(), f.as_str()),
            ("BAD_USER_INPUT", "amount"),
            "{amount}"
        );
    }
    let (code, f) = error_field(
        &app,
        &t.marketing,
        SPEND,
        json!({"id": "bm90LWFuLWlk", "on": "2026-03-01", "amount": "1"}),
    )
    .await;
    assert_eq!(
        (code.as_str(), f.as_str()),
        ("BAD_USER_INPUT", "campaignId")
    );
    // A bad date never reaches the resolver.
    let body = app
        .gql(
            &t.marketing,
            SPEND,
            json!({"id": id, "on": "2026-02-30", "amount": "1"}),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
    // Nothing was stored by the refused requests; zero is a valid amount.
    spend(&app, &t.marketing, &id, "2026-03-01", "0").await;
    let data = app
        .ok(
            &t.marketing,
            "{ campaigns { name spend { amount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["campaigns"],
        json!([{"name": "Search", "spend": {"amount": "0.00"}}])
    );
}

#[tokio::test]
async fn leads_and_interactions_take_a_campaign_and_its_channel() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let search = campaign(&app, &t.marketing, "Search", "PAID_SEARCH").await;
    let webinar = campaign(&app, &t.marketing, "Webinar", "WEBINAR").await;
    let create = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id sourceChannel sourceCampaign { id name channel } } }";

    // The channel defaults to the campaign's, else DIRECT; a given one wins.
    let data = app
        .ok(
            &t.marketing,
            create,
            json!({"input": {"email": "a@example.com", "sourceCampaignId": search}}),
        )
        .await;
    assert_eq!(data["createLead"]["sourceChannel"], "PAID_SEARCH");
    assert_eq!(
        data["createLead"]["sourceCampaign"],
        json!({"id": search, "name": "Search", "channel": "PAID_SEARCH"})
    );
    let data = app
        .ok(
            &t.marketing,
            create,
            json!({"input": {"email": "b@example.com", "sourceCampaignId": search, "sourceChannel": "EMAIL"}}),
        )
        .await;
    assert_eq!(data["createLead"]["sourceChannel"], "EMAIL");
    let data = app
        .ok(
            &t.marketing,
            create,
            json!({"input": {"email": "c@example.com"}}),
        )
        .await;
    assert_eq!(data["createLead"]["sourceChannel"], "DIRECT");
    assert_eq!(data["createLead"]["sourceCampaign"], Value::Null);
    let lead_c = data["createLead"]["id"].as_str().expect("id").to_owned();

    // A campaign that does not exist is BAD_USER_INPUT on that field, and
    // creates nothing.
    let unknown =
        leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Campaign, 999).0;
    let (code, field) = error_field(
        &app,
        &t.marketing,
        create,
        json!({"input": {"email": "d@example.com", "sourceCampaignId": unknown}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("BAD_USER_INPUT", "input.sourceCampaignId")
    );
    let capture = "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId created interactionId } }";
    let (code, field) = error_field(
        &app,
        &t.ingest,
        capture,
        json!({"input": {"lead": {"email": "d@example.com", "sourceCampaignId": unknown}}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("BAD_USER_INPUT", "input.lead.sourceCampaignId")
    );
    let count = app
        .ok(&t.marketing, "{ leads { totalCount } }", json!({}))
        .await;
    assert_eq!(count["leads"]["totalCount"], 3);

    // captureLead: the lead and its FORM_SUBMIT carry the campaign.
    let data = app
        .ok(
            &t.ingest,
            capture,
            json!({"input": {"lead": {"email": "e@example.com", "sourceCampaignId": webinar}}}),
        )
        .await;
    let lead_e = data["captureLead"]["leadId"]
        .as_str()
        .expect("id")
        .to_owned();
    let interaction = data["captureLead"]["interactionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let data = app
        .ok(
            &t.marketing,
            "query($l: ID!, $i: ID!) { lead(id: $l) { sourceChannel sourceCampaign { name } }
               node(id: $i) { ... on Interaction { channel campaign { name } } } }",
            json!({"l": lead_e, "i": interaction}),
        )
        .await;
    assert_eq!(
        data,
        json!({"lead": {"sourceChannel": "WEBINAR", "sourceCampaign": {"name": "Webinar"}},
               "node": {"channel": "WEBINAR", "campaign": {"name": "Webinar"}}})
    );

    // recordInteraction: campaign checked, channel defaulted to it.
    let record = "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { channel campaign { name } } }";
    let data = app
        .ok(
            &t.marketing,
            record,
            json!({"input": {"leadId": lead_c, "kind": "PAGE_VISIT", "campaignId": webinar}}),
        )
        .await;
    assert_eq!(
        data["recordInteraction"],
        json!({"channel": "WEBINAR", "campaign": {"name": "Webinar"}})
    );
    let data = app
        .ok(
            &t.marketing,
            record,
            json!({"input": {"leadId": lead_c, "kind": "PAGE_VISIT", "campaignId": webinar, "channel": "SOCIAL"}}),
        )
        .await;
    assert_eq!(data["recordInteraction"]["channel"], "SOCIAL");
    let (code, field) = error_field(
        &app,
        &t.marketing,
        record,
        json!({"input": {"leadId": lead_c, "kind": "PAGE_VISIT", "campaignId": unknown}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("BAD_USER_INPUT", "input.campaignId")
    );
    // INGEST records with a campaign but reads no campaign back.
    let body = app
        .gql(
            &t.ingest,
            record,
            json!({"input": {"leadId": lead_c, "kind": "PAGE_VISIT", "campaignId": search}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(body["data"]["recordInteraction"]["channel"], "PAID_SEARCH");

    // A batch reports the unknown campaign by index and records the rest.
    let data = app
        .ok(
            &t.ingest,
            "mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }",
            json!({"inputs": [
                {"leadId": lead_c, "kind": "EMAIL_OPEN", "campaignId": search},
                {"leadId": lead_c, "kind": "EMAIL_OPEN", "campaignId": unknown},
                {"leadEmail": "e@example.com", "kind": "EMAIL_CLICK", "campaignId": webinar},
            ]}),
        )
        .await;
    let batch = &data["recordInteractions"];
    assert_eq!(batch["recorded"], 2);
    assert_eq!(batch["errors"][0]["index"], 1);
    assert_eq!(batch["errors"][0]["code"], "BAD_USER_INPUT");
    assert_eq!(batch["errors"].as_array().map(Vec::len), Some(1));
    let data = app
        .ok(
            &t.marketing,
            "query($l: ID!) { lead(id: $l) { interactions(kinds: [EMAIL_OPEN]) { edges { node { channel campaign { name } } } } } }",
            json!({"l": lead_c}),
        )
        .await;
    assert_eq!(
        data["lead"]["interactions"]["edges"],
        json!([{"node": {"channel": "PAID_SEARCH", "campaign": {"name": "Search"}}}])
    );
}

#[tokio::test]
async fn sales_sees_names_and_channels_but_never_cost() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = campaign(&app, &t.marketing, "Search", "PAID_SEARCH").await;
    spend(&app, &t.marketing, &id, "2026-03-01", "10").await;

    // SALES lists campaigns by name and channel …
    let data = app
        .ok(
            &t.sales,
            "{ campaigns { id name channel startsOn endsOn } }",
            json!({}),
        )
        .await;
    assert_eq!(data["campaigns"][0]["name"], "Search");
    let data = app
        .ok(
            &t.sales,
            "query($id: ID!) { node(id: $id) { ... on Campaign { name } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(data["node"]["name"], "Search");

    // … but budget and spend are refused, by a list, a node or a fragment.
    for q in [
        "{ campaigns { name budget { amount } } }",
        "{ campaigns { name spend { amount } } }",
        "query($id: ID!) { node(id: $id) { ... on Campaign { budget { amount } } } }",
        "query { campaigns { ...c } } fragment c on Campaign { spend { amount } }",
        r#"{ costPerLead(period: {from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z"}) { spend { amount } } }"#,
    ] {
        let body = app.gql(&t.sales, q, json!({"id": id})).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert!(
            matches!(code, Some("FORBIDDEN" | "BAD_USER_INPUT")),
            "{q}: {body}"
        );
        let text = body.to_string();
        assert!(!text.contains("10.00"), "cost leaked: {body}");
    }

    // … and they are absent from SALES's introspection, present for MARKETING.
    let q = r#"{ campaign: __type(name: "Campaign") { fields { name } }
                 costRow: __type(name: "CostRow") { name }
                 __schema { queryType { fields { name } } types { name } } }"#;
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let sales = app.ok(&t.sales, q, json!({})).await;
    let fields = names(&sales["campaign"]["fields"]);
    assert!(fields.contains(&"name".to_owned()) && fields.contains(&"channel".to_owned()));
    assert!(!fields.contains(&"budget".to_owned()) && !fields.contains(&"spend".to_owned()));
    assert_eq!(sales["costRow"], Value::Null);
    let queries = names(&sales["__schema"]["queryType"]["fields"]);
    assert!(
        queries.contains(&"funnel".to_owned()) && queries.contains(&"leadRelevance".to_owned())
    );
    assert!(!queries.contains(&"costPerLead".to_owned()));
    assert!(!names(&sales["__schema"]["types"]).contains(&"CostRow".to_owned()));

    for token in [&t.marketing, &t.admin] {
        let full = app.ok(token, q, json!({})).await;
        let fields = names(&full["campaign"]["fields"]);
        assert!(fields.contains(&"budget".to_owned()) && fields.contains(&"spend".to_owned()));
        assert_eq!(full["costRow"]["name"], "CostRow");
        assert!(
            names(&full["__schema"]["queryType"]["fields"]).contains(&"costPerLead".to_owned())
        );
    }

    // SALES and INGEST never write campaigns; INGEST reads none.
    for token in [&t.sales, &t.ingest] {
        assert_eq!(
            app.error_code(
                token,
                CREATE,
                json!({"input": {"name": "Mine", "channel": "EMAIL"}})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            app.error_code(
                token,
                SPEND,
                json!({"id": id, "on": "2026-03-02", "amount": "1"})
            )
            .await,
            "FORBIDDEN"
        );
        assert_eq!(
            app.error_code(
                token,
                "mutation($id: ID!) { updateCampaign(id: $id, input: {name: \"x\", channel: EMAIL}) { id } }",
                json!({"id": id})
            )
            .await,
            "FORBIDDEN"
        );
    }
    assert_eq!(
        app.error_code(&t.ingest, "{ campaigns { name } }", json!({}))
            .await,
        "FORBIDDEN"
    );
    // INGEST reads nothing, node() included (issue 10).
    assert_eq!(
        app.error_code(
            &t.ingest,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": id}),
        )
        .await,
        "FORBIDDEN"
    );
}

/// A subscription event carries no cost to SALES: asking for it is refused
/// at subscribe time, and the events it may ask for hold none.
#[tokio::test]
async fn subscription_events_carry_no_cost_to_sales() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;
    async fn send(ws: &mut Socket, message: Value) {
        ws.send(Message::text(message.to_string()))
            .await
            .expect("send");
    }
    async fn recv(ws: &mut Socket) -> Value {
        let wait = std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout(wait, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return serde_json::from_str(text.as_str()).expect("JSON");
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    }
    async fn connect(app: &TestApp, token: &str) -> Socket {
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
        send(
            &mut ws,
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
        )
        .await;
        assert_eq!(recv(&mut ws).await["type"], "connection_ack");
        ws
    }
    /// Subscribe; a pong after it means the subscription is live (or refused).
    async fn subscribe(ws: &mut Socket, query: &str) -> Option<Value> {
        send(
            ws,
            json!({"type": "subscribe", "id": "1", "payload": {"query": query}}),
        )
        .await;
        send(ws, json!({"type": "ping"})).await;
        let first = recv(ws).await;
        if first["type"] == "pong" {
            return None;
        }
        assert_eq!(recv(ws).await["type"], "pong");
        Some(first)
    }

    let app = TestApp::spawn().await;
    let t = app.tokens();
    let data = app
        .ok(
            &t.marketing,
            CREATE,
            json!({"input": {"name": "Search", "channel": "PAID_SEARCH", "budget": "4321.00"}}),
        )
        .await;
    let campaign = data["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    spend(&app, &t.marketing, &campaign, "2026-03-01", "1234.00").await;
    let lead = app
        .ok(
            &t.marketing,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({"input": {"email": "a@example.com", "sourceCampaignId": campaign}}),
        )
        .await["createLead"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.transition(&t.marketing, &lead, "MQL", None).await, None);

    let with_cost = "subscription { leadQualified { lead { sourceCampaign { name budget { amount } spend { amount } } } } }";
    // Refused at subscribe time, or accepted with every event refusing the
    // cost fields (the resolvers check the policy on each event).
    let mut refused = connect(&app, &t.sales).await;
    let early = subscribe(&mut refused, with_cost).await;
    let mut sales = connect(&app, &t.sales).await;
    assert!(
        subscribe(
            &mut sales,
            "subscription { leadQualified { lead { sourceCampaign { name channel } } } }"
        )
        .await
        .is_none()
    );
    let mut marketing = connect(&app, &t.marketing).await;
    assert!(subscribe(&mut marketing, with_cost).await.is_none());

    app.ok(
        &t.sales,
        "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }",
        json!({"id": lead}),
    )
    .await;
    let event = recv(&mut sales).await;
    assert_eq!(
        event["payload"]["data"]["leadQualified"]["lead"]["sourceCampaign"],
        json!({"name": "Search", "channel": "PAID_SEARCH"})
    );
    let text = event.to_string();
    assert!(
        !text.contains("4321") && !text.contains("1234"),
        "cost in a SALES event: {text}"
    );
    let answer = match early {
        Some(answer) => answer,
        None => recv(&mut refused).await,
    };
    let text = answer.to_string();
    assert!(
        answer["type"] == "error" || text.contains("FORBIDDEN"),
        "{text}"
    );
    assert!(
        !text.contains("4321") && !text.contains("1234"),
        "cost in a SALES event: {text}"
    );
    let event = recv(&mut marketing).await;
    assert_eq!(
        event["payload"]["data"]["leadQualified"]["lead"]["sourceCampaign"],
        json!({"name": "Search", "budget": {"amount": "4321.00"}, "spend": {"amount": "1234.00"}})
    );
}
