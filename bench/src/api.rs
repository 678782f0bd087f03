//! The workloads through the GraphQL API: query texts, tokens, requests.
//!
//! A response counts as good only if it is HTTP 200 and its JSON body has no
//! `errors` (an overloaded server may answer 200 with errors in the body).

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// What the server's schema has beyond the foundation (found by
/// introspection), so the queries grow with the server: persona and source
/// campaign in Q1, the score breakdown in Q3.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Features {
    pub persona: bool,
    pub source_campaign: bool,
    pub score_breakdown: bool,
}

/// Q1's fields per lead (docs/performance.md: owner, 5 latest interactions, and
/// persona name and source campaign once they exist). Kept lean: 50 leads ×
/// these fields stay under the default complexity limit of 2,000.
pub fn q1_lead_fields(f: &Features) -> String {
    let mut fields = String::from(
        "id email company score owner { name } \
         interactions(first: 5) { edges { node { kind occurredAt metadata } } }",
    );
    if f.persona {
        fields.push_str(" persona { name }");
    }
    if f.source_campaign {
        fields.push_str(" sourceCampaign { name }");
    }
    fields
}

/// Q1, the sales queue.
pub fn q1_query(f: &Features) -> String {
    format!(
        "query SalesQueue {{ leads(first: 50, filter: {{stages: [SQL]}}, \
         orderBy: {{field: SCORE, direction: DESC}}) {{ edges {{ node {{ {} }} }} }} }}",
        q1_lead_fields(f)
    )
}

/// The deep-page check: Q1's order and fields over all leads (an ADMIN sees
/// enough of them for page 1,000), after a cursor.
pub fn deep_query(f: &Features) -> String {
    format!(
        "query Deep($after: String) {{ leads(first: 50, after: $after, \
         orderBy: {{field: SCORE, direction: DESC}}) {{ edges {{ node {{ {} }} }} }} }}",
        q1_lead_fields(f)
    )
}

/// Walking to the deep page: ids and cursors only.
pub const WALK_QUERY: &str = "query Walk($first: Int!, $after: String) { leads(first: $first, \
     after: $after, orderBy: {field: SCORE, direction: DESC}) { pageInfo { endCursor hasNextPage } } }";

/// Q3, the lead detail.
pub fn q3_query(f: &Features) -> String {
    let mut fields = String::from(
        "id email firstName lastName company jobTitle industry companySize country phone \
         stage score fitScore engagementScore sourceChannel \
         qualification { budget need authority timeline } dealAmount { amount currency } \
         disqualificationReason owner { name } \
         stageHistory { from to at actor reason } createdAt updatedAt stageChangedAt version",
    );
    if f.score_breakdown {
        fields.push_str(" scoreBreakdown { points rule { name } }");
    }
    format!("query LeadDetail($id: ID!) {{ lead(id: $id) {{ {fields} }} }}")
}

/// Q2, the marketing KPIs (docs/performance.md): the funnel and the cost per lead
/// by channel over one period, every field of `FunnelGroup` and `CostRow`.
pub const Q2_QUERY: &str = "query MarketingKpis($period: PeriodInput!) { \
     funnel(period: $period, groupBy: CHANNEL) { from to groups { key label newLeads \
     disqualified overallConversion \
     stages { stage reached conversionFromPrevious avgDaysFromPrevious } } } \
     costPerLead(period: $period, groupBy: CHANNEL) { key label spend { amount currency } \
     leads mqls sqls customers costPerLead { amount currency } costPerMql { amount currency } \
     costPerSql { amount currency } costPerCustomer { amount currency } \
     revenue { amount currency } roi } }";

/// Q2 as a trend (issue 15): the same fields, and per bucket of
/// `$interval` every field again.
pub const Q2_TREND_QUERY: &str = "query MarketingTrend($period: PeriodInput!, $interval: KpiInterval!) { \
     funnel(period: $period, groupBy: CHANNEL, interval: $interval) { from to groups { key label newLeads \
     disqualified overallConversion \
     stages { stage reached conversionFromPrevious avgDaysFromPrevious } \
     buckets { start end newLeads disqualified overallConversion \
     stages { stage reached conversionFromPrevious avgDaysFromPrevious } } } } \
     costPerLead(period: $period, groupBy: CHANNEL, interval: $interval) { key label spend { amount currency } \
     leads mqls sqls customers costPerLead { amount currency } costPerMql { amount currency } \
     costPerSql { amount currency } costPerCustomer { amount currency } \
     revenue { amount currency } roi \
     buckets { start end spend { amount currency } leads mqls sqls customers \
     costPerLead { amount currency } costPerMql { amount currency } costPerSql { amount currency } \
     costPerCustomer { amount currency } revenue { amount currency } roi } } }";

