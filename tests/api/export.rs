//! CSV exports (docs/export.md) through real HTTP and the binary: each role
//! gets what GraphQL gives it (leads by id and every column, KPI tables cell
//! by cell), errors are JSON with codes, cells are spreadsheet-safe, the
//! leads body is streamed page by page, CORS covers the routes.

use crate::helpers::{TestApp, Tokens};
use chrono::{Duration, Utc};
use leadgraph::auth::{Role, Viewer};
use leadgraph::exports::{leads::ExportSettings, params};
use reqwest::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A parsed CSV file: header and rows.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn parse(bytes: &[u8]) -> Csv {
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
        let header = reader
            .headers()
            .expect("a header")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| {
                r.expect("an RFC 4180 record")
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .collect();
        Csv { header, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    /// Rows keyed by the value of column `key`, each a map column → cell.
    fn by(&self, key: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let k = self.col(key);
        self.rows
            .iter()
            .map(|row| {
                let cells = self
                    .header
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect();
                (row[k].clone(), cells)
            })
            .collect()
    }
}

fn export_url(app: &TestApp, path_and_query: &str) -> String {
    format!("http://{}/export/{path_and_query}", app.addr)
}

async fn get(app: &TestApp, token: Option<&str>, path_and_query: &str) -> Response {
    let mut request = app.client.get(export_url(app, path_and_query));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// A successful export's CSV, after checking its headers.
async fn csv_of(app: &TestApp, token: &str, path_and_query: &str) -> Csv {
    let response = get(app, Some(token), path_and_query).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(std::str::from_utf8(&body).is_ok(), "UTF-8");
    Csv::parse(&body)
}

/// An export's error: HTTP status, `extensions.code`, `extensions.field`.
async fn error_of(
    app: &TestApp,
    token: Option<&str>,
    path_and_query: &str,
) -> (u16, String, Option<String>) {
    let response = get(app, token, path_and_query).await;
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("JSON error body");
    let ext = &body["errors"][0]["extensions"];
    (
        status,
        ext["code"].as_str().expect("a code").to_owned(),
        ext["field"].as_str().map(str::to_owned),
    )
}

const LEADS: &str = "query($filter: LeadFilter, $after: String) {
  leads(first: 30, after: $after, filter: $filter) {
    edges { node {
      id email firstName lastName company jobTitle industry companySize country phone
      stage score fitScore engagementScore icpFit sourceChannel
      persona { id name } sourceCampaign { id name } owner { id name email }
      qualification { budget need authority timeline notes }
      dealAmount { amount currency } disqualificationReason
      createdAt updatedAt stageChangedAt version
    } }
    pageInfo { hasNextPage }
  }
}";

/// The leads GraphQL gives `token` for `filter`, newest first.
async fn graphql_leads(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let data = app.ok(token, LEADS, json!({"filter": filter})).await;
    assert_eq!(data["leads"]["pageInfo"]["hasNextPage"], false);
    data["leads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every column of a CSV lead equals its GraphQL field.
fn assert_same_lead(csv: &BTreeMap<String, String>, gql: &Value) {
    let fields = [
        ("id", &gql["id"]),
        ("email", &gql["email"]),
        ("first_name", &gql["firstName"]),
        ("last_name", &gql["lastName"]),
        ("company", &gql["company"]),
        ("job_title", &gql["jobTitle"]),
        ("industry", &gql["industry"]),
        ("company_size", &gql["companySize"]),
        ("country", &gql["country"]),
        ("phone", &gql["phone"]),
        ("stage", &gql["stage"]),
        ("score", &gql["score"]),
        ("fit_score", &gql["fitScore"]),
        ("engagement_score", &gql["engagementScore"]),
        ("persona_id", &gql["persona"]["id"]),
        ("persona", &gql["persona"]["name"]),
        ("source_channel", &gql["sourceChannel"]),
        ("source_campaign_id", &gql["sourceCampaign"]["id"]),
        ("source_campaign", &gql["sourceCampaign"]["name"]),
        ("owner_id", &gql["owner"]["id"]),
        ("owner_name", &gql["owner"]["name"]),
        ("owner_email", &gql["owner"]["email"]),
        ("budget", &gql["qualification"]["budget"]),
        ("need", &gql["qualification"]["need"]),
        ("authority", &gql["qualification"]["authority"]),
        ("timeline", &gql["qualification"]["timeline"]),
        ("qualification_notes", &gql["qualification"]["notes"]),
        ("deal_amount", &gql["dealAmount"]["amount"]),
        ("currency", &gql["dealAmount"]["currency"]),
        ("disqualification_reason", &gql["disqualificationReason"]),
        ("created_at", &gql["createdAt"]),
        ("updated_at", &gql["updatedAt"]),
        ("stage_changed_at", &gql["stageChangedAt"]),
        ("version", &gql["version"]),
    ];
    for (column, value) in fields {
        // Text from users is escaped as `cells_are_safe_to_open_in_a_spreadsheet` checks.
        let want = match value {
            Value::String(s) => leadgraph::exports::cell::text(s).into_owned(),
            other => text(other),
        };
        assert_eq!(csv[column], want, "{column} of {}", gql["email"]);
    }
    let fit = csv["icp_fit"].parse::<f64>().ok();
    assert_eq!(fit, gql["icpFit"].as_f64(), "icp_fit");
    assert_eq!(csv.len(), leadgraph::exports::leads::COLUMNS.len());
}

async fn campaign(app: &TestApp, token: &str, name: &str, channel: &str) -> String {
    let data = app
        .ok(
            token,
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }",
            json!({"input": {"name": name, "channel": channel}}),
        )
        .await;
    data["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn lead_with(app: &TestApp, token: &str, input: Value) -> String {
    let data = app
        .ok(
            token,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({ "input": input }),
        )
        .await;
    data["createLead"]["id"].as_str().expect("id").to_owned()
}

/// Leads at every stage, some owned, some in campaigns; returns the tokens.
async fn scenario(app: &TestApp) -> Tokens {
    let t = app.tokens();
    let c1 = campaign(app, &t.marketing, "Search Q1", "PAID_SEARCH").await;
    let c2 = campaign(app, &t.marketing, "=LinkedIn", "SOCIAL").await;
    let full = json!({
        "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace, Countess",
        "company": "Analytical \"Engines\"", "jobTitle": "CTO", "industry": "Software",
        "companySize": 250, "country": "GB", "phone": "+44 20 7946 0000",
        "sourceCampaignId": c1
    });
    let ada = lead_with(app, &t.admin, full).await;
    for step in ["MQL"] {
        assert_eq!(app.transition(&t.admin, &ada, step, None).await, None);
    }
    app.ok(
        &t.admin,
        "mutation($id: ID!, $notes: String) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true, timeline: \"Q3\", notes: $notes}) { stage } }",
        json!({"id": ada, "notes": "line one\nline two, \"quoted\""}),
    )
    .await;
    let won = lead_with(
        app,
        &t.admin,
        json!({"email": "won@example.com", "sourceCampaignId": c2}),
    )
    .await;
    for step in ["MQL"] {
        assert_eq!(app.transition(&t.admin, &won, step, None).await, None);
    }
    app.ok(
        &t.admin,
        "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }",
        json!({"id": won}),
    )
    .await;
    for (to, amount) in [("OPPORTUNITY", "900.00"), ("CUSTOMER", "1200.50")] {
        app.ok(
            &t.admin,
            "mutation($id: ID!, $to: LeadStage!, $amount: Decimal) { transitionLead(id: $id, to: $to, dealAmount: $amount) { stage } }",
            json!({"id": won, "to": to, "amount": amount}),
        )
        .await;
    }
    app.lead_at(&t, "fresh@example.com", "LEAD").await;
    app.lead_at(&t, "gone@example.com", "DISQUALIFIED").await;
    app.lead_at(&t, "warm@example.com", "MQL").await;
    // SALES owns what it creates: visible to sam, not to sue.
    app.create_lead(&t.sales, "sams-own@example.com").await;
    app.create_lead(&t.sales2, "sues-own@example.com").await;
    // Claimed by sam, so it has an owner with a name and email in the row.
    let claimed = app.lead_at(&t, "claimed@example.com", "SQL").await;
    let sam = app.user_id(&t.sales).await;
    app.ok(
        &t.sales,
        "mutation($id: ID!, $to: ID) { assignLead(id: $id, ownerId: $to) { id } }",
        json!({"id": claimed, "to": sam}),
    )
    .await;
    t
}

#[tokio::test]
async fn each_role_exports_exactly_the_leads_graphql_gives_it() {
    let app = TestApp::spawn().await;
    let t = scenario(&app).await;
    for (role, token) in [
        ("ADMIN", &t.admin),
        ("MARKETING", &t.marketing),
        ("SALES sam", &t.sales),
        ("SALES sue", &t.sales2),
    ] {
        let expected = graphql_leads(&app, token, json!({})).await;
        let csv = csv_of(&app, token, "leads.csv").await;
        assert_eq!(csv.header, leadgraph::exports::leads::COLUMNS);
        let ids: Vec<&str> = csv.rows.iter().map(|r| r[0].as_str()).collect();
        let want: Vec<&str> = expected
            .iter()
            .map(|l| l["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, want, "{role}: same leads, same order (newest first)");
        let rows = csv.by("id");
        for lead in &expected {
            assert_same_lead(&rows[lead["id"].as_str().expect("id")], lead);
        }
    }
    // What SALES must not see is really absent, not just the same as GraphQL.
    let sam = csv_of(&app, &t.sales, "leads.csv").await;
    let emails: BTreeSet<String> = sam.rows.iter().map(|r| r[1].clone()).collect();
    for hidden in [
        "fresh@example.com",
        "gone@example.com",
        "sues-own@example.com",
    ] {
        assert!(!emails.contains(hidden), "SALES got {hidden}");
    }
    for visible in [
        "sams-own@example.com",
        "warm@example.com",
        "won@example.com",
    ] {
        assert!(emails.contains(visible), "SALES misses {visible}");
    }
    let all = csv_of(&app, &t.admin, "leads.csv").await;
    assert_eq!(all.rows.len(), 8);
    // No cost column in any lead export.
    for column in &all.header {
        assert!(
            !["spend", "budget_amount", "cost"]
                .iter()
                .any(|c| column.contains(c))
        );
    }
}

#[tokio::test]
async fn filters_select_what_the_graphql_filter_selects() {
    let app = TestApp::spawn().await;
    let t = scenario(&app).await;
    let c1 = &graphql_leads(&app, &t.admin, json!({"channels": ["PAID_SEARCH"]})).await[0]["sourceCampaign"]
        ["id"];
    let sam = app.user_id(&t.sales).await;
    let now = Utc::now();
    let from = (now - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (now + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cases = [
        ("stage=SQL,MQL", json!({"stages": ["SQL", "MQL"]})),
        (
            "stage=sql&stage=CUSTOMER",
            json!({"stages": ["SQL", "CUSTOMER"]}),
        ),
        ("channel=PAID_SEARCH", json!({"channels": ["PAID_SEARCH"]})),
        (
            &format!("campaignId={}", text(c1)) as &str,
            json!({"campaignIds": [c1]}),
        ),
        (&format!("ownerId={sam}"), json!({"ownerId": sam})),
        ("unassigned=true", json!({"unassigned": true})),
        (
            "scoreMin=0&scoreMax=0",
            json!({"scoreMin": 0, "scoreMax": 0}),
        ),
        ("search=ADA", json!({"search": "ADA"})),
        (
            &format!("createdFrom={}&createdTo={}", from.replace('+', "%2B"), to),
            json!({"createdFrom": from, "createdTo": to}),
        ),
        (
            "createdTo=2020-01-01",
            json!({"createdTo": "2020-01-01T00:00:00Z"}),
        ),
    ];
    for (query, filter) in cases {
        for token in [&t.admin, &t.sales] {
            let expected: Vec<String> = graphql_leads(&app, token, filter.clone())
                .await
                .iter()
                .map(|l| text(&l["id"]))
                .collect();
            let csv = csv_of(&app, token, &format!("leads.csv?{query}")).await;
            let got: Vec<String> = csv.rows.iter().map(|r| r[0].clone()).collect();
            assert_eq!(got, expected, "{query}");
        }
    }
    // A filter never widens the scope: sue's own lead stays hers.
    let csv = csv_of(&app, &t.sales, "leads.csv?stage=LEAD").await;
    let emails: Vec<&str> = csv.rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(emails, ["sams-own@example.com"]);
    // Order as in GraphQL's LeadOrder.
    let data = app
        .ok(
            &t.admin,
            "{ leads(first: 30, orderBy: {field: SCORE, direction: ASC}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let want: Vec<String> = data["leads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| text(&e["node"]["id"]))
        .collect();
    let csv = csv_of(&app, &t.admin, "leads.csv?orderBy=SCORE&direction=ASC").await;
    let got: Vec<String> = csv.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn refusals_are_json_with_codes_and_statuses() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for path in [
        "leads.csv",
        "kpis.csv?report=funnel&from=2026-01-01&to=2026-02-01",
    ] {
        let response = get(&app, None, path).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, code, _) = error_of(&app, None, path).await;
        assert_eq!((status, code.as_str()), (401, "UNAUTHENTICATED"), "{path}");
        let (status, code, _) = error_of(&app, Some("not-a-token"), path).await;
        assert_eq!((status, code.as_str()), (401, "UNAUTHENTICATED"), "{path}");
        let (status, code, _) = error_of(&app, Some(&t.ingest), path).await;
        assert_eq!((status, code.as_str()), (403, "FORBIDDEN"), "{path}");
    }
    let cost = "kpis.csv?report=cost-per-lead&from=2026-01-01&to=2026-02-01";
    let (status, code, _) = error_of(&app, Some(&t.sales), cost).await;
    assert_eq!((status, code.as_str()), (403, "FORBIDDEN"));
    // GraphQL says the same.
    let gql = app
        .error_code(
            &t.sales,
            "{ costPerLead(period: {from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\"}) { key } }",
            json!({}),
        )
        .await;
    assert!(
        ["FORBIDDEN", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"].contains(&gql.as_str()),
        "{gql}"
    );

    let bad = [
        ("leads.csv?stage=WON", "stage"),
        ("leads.csv?channel=TV", "channel"),
        ("leads.csv?ownerId=42", "ownerId"),
        ("leads.csv?campaignId=TGVhZDox", "campaignId"),
        ("leads.csv?scoreMin=ten", "scoreMin"),
        ("leads.csv?createdFrom=yesterday", "createdFrom"),
        ("leads.csv?stages=SQL&oops=1", "oops"),
        ("leads.csv?orderBy=EMAIL", "orderBy"),
        ("kpis.csv?from=2026-01-01&to=2026-02-01", "report"),
        (
            "kpis.csv?report=roi&from=2026-01-01&to=2026-02-01",
            "report",
        ),
        ("kpis.csv?report=funnel&to=2026-02-01", "from"),
        (
            "kpis.csv?report=funnel&groupBy=OWNER&from=2026-01-01&to=2026-02-01",
            "groupBy",
        ),
        (
            "kpis.csv?report=funnel&from=2026-02-01&to=2026-01-01",
            "period",
        ),
        (
            "kpis.csv?report=funnel&from=2026-01-01&to=2026-01-01",
            "period",
        ),
        (
            "kpis.csv?report=funnel&from=2020-01-01&to=2026-01-02",
            "period",
        ),
    ];
    for (path, field) in bad {
        let (status, code, got) = error_of(&app, Some(&t.admin), path).await;
        assert_eq!(
            (status, code.as_str(), got.as_deref()),
            (400, "BAD_USER_INPUT", Some(field)),
            "{path}"
        );
    }
    let response = app
        .client
        .post(export_url(&app, "leads.csv"))
        .bearer_auth(&t.admin)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
}

/// The GraphQL answer of a KPI report.
async fn graphql_kpis(
    app: &TestApp,
    token: &str,
    report: &str,
    group_by: &str,
    from: &str,
    to: &str,
) -> Vec<Value> {
    let query = match report {
        "funnel" => "query($p: PeriodInput!, $g: KpiGroupBy) { r: funnel(period: $p, groupBy: $g) { groups {
            key label newLeads disqualified overallConversion
            stages { stage reached conversionFromPrevious avgDaysFromPrevious } } } }",
        _ => "query($p: PeriodInput!, $g: KpiGroupBy) { r: costPerLead(period: $p, groupBy: $g) {
            key label spend { amount currency } leads mqls sqls customers
            costPerLead { amount } costPerMql { amount } costPerSql { amount } costPerCustomer { amount }
            revenue { amount currency } roi } }",
    };
    let data = app
        .ok(
            token,
            query,
            json!({"p": {"from": from, "to": to}, "g": group_by}),
        )
        .await;
    let groups = if report == "funnel" {
        &data["r"]["groups"]
    } else {
        &data["r"]
    };
    groups.as_array().expect("groups").clone()
}

fn assert_number(cell: &str, value: &Value, what: &str) {
    match value {
        Value::Null => assert_eq!(cell, "", "{what}"),
        v => assert_eq!(
            cell.parse::<f64>().ok(),
            v.as_f64(),
            "{what}: {cell} vs {v}"
        ),
    }
}

fn assert_close(cell: &str, value: &Value) {
    match value.as_f64() {
        None => assert_eq!(cell, "", "avg days"),
        Some(want) => {
            let got: f64 = cell.parse().expect("a number");
            assert!(
                (got - want).abs() <= want.abs() * 1e-12,
                "avg days: {got} vs {want}"
            );
        }
    }
}

#[tokio::test]
async fn kpi_tables_match_graphql_cell_by_cell() {
    let app = TestApp::spawn().await;
    let t = scenario(&app).await;
    let today = Utc::now().date_naive();
    let campaigns = app
        .ok(&t.admin, "{ campaigns { id name } }", json!({}))
        .await;
    for (i, c) in campaigns["campaigns"]
        .as_array()
        .expect("list")
        .iter()
        .enumerate()
    {
        app.ok(
            &t.admin,
            "mutation($id: ID!, $on: Date!, $amount: Decimal!) { recordSpend(campaignId: $id, on: $on, amount: $amount) { id } }",
            json!({"id": c["id"], "on": today.to_string(), "amount": format!("{}.33", 100 + i)}),
        )
        .await;
    }
    let from = today.to_string();
    let to = (today + chrono::Days::new(1)).to_string();
    let (gfrom, gto) = (format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"));
    let mut checked = 0;
    for group_by in ["NONE", "CHANNEL", "CAMPAIGN", "PERSONA"] {
        for token in [&t.admin, &t.sales] {
            let expected = graphql_kpis(&app, token, "funnel", group_by, &gfrom, &gto).await;
            let csv = csv_of(
                &app,
                token,
                &format!("kpis.csv?report=funnel&groupBy={group_by}&from={from}&to={to}"),
            )
            .await;
            assert_eq!(csv.header, leadgraph::exports::kpis::funnel_columns());
            for column in &csv.header {
                for cost in ["spend", "cost", "revenue", "roi", "budget"] {
                    assert!(
                        !column.contains(cost),
                        "a cost column in the funnel: {column}"
                    );
                }
            }
            assert_eq!(csv.rows.len(), expected.len(), "{group_by}");
            for (row, group) in csv.rows.iter().zip(&expected) {
                let cells: BTreeMap<&str, &str> = csv
                    .header
                    .iter()
                    .map(String::as_str)
                    .zip(row.iter().map(String::as_str))
                    .collect();
                assert_eq!(cells["key"], text(&group["key"]));
                // The one label written by users here is escaped.
                let label = text(&group["label"]);
                let label = if label.starts_with('=') {
                    format!("'{label}")
                } else {
                    label
                };
                assert_eq!(cells["label"], label);
                assert_number(cells["new_leads"], &group["newLeads"], "newLeads");
                assert_number(
                    cells["disqualified"],
                    &group["disqualified"],
                    "disqualified",
                );
                assert_number(
                    cells["overall_conversion"],
                    &group["overallConversion"],
                    "overall",
                );
                for stage in group["stages"].as_array().expect("stages") {
                    let name = text(&stage["stage"]).to_lowercase();
                    assert_number(
                        cells[format!("{name}_reached").as_str()],
                        &stage["reached"],
                        "reached",
                    );
                    if name != "lead" {
                        assert_number(
                            cells[format!("{name}_conversion").as_str()],
                            &stage["conversionFromPrevious"],
                            "conversion",
                        );
                        // A mean of float day differences: the database may sum
                        // in another order from one statement to the next
                        // (a last-bit difference seen on SQLite).
                        assert_close(
                            cells[format!("{name}_avg_days").as_str()],
                            &stage["avgDaysFromPrevious"],
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "too few cells compared: {checked}");
    for group_by in ["NONE", "CHANNEL", "CAMPAIGN"] {
        for token in [&t.admin, &t.marketing] {
            let expected = graphql_kpis(&app, token, "cost-per-lead", group_by, &gfrom, &gto).await;
            let csv = csv_of(
                &app,
                token,
                &format!("kpis.csv?report=cost-per-lead&groupBy={group_by}&from={from}&to={to}"),
            )
            .await;
            assert_eq!(csv.header, leadgraph::exports::kpis::COST_COLUMNS);
            assert_eq!(csv.rows.len(), expected.len(), "{group_by}");
            for (row, g) in csv.rows.iter().zip(&expected) {
                let c: BTreeMap<&str, &str> = csv
                    .header
                    .iter()
                    .map(String::as_str)
                    .zip(row.iter().map(String::as_str))
                    .collect();
                assert_eq!(c["key"], text(&g["key"]));
                assert_eq!(c["currency"], "EUR");
                assert_eq!(c["spend"], text(&g["spend"]["amount"]), "spend");
                assert_eq!(c["revenue"], text(&g["revenue"]["amount"]), "revenue");
                for (column, field) in [
                    ("cost_per_lead", "costPerLead"),
                    ("cost_per_mql", "costPerMql"),
                    ("cost_per_sql", "costPerSql"),
                    ("cost_per_customer", "costPerCustomer"),
                ] {
                    assert_eq!(c[column], text(&g[field]["amount"]), "{column}");
                }
                for (column, field) in [
                    ("leads", "leads"),
                    ("mqls", "mqls"),
                    ("sqls", "sqls"),
                    ("customers", "customers"),
                    ("roi", "roi"),
                ] {
                    assert_number(c[column], &g[field], column);
                }
            }
            // Exact decimals, as GraphQL gives them: the cents survive.
            assert!(
                csv.rows
                    .iter()
                    .any(|r| r[3].ends_with(".33") || r[3] == "201.66"),
                "{:?}",
                csv.rows
            );
            assert!(
                csv.rows.iter().any(|r| r[12] == "1200.50"),
                "{:?}",
                csv.rows
            );
        }
    }
}

#[tokio::test]
async fn cells_are_safe_to_open_in_a_spreadsheet() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let input = json!({
        "email": "eve@example.com",
        "firstName": "=HYPERLINK(\"http://evil.example\",\"click\")",
        "lastName": "@SUM(A1:A9)",
        "company": "+1-555-0100",
        "jobTitle": "-2+3",
        "industry": "Tab\tinside, and \"quotes\"",
        "phone": "+33 1 23 45 67 89",
    });
    lead_with(&app, &t.admin, input).await;
    let response = get(&app, Some(&t.admin), "leads.csv?bom=true").await;
    let body = response.bytes().await.expect("body");
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "the BOM asked for");
    assert!(!body.contains(&0u8));
    let csv = Csv::parse(&body[3..]);
    let lead = &csv.by("email")["eve@example.com"];
    assert_eq!(
        lead["first_name"],
        "'=HYPERLINK(\"http://evil.example\",\"click\")"
    );
    assert_eq!(lead["last_name"], "'@SUM(A1:A9)");
    assert_eq!(lead["company"], "'+1-555-0100");
    assert_eq!(lead["job_title"], "'-2+3");
    assert_eq!(lead["phone"], "'+33 1 23 45 67 89");
    assert_eq!(lead["industry"], "Tab\tinside, and \"quotes\"");
    // Numbers leadgraph writes stay numbers.
    assert!(lead["score"].parse::<i32>().is_ok());
    // Without the parameter, no BOM; the header is the first line.
    let plain = get(&app, Some(&t.admin), "leads.csv")
        .await
        .bytes()
        .await
        .expect("body");
    assert!(plain.starts_with(b"id,email,"));
    assert!(plain.ends_with(b"\r\n"), "RFC 4180 line ends");
}

#[tokio::test]
async fn leads_are_streamed_a_page_at_a_time() {
    let app = TestApp::spawn_with(|c| c.export_page_size = 2).await;
    let t = app.tokens();
    for i in 0..7 {
        app.create_lead(&t.admin, &format!("lead{i}@example.com"))
            .await;
    }
    // Over HTTP: a chunked body (no Content-Length), all 7 in GraphQL's order.
    let response = get(&app, Some(&t.admin), "leads.csv").await;
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let csv = Csv::parse(&response.bytes().await.expect("body"));
    let want: Vec<String> = graphql_leads(&app, &t.admin, json!({}))
        .await
        .iter()
        .map(|l| text(&l["email"]))
        .collect();
    let got: Vec<String> = csv.rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 7);
    // The exporter itself: one chunk per page of at most 2 leads (the
    // header rides with the first), so it never holds more than a page.
    let viewer = Viewer {
        user_id: 0,
        subject: "test".into(),
        role: Role::Admin,
        expires_at: i64::MAX,
    };
    let settings = ExportSettings {
        page_size: 2,
        currency: "EUR".into(),
        page_timeout: std::time::Duration::from_secs(30),
    };
    let spec = params::lead_export(&[]).expect("no parameters");
    let stream =
        leadgraph::exports::leads::export(viewer, app.state.db.read.clone(), spec, settings)
            .await
            .expect("export");
    use futures::StreamExt;
    let chunks: Vec<bytes::Bytes> = stream.map(|c| c.expect("chunk")).collect().await;
    let lines: Vec<usize> = chunks
        .iter()
        .map(|c| c.windows(2).filter(|w| w == b"\r\n").count())
        .collect();
    assert_eq!(lines, [3, 2, 2, 1], "header + 2, then 2, 2, 1");
}

#[tokio::test]
async fn cors_covers_the_exports() {
    let origins = leadgraph::cors::parse_origins("http://localhost:5173").expect("origins");
    let app = TestApp::spawn_with(|c| c.cors_origins = origins).await;
    let t = app.tokens();
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, export_url(&app, "leads.csv"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let response = app
        .client
        .get(export_url(&app, "leads.csv"))
        .header("origin", "http://localhost:5173")
        .bearer_auth(&t.admin)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(exposed.contains("content-disposition"), "{exposed}");
    let foreign = app
        .client
        .get(export_url(&app, "leads.csv"))
        .header("origin", "https://evil.example")
        .bearer_auth(&t.admin)
        .send()
        .await
        .expect("request");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn the_rate_limit_applies_to_exports() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = 1;
        c.rate_burst = 2;
    })
    .await;
    let t = app.tokens();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = get(&app, Some(&t.admin), "leads.csv").await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().get("retry-after").is_some());
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// Run the binary on the test's database; (success, stdout, stderr).
async fn cli(app: &TestApp, args: &[&str]) -> (bool, Vec<u8>, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"));
    command
        .args(args)
        .env("RUST_LOG", "error")
        .env("DATABASE_URL", &app.database_url);
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the command ends")
        .expect("the command runs");
    (
        output.status.success(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_writes_what_http_gives() {
    let app = TestApp::spawn().await;
    let t = scenario(&app).await;
    let http = get(&app, Some(&t.admin), "leads.csv?stage=SQL,CUSTOMER")
        .await
        .bytes()
        .await
        .expect("body");
    let (ok, out, err) = cli(
        &app,
        &["export", "leads", "--stage", "SQL", "--stage", "CUSTOMER"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, http.to_vec(), "ADMIN's view by default");
    assert_eq!(Csv::parse(&out).rows.len(), 3);

    let http = get(&app, Some(&t.sales), "leads.csv")
        .await
        .bytes()
        .await
        .expect("body");
    let (ok, out, err) = cli(
        &app,
        &[
            "export",
            "leads",
            "--as-role",
            "SALES",
            "--as-sub",
            "sam@example.com",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, http.to_vec(), "SALES sam's view");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("funnel.csv");
    let today = Utc::now().date_naive();
    let (from, to) = (
        today.to_string(),
        (today + chrono::Days::new(1)).to_string(),
    );
    let (ok, out, err) = cli(
        &app,
        &[
            "export",
            "kpis",
            "--report",
            "funnel",
            "--group-by",
            "CHANNEL",
            "--from",
            &from,
            "--to",
            &to,
            "--output",
            file.to_str().expect("utf-8"),
            "--bom",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.is_empty());
    let written = std::fs::read(&file).expect("the file");
    let http = get(
        &app,
        Some(&t.admin),
        &format!("kpis.csv?report=funnel&groupBy=CHANNEL&from={from}&to={to}&bom=1"),
    )
    .await
    .bytes()
    .await
    .expect("body");
    assert_eq!(written, http.to_vec());
    assert!(!dir.path().join("funnel.csv.partial").exists());

    let (ok, _, err) = cli(
        &app,
        &[
            "export",
            "kpis",
            "--report",
            "cost-per-lead",
            "--from",
            &from,
            "--to",
            &to,
            "--as-role",
            "SALES",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("SALES may not"), "{err}");
    let (ok, _, err) = cli(&app, &["export", "leads", "--created-from", "yesterday"]).await;
    assert!(!ok);
    assert!(err.contains("--created-from"), "{err}");
    let (ok, _, err) = cli(
        &app,
        &[
            "export", "kpis", "--report", "funnel", "--from", &to, "--to", &from,
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("--from/--to"), "{err}");
    let (ok, _, err) = cli(&app, &["export", "leads", "--as-role", "INGEST"]).await;
    assert!(!ok);
    assert!(err.contains("INGEST may not"), "{err}");
}
