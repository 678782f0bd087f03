//! Peers: another GraphQL server over the same database (PostGraphile, see
//! `bench/peers/README.md`), measured for Q1 and Q3 with the same load
//! generator, concurrency and duration as leadgraph, in the same run.
//!
//! Before anything is measured, [`check`] asks leadgraph and each peer for
//! one Q1 and a few Q3 answers and compares them field by field (lead ids
//! and order, and every field the documents have in common): a peer that
//! answers something else fails the run.
//!
//! Server figures of a side come from `/proc`: its CPU time (utime + stime)
//! over the measured window divided by the requests answered in it, and its
//! peak RSS sampled every 100 ms; both summed over the process tree (a
//! clustered peer is a primary and its workers).

use crate::api::{Api, Features};
use crate::load::{Call, Stats, drive};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A peer named on the command line.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    pub name: String,
    pub url: String,
    pub pid: Option<u32>,
}

/// `NAME=URL` peers and `NAME=PID` pids into specs; a peer without a pid is
/// found by the port it listens on.
pub fn parse(peers: &[String], pids: &[String]) -> Result<Vec<PeerSpec>, String> {
    let split = |s: &str, what: &str| -> Result<(String, String), String> {
        s.split_once('=')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .ok_or_else(|| format!("--{what} wants NAME=VALUE, got {s:?}"))
    };
    let mut specs: Vec<PeerSpec> = Vec::new();
    for p in peers {
        let (name, url) = split(p, "peer")?;
        if specs.iter().any(|s| s.name == name) {
            return Err(format!("--peer {name} given twice"));
        }
        specs.push(PeerSpec {
            name,
            url,
            pid: None,
        });
    }
    for p in pids {
        let (name, pid) = split(p, "peer-pid")?;
        let pid: u32 = pid
            .parse()
            .map_err(|_| format!("--peer-pid {name}: {pid:?} is not a pid"))?;
        let spec = specs
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("--peer-pid {name}: no --peer {name}=URL"))?;
        spec.pid = Some(pid);
    }
    for spec in &mut specs {
        if spec.pid.is_none() {
            spec.pid = reqwest::Url::parse(&spec.url)
                .ok()
                .and_then(|u| u.port_or_known_default())
                .and_then(crate::server::pid_listening_on);
        }
    }
    Ok(specs)
}

/// PostGraphile's naming: 4 calls the primary key column `id`; 5 (Amber
/// preset) keeps `id` for the global node id and names the column `rowId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Dialect {
    PostGraphile4,
    PostGraphile5,
}

const Q1_V4: &str = include_str!("../peers/documents/q1.v4.graphql");
const Q1_V5: &str = include_str!("../peers/documents/q1.v5.graphql");
const Q3_V4: &str = include_str!("../peers/documents/q3.v4.graphql");
const Q3_V5: &str = include_str!("../peers/documents/q3.v5.graphql");

/// A peer whose schema has been looked at.
#[derive(Clone, Debug)]
pub struct Peer {
    pub spec: PeerSpec,
    pub dialect: Dialect,
}

impl Peer {
    /// Find the peer's naming by introspection.
    pub async fn connect(spec: PeerSpec) -> Result<Peer, String> {
        let client = Client::new(&spec.url, 1)?;
        let data = client
            .data(
                "{ __type(name: \"Lead\") { fields { name } } }",
                Value::Null,
            )
            .await
            .map_err(|e| format!("peer {}: {e}", spec.name))?;
        let names: Vec<&str> = data["__type"]["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
            .unwrap_or_default();
        let dialect = if names.contains(&"rowId") {
            Dialect::PostGraphile5
        } else if names.contains(&"id") && names.contains(&"interactionsByLeadId") {
            Dialect::PostGraphile4
        } else {
            return Err(format!(
                "peer {}: its Lead type is not PostGraphile's over leadgraph's schema (fields {names:?})",
                spec.name
            ));
        };
        Ok(Peer { spec, dialect })
    }

    fn q1(&self) -> &'static str {
        match self.dialect {
            Dialect::PostGraphile4 => Q1_V4,
            Dialect::PostGraphile5 => Q1_V5,
        }
    }

