//! S1 fan-out (docs/performance.md): `--subscribers` WebSocket clients subscribe to
//! `leadQualified` (graphql-transport-ws, SALES tokens), and once every one
//! of them is live (it answered a ping sent after its `subscribe`: the
//! server starts a subscription before it reads the next message), the bench
//! qualifies `--s1-events` MQL leads through the API, one every
//! `--s1-interval`, as SALES. Each event is timed per subscriber from the
//! moment the mutation's HTTP response arrived (the commit precedes it) to
//! its receipt, matched by lead id; the time from the request's sending is
//! recorded too (`from_sent_*`). Every subscriber must receive every event:
//! a missed or duplicated one is an error.
//!
//! `S1_CROSS` (PostgreSQL): the subscribers connect to `--url-b`, a second
//! instance on the same database, while the mutations go to `--url`.
//!
//! The subscribers are spread over `--s1-users` SALES users: the seeded reps
//! first (the owners of some qualified leads, who see them as their own),
//! then `bench-s1-N` subjects, created by their first connection.

use crate::load::Stats;
use crate::{Ctx, Row, mb, round, server};
use futures_util::{SinkExt, StreamExt};
use leadgraph::auth::Role;
use leadgraph::graphql::ids::{NodeType, encode};
use sea_orm::sqlx;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// S1's options (flattened into the bench's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct S1Args {
    /// S1: concurrent WebSocket subscribers (50 under --quick).
    #[arg(long, default_value_t = 5000)]
    pub subscribers: usize,
    /// S1: distinct SALES users the subscribers are spread over.
    #[arg(long, default_value_t = 1000)]
    pub s1_users: usize,
    /// S1: qualifications committed (10 under --quick).
    #[arg(long, default_value_t = 100)]
    pub s1_events: usize,
    /// S1: time between the sending of two qualifications.
    #[arg(long, default_value = "75ms", value_parser = humantime::parse_duration)]
    pub s1_interval: Duration,
    /// S1_CROSS: the GraphQL endpoint of a second instance on the same
    /// PostgreSQL database; its subscribers connect there, mutations go to
    /// --url.
    #[arg(long)]
    pub url_b: Option<String>,
    /// Instance B's process id, for its memory; found by port when omitted.
    #[arg(long)]
    pub server_b_pid: Option<u32>,
    /// S1: put `@include(if: true)` on the subscription's root field, which
    /// keeps the server from sharing the rendering of an event between
    /// identical subscriptions: every subscriber is executed on its own.
    #[arg(long)]
    pub s1_unshared: bool,
}

/// S1's own figures in the summary.
#[derive(Debug, Default, serde::Serialize)]
pub struct S1Figures {
    pub subscribers: usize,
    pub users: usize,
    pub events: usize,
    pub interval_ms: f64,
    /// Deliveries expected: live subscribers × committed events.
    pub expected: u64,
    /// Distinct expected deliveries received.
    pub received: u64,
    pub missed: u64,
    pub duplicates: u64,
    /// Subscribers that could not connect or subscribe.
    pub failed_subscribers: u64,
    /// Qualifications that failed.
    pub failed_mutations: u64,
    /// Deliveries that arrived before the mutation's response (counted as 0 ms).
    pub before_response: u64,
    pub max_ms: Option<f64>,
    /// The same deliveries timed from the sending of the mutation.
    pub from_sent_p50_ms: Option<f64>,
    pub from_sent_p99_ms: Option<f64>,
    pub from_sent_max_ms: Option<f64>,
    /// Mutation round trips (sent → response).
    pub mutation_p50_ms: Option<f64>,
    pub mutation_p99_ms: Option<f64>,
    /// Time to connect and subscribe every subscriber.
    pub connect_seconds: f64,
    /// The subscribing server's RSS once every subscriber is live, before any event.
    pub idle_rss_mb: Option<f64>,
}

const SUBSCRIPTION: &str = "subscription S1 { leadQualified { cursor to occurredAt \
    lead { id email stage score owner { name } } } }";
const UNSHARED: &str = "subscription S1 { leadQualified @include(if: true) { cursor to \
    occurredAt lead { id email stage score owner { name } } } }";
const QUALIFY: &str = "mutation Qualify($id: ID!) { qualifyLead(id: $id, \
    input: {budget: true, need: true, authority: true}) { id stage } }";
