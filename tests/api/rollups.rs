//! The KPI rollups equal the truth (docs/kpis.md "Rollups"): random
//! histories driven through the API — creations and captures, transitions
//! in every order the API accepts, BANT, recycles, disqualifications, deal
//! amounts, merges, erasures, persona changes by edits and rescoring,
//! automatic MQLs, campaign changes and re-dated leads written straight to
//! the database, concurrent writers — then every KPI figure read from the
//! rollups is compared with the first implementation, which aggregates the
//! lead rows; and `leadgraph rollups verify|rebuild` through the binary.

use crate::helpers::{TestApp, Tokens};
use chrono::{DateTime, Datelike, Duration, Utc};
use entity::lead;
use leadgraph::graphql::ids::{NodeType, decode};
use leadgraph::kpis::calc::{self, Interval};
use leadgraph::kpis::model::{GroupBy, Period};
use leadgraph::kpis::{rollups, service};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const BASE: &str = "2026-03-01T00:00:00Z";
const DAYS: i64 = 6;

fn base() -> DateTime<Utc> {
    BASE.parse().expect("base")
}

/// A random instant within the test's days, to the microsecond.
fn instant(rng: &mut Rng) -> DateTime<Utc> {
    base()
        + Duration::seconds(rng.below((DAYS * 86_400) as usize) as i64)
        + Duration::microseconds(rng.below(1_000_000) as i64)
}

async fn write_lead(app: &TestApp, id: &str, edit: impl FnOnce(&mut lead::ActiveModel)) {
    let n = decode(NodeType::Lead, id, "id").expect("lead id");
    let db = &app.state.db.write;
    let Some(model) = lead::Entity::find_by_id(n).one(db).await.expect("read") else {
        return; // merged away
    };
    let mut row: lead::ActiveModel = model.into();
    edit(&mut row);
    lead::Entity::update(row)
        .exec(db)
        .await
        .expect("write lead");
}