    fn q3(&self) -> &'static str {
        match self.dialect {
            Dialect::PostGraphile4 => Q3_V4,
            Dialect::PostGraphile5 => Q3_V5,
        }
    }

    /// The name of the lead's primary key in this dialect.
    fn id_field(&self) -> &'static str {
        match self.dialect {
            Dialect::PostGraphile4 => "id",
            Dialect::PostGraphile5 => "rowId",
        }
    }

    /// The load of `workload` (Q1 or Q3) against this peer; Q3 asks for the
    /// same leads, in the same order per client, as the API side.
    pub fn call(
        &self,
        workload: &str,
        concurrency: usize,
        ids: Arc<Vec<i64>>,
    ) -> Result<Call, String> {
        let client = Client::new(&self.spec.url, concurrency)?;
        Ok(match workload {
            "Q1" => {
                let body = crate::api::body(self.q1(), Value::Null);
                Arc::new(move |_| {
                    let (c, body) = (client.clone(), body.clone());
                    crate::boxed(async move { c.post(body).await.map(|_| 1) })
                })
            }
            "Q3" => {
                let query: Arc<str> = self.q3().into();
                Arc::new(move |r| {
                    let c = client.clone();
                    let id = crate::pick(&ids, r);
                    let body = crate::api::body(&query, json!({ "id": id.to_string() }));
                    crate::boxed(async move {
                        let bytes = c.post(body).await?;
                        if bytes.windows(12).any(|w| w == b"\"lead\":null}") {
                            return Err("lead resolved to null".to_owned());
                        }
                        Ok(1)
                    })
                })
            }
            other => return Err(format!("no peer document for {other}")),
        })
    }
}

/// An HTTP client for a peer: as the API side's (HTTP/1.1, keep-alive,
/// `TCP_NODELAY`), without a token.
#[derive(Clone)]
struct Client {
    client: reqwest::Client,
    url: Arc<str>,
}

impl Client {
    fn new(url: &str, concurrency: usize) -> Result<Client, String> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .tcp_nodelay(true)
            .http1_only()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Client {
            client,
            url: url.into(),
        })
    }

    /// Ok(body) only for HTTP 200 without `errors`, as `Api::post`.
    async fn post(&self, body: bytes::Bytes) -> Result<bytes::Bytes, String> {
        let response = self
            .client
            .post(&*self.url)
            .header("content-type", "application/json")
            .header(
                "accept",
                "application/graphql-response+json, application/json",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
        let head = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        if status != reqwest::StatusCode::OK {
            return Err(format!("HTTP {status}: {}", head()));
        }
        #[derive(serde::Deserialize)]
        struct Envelope {
            #[serde(default)]
            errors: Option<serde::de::IgnoredAny>,
        }
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        if envelope.errors.is_some() {
            return Err(format!("errors: {}", head()));
        }
        Ok(bytes)
    }

    async fn data(&self, query: &str, variables: Value) -> Result<Value, String> {
        let bytes = self.post(crate::api::body(query, variables)).await?;
        let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        Ok(value["data"].take())
    }
}

// ---------------------------------------------------------------- the check

/// A timestamp in one spelling (UTC, microseconds), whatever each server
/// prints.
fn instant(v: &Value) -> Value {
    match v
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => Value::String(
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
        None => v.clone(),
    }
}

/// An integer that one side may print as a string (PostGraphile's BigInt).
fn int(v: &Value) -> Value {
    match v {
        Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(v.clone()),
        _ => v.clone(),
    }
}

fn lead_id_of_global(v: &Value) -> Value {
    v.as_str()
        .and_then(leadgraph::graphql::ids::decode_any)
        .map(|(_, id)| Value::from(id))
        .unwrap_or(v.clone())
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<String, Value>>(),
    )
}

fn name_of(v: &Value) -> Value {
    v["name"].clone()
}

