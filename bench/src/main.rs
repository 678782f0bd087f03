//! `bench`: each workload of docs/performance.md that exists, through the running
//! server's GraphQL API and, in the same run, through hand-written SQL, with
//! the ratio API ÷ SQL. Writes `target/bench/summary.json` and prints a table.
//! See `bench/RESULTS.md` for the latest full run and how to reproduce it.

mod api;
mod load;
mod peer;
mod q2;
mod rescore;
mod s1;
mod server;
mod sql;

use api::{Api, Features};
use clap::Parser;
use leadgraph::auth::Role;
use leadgraph::graphql::ids::{NodeType, encode};
use load::{Call, Stats, drive};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "leadgraph load generator: API vs hand-written SQL"
)]
struct Args {
    /// The server's GraphQL endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    url: String,
    /// The server's database, for the hand-written-SQL baseline.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The server's HS256 secret, to mint the workloads' tokens.
    #[arg(long, env = "LEADGRAPH_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// Workloads, in order: Q1, Q2 (funnel + costPerLead by channel over
    /// 90 days), Q3, DEEP, RESCORE (rescoreLeads after a rule change, after
    /// restoring it, and steady: once per run, at concurrency 1), M1
    /// (single), M1_BATCH (500 per request), TRANSITION (disqualify and
    /// recycle, not in the default list). The writes run last by
    /// default: they change rows. S1 (fan-out to
    /// WebSocket subscribers; it qualifies MQL leads) and S1_CROSS (two
    /// instances, needs --url-b) ignore --concurrency; see `s1.rs`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Q1,Q2,Q3,DEEP,RESCORE,M1,M1_BATCH,S1"
    )]
    workloads: Vec<String>,
    /// Concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    concurrency: Vec<usize>,
    /// Measured time of each run (and of each side: API, then SQL).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured time before each run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// A few seconds per workload, concurrency 4 only (a smoke run).
    #[arg(long)]
    quick: bool,
    /// Q2's period in days, ending at the midnight after the latest lead
    /// (90; 365 for the one-year variant of issue 15).
    #[arg(long, default_value_t = 90)]
    q2_days: i64,
    /// Q2 as a trend: `interval` DAY, WEEK or MONTH on both fields, every
    /// bucket's fields selected too.
    #[arg(long)]
    q2_interval: Option<String>,
    /// The server's process id, for its memory; found by port when omitted.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Interactions per `recordInteractions` request in M1_BATCH.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Where to write the summary.
    #[arg(long, default_value = "target/bench/summary.json")]
    out: std::path::PathBuf,
    /// Keep the rows already in `--out` (another database's run), replacing
    /// those of the same workload, database and concurrency.
    #[arg(long)]
    append: bool,
    #[command(flatten)]
    s1: s1::S1Args,
    /// RESCORE: how many times to run its three steps (medians reported).
    #[arg(long, default_value_t = 1)]
    rescore_rounds: usize,
    /// A peer GraphQL server over the same database (PostGraphile, see
    /// bench/peers/README.md), measured on Q1 and Q3 right after the API
    /// side, same load, with leadgraph ÷ peer. Checked to answer as leadgraph
    /// before anything is measured. Repeatable.
    #[arg(long = "peer", value_name = "NAME=URL")]
    peers: Vec<String>,
    /// A peer's process id, for its CPU per request and RSS (summed over its
    /// process tree); found by port when omitted. Repeatable.
    #[arg(long = "peer-pid", value_name = "NAME=PID")]
    peer_pids: Vec<String>,
}