/// How many subscribers connect at once.
const CONNECTING: usize = 64;
/// How long the subscribers may still take after the last commit.
const DRAIN: Duration = Duration::from_secs(15);

/// Soft RLIMIT_NOFILE up to the hard limit: thousands of sockets.
fn raise_nofile() -> (u64, u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => (hard, hard),
            Err(_) => (soft, hard),
        },
        Ok(limits) => limits,
        Err(_) => (0, 0),
    }
}

/// The server's soft RLIMIT_NOFILE, from `/proc/PID/limits`.
fn server_nofile(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn ws_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let url = url
        .strip_prefix("https://")
        .map(|u| format!("wss://{u}"))
        .or_else(|| url.strip_prefix("http://").map(|u| format!("ws://{u}")))
        .unwrap_or_else(|| url.to_owned());
    format!("{url}/ws")
}

/// A SALES user: id, subject, name, email.
type User = (i64, String, Option<String>, Option<String>);

async fn sales_users(ctx: &Ctx) -> Result<Vec<User>, String> {
    let q = "SELECT id, subject, name, email FROM app_user WHERE role = 'SALES' ORDER BY id";
    let rows = match &ctx.sql {
        crate::sql::Sql::Postgres(p) => sqlx::query_as(q).fetch_all(p).await,
        crate::sql::Sql::Sqlite { read, .. } => sqlx::query_as(q).fetch_all(read).await,
    };
    rows.map_err(|e| format!("sql: {e}"))
}

/// `count` MQL leads, newest first, unowned or owned by a SALES user, with
/// their owner.
async fn mql_leads(ctx: &Ctx, count: usize) -> Result<Vec<(i64, Option<i64>)>, String> {
    let q = "SELECT l.id, l.owner_id FROM lead l WHERE l.stage = 'MQL' AND (l.owner_id IS NULL \
         OR l.owner_id IN (SELECT id FROM app_user WHERE role = 'SALES')) \
         ORDER BY l.id DESC LIMIT $1";
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let rows = match &ctx.sql {
        crate::sql::Sql::Postgres(p) => sqlx::query_as(q).bind(limit).fetch_all(p).await,
        crate::sql::Sql::Sqlite { read, .. } => {
            sqlx::query_as(sqlx::AssertSqlSafe(q.replace("$1", "?")))
                .bind(limit)
                .fetch_all(read)
                .await
        }
    };
    rows.map_err(|e| format!("sql: {e}"))
}

fn keys(ctx: &Ctx) -> Result<leadgraph::auth::jwt::JwtKeys, String> {
    let mut config = leadgraph::config::Config::for_database(&ctx.args.database_url);
    config.jwt_secret = Some(leadgraph::config::Secret(ctx.args.jwt_secret.clone()));
    leadgraph::auth::jwt::JwtKeys::from_config(&config, false).map_err(|e| e.to_string())
}

/// What one subscriber received: lead id and time of receipt, in order.
#[derive(Default)]
struct Received {
    events: Vec<(String, Instant)>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    lead_qualified: Option<Event>,
}

#[derive(Deserialize)]
struct Event {
    lead: Option<EventLead>,
}

#[derive(Deserialize)]
struct EventLead {
    id: String,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Socket, message: serde_json::Value) -> Result<(), String> {
    ws.send(Message::text(message.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// The next text message (answering pings), or why there is none.
async fn next_text(ws: &mut Socket) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let text = text.as_str().to_owned();
                if text.contains("\"ping\"") && text.contains("\"type\"") {
                    let _ = send(ws, json!({"type": "pong"})).await;
                    continue;
                }
                return Ok(text);
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed: {frame:?}"));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("socket: {e}")),
            None => return Err("socket ended".to_owned()),
        }
    }
}

/// Connect, initialise, subscribe and wait for the pong that proves the
/// subscription live.
async fn subscribe(url: &str, token: &str, query: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // tungstenite zeroes its whole read buffer (128 KiB by default) before
    // each read: that was two thirds of the load generator's CPU.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    send(&mut ws, init).await?;
    let ack = next_text(&mut ws).await?;
    if !ack.contains("connection_ack") {
        return Err(format!("expected connection_ack, got {ack}"));
    }
    let subscribe = json!({"id": "s1", "type": "subscribe", "payload": {"query": query}});
    send(&mut ws, subscribe).await?;
    send(&mut ws, json!({"type": "ping"})).await?;
    let pong = next_text(&mut ws).await?;
    if !pong.contains("pong") {
        return Err(format!("expected pong, got {pong}"));
    }
    Ok(ws)
}