fn q1_from_leadgraph(data: &Value) -> Vec<Value> {
    let edges = data["leads"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            let items = n["interactions"]["edges"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| {
                            let i = &i["node"];
                            obj(vec![
                                ("kind", i["kind"].clone()),
                                ("occurredAt", instant(&i["occurredAt"])),
                                ("metadata", i["metadata"].clone()),
                            ])
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            obj(vec![
                ("id", lead_id_of_global(&n["id"])),
                ("email", n["email"].clone()),
                ("company", n["company"].clone()),
                ("score", n["score"].clone()),
                ("owner", name_of(&n["owner"])),
                ("persona", name_of(&n["persona"])),
                ("sourceCampaign", name_of(&n["sourceCampaign"])),
                ("interactions", Value::Array(items)),
            ])
        })
        .collect()
}

fn q1_from_peer(peer: &Peer, data: &Value) -> Vec<Value> {
    let nodes = data["allLeads"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    nodes
        .iter()
        .map(|n| {
            let items = n["interactionsByLeadId"]["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| {
                            obj(vec![
                                ("kind", i["kind"].clone()),
                                ("occurredAt", instant(&i["occurredAt"])),
                                ("metadata", i["metadata"].clone()),
                            ])
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            obj(vec![
                ("id", int(&n[peer.id_field()])),
                ("email", n["email"].clone()),
                ("company", n["company"].clone()),
                ("score", n["score"].clone()),
                ("owner", name_of(&n["appUserByOwnerId"])),
                ("persona", name_of(&n["personaByPersonaId"])),
                ("sourceCampaign", name_of(&n["campaignBySourceCampaignId"])),
                ("interactions", Value::Array(items)),
            ])
        })
        .collect()
}

/// `"1234.50"` → 123450.
fn cents(amount: &Value) -> Value {
    amount
        .as_str()
        .and_then(|s| {
            let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
            format!("{whole}{frac:0<2}").parse::<i64>().ok()
        })
        .map(Value::from)
        .unwrap_or(Value::Null)
}

fn sorted_points(list: &Value) -> Value {
    let mut points: Vec<i64> = list
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["points"].as_i64()).collect())
        .unwrap_or_default();
    points.sort_unstable();
    json!(points)
}

const Q3_SAME: [&str; 14] = [
    "email",
    "firstName",
    "lastName",
    "company",
    "jobTitle",
    "industry",
    "companySize",
    "country",
    "phone",
    "stage",
    "score",
    "fitScore",
    "engagementScore",
    "sourceChannel",
];

fn q3_from_leadgraph(data: &Value) -> Value {
    let l = &data["lead"];
    let mut m = Map::new();
    m.insert("id".into(), lead_id_of_global(&l["id"]));
    for f in Q3_SAME {
        m.insert(f.into(), l[f].clone());
    }
    let q = &l["qualification"];
    m.insert("budget".into(), q["budget"].clone());
    m.insert("need".into(), q["need"].clone());
    m.insert("authority".into(), q["authority"].clone());
    m.insert("timeline".into(), q["timeline"].clone());
    m.insert("dealCents".into(), cents(&l["dealAmount"]["amount"]));
    m.insert(
        "disqualificationReason".into(),
        l["disqualificationReason"].clone(),
    );
    m.insert("owner".into(), name_of(&l["owner"]));
    let history: Vec<Value> = l["stageHistory"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    obj(vec![
                        ("from", h["from"].clone()),
                        ("to", h["to"].clone()),
                        ("at", instant(&h["at"])),
                        ("actor", h["actor"].clone()),
                        ("reason", h["reason"].clone()),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("stageHistory".into(), Value::Array(history));
    for f in ["createdAt", "updatedAt", "stageChangedAt"] {
        m.insert(f.into(), instant(&l[f]));
    }
    m.insert("version".into(), l["version"].clone());
    m.insert(
        "breakdownPoints".into(),
        sorted_points(&l["scoreBreakdown"]),
    );
    Value::Object(m)
}

fn q3_from_peer(peer: &Peer, data: &Value) -> Value {
    let l = &data["lead"];
    let mut m = Map::new();
    m.insert("id".into(), int(&l[peer.id_field()]));
    for f in Q3_SAME {
        m.insert(f.into(), l[f].clone());
    }
    m.insert("budget".into(), l["qualBudget"].clone());
    m.insert("need".into(), l["qualNeed"].clone());
    m.insert("authority".into(), l["qualAuthority"].clone());
    m.insert("timeline".into(), l["qualTimeline"].clone());
    m.insert("dealCents".into(), int(&l["dealAmountCents"]));
    m.insert(
        "disqualificationReason".into(),
        l["disqualificationReason"].clone(),
    );
    m.insert("owner".into(), name_of(&l["appUserByOwnerId"]));
    let history: Vec<Value> = l["stageChangesByLeadId"]["nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    obj(vec![
                        ("from", h["fromStage"].clone()),
                        ("to", h["toStage"].clone()),
                        ("at", instant(&h["at"])),
                        ("actor", h["actor"].clone()),
                        ("reason", h["reason"].clone()),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("stageHistory".into(), Value::Array(history));
    for f in ["createdAt", "updatedAt", "stageChangedAt"] {
        m.insert(f.into(), instant(&l[f]));
    }
    m.insert("version".into(), l["version"].clone());
    m.insert(
        "breakdownPoints".into(),
        sorted_points(&l["scoreBreakdown"]),
    );
    Value::Object(m)
}

/// The first place where `a` and `b` differ, as a path and both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let w = y.get(k).unwrap_or(&Value::Null);
                if let Some(d) = first_difference(&format!("{path}.{k}"), v, w) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!(
                    "{path}: {} items in leadgraph's answer, {} in the peer's",
                    x.len(),
                    y.len()
                ));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(&format!("{path}[{i}]"), v, w))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: leadgraph {a}, peer {b}")),
    }
}

/// Ask leadgraph (Q1 as SALES, Q3 as ADMIN, as measured) and the peer the
/// same questions and compare the answers; Err names the first difference.
pub async fn check(
    peer: &Peer,
    api: &Api,
    sales_token: &str,
    admin_token: &str,
    features: &Features,
    lead_ids: &[i64],
) -> Result<String, String> {
    if !(features.persona && features.source_campaign && features.score_breakdown) {
        return Err(format!(
            "the peer documents ask for persona, source campaign and score breakdown, \
             which this leadgraph does not have ({features:?})"
        ));
    }
    let name = &peer.spec.name;
    let client = Client::new(&peer.spec.url, 1)?;
    let ours = api
        .data(sales_token, &crate::api::q1_query(features), Value::Null)
        .await
        .map_err(|e| format!("Q1 from leadgraph: {e}"))?;
    let theirs = client
        .data(peer.q1(), Value::Null)
        .await
        .map_err(|e| format!("Q1 from peer {name}: {e}"))?;
    let (ours, theirs) = (q1_from_leadgraph(&ours), q1_from_peer(peer, &theirs));
    if ours.is_empty() {
        return Err("Q1 from leadgraph: no leads".to_owned());
    }
    if let Some(d) = first_difference("Q1.leads", &json!(ours), &json!(theirs)) {
        return Err(format!("peer {name} answers Q1 differently: {d}"));
    }
    // Q3: the queue's first lead (it has a history), and two of any stage.
    let mut q3_ids: Vec<i64> = ours
        .iter()
        .take(1)
        .filter_map(|l| l["id"].as_i64())
        .collect();
    q3_ids.extend(lead_ids.first());
    q3_ids.extend(lead_ids.get(lead_ids.len() / 2));
    let query = crate::api::q3_query(features);
    for &id in &q3_ids {
        let global = leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Lead, id);
        let ours = api
            .data(admin_token, &query, json!({ "id": global.0 }))
            .await
            .map_err(|e| format!("Q3 of lead {id} from leadgraph: {e}"))?;
        let theirs = client
            .data(peer.q3(), json!({ "id": id.to_string() }))
            .await
            .map_err(|e| format!("Q3 of lead {id} from peer {name}: {e}"))?;
        if ours["lead"].is_null() || theirs["lead"].is_null() {
            return Err(format!(
                "Q3 of lead {id}: leadgraph found {}, peer {name} found {}",
                !ours["lead"].is_null(),
                !theirs["lead"].is_null()
            ));
        }
        let (ours, theirs) = (q3_from_leadgraph(&ours), q3_from_peer(peer, &theirs));
        if let Some(d) = first_difference("Q3.lead", &ours, &theirs) {
            return Err(format!(
                "peer {name} answers Q3 of lead {id} differently: {d}"
            ));
        }
    }
    Ok(format!(
        "{name} ({:?}): Q1 same {} leads in the same order with the same fields and \
         interactions; Q3 same fields for leads {q3_ids:?}",
        peer.dialect,
        ours.len()
    ))
}