/// One line of the summary.
#[derive(Debug, Default, serde::Serialize)]
struct Row {
    workload: String,
    database: String,
    concurrency: usize,
    api_rps: f64,
    sql_rps: Option<f64>,
    ratio: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    rss_mb: Option<f64>,
    /// The server's `VmHWM` (peak RSS over its life) after this run.
    hwm_mb: Option<f64>,
    api_ok: u64,
    api_errors: u64,
    api_first_error: Option<String>,
    /// Interactions per second (M1_BATCH: requests × batch size).
    api_items_per_sec: Option<f64>,
    sql_items_per_sec: Option<f64>,
    sql_p50_ms: Option<f64>,
    sql_p99_ms: Option<f64>,
    sql_errors: Option<u64>,
    sql_first_error: Option<String>,
    seconds: f64,
    /// DEEP: page 1's figures, and what page the deep one is.
    page1_rps: Option<f64>,
    page1_p50_ms: Option<f64>,
    page1_p99_ms: Option<f64>,
    deep_offset: Option<i64>,
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s1: Option<s1::S1Figures>,
    /// RESCORE: seconds, changed leads and promotions of each step.
    #[serde(flatten)]
    rescore: Option<rescore::RescoreFigures>,
    /// With --peer, Q1 and Q3: the server's CPU time per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_cpu_ms_per_req: Option<f64>,
    /// With --peer, Q1 and Q3: each peer's figures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    peers: Vec<peer::PeerFigures>,
}

fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

struct Tokens {
    sales: Vec<String>,
    marketing: Vec<String>,
    admin: String,
    ingest: String,
}

