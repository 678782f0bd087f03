//! Stage-change subscriptions over real WebSockets (docs/events.md, docs/roles.md): the
//! protocol and its close codes, visibility, resuming by cursor across
//! reconnects, restarts and instances, and the `graphql-ws` npm client.

use crate::helpers::{TestApp, Tokens};
use futures::{SinkExt, StreamExt};
use leadgraph::auth::Role;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

pub const TRANSPORT: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";
/// How long any single expected message may take.
const WAIT: Duration = Duration::from_secs(10);

const QUALIFIED: &str = "subscription($after: String) { leadQualified(after: $after) { cursor from to actor lead { id email stage } } }";
const CHANGED: &str = "subscription($after: String, $to: [LeadStage!]) { leadStageChanged(after: $after, toStages: $to) { cursor from to actor reason lead { id stage } } }";
const QUALIFY: &str = "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }";

#[derive(Debug)]
pub enum Incoming {
    Json(Value),
    Closed(Option<u16>, String),
}

/// A raw WebSocket client, so every message and close code is visible.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Messages that arrived while waiting for a pong.
    early: std::collections::VecDeque<Value>,
}

impl Ws {
    pub async fn open(
        app: &TestApp,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Ws, tungstenite::Error> {
        let mut request = format!("ws://{}/graphql/ws", app.addr)
            .into_client_request()
            .expect("request");
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(protocol).expect("header"),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", HeaderValue::from_str(origin).expect("header"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws {
            stream,
            early: Default::default(),
        })
    }

    /// Connected and acknowledged with `token`.
    pub async fn connect(app: &TestApp, token: &str) -> Ws {
        let mut ws = Ws::open(app, Some(TRANSPORT), None).await.expect("connect");
        ws.init(token).await;
        ws
    }

    pub async fn init(&mut self, token: &str) {
        self.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        match self.recv().await {
            Incoming::Json(m) if m["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// The next message or the close, failing the test after [`WAIT`].
    pub async fn recv(&mut self) -> Incoming {
        if let Some(message) = self.early.pop_front() {
            return Incoming::Json(message);
        }
        tokio::time::timeout(WAIT, self.recv_forever())
            .await
            .expect("timed out waiting for a WebSocket message")
    }

    async fn recv_forever(&mut self) -> Incoming {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Incoming::Json(serde_json::from_str(text.as_str()).expect("JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) => Incoming::Closed(Some(u16::from(f.code)), f.reason.to_string()),
                        None => Incoming::Closed(None, String::new()),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Incoming::Closed(None, String::new()),
            }
        }
    }

    /// Subscribe, then wait for a ping's pong: the server handles messages
    /// in order and starts the subscription before it reads the ping, so
    /// the subscription is live when this returns.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}))
            .await;
        self.send(json!({"type": "ping"})).await;
        let mut pending = Vec::new();
        loop {
            match self.recv().await {
                Incoming::Json(m) if m["type"] == "pong" => {
                    self.early.extend(pending);
                    return;
                }
                // Replayed events (with `after`) may come first.
                Incoming::Json(m) => pending.push(m),
                other => panic!("closed while subscribing: {other:?}"),
            }
        }
    }

    /// The payload of the next `next` message of `id`.
    async fn next_event(&mut self, id: &str) -> Value {
        match self.recv().await {
            Incoming::Json(m) if m["type"] == "next" && m["id"] == id => {
                assert!(m["payload"].get("errors").is_none(), "errors: {m}");
                m["payload"]["data"].clone()
            }
            other => panic!("expected next for {id}, got {other:?}"),
        }
    }

    /// The close code, skipping any other message.
    async fn closed(&mut self) -> (Option<u16>, String) {
        loop {
            if let Incoming::Closed(code, reason) = self.recv().await {
                return (code, reason);
            }
        }
    }
}

/// A lead at LEAD, created by ADMIN (unowned).
async fn new_lead(app: &TestApp, t: &Tokens, email: &str) -> String {
    app.create_lead(&t.admin, email).await
}

/// Leads at LEAD, created concurrently.
async fn new_leads(app: &Arc<TestApp>, t: &Tokens, prefix: &str, n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (app, token) = (app.clone(), t.admin.clone());
        let email = format!("{prefix}{i}@example.com");
        tasks.push(tokio::spawn(async move {
            app.create_lead(&token, &email).await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    ids
}

/// LEAD → MQL as MARKETING (visible to SALES afterwards).
async fn to_mql(app: &TestApp, t: &Tokens, id: &str) {
    assert_eq!(app.transition(&t.marketing, id, "MQL", None).await, None);
}

/// The MQL events in the outbox, in sequence order: their lead ids.
async fn outbox_mql_leads(app: &TestApp) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    entity::stage_event::Entity::find()
        .filter(entity::stage_event::Column::ToStage.eq("MQL"))
        .order_by_asc(entity::stage_event::Column::Seq)
        .all(&app.state.db.read)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| {
            leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Lead, e.lead_id).0
        })
        .collect()
}

#[tokio::test]
async fn sales_sees_a_qualification_by_another_rep_within_two_seconds() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.lead_at(&t, "q@example.com", "MQL").await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("1", QUALIFIED, json!({})).await;
    app.ok(&t.sales2, QUALIFY, json!({"id": id})).await;
    let event = tokio::time::timeout(Duration::from_secs(2), ws.next_event("1"))
        .await
        .expect("the event within 2 s");
    let event = &event["leadQualified"];
    assert_eq!(event["lead"]["id"], id.as_str());
    assert_eq!(event["lead"]["email"], "q@example.com");
    assert_eq!(event["lead"]["stage"], "SQL");
    assert_eq!(event["from"], "MQL");
    assert_eq!(event["to"], "SQL");
    assert_eq!(event["actor"], "sue@example.com");
    assert!(event["cursor"].as_str().is_some_and(|c| !c.is_empty()));
}