// ------------------------------------------------------- server figures

/// The process and its descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After "pid (comm) ": state, ppid, …
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// utime + stime of the processes, in clock ticks.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // Fields 14 and 15 of stat; `rest` starts at field 3.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// A server's CPU time over the measured window and its peak RSS over the
/// run, summed over its process tree.
pub struct Usage {
    cpu_ticks: Arc<AtomicU64>,
    peak_kb: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<()>,
}

impl Usage {
    /// Start with `drive`: the CPU is read when its warm-up ends and when
    /// its measured time ends.
    pub fn start(root: u32, warmup: Duration, duration: Duration) -> Usage {
        let pids = process_tree(root);
        let cpu = Arc::new(AtomicU64::new(u64::MAX));
        let peak = Arc::new(AtomicU64::new(0));
        let (cpu2, peak2) = (cpu.clone(), peak.clone());
        let start = tokio::time::Instant::now();
        let handle = tokio::spawn(async move {
            let (from, to) = (start + warmup, start + warmup + duration);
            // None: in the warm-up; Some(ticks): measuring since `ticks`.
            let mut first: Option<u64> = None;
            let mut done = false;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let kb: u64 = pids
                            .iter()
                            .filter_map(|p| crate::server::status_kb(*p, "VmRSS"))
                            .sum();
                        peak2.fetch_max(kb, Ordering::Relaxed);
                    }
                    _ = tokio::time::sleep_until(from), if first.is_none() => {
                        first = Some(cpu_ticks(&pids));
                    }
                    _ = tokio::time::sleep_until(to), if first.is_some() && !done => {
                        let used = cpu_ticks(&pids).saturating_sub(first.unwrap_or(0));
                        cpu2.store(used, Ordering::Relaxed);
                        done = true;
                    }
                }
            }
        });
        Usage {
            cpu_ticks: cpu,
            peak_kb: peak,
            handle,
        }
    }

    /// (server CPU ms per answered request, peak RSS in kB).
    pub fn stop(self, ok: u64) -> (Option<f64>, u64) {
        self.handle.abort();
        let ticks = self.cpu_ticks.load(Ordering::Relaxed);
        let cpu = (ticks != u64::MAX && ok > 0)
            .then(|| ticks as f64 / ticks_per_second() * 1000.0 / ok as f64);
        (cpu, self.peak_kb.load(Ordering::Relaxed))
    }
}

