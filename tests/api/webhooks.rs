//! Webhooks (docs/webhooks.md): a real receiver on 127.0.0.1, started by
//! each test, gets signed events from the outbox — through retries,
//! restarts and two instances — and only what its owner may see.

use crate::helpers::{TestApp, Tokens};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use hmac::{Hmac, Mac};
use leadgraph::config::Config;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    #[allow(dead_code, reason = "shown when a test fails")]
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// The status the receiver answered.
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
struct ReceiverState {
    failures_left: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<Received>,
}

/// An HTTP receiver on 127.0.0.1 that answers 500 to its first `fail`
/// requests, then 200, and reports every request.
struct Receiver {
    url: String,
    failures_left: Arc<AtomicUsize>,
    rx: mpsc::UnboundedReceiver<Received>,
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let _ = state.tx.send(Received {
        path: uri.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: status.as_u16(),
    });
    status
}

impl Receiver {
    async fn start(fail: usize) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let failures_left = Arc::new(AtomicUsize::new(fail));
        let state = ReceiverState {
            failures_left: failures_left.clone(),
            tx,
        };
        let router = axum::Router::new().fallback(receive).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            failures_left,
            rx,
        }
    }

    /// The next request, within `limit`.
    async fn next_within(&mut self, limit: Duration) -> Received {
        tokio::time::timeout(limit, self.rx.recv())
            .await
            .expect("a webhook request in time")
            .expect("receiver running")
    }

    async fn next(&mut self) -> Received {
        self.next_within(Duration::from_secs(10)).await
    }

    /// Nothing more arrives within `window`.
    async fn quiet_for(&mut self, window: Duration) {
        if let Ok(Some(extra)) = tokio::time::timeout(window, self.rx.recv()).await {
            panic!("unexpected extra webhook request: {extra:?}");
        }
    }
}

/// Standard Webhooks verification, as a receiver would do it.
fn verify(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.signature.split(' ').any(|s| s == expected)
}

/// Fast retries, short leases, loopback receivers allowed.
fn fast(config: &mut Config) {
    config.webhook_allow_private = true;
    config.webhook_timeout = Duration::from_secs(1);
    config.webhook_retry_base = Duration::from_millis(50);
    config.webhook_retry_max_delay = Duration::from_millis(200);
    config.webhook_retry_window = Duration::from_secs(60);
    config.webhook_poll_interval = Duration::from_millis(100);
    config.webhook_lease = Duration::from_secs(2);
}

const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url events toStages status description } } }";
const QUALIFY: &str = "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }";
const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(webhookId: $id, first: 50) { edges { node { id type status attempts lastResponseCode lastLatencyMs lastError nextAttemptAt payload } } } }";