/// Every field of every scoring rule, in the shape of `ScoringRuleInput`
/// (so a rule read here can be written back unchanged).
pub const SCORING_RULES_QUERY: &str = "{ scoringRules { id name kind points active \
     condition { field op values } interactionKind metadataKey metadataContains \
     decayHalfLifeDays maxPointsPerLead } }";

pub const UPDATE_RULE_MUTATION: &str = "mutation UpdateRule($id: ID!, $input: ScoringRuleInput!) { \
     updateScoringRule(id: $id, input: $input) { id points maxPointsPerLead } }";

pub const RESCORE_MUTATION: &str =
    "mutation Rescore { rescoreLeads { leadsRescored promotedToMql } }";

pub const M1_MUTATION: &str = "mutation Record($input: RecordInteractionInput!) { \
     recordInteraction(input: $input) { id } }";

/// TRANSITION (issue 15): disqualify a lead, or recycle a disqualified one.
pub const TRANSITION_MUTATION: &str = "mutation Move($id: ID!, $to: LeadStage!) { \
     transitionLead(id: $id, to: $to, reason: \"bench\") { stage } }";

pub const M1_BATCH_MUTATION: &str = "mutation RecordMany($inputs: [RecordInteractionInput!]!) { \
     recordInteractions(inputs: $inputs) { recorded duplicates errors { index code message } } }";

/// One recorded page visit (the commonest signal), for M1.
pub fn interaction_input(lead_id: &str, n: u64) -> Value {
    const PATHS: [&str; 4] = ["/pricing", "/product", "/blog/mql-vs-sql", "/docs"];
    json!({
        "leadId": lead_id,
        "kind": "PAGE_VISIT",
        "channel": "ORGANIC_SEARCH",
        "metadata": { "path": PATHS[(n % 4) as usize] },
    })
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Option<IgnoredAny>,
}

impl Api {
    pub fn new(url: &str, concurrency: usize) -> Result<Api, String> {
        Api::with_timeout(url, concurrency, std::time::Duration::from_secs(60))
    }

    /// A client whose requests may take up to `timeout` (bulk rescoring).
    pub fn with_timeout(
        url: &str,
        concurrency: usize,
        timeout: std::time::Duration,
    ) -> Result<Api, String> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .tcp_nodelay(true)
            .http1_only()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Api {
            client,
            url: url.to_owned(),
        })
    }

    /// POST a prepared JSON body; Ok(body) only for HTTP 200 without `errors`.
    pub async fn post(&self, token: &str, body: bytes::Bytes) -> Result<bytes::Bytes, String> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token)
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
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        if envelope.errors.is_some() {
            return Err(format!(
                "errors: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        Ok(bytes)
    }

    /// A request with variables, answered as JSON `data`.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Result<Value, String> {
        let body = body(query, variables);
        let bytes = self.post(token, body).await?;
        let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        Ok(value["data"].take())
    }

    /// Which optional fields the server's `Lead` type has.
    pub async fn features(&self, token: &str) -> Result<Features, String> {
        let data = self
            .data(
                token,
                "{ __type(name: \"Lead\") { fields { name } } }",
                Value::Null,
            )
            .await?;
        let names: Vec<&str> = data["__type"]["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
            .unwrap_or_default();
        Ok(Features {
            persona: names.contains(&"persona"),
            source_campaign: names.contains(&"sourceCampaign"),
            score_breakdown: names.contains(&"scoreBreakdown"),
        })
    }
}

/// A GraphQL-over-HTTP request body.
pub fn body(query: &str, variables: Value) -> bytes::Bytes {
    let body = if variables.is_null() {
        json!({ "query": query })
    } else {
        json!({ "query": query, "variables": variables })
    };
    bytes::Bytes::from(body.to_string())
}