async fn tokens(args: &Args, sql: &sql::Sql) -> Result<Tokens, String> {
    let mut config = leadgraph::config::Config::for_database(&args.database_url);
    config.jwt_secret = Some(leadgraph::config::Secret(args.jwt_secret.clone()));
    let keys =
        leadgraph::auth::jwt::JwtKeys::from_config(&config, false).map_err(|e| e.to_string())?;
    let ttl = 24 * 3600;
    let mint = |role: Role, limit: usize, fallback: &'static str| {
        let name = role.code();
        let sql = sql.clone();
        let keys = &keys;
        async move {
            // Seeded users keep their names: the tokens carry what their rows say.
            let mut users = sql.users(name).await?;
            users.truncate(limit);
            if users.is_empty() {
                users.push((fallback.to_owned(), None, None));
            }
            users
                .iter()
                .map(|(sub, n, e)| {
                    keys.mint(sub, role, ttl, n.as_deref(), e.as_deref())
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, String>>()
        }
    };
    let sales = mint(Role::Sales, 8, "bench-sales@bench.test").await?;
    let marketing = mint(Role::Marketing, 4, "bench-marketing@bench.test").await?;
    let admin = mint(Role::Admin, 1, "bench-admin@bench.test").await?;
    let ingest = mint(Role::Ingest, 1, "bench-ingest@bench.test").await?;
    Ok(Tokens {
        sales,
        marketing,
        admin: admin.into_iter().next().unwrap_or_default(),
        ingest: ingest.into_iter().next().unwrap_or_default(),
    })
}

fn boxed<F>(f: F) -> std::pin::Pin<Box<dyn std::future::Future<Output = load::Outcome> + Send>>
where
    F: std::future::Future<Output = load::Outcome> + Send + 'static,
{
    Box::pin(f)
}

/// Walk Q1's order over all leads (ADMIN) with opaque cursors to the cursor
/// of page 1,000 (after lead 49,950), or as deep as the data allows.
async fn deep_cursor(api: &Api, token: &str, total: i64) -> Result<(Option<String>, i64), String> {
    let target = std::cmp::min(49_950, (total - 50).max(0));
    let mut walked = 0i64;
    let mut after: Option<String> = None;
    while walked < target {
        let step = std::cmp::min(100, target - walked);
        let data = api
            .data(
                token,
                api::WALK_QUERY,
                json!({ "first": step, "after": after }),
            )
            .await?;
        let info = &data["leads"]["pageInfo"];
        after = info["endCursor"].as_str().map(str::to_owned);
        walked += step;
        if after.is_none() || info["hasNextPage"] != Value::Bool(true) {
            break;
        }
    }
    Ok((after, walked))
}

struct Ctx {
    args: Args,
    sql: sql::Sql,
    tokens: Arc<Tokens>,
    features: Features,
    lead_ids: Arc<Vec<i64>>,
    pid: Option<u32>,
    deep: Option<(Option<String>, i64)>,
    /// Q2's period and request, and what its check found.
    q2: Option<(q2::Q2, String)>,
    /// Checked peers (--peer), measured on Q1 and Q3.
    peers: Vec<peer::Peer>,
}

fn pick(ids: &[i64], r: u64) -> i64 {
    ids[(r % ids.len() as u64) as usize]
}

async fn api_phase(ctx: &Ctx, call: Call, concurrency: usize) -> (Stats, Option<u64>) {
    let sampler = ctx.pid.map(server::RssSampler::start);
    let stats = drive(call, concurrency, ctx.args.warmup, ctx.args.duration).await;
    (stats, sampler.map(|s| s.stop()))
}

async fn run_workload(ctx: &mut Ctx, workload: &str, concurrency: usize) -> Result<Row, String> {
    let api = Api::new(&ctx.args.url, concurrency)?;
    let f = ctx.features;
    let ids = ctx.lead_ids.clone();
    let tokens = ctx.tokens.clone();
    let mut row = Row {
        workload: workload.to_owned(),
        database: ctx.sql.database().to_owned(),
        concurrency,
        seconds: ctx.args.duration.as_secs_f64(),
        ..Row::default()
    };
    let (api_call, sql_call): (Call, Option<Call>) = match workload {
        "Q1" => {
            let bodies: Arc<Vec<(String, bytes::Bytes)>> = Arc::new(
                tokens
                    .sales
                    .iter()
                    .map(|t| (t.clone(), api::body(&api::q1_query(&f), Value::Null)))
                    .collect(),
            );
            let a = api.clone();
            let sql = ctx.sql.clone();
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let (token, body) = bodies[(r % bodies.len() as u64) as usize].clone();
                    boxed(async move { a.post(&token, body).await.map(|_| 1) })
                }),
                Some(Arc::new(move |_| {
                    let sql = sql.clone();
                    boxed(async move { sql.q1(f).await.map(|_| 1) })
                })),
            )
        }
        "Q2" => {
            if ctx.q2.is_none() {
                let q = q2::prepare(&ctx.sql, ctx.args.q2_days, ctx.args.q2_interval.as_deref())
                    .await?;
                let token = tokens.marketing.first().ok_or("no MARKETING token")?;
                let checked = q2::check(&q, &api, token, &ctx.sql).await?;
                eprintln!("  Q2 {checked}");
                ctx.q2 = Some((q, checked));
            }
            let Some((q, checked)) = ctx.q2.clone() else {
                return Err("Q2 was not prepared".to_owned());
            };
            row.note = Some(q.note(&checked));
            let bodies: Arc<Vec<(String, bytes::Bytes)>> = Arc::new(
                tokens
                    .marketing
                    .iter()
                    .map(|t| (t.clone(), q.body.clone()))
                    .collect(),
            );
            let a = api.clone();
            let sql = ctx.sql.clone();
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let (token, body) = bodies[(r % bodies.len() as u64) as usize].clone();
                    boxed(async move { a.post(&token, body).await.map(|_| 1) })
                }),
                Some(Arc::new(move |_| {
                    let (sql, q) = (sql.clone(), q.clone());
                    boxed(async move {
                        let figures = sql.q2(q.from, q.to, q.first_day, q.end_day).await?;
                        Ok(std::hint::black_box(figures).len().min(1) as u64)
                    })
                })),
            )
        }
        "RESCORE" => {
            let figures = rescore::run(
                &ctx.args.url,
                &tokens.admin,
                &ctx.sql,
                ctx.args.rescore_rounds,
            )
            .await?;
            let changed = figures.seconds_each.get("rule_changed").copied();
            row.concurrency = 1;
            row.seconds = changed.unwrap_or(0.0);
            row.api_rps = changed
                .filter(|s| *s > 0.0)
                .map_or(0.0, |s| round(1.0 / s, 3));
            row.api_items_per_sec = changed
                .filter(|s| *s > 0.0)
                .map(|s| round(figures.leads_rescored as f64 / s, 1));
            row.api_ok = (rescore::STEPS.len() * ctx.args.rescore_rounds.max(1)) as u64;
            row.hwm_mb = ctx.pid.and_then(|p| server::status_kb(p, "VmHWM")).map(mb);
            row.note = Some(format!(
                "one-shot, ADMIN: seconds_each = wall time of one rescoreLeads over HTTP \
                 (median of {} round(s)) after rule \"{}\" got +1 point (+1 cap if capped), after it \
                 was restored, and with nothing changed; seconds = the rule change's; \
                 api_items_per_sec = leads rescored per second then; changed_each = leads whose \
                 score or breakdown changed (the first rescoring also applies decay since the \
                 last one); promotions to MQL are one-way. No SQL baseline: scoring is Rust.",
                ctx.args.rescore_rounds.max(1),
                figures.rule
            ));
            row.rescore = Some(figures);
            return Ok(row);
        }
        "Q3" => {
            let query: Arc<str> = api::q3_query(&f).into();
            let a = api.clone();
            let sql = ctx.sql.clone();
            let ids2 = ids.clone();
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let token = tokens.admin.clone();
                    let body = api::body(
                        &query,
                        json!({ "id": encode(NodeType::Lead, pick(&ids, r)).0 }),
                    );
                    boxed(async move {
                        let bytes = a.post(&token, body).await?;
                        // A lead that resolves to null is an error here: every id exists.
                        if bytes.windows(12).any(|w| w == b"\"lead\":null}") {
                            return Err("lead resolved to null".to_owned());
                        }
                        Ok(1)
                    })
                }),
                Some(Arc::new(move |r| {
                    let sql = sql.clone();
                    let id = pick(&ids2, r);
                    boxed(async move { sql.q3(id, f).await })
                })),
            )
        }
        "M1" => {
            let a = api.clone();
            let sql = ctx.sql.clone();
            let ids2 = ids.clone();
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let token = tokens.ingest.clone();
                    let id = encode(NodeType::Lead, pick(&ids, r)).0;
                    let body = api::body(
                        api::M1_MUTATION,
                        json!({ "input": api::interaction_input(&id, r) }),
                    );
                    boxed(async move { a.post(&token, body).await.map(|_| 1) })
                }),
                Some(Arc::new(move |r| {
                    let sql = sql.clone();
                    let id = pick(&ids2, r);
                    boxed(async move { sql.m1(id, r, f).await })
                })),
            )
        }
        "TRANSITION" => {
            // Each lead of the pool moves LEAD/MQL → DISQUALIFIED, then back
            // to LEAD (recycle), as ADMIN: one stage change per request, with
            // its history row, outbox event and rollup update. A lead is
            // taken by one client at a time (busy flag); no SQL side.
            let pool = ctx.sql.movable_leads(50_000).await?;
            if pool.is_empty() {
                return Err("TRANSITION: no lead at LEAD or DISQUALIFIED".to_owned());
            }
            let leads: Arc<Vec<(String, Mutex<Option<String>>)>> = Arc::new(
                pool.into_iter()
                    .map(|(id, stage)| (encode(NodeType::Lead, id).0, Mutex::new(Some(stage))))
                    .collect(),
            );
            let a = api.clone();
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let token = tokens.admin.clone();
                    let leads = leads.clone();
                    boxed(async move {
                        let n = leads.len();
                        let (index, stage) = (0..n)
                            .map(|k| (r as usize).wrapping_add(k.wrapping_mul(7_919)) % n)
                            .find_map(|i| {
                                leads[i]
                                    .1
                                    .lock()
                                    .ok()
                                    .and_then(|mut s| s.take())
                                    .map(|s| (i, s))
                            })
                            .ok_or("TRANSITION: every lead busy")?;
                        let (id, slot) = &leads[index];
                        let to = if stage == "DISQUALIFIED" {
                            "LEAD"
                        } else {
                            "DISQUALIFIED"
                        };
                        let body =
                            api::body(api::TRANSITION_MUTATION, json!({ "id": id, "to": to }));
                        let result = a.post(&token, body).await;
                        let now = match &result {
                            Ok(bytes) => serde_json::from_slice::<Value>(bytes)
                                .ok()
                                .and_then(|v| {
                                    v["data"]["transitionLead"]["stage"]
                                        .as_str()
                                        .map(str::to_owned)
                                })
                                .unwrap_or(stage),
                            Err(_) => stage,
                        };
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(now);
                        }
                        result.map(|_| 1)
                    })
                }),
                None,
            )
        }
        "M1_BATCH" => {
            let a = api.clone();
            let sql = ctx.sql.clone();
            let ids2 = ids.clone();
            let size = ctx.args.batch_size;
            (
                Arc::new(move |r| {
                    let a = a.clone();
                    let token = tokens.ingest.clone();
                    let inputs: Vec<Value> = (0..size as u64)
                        .map(|k| {
                            let r = r
                                .wrapping_mul(6_364_136_223_846_793_005)
                                .wrapping_add(k.wrapping_mul(1_442_695_040_888_963_407));
                            api::interaction_input(
                                &encode(NodeType::Lead, pick(&ids, r >> 11)).0,
                                k,
                            )
                        })
                        .collect();
                    let body = api::body(api::M1_BATCH_MUTATION, json!({ "inputs": inputs }));
                    boxed(async move {
                        let bytes = a.post(&token, body).await?;
                        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                        let result = &v["data"]["recordInteractions"];
                        let recorded = result["recorded"].as_u64().unwrap_or(0);
                        if recorded != size as u64 {
                            return Err(format!("batch recorded {recorded} of {size}: {result}"));
                        }
                        Ok(recorded)
                    })
                }),
                Some(Arc::new(move |r| {
                    let sql = sql.clone();
                    let batch: Vec<i64> = (0..size as u64)
                        .map(|k| {
                            let r = r
                                .wrapping_mul(6_364_136_223_846_793_005)
                                .wrapping_add(k.wrapping_mul(1_442_695_040_888_963_407));
                            pick(&ids2, r >> 11)
                        })
                        .collect();
                    boxed(async move { sql.m1_batch(&batch).await })
                })),
            )
        }
        "DEEP" => {
            if ctx.deep.is_none() {
                let total = ctx.sql.count_leads().await?;
                let t = Instant::now();
                let found = deep_cursor(&api, &tokens.admin, total).await?;
                eprintln!(
                    "  walked to lead {} in {:.1} s",
                    found.1,
                    t.elapsed().as_secs_f64()
                );
                ctx.deep = Some(found);
            }
            let (cursor, offset) = ctx.deep.clone().unwrap_or((None, 0));
            let query = api::deep_query(&f);
            let page1 = api::body(&query, json!({ "after": null }));
            let deep = api::body(&query, json!({ "after": cursor }));
            let admin = tokens.admin.clone();
            let a = api.clone();
            let page1_call: Call = Arc::new(move |_| {
                let a = a.clone();
                let (token, body) = (admin.clone(), page1.clone());
                boxed(async move { a.post(&token, body).await.map(|_| 1) })
            });
            let a = api.clone();
            let admin = tokens.admin.clone();
            let deep_call: Call = Arc::new(move |_| {
                let a = a.clone();
                let (token, body) = (admin.clone(), deep.clone());
                boxed(async move { a.post(&token, body).await.map(|_| 1) })
            });
            // Page 1 then page 1,000, same load; the ratio compares medians.
            let first = drive(page1_call, concurrency, ctx.args.warmup, ctx.args.duration).await;
            let (stats, rss) = api_phase(ctx, deep_call, concurrency).await;
            row.page1_rps = Some(round(first.rps(), 1));
            row.page1_p50_ms = first.quantile_ms(0.5).map(|x| round(x, 2));
            row.page1_p99_ms = first.quantile_ms(0.99).map(|x| round(x, 2));
            row.deep_offset = Some(offset);
            fill_api(&mut row, &stats, rss, ctx.pid);
            row.ratio = match (stats.quantile_ms(0.5), first.quantile_ms(0.5)) {
                (Some(d), Some(p)) if p > 0.0 => Some(round(d / p, 3)),
                _ => None,
            };
            row.note = Some(format!(
                "ratio = p50(page after lead {offset}) / p50(page 1); Q1 order (score desc) over all leads, as ADMIN"
            ));
            return Ok(row);
        }
        other => return Err(format!("unknown or not yet built workload {other}")),
    };
    let with_peers = !ctx.peers.is_empty() && matches!(workload, "Q1" | "Q3");
    let (stats, rss) = if with_peers {
        let (a, d) = (ctx.args.warmup, ctx.args.duration);
        let (stats, cpu, rss) = peer::measure(api_call, concurrency, a, d, ctx.pid).await;
        row.api_cpu_ms_per_req = cpu.map(|x| round(x, 2));
        (stats, rss)
    } else {
        api_phase(ctx, api_call, concurrency).await
    };
    fill_api(&mut row, &stats, rss, ctx.pid);
    if with_peers {
        for p in &ctx.peers {
            let (a, d) = (ctx.args.warmup, ctx.args.duration);
            let figures = peer::run(
                p,
                workload,
                concurrency,
                ctx.lead_ids.clone(),
                a,
                d,
                stats.rps(),
            )
            .await?;
            row.peers.push(figures);
        }
    }
    if let Some(sql_call) = sql_call {
        let s = drive(sql_call, concurrency, ctx.args.warmup, ctx.args.duration).await;
        row.sql_rps = Some(round(s.rps(), 1));
        row.sql_p50_ms = s.quantile_ms(0.5).map(|x| round(x, 2));
        row.sql_p99_ms = s.quantile_ms(0.99).map(|x| round(x, 2));
        row.sql_errors = Some(s.errors);
        row.sql_first_error = s.first_error.clone();
        if workload == "M1_BATCH" {
            row.sql_items_per_sec = Some(round(s.items_per_sec(), 1));
        }
        row.ratio = (s.rps() > 0.0).then(|| round(stats.rps() / s.rps(), 3));
    }
    if workload == "M1_BATCH" {
        row.api_items_per_sec = Some(round(stats.items_per_sec(), 1));
        row.note = Some(format!("{} interactions per request", ctx.args.batch_size));
    }
    Ok(row)
}