/// Create a webhook as `token`; `(id, secret)`.
async fn create(app: &TestApp, token: &str, input: Value) -> (String, String) {
    let data = app.ok(token, CREATE, json!({"input": input})).await;
    let created = &data["createWebhook"];
    (
        created["webhook"]["id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    let data = app.ok(token, DELIVERIES, json!({"id": webhook})).await;
    data["webhookDeliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Wait until the webhook's deliveries satisfy `done`.
async fn deliveries_until(
    app: &TestApp,
    token: &str,
    webhook: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list = deliveries(app, token, webhook).await;
        if done(&list) {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "deliveries never reached the state: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_new_sql_arrives_signed_within_a_second() {
    let app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let mut receiver = Receiver::start(0).await;
    let (hook, secret) = create(
        &app,
        &t.marketing,
        json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"], "description": "new SQLs to the CRM"}),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    let lead = app.lead_at(&t, "sql@example.com", "MQL").await;
    let started = Instant::now();
    app.ok(&t.admin, QUALIFY, json!({"id": lead})).await;
    let got = receiver.next_within(Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(verify(&secret, &got), "the signature verifies: {got:?}");
    assert!(!verify(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        &got
    ));
    let now = chrono::Utc::now().timestamp();
    let ts: i64 = got.timestamp.parse().expect("a timestamp in seconds");
    assert!((now - ts).abs() < 5);
    let body = got.json();
    assert_eq!(
        body["id"],
        got.id.as_str(),
        "the body's id is the webhook-id"
    );
    assert_eq!(body["type"], "LEAD_QUALIFIED");
    assert_eq!(body["fromStage"], "MQL");
    assert_eq!(body["toStage"], "SQL");
    assert_eq!(body["lead"]["id"], lead.as_str());
    assert_eq!(body["lead"]["email"], "sql@example.com");
    assert_eq!(body["lead"]["stage"], "SQL");
    assert!(body["cursor"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(body["occurredAt"].as_str().is_some());
    // Only LEAD_QUALIFIED: the earlier creation and MQL move were not sent.
    receiver.quiet_for(Duration::from_millis(300)).await;
    let list = deliveries_until(&app, &t.marketing, &hook, |l| {
        l.first().is_some_and(|d| d["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(list.len(), 1);
    let d = &list[0];
    assert_eq!(d["id"], got.id.as_str());
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastResponseCode"], 200);
    assert!(d["lastLatencyMs"].as_i64().is_some());
    assert_eq!(d["nextAttemptAt"], Value::Null);
    assert_eq!(
        d["payload"].as_str(),
        Some(got.body.as_str()),
        "the payload is the bytes sent"
    );
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_once_as_2xx_and_later_events_wait() {
    let app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let mut receiver = Receiver::start(3).await;
    let (hook, secret) = create(
        &app,
        &t.admin,
        json!({"url": receiver.url, "events": ["STAGE_CHANGED"], "toStages": ["SQL", "OPPORTUNITY"]}),
    )
    .await;
    let lead = app.lead_at(&t, "retry@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": lead})).await;
    assert_eq!(
        app.transition(&t.admin, &lead, "OPPORTUNITY", None).await,
        None
    );
    let mut attempts = Vec::new();
    for _ in 0..4 {
        attempts.push(receiver.next().await);
    }
    let id = &attempts[0].id;
    for a in &attempts {
        assert_eq!(&a.id, id, "the same webhook-id on every attempt");
        assert_eq!(
            a.json()["toStage"],
            "SQL",
            "the later event waits while the earlier one retries"
        );
        assert_eq!(a.body, attempts[0].body, "the same body on every attempt");
        assert!(verify(&secret, a));
    }
    let answers: Vec<u16> = attempts.iter().map(|a| a.answered).collect();
    assert_eq!(answers, [500, 500, 500, 200]);
    let next = receiver.next().await;
    assert_eq!(next.json()["toStage"], "OPPORTUNITY");
    assert_eq!(next.json()["type"], "STAGE_CHANGED");
    assert_ne!(&next.id, id);
    receiver.quiet_for(Duration::from_millis(500)).await;
    let list = deliveries_until(&app, &t.admin, &hook, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SUCCEEDED")
    })
    .await;
    // Newest first.
    assert_eq!(list[1]["id"], id.as_str());
    assert_eq!(list[1]["attempts"], 4);
    assert_eq!(list[1]["type"], "LEAD_QUALIFIED");
    assert_eq!(list[0]["attempts"], 1);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_the_retries_loses_nothing() {
    let mut app = TestApp::spawn_with(|c| {
        fast(c);
        // Long enough that the retry is due only after the restart.
        c.webhook_retry_base = Duration::from_millis(700);
        c.webhook_retry_max_delay = Duration::from_millis(700);
    })
    .await;
    let t = app.tokens();
    let mut receiver = Receiver::start(1).await;
    let (hook, secret) = create(
        &app,
        &t.admin,
        json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let first_lead = app.lead_at(&t, "r1@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": first_lead})).await;
    let failed = receiver.next().await;
    assert_eq!(failed.answered, 500);
    // Another event is committed and the server stops before it is sent.
    let second_lead = app.lead_at(&t, "r2@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": second_lead})).await;
    let dir = app.keep_dir();
    let url = app.database_url.clone();
    drop(app);
    let app = TestApp::spawn_on(url, dir, fast).await;
    let mut got: Vec<Received> = Vec::new();
    while got.iter().filter(|r| r.answered == 200).count() < 2 {
        got.push(receiver.next().await);
    }
    receiver.quiet_for(Duration::from_millis(500)).await;
    let succeeded: Vec<&Received> = got.iter().filter(|r| r.answered == 200).collect();
    let leads: Vec<String> = succeeded
        .iter()
        .map(|r| {
            r.json()["lead"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        leads.contains(&first_lead) && leads.contains(&second_lead),
        "{leads:?}"
    );
    assert!(
        succeeded.iter().any(|r| r.id == failed.id),
        "the retried delivery kept its id"
    );
    assert!(got.iter().all(|r| verify(&secret, r)));
    let list = deliveries(&app, &t.admin, &hook).await;
    assert_eq!(list.len(), 2, "one delivery per event: {list:#?}");
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_twice() {
    let a = TestApp::spawn_with(fast).await;
    if !a.database_url.starts_with("postgres") {
        return; // SQLite is one process (docs/webhooks.md): nothing to share
    }
    let b = TestApp::spawn_on(a.database_url.clone(), None, fast).await;
    let t = a.tokens();
    let mut receiver = Receiver::start(0).await;
    create(
        &a,
        &t.admin,
        json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let mut leads = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let lead = app.lead_at(&t, &format!("two{i}@example.com"), "MQL").await;
        app.ok(&t.admin, QUALIFY, json!({"id": lead})).await;
        leads.push(lead);
    }
    let mut got = Vec::new();
    for _ in 0..leads.len() {
        got.push(receiver.next().await);
    }
    receiver.quiet_for(Duration::from_millis(800)).await;
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), leads.len(), "each delivery exactly once");
    let mut received: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["lead"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    received.sort();
    leads.sort();
    assert_eq!(received, leads);
}

const CAMPAIGN: &str =
    "mutation { createCampaign(input: {name: \"Fair\", channel: EVENT, budget: \"5000\"}) { id } }";

#[tokio::test]
async fn sales_webhooks_never_carry_a_hidden_lead_or_field() {
    let app = TestApp::spawn_with(fast).await;
    let t: Tokens = app.tokens();
    let campaign = app.ok(&t.admin, CAMPAIGN, json!({})).await["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut sam_rx = Receiver::start(0).await;
    let mut admin_rx = Receiver::start(0).await;
    let (_, _) = create(
        &app,
        &t.sales,
        json!({"url": sam_rx.url, "events": ["STAGE_CHANGED"]}),
    )
    .await;
    let (_, _) = create(
        &app,
        &t.admin,
        json!({"url": admin_rx.url, "events": ["STAGE_CHANGED"]}),
    )
    .await;
    let new_lead = "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }";
    // Hidden from Sam: an unowned LEAD, Sue's own LEAD, a disqualified LEAD.
    let unowned = app
        .ok(
            &t.admin,
            new_lead,
            json!({"input": {"email": "hidden@example.com", "sourceCampaignId": campaign}}),
        )
        .await["createLead"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let sues = app.create_lead(&t.sales2, "sues@example.com").await;
    let dropped = app.lead_at(&t, "dropped@example.com", "DISQUALIFIED").await;
    // Visible to Sam: his own lead, and a lead moved to MQL.
    let sams = app.create_lead(&t.sales, "sams@example.com").await;
    assert_eq!(app.transition(&t.admin, &unowned, "MQL", None).await, None);
    let expected_admin = 1 + 1 + 2 + 1 + 1; // unowned, Sue's, dropped (2), Sam's, the MQL move
    let mut admin_got = Vec::new();
    for _ in 0..expected_admin {
        admin_got.push(admin_rx.next().await.json());
    }
    admin_rx.quiet_for(Duration::from_millis(300)).await;
    let mut sam_got = Vec::new();
    for _ in 0..2 {
        sam_got.push(sam_rx.next().await.json());
    }
    sam_rx.quiet_for(Duration::from_millis(500)).await;
    let sam_leads: Vec<&str> = sam_got
        .iter()
        .map(|b| b["lead"]["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        sam_leads,
        [sams.as_str(), unowned.as_str()],
        "Sam gets his lead's creation and the MQL move only"
    );
    for hidden in [&sues, &dropped] {
        assert!(
            !sam_got
                .iter()
                .any(|b| b.to_string().contains(hidden.as_str()))
        );
    }
    let mql = &sam_got[1];
    assert_eq!(mql["toStage"], "MQL");
    assert_eq!(mql["lead"]["sourceCampaign"]["name"], "Fair");
    assert!(
        mql["lead"]["sourceCampaign"].get("budget").is_none(),
        "no cost for SALES: {mql:#}"
    );
    assert!(!mql.to_string().contains("5000"));
    let admin_mql = admin_got
        .iter()
        .find(|b| b["toStage"] == "MQL" && b["lead"]["id"] == unowned.as_str())
        .expect("ADMIN's MQL event");
    assert_eq!(
        admin_mql["lead"]["sourceCampaign"]["budget"]["amount"],
        "5000.00"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_flag() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let body = app
            .gql(
                &t.admin,
                CREATE,
                json!({"input": {"url": url, "events": ["LEAD_QUALIFIED"]}}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{url}: {body:#}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "input.url",
            "{url}"
        );
    }
    let data = app
        .ok(
            &t.admin,
            "{ webhooks { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["webhooks"]["edges"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_stored_private_url_is_refused_at_delivery_time() {
    // Created while private addresses were allowed; the server restarts without.
    let mut app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let mut receiver = Receiver::start(0).await;
    let (hook, _) = create(
        &app,
        &t.admin,
        json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let dir = app.keep_dir();
    let url = app.database_url.clone();
    drop(app);
    let app = TestApp::spawn_on(url, dir, |c| {
        fast(c);
        c.webhook_allow_private = false;
    })
    .await;
    let data = app
        .ok(
            &t.admin,
            "mutation($id: ID!) { testWebhook(id: $id) { status lastError lastResponseCode } }",
            json!({"id": hook}),
        )
        .await;
    let d = &data["testWebhook"];
    assert_eq!(d["status"], "FAILED");
    assert_eq!(d["lastResponseCode"], Value::Null);
    assert!(
        d["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("loopback")),
        "{d:#}"
    );
    receiver.quiet_for(Duration::from_millis(300)).await;
}

const LIST: &str = "{ webhooks(first: 50) { edges { node { id owner { subject } } } } }";

async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let data = app.ok(token, LIST, json!({})).await;
    data["webhooks"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn who_manages_which_webhooks() {
    let app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let receiver = Receiver::start(0).await;
    let input = json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"]});
    let (admins, _) = create(&app, &t.admin, input.clone()).await;
    let (marketings, _) = create(&app, &t.marketing, input.clone()).await;
    let (sams, _) = create(&app, &t.sales, input.clone()).await;
    // ADMIN: every webhook.
    assert_eq!(
        listed(&app, &t.admin).await,
        [admins.clone(), marketings.clone(), sams.clone()]
    );
    // MARKETING and SALES: their own only; another's is NOT_FOUND.
    assert_eq!(listed(&app, &t.marketing).await, vec![marketings.clone()]);
    assert_eq!(listed(&app, &t.sales).await, vec![sams.clone()]);
    assert_eq!(listed(&app, &t.sales2).await, Vec::<String>::new());
    let update =
        "mutation($id: ID!) { updateWebhook(id: $id, input: {description: \"mine now\"}) { id } }";
    let delete = "mutation($id: ID!) { deleteWebhook(id: $id) }";
    let node = "query($id: ID!) { node(id: $id) { id } }";
    for (token, theirs) in [
        (&t.marketing, &admins),
        (&t.sales, &marketings),
        (&t.sales2, &sams),
    ] {
        assert_eq!(
            app.error_code(token, update, json!({"id": theirs})).await,
            "NOT_FOUND"
        );
        assert_eq!(
            app.error_code(token, delete, json!({"id": theirs})).await,
            "NOT_FOUND"
        );
        assert_eq!(
            app.ok(token, node, json!({"id": theirs})).await["node"],
            Value::Null
        );
        assert_eq!(
            app.error_code(token, DELIVERIES, json!({"id": theirs}))
                .await,
            "NOT_FOUND"
        );
    }
    assert_eq!(
        app.ok(&t.sales, node, json!({"id": sams})).await["node"]["id"],
        sams.as_str()
    );
    // ADMIN manages anyone's.
    app.ok(&t.admin, update, json!({"id": marketings})).await;
    assert_eq!(
        app.ok(&t.admin, delete, json!({"id": sams})).await["deleteWebhook"],
        true
    );
    assert_eq!(listed(&app, &t.sales).await, Vec::<String>::new());
    // INGEST: nothing.
    assert_eq!(
        app.error_code(&t.ingest, CREATE, json!({"input": input}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&t.ingest, LIST, json!({})).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&t.ingest, update, json!({"id": admins}))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn test_webhook_redeliver_rotation_and_reactivation() {
    let app = TestApp::spawn_with(|c| {
        fast(c);
        c.webhook_retry_window = Duration::from_millis(300);
    })
    .await;
    let t = app.tokens();
    let mut receiver = Receiver::start(0).await;
    let (hook, secret) = create(
        &app,
        &t.marketing,
        json!({"url": receiver.url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let test =
        "mutation($id: ID!) { testWebhook(id: $id) { id type status attempts lastResponseCode } }";
    let d = app.ok(&t.marketing, test, json!({"id": hook})).await["testWebhook"].clone();
    assert_eq!(d["status"], "SUCCEEDED");
    assert_eq!(d["type"], "WEBHOOK_TEST");
    assert_eq!(d["lastResponseCode"], 200);
    let got = receiver.next().await;
    assert!(verify(&secret, &got));
    assert_eq!(got.id, d["id"].as_str().unwrap_or_default());
    assert_eq!(got.json()["type"], "WEBHOOK_TEST");
    assert_eq!(got.json()["lead"], Value::Null);
    // Redelivery: the same id and body, signed anew.
    let redeliver = "mutation($id: ID!) { redeliver(deliveryId: $id) { id status attempts } }";
    let again = app
        .ok(&t.marketing, redeliver, json!({"id": d["id"]}))
        .await["redeliver"]
        .clone();
    assert_eq!(again["attempts"], 2);
    let second = receiver.next().await;
    assert_eq!(second.id, got.id);
    assert_eq!(second.body, got.body);
    // Rotation: both secrets sign during the overlap.
    let rotate = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { id } } }";
    let new_secret = app.ok(&t.marketing, rotate, json!({"id": hook})).await["rotateWebhookSecret"]
        ["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new_secret, secret);
    app.ok(&t.marketing, test, json!({"id": hook})).await;
    let rotated = receiver.next().await;
    assert!(verify(&new_secret, &rotated) && verify(&secret, &rotated));
    assert_eq!(rotated.signature.split(' ').count(), 2);
    // A receiver that keeps failing past the window: the webhook is FAILING.
    receiver.failures_left.store(usize::MAX, Ordering::SeqCst);
    let lead = app.lead_at(&t, "failing@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": lead})).await;
    let status = "query($id: ID!) { node(id: $id) { ... on Webhook { status failingSince } } }";
    let started = Instant::now();
    while app.ok(&t.marketing, status, json!({"id": hook})).await["node"]["status"] != "FAILING" {
        assert!(started.elapsed() < Duration::from_secs(10), "never FAILING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let list = deliveries(&app, &t.marketing, &hook).await;
    assert_eq!(list[0]["status"], "FAILED");
    assert!(list[0]["attempts"].as_i64().unwrap_or(0) >= 2);
    assert_eq!(list[0]["lastResponseCode"], 500);
    while receiver.rx.try_recv().is_ok() {}
    // While FAILING, a new event waits as PENDING and nothing is sent.
    receiver.failures_left.store(0, Ordering::SeqCst);
    let other = app.lead_at(&t, "waiting@example.com", "MQL").await;
    app.ok(&t.admin, QUALIFY, json!({"id": other})).await;
    deliveries_until(&app, &t.marketing, &hook, |l| {
        l.first()
            .is_some_and(|d| d["status"] == "PENDING" && d["type"] == "LEAD_QUALIFIED")
    })
    .await;
    receiver.quiet_for(Duration::from_millis(400)).await;
    // A successful test reactivates it: the waiting event goes out.
    app.ok(&t.marketing, test, json!({"id": hook})).await;
    let _test = receiver.next().await;
    let resumed = receiver.next().await;
    assert_eq!(resumed.json()["lead"]["id"], other.as_str());
    assert_eq!(
        app.ok(&t.marketing, status, json!({"id": hook})).await["node"]["status"],
        "ACTIVE"
    );
    // The given-up delivery goes out again on request.
    let failed_id = list[0]["id"].clone();
    let again = app
        .ok(&t.marketing, redeliver, json!({"id": failed_id}))
        .await["redeliver"]
        .clone();
    assert_eq!(again["status"], "SUCCEEDED");
    assert_eq!(receiver.next().await.json()["lead"]["id"], lead.as_str());
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field() {
    let app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let ok_url = "http://127.0.0.1:9/hook";
    let long_url = format!("http://127.0.0.1:9/{}", "a".repeat(2100));
    let long_text = "d".repeat(257);
    for (input, field) in [
        (
            json!({"url": "not a url", "events": ["LEAD_QUALIFIED"]}),
            "input.url",
        ),
        (
            json!({"url": "ftp://127.0.0.1/x", "events": ["LEAD_QUALIFIED"]}),
            "input.url",
        ),
        (
            json!({"url": "http://127.0.0.1/\u{0}", "events": ["LEAD_QUALIFIED"]}),
            "input.url",
        ),
        (
            json!({"url": long_url, "events": ["LEAD_QUALIFIED"]}),
            "input.url",
        ),
        (
            json!({"url": "https://user:pw@127.0.0.1/", "events": ["LEAD_QUALIFIED"]}),
            "input.url",
        ),
        (json!({"url": ok_url, "events": []}), "input.events"),
        (
            json!({"url": ok_url, "events": ["WEBHOOK_TEST"]}),
            "input.events",
        ),
        (
            json!({"url": ok_url, "events": ["STAGE_CHANGED"], "toStages": []}),
            "input.toStages",
        ),
        (
            json!({"url": ok_url, "events": ["STAGE_CHANGED"], "description": long_text}),
            "input.description",
        ),
        (
            json!({"url": ok_url, "events": ["STAGE_CHANGED"], "description": "a\u{0}b"}),
            "input.description",
        ),
    ] {
        let body = app.gql(&t.admin, CREATE, json!({"input": input})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{input}: {body:#}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    assert_eq!(
        listed(&app, &t.admin).await,
        Vec::<String>::new(),
        "nothing was created"
    );
    let bad_id = app.gql(&t.admin, DELIVERIES, json!({"id": "nope"})).await;
    assert_eq!(bad_id["errors"][0]["extensions"]["field"], "webhookId");
    // The per-owner cap.
    for _ in 0..25 {
        create(
            &app,
            &t.sales,
            json!({"url": ok_url, "events": ["LEAD_QUALIFIED"]}),
        )
        .await;
    }
    let over = app
        .error_code(
            &t.sales,
            CREATE,
            json!({"input": {"url": ok_url, "events": ["LEAD_QUALIFIED"]}}),
        )
        .await;
    assert_eq!(over, "LIMIT_EXCEEDED");
    // An update with a bad URL changes nothing.
    let (hook, _) = create(
        &app,
        &t.admin,
        json!({"url": ok_url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let update =
        "mutation($id: ID!, $url: String) { updateWebhook(id: $id, input: {url: $url}) { url } }";
    let body = app
        .gql(
            &t.admin,
            update,
            json!({"id": hook, "url": "gopher://127.0.0.1/"}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.url");
    let node = app
        .ok(
            &t.admin,
            "query($id: ID!) { node(id: $id) { ... on Webhook { url } } }",
            json!({"id": hook}),
        )
        .await;
    assert_eq!(node["node"]["url"], ok_url);
}

/// The receiver of the README (`docs/examples/webhook-receiver.mjs`), run
/// with Node: it accepts a delivery signed with its secret and refuses one
/// signed with another.
#[tokio::test]
async fn the_readme_receiver_verifies_signatures() {
    use tokio::io::AsyncBufReadExt;
    let app = TestApp::spawn_with(fast).await;
    let t = app.tokens();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/leadgraph");
    let (hook, secret) = create(
        &app,
        &t.admin,
        json!({"url": url, "events": ["LEAD_QUALIFIED"]}),
    )
    .await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/webhook-receiver.mjs");
    let start = |secret: &str| {
        tokio::process::Command::new("node")
            .arg(&script)
            .env("WEBHOOK_SECRET", secret)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the example receiver")
    };
    let wait_listening = || async {
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the receiver never listened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let test = "mutation($id: ID!) { testWebhook(id: $id) { id status lastResponseCode } }";
    // Another secret: refused.
    let mut wrong = start("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    wait_listening().await;
    let refused = app.ok(&t.admin, test, json!({"id": hook})).await["testWebhook"].clone();
    assert_eq!(refused["lastResponseCode"], 401);
    assert_eq!(refused["status"], "FAILED");
    wrong.kill().await.expect("stop");
    // Its own secret: accepted and printed.
    let mut right = start(&secret);
    wait_listening().await;
    let accepted = app.ok(&t.admin, test, json!({"id": hook})).await["testWebhook"].clone();
    assert_eq!(accepted["lastResponseCode"], 204);
    assert_eq!(accepted["status"], "SUCCEEDED");
    let stdout = right.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("a line in time")
        .expect("read")
        .expect("a line");
    let printed: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(printed["id"], accepted["id"]);
    assert_eq!(printed["type"], "WEBHOOK_TEST");
}

/// The README shows the example receiver exactly as the test runs it.
#[test]
fn the_readme_shows_the_receiver_as_it_is() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let example =
        std::fs::read_to_string(root.join("docs/examples/webhook-receiver.mjs")).expect("example");
    assert!(
        readme.contains(&format!("```js\n{example}```")),
        "README's receiver differs from docs/examples/webhook-receiver.mjs"
    );
    assert!(example.lines().count() <= 16, "the receiver stays short");
}