async fn setup(app: &TestApp, t: &Tokens) -> Vec<(String, String)> {
    let mut campaigns = Vec::new();
    for (name, channel) in [
        ("Search", "PAID_SEARCH"),
        ("Fair", "EVENT"),
        ("News", "EMAIL"),
    ] {
        let data = app
            .ok(
                &t.marketing,
                "mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }",
                json!({"input": {"name": name, "channel": channel}}),
            )
            .await;
        let id = data["createCampaign"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        campaigns.push((id, channel.to_owned()));
    }
    for input in [
        json!({"name": "Software in Germany", "industries": ["Software"], "countries": ["DE"]}),
        json!({"name": "Big retail", "industries": ["Retail"], "companySizeMin": 100}),
    ] {
        app.ok(
            &t.marketing,
            "mutation($input: PersonaInput!) { createPersona(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    }
    app.ok(
        &t.marketing,
        "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({"input": {"name": "Big", "kind": "FIT", "points": 20,
               "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["100"]}}}),
    )
    .await;
    app.ok(
        &t.marketing,
        "mutation { updateScoringSettings(mqlThreshold: 100000) { mqlThreshold } }",
        json!({}),
    )
    .await;
    campaigns
}

const STAGES: [&str; 6] = [
    "LEAD",
    "MQL",
    "SQL",
    "OPPORTUNITY",
    "CUSTOMER",
    "DISQUALIFIED",
];
const INDUSTRIES: [Option<&str>; 4] = [Some("Software"), Some("Retail"), Some("Mining"), None];

fn transition_vars(rng: &mut Rng, id: &str) -> Value {
    let to = *rng.pick(&STAGES);
    let reason = matches!(to, "DISQUALIFIED" | "LEAD").then_some("random history");
    let deal = matches!(to, "OPPORTUNITY" | "CUSTOMER")
        .then(|| format!("{}.{:02}", rng.below(100_000), rng.below(100)));
    json!({"id": id, "to": to, "reason": reason, "deal": deal})
}

const TRANSITION: &str = "mutation($id: ID!, $to: LeadStage!, $reason: String, $deal: Decimal) { transitionLead(id: $id, to: $to, reason: $reason, dealAmount: $deal) { stage } }";

/// One random history on the app's database.
async fn history(app: &TestApp, t: &Tokens, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let campaigns = setup(app, t).await;
    let mut leads: Vec<String> = Vec::new();
    let mut ops = 0;
    for i in 0..36 {
        let (campaign, _) = rng.pick(&campaigns).clone();
        let industry = *rng.pick(&INDUSTRIES);
        let size = rng.pick(&[10, 150, 5000]).to_owned();
        let country = *rng.pick(&["DE", "FR"]);
        let email = format!("r{i}@example.com");
        let id = if rng.below(3) == 0 {
            let data = app
                .ok(
                    &t.marketing,
                    "mutation($input: CaptureLeadInput!) { captureLead(input: $input) { leadId } }",
                    json!({"input": {"lead": {"email": email, "sourceCampaignId": campaign,
                        "industry": industry, "companySize": size, "country": country}}}),
                )
                .await;
            data["captureLead"]["leadId"]
                .as_str()
                .expect("id")
                .to_owned()
        } else {
            let campaign = (rng.below(4) != 0).then_some(campaign);
            let channel = (rng.below(4) == 0).then_some("SOCIAL");
            let data = app
                .ok(
                    &t.admin,
                    "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                    json!({"input": {"email": email, "sourceCampaignId": campaign, "sourceChannel": channel,
                        "industry": industry, "companySize": size, "country": country}}),
                )
                .await;
            data["createLead"]["id"].as_str().expect("id").to_owned()
        };
        leads.push(id);
    }
    for _ in 0..140 {
        let id = rng.pick(&leads).clone();
        ops += 1;
        // The fold at random points too (the server's own runs every second).
        if rng.below(8) == 0 {
            rollups::compact(&app.state.db.write, true)
                .await
                .expect("fold");
        }
        match rng.below(20) {
            0..=8 => {
                let vars = transition_vars(&mut rng, &id);
                app.gql(&t.admin, TRANSITION, vars).await;
            }
            9 => {
                app.gql(
                    &t.admin,
                    "mutation($id: ID!) { qualifyLead(id: $id, input: {budget: true, need: true, authority: true}) { stage } }",
                    json!({"id": id}),
                )
                .await;
            }
            10 => {
                // A persona (and maybe an automatic MQL) from an edit.
                let industry = *rng.pick(&INDUSTRIES);
                let size = *rng.pick(&[10, 150]);
                app.gql(
                    &t.admin,
                    "mutation($id: ID!, $input: UpdateLeadInput!) { updateLead(id: $id, input: $input) { id } }",
                    json!({"id": id, "input": {"industry": industry, "companySize": size}}),
                )
                .await;
            }
            11 => {
                let other = rng.pick(&leads).clone();
                app.gql(
                    &t.admin,
                    "mutation($p: ID!, $d: ID!) { mergeLeads(primaryId: $p, duplicateId: $d) { id } }",
                    json!({"p": id, "d": other}),
                )
                .await;
            }
            12 => {
                app.gql(
                    &t.admin,
                    "mutation($id: ID!) { eraseLead(id: $id) }",
                    json!({"id": id}),
                )
                .await;
            }
            13 => {
                let threshold = *rng.pick(&[15, 100_000]);
                app.ok(
                    &t.marketing,
                    "mutation($t: Int!) { updateScoringSettings(mqlThreshold: $t) { mqlThreshold } }",
                    json!({"t": threshold}),
                )
                .await;
                app.ok(
                    &t.marketing,
                    "mutation { rescoreLeads { leadsRescored } }",
                    json!({}),
                )
                .await;
            }
            14 => {
                // A campaign (and channel) edited in the database.
                let (campaign, channel) = rng.pick(&campaigns).clone();
                let campaign = (rng.below(3) != 0)
                    .then(|| decode(NodeType::Campaign, &campaign, "id").expect("campaign"));
                write_lead(app, &id, |row| {
                    row.source_campaign_id = Set(campaign);
                    row.source_channel = Set(channel);
                })
                .await;
            }
            15..=17 => {
                // Re-dated: another cohort day, and milestones around it.
                let created = instant(&mut rng);
                let shift = instant(&mut rng) - base();
                write_lead(app, &id, |row| {
                    row.created_at = Set(created);
                    for milestone in [
                        &mut row.mql_at,
                        &mut row.sql_at,
                        &mut row.opportunity_at,
                        &mut row.customer_at,
                    ] {
                        if let sea_orm::ActiveValue::Unchanged(Some(at)) = milestone {
                            let moved = *at - shift;
                            *milestone = Set(Some(moved));
                        }
                    }
                })
                .await;
            }
            _ => {
                // Concurrent writers on the same rollup rows.
                let picks: Vec<(String, Value)> = (0..6)
                    .map(|_| {
                        let id = rng.pick(&leads).clone();
                        let vars = transition_vars(&mut rng, &id);
                        (id, vars)
                    })
                    .collect();
                let calls = picks
                    .iter()
                    .map(|(_, vars)| app.gql(&t.admin, TRANSITION, vars.clone()));
                futures::future::join_all(calls).await;
            }
        }
    }
    ops
}

