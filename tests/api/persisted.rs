//! Persisted operations over HTTP (POST and GET) and WebSocket: Apollo's
//! automatic persisted queries and trusted documents (docs/errors.md#persisted-operations).

use crate::helpers::TestApp;
use crate::subscriptions::{Incoming, TRANSPORT, Ws};
use leadgraph::auth::Role;
use leadgraph::config::TrustedDocuments;
use leadgraph::graphql::persisted::{sha256, to_hex};
use serde_json::{Value, json};

const GR: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

const QUEUE: &str = "query Queue { leads(first: 10, orderBy: {field: SCORE, direction: DESC}) \
    { edges { node { id email stage score } } } }";
const CREATE: &str =
    "mutation Create($email: String!) { createLead(input: {email: $email}) { id email } }";
const MOVES: &str = "subscription Moves { leadStageChanged { from to lead { id } } }";

fn hash(text: &str) -> String {
    to_hex(&sha256(text))
}

fn pq(text: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash(text)}})
}

/// A response: status, headers and JSON body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "errors: {:#}", self.body);
        &self.body["data"]
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn post(app: &TestApp, token: &str, accept: &str, body: Value) -> Answer {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("request");
    answer(response).await
}

/// GET with `params`, each URL-encoded (`extensions` as JSON text).
async fn get(app: &TestApp, token: &str, accept: &str, params: &[(&str, String)]) -> Answer {
    let response = app
        .client
        .get(&app.url)
        .bearer_auth(token)
        .header("accept", accept)
        .query(params)
        .send()
        .await
        .expect("request");
    answer(response).await
}

/// `subscribe` with `payload`, then ping: the messages that came for `id`
/// before the pong (the server handles messages in order).
async fn subscribe(ws: &mut Ws, id: &str, payload: Value) -> Vec<Value> {
    ws.send(json!({"type": "subscribe", "id": id, "payload": payload}))
        .await;
    ws.send(json!({"type": "ping"})).await;
    let mut messages = Vec::new();
    loop {
        match ws.recv().await {
            Incoming::Json(m) if m["type"] == "pong" => return messages,
            Incoming::Json(m) => messages.push(m),
            closed => panic!("closed while subscribing: {closed:?}"),
        }
    }
}

/// The messages for `id` until its `complete` (or its `error`).
async fn until_done(ws: &mut Ws, id: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        match ws.recv().await {
            Incoming::Json(m) if m["id"] == id => {
                let done = m["type"] == "complete" || m["type"] == "error";
                messages.push(m);
                if done {
                    return messages;
                }
            }
            Incoming::Json(_) => {}
            closed => panic!("closed: {closed:?}"),
        }
    }
}

