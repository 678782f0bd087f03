//! `TestApp::spawn()`: a fresh migrated database (a temp SQLite file, or a
//! uniquely named PostgreSQL database when `DATABASE_URL` names PostgreSQL)
//! and a real server on port 0, reached through HTTP like any client.

use leadgraph::app;
use leadgraph::auth::Role;
use leadgraph::config::{Config, Secret};
use serde_json::{Value, json};
use std::net::SocketAddr;

pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
    pub database_url: String,
    pub secret: String,
    pub client: reqwest::Client,
    pub state: app::AppState,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Stops the event dispatcher and closes the WebSockets, which the
        // graceful shutdown of axum does not wait for.
        self.state.events.shutdown();
        // Whatever the test did to its database, the KPI rollups (and the
        // deltas not yet folded) still equal the lead rows: `rollups
        // verify` after every test of the suite (issue 15).
        if !std::thread::panicking() {
            assert_no_rollup_drift(&self.database_url);
        }
    }
}

/// `leadgraph rollups verify` on `database_url`, from a thread of its own
/// (a test's runtime may be shutting down when its app is dropped).
fn assert_no_rollup_drift(database_url: &str) {
    let url = database_url.to_owned();
    let drift = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let db = sea_orm::Database::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            let drift = leadgraph::kpis::rollups::verify(&db)
                .await
                .map_err(|e| e.to_string());
            db.close().await.ok();
            drift
        })
    })
    .join()
    .expect("the verify thread");
    match drift {
        Ok(drift) => assert!(drift.is_empty(), "the KPI rollups drifted: {drift:?}"),
        Err(e) => panic!("rollups verify failed: {e}"),
    }
}

/// A fresh database URL for one test.
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sea_orm::ConnectionTrait;
            let name = format!("lg_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
            (format!("{base}/{name}"), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
            (url, Some(dir))
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let (database_url, dir) = fresh_database().await;
        Self::spawn_on(database_url, dir, configure).await
    }

    /// A server on an existing database (a second instance, a restart).
    pub async fn spawn_on(
        database_url: String,
        dir: Option<tempfile::TempDir>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let secret = "test-secret-test-secret-test-secret-0123456789".to_owned();
        let mut config = Config::for_database(&database_url);
        config.jwt_secret = Some(Secret(secret.clone()));
        config.db_pool = 5;
        configure(&mut config);
        let state = app::build_state(config).await.expect("build state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app::router(state.clone());
        let header_timeout = state.config.header_timeout;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app::serve_on(listener, router, header_timeout, async {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            url: format!("http://{addr}/graphql"),
            database_url,
            secret,
            client: reqwest::Client::new(),
            state,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// Keep the temporary SQLite directory beyond this app, to restart a
    /// server on the same database after dropping this one.
    #[allow(dead_code, reason = "for tests that restart the server")]
    pub fn keep_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }

    /// A valid token for `subject` with `role`.
    pub fn token(&self, role: Role, subject: &str) -> String {
        self.state
            .keys
            .mint(subject, role, 3600, None, None)
            .expect("mint token")
    }

    /// POST a GraphQL operation; the parsed JSON body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request");
        response.json().await.expect("JSON body")
    }

    /// POST and return `data`, failing the test on any error.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// POST and return the first error's `extensions.code`.
    pub async fn error_code(&self, token: &str, query: &str, variables: Value) -> String {
        let body = self.gql(token, query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code: {body:#}"))
            .to_owned()
    }

    /// Tokens for the four roles, with distinct subjects.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            admin: self.token(Role::Admin, "admin@example.com"),
            marketing: self.token(Role::Marketing, "mia@example.com"),
            sales: self.token(Role::Sales, "sam@example.com"),
            sales2: self.token(Role::Sales, "sue@example.com"),
            ingest: self.token(Role::Ingest, "ingest@example.com"),
        }
    }

    /// Create a lead as `token`; its id.
    pub async fn create_lead(&self, token: &str, email: &str) -> String {
        let data = self
            .ok(
                token,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({"input": {"email": email}}),
            )
            .await;
        data["createLead"]["id"].as_str().expect("id").to_owned()
    }

    /// Move a lead as `token`; the error code, or `None` on success.
    pub async fn transition(
        &self,
        token: &str,
        id: &str,
        to: &str,
        reason: Option<&str>,
    ) -> Option<String> {
        let body = self
            .gql(
                token,
                "mutation($id: ID!, $to: LeadStage!, $reason: String) { transitionLead(id: $id, to: $to, reason: $reason) { stage } }",
                json!({"id": id, "to": to, "reason": reason}),
            )
            .await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned)
    }

    /// The id of the user behind a token.
    pub async fn user_id(&self, token: &str) -> String {
        let data = self.ok(token, "{ me { id } }", json!({})).await;
        data["me"]["id"].as_str().expect("id").to_owned()
    }

    /// Bring a new lead to `stage` as ADMIN (with BANT where needed).
    pub async fn lead_at(&self, tokens: &Tokens, email: &str, stage: &str) -> String {
        let id = self.create_lead(&tokens.admin, email).await;
        let path: &[&str] = match stage {
            "LEAD" => &[],
            "MQL" => &["MQL"],
            "SQL" => &["MQL", "SQL"],
            "OPPORTUNITY" => &["MQL", "SQL", "OPPORTUNITY"],
            "CUSTOMER" => &["MQL", "SQL", "OPPORTUNITY", "CUSTOMER"],
            "DISQUALIFIED" => &["DISQUALIFIED"],
            other => panic!("unknown stage {other}"),
        };
        for step in path {
            if *step == "SQL" {
                self.ok(
                    &tokens.admin,
                    "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }",
                    json!({"id": id}),
                )
                .await;
                continue;
            }
            let reason = (*step == "DISQUALIFIED").then_some("not a fit");
            assert_eq!(
                self.transition(&tokens.admin, &id, step, reason).await,
                None,
                "to {step}"
            );
        }
        id
    }
}

pub struct Tokens {
    pub admin: String,
    pub marketing: String,
    pub sales: String,
    pub sales2: String,
    pub ingest: String,
}

/// `.ci/NAME`, an npm client the tests drive, with `npm ci` run there first
/// if `package` is not installed yet (`.ci/run` installs it beforehand).
pub async fn npm_client(name: &str, package: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ci")
        .join(name);
    if !dir.join("node_modules").join(package).is_dir() {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .await
            .expect("npm (node 20+ and npm are required)");
        assert!(status.success(), "npm ci --prefix .ci/{name} failed");
    }
    dir
}
