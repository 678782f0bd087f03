//! Trends: `funnel` and `costPerLead` with `interval` (docs/kpis.md
//! "Trends"): the buckets of a period, partial at its ends, each with the
//! figures of the leads created (and the spend dated) in it; the cost of a
//! trend grows with its buckets, and too many are `LIMIT_EXCEEDED`.

use crate::helpers::TestApp;
use chrono::{DateTime, Utc};
use entity::lead;
use leadgraph::graphql::ids::{NodeType, decode};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

const FUNNEL: &str = "query($p: PeriodInput!, $g: KpiGroupBy, $i: KpiInterval) { funnel(period: $p, groupBy: $g, interval: $i) { groups { key newLeads stages { reached avgDaysFromPrevious } disqualified buckets { start end newLeads stages { reached avgDaysFromPrevious } disqualified overallConversion } } } }";
const COST: &str = "query($p: PeriodInput!, $g: KpiGroupBy, $i: KpiInterval) { costPerLead(period: $p, groupBy: $g, interval: $i) { key spend { amount } leads customers revenue { amount } buckets { start end spend { amount } leads customers costPerLead { amount } revenue { amount } roi } } }";

async fn redate(app: &TestApp, id: &str, created: &str) {
    let n = decode(NodeType::Lead, id, "id").expect("lead id");
    let db = &app.state.db.write;
    let model = lead::Entity::find_by_id(n)
        .one(db)
        .await
        .expect("read")
        .expect("lead");
    let created: DateTime<Utc> = created.parse().expect("time");
    let mut row: lead::ActiveModel = model.into();
    row.created_at = Set(created);
    lead::Entity::update(row).exec(db).await.expect("write");
}

fn starts(buckets: &Value) -> Vec<(String, String)> {
    buckets
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["start"].as_str().expect("start").to_owned(),
                b["end"].as_str().expect("end").to_owned(),
            )
        })
        .collect()
}

fn new_leads(buckets: &Value) -> Vec<i64> {
    buckets
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["newLeads"].as_i64().expect("newLeads"))
        .collect()
}