/// Mean days agree: the rollups sum exact microseconds, but the reference
/// on SQLite goes through `julianday`, which drops the digits below the
/// millisecond, so a mean may differ by up to 1 ms (1.16e-8 days).
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1.2e-8 + 1e-9 * a.abs(),
        _ => false,
    }
}

/// A trend's totals per bucket (day, week and month rows, deltas, lead
/// rows at ragged ends) equal the lead rows of each bucket.
async fn compare_series(db: &sea_orm::DatabaseConnection, period: &Period) {
    for interval in [Interval::Day, Interval::Week, Interval::Month] {
        if interval == Interval::Day && period.to - period.from > Duration::days(31) {
            continue;
        }
        let buckets =
            calc::buckets(period.from, period.to, interval, calc::MAX_BUCKETS).expect("buckets");
        for group_by in [
            GroupBy::None,
            GroupBy::Channel,
            GroupBy::Campaign,
            GroupBy::Persona,
        ] {
            let got = rollups::series(db, &buckets, interval, group_by)
                .await
                .expect("series");
            for (i, (start, end)) in buckets.iter().enumerate() {
                let mut want = std::collections::BTreeMap::new();
                rollups::from_leads(db, *start, *end, group_by, &mut want)
                    .await
                    .expect("reference");
                let keys: std::collections::BTreeSet<_> =
                    got.keys().chain(want.keys()).cloned().collect();
                for key in keys {
                    let g = got.get(&key).map(|v| v[i]).unwrap_or_default();
                    let w = want.get(&key).copied().unwrap_or_default();
                    assert_eq!(
                        g, w,
                        "{period:?} {interval:?} {group_by:?} {key:?} bucket {start}"
                    );
                }
            }
        }
    }
}

/// Every KPI input from the rollups equals the reference over the lead rows.
async fn compare_with_reference(app: &TestApp, rng: &mut Rng) {
    let db = &app.state.db.read;
    let mut periods = vec![
        // Whole days only (rollups alone), and every day of the test.
        Period {
            from: base() - Duration::days(1),
            to: base() + Duration::days(DAYS + 1),
        },
        Period {
            from: base() + Duration::days(1),
            to: base() + Duration::days(3),
        },
        // Whole months (the month rows), and months with days and
        // ragged edges around them.
        Period {
            from: "2026-03-01T00:00:00Z".parse().expect("t"),
            to: "2026-04-01T00:00:00Z".parse().expect("t"),
        },
        Period {
            from: "2026-01-01T00:00:00Z".parse().expect("t"),
            to: "2026-05-01T00:00:00Z".parse().expect("t"),
        },
        Period {
            from: "2026-01-20T05:00:00Z".parse().expect("t"),
            to: base() + Duration::hours(50),
        },
        Period {
            from: "2026-02-27T00:00:00Z".parse().expect("t"),
            to: "2026-04-03T13:00:00Z".parse().expect("t"),
        },
        // Whole ISO weeks around the test's days (the week rows).
        Period {
            from: "2026-02-23T00:00:00Z".parse().expect("t"),
            to: "2026-03-16T00:00:00Z".parse().expect("t"),
        },
        // Within one day, across one midnight, ragged at both ends.
        Period {
            from: base() + Duration::hours(30),
            to: base() + Duration::hours(40),
        },
        Period {
            from: base() + Duration::hours(20),
            to: base() + Duration::hours(28),
        },
    ];
    for _ in 0..4 {
        let a = instant(rng);
        let b = instant(rng);
        if a != b {
            periods.push(Period {
                from: a.min(b),
                to: a.max(b),
            });
        }
    }
    for period in &periods {
        for group_by in [
            GroupBy::None,
            GroupBy::Channel,
            GroupBy::Campaign,
            GroupBy::Persona,
        ] {
            let got = service::cohort(db, period, group_by)
                .await
                .expect("rollups");
            let want = service::reference_cohort(db, period, group_by)
                .await
                .expect("reference");
            let want: std::collections::BTreeMap<_, _> = want
                .into_iter()
                .filter(|(k, row)| row.counts.new_leads > 0 || *k == service::Key::All)
                .collect();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{period:?} {group_by:?}"
            );
            for ((key, g), w) in got.iter().zip(want.values()) {
                let what = format!("{period:?} {group_by:?} {key:?}");
                assert_eq!(g.counts.new_leads, w.counts.new_leads, "{what}");
                assert_eq!(g.counts.reached, w.counts.reached, "{what}");
                assert_eq!(g.counts.disqualified, w.counts.disqualified, "{what}");
                assert_eq!(g.revenue, w.revenue, "{what}");
                for s in 0..5 {
                    assert!(
                        close(g.counts.avg_days[s], w.counts.avg_days[s]),
                        "{what} stage {s}: {:?} vs {:?}",
                        g.counts.avg_days[s],
                        w.counts.avg_days[s]
                    );
                }
            }
        }
        compare_series(db, period).await;
        for min in [0.0, 0.5, 0.75, 1.0] {
            let (n, matching, dq) = service::reference_lead_relevance(db, period, min)
                .await
                .expect("reference");
            let all = rollups::totals(db, period.from, period.to, GroupBy::None)
                .await
                .expect("totals")
                .get(&service::Key::All)
                .copied()
                .unwrap_or_default();
            assert_eq!(all.new_leads(), n);
            assert_eq!(all.disqualified(), dq);
            let m = rollups::matching_icp(db, period.from, period.to, min)
                .await
                .expect("fit");
            assert_eq!(m, matching, "{period:?} minIcpFit {min}");
        }
    }
}

