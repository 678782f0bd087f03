//! The KPIs of docs/kpis.md against a fixed scenario whose every figure is
//! computed by hand below.
//!
//! Leads are created and moved through the API (so reached ranks, skips,
//! recycling, disqualification, erasure and deal amounts are the server's
//! own), then their creation time and milestones are moved into March 2026
//! by writing the rows through `app.state.db` — the API stamps "now", and
//! the mean days between stages need a known history. A milestone is only
//! ever re-dated, never invented: the test first checks that the server set
//! exactly the milestones the scenario expects.
//!
//! The scenario, period P = [2026-03-01T00:00Z, 2026-04-01T00:00Z):
//!
//! | lead | campaign | channel        | path (API)                                  | reached | now  | days from previous (MQL SQL OPP CUST) |
//! |------|----------|----------------|---------------------------------------------|---------|------|---------------------------------------|
//! | L1   | C1       | PAID_SEARCH    | → MQL → SQL → OPP → CUSTOMER (deal 1200.00) | 5       | CUST | 2  1.5  3  10                         |
//! | L2   | C1       | PAID_SEARCH    | → MQL → SQL → DISQUALIFIED                  | 3       | DQ   | 1  2                                  |
//! | L3   | C1       | PAID_SEARCH    | → DQ → LEAD (recycled) → MQL                | 2       | MQL  | 10                                    |
//! | L4   | C2       | EMAIL (given)  | → MQL → SQL → LEAD (recycled) → MQL → SQL (requalified) → OPP → CUSTOMER (800.00) | 5 | CUST | 1 3 1 2 |
//! | L5   | C3       | SOCIAL         | captured → MQL                              | 2       | MQL  | 1.5                                   |
//! | L6   | C3       | SOCIAL         | absorbs a duplicate at SQL (merge): skips MQL | 3     | SQL  | 2  0                                  |
//! | L7   | C3       | SOCIAL         | captured → DISQUALIFIED                     | 1       | DQ   |                                       |
//! | L8   | —        | ORGANIC_SEARCH | → … → CUSTOMER (500.00), created at `from`  | 5       | CUST | 2  1  1  2                            |
//! | L9   | —        | DIRECT (default) | stays, created 1 s before `to`            | 1       | LEAD |                                       |
//! | L10  | C1       | PAID_SEARCH    | → OPPORTUNITY (deal 300.00, not revenue)    | 4       | OPP  | 1  1  3                               |
//! | L11  | C2       | PAID_SEARCH    | → MQL, then erased                          | 2       | MQL  | 1                                     |
//! | O1   | C1       | PAID_SEARCH    | → CUSTOMER (9999.00), created before P      | outside the cohort                              |
//! | O2   | C3       | SOCIAL         | → MQL, created at `to`                      | outside the cohort                              |
//!
//! Campaigns: C1 "Search Q1" PAID_SEARCH, C2 "Search Brand" PAID_SEARCH,
//! C3 "LinkedIn" SOCIAL, C4 "Webinar March" WEBINAR (spend, no lead).
//! Spend entries (in P when from ≤ D 00:00 < to):
//! C1: 02-28 100.00 (out), 03-01 200.00, 03-15 300.00 re-reported as 350.50,
//! 04-01 999.00 (out) → 550.50; C2: 03-10 100.01 → 100.01; C3: 01-15 80.00
//! (out), 03-20 450.00 → 450.00; C4: 03-05 120.00 → 120.00. Total 1220.51.

use crate::helpers::{TestApp, Tokens};
use chrono::{DateTime, Utc};
use entity::lead;
use leadgraph::graphql::ids::{NodeType, decode};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

const FROM: &str = "2026-03-01T00:00:00Z";
const TO: &str = "2026-04-01T00:00:00Z";

fn period() -> Value {
    json!({"from": FROM, "to": TO})
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("timestamp")
        .with_timezone(&Utc)
}

struct Scenario {
    t: Tokens,
    campaigns: [String; 4],
    leads: Vec<String>,
}