fn error_code(message: &Value) -> &str {
    message["payload"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Apollo's round trip: a hash alone is not found (200 with
/// `application/json`, 400 with `application/graphql-response+json`, never
/// cached); sent with its query it is registered and run; then the hash
/// alone answers exactly what the text answers, over POST and GET, and a
/// prepared plan answers it as it answers the text.
#[tokio::test]
async fn a_hash_is_not_found_until_registered_then_answers_like_its_text() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, "admin@example.com");
    for i in 0..3 {
        app.create_lead(&admin, &format!("apq{i}@example.com"))
            .await;
    }
    let only_hash = json!({"extensions": pq(QUEUE)});
    for (accept, status) in [(JSON, 200), (GR, 400)] {
        let miss = post(&app, &admin, accept, only_hash.clone()).await;
        assert_eq!(miss.status, status, "{accept}");
        assert_eq!(miss.body["errors"][0]["message"], "PersistedQueryNotFound");
        assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
        assert!(miss.body.get("data").is_none());
        assert_eq!(miss.header("cache-control"), Some("no-store"));
    }
    let params = [("extensions", pq(QUEUE).to_string())];
    let miss = get(&app, &admin, JSON, &params).await;
    assert_eq!(
        (miss.status, miss.code()),
        (200, "PERSISTED_QUERY_NOT_FOUND")
    );

    let text = post(&app, &admin, GR, json!({"query": QUEUE})).await;
    let expected = text.data().clone();
    assert_eq!(expected["leads"]["edges"].as_array().map(Vec::len), Some(3));
    let registered = post(
        &app,
        &admin,
        GR,
        json!({"query": QUEUE, "extensions": pq(QUEUE)}),
    )
    .await;
    assert_eq!(registered.status, 200);
    assert_eq!(registered.data(), &expected);
    assert_eq!(registered.header("cache-control"), None);

    let by_hash = post(&app, &admin, GR, only_hash.clone()).await;
    assert_eq!(by_hash.status, 200);
    assert_eq!(by_hash.data(), &expected);
    // The executor has answered this text: a plan answers it, by hash too.
    assert_eq!(by_hash.header("x-leadgraph-plans"), Some("1"));
    let by_get = get(&app, &admin, GR, &params).await;
    assert_eq!(by_get.status, 200);
    assert_eq!(by_get.data(), &expected);
    // A browser's GET by hash is answered, not given GraphiQL.
    let browser = get(&app, &admin, "text/html,application/json;q=0.9", &params).await;
    assert_eq!(browser.data(), &expected);
    // In a batch, each operation by its own means.
    let batch = post(
        &app,
        &admin,
        JSON,
        json!([only_hash, {"query": "{ me { role } }"}, {"extensions": pq("{ me { id } }")}]),
    )
    .await;
    assert_eq!(batch.body[0]["data"], expected);
    assert_eq!(batch.body[1]["data"]["me"]["role"], "ADMIN");
    assert_eq!(
        batch.body[2]["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    let metrics = app
        .client
        .get(format!("http://{}/metrics", app.addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for outcome in ["hit", "miss", "registration"] {
        let series = format!("leadgraph_persisted_queries_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&series), "{series} missing");
    }
}

#[tokio::test]
async fn a_query_with_another_hash_or_version_is_bad_input_and_never_registered() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let other = "{ me { id } }";
    let wrong = post(
        &app,
        &admin,
        GR,
        json!({"query": other, "extensions": pq(QUEUE)}),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.code(), "BAD_USER_INPUT");
    assert_eq!(
        wrong.body["errors"][0]["extensions"]["field"],
        "extensions.persistedQuery.sha256Hash"
    );
    // The hash does not now stand for the other document.
    let miss = post(&app, &admin, GR, json!({"extensions": pq(QUEUE)})).await;
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");

    let v2 = json!({"persistedQuery": {"version": 2, "sha256Hash": hash(other)}});
    let answer = post(
        &app,
        &admin,
        JSON,
        json!({"query": other, "extensions": v2}),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (200, "BAD_USER_INPUT"));
    assert_eq!(
        answer.body["errors"][0]["extensions"]["field"],
        "extensions.persistedQuery.version"
    );
    // A request that names no document at all is still a 400.
    for body in [
        json!({}),
        json!({"extensions": {"other": 1}}),
        json!({"query": null}),
    ] {
        let answer = post(&app, &admin, JSON, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_USER_INPUT"),
            "{body}"
        );
    }
    let answer = get(&app, &admin, JSON, &[("extensions", "[1]".to_owned())]).await;
    assert_eq!((answer.status, answer.code()), (400, "BAD_USER_INPUT"));
    // A document that does not parse is not registered either.
    let broken = "{ me { id }";
    let answer = post(
        &app,
        &admin,
        GR,
        json!({"query": broken, "extensions": pq(broken)}),
    )
    .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let miss = post(&app, &admin, GR, json!({"extensions": pq(broken)})).await;
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND");
}

/// GET still runs no mutation, whether sent as text or by hash.
#[tokio::test]
async fn a_persisted_mutation_over_get_is_still_405() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let variables = json!({"email": "first@example.com"});
    let created = post(
        &app,
        &admin,
        GR,
        json!({"query": CREATE, "variables": variables, "extensions": pq(CREATE)}),
    )
    .await;
    assert_eq!(created.data()["createLead"]["email"], "first@example.com");
    let by_hash = [
        ("extensions", pq(CREATE).to_string()),
        (
            "variables",
            json!({"email": "second@example.com"}).to_string(),
        ),
    ];
    let with_text = [
        ("query", CREATE.to_owned()),
        ("extensions", pq(CREATE).to_string()),
        (
            "variables",
            json!({"email": "third@example.com"}).to_string(),
        ),
    ];
    for params in [&by_hash[..], &with_text[..]] {
        let refused = get(&app, &admin, GR, params).await;
        assert_eq!(refused.status, 405);
        assert_eq!(refused.header("allow"), Some("POST"));
        assert_eq!(refused.code(), "BAD_USER_INPUT");
    }
    let leads = app
        .ok(
            &admin,
            "{ leads(first: 10) { edges { node { email } } } }",
            json!({}),
        )
        .await;
    assert_eq!(leads["leads"]["edges"].as_array().map(Vec::len), Some(1));
    // Over POST, the hash runs it.
    let again = post(
        &app,
        &admin,
        GR,
        json!({"extensions": pq(CREATE), "variables": {"email": "fourth@example.com"}}),
    )
    .await;
    assert_eq!(again.data()["createLead"]["email"], "fourth@example.com");
}

#[tokio::test]
async fn with_apq_off_a_hash_is_not_supported_and_text_still_runs() {
    let app = TestApp::spawn_with(|c| c.apq = false).await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let query = "{ me { role } }";
    for body in [
        json!({"extensions": pq(query)}),
        json!({"query": query, "extensions": pq(query)}),
    ] {
        let answer = post(&app, &admin, JSON, body).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body["errors"][0]["message"],
            "PersistedQueryNotSupported"
        );
        assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_SUPPORTED");
    }
    let text = post(&app, &admin, GR, json!({"query": query})).await;
    assert_eq!(text.data()["me"]["role"], "ADMIN");
}

/// A cache of a few hundred bytes keeps a few documents, never all: the
/// others are not found again, and a client resends them.
#[tokio::test]
async fn a_tiny_cache_evicts() {
    let app = TestApp::spawn_with(|c| c.apq_cache_size = 300).await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let documents: Vec<String> = (0..12)
        .map(|i| format!("query Q{i:02} {{ me {{ id role }} }} # {}", "-".repeat(60)))
        .collect();
    for doc in &documents {
        let answer = post(
            &app,
            &admin,
            JSON,
            json!({"query": doc, "extensions": pq(doc)}),
        )
        .await;
        assert_eq!(answer.data()["me"]["role"], "ADMIN");
    }
    let mut found = 0;
    for doc in &documents {
        let answer = post(&app, &admin, JSON, json!({"extensions": pq(doc)})).await;
        if answer.body.get("errors").is_none() {
            found += 1;
        } else {
            assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_FOUND");
        }
    }
    assert!(found <= 300 / documents[0].len(), "{found} of 12 kept");
    // Sent again with its query, any of them runs (and is registered anew).
    let last = &documents[0];
    let answer = post(
        &app,
        &admin,
        JSON,
        json!({"query": last, "extensions": pq(last)}),
    )
    .await;
    assert_eq!(answer.data()["me"]["role"], "ADMIN");
}

/// `subscribe` payloads carry `extensions` too: a query and a subscription
/// registered over one connection run by hash over another.
#[tokio::test]
async fn persisted_operations_over_websocket() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let me = "query Me { me { role } }";
    let mut ws = Ws::connect(&app, &admin).await;
    let miss = subscribe(&mut ws, "1", json!({"extensions": pq(me)})).await;
    assert_eq!(miss.len(), 1, "{miss:?}");
    assert_eq!(miss[0]["type"], "error");
    assert_eq!(error_code(&miss[0]), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(miss[0]["payload"][0]["message"], "PersistedQueryNotFound");

    ws.send(
        json!({"type": "subscribe", "id": "2", "payload": {"query": me, "extensions": pq(me)}}),
    )
    .await;
    let done = until_done(&mut ws, "2").await;
    assert_eq!(done[0]["payload"]["data"]["me"]["role"], "ADMIN");
    let mismatch = subscribe(
        &mut ws,
        "3",
        json!({"query": "{ me { id } }", "extensions": pq(me)}),
    )
    .await;
    assert_eq!(error_code(&mismatch[0]), "BAD_USER_INPUT");
    let registered = subscribe(
        &mut ws,
        "4",
        json!({"query": MOVES, "extensions": pq(MOVES)}),
    )
    .await;
    assert!(registered.is_empty(), "{registered:?}");

    let mut other = Ws::connect(&app, &admin).await;
    other
        .send(json!({"type": "subscribe", "id": "a", "payload": {"extensions": pq(me)}}))
        .await;
    let done = until_done(&mut other, "a").await;
    assert_eq!(done[0]["type"], "next");
    assert_eq!(done[0]["payload"]["data"]["me"]["role"], "ADMIN");
    let live = subscribe(&mut other, "b", json!({"extensions": pq(MOVES)})).await;
    assert!(live.is_empty(), "{live:?}");
    let id = app.create_lead(&admin, "moving@example.com").await;
    assert_eq!(app.transition(&admin, &id, "MQL", None).await, None);
    for (socket, sub) in [(&mut other, "b"), (&mut ws, "4")] {
        // The lead's creation (to LEAD) comes first.
        let moved = loop {
            match socket.recv().await {
                Incoming::Json(m) if m["payload"]["data"]["leadStageChanged"]["to"] == "MQL" => {
                    break m;
                }
                Incoming::Json(m) => assert_eq!(m["type"], "next", "{m}"),
                closed => panic!("closed: {closed:?}"),
            }
        };
        assert_eq!(moved["type"], "next");
        assert_eq!(moved["id"], sub);
        assert_eq!(
            moved["payload"]["data"]["leadStageChanged"]["lead"]["id"],
            id
        );
    }
    // A payload with neither a query nor a persisted query is a protocol error.
    let mut bad = Ws::open(&app, Some(TRANSPORT), None)
        .await
        .expect("connect");
    bad.init(&admin).await;
    bad.send(json!({"type": "subscribe", "id": "x", "payload": {"extensions": {}}}))
        .await;
    match bad.recv().await {
        Incoming::Closed(code, _) => assert_eq!(code, Some(4400)),
        other => panic!("expected 4400, got {other:?}"),
    }
}

/// Apollo Client's own persisted-queries link (a client nobody here wrote,
/// `.ci/apq-client/client.mjs`) gets through its miss, registration and hit,
/// over POST and GET, whether it asks for `application/graphql-response+json`
/// (Apollo's default: a miss is a 400) or `application/json` (a 200).
#[tokio::test]
async fn apollo_clients_persisted_queries_link_works() {
    let dir = crate::helpers::npm_client("apq-client", "@apollo/client").await;
    for (accept, miss_status) in [(None, 400), (Some(JSON), 200)] {
        let app = TestApp::spawn().await;
        let admin = app.token(Role::Admin, "admin@example.com");
        let mut node = tokio::process::Command::new("node");
        node.arg(dir.join("client.mjs"))
            .env("LEADGRAPH_URL", &app.url)
            .env("LEADGRAPH_TOKEN", &admin)
            .kill_on_drop(true);
        if let Some(accept) = accept {
            node.env("LEADGRAPH_ACCEPT", accept);
        }
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), node.output())
            .await
            .expect("the Apollo client ends in time")
            .expect("node");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|_| panic!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
        assert!(output.status.success(), "{report}");
        let me = json!({"me": {"__typename": "User", "role": "ADMIN"}});
        let created =
            json!({"createLead": {"__typename": "Lead", "email": "apollo-client@example.com"}});
        assert_eq!(
            report["results"],
            json!([me, me, me, created]),
            "{accept:?}"
        );
        let request = |method: &str, query: bool, status: u16| json!({"method": method, "query": query, "status": status});
        let expected = json!([
            request("POST", false, miss_status),
            request("POST", true, 200),
            request("POST", false, 200),
            request("GET", false, 200),
            request("POST", false, miss_status),
            request("POST", true, 200),
        ]);
        assert_eq!(report["requests"], expected, "{accept:?}");
    }
}