/// The poll is only a safety net: a mutation wakes this instance's
/// subscribers itself, over HTTP and over the WebSocket alike. With the poll
/// at ten minutes, both events must still come within 2 s (on PostgreSQL
/// NOTIFY would wake them anyway; on SQLite only the handlers' wake-up can).
#[tokio::test]
async fn mutations_wake_subscribers_without_waiting_for_the_poll() {
    let app = TestApp::spawn_with(|c| c.event_poll_interval = Duration::from_secs(600)).await;
    let t = app.tokens();
    let first = app.lead_at(&t, "w1@example.com", "MQL").await;
    let second = app.lead_at(&t, "w2@example.com", "MQL").await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("1", QUALIFIED, json!({})).await;
    app.ok(&t.sales2, QUALIFY, json!({"id": first})).await;
    let event = tokio::time::timeout(Duration::from_secs(2), ws.next_event("1"))
        .await
        .expect("the HTTP mutation's event within 2 s");
    assert_eq!(event["leadQualified"]["lead"]["id"], first.as_str());

    let mut writer = Ws::connect(&app, &t.sales2).await;
    writer
        .send(json!({"type": "subscribe", "id": "m", "payload": {"query": QUALIFY, "variables": {"id": second}}}))
        .await;
    match writer.recv().await {
        Incoming::Json(m) if m["type"] == "next" && m["id"] == "m" => {
            assert!(m["payload"].get("errors").is_none(), "errors: {m}");
        }
        other => panic!("expected the mutation's result, got {other:?}"),
    }
    let event = tokio::time::timeout(Duration::from_secs(2), ws.next_event("1"))
        .await
        .expect("the WebSocket mutation's event within 2 s");
    assert_eq!(event["leadQualified"]["lead"]["id"], second.as_str());
}

#[tokio::test]
async fn a_marketing_disqualification_of_a_lead_never_reaches_sales() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let hidden = new_lead(&app, &t, "hidden@example.com").await;
    let shown = new_lead(&app, &t, "shown@example.com").await;
    let mut sales = Ws::connect(&app, &t.sales).await;
    sales.subscribe("s", CHANGED, json!({})).await;
    // (Creations just before subscribing may still arrive: not asked for.)
    let mut marketing = Ws::connect(&app, &t.marketing).await;
    marketing
        .subscribe("m", CHANGED, json!({"to": ["DISQUALIFIED", "MQL"]}))
        .await;
    assert_eq!(
        app.transition(&t.marketing, &hidden, "DISQUALIFIED", Some("spam"))
            .await,
        None
    );
    to_mql(&app, &t, &shown).await;
    // SALES gets the later, visible change first: the earlier one was not sent.
    let first = sales.next_event("s").await;
    assert_eq!(first["leadStageChanged"]["lead"]["id"], shown.as_str());
    assert_eq!(first["leadStageChanged"]["to"], "MQL");
    // MARKETING sees both, in order.
    let m1 = marketing.next_event("m").await;
    assert_eq!(m1["leadStageChanged"]["lead"]["id"], hidden.as_str());
    assert_eq!(m1["leadStageChanged"]["to"], "DISQUALIFIED");
    assert_eq!(m1["leadStageChanged"]["reason"], "spam");
    let m2 = marketing.next_event("m").await;
    assert_eq!(m2["leadStageChanged"]["lead"]["id"], shown.as_str());
}