#[tokio::test]
async fn rollups_equal_the_lead_rows_after_random_histories() {
    for seed in [0x9E37_79B9_7F4A_7C15u64, 0xD1B5_4A32_D192_ED03] {
        let app = TestApp::spawn().await;
        let t = app.tokens();
        history(&app, &t, seed).await;
        // Exact with deltas pending, and after they are folded.
        let drift = rollups::verify(&app.state.db.write).await.expect("verify");
        assert!(drift.is_empty(), "seed {seed:#x}: {drift:?}");
        rollups::compact(&app.state.db.write, true)
            .await
            .expect("fold");
        let drift = rollups::verify(&app.state.db.write).await.expect("verify");
        assert!(drift.is_empty(), "seed {seed:#x}, folded: {drift:?}");
        let mut rng = Rng(seed ^ 0x5555);
        compare_with_reference(&app, &mut rng).await;
        // The history really moved numbers: several days, stages, merges.
        let db = &app.state.db.read;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT CAST(COUNT(DISTINCT day) AS BIGINT) AS days, \
                 CAST(SUM(reached3) AS BIGINT) AS sqls, CAST(SUM(leads) AS BIGINT) AS leads \
                 FROM kpi_rollup WHERE dim = 'channel'",
            ))
            .await
            .expect("query")
            .expect("row");
        let days: i64 = row.try_get("", "days").expect("days");
        let sqls: i64 = row.try_get("", "sqls").expect("sqls");
        let leads: i64 = row.try_get("", "leads").expect("leads");
        assert!(days >= 4, "{days} days");
        assert!(sqls >= 1, "{sqls} SQLs");
        assert!(leads < 36, "merges removed duplicates: {leads}");
    }
}

/// A rollup row that no longer adds up is drift; a rebuild fixes it.
#[tokio::test]
async fn rebuild_and_verify_through_the_library() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    for i in 0..3 {
        app.create_lead(&t.admin, &format!("v{i}@example.com"))
            .await;
    }
    let db = &app.state.db.write;
    assert_eq!(rollups::verify(db).await.expect("verify"), vec![]);
    rollups::compact(db, true).await.expect("fold");
    // Every lead counts under its channel, its campaign and its persona.
    db.execute_unprepared("UPDATE kpi_rollup SET reached2 = reached2 + 1 WHERE dim NOT LIKE '%/%'")
        .await
        .expect("corrupt");
    let drift = rollups::verify(db).await.expect("verify");
    assert_eq!(drift.len(), 3, "{drift:?}");
    for (d, dim) in drift.iter().zip(["campaign 0", "channel ", "persona 0"]) {
        assert!(d.key.contains(dim), "{drift:?}");
        assert!(d.columns[0].contains("reached2"), "{drift:?}");
    }
    rollups::rebuild(db).await.expect("rebuild");
    assert_eq!(rollups::verify(db).await.expect("verify"), vec![]);
    // The week and month rows are checked as much as the day rows, and
    // they are what a weekly trend and a whole month read.
    let today = Utc::now().date_naive();
    let monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()));
    let first = today.with_day(1).expect("the 1st");
    for (dim, interval, start) in [
        ("channel/week", Interval::Week, monday),
        ("channel/month", Interval::Month, first),
    ] {
        let from = rollups::midnight(start);
        let to = match interval {
            Interval::Week => from + Duration::days(7),
            _ => rollups::midnight(first + chrono::Months::new(1)),
        };
        let buckets = calc::buckets(from, to, interval, 1).expect("one bucket");
        let leads = || async {
            let series = rollups::series(db, &buckets, interval, GroupBy::None)
                .await
                .expect("series");
            series.values().map(|v| v[0].new_leads()).sum::<i64>()
        };
        assert_eq!(leads().await, 3, "{dim}");
        db.execute_unprepared(&format!(
            "UPDATE kpi_rollup SET leads = leads + 1 WHERE dim = '{dim}'"
        ))
        .await
        .expect("corrupt");
        assert_eq!(leads().await, 4, "{dim} rows are read");
        let drift = rollups::verify(db).await.expect("verify");
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].key.contains(dim), "{drift:?}");
        rollups::rebuild(db).await.expect("rebuild");
        assert_eq!(rollups::verify(db).await.expect("verify"), vec![]);
        assert_eq!(leads().await, 3, "{dim}");
    }
}

