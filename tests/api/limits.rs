//! The limits of the request path (docs/security.md), attacked as the
//! outside review did: deep nesting before the parser, fields multiplied by
//! fragments, aggregate fields under aliases, slow clients, oversized
//! WebSocket messages, floods from one subject — over POST, GET and
//! WebSocket, with a token of every role.

use crate::helpers::TestApp;
use crate::subscriptions::{Incoming, TRANSPORT, Ws};
use futures::SinkExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// `{ __typename @include(if: [[[ … true … ]]]) }`, nested `levels` deep.
fn nested_list(levels: usize) -> String {
    format!(
        "{{ __typename @include(if: {}true{}) }}",
        "[".repeat(levels),
        "]".repeat(levels)
    )
}

/// An object literal `{a:{a:{…}}}` nested `levels` deep, as an argument.
fn nested_object(levels: usize) -> String {
    format!(
        "{{ leads(filter: {}1{}) {{ totalCount }} }}",
        "{a:".repeat(levels),
        "}".repeat(levels)
    )
}

async fn still_serving(app: &TestApp, token: &str) {
    let data = app.ok(token, "{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
}

#[tokio::test]
async fn deeply_nested_values_are_refused_before_parsing_on_every_transport() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for token in [&t.admin, &t.marketing, &t.sales, &t.ingest] {
        for document in [nested_list(1500), nested_object(1500), nested_list(65)] {
            let body = app.gql(token, &document, json!({})).await;
            assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
            assert!(body.get("data").is_none());
            // Over GET as well.
            let response = app
                .client
                .get(&app.url)
                .query(&[("query", document.as_str())])
                .bearer_auth(token)
                .send()
                .await
                .expect("GET");
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
        }
        still_serving(&app, token).await;
    }
    // Nesting inside a string is text, not structure.
    let inside = format!(
        "{{ leads(filter: {{search: \"{}\"}}) {{ totalCount }} }}",
        "[".repeat(200)
    );
    let data = app.ok(&t.admin, &inside, json!({})).await;
    assert_eq!(data["leads"]["totalCount"], 0);

    // Over WebSocket: an error for that operation, the socket stays.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.send(json!({"type": "subscribe", "id": "deep", "payload": {"query": nested_list(1500)}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["id"], "deep");
            assert_eq!(m["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    ws.send(json!({"type": "ping"})).await;
    match ws.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "pong"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn fields_are_counted_with_fragments_expanded_and_typename_included() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // Ten fragments, each spreading the next twice: 2^10 copies of 4 fields,
    // written in a few hundred bytes.
    let mut document = String::from("query { ...F0 }");
    for i in 0..10 {
        document.push_str(&format!(
            " fragment F{i} on Query {{ ...F{next} ...F{next} }}",
            next = i + 1
        ));
    }
    document.push_str(
        " fragment F10 on Query { a: __typename b: __typename c: __typename d: __typename }",
    );
    assert!(document.len() < 1000);
    let body = app.gql(&t.admin, &document, json!({})).await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("4096 fields")),
        "{body}"
    );
    // 2,001 `__typename` aliases: over the limit though async-graphql's own
    // complexity does not count them.
    let aliases: String = (0..2001).map(|i| format!(" t{i}: __typename")).collect();
    let body = app
        .gql(&t.admin, &format!("{{{aliases} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    // Within the limit, the same shapes run.
    let aliases: String = (0..100).map(|i| format!(" t{i}: __typename")).collect();
    let data = app
        .ok(&t.admin, &format!("{{{aliases} }}"), json!({}))
        .await;
    assert_eq!(data["t99"], "Query");
}

#[tokio::test]
async fn aggregate_fields_have_a_cost_so_aliases_cannot_multiply_them() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let five_years = "period: {from: \"2021-01-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"}";
    let aliased = |n: usize| -> String {
        let fields: String = (0..n)
            .map(|i| format!(" f{i}: funnel({five_years}) {{ from }}"))
            .collect();
        format!("{{{fields} }}")
    };
    for token in [&t.admin, &t.sales] {
        let body = app.gql(token, &aliased(200), json!({})).await;
        assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
        let body = app.gql(token, &aliased(20), json!({})).await;
        assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
        let data = app.ok(token, &aliased(5), json!({})).await;
        assert!(data["f4"]["from"].is_string());
    }
    // A search is an aggregate too (async-graphql's complexity, by argument).
    let searches: String = (0..20)
        .map(|i| {
            format!(
                " s{i}: leads(first: 1, filter: {{search: \"x\"}}) {{ pageInfo {{ hasNextPage }} }}"
            )
        })
        .collect();
    let body = app
        .gql(&t.admin, &format!("{{{searches} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
}

#[tokio::test]
async fn an_operation_that_runs_too_long_is_stopped_with_a_code() {
    use base64::Engine;
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(500)).await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "slow@example.com").await;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&id)
        .expect("global id");
    let number: i64 = String::from_utf8(raw).expect("utf-8")["Lead:".len()..]
        .parse()
        .expect("number");
    // Another writer holds the lead: on PostgreSQL its row lock, on SQLite
    // the one write connection. The transition waits past its time limit.
    let db = &app.state.db.write;
    let blocker = db.begin().await.expect("begin");
    if db.get_database_backend() == DbBackend::Postgres {
        blocker
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT id FROM lead WHERE id = {number} FOR UPDATE"),
            ))
            .await
            .expect("lock the row");
    }
    let body = app
        .gql(
            &t.admin,
            "mutation($id: ID!) { transitionLead(id: $id, to: MQL) { stage } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("took longer")),
        "{body}"
    );
    blocker.rollback().await.expect("rollback");
    // The stopped transition left nothing behind.
    let data = app
        .ok(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage version stageHistory { to } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(data["lead"]["stage"], "LEAD");
    assert_eq!(data["lead"]["version"], 1);
    assert_eq!(
        data["lead"]["stageHistory"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_replaced_by_an_error() {
    let app = TestApp::spawn_with(|c| c.max_response_bytes = 2_000).await;
    let t = app.tokens();
    let aliases: String = (0..200).map(|i| format!(" t{i}: __typename")).collect();
    let body = app
        .gql(&t.admin, &format!("{{{aliases} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body.get("data").is_none());
    let data = app.ok(&t.admin, "{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
}

/// Connect, send `bytes`, then wait (at most `wait`) for the server to
/// answer or close; what it sent back.
async fn raw_exchange(app: &TestApp, bytes: &[u8], wait: Duration) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let app = TestApp::spawn_with(|c| {
        c.header_timeout = Duration::from_millis(300);
        c.body_timeout = Duration::from_millis(300);
    })
    .await;
    // Half the headers, then nothing: the server closes the connection.
    let answer = raw_exchange(
        &app,
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Ty",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.is_some(), "the connection stayed open");
    // A body shorter than its Content-Length: 408 once the time is up.
    let token = app.tokens().admin;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\""
    );
    let answer = raw_exchange(&app, request.as_bytes(), Duration::from_secs(5))
        .await
        .expect("the connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("LIMIT_EXCEEDED"), "{answer}");
}

#[tokio::test]
async fn websocket_closes_get_their_codes() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // A client's normal close is answered with a close frame.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.stream
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .expect("close");
    match ws.recv().await {
        Incoming::Closed(Some(1000), _) => {}
        other => panic!("expected a 1000 close frame, got {other:?}"),
    }
    // A message over 1 MiB: 1009, and the connection gauge goes back.
    let mut ws = Ws::open(&app, Some(TRANSPORT), None).await.expect("open");
    let big = json!({"type": "connection_init", "payload": {"x": "a".repeat(1024 * 1024 + 10)}});
    let _ = ws.stream.send(Message::text(big.to_string())).await;
    match ws.recv().await {
        Incoming::Closed(Some(1009), _) => {}
        other => panic!("expected 1009, got {other:?}"),
    }
    still_serving(&app, &t.sales).await;
}

#[tokio::test]
async fn a_subject_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = 1;
        c.rate_burst = 3;
    })
    .await;
    let t = app.tokens();
    let send = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(&app.url)
                .bearer_auth(token)
                .json(&json!({"query": "{ __typename }"}))
                .send()
                .await
                .expect("POST")
        }
    };
    // The burst of 3 passes; the bucket refills one token a second, so a
    // refusal comes within a few more requests however slow the machine.
    let mut passed = 0;
    let refused = loop {
        let response = send(t.sales.clone()).await;
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        passed += 1;
        assert!(passed < 10, "never limited");
    };
    assert!(passed >= 3, "the burst was not granted: {passed}");
    let retry: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(code(&body), "LIMIT_EXCEEDED");
    // Another subject has a bucket of its own.
    assert_eq!(send(t.marketing.clone()).await.status(), 200);
    // A batch takes one token per operation.
    let batch = app
        .client
        .post(&app.url)
        .bearer_auth(&t.admin)
        .json(&vec![json!({"query": "{ __typename }"}); 4])
        .send()
        .await
        .expect("POST");
    assert_eq!(batch.status(), 429);
    // WebSocket `subscribe` draws from the same bucket: an error for that
    // operation, the connection stays.
    let mut ws = Ws::connect(&app, &t.sales).await;
    let mut limited = false;
    'subscribes: for i in 0..10 {
        let id = i.to_string();
        ws.send(json!({"type": "subscribe", "id": id, "payload": {"query": "{ __typename }"}}))
            .await;
        loop {
            match ws.recv().await {
                Incoming::Json(m) if m["type"] == "error" => {
                    assert_eq!(m["id"], id.as_str());
                    assert_eq!(m["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
                    limited = true;
                    break 'subscribes;
                }
                Incoming::Json(m) if m["type"] == "complete" => break,
                Incoming::Json(_) => {}
                other => panic!("the connection closed: {other:?}"),
            }
        }
    }
    assert!(limited, "subscribe was never limited");
    ws.send(json!({"type": "ping"})).await;
    match ws.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "pong"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn errors_of_async_graphql_are_classified_by_origin_not_by_words() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // The message of a bad Decimal says "too many"; it is bad input.
    let body = app
        .gql(
            &t.admin,
            "mutation($id: ID!, $to: LeadStage!, $amount: Decimal) { transitionLead(id: $id, to: $to, dealAmount: $amount) { stage } }",
            json!({"id": "TGVhZDox", "to": "MQL", "amount": "123456789012345678901234567890"}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A real limit of async-graphql's is still one.
    let deep = "{ leads { edges { node { interactions { edges { node { lead { interactions { edges { node { lead { interactions { edges { node { id } } } } } } } } } } } } } } }";
    let body = app.gql(&t.admin, deep, json!({})).await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
}

/// Documents are parsed once per text (`graphql::documents`): a document
/// sent again is still checked again — limits, role, operation name and
/// variables are the request's, not the first sender's.
#[tokio::test]
async fn a_document_sent_again_is_checked_again() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let aliases: String = (0..2001).map(|i| format!(" t{i}: __typename")).collect();
    let over = format!("{{{aliases} }}");
    for _ in 0..2 {
        let body = app.gql(&t.admin, &over, json!({})).await;
        assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    }
    let cost = "{ costPerLead(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { key } }";
    app.ok(&t.marketing, cost, json!({})).await;
    assert_eq!(app.error_code(&t.sales, cost, json!({})).await, "FORBIDDEN");
    app.ok(&t.marketing, cost, json!({})).await;
    // One text, two operations: each request runs the one it names.
    let two = "query A { a: __typename } query B { b: __typename }";
    for (name, field) in [("A", "a"), ("B", "b"), ("A", "a")] {
        let body: Value = app
            .client
            .post(&app.url)
            .bearer_auth(&t.admin)
            .json(&json!({"query": two, "operationName": name}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body");
        assert_eq!(body["data"][field], "Query", "{body}");
    }
    let body = app.gql(&t.admin, two, json!({})).await;
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    // Same text, other variables: validated with the new ones.
    let by_id = "query L($id: ID!) { lead(id: $id) { id } }";
    let id = app.create_lead(&t.admin, "again@example.com").await;
    let data = app.ok(&t.admin, by_id, json!({"id": id})).await;
    assert_eq!(data["lead"]["id"], id);
    let body = app.gql(&t.admin, by_id, json!({"id": ["x"]})).await;
    assert!(
        body["errors"][0]["extensions"]["code"].is_string(),
        "{body}"
    );
    let body = app.gql(&t.admin, by_id, json!({})).await;
    assert!(
        body["errors"][0]["extensions"]["code"].is_string(),
        "{body}"
    );
}