/// Run `call` as `drive` does, with the server's usage when its pid is known.
pub async fn measure(
    call: Call,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    pid: Option<u32>,
) -> (Stats, Option<f64>, Option<u64>) {
    let usage = pid.map(|p| Usage::start(p, warmup, duration));
    let stats = drive(call, concurrency, warmup, duration).await;
    match usage {
        Some(u) => {
            let (cpu, kb) = u.stop(stats.ok);
            (stats, cpu, Some(kb))
        }
        None => (stats, None, None),
    }
}

// ---------------------------------------------------------------- figures

/// One peer's side of a Q1 or Q3 row.
#[derive(Debug, Default, serde::Serialize)]
pub struct PeerFigures {
    pub name: String,
    pub url: String,
    pub dialect: Option<Dialect>,
    pub rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The peer's CPU time (its process tree) per answered request.
    pub cpu_ms_per_req: Option<f64>,
    /// The peak of its process tree's summed RSS, sampled every 100 ms.
    pub rss_mb: Option<f64>,
    pub processes: Option<usize>,
    /// leadgraph's req/s ÷ this peer's, same workload and concurrency.
    pub leadgraph_ratio: Option<f64>,
}

/// Measure one peer on `workload` (Q1 or Q3) at `concurrency`.
pub async fn run(
    peer: &Peer,
    workload: &str,
    concurrency: usize,
    ids: Arc<Vec<i64>>,
    warmup: Duration,
    duration: Duration,
    api_rps: f64,
) -> Result<PeerFigures, String> {
    let call = peer.call(workload, concurrency, ids)?;
    let (stats, cpu, kb) = measure(call, concurrency, warmup, duration, peer.spec.pid).await;
    Ok(PeerFigures {
        name: peer.spec.name.clone(),
        url: peer.spec.url.clone(),
        dialect: Some(peer.dialect),
        rps: crate::round(stats.rps(), 1),
        p50_ms: stats.quantile_ms(0.5).map(|x| crate::round(x, 2)),
        p99_ms: stats.quantile_ms(0.99).map(|x| crate::round(x, 2)),
        ok: stats.ok,
        errors: stats.errors,
        first_error: stats.first_error.clone(),
        cpu_ms_per_req: cpu.map(|x| crate::round(x, 2)),
        rss_mb: kb.map(crate::mb),
        processes: peer.spec.pid.map(|p| process_tree(p).len()),
        leadgraph_ratio: (stats.rps() > 0.0).then(|| crate::round(api_rps / stats.rps(), 3)),
    })
}