#[tokio::test]
async fn trends_cut_the_period_into_buckets_with_the_same_figures() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let c = app
        .ok(
            &t.marketing,
            "mutation { createCampaign(input: {name: \"Fair\", channel: EVENT}) { id } }",
            json!({}),
        )
        .await["createCampaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Leads on Sun 1 March (10:00), Tue 3, Tue 3, Mon 30 March, Wed 1 April.
    let mut ids = Vec::new();
    for (i, created) in [
        "2026-03-01T10:00:00Z",
        "2026-03-03T08:00:00Z",
        "2026-03-03T23:59:59.999999Z",
        "2026-03-30T00:00:00Z",
        "2026-04-01T12:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let id = app
            .ok(
                &t.marketing,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({"input": {"email": format!("t{i}@example.com"), "sourceCampaignId": c}}),
            )
            .await["createLead"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        redate(&app, &id, created).await;
        ids.push(id);
    }
    app.lead_at(&t, "won@example.com", "MQL").await;
    for step in ["MQL", "DISQUALIFIED"] {
        let reason = (step == "DISQUALIFIED").then_some("no budget");
        assert_eq!(app.transition(&t.admin, &ids[1], step, reason).await, None);
    }
    for (on, amount) in [
        ("2026-03-01", "70.00"),
        ("2026-03-31", "30.00"),
        ("2026-04-01", "5.00"),
    ] {
        app.ok(
            &t.marketing,
            "mutation($id: ID!, $on: Date!, $a: Decimal!) { recordSpend(campaignId: $id, on: $on, amount: $a) { id } }",
            json!({"id": c, "on": on, "a": amount}),
        )
        .await;
    }

    // Weeks of [Sun 1 March 06:00, Wed 1 April 00:00): the first and last
    // bucket are partial.
    let p = json!({"from": "2026-03-01T06:00:00Z", "to": "2026-04-01T00:00:00Z"});
    let data = app
        .ok(
            &t.sales,
            FUNNEL,
            json!({"p": p, "g": "CHANNEL", "i": "WEEK"}),
        )
        .await;
    let groups = data["funnel"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{data}");
    let g = &groups[0];
    assert_eq!(g["key"], "EVENT");
    assert_eq!(g["newLeads"], 4);
    assert_eq!(
        starts(&g["buckets"]),
        [
            ("2026-03-01T06:00:00Z", "2026-03-02T00:00:00Z"),
            ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"),
            ("2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"),
            ("2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z"),
            ("2026-03-23T00:00:00Z", "2026-03-30T00:00:00Z"),
            ("2026-03-30T00:00:00Z", "2026-04-01T00:00:00Z"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(new_leads(&g["buckets"]), [1, 2, 0, 0, 0, 1]);
    let week = &g["buckets"][1];
    assert_eq!(week["disqualified"], 1);
    assert_eq!(week["stages"][1]["reached"], 1);
    assert_eq!(week["overallConversion"], 0.0);
    let empty = &g["buckets"][2];
    assert_eq!(empty["stages"][1]["avgDaysFromPrevious"], Value::Null);
    assert_eq!(empty["overallConversion"], Value::Null);

    // Without interval: no buckets; the totals are those of the trend.
    let data = app
        .ok(&t.sales, FUNNEL, json!({"p": p, "g": "CHANNEL"}))
        .await;
    assert_eq!(data["funnel"]["groups"][0]["buckets"], Value::Null);
    assert_eq!(data["funnel"]["groups"][0]["newLeads"], 4);

    // Days across midnight, from a lead table edge to a rollup day.
    let p = json!({"from": "2026-03-02T12:00:00Z", "to": "2026-03-04T06:00:00Z"});
    let data = app.ok(&t.sales, FUNNEL, json!({"p": p, "i": "DAY"})).await;
    let all = &data["funnel"]["groups"][0];
    assert_eq!(new_leads(&all["buckets"]), [0, 2, 0]);

    // Months of costPerLead: spend by date, leads by creation.
    let p = json!({"from": "2026-02-15T00:00:00Z", "to": "2026-04-02T00:00:00Z"});
    let data = app
        .ok(
            &t.marketing,
            COST,
            json!({"p": p, "g": "CAMPAIGN", "i": "MONTH"}),
        )
        .await;
    let row = data["costPerLead"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["key"] == c.as_str())
        .expect("the campaign's row")
        .clone();
    assert_eq!(row["spend"]["amount"], "105.00");
    assert_eq!(row["leads"], 5);
    let b = &row["buckets"];
    assert_eq!(
        starts(b),
        [
            ("2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
            ("2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(b[0]["spend"]["amount"], "0.00");
    assert_eq!(b[0]["leads"], 0);
    assert_eq!(b[0]["costPerLead"], Value::Null);
    assert_eq!(b[1]["spend"]["amount"], "100.00");
    assert_eq!(b[1]["leads"], 4);
    assert_eq!(b[1]["costPerLead"]["amount"], "25.00");
    assert_eq!(b[1]["roi"], -1.0);
    assert_eq!(b[2]["spend"]["amount"], "5.00");
    assert_eq!(b[2]["leads"], 1);

    // Weeks of costPerLead from Thursday 26 February: Sunday 1 March's
    // spend belongs to a week that began before the period, so to its
    // first bucket; Tuesday 31 March's to the last, cut at the period's end.
    let p = json!({"from": "2026-02-26T00:00:00Z", "to": "2026-04-01T00:00:00Z"});
    let data = app
        .ok(
            &t.marketing,
            COST,
            json!({"p": p, "g": "CHANNEL", "i": "WEEK"}),
        )
        .await;
    let row = &data["costPerLead"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["key"] == "EVENT")
        .expect("the channel's row")
        .clone();
    let b = &row["buckets"];
    let spend: Vec<&str> = b
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["spend"]["amount"].as_str().expect("amount"))
        .collect();
    assert_eq!(spend, ["70.00", "0.00", "0.00", "0.00", "0.00", "30.00"]);
    assert_eq!(starts(b)[0].1, "2026-03-02T00:00:00Z");
    assert_eq!(row["spend"]["amount"], "100.00");
}

#[tokio::test]
async fn trend_sizes_are_bounded_and_cost_by_bucket() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let five_years = json!({"from": "2026-01-01T00:00:00Z", "to": "2031-01-01T00:00:00Z"});
    // Five years by week and by month: fine.
    for interval in ["WEEK", "MONTH"] {
        let data = app
            .ok(
                &t.marketing,
                FUNNEL,
                json!({"p": five_years, "i": interval}),
            )
            .await;
        let n = data["funnel"]["groups"][0]["buckets"]
            .as_array()
            .expect("buckets")
            .len();
        assert_eq!(n, if interval == "WEEK" { 262 } else { 60 }, "{interval}");
    }
    // Five years by day: too many buckets, with a message that says so.
    for q in [FUNNEL, COST] {
        let body = app
            .gql(&t.marketing, q, json!({"p": five_years, "i": "DAY"}))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("400 buckets"), "{message}");
    }
    // A trend costs per bucket: six one-year daily trends in one request
    // exceed the complexity limit (6 × 366 > 2,000), six plain funnels do not.
    let year = json!({"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"});
    let many = |interval: &str| {
        let fields: String = (0..6)
            .map(|i| format!(" f{i}: funnel(period: $p{interval}) {{ groups {{ newLeads }} }}"))
            .collect();
        format!("query($p: PeriodInput!) {{{fields} }}")
    };
    let body = app.gql(&t.marketing, &many(""), json!({"p": year})).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(&t.marketing, &many(", interval: DAY"), json!({"p": year}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{body}"
    );
}

/// Leaves of `FunnelBucket` and `CostBucket`, and their object fields with
/// the leaves of the objects.
const FUNNEL_LEAVES: [&str; 6] = [
    "start",
    "end",
    "newLeads",
    "disqualified",
    "overallConversion",
    "__typename",
];
const STAGE_LEAVES: [&str; 5] = [
    "stage",
    "reached",
    "conversionFromPrevious",
    "avgDaysFromPrevious",
    "__typename",
];
const COST_LEAVES: [&str; 8] = [
    "start",
    "end",
    "leads",
    "mqls",
    "sqls",
    "customers",
    "roi",
    "__typename",
];
const COST_MONEY: [&str; 6] = [
    "spend",
    "costPerLead",
    "costPerMql",
    "costPerSql",
    "costPerCustomer",
    "revenue",
];
const MONEY_LEAVES: [&str; 3] = ["amount", "currency", "__typename"];

/// A random selection of `leaves` (and `objects` with `inner` leaves),
/// with aliases, `@skip`/`@include` (literal or `$flag`), inline fragments
/// on `type_name` and, now and then, a named fragment.
fn selection(
    rng: &mut rand::rngs::StdRng,
    type_name: &str,
    leaves: &[&str],
    objects: &[(&str, &str, &[&str])],
    fragments: &mut Vec<String>,
) -> String {
    use rand::Rng;
    let mut parts = Vec::new();
    let mut alias = 0;
    let mut item = |rng: &mut rand::rngs::StdRng, field: &str, sub: String| {
        alias += 1;
        let text = match rng.random_range(0..10) {
            0 => format!("a{alias}: {field}{sub}"),
            1 => format!("{field} @include(if: $flag){sub}"),
            2 => format!("{field} @skip(if: true){sub}"),
            3 => format!("... on {type_name} {{ {field}{sub} }}"),
            4 => format!("... @include(if: $flag) {{ {field}{sub} }}"),
            _ => format!("{field}{sub}"),
        };
        parts.push(text);
    };
    for leaf in leaves {
        if rng.random_bool(0.6) {
            item(rng, leaf, String::new());
        }
    }
    for (field, inner_type, inner) in objects {
        if rng.random_bool(0.7) {
            let sub = selection(rng, inner_type, inner, &[], fragments);
            item(rng, field, format!(" {{ {sub} }}"));
        }
    }
    if parts.is_empty() || rng.random_bool(0.1) {
        parts.push("__typename".to_owned());
    }
    if rng.random_bool(0.2) {
        // The same leaf twice under one key: merged by the executor.
        parts.push(format!("{0} {0}", leaves[0]));
    }
    if rng.random_bool(0.25) {
        let name = format!("F{}", fragments.len());
        fragments.push(format!(
            "fragment {name} on {type_name} {{ {} }}",
            parts.join(" ")
        ));
        return format!("...{name}");
    }
    parts.join(" ")
}

/// The buckets of a trend come from a one-pass resolver (`kpis::plain`)
/// unless prepared plans are off: both answer every document alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_buckets_answer_as_the_general_executor() {
    use rand::SeedableRng;
    let (fast, general) = crate::plans::two_instances().await;
    let t = fast.tokens();
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let period = json!({"from": "2026-07-15T06:00:00Z", "to": "2026-11-01T00:00:00Z"});
    let mut compared = 0;
    for round in 0..60 {
        let mut fragments = Vec::new();
        let funnel = selection(
            &mut rng,
            "FunnelBucket",
            &FUNNEL_LEAVES,
            &[("stages", "FunnelStage", &STAGE_LEAVES)],
            &mut fragments,
        );
        let money: Vec<(&str, &str, &[&str])> = COST_MONEY
            .iter()
            .map(|m| (*m, "Money", &MONEY_LEAVES[..]))
            .collect();
        let cost = selection(&mut rng, "CostBucket", &COST_LEAVES, &money, &mut fragments);
        let interval = ["DAY", "WEEK", "MONTH"][round % 3];
        let group = ["NONE", "CHANNEL", "CAMPAIGN"][round % 3];
        let document = format!(
            "query($p: PeriodInput!, $i: KpiInterval, $flag: Boolean = true) {{ \
             flag: __typename @include(if: $flag) funnel(period: $p, groupBy: {group}, interval: $i) {{ groups {{ key buckets {{ {funnel} }} }} }} \
             costPerLead(period: $p, groupBy: {group}, interval: $i) {{ key buckets {{ {cost} }} }} }} {}",
            fragments.join(" ")
        );
        let flag = round % 2 == 0;
        let variables = json!({"p": period, "i": interval, "flag": flag});
        for token in [&t.admin, &t.marketing, &t.sales] {
            let a = fast.gql(token, &document, variables.clone()).await;
            let b = general.gql(token, &document, variables.clone()).await;
            if let Some(at) = first_difference(&a, &b, String::new()) {
                panic!("{document}\n{variables}\ndiffer at {at}");
            }
            if std::env::var("SHOW_ERRORS").is_ok() && a.get("errors").is_some() {
                eprintln!("{}", a["errors"][0]["message"]);
            }
            if a.get("errors").is_none() {
                compared += 1;
                assert!(
                    a["data"]["costPerLead"][0]["buckets"]
                        .as_array()
                        .is_some_and(|b| !b.is_empty()),
                    "{a}"
                );
            }
        }
    }
    assert!(compared >= 100, "only {compared} answers without errors");
}

/// Where two JSON values first differ (object keys in any order).
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let here = format!("{at}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, here) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{here}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}[{i}]"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}
