//! CSV import of leads (docs/import-export.md): `importLeads` over real
//! multipart HTTP and `leadgraph import leads` through the binary — bad
//! rows reported by line and the rest imported, duplicates, encodings and
//! delimiters, dry runs, scoring and events as for any new lead, and who
//! may import.

use crate::helpers::TestApp;
use leadgraph::auth::Role;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const IMPORT: &str = "mutation($file: Upload!, $options: ImportLeadsOptions) { importLeads(file: $file, options: $options) { dryRun rows created updated unchanged skipped failed promotedToMql delimiter columns { column field } warnings errors { line column field code message } errorsNotListed } }";

/// POST `importLeads` as a GraphQL multipart request with `csv` as the
/// file; the HTTP status and the JSON body.
async fn upload_raw(
    app: &TestApp,
    token: &str,
    csv: Vec<u8>,
    options: Value,
) -> (reqwest::StatusCode, Value) {
    let operations = json!({"query": IMPORT, "variables": {"file": null, "options": options}});
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0": ["variables.file"]}"#)
        .part(
            "0",
            reqwest::multipart::Part::bytes(csv)
                .file_name("leads.csv")
                .mime_str("text/csv")
                .expect("mime"),
        );
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// `importLeads` that must succeed: its report.
async fn import(app: &TestApp, token: &str, csv: impl Into<Vec<u8>>, options: Value) -> Value {
    let (status, body) = upload_raw(app, token, csv.into(), options).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body:#}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"]["importLeads"].clone()
}

async fn lead_count(app: &TestApp) -> u64 {
    entity::lead::Entity::find()
        .count(&app.state.db.read)
        .await
        .expect("count")
}

async fn stored(app: &TestApp, email: &str) -> Option<entity::lead::Model> {
    entity::lead::Entity::find()
        .filter(entity::lead::Column::Email.eq(email))
        .one(&app.state.db.read)
        .await
        .expect("query")
}

fn lines_of(report: &Value) -> Vec<(u64, String, String)> {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["field"].as_str().unwrap_or("-").to_owned(),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

fn assert_every_row_counted(report: &Value) {
    let n = |k: &str| report[k].as_u64().expect(k);
    assert_eq!(
        n("rows"),
        n("created") + n("updated") + n("unchanged") + n("skipped") + n("failed"),
        "{report:#}"
    );
}

#[tokio::test]
async fn ten_thousand_rows_with_bad_ones_report_each_by_line_and_import_the_rest() {
    // A debug build on a busy machine: more time than the 30 s default.
    let app =
        TestApp::spawn_with(|c| c.request_timeout = std::time::Duration::from_secs(300)).await;
    let t = app.tokens();
    app.ok(
        &t.marketing,
        "mutation { createCampaign(input: {name: \"Spring Webinar\", channel: WEBINAR}) { id } }",
        json!({}),
    )
    .await;
    let mut csv: Vec<u8> =
        b"Email,First Name,Last Name,Company,Job Title,Country,Employees,Industry,Channel,Campaign\n"
            .to_vec();
    // Row i (0-based) of the data; its line is i + 2, plus one for each
    // earlier row holding a quoted newline.
    let mut line = 1u64;
    let mut expected: Vec<(u64, &str, &str)> = Vec::new();
    let long = "x".repeat(300);
    for i in 0..10_000u32 {
        line += 1;
        let email = format!("lead{i}@example.com");
        let row: Vec<u8> = match i {
            10 => {
                expected.push((line, "email", "BAD_USER_INPUT"));
                b"not-an-email,A,B,C,CTO,DE,10,Software,,\n".to_vec()
            }
            200 => {
                expected.push((line, "country", "BAD_USER_INPUT"));
                format!("{email},A,B,C,CTO,Germany,10,Software,,\n").into_bytes()
            }
            777 => {
                expected.push((line, "companySize", "BAD_USER_INPUT"));
                format!("{email},A,B,C,CTO,DE,-5,Software,,\n").into_bytes()
            }
            1500 => {
                expected.push((line, "email", "CONFLICT"));
                // The same person as row 3, in another case.
                b"LEAD3@example.com,A,B,C,CTO,DE,10,Software,,\n".to_vec()
            }
            2000 => {
                expected.push((line, "campaign", "BAD_USER_INPUT"));
                format!("{email},A,B,C,CTO,DE,10,Software,,Autumn Gala\n").into_bytes()
            }
            3000 => {
                expected.push((line, "firstName", "BAD_USER_INPUT"));
                format!("{email},A\0da,B,C,CTO,DE,10,Software,,\n").into_bytes()
            }
            4000 => {
                expected.push((line, "company", "BAD_USER_INPUT"));
                format!("{email},A,B,{long},CTO,DE,10,Software,,\n").into_bytes()
            }
            5000 => {
                expected.push((line, "lastName", "BAD_USER_INPUT"));
                let mut row = format!("{email},A,").into_bytes();
                row.extend_from_slice(b"M\xfcller");
                row.extend_from_slice(b",C,CTO,DE,10,Software,,\n");
                row
            }
            6000 => {
                // A quoted newline is data, not a new row: the next row's
                // line is one further on.
                line += 1;
                format!(
                    "{email},A,B,\"Acme\nEurope\",CTO,DE,10,Software,paid search,Spring Webinar\n"
                )
                .into_bytes()
            }
            9999 => {
                expected.push((line, "-", "BAD_USER_INPUT"));
                // An unbalanced quote runs to the end of the file.
                format!("{email},\"A,B,C,CTO,DE,10,Software,,\n").into_bytes()
            }
            _ => format!(
                "{email},Ada,Lovelace,Acme {i},CTO,de,{},Software,,\n",
                i % 500
            )
            .into_bytes(),
        };
        csv.extend_from_slice(&row);
    }
    let before = lead_count(&app).await;
    let report = import(&app, &t.marketing, csv, json!({})).await;
    assert_eq!(report["rows"], 10_000, "{report:#}");
    assert_eq!(report["failed"], expected.len(), "{:#}", report["errors"]);
    assert_eq!(report["created"], 10_000 - expected.len());
    assert_every_row_counted(&report);
    let got = lines_of(&report);
    let want: Vec<(u64, String, String)> = expected
        .iter()
        .map(|(l, f, c)| (*l, (*f).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(got, want, "{:#}", report["errors"]);
    // Each error names its column as the header spells it.
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors[0]["column"], "Email");
    assert_eq!(errors[1]["column"], "Country");
    assert!(
        errors[8]["message"]
            .as_str()
            .expect("message")
            .contains("unbalanced quote")
    );
    assert_eq!(
        lead_count(&app).await - before,
        10_000 - expected.len() as u64
    );
    // The good rows are stored as createLead stores them.
    let ada = stored(&app, "lead42@example.com").await.expect("imported");
    assert_eq!(ada.country.as_deref(), Some("DE"));
    assert_eq!(ada.company_size, Some(42));
    assert_eq!(ada.source_channel, "DIRECT");
    let quoted = stored(&app, "lead6000@example.com")
        .await
        .expect("imported");
    assert_eq!(quoted.company.as_deref(), Some("Acme\nEurope"));
    assert_eq!(quoted.source_channel, "PAID_SEARCH");
    assert!(quoted.source_campaign_id.is_some());
    assert!(stored(&app, "lead3@example.com").await.is_some());
    assert!(stored(&app, "lead200@example.com").await.is_none());
}

#[tokio::test]
async fn duplicates_of_stored_leads_are_updated_skipped_or_failed_as_asked() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.create_lead(&t.marketing, "old@example.com").await;
    let csv = "email,company,country\nold@example.com,Acme,FR\nnew@example.com,Beta,DE\n";

    let report = import(&app, &t.marketing, csv, json!({})).await;
    assert_eq!(
        (&report["created"], &report["skipped"], &report["failed"]),
        (&json!(1), &json!(1), &json!(0)),
        "the default is skip: {report:#}"
    );
    assert_eq!(
        stored(&app, "old@example.com").await.expect("old").company,
        None
    );

    let report = import(&app, &t.marketing, csv, json!({"onDuplicate": "FAIL"})).await;
    assert_eq!(report["failed"], 2, "{report:#}");
    assert_eq!(
        lines_of(&report),
        vec![
            (2, "email".to_owned(), "CONFLICT".to_owned()),
            (3, "email".to_owned(), "CONFLICT".to_owned())
        ]
    );

    let report = import(&app, &t.admin, csv, json!({"onDuplicate": "UPDATE"})).await;
    // new@example.com was imported above with these very values.
    assert_eq!(
        (&report["updated"], &report["unchanged"]),
        (&json!(1), &json!(1)),
        "{report:#}"
    );
    let old = stored(&app, "old@example.com").await.expect("old");
    assert_eq!(
        (old.company.as_deref(), old.country.as_deref(), old.version),
        (Some("Acme"), Some("FR"), 2)
    );
    // Empty cells keep what is stored; the same values change nothing.
    let report = import(
        &app,
        &t.admin,
        "email,company,country\nold@example.com,,\nnew@example.com,Beta,DE\n",
        json!({"onDuplicate": "UPDATE"}),
    )
    .await;
    assert_eq!(report["unchanged"], 2, "{report:#}");
    assert_every_row_counted(&report);
    let old = stored(&app, "old@example.com").await.expect("old");
    assert_eq!((old.company.as_deref(), old.version), (Some("Acme"), 2));
}

#[tokio::test]
async fn a_bom_semicolons_and_aliases_are_read_and_options_override_them() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let mut csv = b"\xEF\xBB\xBF".to_vec();
    csv.extend_from_slice(
        "E-Mail;Vorname;Firma;Unternehmensgröße;Notiz\n\"bom@example.com\";Jürgen;\"Acme; GmbH\";1.200;hi\n"
            .as_bytes(),
    );
    let report = import(
        &app,
        &t.marketing,
        csv.clone(),
        json!({"mapping": [
            {"column": "Vorname", "field": "first_name"},
            {"column": "Firma", "field": "company"},
            {"column": "Unternehmensgröße", "field": "employees"},
        ]}),
    )
    .await;
    assert_eq!(report["delimiter"], ";");
    assert_eq!(report["created"], 1, "{report:#}");
    assert_eq!(
        report["columns"][0],
        json!({"column": "E-Mail", "field": "email"})
    );
    assert_eq!(
        report["columns"][4],
        json!({"column": "Notiz", "field": null})
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("Notiz"), "{warnings}");
    let lead = stored(&app, "bom@example.com").await.expect("imported");
    assert_eq!(lead.first_name.as_deref(), Some("Jürgen"));
    assert_eq!(lead.company.as_deref(), Some("Acme; GmbH"));
    assert_eq!(lead.company_size, Some(1200));

    // A forced delimiter wins over the detected one: read with `,`, the
    // header is one column with no email.
    let (_, body) = upload_raw(&app, &t.marketing, csv, json!({"delimiter": ","})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "file");
}

#[tokio::test]
async fn a_file_that_cannot_be_read_changes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let before = lead_count(&app).await;
    for (csv, options, field) in [
        ("name,company\nAda,Acme\n", json!({}), "file"),
        ("", json!({}), "file"),
        (
            "email\na@example.com\n",
            json!({"mapping": [{"column": "nope", "field": "email"}]}),
            "mapping",
        ),
        (
            "email\na@example.com\n",
            json!({"mapping": [{"column": "email", "field": "favourite colour"}]}),
            "options.mapping.0.field",
        ),
        (
            "email\na@example.com\n",
            json!({"chunkSize": 0}),
            "options.chunkSize",
        ),
    ] {
        let (_, body) = upload_raw(&app, &t.marketing, csv.into(), options).await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["code"], "BAD_USER_INPUT", "{body:#}");
        assert_eq!(ext["field"], field, "{body:#}");
    }
    assert_eq!(lead_count(&app).await, before);
}