async fn create_campaign(app: &TestApp, token: &str, name: &str, channel: &str) -> String {
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

async fn spend(app: &TestApp, token: &str, id: &str, on: &str, amount: &str) {
    app.ok(
        token,
        "mutation($id: ID!, $on: Date!, $amount: Decimal!) { recordSpend(campaignId: $id, on: $on, amount: $amount) { id } }",
        json!({"id": id, "on": on, "amount": amount}),
    )
    .await;
}

async fn new_lead(
    app: &TestApp,
    token: &str,
    email: &str,
    campaign: Option<&str>,
    channel: Option<&str>,
) -> String {
    let data = app
        .ok(
            token,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({"input": {"email": email, "sourceCampaignId": campaign, "sourceChannel": channel}}),
        )
        .await;
    data["createLead"]["id"].as_str().expect("id").to_owned()
}

async fn capture(app: &TestApp, token: &str, email: &str, campaign: &str) -> String {
    let data = app
        .ok(
            token,
            "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId } }",
            json!({"input": {"lead": {"email": email, "sourceCampaignId": campaign}}}),
        )
        .await;
    data["captureLead"]["leadId"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Move a lead through `steps` as ADMIN: a stage name, `BANT` (qualifyLead,
/// which makes an MQL an SQL), or `STAGE:amount` for a deal amount.
async fn walk(app: &TestApp, t: &Tokens, id: &str, steps: &[&str]) {
    for step in steps {
        if *step == "BANT" {
            app.ok(
                &t.admin,
                "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }",
                json!({"id": id}),
            )
            .await;
            continue;
        }
        let (to, deal) = match step.split_once(':') {
            Some((to, deal)) => (to, Some(deal)),
            None => (*step, None),
        };
        let reason = matches!(to, "DISQUALIFIED" | "LEAD").then_some("scenario");
        app.ok(
            &t.admin,
            "mutation($id: ID!, $to: LeadStage!, $reason: String, $deal: Decimal) { transitionLead(id: $id, to: $to, reason: $reason, dealAmount: $deal) { stage } }",
            json!({"id": id, "to": to, "reason": reason, "deal": deal}),
        )
        .await;
    }
}

/// Re-date a lead's creation and milestones (MQL, SQL, OPPORTUNITY,
/// CUSTOMER); the server must have set exactly the milestones given.
async fn redate(app: &TestApp, id: &str, created: &str, milestones: [Option<&str>; 4]) {
    let db = &app.state.db.write;
    let n = decode(NodeType::Lead, id, "id").expect("lead id");
    let model = lead::Entity::find_by_id(n)
        .one(db)
        .await
        .expect("query")
        .expect("lead");
    let stored = [
        model.mql_at,
        model.sql_at,
        model.opportunity_at,
        model.customer_at,
    ];
    let stored: Vec<bool> = stored.iter().map(Option::is_some).collect();
    let wanted: Vec<bool> = milestones.iter().map(Option::is_some).collect();
    assert_eq!(stored, wanted, "milestones the server set for {id}");
    let mut row: lead::ActiveModel = model.into();
    row.created_at = Set(ts(created));
    row.mql_at = Set(milestones[0].map(ts));
    row.sql_at = Set(milestones[1].map(ts));
    row.opportunity_at = Set(milestones[2].map(ts));
    row.customer_at = Set(milestones[3].map(ts));
    lead::Entity::update(row).exec(db).await.expect("re-date");
}

/// The whole scenario of the module header, built through the API.
async fn scenario(app: &TestApp) -> Scenario {
    let t = app.tokens();
    let m = t.marketing.clone();
    let c1 = create_campaign(app, &m, "Search Q1", "PAID_SEARCH").await;
    let c2 = create_campaign(app, &m, "Search Brand", "PAID_SEARCH").await;
    let c3 = create_campaign(app, &m, "LinkedIn", "SOCIAL").await;
    let c4 = create_campaign(app, &m, "Webinar March", "WEBINAR").await;
    spend(app, &m, &c1, "2026-02-28", "100.00").await;
    spend(app, &m, &c1, "2026-03-01", "200").await;
    spend(app, &m, &c1, "2026-03-15", "300.00").await;
    spend(app, &m, &c1, "2026-03-15", "350.50").await;
    spend(app, &m, &c1, "2026-04-01", "999.00").await;
    spend(app, &m, &c2, "2026-03-10", "100.01").await;
    spend(app, &m, &c3, "2026-01-15", "80.00").await;
    spend(app, &m, &c3, "2026-03-20", "450.00").await;
    spend(app, &m, &c4, "2026-03-05", "120.00").await;

    let a = t.admin.clone();
    let l1 = new_lead(app, &a, "l1@example.com", Some(&c1), None).await;
    walk(
        app,
        &t,
        &l1,
        &["MQL", "BANT", "OPPORTUNITY:1000.00", "CUSTOMER:1200.00"],
    )
    .await;
    let l2 = new_lead(app, &a, "l2@example.com", Some(&c1), None).await;
    walk(app, &t, &l2, &["MQL", "BANT", "DISQUALIFIED"]).await;
    let l3 = new_lead(app, &m, "l3@example.com", Some(&c1), None).await;
    walk(app, &t, &l3, &["DISQUALIFIED", "LEAD", "MQL"]).await;
    let l4 = new_lead(app, &a, "l4@example.com", Some(&c2), Some("EMAIL")).await;
    walk(
        app,
        &t,
        &l4,
        &[
            "MQL",
            "BANT",
            "LEAD",
            "MQL",
            "SQL",
            "OPPORTUNITY",
            "CUSTOMER:800",
        ],
    )
    .await;
    let l5 = capture(app, &m, "l5@example.com", &c3).await;
    walk(app, &t, &l5, &["MQL"]).await;
    let l6 = new_lead(app, &m, "l6@example.com", Some(&c3), None).await;
    let duplicate = app.lead_at(&t, "l6.dup@example.com", "SQL").await;
    app.ok(
        &m,
        "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { stage } }",
        json!({"p": l6, "d": duplicate}),
    )
    .await;
    let l7 = capture(app, &t.ingest, "l7@example.com", &c3).await;
    walk(app, &t, &l7, &["DISQUALIFIED"]).await;
    let l8 = new_lead(app, &a, "l8@example.com", None, Some("ORGANIC_SEARCH")).await;
    walk(
        app,
        &t,
        &l8,
        &["MQL", "BANT", "OPPORTUNITY", "CUSTOMER:500.00"],
    )
    .await;
    let l9 = new_lead(app, &a, "l9@example.com", None, None).await;
    let l10 = new_lead(app, &a, "l10@example.com", Some(&c1), None).await;
    walk(app, &t, &l10, &["MQL", "BANT", "OPPORTUNITY:300.00"]).await;
    let l11 = new_lead(app, &a, "l11@example.com", Some(&c2), None).await;
    walk(app, &t, &l11, &["MQL"]).await;
    app.ok(
        &a,
        "mutation($id: ID!) { eraseLead(id: $id) }",
        json!({"id": l11}),
    )
    .await;
    let o1 = new_lead(app, &a, "o1@example.com", Some(&c1), None).await;
    walk(
        app,
        &t,
        &o1,
        &["MQL", "BANT", "OPPORTUNITY", "CUSTOMER:9999.00"],
    )
    .await;
    let o2 = new_lead(app, &a, "o2@example.com", Some(&c3), None).await;
    walk(app, &t, &o2, &["MQL"]).await;

    let d = |day: &str| format!("2026-03-{day}T00:00:00Z");
    let h = |day: &str| format!("2026-03-{day}T12:00:00Z");
    redate(
        app,
        &l1,
        &d("02"),
        [
            Some(&d("04")),
            Some(&h("05")),
            Some(&h("08")),
            Some(&h("18")),
        ],
    )
    .await;
    redate(
        app,
        &l2,
        &d("03"),
        [Some(&d("04")), Some(&d("06")), None, None],
    )
    .await;
    redate(app, &l3, &d("10"), [Some(&d("20")), None, None, None]).await;
    redate(
        app,
        &l4,
        &d("05"),
        [
            Some(&d("06")),
            Some(&d("09")),
            Some(&d("10")),
            Some(&d("12")),
        ],
    )
    .await;
    redate(app, &l5, &d("11"), [Some(&h("12")), None, None, None]).await;
    // The skip: first time at a stage ≥ MQL is the first time at one ≥ SQL.
    redate(
        app,
        &l6,
        &d("14"),
        [Some(&d("16")), Some(&d("16")), None, None],
    )
    .await;
    redate(app, &l7, &d("25"), [None, None, None, None]).await;
    redate(
        app,
        &l8,
        FROM,
        [
            Some(&d("03")),
            Some(&d("04")),
            Some(&d("05")),
            Some(&d("07")),
        ],
    )
    .await;
    redate(app, &l9, "2026-03-31T23:59:59Z", [None; 4]).await;
    redate(
        app,
        &l10,
        &d("20"),
        [Some(&d("21")), Some(&d("22")), Some(&d("25")), None],
    )
    .await;
    redate(app, &l11, &d("07"), [Some(&d("08")), None, None, None]).await;
    redate(
        app,
        &o1,
        "2026-02-27T00:00:00Z",
        [
            Some(&d("02")),
            Some(&d("03")),
            Some(&d("04")),
            Some(&d("05")),
        ],
    )
    .await;
    redate(
        app,
        &o2,
        TO,
        [Some("2026-04-02T00:00:00Z"), None, None, None],
    )
    .await;
    Scenario {
        t,
        campaigns: [c1, c2, c3, c4],
        leads: vec![l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11],
    }
}

fn approx(actual: &Value, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(actual.is_null(), "{what}: expected null, got {actual}"),
        Some(e) => {
            let a = actual
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: expected {e}, got {actual}"));
            assert!((a - e).abs() < 1e-6, "{what}: expected {e}, got {a}");
        }
    }
}

/// One expected funnel group.
struct Funnel<'a> {
    key: &'a str,
    label: &'a str,
    new_leads: i64,
    reached: [i64; 5],
    conversion: [Option<f64>; 5],
    days: [Option<f64>; 5],
    disqualified: i64,
    overall: Option<f64>,
}

fn check_funnel(groups: &Value, expected: &[Funnel<'_>]) {
    let groups = groups.as_array().expect("groups");
    let keys: Vec<&str> = groups.iter().filter_map(|g| g["key"].as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|e| e.key).collect();
    assert_eq!(keys, wanted, "group keys");
    for (g, e) in groups.iter().zip(expected) {
        let k = e.key;
        assert_eq!(g["label"], e.label, "{k} label");
        assert_eq!(g["newLeads"], e.new_leads, "{k} newLeads");
        assert_eq!(g["disqualified"], e.disqualified, "{k} disqualified");
        approx(
            &g["overallConversion"],
            e.overall,
            &format!("{k} overallConversion"),
        );
        let stages = g["stages"].as_array().expect("stages");
        let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
        assert_eq!(names, ["LEAD", "MQL", "SQL", "OPPORTUNITY", "CUSTOMER"]);
        for (i, s) in stages.iter().enumerate() {
            let what = format!("{k} {}", names[i]);
            assert_eq!(s["reached"], e.reached[i], "{what} reached");
            approx(
                &s["conversionFromPrevious"],
                e.conversion[i],
                &format!("{what} conversion"),
            );
            approx(
                &s["avgDaysFromPrevious"],
                e.days[i],
                &format!("{what} days"),
            );
        }
    }
}

/// One expected cost row; money as exact strings.
struct Cost<'a> {
    key: &'a str,
    label: &'a str,
    spend: &'a str,
    leads: i64,
    mqls: i64,
    sqls: i64,
    customers: i64,
    per: [Option<&'a str>; 4],
    revenue: &'a str,
    roi: Option<f64>,
}

fn check_cost(rows: &Value, expected: &[Cost<'_>]) {
    let rows = rows.as_array().expect("rows");
    let keys: Vec<&str> = rows.iter().filter_map(|g| g["key"].as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|e| e.key).collect();
    assert_eq!(keys, wanted, "row keys");
    let money = |v: &Value| -> Option<String> {
        if v.is_null() {
            return None;
        }
        assert_eq!(v["currency"], "EUR");
        v["amount"].as_str().map(str::to_owned)
    };
    for (r, e) in rows.iter().zip(expected) {
        let k = e.key;
        assert_eq!(r["label"], e.label, "{k} label");
        assert_eq!(money(&r["spend"]).as_deref(), Some(e.spend), "{k} spend");
        assert_eq!(
            [&r["leads"], &r["mqls"], &r["sqls"], &r["customers"]],
            [e.leads, e.mqls, e.sqls, e.customers]
                .map(|n| json!(n))
                .each_ref(),
            "{k} counts"
        );
        let per = [
            money(&r["costPerLead"]),
            money(&r["costPerMql"]),
            money(&r["costPerSql"]),
            money(&r["costPerCustomer"]),
        ];
        assert_eq!(per, e.per.map(|p| p.map(str::to_owned)), "{k} cost per X");
        assert_eq!(
            money(&r["revenue"]).as_deref(),
            Some(e.revenue),
            "{k} revenue"
        );
        approx(&r["roi"], e.roi, &format!("{k} roi"));
    }
}

const FUNNEL: &str = "query($p: PeriodInput!, $g: KpiGroupBy) { funnel(period: $p, groupBy: $g) {
    from to groups { key label newLeads disqualified overallConversion
    stages { stage reached conversionFromPrevious avgDaysFromPrevious } } } }";
const COST: &str =
    "query($p: PeriodInput!, $g: KpiGroupBy) { costPerLead(period: $p, groupBy: $g) {
    key label spend { amount currency } leads mqls sqls customers
    costPerLead { amount currency } costPerMql { amount currency } costPerSql { amount currency }
    costPerCustomer { amount currency } revenue { amount currency } roi } }";
