//! Garbage at the front door: generated documents, variables and bodies
//! (deep nesting, NUL bytes, huge numbers, broken JSON) never make the
//! server panic, answer 500 or write anything; and the released binary,
//! after a burst of every known attack, still serves at about its idle RSS.

use crate::helpers::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use std::time::Duration;

/// Pieces of GraphQL, valid and broken, that documents are made of.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\"\"\"",
    "\\",
    "#",
    "\n",
    ":",
    ",",
    "$x",
    "$y",
    "@include(if: true)",
    "@skip(if: $x)",
    "...F",
    "... on Lead",
    "fragment F on Query",
    "query",
    "query Q($x: Boolean)",
    "mutation",
    "subscription",
    "leads",
    "leads(first: 1000)",
    "lead(id: \"TGVhZDox\")",
    "node(id: \"TGVhZDoz\")",
    "funnel(period: {from: \"2026-01-01T00:00:00Z\", to: \"2031-01-01T00:00:00Z\"})",
    "costPerLead",
    "totalCount",
    "__typename",
    "__schema { types { name } }",
    "edges",
    "node",
    "id",
    "email",
    "interactions",
    "createLead",
    "recordInteraction",
    "eraseLead(id: \"TGVhZDox\")",
    "transitionLead(id: \"TGVhZDox\", to: CUSTOMER)",
    "\u{0}",
    "é",
    "\u{202e}",
    "99999999999999999999999999999",
    "-1",
    "1e400",
    "null",
    "true",
    "filter: {search: \"\u{0}\"}",
    "input: {",
    "amount: \"790000000000000000000000000000\"",
];

fn document() -> impl Strategy<Value = String> {
    let tokens = proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)
        .prop_map(|parts| parts.join(" "));
    (tokens, 0usize..300, proptest::bool::ANY).prop_map(|(body, depth, list)| {
        let (open, close) = if list { ("[", "]") } else { ("{a:", "}") };
        format!(
            "{{ leads(filter: {}{body}{}) }}",
            open.repeat(depth),
            close.repeat(depth)
        )
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z\u{0}\u{202e}é\"\\\\]{0,12}".prop_map(Value::from),
        Just(Value::from("TGVhZDox")),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z\u{0}]{1,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One request of the fuzz run.
#[derive(Debug, Clone)]
enum Probe {
    Post {
        query: String,
        variables: Value,
        role: usize,
    },
    Get {
        query: String,
        role: usize,
    },
    Raw {
        body: Vec<u8>,
        content_type: &'static str,
        role: usize,
    },
}

fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        (document(), json_value(), 0usize..5).prop_map(|(query, variables, role)| Probe::Post {
            query,
            variables: json!({"x": variables, "y": null, "input": variables}),
            role
        }),
        (document(), 0usize..5).prop_map(|(query, role)| Probe::Get { query, role }),
        (
            proptest::collection::vec(any::<u8>(), 0..400),
            proptest::sample::select(
                &[
                    "application/json",
                    "application/json; charset=utf-8",
                    "text/plain"
                ][..]
            ),
            0usize..5
        )
            .prop_map(|(body, content_type, role)| Probe::Raw {
                body,
                content_type,
                role
            }),
    ]
}