/// The fold of a build from before the week rows (migration 000013):
/// PostgreSQL, which several instances share during a rolling upgrade,
/// refuses it and keeps the deltas for a current instance; SQLite (one
/// process) has no such guard, and `verify` names the week rows it left
/// short.
#[tokio::test]
async fn a_fold_without_week_rows_is_refused_or_reported() {
    let app = TestApp::spawn_with(|c| c.rollup_compact_interval = std::time::Duration::ZERO).await;
    let t = app.tokens();
    app.create_lead(&t.admin, "old-build@example.com").await;
    let db = &app.state.db.write;
    let backend = db.get_database_backend();
    let pending = || async {
        db.query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM kpi_delta",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n")
    };
    assert_eq!(pending().await, 1);
    let old = migration::m20261204_000012_kpi_rollup_deltas::compact_statements(backend);
    let txn = db.begin().await.expect("begin");
    let mut refused = None;
    for statement in &old {
        if let Err(e) = txn.execute_unprepared(statement).await {
            refused = Some(e.to_string());
            break;
        }
    }
    if backend == sea_orm::DbBackend::Postgres {
        let refused = refused.expect("PostgreSQL refuses the old fold");
        assert!(refused.contains("older build"), "{refused}");
        txn.rollback().await.expect("rollback");
        assert_eq!(pending().await, 1, "the deltas wait");
        assert_eq!(rollups::verify(db).await.expect("verify"), vec![]);
    } else {
        assert_eq!(refused, None);
        txn.commit().await.expect("commit");
        assert_eq!(pending().await, 0);
        let drift = rollups::verify(db).await.expect("verify");
        let dims: Vec<&str> = drift
            .iter()
            .map(|d| d.key.split(' ').nth(1).expect("dim"))
            .collect();
        assert_eq!(
            dims,
            ["campaign/week", "channel/week", "persona/week"],
            "{drift:?}"
        );
        rollups::rebuild(db).await.expect("rebuild");
    }
    assert!(
        rollups::compact(db, true).await.expect("fold") || backend != sea_orm::DbBackend::Postgres
    );
    assert_eq!(pending().await, 0);
    assert_eq!(rollups::verify(db).await.expect("verify"), vec![]);
}

async fn cli(args: &[&str], database_url: &str) -> (bool, String) {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"))
            .args(args)
            .env("RUST_LOG", "error")
            .env("DATABASE_URL", database_url)
            .output(),
    )
    .await
    .expect("the command ends")
    .expect("the command runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[tokio::test]
async fn rollups_verify_and_rebuild_through_the_binary() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "cli@example.com").await;
    app.transition(&t.admin, &id, "MQL", None).await;
    let url = &app.database_url;
    let (ok, out) = cli(&["rollups", "verify"], url).await;
    assert!(ok, "{out}");
    assert!(out.contains("match"), "{out}");
    let (ok, out) = cli(&["rollups", "compact"], url).await;
    assert!(ok && out.contains("folded"), "{out}");
    app.state
        .db
        .write
        .execute_unprepared("UPDATE kpi_rollup SET leads = leads + 2")
        .await
        .expect("corrupt");
    let (ok, out) = cli(&["rollups", "verify"], url).await;
    assert!(!ok, "drift must fail: {out}");
    assert!(
        out.contains("drift") && out.contains("leads: stored 3, leads say 1"),
        "{out}"
    );
    let (ok, out) = cli(&["rollups", "rebuild"], url).await;
    assert!(ok, "{out}");
    let (ok, out) = cli(&["rollups", "verify"], url).await;
    assert!(ok, "{out}");
}