const RELEVANCE: &str =
    "query($p: PeriodInput!, $min: Float) { leadRelevance(period: $p, minIcpFit: $min) {
    newLeads matchingIcp share disqualified disqualificationRate } }";

#[tokio::test]
async fn funnel_matches_the_hand_computed_scenario() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    let [c1, c2, c3, _] = &s.campaigns;

    // NONE (also the default): one group over the 11 cohort leads.
    let data = app.ok(&s.t.marketing, FUNNEL, json!({"p": period()})).await;
    assert_eq!(data["funnel"]["from"], FROM);
    assert_eq!(data["funnel"]["to"], TO);
    let all = [Funnel {
        key: "ALL",
        label: "All leads",
        new_leads: 11,
        // MQL: all but L7, L9; SQL: L1 L2 L4 L6 L8 L10; OPP: L1 L4 L8 L10; CUST: L1 L4 L8.
        reached: [11, 9, 6, 4, 3],
        conversion: [
            None,
            Some(9.0 / 11.0),
            Some(6.0 / 9.0),
            Some(4.0 / 6.0),
            Some(0.75),
        ],
        // MQL (2+1+10+1+1.5+2+2+1+1)/9, SQL (1.5+2+3+0+1+1)/6, OPP (3+1+1+3)/4, CUST (10+2+2)/3.
        days: [
            None,
            Some(21.5 / 9.0),
            Some(8.5 / 6.0),
            Some(2.0),
            Some(14.0 / 3.0),
        ],
        disqualified: 2,
        overall: Some(3.0 / 11.0),
    }];
    check_funnel(&data["funnel"]["groups"], &all);
    let data = app
        .ok(&s.t.sales, FUNNEL, json!({"p": period(), "g": "NONE"}))
        .await;
    check_funnel(&data["funnel"]["groups"], &all);

    // CHANNEL, in Channel order; WEBINAR has spend but no lead: absent here.
    let data = app
        .ok(
            &s.t.marketing,
            FUNNEL,
            json!({"p": period(), "g": "CHANNEL"}),
        )
        .await;
    check_funnel(
        &data["funnel"]["groups"],
        &[
            Funnel {
                key: "ORGANIC_SEARCH",
                label: "Organic search",
                new_leads: 1,
                reached: [1, 1, 1, 1, 1],
                conversion: [None, Some(1.0), Some(1.0), Some(1.0), Some(1.0)],
                days: [None, Some(2.0), Some(1.0), Some(1.0), Some(2.0)],
                disqualified: 0,
                overall: Some(1.0),
            },
            Funnel {
                // L1 L2 L3 L10 L11
                key: "PAID_SEARCH",
                label: "Paid search",
                new_leads: 5,
                reached: [5, 5, 3, 2, 1],
                conversion: [None, Some(1.0), Some(0.6), Some(2.0 / 3.0), Some(0.5)],
                days: [
                    None,
                    Some(15.0 / 5.0),
                    Some(4.5 / 3.0),
                    Some(3.0),
                    Some(10.0),
                ],
                disqualified: 1,
                overall: Some(0.2),
            },
            Funnel {
                // L5 L6 L7: nobody reached OPPORTUNITY, so CUSTOMER's conversion is null.
                key: "SOCIAL",
                label: "Social",
                new_leads: 3,
                reached: [3, 2, 1, 0, 0],
                conversion: [None, Some(2.0 / 3.0), Some(0.5), Some(0.0), None],
                days: [None, Some(1.75), Some(0.0), None, None],
                disqualified: 1,
                overall: Some(0.0),
            },
            Funnel {
                key: "EMAIL",
                label: "Email",
                new_leads: 1,
                reached: [1, 1, 1, 1, 1],
                conversion: [None, Some(1.0), Some(1.0), Some(1.0), Some(1.0)],
                days: [None, Some(1.0), Some(3.0), Some(1.0), Some(2.0)],
                disqualified: 0,
                overall: Some(1.0),
            },
            Funnel {
                key: "DIRECT",
                label: "Direct",
                new_leads: 1,
                reached: [1, 0, 0, 0, 0],
                conversion: [None, Some(0.0), None, None, None],
                days: [None; 5],
                disqualified: 0,
                overall: Some(0.0),
            },
        ],
    );

    // CAMPAIGN, by campaign id, NONE last; C4 has no lead: absent here.
    let data = app
        .ok(
            &s.t.marketing,
            FUNNEL,
            json!({"p": period(), "g": "CAMPAIGN"}),
        )
        .await;
    check_funnel(
        &data["funnel"]["groups"],
        &[
            Funnel {
                // L1 L2 L3 L10
                key: c1,
                label: "Search Q1",
                new_leads: 4,
                reached: [4, 4, 3, 2, 1],
                conversion: [None, Some(1.0), Some(0.75), Some(2.0 / 3.0), Some(0.5)],
                days: [
                    None,
                    Some(14.0 / 4.0),
                    Some(4.5 / 3.0),
                    Some(3.0),
                    Some(10.0),
                ],
                disqualified: 1,
                overall: Some(0.25),
            },
            Funnel {
                // L4 L11 (erased, still counted)
                key: c2,
                label: "Search Brand",
                new_leads: 2,
                reached: [2, 2, 1, 1, 1],
                conversion: [None, Some(1.0), Some(0.5), Some(1.0), Some(1.0)],
                days: [None, Some(1.0), Some(3.0), Some(1.0), Some(2.0)],
                disqualified: 0,
                overall: Some(0.5),
            },
            Funnel {
                key: c3,
                label: "LinkedIn",
                new_leads: 3,
                reached: [3, 2, 1, 0, 0],
                conversion: [None, Some(2.0 / 3.0), Some(0.5), Some(0.0), None],
                days: [None, Some(1.75), Some(0.0), None, None],
                disqualified: 1,
                overall: Some(0.0),
            },
            Funnel {
                // L8 L9
                key: "NONE",
                label: "No campaign",
                new_leads: 2,
                reached: [2, 1, 1, 1, 1],
                conversion: [None, Some(0.5), Some(1.0), Some(1.0), Some(1.0)],
                days: [None, Some(2.0), Some(1.0), Some(1.0), Some(2.0)],
                disqualified: 0,
                overall: Some(0.5),
            },
        ],
    );

    // An empty cohort: the one group ALL, zeros and nulls.
    let data = app
        .ok(
            &s.t.marketing,
            FUNNEL,
            json!({"p": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}}),
        )
        .await;
    check_funnel(
        &data["funnel"]["groups"],
        &[Funnel {
            key: "ALL",
            label: "All leads",
            new_leads: 0,
            reached: [0; 5],
            conversion: [None; 5],
            days: [None; 5],
            disqualified: 0,
            overall: None,
        }],
    );
    let data = app
        .ok(
            &s.t.marketing,
            FUNNEL,
            json!({"p": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}, "g": "CHANNEL"}),
        )
        .await;
    assert_eq!(data["funnel"]["groups"], json!([]));
}