/// A manifest of trusted documents in a temporary directory.
fn write_manifest(dir: &std::path::Path, operations: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let operations: Vec<Value> = operations
        .iter()
        .map(|(name, kind, body)| json!({"id": hash(body), "name": name, "type": kind, "body": body}))
        .collect();
    let path = dir.join("manifest.json");
    let manifest = json!({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations});
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    path
}

/// `LEADGRAPH_TRUSTED_DOCUMENTS=only`: the manifest's operations run by hash
/// (or as their exact text); any other document, sent as text, as an
/// unknown hash or as a registration, is refused — introspection included.
#[tokio::test]
async fn trusted_documents_only_runs_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(
        dir.path(),
        &[
            ("Queue", "query", QUEUE),
            ("Create", "mutation", CREATE),
            ("Moves", "subscription", MOVES),
        ],
    );
    let app = TestApp::spawn_with(|c| {
        c.trusted_documents = TrustedDocuments::Only;
        c.trusted_documents_manifest = Some(manifest);
        // Trusted documents are not evicted by the APQ cache.
        c.apq_cache_size = 1;
    })
    .await;
    let admin = app.token(Role::Admin, "admin@example.com");
    let created = post(
        &app,
        &admin,
        GR,
        json!({"extensions": pq(CREATE), "variables": {"email": "trusted@example.com"}}),
    )
    .await;
    assert_eq!(created.data()["createLead"]["email"], "trusted@example.com");
    let by_hash = post(&app, &admin, GR, json!({"extensions": pq(QUEUE)})).await;
    let edges = &by_hash.data()["leads"]["edges"];
    assert_eq!(edges[0]["node"]["email"], "trusted@example.com");
    let by_get = get(&app, &admin, GR, &[("extensions", pq(QUEUE).to_string())]).await;
    assert_eq!(by_get.data(), by_hash.data());
    let as_text = post(&app, &admin, GR, json!({"query": QUEUE})).await;
    assert_eq!(as_text.data(), by_hash.data());
    let with_both = post(
        &app,
        &admin,
        GR,
        json!({"query": QUEUE, "extensions": pq(QUEUE)}),
    )
    .await;
    assert_eq!(with_both.data(), by_hash.data());
    let mutation_by_get = get(
        &app,
        &admin,
        GR,
        &[
            ("extensions", pq(CREATE).to_string()),
            ("variables", json!({"email": "get@example.com"}).to_string()),
        ],
    )
    .await;
    assert_eq!(mutation_by_get.status, 405);

    let other = "{ me { id } }";
    let introspection = "{ __schema { queryType { name } } }";
    let refused = [
        json!({"query": other}),
        json!({"query": introspection}),
        json!({"extensions": pq(other)}),
        json!({"query": other, "extensions": pq(other)}),
        // A registration refused is not kept: still refused by hash.
        json!({"extensions": pq(other)}),
    ];
    for body in refused {
        for (accept, status) in [(GR, 400), (JSON, 200)] {
            let answer = post(&app, &admin, accept, body.clone()).await;
            assert_eq!(answer.status, status, "{body} {accept}");
            assert_eq!(answer.code(), "PERSISTED_QUERY_NOT_TRUSTED", "{body}");
            let message = answer.body["errors"][0]["message"].as_str().unwrap_or("");
            assert!(
                message.starts_with("persisted operations only"),
                "{message}"
            );
            assert!(answer.body.get("data").is_none());
        }
    }
    let refused = get(&app, &admin, JSON, &[("query", other.to_owned())]).await;
    assert_eq!(refused.code(), "PERSISTED_QUERY_NOT_TRUSTED");

    // Over WebSocket: the manifest's subscription by hash, nothing else.
    let mut ws = Ws::connect(&app, &admin).await;
    let live = subscribe(&mut ws, "moves", json!({"extensions": pq(MOVES)})).await;
    assert!(live.is_empty(), "{live:?}");
    let other_sub = "subscription { leadQualified { cursor } }";
    for (id, payload) in [
        ("text", json!({"query": other_sub})),
        ("hash", json!({"extensions": pq(other_sub)})),
        (
            "register",
            json!({"query": other_sub, "extensions": pq(other_sub)}),
        ),
    ] {
        let answer = subscribe(&mut ws, id, payload).await;
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(answer[0]["type"], "error");
        assert_eq!(error_code(&answer[0]), "PERSISTED_QUERY_NOT_TRUSTED");
    }
    let id = created.data()["createLead"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        app.transition(&admin, &id, "MQL", None).await,
        Some("PERSISTED_QUERY_NOT_TRUSTED".into())
    );
    let transition = "mutation Move($id: ID!) { transitionLead(id: $id, to: MQL) { stage } }";
    assert_eq!(
        post(
            &app,
            &admin,
            JSON,
            json!({"query": transition, "variables": {"id": id}})
        )
        .await
        .code(),
        "PERSISTED_QUERY_NOT_TRUSTED"
    );
}