#[tokio::test]
async fn a_dry_run_reports_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.create_lead(&t.marketing, "old@example.com").await;
    let before = lead_count(&app).await;
    let report = import(
        &app,
        &t.marketing,
        "email,country\nold@example.com,FR\nnew@example.com,DE\nbad,DE\n",
        json!({"dryRun": true, "onDuplicate": "UPDATE"}),
    )
    .await;
    assert_eq!(report["dryRun"], true);
    assert_eq!(
        (&report["created"], &report["updated"], &report["failed"]),
        (&json!(1), &json!(1), &json!(1)),
        "{report:#}"
    );
    assert_eq!(lead_count(&app).await, before);
    assert_eq!(
        stored(&app, "old@example.com").await.expect("old").country,
        None
    );
}

#[tokio::test]
async fn imported_leads_are_scored_matched_promoted_and_announced() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.ok(
        &t.marketing,
        "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({"input": {"name": "Germany", "kind": "FIT", "points": 60,
               "condition": {"field": "COUNTRY", "op": "EQUALS", "values": ["DE"]}}}),
    )
    .await;
    app.ok(
        &t.marketing,
        "mutation($input: PersonaInput!) { createPersona(input: $input) { id } }",
        json!({"input": {"name": "DACH", "countries": ["DE", "AT"]}}),
    )
    .await;
    let report = import(
        &app,
        &t.marketing,
        "email,country\nhot@example.com,DE\ncold@example.com,FR\n",
        json!({}),
    )
    .await;
    assert_eq!(report["promotedToMql"], 1, "{report:#}");
    let hot = stored(&app, "hot@example.com").await.expect("hot");
    let cold = stored(&app, "cold@example.com").await.expect("cold");
    assert_eq!((hot.stage.as_str(), hot.score), ("MQL", 60));
    assert!(hot.persona_id.is_some());
    assert_eq!(hot.icp_fit, Some(1.0));
    assert_eq!((cold.stage.as_str(), cold.score), ("LEAD", 0));
    assert_eq!(cold.persona_id, None);
    // History and outbox: created by the importer, promoted by scoring.
    let events = entity::stage_event::Entity::find()
        .filter(entity::stage_event::Column::LeadId.eq(hot.id))
        .order_by_asc(entity::stage_event::Column::Seq)
        .all(&app.state.db.read)
        .await
        .expect("events");
    let seen: Vec<(Option<String>, String, String)> = events
        .into_iter()
        .map(|e| (e.from_stage, e.to_stage, e.actor))
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, "LEAD".to_owned(), "mia@example.com".to_owned()),
            (
                Some("LEAD".to_owned()),
                "MQL".to_owned(),
                "system:scoring".to_owned()
            ),
        ]
    );
    let history = entity::stage_change::Entity::find()
        .filter(entity::stage_change::Column::LeadId.eq(cold.id))
        .count(&app.state.db.read)
        .await
        .expect("history");
    assert_eq!(history, 1);
}