#[tokio::test]
async fn cost_per_lead_matches_the_hand_computed_scenario() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    let [c1, c2, c3, c4] = &s.campaigns;

    // CHANNEL (the default): spend of the campaigns on the channel, leads by
    // their own sourceChannel. PAID_SEARCH = C1 550.50 + C2 100.01 = 650.51
    // over L1 L2 L3 L10 L11 (L4, from C2, came in by EMAIL).
    let data = app.ok(&s.t.marketing, COST, json!({"p": period()})).await;
    check_cost(
        &data["costPerLead"],
        &[
            Cost {
                // No spend: costs 0.00 per lead (not null), roi null.
                key: "ORGANIC_SEARCH",
                label: "Organic search",
                spend: "0.00",
                leads: 1,
                mqls: 1,
                sqls: 1,
                customers: 1,
                per: [Some("0.00"), Some("0.00"), Some("0.00"), Some("0.00")],
                revenue: "500.00",
                roi: None,
            },
            Cost {
                // 650.51/5 = 130.102; /3 = 216.8366…; roi (1200 − 650.51)/650.51.
                key: "PAID_SEARCH",
                label: "Paid search",
                spend: "650.51",
                leads: 5,
                mqls: 5,
                sqls: 3,
                customers: 1,
                per: [
                    Some("130.10"),
                    Some("130.10"),
                    Some("216.84"),
                    Some("650.51"),
                ],
                revenue: "1200.00",
                roi: Some(549.49 / 650.51),
            },
            Cost {
                key: "SOCIAL",
                label: "Social",
                spend: "450.00",
                leads: 3,
                mqls: 2,
                sqls: 1,
                customers: 0,
                per: [Some("150.00"), Some("225.00"), Some("450.00"), None],
                revenue: "0.00",
                roi: Some(-1.0),
            },
            Cost {
                key: "EMAIL",
                label: "Email",
                spend: "0.00",
                leads: 1,
                mqls: 1,
                sqls: 1,
                customers: 1,
                per: [Some("0.00"), Some("0.00"), Some("0.00"), Some("0.00")],
                revenue: "800.00",
                roi: None,
            },
            Cost {
                // Spend and no lead: every cost null.
                key: "WEBINAR",
                label: "Webinar",
                spend: "120.00",
                leads: 0,
                mqls: 0,
                sqls: 0,
                customers: 0,
                per: [None, None, None, None],
                revenue: "0.00",
                roi: Some(-1.0),
            },
            Cost {
                key: "DIRECT",
                label: "Direct",
                spend: "0.00",
                leads: 1,
                mqls: 0,
                sqls: 0,
                customers: 0,
                per: [Some("0.00"), None, None, None],
                revenue: "0.00",
                roi: None,
            },
        ],
    );

    // CAMPAIGN: halves round away from zero (550.50/4 = 137.625 → 137.63,
    // 100.01/2 = 50.005 → 50.01).
    let data = app
        .ok(&s.t.admin, COST, json!({"p": period(), "g": "CAMPAIGN"}))
        .await;
    check_cost(
        &data["costPerLead"],
        &[
            Cost {
                key: c1,
                label: "Search Q1",
                spend: "550.50",
                leads: 4,
                mqls: 4,
                sqls: 3,
                customers: 1,
                per: [
                    Some("137.63"),
                    Some("137.63"),
                    Some("183.50"),
                    Some("550.50"),
                ],
                revenue: "1200.00",
                roi: Some(649.5 / 550.5),
            },
            Cost {
                key: c2,
                label: "Search Brand",
                spend: "100.01",
                leads: 2,
                mqls: 2,
                sqls: 1,
                customers: 1,
                per: [Some("50.01"), Some("50.01"), Some("100.01"), Some("100.01")],
                revenue: "800.00",
                roi: Some(699.99 / 100.01),
            },
            Cost {
                key: c3,
                label: "LinkedIn",
                spend: "450.00",
                leads: 3,
                mqls: 2,
                sqls: 1,
                customers: 0,
                per: [Some("150.00"), Some("225.00"), Some("450.00"), None],
                revenue: "0.00",
                roi: Some(-1.0),
            },
            Cost {
                key: c4,
                label: "Webinar March",
                spend: "120.00",
                leads: 0,
                mqls: 0,
                sqls: 0,
                customers: 0,
                per: [None, None, None, None],
                revenue: "0.00",
                roi: Some(-1.0),
            },
            Cost {
                key: "NONE",
                label: "No campaign",
                spend: "0.00",
                leads: 2,
                mqls: 1,
                sqls: 1,
                customers: 1,
                per: [Some("0.00"), Some("0.00"), Some("0.00"), Some("0.00")],
                revenue: "500.00",
                roi: None,
            },
        ],
    );

    // NONE: 1220.51 over 11 / 9 / 6 / 3 leads.
    let data = app
        .ok(&s.t.marketing, COST, json!({"p": period(), "g": "NONE"}))
        .await;
    let all = |spend, leads, per, roi| {
        vec![Cost {
            key: "ALL",
            label: "All leads",
            spend,
            leads,
            mqls: 9,
            sqls: 6,
            customers: 3,
            per,
            revenue: "2500.00",
            roi,
        }]
    };
    check_cost(
        &data["costPerLead"],
        &all(
            "1220.51",
            11,
            [
                Some("110.96"),
                Some("135.61"),
                Some("203.42"),
                Some("406.84"),
            ],
            Some(1279.49 / 1220.51),
        ),
    );

    // One second later on both ends: C1's 03-01 entry (midnight before
    // `from`) drops out, its 04-01 entry (midnight before `to`) comes in, and
    // L8 (created at 03-01 00:00) leaves the cohort while no lead joins it.
    let shifted = json!({"from": "2026-03-01T00:00:01Z", "to": "2026-04-01T00:00:01Z"});
    let data = app
        .ok(&s.t.marketing, COST, json!({"p": shifted, "g": "NONE"}))
        .await;
    let row = &data["costPerLead"][0];
    assert_eq!(row["spend"]["amount"], "2019.51");
    assert_eq!(
        [&row["leads"], &row["mqls"], &row["customers"]],
        [&json!(11), &json!(9), &json!(2)],
        "L8 out, O2 (created at 04-01 00:00) in"
    );
    assert_eq!(row["revenue"]["amount"], "2000.00");

    // An empty period: the one row ALL, no spend, no leads.
    let data = app
        .ok(
            &s.t.marketing,
            COST,
            json!({"p": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}, "g": "NONE"}),
        )
        .await;
    check_cost(
        &data["costPerLead"],
        &[Cost {
            key: "ALL",
            label: "All leads",
            spend: "0.00",
            leads: 0,
            mqls: 0,
            sqls: 0,
            customers: 0,
            per: [None; 4],
            revenue: "0.00",
            roi: None,
        }],
    );

    // No persona grouping for cost: spend has no persona.
    let body = app
        .gql(&s.t.marketing, COST, json!({"p": period(), "g": "PERSONA"}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "groupBy");
    assert_eq!(s.leads.len(), 11);
}