#[tokio::test]
async fn sales_sees_its_own_leads_before_qualification_and_filters_by_stage() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("all", CHANGED, json!({})).await;
    ws.subscribe("mql", CHANGED, json!({"to": ["MQL"]})).await;
    // A lead SALES creates is its own: its creation (to LEAD) is visible.
    let own = app.create_lead(&t.sales, "own@example.com").await;
    let created = ws.next_event("all").await;
    assert_eq!(created["leadStageChanged"]["lead"]["id"], own.as_str());
    assert_eq!(created["leadStageChanged"]["from"], Value::Null);
    assert_eq!(created["leadStageChanged"]["to"], "LEAD");
    to_mql(&app, &t, &own).await;
    let mut seen = HashSet::new();
    for _ in 0..2 {
        match ws.recv().await {
            Incoming::Json(m) if m["type"] == "next" => {
                assert_eq!(m["payload"]["data"]["leadStageChanged"]["to"], "MQL");
                seen.insert(m["id"].as_str().expect("id").to_owned());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, HashSet::from(["all".to_owned(), "mql".to_owned()]));
}

#[tokio::test]
async fn resuming_with_the_last_cursor_replays_exactly_the_missed_changes() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.tokens();
    let first = new_lead(&app, &t, "first@example.com").await;
    let ids = new_leads(&app, &t, "missed", 50).await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("1", CHANGED, json!({})).await;
    to_mql(&app, &t, &first).await;
    let event = ws.next_event("1").await;
    let cursor = event["leadStageChanged"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    for id in &ids {
        to_mql(&app, &t, id).await;
    }
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("2", CHANGED, json!({"after": cursor})).await;
    let mut received = Vec::new();
    for _ in 0..50 {
        let event = ws.next_event("2").await;
        received.push(
            event["leadStageChanged"]["lead"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(received, ids, "exactly the 50 missed changes, in order");
    // And then live: the next one is the next change, no duplicate between.
    let last = new_lead(&app, &t, "last@example.com").await;
    to_mql(&app, &t, &last).await;
    let event = ws.next_event("2").await;
    assert_eq!(event["leadStageChanged"]["lead"]["id"], last.as_str());
}

/// Receive `n` MQL events of `id`: their lead ids, and the last cursor.
async fn collect(ws: &mut Ws, id: &str, received: &mut Vec<String>, cursor: &mut String, n: usize) {
    for _ in 0..n {
        let event = ws.next_event(id).await;
        let event = &event["leadStageChanged"];
        assert_eq!(event["to"], "MQL");
        received.push(event["lead"]["id"].as_str().expect("id").to_owned());
        *cursor = event["cursor"].as_str().expect("cursor").to_owned();
    }
}

fn commit_concurrently(
    app: &Arc<TestApp>,
    t: &Tokens,
    ids: &[String],
) -> Vec<tokio::task::JoinHandle<()>> {
    ids.iter()
        .map(|id| {
            let (app, token, id) = (app.clone(), t.marketing.clone(), id.clone());
            tokio::spawn(async move {
                assert_eq!(app.transition(&token, &id, "MQL", None).await, None);
            })
        })
        .collect()
}

fn assert_all_once_in_order(received: &[String], expected_order: &[String], ids: &[String]) {
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "no duplicates");
    assert_eq!(unique, ids.iter().collect::<HashSet<_>>(), "every change");
    assert_eq!(received, expected_order, "in outbox order");
}

#[tokio::test]
async fn two_hundred_concurrent_changes_across_a_reconnect_arrive_once_in_order() {
    let app = Arc::new(TestApp::spawn().await);
    let t = app.tokens();
    let ids = new_leads(&app, &t, "c", 200).await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("a", CHANGED, json!({"to": ["MQL"]})).await;
    let tasks = commit_concurrently(&app, &t, &ids);
    let (mut received, mut cursor) = (Vec::new(), String::new());
    collect(&mut ws, "a", &mut received, &mut cursor, 60).await;
    drop(ws);
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("b", CHANGED, json!({"to": ["MQL"], "after": cursor}))
        .await;
    collect(&mut ws, "b", &mut received, &mut cursor, 140).await;
    for task in tasks {
        task.await.expect("commit");
    }
    assert_all_once_in_order(&received, &outbox_mql_leads(&app).await, &ids);
}

#[tokio::test]
async fn a_server_restart_between_reconnects_loses_nothing() {
    let mut app = Arc::new(TestApp::spawn().await);
    let t = app.tokens();
    let ids = new_leads(&app, &t, "r", 200).await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("a", CHANGED, json!({"to": ["MQL"]})).await;
    for task in commit_concurrently(&app, &t, &ids[..100]) {
        task.await.expect("commit");
    }
    let (mut received, mut cursor) = (Vec::new(), String::new());
    collect(&mut ws, "a", &mut received, &mut cursor, 40).await;
    // Restart: the old server closes the socket (1001) and stops.
    let dir = Arc::get_mut(&mut app).expect("sole owner").keep_dir();
    let url = app.database_url.clone();
    drop(app);
    let (code, _) = ws.closed().await;
    assert_eq!(code, Some(1001));
    let app = Arc::new(TestApp::spawn_on(url, dir, |_| {}).await);
    let tasks = commit_concurrently(&app, &t, &ids[100..]);
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("b", CHANGED, json!({"to": ["MQL"], "after": cursor}))
        .await;
    collect(&mut ws, "b", &mut received, &mut cursor, 160).await;
    for task in tasks {
        task.await.expect("commit");
    }
    assert_all_once_in_order(&received, &outbox_mql_leads(&app).await, &ids);
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_share_events() {
    let a = TestApp::spawn().await;
    if !a.database_url.starts_with("postgres") {
        return; // one process on SQLite: nothing to share
    }
    let b = TestApp::spawn_on(a.database_url.clone(), None, |_| {}).await;
    let t = a.tokens();
    let one = a.lead_at(&t, "one@example.com", "MQL").await;
    let two = a.lead_at(&t, "two@example.com", "MQL").await;
    let mut ws = Ws::connect(&b, &t.sales).await;
    ws.subscribe("1", QUALIFIED, json!({})).await;
    a.ok(&t.sales2, QUALIFY, json!({"id": one})).await;
    let event = tokio::time::timeout(Duration::from_secs(2), ws.next_event("1"))
        .await
        .expect("the event on B within 2 s");
    assert_eq!(event["leadQualified"]["lead"]["id"], one.as_str());

    // Kill B's LISTEN connection; the next change still arrives.
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let name = b
        .state
        .events
        .listener_name()
        .expect("a listener on PostgreSQL");
    let killed = b
        .state
        .db
        .read
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            [name.into()],
        ))
        .await
        .expect("terminate");
    assert_eq!(killed.len(), 1, "B's listener connection");
    a.ok(&t.sales2, QUALIFY, json!({"id": two})).await;
    let event = ws.next_event("1").await;
    assert_eq!(event["leadQualified"]["lead"]["id"], two.as_str());
}

#[tokio::test]
async fn connection_init_without_a_valid_token_closes_with_4403() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer not-a-token"}),
        json!({"Authorization": t.sales}),
        json!(null),
    ] {
        let mut ws = Ws::open(&app, Some(TRANSPORT), None)
            .await
            .expect("connect");
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(ws.closed().await.0, Some(4403), "payload {payload}");
    }
    // The key in any letter case.
    let mut ws = Ws::open(&app, Some(TRANSPORT), None)
        .await
        .expect("connect");
    ws.send(json!({"type": "connection_init", "payload": {"aUtHoRiZaTiOn": format!("bearer {}", t.sales)}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "connection_ack"),
        other => panic!("expected ack, got {other:?}"),
    }
}

#[tokio::test]
async fn no_connection_init_in_time_closes_with_4408() {
    let app = TestApp::spawn_with(|c| c.ws_init_timeout = Duration::from_millis(300)).await;
    let mut ws = Ws::open(&app, Some(TRANSPORT), None)
        .await
        .expect("connect");
    assert_eq!(ws.closed().await.0, Some(4408));
    assert_eq!(
        leadgraph::config::Config::for_database("sqlite::memory:").ws_init_timeout,
        Duration::from_secs(10)
    );
}

#[tokio::test]
async fn protocol_violations_close_with_their_codes() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    // Duplicate id: 4409.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("dup", QUALIFIED, json!({})).await;
    ws.send(json!({"type": "subscribe", "id": "dup", "payload": {"query": QUALIFIED}}))
        .await;
    assert_eq!(ws.closed().await.0, Some(4409));
    // Subscribe before the acknowledgement: 4401.
    let mut ws = Ws::open(&app, Some(TRANSPORT), None)
        .await
        .expect("connect");
    ws.send(json!({"type": "subscribe", "id": "1", "payload": {"query": QUALIFIED}}))
        .await;
    assert_eq!(ws.closed().await.0, Some(4401));
    // A second connection_init: 4429.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", t.sales)}}))
        .await;
    assert_eq!(ws.closed().await.0, Some(4429));
    // Not a protocol message: 4400.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.send(json!({"type": "hello"})).await;
    assert_eq!(ws.closed().await.0, Some(4400));
    // Neither subprotocol offered: 4406.
    let mut ws = Ws::open(&app, None, None).await.expect("connect");
    assert_eq!(ws.closed().await.0, Some(4406));
}

