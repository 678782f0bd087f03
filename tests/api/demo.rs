//! `leadgraph serve --demo` (src/demo.rs): through the binary, it loads the
//! demo into an empty database, prints working tokens of real users and the
//! GraphiQL URL, and refuses a database that holds data; in process, the
//! data set is deterministic, covers every stage and both sales reps, and
//! a refused load writes nothing.

use crate::helpers::{TestApp, fresh_database};
use leadgraph::auth::Role;
use leadgraph::config::{Config, Secret};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "demo-secret-demo-secret-demo-secret-0123456789";

fn command(database_url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"));
    command
        .args(["serve", "--demo"])
        .env("DATABASE_URL", database_url)
        .env("LEADGRAPH_ADDR", "127.0.0.1:0")
        .env("LEADGRAPH_JWT_SECRET", SECRET)
        .env("LEADGRAPH_RESCORE_INTERVAL", "0")
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    command
}

/// What `serve --demo` printed: the GraphiQL URL and the tokens by variable.
struct Printed {
    url: String,
    tokens: BTreeMap<String, String>,
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Start `serve --demo` and read its stdout up to the example at the end
/// (the reader is returned: it keeps the pipe open).
async fn start(database_url: &str) -> (tokio::process::Child, Lines, Printed) {
    let mut child = command(database_url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("leadgraph starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Printed {
        url: String::new(),
        tokens: BTreeMap::new(),
    };
    let read = async {
        while let Some(line) = lines.next_line().await.expect("stdout line") {
            if let Some(url) = line.strip_prefix("GraphiQL: ") {
                printed.url = url.to_owned();
            } else if let Some(export) = line.strip_prefix("export ") {
                let (name, token) = export.split_once('=').expect("NAME=token");
                printed.tokens.insert(name.to_owned(), token.to_owned());
            } else if line.trim_start().starts_with("-d ") {
                return;
            }
        }
        panic!("stdout ended before the example");
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("serve --demo prints its tokens");
    (child, lines, printed)
}

#[tokio::test]
async fn serve_demo_loads_and_prints_tokens_of_real_users_then_refuses_a_second_load() {
    let (database_url, _dir) = fresh_database().await;
    let (mut child, _stdout, printed) = start(&database_url).await;

    let names: Vec<&str> = printed.tokens.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "ADMIN_TOKEN",
            "INGEST_TOKEN",
            "MARKETING_TOKEN",
            "SALES_1_TOKEN",
            "SALES_2_TOKEN"
        ]
    );
    let mut config = Config::for_database(&database_url);
    config.jwt_secret = Some(Secret(SECRET.to_owned()));
    let keys = leadgraph::auth::jwt::JwtKeys::from_config(&config, false).expect("keys");
    let db = sea_orm::Database::connect(&database_url)
        .await
        .expect("connect");
    let now = chrono::Utc::now().timestamp();
    for (name, token) in &printed.tokens {
        let verified = keys.verify(token).expect("signed with the server's secret");
        let role = name.split('_').next().expect("role");
        assert_eq!(verified.role.code(), role, "{name}");
        let ttl = verified.expires_at - now;
        assert!((8 * 3600 - 120..=8 * 3600).contains(&ttl), "{name}: {ttl}s");
        let user = entity::app_user::Entity::find()
            .filter(entity::app_user::Column::Subject.eq(verified.subject.clone()))
            .one(&db)
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{name}: no user {}", verified.subject));
        assert_eq!(user.role, role, "{name}");
    }
    assert_ne!(
        keys.verify(&printed.tokens["SALES_1_TOKEN"])
            .expect("token")
            .subject,
        keys.verify(&printed.tokens["SALES_2_TOKEN"])
            .expect("token")
            .subject,
        "two different reps"
    );

    // The printed URL serves the data to the printed tokens.
    let body: serde_json::Value = reqwest::Client::new()
        .post(&printed.url)
        .bearer_auth(&printed.tokens["SALES_1_TOKEN"])
        .json(&json!({"query": "{ me { role } leads(filter: {stages: [SQL]}) { totalCount } }"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["data"]["me"]["role"], "SALES", "{body}");
    assert!(
        body["data"]["leads"]["totalCount"].as_i64() > Some(0),
        "{body}"
    );
    child.kill().await.expect("stop the server");

    // The database holds the demo now: a second load is refused, naming why.
    let output = tokio::time::timeout(Duration::from_secs(60), command(&database_url).output())
        .await
        .expect("the command ends")
        .expect("the command runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("only into an empty database"), "{stderr}");
    assert!(stderr.contains("5 users, 400 leads"), "{stderr}");
    assert!(output.stdout.is_empty(), "no token for a refused load");
}

/// Lead counts by stage, and owned SQL+ leads by owner subject.
async fn shape(app: &TestApp) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let leads = entity::lead::Entity::find()
        .order_by_asc(entity::lead::Column::Id)
        .all(&app.state.db.read)
        .await
        .expect("leads");
    let users: HashMap<i64, String> = entity::app_user::Entity::find()
        .all(&app.state.db.read)
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.id, u.subject))
        .collect();
    let mut stages = BTreeMap::new();
    let mut owners = BTreeMap::new();
    for lead in leads {
        *stages.entry(lead.stage.clone()).or_insert(0) += 1;
        if let Some(owner) = lead.owner_id.filter(|_| lead.reached_rank >= 3) {
            *owners.entry(users[&owner].clone()).or_insert(0) += 1;
        }
    }
    (stages, owners)
}

#[tokio::test]
async fn the_demo_is_deterministic_and_covers_every_stage_and_both_reps() {
    let until = "2026-12-01T00:00:00Z".parse().expect("time");
    let first = TestApp::spawn().await;
    let demo = leadgraph::demo::load(&first.state.db, until)
        .await
        .expect("load");
    let roles: Vec<&str> = demo.users.iter().map(|u| u.role.as_str()).collect();
    assert_eq!(roles, ["ADMIN", "MARKETING", "SALES", "SALES", "INGEST"]);
    assert_eq!(demo.report.leads, u64::from(leadgraph::demo::LEADS));
    let (stages, owners) = shape(&first).await;
    for stage in [
        "LEAD",
        "MQL",
        "SQL",
        "OPPORTUNITY",
        "CUSTOMER",
        "DISQUALIFIED",
    ] {
        assert!(
            stages.get(stage).copied().unwrap_or(0) > 0,
            "{stage}: {stages:?}"
        );
    }
    for rep in [
        "sales-01@seed.leadgraph.test",
        "sales-02@seed.leadgraph.test",
    ] {
        assert!(
            owners.get(rep).copied().unwrap_or(0) > 0,
            "{rep}: {owners:?}"
        );
    }

    let second = TestApp::spawn().await;
    leadgraph::demo::load(&second.state.db, until)
        .await
        .expect("load");
    assert_eq!(shape(&second).await, (stages, owners));
    let emails = |app: &TestApp| {
        let db = app.state.db.read.clone();
        async move {
            entity::lead::Entity::find()
                .order_by_asc(entity::lead::Column::Id)
                .all(&db)
                .await
                .expect("leads")
                .into_iter()
                .map(|l| (l.email, l.score, l.stage, l.owner_id, l.persona_id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(emails(&first).await, emails(&second).await);
}

#[tokio::test]
async fn a_database_with_a_single_user_is_refused_and_left_as_it_was() {
    let app = TestApp::spawn().await;
    let token = app.token(Role::Marketing, "someone@example.com");
    app.ok(&token, "{ me { id } }", json!({})).await;
    let err = leadgraph::demo::load(&app.state.db, leadgraph::demo::today())
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.starts_with("DATABASE_URL: "), "{message}");
    assert!(message.contains("holds 1 users"), "{message}");
    let users = entity::app_user::Entity::find()
        .all(&app.state.db.read)
        .await
        .expect("users");
    assert_eq!(users.len(), 1);
    for table in [
        entity::lead::Entity::find()
            .all(&app.state.db.read)
            .await
            .expect("leads")
            .len(),
        entity::campaign::Entity::find()
            .all(&app.state.db.read)
            .await
            .expect("campaigns")
            .len(),
    ] {
        assert_eq!(table, 0);
    }
}