fn fill_api(row: &mut Row, stats: &Stats, rss: Option<u64>, pid: Option<u32>) {
    row.api_rps = round(stats.rps(), 1);
    row.p50_ms = stats.quantile_ms(0.5).map(|x| round(x, 2));
    row.p99_ms = stats.quantile_ms(0.99).map(|x| round(x, 2));
    row.api_ok = stats.ok;
    row.api_errors = stats.errors;
    row.api_first_error = stats.first_error.clone();
    row.rss_mb = rss.map(mb);
    row.hwm_mb = pid.and_then(|p| server::status_kb(p, "VmHWM")).map(mb);
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v}")).unwrap_or_else(|| "-".to_owned())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<9} {:<8} {:>4} {:>10} {:>10} {:>7} {:>8} {:>8} {:>7} {:>7} {:>10}",
        "workload",
        "db",
        "conc",
        "api_rps",
        "sql_rps",
        "ratio",
        "p50_ms",
        "p99_ms",
        "rss_mb",
        "errors",
        "items/s"
    );
    for r in rows {
        println!(
            "{:<9} {:<8} {:>4} {:>10} {:>10} {:>7} {:>8} {:>8} {:>7} {:>7} {:>10}",
            r.workload,
            r.database,
            r.concurrency,
            r.api_rps,
            fmt(r.sql_rps),
            fmt(r.ratio),
            fmt(r.p50_ms),
            fmt(r.p99_ms),
            fmt(r.rss_mb),
            r.api_errors,
            fmt(r.api_items_per_sec),
        );
    }
}