#[tokio::test]
async fn only_marketing_and_admin_may_import() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for (token, allowed) in [
        (&t.admin, true),
        (&t.marketing, true),
        (&t.sales, false),
        (&t.ingest, false),
    ] {
        let before = lead_count(&app).await;
        let email = format!("role{}@example.com", before);
        let (status, body) = upload_raw(
            &app,
            token,
            format!("email\n{email}\n").into_bytes(),
            json!({}),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        if allowed {
            assert_eq!(body["data"]["importLeads"]["created"], 1, "{body:#}");
            assert_eq!(lead_count(&app).await, before + 1);
        } else {
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{body:#}"
            );
            assert_eq!(lead_count(&app).await, before);
        }
    }
    // And without a token, nothing is read at all.
    let response = app
        .client
        .post(&app.url)
        .multipart(reqwest::multipart::Form::new().text("operations", "{}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn multipart_requests_are_bounded_and_must_follow_the_spec() {
    let app = TestApp::spawn_with(|c| c.upload_max_bytes = 1000).await;
    let token = app.token(Role::Marketing, "mia@example.com");
    let send = |form: reqwest::multipart::Form| {
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .header("accept", "application/graphql-response+json")
            .multipart(form)
            .send()
    };
    let operations = json!({"query": IMPORT, "variables": {"file": null}}).to_string();
    let file = |bytes: Vec<u8>| reqwest::multipart::Part::bytes(bytes).file_name("a.csv");
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();

    // Over LEADGRAPH_UPLOAD_MAX_BYTES: 413.
    let big = format!("email\n{}", "a@example.com\n".repeat(100)).into_bytes();
    let response = send(
        reqwest::multipart::Form::new()
            .text("operations", operations.clone())
            .text("map", r#"{"0": ["variables.file"]}"#)
            .part("0", file(big)),
    )
    .await
    .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        code(&response.json().await.expect("json")),
        "LIMIT_EXCEEDED"
    );

    // Two files: refused.
    let response = send(
        reqwest::multipart::Form::new()
            .text("operations", operations.clone())
            .text(
                "map",
                r#"{"0": ["variables.file"], "1": ["variables.other"]}"#,
            )
            .part("0", file(b"email\na@example.com\n".to_vec()))
            .part("1", file(b"email\nb@example.com\n".to_vec())),
    )
    .await
    .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(
        code(&response.json().await.expect("json")),
        "LIMIT_EXCEEDED"
    );

    // No map, a map naming a missing file, a batch: 400 BAD_USER_INPUT.
    for form in [
        reqwest::multipart::Form::new()
            .text("operations", operations.clone())
            .part("0", file(b"email\n".to_vec())),
        reqwest::multipart::Form::new()
            .text("operations", operations.clone())
            .text("map", r#"{"7": ["variables.file"]}"#),
        reqwest::multipart::Form::new()
            .text("operations", format!("[{operations}]"))
            .text("map", r#"{}"#),
    ] {
        let response = send(form).await.expect("request");
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(
            code(&response.json().await.expect("json")),
            "BAD_USER_INPUT"
        );
    }

    // The file variable without a file: a coded error, no panic.
    let body = app.gql(&token, IMPORT, json!({"file": null})).await;
    assert!(
        body["errors"][0]["extensions"]["code"].is_string(),
        "{body:#}"
    );
    // JSON bodies keep working beside uploads.
    let me = app.ok(&token, "{ me { subject } }", json!({})).await;
    assert_eq!(me["me"]["subject"], "mia@example.com");
}

/// Run the binary; (success, stdout, stderr).
async fn leadgraph(args: &[&str], database_url: &str) -> (bool, String, String) {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "error")
            .env(
                "LEADGRAPH_JWT_SECRET",
                "cli-import-secret-cli-import-secret-0123",
            )
            .output(),
    )
    .await
    .expect("the command ends")
    .expect("the command runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_imports_reports_each_bad_line_and_fails_when_rows_failed() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("leads.csv");
    let report_file = dir.path().join("report.json");
    std::fs::write(
        &file,
        "Mail;Firma;Land\ncli1@example.com;Acme;DE\nbroken;Beta;DE\ncli2@example.com;Gamma;XX\ncli3@example.com;Delta;fr\n",
    )
    .expect("write csv");
    let path = file.to_str().expect("utf-8 path");
    let report_path = report_file.to_str().expect("utf-8 path");
    // A dry run first: nothing written, the same errors.
    let (ok, stdout, _) = leadgraph(
        &[
            "import",
            "leads",
            path,
            "--dry-run",
            "--map",
            "Firma=company",
            "--map",
            "Land=country",
        ],
        &app.database_url,
    )
    .await;
    assert!(!ok);
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(stored(&app, "cli1@example.com").await.is_none());

    let (ok, stdout, stderr) = leadgraph(
        &[
            "import",
            "leads",
            path,
            "--map",
            "Firma=company",
            "--map",
            "Land=country",
            "--report",
            report_path,
            "--actor",
            "ops@example.com",
        ],
        &app.database_url,
    )
    .await;
    assert!(!ok, "rows failed: the exit code says so");
    assert!(stdout.contains("2 created"), "{stdout}");
    assert!(stdout.contains("2 failed"), "{stdout}");
    assert!(
        stderr.contains("line 3 column \"Mail\" (email)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4 column \"Land\" (country)"),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_file).expect("report")).expect("JSON");
    assert_eq!(report["failed"], 2);
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][1]["field"], "country");

    // The imported leads are everyone's leads, created by the actor given.
    let lead = stored(&app, "cli3@example.com").await.expect("imported");
    assert_eq!(lead.country.as_deref(), Some("FR"));
    let actor = entity::stage_change::Entity::find()
        .filter(entity::stage_change::Column::LeadId.eq(lead.id))
        .one(&app.state.db.read)
        .await
        .expect("history")
        .expect("a creation")
        .actor;
    assert_eq!(actor, "ops@example.com");
    let data = app
        .ok(
            &t.marketing,
            "{ leads(first: 10) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["leads"]["totalCount"], 2);

    // A clean file exits 0; running it again skips every row.
    std::fs::write(&file, "email\ncli9@example.com\n").expect("write csv");
    let (ok, stdout, stderr) = leadgraph(&["import", "leads", path], &app.database_url).await;
    assert!(ok, "{stdout}{stderr}");
    let (ok, stdout, _) = leadgraph(&["import", "leads", path], &app.database_url).await;
    assert!(ok);
    assert!(stdout.contains("1 skipped"), "{stdout}");
    // A missing email column is an error before anything is written.
    std::fs::write(&file, "name\nAda\n").expect("write csv");
    let (ok, _, stderr) = leadgraph(&["import", "leads", path], &app.database_url).await;
    assert!(!ok);
    assert!(stderr.contains("no email column"), "{stderr}");
}