#[tokio::test]
async fn an_id_can_be_reused_after_complete() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.lead_at(&t, "reuse@example.com", "MQL").await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("x", QUALIFIED, json!({})).await;
    ws.send(json!({"type": "complete", "id": "x"})).await;
    ws.subscribe("x", QUALIFIED, json!({})).await;
    app.ok(&t.sales2, QUALIFY, json!({"id": id})).await;
    let event = ws.next_event("x").await;
    assert_eq!(event["leadQualified"]["lead"]["id"], id.as_str());
}

#[tokio::test]
async fn the_socket_closes_when_the_token_expires() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let short = app
        .state
        .keys
        .mint("sam@example.com", Role::Sales, 2, None, None)
        .expect("token");
    let mut ws = Ws::connect(&app, &short).await;
    ws.subscribe("1", QUALIFIED, json!({})).await;
    let opened = std::time::Instant::now();
    let (code, reason) = ws.closed().await;
    assert_eq!(code, Some(4403), "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    assert!(opened.elapsed() < Duration::from_secs(4));
    // An event committed now is not sent to anyone holding the old token.
    let id = app.lead_at(&t, "late@example.com", "MQL").await;
    app.ok(&t.sales2, QUALIFY, json!({"id": id})).await;
    // An expired token is refused at connection_init too.
    let mut ws = Ws::open(&app, Some(TRANSPORT), None)
        .await
        .expect("connect");
    ws.send(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {short}")}}),
    )
    .await;
    assert_eq!(ws.closed().await.0, Some(4403));
}