async fn send(app: &TestApp, tokens: &[String], probe: &Probe) -> (u16, Value) {
    let request = match probe {
        Probe::Post {
            query,
            variables,
            role,
        } => app
            .client
            .post(&app.url)
            .bearer_auth(&tokens[*role])
            .json(&json!({"query": query, "variables": variables})),
        Probe::Get { query, role } => app
            .client
            .get(&app.url)
            .bearer_auth(&tokens[*role])
            .query(&[("query", query.as_str())]),
        Probe::Raw {
            body,
            content_type,
            role,
        } => app
            .client
            .post(&app.url)
            .bearer_auth(&tokens[*role])
            .header("content-type", *content_type)
            .body(body.clone()),
    };
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn internal_codes(body: &Value) -> bool {
    let errors: Vec<&Value> = match body {
        Value::Array(items) => items
            .iter()
            .flat_map(|b| b["errors"].as_array())
            .flatten()
            .collect(),
        other => other["errors"]
            .as_array()
            .map(|e| e.iter().collect())
            .unwrap_or_default(),
    };
    errors
        .iter()
        .any(|e| e["extensions"]["code"] == "INTERNAL_SERVER_ERROR")
}

async fn counts(app: &TestApp, admin: &str) -> Value {
    app.ok(
        admin,
        "{ leads(first: 100) { totalCount edges { node { version stageHistory { at } } } } }",
        json!({}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_garbage_never_panics_never_500s_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.lead_at(&t, "kept@example.com", "SQL").await;
    let before = counts(&app, &t.admin).await;
    let tokens = vec![
        t.admin.clone(),
        t.marketing.clone(),
        t.sales.clone(),
        t.ingest.clone(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
    ];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&probe(), |probe| {
            let (status, body) = handle.block_on(send(&app, &tokens, &probe));
            prop_assert!(status < 500, "HTTP {status} for {probe:?}: {body}");
            prop_assert!(
                !internal_codes(&body),
                "internal error for {probe:?}: {body}"
            );
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let data = app.ok(&t.admin, "{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
    assert_eq!(
        counts(&app, &t.admin).await,
        before,
        "something was written"
    );
}

/// The resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The attacks of the outside review, each sent `times` times by 8 clients.
fn attacks(five_years: &str) -> Vec<String> {
    let nested = format!(
        "{{ __typename @include(if: {}true{}) }}",
        "[".repeat(1500),
        "]".repeat(1500)
    );
    let object = format!(
        "{{ leads(filter: {}1{}) {{ totalCount }} }}",
        "{a:".repeat(1500),
        "}".repeat(1500)
    );
    let mut bomb = String::from("query { ...F0 }");
    for i in 0..16 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    bomb.push_str(" fragment F16 on Query { leads(first: 100) { edges { node { id email stageHistory { at } } } } }");
    let typenames: String = (0..1900).map(|i| format!(" t{i}: __typename")).collect();
    let funnels: String = (0..200)
        .map(|i| format!(" f{i}: funnel(period: {five_years}, groupBy: CHANNEL) {{ from }}"))
        .collect();
    vec![
        nested,
        object,
        bomb,
        format!("{{{typenames} }}"),
        format!("{{{funnels} }}"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_the_attack_review_at_its_idle_rss() {
    // The database and tokens of an in-process app; the server under attack
    // is the real binary, so its RSS is its own.
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"))
        .arg("serve")
        .env("DATABASE_URL", &app.database_url)
        .env("LEADGRAPH_ADDR", format!("127.0.0.1:{port}"))
        .env("LEADGRAPH_JWT_SECRET", &app.secret)
        .env("LEADGRAPH_RESCORE_INTERVAL", "0")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the leadgraph binary");
    let pid = child.id().expect("pid");
    let url = format!("http://127.0.0.1:{port}/graphql");
    let client = reqwest::Client::new();
    let post = |token: String, query: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"query": query}))
                .send()
                .await
        }
    };
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = post(t.admin.clone(), "{ __typename }".into()).await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the binary did not start");
    for i in 0..20 {
        app.create_lead(&t.admin, &format!("l{i}@example.com"))
            .await;
    }
    // Warm: the pools, the caches, a few real answers.
    for _ in 0..50 {
        let r = post(
            t.sales.clone(),
            "{ leads(first: 50) { edges { node { id email } } } }".into(),
        )
        .await
        .expect("answer");
        assert_eq!(r.status(), 200);
    }
    let idle = rss_kib(pid);
    let five_years = "{from: \"2021-01-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\"}";
    let attacks = attacks(five_years);
    for round in 0..10 {
        let mut running = Vec::new();
        for (i, attack) in attacks.iter().enumerate() {
            for token in [&t.admin, &t.sales, &t.ingest] {
                running.push(tokio::spawn(post(token.clone(), attack.clone())));
            }
            let _ = (round, i);
        }
        for task in running {
            let response = task.await.expect("task").expect("the server answers");
            assert!(response.status().as_u16() < 500, "{}", response.status());
        }
    }
    let r = post(t.admin.clone(), "{ __typename }".into())
        .await
        .expect("still serving");
    assert_eq!(r.status(), 200);
    assert!(
        child.try_wait().expect("status").is_none(),
        "the server exited"
    );
    // mimalloc hands freed pages back to the system on a later allocation
    // in the same thread, after a short delay: RSS right after the last
    // answer still holds the attacks' buffers, and a server that sees no
    // traffic keeps them. So go on with ordinary traffic, as a server in
    // use sees, for up to ten seconds (a loaded CI machine needs that),
    // and take the settled figure rather than the peak.
    let bound = idle + 64 * 1024;
    let mut after = rss_kib(pid);
    for _ in 0..100 {
        if after < bound {
            break;
        }
        let r = post(
            t.sales.clone(),
            "{ leads(first: 5) { edges { node { id } } } }".into(),
        )
        .await
        .expect("still serving");
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss_kib(pid);
    }
    println!("RSS idle {idle} KiB, settled after the attacks at {after} KiB");
    assert!(
        after < bound,
        "RSS grew from {idle} KiB to {after} KiB and stayed there"
    );
    child.kill().await.ok();
}