/// One subscriber: subscribe, report ready, collect events until it has
/// `expected` of them or `done` is set.
async fn subscriber(
    url: Arc<str>,
    query: &'static str,
    token: String,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    mut done: watch::Receiver<bool>,
    mut expected: watch::Receiver<usize>,
) -> Received {
    let mut out = Received::default();
    let permit = gate.acquire().await;
    let ws = subscribe(&url, &token, query).await;
    drop(permit);
    let mut ws = match ws {
        Ok(ws) => {
            let _ = ready.send(Ok(()));
            ws
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            out.error = Some(e);
            return out;
        }
    };
    loop {
        let message = tokio::select! {
            biased;
            message = ws.next() => message,
            _ = done.wait_for(|d| *d) => break,
            Ok(()) = expected.changed() => {
                if out.events.len() >= *expected.borrow() {
                    break;
                }
                continue;
            }
        };
        let at = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                out.error = Some(format!("closed: {frame:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                out.error = Some(format!("socket: {e}"));
                break;
            }
            None => {
                out.error = Some("socket ended".to_owned());
                break;
            }
        };
        // The common case without a JSON parse: the load generator shares
        // the server's two cores.
        if let Some(id) = next_lead_id(text.as_str()) {
            out.events.push((id.to_owned(), at));
            if out.events.len() >= *expected.borrow() {
                break;
            }
            continue;
        }
        match serde_json::from_str::<Frame<'_>>(text.as_str()) {
            Ok(frame) if frame.kind == "next" => {
                match frame
                    .payload
                    .and_then(|p| p.data)
                    .and_then(|d| d.lead_qualified)
                    .and_then(|e| e.lead)
                {
                    Some(lead) => out.events.push((lead.id, at)),
                    None => {
                        out.error
                            .get_or_insert_with(|| format!("event without a lead: {text}"));
                    }
                }
                if out.events.len() >= *expected.borrow() {
                    break;
                }
            }
            Ok(frame) if frame.kind == "ping" => {
                let _ = send(&mut ws, json!({"type": "pong"})).await;
            }
            Ok(frame) if frame.kind == "pong" => {}
            _ => {
                out.error = Some(format!("unexpected message: {text}"));
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    out
}

/// The lead id of a `next` message whose event has a lead.
fn next_lead_id(text: &str) -> Option<&str> {
    const LEAD: &str = "\"lead\":{\"id\":\"";
    if !text.starts_with("{\"type\":\"next\"") {
        return None;
    }
    let start = text.find(LEAD)? + LEAD.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// One committed qualification.
struct Commit {
    sent: Instant,
    response: Instant,
}

/// Run S1 (`cross`: S1_CROSS, subscribers on `--url-b`).
pub async fn run(ctx: &Ctx, cross: bool) -> Result<Row, String> {
    let a = &ctx.args.s1;
    let (subscribers, events, interval) = if ctx.args.quick {
        (a.subscribers.min(50), a.s1_events.min(10), a.s1_interval)
    } else {
        (a.subscribers, a.s1_events, a.s1_interval)
    };
    let (soft, hard) = raise_nofile();
    let sub_url = if cross {
        a.url_b
            .clone()
            .ok_or("S1_CROSS needs --url-b (a second instance on the same database)")?
    } else {
        ctx.args.url.clone()
    };
    let sub_pid = if cross {
        a.server_b_pid.or_else(|| {
            reqwest::Url::parse(&sub_url)
                .ok()
                .and_then(|u| u.port_or_known_default())
                .and_then(server::pid_listening_on)
        })
    } else {
        ctx.pid
    };
    let server_limit = sub_pid.and_then(server_nofile);
    eprintln!(
        "  S1: bench RLIMIT_NOFILE {soft} (hard {hard}), server's {}",
        server_limit.map_or("unknown".to_owned(), |l| l.to_string())
    );
    if let Some(limit) = server_limit
        && (limit as usize) < subscribers + 64
    {
        return Err(format!(
            "the server may open {limit} files: too few for {subscribers} subscribers (raise its ulimit -n)"
        ));
    }

    let keys = keys(ctx)?;
    let ttl = 24 * 3600;
    let seeded = sales_users(ctx).await?;
    let users = a.s1_users.clamp(1, subscribers.max(1));
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        let token = match seeded.get(i) {
            Some((_, sub, name, email)) => {
                keys.mint(sub, Role::Sales, ttl, name.as_deref(), email.as_deref())
            }
            None => {
                let sub = format!("bench-s1-{i}@bench.test");
                keys.mint(
                    &sub,
                    Role::Sales,
                    ttl,
                    Some(&format!("S1 rep {i}")),
                    Some(&sub),
                )
            }
        }
        .map_err(|e| e.to_string())?;
        tokens.push(token);
    }
    let owners: HashMap<i64, String> = seeded
        .iter()
        .map(|(id, sub, name, email)| {
            keys.mint(sub, Role::Sales, ttl, name.as_deref(), email.as_deref())
                .map(|t| (*id, t))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let leads = mql_leads(ctx, events).await?;
    if leads.len() < events {
        return Err(format!(
            "S1 needs {events} MQL leads (unowned or owned by SALES); the database has {}",
            leads.len()
        ));
    }
    // Unowned leads: qualified by the first SALES user.
    let anyone = tokens.first().cloned().unwrap_or_default();

    // Subscribe everyone.
    let sampler = sub_pid.map(server::RssSampler::start);
    let url: Arc<str> = ws_url(&sub_url).into();
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = watch::channel(false);
    let (expected_tx, expected_rx) = watch::channel(usize::MAX);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        tasks.push(tokio::spawn(subscriber(
            url.clone(),
            if a.s1_unshared {
                UNSHARED
            } else {
                SUBSCRIPTION
            },
            tokens[i % tokens.len()].clone(),
            gate.clone(),
            ready_tx.clone(),
            done_rx.clone(),
            expected_rx.clone(),
        )));
    }
    let mut live = 0u64;
    let mut failed = 0u64;
    let mut first_error: Option<String> = None;
    // Every subscriber reports once (and keeps its sender while it runs).
    for _ in 0..subscribers {
        match ready_rx.recv().await {
            Some(Ok(())) => live += 1,
            Some(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    let idle_rss = sub_pid.and_then(|p| server::status_kb(p, "VmRSS"));
    eprintln!(
        "  S1: {live} subscribers live ({failed} failed) in {connect_seconds:.1} s, server RSS {} MB",
        idle_rss.map_or("-".to_owned(), |kb| mb(kb).to_string())
    );

    // Commit the qualifications, one every `interval`.
    let api = crate::api::Api::new(&ctx.args.url, 4)?;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mutations = Vec::with_capacity(events);
    for (id, owner) in &leads {
        ticker.tick().await;
        let token = owner
            .and_then(|o| owners.get(&o).cloned())
            .unwrap_or_else(|| anyone.clone());
        let gid = encode(NodeType::Lead, *id).0;
        let body = crate::api::body(QUALIFY, json!({ "id": gid }));
        let api = api.clone();
        mutations.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = api.post(&token, body).await;
            let response = Instant::now();
            let result = result.and_then(|bytes| {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                match v["data"]["qualifyLead"]["stage"].as_str() {
                    Some("SQL") => Ok(()),
                    _ => Err(format!("not qualified: {v}")),
                }
            });
            (gid, result.map(|()| Commit { sent, response }))
        }));
    }
    let mut commits: HashMap<String, Commit> = HashMap::new();
    let mut failed_mutations = 0u64;
    for m in mutations {
        match m.await {
            Ok((gid, Ok(commit))) => {
                commits.insert(gid, commit);
            }
            Ok((_, Err(e))) => {
                failed_mutations += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed_mutations += 1;
                first_error.get_or_insert(format!("mutation task: {e}"));
            }
        }
    }
    // Subscribers stop once they have every committed event, or at the deadline.
    expected_tx.send_replace(commits.len());
    let deadline = tokio::time::sleep(DRAIN);
    tokio::pin!(deadline);
    let mut pending = futures_util::future::join_all(tasks);
    let results = tokio::select! {
        all = &mut pending => all,
        () = &mut deadline => {
            done_tx.send_replace(true);
            pending.await
        }
    };
    let rss = sampler.map(server::RssSampler::stop);

    // Match receipts with commits.
    let mut latencies = Vec::new();
    let mut from_sent = Vec::new();
    let (mut received, mut duplicates, mut before) = (0u64, 0u64, 0u64);
    for result in results {
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                first_error.get_or_insert(format!("subscriber task: {e}"));
                continue;
            }
        };
        if let Some(e) = &r.error
            && !e.starts_with("closed")
        {
            first_error.get_or_insert(e.clone());
        }
        let mut seen = HashSet::new();
        for (gid, at) in &r.events {
            let Some(commit) = commits.get(gid) else {
                continue; // another writer's qualification
            };
            if !seen.insert(gid) {
                duplicates += 1;
                continue;
            }
            received += 1;
            let us = |from: Instant| {
                u32::try_from(at.saturating_duration_since(from).as_micros()).unwrap_or(u32::MAX)
            };
            if *at < commit.response {
                before += 1;
            }
            latencies.push(us(commit.response));
            from_sent.push(us(commit.sent));
        }
    }
    let expected = live * commits.len() as u64;
    let missed = expected.saturating_sub(received) + failed * commits.len() as u64;
    let stats = |mut v: Vec<u32>| {
        v.sort_unstable();
        Stats {
            latencies_us: v,
            ..Stats::default()
        }
    };
    let lat = stats(latencies);
    let sent = stats(from_sent);
    let round_trips = stats(
        commits
            .values()
            .map(|c| u32::try_from((c.response - c.sent).as_micros()).unwrap_or(u32::MAX))
            .collect(),
    );
    let ms = |s: &Stats, q: f64| s.quantile_ms(q).map(|x| round(x, 2));
    let figures = S1Figures {
        subscribers,
        users,
        events,
        interval_ms: interval.as_secs_f64() * 1000.0,
        expected: expected + failed * commits.len() as u64,
        received,
        missed,
        duplicates,
        failed_subscribers: failed,
        failed_mutations,
        before_response: before,
        max_ms: ms(&lat, 1.0),
        from_sent_p50_ms: ms(&sent, 0.5),
        from_sent_p99_ms: ms(&sent, 0.99),
        from_sent_max_ms: ms(&sent, 1.0),
        mutation_p50_ms: ms(&round_trips, 0.5),
        mutation_p99_ms: ms(&round_trips, 0.99),
        connect_seconds: round(connect_seconds, 2),
        idle_rss_mb: idle_rss.map(mb),
    };
    eprintln!(
        "  S1: received {received} of {} (missed {missed}, duplicates {duplicates}); \
         commit→receipt p50 {} p99 {} max {} ms; from sending p99 {} ms",
        figures.expected,
        crate::fmt(ms(&lat, 0.5)),
        crate::fmt(ms(&lat, 0.99)),
        crate::fmt(figures.max_ms),
        crate::fmt(figures.from_sent_p99_ms),
    );
    Ok(Row {
        workload: format!(
            "{}{}",
            if cross { "S1_CROSS" } else { "S1" },
            if a.s1_unshared { "_UNSHARED" } else { "" }
        ),
        database: ctx.sql.database().to_owned(),
        concurrency: subscribers,
        api_rps: round(
            received as f64 / (events as f64 * interval.as_secs_f64()),
            1,
        ),
        p50_ms: ms(&lat, 0.5),
        p99_ms: ms(&lat, 0.99),
        rss_mb: rss.map(mb),
        hwm_mb: sub_pid.and_then(|p| server::status_kb(p, "VmHWM")).map(mb),
        api_ok: received,
        api_errors: missed + duplicates + failed_mutations,
        api_first_error: first_error,
        seconds: round(events as f64 * interval.as_secs_f64(), 2),
        note: Some(format!(
            "{subscribers} leadQualified subscribers ({users} SALES users){}{}, {} qualifications \
             {} ms apart; latency from the mutation's HTTP response to receipt, per event and subscriber; \
             api_rps = deliveries/s",
            if cross {
                " on instance B, mutations on A"
            } else {
                ""
            },
            if a.s1_unshared {
                ", unshared (@include on the root field)"
            } else {
                ""
            },
            commits.len(),
            interval.as_millis()
        )),
        s1: Some(figures),
        ..Row::default()
    })
}