#[tokio::test]
async fn ingest_cannot_subscribe() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut ws = Ws::connect(&app, &t.ingest).await;
    ws.send(json!({"type": "subscribe", "id": "1", "payload": {"query": QUALIFIED}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["id"], "1");
            assert_eq!(m["payload"][0]["extensions"]["code"], "FORBIDDEN", "{m}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_cursors_are_bad_user_input_on_after() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for cursor in ["garbage", "ZXZ8OTk5OTk5"] {
        let mut ws = Ws::connect(&app, &t.sales).await;
        ws.send(json!({"type": "subscribe", "id": "1", "payload": {"query": QUALIFIED, "variables": {"after": cursor}}}))
            .await;
        match ws.recv().await {
            Incoming::Json(m) => {
                assert_eq!(m["type"], "error", "{m}");
                assert_eq!(m["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
                assert_eq!(m["payload"][0]["extensions"]["field"], "after");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_refused() {
    let mut app = TestApp::spawn().await;
    let t = app.tokens();
    let old = new_lead(&app, &t, "old@example.com").await;
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.subscribe("1", CHANGED, json!({"to": ["MQL"]})).await;
    to_mql(&app, &t, &old).await;
    let cursor = ws.next_event("1").await["leadStageChanged"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    // A change after the cursor; then age every event by 40 days, and add a
    // fresh one.
    let later = new_lead(&app, &t, "later@example.com").await;
    to_mql(&app, &t, &later).await;
    {
        use sea_orm::{EntityTrait, sea_query::Expr};
        entity::stage_event::Entity::update_many()
            .col_expr(
                entity::stage_event::Column::OccurredAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::days(40)),
            )
            .exec(&app.state.db.write)
            .await
            .expect("age events");
    }
    new_lead(&app, &t, "fresh@example.com").await;
    // A restart prunes (as does the hourly retention).
    let dir = app.keep_dir();
    let url = app.database_url.clone();
    drop(app);
    let app = TestApp::spawn_on(url, dir, |_| {}).await;
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.send(json!({"type": "subscribe", "id": "1", "payload": {"query": CHANGED, "variables": {"after": cursor}}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "error", "{m}");
            let error = &m["payload"][0];
            assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
            assert_eq!(error["extensions"]["field"], "after");
            let message = error["message"].as_str().expect("message");
            assert!(
                message.contains("older than the event retention"),
                "{message}"
            );
            assert!(message.contains("resubscribe without `after`"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_event_of_a_lead_merged_away_since_still_carries_its_cursor() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let base = new_lead(&app, &t, "base@example.com").await;
    let dup = new_lead(&app, &t, "dup@example.com").await;
    let primary = new_lead(&app, &t, "primary@example.com").await;
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.subscribe("1", CHANGED, json!({"to": ["MQL"]})).await;
    to_mql(&app, &t, &base).await;
    let cursor = ws.next_event("1").await["leadStageChanged"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    to_mql(&app, &t, &dup).await;
    app.ok(
        &t.marketing,
        "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { id } }",
        json!({"p": primary, "d": dup}),
    )
    .await;
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.subscribe("2", CHANGED, json!({"after": cursor})).await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "next", "{m}");
            let error = &m["payload"]["errors"][0];
            assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{m}");
            assert_eq!(error["extensions"]["leadId"], dup.as_str());
            assert!(error["extensions"]["cursor"].as_str().is_some());
        }
        other => panic!("expected the event, got {other:?}"),
    }
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let first = app.lead_at(&t, "legacy1@example.com", "MQL").await;
    let second = app.lead_at(&t, "legacy2@example.com", "MQL").await;
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("c", QUALIFIED, json!({})).await;
    app.ok(&t.sales2, QUALIFY, json!({"id": first})).await;
    let cursor = ws.next_event("c").await["leadQualified"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    app.ok(&t.sales2, QUALIFY, json!({"id": second})).await;
    let mut ws = Ws::open(&app, Some(LEGACY), None).await.expect("connect");
    ws.init(&t.sales).await;
    ws.send(json!({"type": "start", "id": "1", "payload": {"query": QUALIFIED, "variables": {"after": cursor}}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "data", "{m}");
            assert_eq!(m["id"], "1");
            assert_eq!(
                m["payload"]["data"]["leadQualified"]["lead"]["id"],
                second.as_str()
            );
        }
        other => panic!("expected data, got {other:?}"),
    }
    ws.send(json!({"type": "stop", "id": "1"})).await;
    match ws.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "complete", "{m}"),
        other => panic!("expected complete, got {other:?}"),
    }
    // A bad token: connection_error, then 4403.
    let mut ws = Ws::open(&app, Some(LEGACY), None).await.expect("connect");
    ws.send(json!({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "connection_error", "{m}"),
        other => panic!("expected connection_error, got {other:?}"),
    }
    assert_eq!(ws.closed().await.0, Some(4403));
}

#[tokio::test]
async fn an_origin_outside_the_allow_list_is_refused() {
    let app =
        TestApp::spawn_with(|c| c.allowed_origins = vec!["https://app.example.com".into()]).await;
    let t = app.tokens();
    assert!(
        Ws::open(&app, Some(TRANSPORT), Some("https://evil.example"))
            .await
            .is_err()
    );
    let mut ws = Ws::open(&app, Some(TRANSPORT), Some("https://app.example.com"))
        .await
        .expect("allowed origin");
    ws.init(&t.sales).await;
}

/// PostgreSQL commits out of sequence order: an event whose sequence is
/// taken by a transaction still open is not overtaken by a later one.
#[tokio::test]
async fn a_later_sequence_never_overtakes_an_open_transaction() {
    use leadgraph::graphql::ids::{NodeType, decode};
    use leadgraph::leads::lifecycle::LeadStage;
    use sea_orm::{EntityTrait, TransactionTrait};
    let app = TestApp::spawn().await;
    if !app.database_url.starts_with("postgres") {
        return; // one writer on SQLite: commits are in sequence order
    }
    let t = app.tokens();
    let mut leads = Vec::new();
    for i in 0..4 {
        let id = new_lead(&app, &t, &format!("gap{i}@example.com")).await;
        let model = entity::lead::Entity::find_by_id(decode(NodeType::Lead, &id, "id").unwrap())
            .one(&app.state.db.read)
            .await
            .unwrap()
            .unwrap();
        leads.push((id, model));
    }
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.subscribe("1", CHANGED, json!({"to": ["MQL"]})).await;
    let record = |txn, model| async move {
        leadgraph::events::record_stage_change(
            &txn,
            model,
            Some(LeadStage::Lead),
            LeadStage::Mql,
            "test",
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        txn
    };
    for rollback in [false, true] {
        let (early, late) = if rollback {
            (&leads[2], &leads[3])
        } else {
            (&leads[0], &leads[1])
        };
        let open = record(app.state.db.write.begin().await.unwrap(), &early.1).await;
        let committed = record(app.state.db.write.begin().await.unwrap(), &late.1).await;
        committed.commit().await.unwrap();
        app.state.events.wake();
        // Held back while the lower sequence may still commit.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), ws.recv_forever())
                .await
                .is_err(),
            "an event overtook an open transaction"
        );
        if rollback {
            open.rollback().await.unwrap();
        } else {
            open.commit().await.unwrap();
            let first = ws.next_event("1").await;
            assert_eq!(first["leadStageChanged"]["lead"]["id"], early.0.as_str());
        }
        let next = ws.next_event("1").await;
        assert_eq!(next["leadStageChanged"]["lead"]["id"], late.0.as_str());
    }
}

/// A subscriber that falls behind the broadcast buffer catches up from the
/// outbox: nothing is skipped.
#[tokio::test]
async fn a_lagging_subscriber_catches_up_from_the_outbox() {
    use leadgraph::graphql::ids::{NodeType, decode};
    use leadgraph::leads::lifecycle::LeadStage;
    use sea_orm::{EntityTrait, TransactionTrait};
    let app = TestApp::spawn_with(|c| c.event_buffer = 2).await;
    let t = app.tokens();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(new_lead(&app, &t, &format!("lag{i}@example.com")).await);
    }
    let mut ws = Ws::connect(&app, &t.marketing).await;
    ws.subscribe("1", CHANGED, json!({"to": ["MQL"]})).await;
    // Twenty events in one commit: dispatched at once, far past the buffer.
    let txn = app.state.db.write.begin().await.unwrap();
    for id in &ids {
        let model = entity::lead::Entity::find_by_id(decode(NodeType::Lead, id, "id").unwrap())
            .one(&txn)
            .await
            .unwrap()
            .unwrap();
        leadgraph::events::record_stage_change(
            &txn,
            &model,
            Some(LeadStage::Lead),
            LeadStage::Mql,
            "test",
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    app.state.events.wake();
    for id in &ids {
        let event = ws.next_event("1").await;
        assert_eq!(event["leadStageChanged"]["lead"]["id"], id.as_str());
    }
}

/// The `graphql-ws` npm client (a client nobody here wrote) subscribes with a
/// SALES token, receives, disconnects, resumes with its last cursor, and
/// then sees a new SQL live within a second. See `.ci/ws-client/client.mjs`.
#[tokio::test]
async fn the_graphql_ws_npm_client_subscribes_receives_and_resumes() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = crate::helpers::npm_client("ws-client", "graphql-ws").await;
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut leads = Vec::new();
    for name in ["a", "b", "c", "d"] {
        leads.push(
            app.lead_at(&t, &format!("npm-{name}@example.com"), "MQL")
                .await,
        );
    }
    let qualify = |i: usize| app.ok(&t.sales2, QUALIFY, json!({"id": leads[i]}));
    // A starting cursor: the first qualification.
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.subscribe("c", QUALIFIED, json!({})).await;
    qualify(0).await;
    let start = ws.next_event("c").await["leadQualified"]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    drop(ws);
    qualify(1).await;

    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("client.mjs"))
        .env("LEADGRAPH_WS_URL", format!("ws://{}/graphql/ws", app.addr))
        .env("LEADGRAPH_TOKEN", &t.sales)
        .env("LEADGRAPH_AFTER", &start)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdin = node.stdin.take().expect("stdin");
    let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
    let mut line = async || -> Value {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the npm client answers in time")
            .expect("stdout")
            .expect("a line from the npm client");
        let value: Value = serde_json::from_str(&line).expect("JSON line");
        assert!(value.get("error").is_none(), "npm client: {value}");
        value
    };
    let lead_of = |v: &Value| v["event"]["lead"]["id"].as_str().expect("event").to_owned();

    // Replayed after the start cursor: the one qualified before it connected.
    let first = line().await;
    assert_eq!(lead_of(&first), leads[1]);
    assert_eq!(first["event"]["to"], "SQL");
    assert_eq!(line().await["disconnected"], true);
    // Missed while disconnected, received on resuming with its last cursor.
    qualify(2).await;
    stdin.write_all(b"go\n").await.expect("stdin");
    assert_eq!(lead_of(&line().await), leads[2]);
    assert_eq!(line().await["resumed"], true);
    // Live, within a second.
    qualify(3).await;
    let live = tokio::time::timeout(Duration::from_secs(1), line())
        .await
        .expect("a new SQL within a second");
    assert_eq!(lead_of(&live), leads[3]);
    let status = tokio::time::timeout(WAIT, node.wait())
        .await
        .expect("the npm client exits")
        .expect("status");
    assert!(status.success());
}

#[tokio::test]
async fn oversized_subscriptions_are_limited_like_http_requests() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let aliases: String = (0..2100).map(|i| format!(" a{i}: __typename")).collect();
    let query = format!("subscription {{ leadQualified {{ cursor{aliases} }} }}");
    let mut ws = Ws::connect(&app, &t.sales).await;
    ws.send(json!({"type": "subscribe", "id": "big", "payload": {"query": query}}))
        .await;
    match ws.recv().await {
        Incoming::Json(m) => {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // The connection stays usable.
    ws.subscribe("small", QUALIFIED, json!({})).await;
}

/// The next `next` message of `id`, whole (`data` and `errors`).
async fn next_payload(ws: &mut Ws, id: &str) -> Value {
    match ws.recv().await {
        Incoming::Json(m) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
        other => panic!("expected next for {id}, got {other:?}"),
    }
}

/// Identical subscriptions share the rendering of each event (events::fanout),
/// but never across what a viewer may see: its role's fields, and leads seen
/// only because the viewer owns them.
#[tokio::test]
async fn identical_subscriptions_never_share_what_one_viewer_may_not_see() {
    const SAME: &str = "subscription { leadStageChanged { to lead { id email \
        sourceCampaign { name budget { amount } } } } }";
    const CREATE: &str = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let data = app
        .ok(
            &t.marketing,
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }",
            json!({"input": {"name": "Webinar", "channel": "WEBINAR", "budget": "1000"}}),
        )
        .await;
    let campaign = data["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let lead = |email: &str| json!({"input": {"email": email, "sourceCampaignId": campaign}});
    let data = app.ok(&t.admin, CREATE, lead("other@example.com")).await;
    let other = data["createLead"]["id"].as_str().expect("id").to_owned();
    // Sam (twice), Sue: SALES; Mia: MARKETING. One query text for all.
    let mut sam = Ws::connect(&app, &t.sales).await;
    let mut sam2 = Ws::connect(&app, &t.sales).await;
    let mut sue = Ws::connect(&app, &t.sales2).await;
    let mut mia = Ws::connect(&app, &t.marketing).await;
    for ws in [&mut sam, &mut sam2, &mut sue, &mut mia] {
        ws.subscribe("1", SAME, json!({})).await;
    }
    // Sam's own lead at LEAD: his to see, not Sue's.
    let data = app.ok(&t.sales, CREATE, lead("own@example.com")).await;
    let own = data["createLead"]["id"].as_str().expect("id").to_owned();
    to_mql(&app, &t, &other).await;

    let budget_forbidden = |payload: &Value| {
        let errors = payload["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{payload}");
        assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{payload}");
        assert_eq!(
            errors[0]["path"],
            json!(["leadStageChanged", "lead", "sourceCampaign", "budget"])
        );
    };
    for ws in [&mut sam, &mut sam2] {
        let p = next_payload(ws, "1").await;
        let event = &p["data"]["leadStageChanged"];
        assert_eq!(event["to"], "LEAD");
        assert_eq!(event["lead"]["id"], own.as_str(), "{p}");
        assert_eq!(event["lead"]["email"], "own@example.com");
        assert_eq!(event["lead"]["sourceCampaign"]["name"], "Webinar");
        assert_eq!(event["lead"]["sourceCampaign"]["budget"], Value::Null);
        budget_forbidden(&p);
        let p = next_payload(ws, "1").await;
        assert_eq!(p["data"]["leadStageChanged"]["lead"]["id"], other.as_str());
        budget_forbidden(&p);
    }
    // Sue's first event is the visible one: Sam's own lead never reached her.
    let p = next_payload(&mut sue, "1").await;
    let event = &p["data"]["leadStageChanged"];
    assert_eq!(event["to"], "MQL");
    assert_eq!(event["lead"]["id"], other.as_str(), "{p}");
    assert_eq!(event["lead"]["email"], "other@example.com");
    assert_eq!(event["lead"]["sourceCampaign"]["budget"], Value::Null);
    budget_forbidden(&p);
    // MARKETING, same query, sees both, with the budget.
    for expected in [&own, &other] {
        let p = next_payload(&mut mia, "1").await;
        assert!(p.get("errors").is_none(), "{p}");
        let lead = &p["data"]["leadStageChanged"]["lead"];
        assert_eq!(lead["id"], expected.as_str());
        assert_eq!(lead["sourceCampaign"]["budget"]["amount"], "1000.00");
    }
    // Nothing else is pending for Sue.
    sue.send(json!({"type": "ping"})).await;
    match sue.recv().await {
        Incoming::Json(m) => assert_eq!(m["type"], "pong", "{m}"),
        other => panic!("expected pong, got {other:?}"),
    }
}