/// Settings given to `leadgraph serve`, and what its error must say.
type StartupCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// A manifest that does not check out stops the server at startup, naming
/// the setting and the offending entry.
#[tokio::test]
async fn a_bad_manifest_is_a_startup_error_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/startup.db?mode=rwc", dir.path().display());
    let good = write_manifest(dir.path(), &[("Queue", "query", QUEUE)]);
    let text = std::fs::read_to_string(&good).expect("read");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, text.replace(&hash(QUEUE), &hash("something else"))).expect("write");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"format\": ").expect("write");
    let missing = dir.path().join("missing.json");
    let cases: [StartupCase; 4] = [
        (
            &[("LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST", path(&bad))],
            &[
                "LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST",
                "operations[0]",
                "\"Queue\"",
                "SHA-256",
            ],
        ),
        (
            &[("LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST", path(&broken))],
            &[
                "LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST",
                "not an Apollo persisted query manifest",
            ],
        ),
        (
            &[("LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST", path(&missing))],
            &["LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST", "cannot read"],
        ),
        (
            &[("LEADGRAPH_TRUSTED_DOCUMENTS", "only")],
            &["LEADGRAPH_TRUSTED_DOCUMENTS:", "needs a manifest"],
        ),
    ];
    for (env, expected) in cases {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"));
        command
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("LEADGRAPH_ADDR", "127.0.0.1:0")
            .env("LEADGRAPH_RESCORE_INTERVAL", "0")
            .env("RUST_LOG", "error")
            .env_remove("LEADGRAPH_TRUSTED_DOCUMENTS")
            .env_remove("LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST")
            .envs(env.iter().copied())
            .kill_on_drop(true);
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
            .await
            .expect("the server stops at once")
            .expect("the command runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?}");
        for part in expected {
            assert!(stderr.contains(part), "{part:?} not in {stderr}");
        }
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