async fn run(mut args: Args) -> Result<bool, String> {
    if args.quick {
        args.concurrency = vec![4];
        args.duration = Duration::from_secs(3);
        args.warmup = Duration::from_millis(500);
    }
    let workloads: Vec<String> = args
        .workloads
        .iter()
        .map(|w| w.trim().to_uppercase())
        .collect();
    let max_conc = args.concurrency.iter().copied().max().unwrap_or(16);
    let sql = sql::Sql::connect(&args.database_url, max_conc).await?;
    let lead_ids = sql.lead_ids().await?;
    if lead_ids.is_empty() {
        return Err("the database has no leads: run `leadgraph seed` first".to_owned());
    }
    let tokens = tokens(&args, &sql).await?;
    let probe = Api::new(&args.url, 1)?;
    let features = probe.features(&tokens.admin).await?;
    let mut peers = Vec::new();
    for spec in peer::parse(&args.peers, &args.peer_pids)? {
        let p = peer::Peer::connect(spec).await?;
        let sales = tokens.sales.first().ok_or("no SALES token")?;
        let checked = peer::check(&p, &probe, sales, &tokens.admin, &features, &lead_ids).await?;
        eprintln!(
            "bench: peer {} at {}, pid {}: {checked}",
            p.spec.name,
            p.spec.url,
            p.spec
                .pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into())
        );
        peers.push(p);
    }
    let port = reqwest::Url::parse(&args.url)
        .ok()
        .and_then(|u| u.port_or_known_default());
    let pid = args
        .server_pid
        .or_else(|| port.and_then(server::pid_listening_on));
    eprintln!(
        "bench: {} leads on {}, server pid {}, features {:?}",
        lead_ids.len(),
        sql.database(),
        pid.map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into()),
        features
    );
    let mut ctx = Ctx {
        sql: sql.clone(),
        tokens: Arc::new(tokens),
        features,
        lead_ids: Arc::new(lead_ids),
        pid,
        deep: None,
        q2: None,
        peers,
        args,
    };
    let mut rows = Vec::new();
    let concurrency = ctx.args.concurrency.clone();
    for workload in &workloads {
        if workload == "S1" || workload == "S1_CROSS" {
            eprintln!("{workload} …");
            let row = s1::run(&ctx, workload == "S1_CROSS").await?;
            if let Some(e) = &row.api_first_error {
                eprintln!("  first error: {e}");
            }
            rows.push(row);
            continue;
        }
        // RESCORE is one-shot: once, whatever --concurrency says. Q2 also
        // runs with one client: its latency target is what one marketer
        // loading the dashboard waits (docs/performance.md), beside the load figures.
        let levels = match workload.as_str() {
            "RESCORE" => vec![1],
            "Q2" if !ctx.args.quick && !concurrency.contains(&1) => std::iter::once(1)
                .chain(concurrency.iter().copied())
                .collect(),
            _ => concurrency.clone(),
        };
        for &c in &levels {
            eprintln!("{workload} at concurrency {c} …");
            let row = run_workload(&mut ctx, workload, c).await?;
            eprintln!(
                "  api {:.1}/s (p50 {} ms, p99 {} ms, {} errors), sql {}/s, ratio {}",
                row.api_rps,
                fmt(row.p50_ms),
                fmt(row.p99_ms),
                row.api_errors,
                fmt(row.sql_rps),
                fmt(row.ratio)
            );
            if let Some(e) = &row.api_first_error {
                eprintln!("  first API error: {e}");
            }
            for p in &row.peers {
                eprintln!(
                    "  peer {} {:.1}/s (p50 {} ms, p99 {} ms, {} errors, {} ms CPU/request), leadgraph ÷ peer {}",
                    p.name,
                    p.rps,
                    fmt(p.p50_ms),
                    fmt(p.p99_ms),
                    p.errors,
                    fmt(p.cpu_ms_per_req),
                    fmt(p.leadgraph_ratio)
                );
                if let Some(e) = &p.first_error {
                    eprintln!("  first error of peer {}: {e}", p.name);
                }
            }
            rows.push(row);
        }
    }
    sql.close().await;
    if let Some(dir) = ctx.args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut all: Vec<Value> = Vec::new();
    if ctx.args.append
        && let Ok(old) = std::fs::read_to_string(&ctx.args.out)
        && let Ok(Value::Array(old)) = serde_json::from_str::<Value>(&old)
    {
        let key = |v: &Value| {
            (
                v["workload"].clone(),
                v["database"].clone(),
                v["concurrency"].clone(),
            )
        };
        let new: Vec<_> = rows
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .map(|v| key(&v))
            .collect();
        all.extend(old.into_iter().filter(|v| !new.contains(&key(v))));
    }
    all.extend(rows.iter().filter_map(|r| serde_json::to_value(r).ok()));
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(&ctx.args.out, text).map_err(|e| format!("{}: {e}", ctx.args.out.display()))?;
    print_table(&rows);
    peer::print_table(&rows);
    eprintln!("summary written to {}", ctx.args.out.display());
    // Failure only when nothing worked at all.
    Ok(rows.iter().any(|r| r.api_ok > 0))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: every API request failed");
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