async fn create_persona(app: &TestApp, token: &str, name: &str) -> String {
    // Criteria no scenario lead meets: the test pins persona and fit itself.
    let data = app
        .ok(
            token,
            "mutation($input: PersonaInput!) { createPersona(input: $input) { id } }",
            json!({"input": {"name": name, "industries": ["Shipbuilding"]}}),
        )
        .await;
    data["createPersona"]["id"].as_str().expect("id").to_owned()
}

/// Pin a lead's current persona and fit (the scoring engine's output) through
/// the database, so the KPIs see known values.
async fn pin_persona(app: &TestApp, lead_id: &str, persona: Option<&str>, fit: Option<f64>) {
    let db = &app.state.db.write;
    let n = decode(NodeType::Lead, lead_id, "id").expect("lead id");
    let persona = persona.map(|p| decode(NodeType::Persona, p, "id").expect("persona id"));
    lead::Entity::update(lead::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(n),
        persona_id: Set(persona),
        icp_fit: Set(fit),
        ..Default::default()
    })
    .exec(db)
    .await
    .expect("pin persona");
}

#[tokio::test]
async fn persona_grouping_and_lead_relevance() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    let p1 = create_persona(&app, &s.t.marketing, "Enterprise").await;
    let p2 = create_persona(&app, &s.t.marketing, "Startup").await;
    // P1: L1 1.0, L2 0.5, L4 0.75, L10 0.25; P2: L5 0.5, L6 1.0, L8 0.4;
    // none: L3 L7 L9 L11.
    let l = &s.leads;
    for (i, persona, fit) in [
        (0, Some(&p1), Some(1.0)),
        (1, Some(&p1), Some(0.5)),
        (3, Some(&p1), Some(0.75)),
        (9, Some(&p1), Some(0.25)),
        (4, Some(&p2), Some(0.5)),
        (5, Some(&p2), Some(1.0)),
        (7, Some(&p2), Some(0.4)),
    ] {
        pin_persona(&app, &l[i], persona.map(String::as_str), fit).await;
    }

    let data = app
        .ok(&s.t.sales, FUNNEL, json!({"p": period(), "g": "PERSONA"}))
        .await;
    check_funnel(
        &data["funnel"]["groups"],
        &[
            Funnel {
                // L1 L2 L4 L10
                key: &p1,
                label: "Enterprise",
                new_leads: 4,
                reached: [4, 4, 4, 3, 2],
                conversion: [None, Some(1.0), Some(1.0), Some(0.75), Some(2.0 / 3.0)],
                days: [
                    None,
                    Some(1.25),
                    Some(7.5 / 4.0),
                    Some(7.0 / 3.0),
                    Some(6.0),
                ],
                disqualified: 1,
                overall: Some(0.5),
            },
            Funnel {
                // L5 L6 L8
                key: &p2,
                label: "Startup",
                new_leads: 3,
                reached: [3, 3, 2, 1, 1],
                conversion: [None, Some(1.0), Some(2.0 / 3.0), Some(0.5), Some(1.0)],
                days: [None, Some(5.5 / 3.0), Some(0.5), Some(1.0), Some(2.0)],
                disqualified: 0,
                overall: Some(1.0 / 3.0),
            },
            Funnel {
                // L3 L7 L9 L11
                key: "NONE",
                label: "No persona",
                new_leads: 4,
                reached: [4, 2, 0, 0, 0],
                conversion: [None, Some(0.5), Some(0.0), None, None],
                days: [None, Some(5.5), None, None, None],
                disqualified: 1,
                overall: Some(0.0),
            },
        ],
    );

    // leadRelevance: fits ≥ 0.5 (the default) are L1 L2 L4 L5 L6.
    let relevance = |min: Option<f64>| {
        let vars = json!({"p": period(), "min": min});
        let app = &app;
        let token = s.t.sales.clone();
        async move { app.ok(&token, RELEVANCE, vars).await["leadRelevance"].clone() }
    };
    let r = relevance(None).await;
    assert_eq!(r["newLeads"], 11);
    assert_eq!(r["matchingIcp"], 5);
    approx(&r["share"], Some(5.0 / 11.0), "share");
    assert_eq!(r["disqualified"], 2);
    approx(&r["disqualificationRate"], Some(2.0 / 11.0), "rate");
    let r = relevance(Some(0.75)).await;
    assert_eq!(r["matchingIcp"], 3);
    approx(&r["share"], Some(3.0 / 11.0), "share at 0.75");
    let r = relevance(Some(0.0)).await;
    assert_eq!(r["matchingIcp"], 7, "every lead with a fit");
    let r = app
        .ok(
            &s.t.marketing,
            RELEVANCE,
            json!({"p": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(
        r["leadRelevance"],
        json!({"newLeads": 0, "matchingIcp": 0, "share": null, "disqualified": 0, "disqualificationRate": null})
    );
    for bad in [-0.1, 1.5] {
        let body = app
            .gql(
                &s.t.marketing,
                RELEVANCE,
                json!({"p": period(), "min": bad}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "minIcpFit",
            "{bad}"
        );
    }
}

/// The story of the issue, around "now": MARKETING creates a campaign,
/// records today's spend, captures leads, moves some; the KPIs count them;
/// SALES reads the funnel and relevance but no cost; INGEST reads nothing.
#[tokio::test]
async fn marketing_reads_todays_kpis_and_sales_sees_no_cost() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let today = Utc::now().date_naive();
    let from = today.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let to = from + chrono::Duration::days(1);
    let p = json!({"from": from.to_rfc3339(), "to": to.to_rfc3339()});
    let c = create_campaign(&app, &t.marketing, "Today", "CONTENT").await;
    spend(&app, &t.marketing, &c, &today.to_string(), "90.00").await;
    let a = capture(&app, &t.marketing, "a@example.com", &c).await;
    let b = capture(&app, &t.marketing, "b@example.com", &c).await;
    capture(&app, &t.marketing, "c@example.com", &c).await;
    walk(
        &app,
        &t,
        &a,
        &["MQL", "BANT", "OPPORTUNITY", "CUSTOMER:250.00"],
    )
    .await;
    walk(&app, &t, &b, &["DISQUALIFIED"]).await;

    let data = app
        .ok(&t.marketing, COST, json!({"p": p, "g": "CAMPAIGN"}))
        .await;
    check_cost(
        &data["costPerLead"],
        &[Cost {
            key: &c,
            label: "Today",
            spend: "90.00",
            leads: 3,
            mqls: 1,
            sqls: 1,
            customers: 1,
            per: [Some("30.00"), Some("90.00"), Some("90.00"), Some("90.00")],
            revenue: "250.00",
            roi: Some(160.0 / 90.0),
        }],
    );
    for token in [&t.sales, &t.marketing, &t.admin] {
        let data = app.ok(token, FUNNEL, json!({"p": p, "g": "CHANNEL"})).await;
        let g = &data["funnel"]["groups"][0];
        assert_eq!(g["key"], "CONTENT");
        assert_eq!(g["newLeads"], 3);
        assert_eq!(g["disqualified"], 1);
        let reached: Vec<&Value> = g["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|s| &s["reached"])
            .collect();
        assert_eq!(
            reached,
            [&json!(3), &json!(1), &json!(1), &json!(1), &json!(1)]
        );
        let r = app.ok(token, RELEVANCE, json!({"p": p})).await;
        assert_eq!(r["leadRelevance"]["newLeads"], 3);
    }
    let body = app.gql(&t.sales, COST, json!({"p": p})).await;
    assert!(body["errors"].is_array(), "{body}");
    assert!(!body.to_string().contains("90.00"), "{body}");
    for q in [FUNNEL, RELEVANCE, COST] {
        assert_eq!(
            app.error_code(&t.ingest, q, json!({"p": p})).await,
            "FORBIDDEN",
            "{q}"
        );
    }
}

#[tokio::test]
async fn periods_are_validated() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for (from, to) in [
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "2031-01-01T00:00:00.000001Z"),
    ] {
        let p = json!({"from": from, "to": to});
        for q in [FUNNEL, COST, RELEVANCE] {
            let body = app.gql(&t.marketing, q, json!({"p": p})).await;
            let ext = &body["errors"][0]["extensions"];
            assert_eq!(ext["code"], "BAD_USER_INPUT", "{from} {to}: {body}");
            assert_eq!(ext["field"], "period", "{from} {to}");
        }
    }
    // Exactly five years is allowed; a bad timestamp never reaches the resolver.
    app.ok(
        &t.marketing,
        FUNNEL,
        json!({"p": {"from": "2026-01-01T00:00:00Z", "to": "2031-01-01T00:00:00Z"}}),
    )
    .await;
    assert_eq!(
        app.error_code(
            &t.marketing,
            FUNNEL,
            json!({"p": {"from": "yesterday", "to": "2031-01-01T00:00:00Z"}})
        )
        .await,
        "BAD_USER_INPUT"
    );
}