/// The rows with peers, one line per side: leadgraph, each peer, SQL.
pub fn print_table(rows: &[crate::Row]) {
    if rows.iter().all(|r| r.peers.is_empty()) {
        return;
    }
    let f = crate::fmt;
    println!();
    println!("peers: lg÷side = leadgraph req/s ÷ that side's (for sql: API ÷ SQL)");
    println!(
        "{:<9} {:>4} {:<12} {:>10} {:>8} {:>8} {:>10} {:>7} {:>7} {:>8}",
        "workload",
        "conc",
        "side",
        "req/s",
        "p50_ms",
        "p99_ms",
        "cpu_ms/req",
        "rss_mb",
        "errors",
        "lg÷side"
    );
    for r in rows.iter().filter(|r| !r.peers.is_empty()) {
        println!(
            "{:<9} {:>4} {:<12} {:>10} {:>8} {:>8} {:>10} {:>7} {:>7} {:>8}",
            r.workload,
            r.concurrency,
            "leadgraph",
            r.api_rps,
            f(r.p50_ms),
            f(r.p99_ms),
            f(r.api_cpu_ms_per_req),
            f(r.rss_mb),
            r.api_errors,
            "1"
        );
        for p in &r.peers {
            println!(
                "{:<9} {:>4} {:<12} {:>10} {:>8} {:>8} {:>10} {:>7} {:>7} {:>8}",
                r.workload,
                r.concurrency,
                p.name,
                p.rps,
                f(p.p50_ms),
                f(p.p99_ms),
                f(p.cpu_ms_per_req),
                f(p.rss_mb),
                p.errors,
                f(p.leadgraph_ratio)
            );
        }
        println!(
            "{:<9} {:>4} {:<12} {:>10} {:>8} {:>8} {:>10} {:>7} {:>7} {:>8}",
            r.workload,
            r.concurrency,
            "sql",
            f(r.sql_rps),
            f(r.sql_p50_ms),
            f(r.sql_p99_ms),
            "-",
            "-",
            r.sql_errors.map_or("-".to_owned(), |e| e.to_string()),
            f(r.ratio)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> Peer {
        Peer {
            spec: PeerSpec {
                name: "pg4".into(),
                url: "http://127.0.0.1:1/graphql".into(),
                pid: None,
            },
            dialect: Dialect::PostGraphile4,
        }
    }

    fn leadgraph_q1(id: i64, at: &str) -> Value {
        let global = leadgraph::graphql::ids::encode(leadgraph::graphql::ids::NodeType::Lead, id);
        json!({ "leads": { "edges": [ { "node": {
            "id": global.0, "email": "a@b.example", "company": null, "score": 12,
            "owner": { "name": "Lena" }, "persona": null, "sourceCampaign": { "name": "C" },
            "interactions": { "edges": [ { "node": {
                "kind": "PAGE_VISIT", "occurredAt": at, "metadata": { "path": "/x" } } } ] }
        } } ] } })
    }

    fn peer_q1(id: &str, at: &str) -> Value {
        json!({ "allLeads": { "nodes": [ {
            "id": id, "email": "a@b.example", "company": null, "score": 12,
            "appUserByOwnerId": { "name": "Lena" }, "personaByPersonaId": null,
            "campaignBySourceCampaignId": { "name": "C" },
            "interactionsByLeadId": { "nodes": [ {
                "kind": "PAGE_VISIT", "occurredAt": at, "metadata": { "path": "/x" } } ] }
        } ] } })
    }

    #[test]
    fn q1_answers_compare_across_spellings() {
        let ours = json!(q1_from_leadgraph(&leadgraph_q1(
            42,
            "2026-10-30T23:16:59.947221Z"
        )));
        let same = json!(q1_from_peer(
            &v4(),
            &peer_q1("42", "2026-10-30T23:16:59.947221+00:00")
        ));
        assert_eq!(first_difference("Q1", &ours, &same), None);
        let other_lead = json!(q1_from_peer(
            &v4(),
            &peer_q1("43", "2026-10-30T23:16:59.947221+00:00")
        ));
        let d = first_difference("Q1", &ours, &other_lead).expect("a difference");
        assert!(d.starts_with("Q1[0].id: leadgraph 42, peer 43"), "{d}");
        let other_time = json!(q1_from_peer(
            &v4(),
            &peer_q1("42", "2026-10-30T23:16:59.947222+00:00")
        ));
        let d = first_difference("Q1", &ours, &other_time).expect("a difference");
        assert!(d.contains("occurredAt"), "{d}");
    }

    #[test]
    fn amounts_become_cents() {
        assert_eq!(cents(&json!("1234.50")), json!(123450));
        assert_eq!(cents(&json!("7")), json!(700));
        assert_eq!(cents(&Value::Null), Value::Null);
    }

    #[test]
    fn peers_parse() {
        let specs =
            parse(&["a=http://127.0.0.1:1/graphql".into()], &["a=12".into()]).expect("parses");
        assert_eq!(specs[0].pid, Some(12));
        assert!(parse(&["a".into()], &[]).is_err());
        assert!(parse(&[], &["b=1".into()]).is_err());
    }
}
