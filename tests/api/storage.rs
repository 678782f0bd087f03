//! Stored enum values: what the API writes is today's contract spelling, and
//! a value the code does not know is an internal error, never a default.

use crate::helpers::TestApp;
use entity::{app_user, interaction, lead, scoring_rule, stage_change, stage_event};
use leadgraph::graphql::ids::{NodeType, decode};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const RECORD: &str =
    "mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { id } }";

fn lead_number(id: &str) -> i64 {
    decode(NodeType::Lead, id, "id").expect("lead id")
}

async fn exec(app: &TestApp, sql: &str) {
    app.state
        .db
        .write
        .execute_unprepared(sql)
        .await
        .expect("raw update");
}

/// The first error of `body`, which must be the masked internal error.
fn assert_internal(body: &Value) {
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{body:#}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("internal error"), "{body:#}");
}

#[tokio::test]
async fn the_api_stores_the_contract_spelling_of_every_enum() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let data = app
        .ok(
            &t.sales,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({"input": {"email": "codes@example.com", "sourceChannel": "PAID_SEARCH"}}),
        )
        .await;
    let id = data["createLead"]["id"].as_str().expect("id").to_owned();
    assert_eq!(app.transition(&t.marketing, &id, "MQL", None).await, None);
    app.ok(
        &t.ingest,
        RECORD,
        json!({"input": {"leadId": id, "kind": "FORM_SUBMIT", "channel": "ORGANIC_SEARCH"}}),
    )
    .await;

    let db = &app.state.db.write;
    let n = lead_number(&id);
    let row = lead::Entity::find_by_id(n).one(db).await.unwrap().unwrap();
    assert_eq!(
        (row.stage.as_str(), row.source_channel.as_str()),
        ("MQL", "PAID_SEARCH")
    );
    let i = interaction::Entity::find()
        .filter(interaction::Column::LeadId.eq(n))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (i.kind.as_str(), i.channel.as_deref()),
        ("FORM_SUBMIT", Some("ORGANIC_SEARCH"))
    );
    let history: Vec<_> = stage_change::Entity::find()
        .filter(stage_change::Column::LeadId.eq(n))
        .order_by_asc(stage_change::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.from_stage, h.to_stage))
        .collect();
    let events: Vec<_> = stage_event::Entity::find()
        .filter(stage_event::Column::LeadId.eq(n))
        .order_by_asc(stage_event::Column::Seq)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from_stage, e.to_stage))
        .collect();
    let expected = vec![
        (None, "LEAD".to_owned()),
        (Some("LEAD".to_owned()), "MQL".to_owned()),
    ];
    assert_eq!(history, expected);
    assert_eq!(events, expected);
    let sales = app_user::Entity::find()
        .filter(app_user::Column::Subject.eq("sam@example.com"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sales.role, "SALES");
}

#[tokio::test]
async fn an_unknown_stored_stage_is_an_internal_error() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "won@example.com").await;
    exec(
        &app,
        &format!(
            "UPDATE lead SET stage = 'WON' WHERE id = {}",
            lead_number(&id)
        ),
    )
    .await;
    let body = app
        .gql(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stage } }",
            json!({"id": id}),
        )
        .await;
    assert_internal(&body);
    assert!(
        !body.to_string().contains("WON"),
        "the stored value leaked: {body}"
    );
}

#[tokio::test]
async fn an_unknown_stored_history_stage_is_an_internal_error() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "history@example.com").await;
    exec(
        &app,
        &format!(
            "UPDATE stage_change SET to_stage = 'NEW' WHERE lead_id = {}",
            lead_number(&id)
        ),
    )
    .await;
    let body = app
        .gql(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { stageHistory { from to } } }",
            json!({"id": id}),
        )
        .await;
    assert_internal(&body);
}

#[tokio::test]
async fn an_unknown_stored_channel_is_an_internal_error() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "tv@example.com").await;
    exec(
        &app,
        &format!(
            "UPDATE lead SET source_channel = 'TV' WHERE id = {}",
            lead_number(&id)
        ),
    )
    .await;
    let body = app
        .gql(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { sourceChannel } }",
            json!({"id": id}),
        )
        .await;
    assert_internal(&body);
}

#[tokio::test]
async fn an_unknown_stored_interaction_kind_is_an_internal_error() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "tweet@example.com").await;
    app.ok(
        &t.ingest,
        RECORD,
        json!({"input": {"leadId": id, "kind": "PAGE_VISIT"}}),
    )
    .await;
    exec(
        &app,
        &format!(
            "UPDATE interaction SET kind = 'TWEET' WHERE lead_id = {}",
            lead_number(&id)
        ),
    )
    .await;
    let body = app
        .gql(
            &t.admin,
            "query($id: ID!) { lead(id: $id) { interactions { edges { node { kind } } } } }",
            json!({"id": id}),
        )
        .await;
    assert_internal(&body);
}

#[tokio::test]
async fn an_unknown_stored_role_is_an_internal_error() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    app.ok(&t.marketing, "{ me { role } }", json!({})).await;
    exec(
        &app,
        "UPDATE app_user SET role = 'ROOT' WHERE subject = 'mia@example.com'",
    )
    .await;
    let body = app
        .gql(&t.admin, "{ users { subject role } }", json!({}))
        .await;
    assert_internal(&body);
}

const CREATE_RULE: &str =
    "mutation($input: ScoringRuleInput!) { createScoringRule(input: $input) { id } }";

/// A FIT rule and an ENGAGEMENT rule, created through the API.
async fn two_rules(app: &TestApp, token: &str) {
    app.ok(
        token,
        CREATE_RULE,
        json!({"input": {"name": "Big", "kind": "FIT", "points": 20,
                         "condition": {"field": "COMPANY_SIZE", "op": "GTE", "values": ["100"]}}}),
    )
    .await;
    app.ok(
        token,
        CREATE_RULE,
        json!({"input": {"name": "Demo", "kind": "ENGAGEMENT", "points": 30,
                         "interactionKind": "DEMO_REQUEST"}}),
    )
    .await;
}

#[tokio::test]
async fn scoring_rules_store_the_contract_spelling() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    two_rules(&app, &t.marketing).await;
    let rules: Vec<_> = scoring_rule::Entity::find()
        .order_by_asc(scoring_rule::Column::Id)
        .all(&app.state.db.write)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.kind,
                r.condition_field,
                r.condition_op,
                r.interaction_kind,
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        rules,
        [
            ("FIT".to_owned(), s("COMPANY_SIZE"), s("GTE"), None),
            ("ENGAGEMENT".to_owned(), None, None, s("DEMO_REQUEST")),
        ]
    );
}

#[tokio::test]
async fn an_unknown_stored_rule_code_is_an_internal_error() {
    let cases = [
        ("kind = 'BONUS'", "kind = 'FIT'", "kind"),
        (
            "condition_op = 'NEAR'",
            "condition_field IS NOT NULL",
            "condition { op }",
        ),
        (
            "condition_field = 'AGE'",
            "condition_field IS NOT NULL",
            "condition { field }",
        ),
        (
            "interaction_kind = 'TWEET'",
            "interaction_kind IS NOT NULL",
            "interactionKind",
        ),
    ];
    for (set, which, field) in cases {
        let app = TestApp::spawn().await;
        let t = app.tokens();
        two_rules(&app, &t.marketing).await;
        exec(
            &app,
            &format!("UPDATE scoring_rule SET {set} WHERE {which}"),
        )
        .await;
        let body = app
            .gql(
                &t.marketing,
                &format!("{{ scoringRules {{ name {field} }} }}"),
                json!({}),
            )
            .await;
        assert_internal(&body);
        // Rescoring reads every active rule: it refuses rather than skip one.
        let body = app
            .gql(
                &t.marketing,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({"input": {"email": "rescored@example.com"}}),
            )
            .await;
        assert_internal(&body);
        let leads = lead::Entity::find().all(&app.state.db.write).await.unwrap();
        assert!(leads.is_empty(), "nothing is half-written: {leads:?}");
    }
}

/// `lead::ByPosition` and `StoredInteraction` (the hot paths' decoders) read
/// every column of stored rows exactly as the derived decoders do, NULLs
/// included.
#[tokio::test]
async fn rows_decoded_by_position_equal_rows_decoded_by_name() {
    use async_graphql::dataloader::Loader;
    use leadgraph::interactions::loader::{
        InteractionPageKey, InteractionPageLoader, StoredInteraction,
    };
    use sea_orm::QuerySelect;
    let (database_url, dir) = crate::helpers::fresh_database().await;
    let config = leadgraph::config::Config::for_database(&database_url);
    let args = leadgraph::seed::SeedArgs {
        leads: 300,
        interactions_per_lead: 3,
        seed: 11,
        reset: false,
        until: "2026-11-01T00:00:00Z".parse().expect("time"),
    };
    leadgraph::seed::seed(&config, &args).await.expect("seed");
    let app = TestApp::spawn_on(database_url, dir, |_| {}).await;
    let db = &app.state.db.read;
    let by_name = lead::Entity::find()
        .order_by_asc(lead::Column::Id)
        .all(db)
        .await
        .expect("by name");
    let by_position: Vec<lead::Model> = lead::Entity::find()
        .order_by_asc(lead::Column::Id)
        .into_model::<lead::ByPosition>()
        .all(db)
        .await
        .expect("by position")
        .into_iter()
        .map(|row| row.0)
        .collect();
    assert_eq!(by_name.len(), 300);
    assert_eq!(by_name, by_position);
    // The comparison covers both states of the columns that may be NULL.
    let both = |name: &str, some: usize| {
        assert!(
            some > 0 && some < by_name.len(),
            "{name}: {some} of {} set",
            by_name.len()
        );
    };
    both(
        "persona_id",
        by_name.iter().filter(|l| l.persona_id.is_some()).count(),
    );
    both(
        "owner_id",
        by_name.iter().filter(|l| l.owner_id.is_some()).count(),
    );
    both(
        "mql_at",
        by_name.iter().filter(|l| l.mql_at.is_some()).count(),
    );
    both(
        "deal_amount_cents",
        by_name
            .iter()
            .filter(|l| l.deal_amount_cents.is_some())
            .count(),
    );
    both(
        "company_size",
        by_name.iter().filter(|l| l.company_size.is_some()).count(),
    );
    both(
        "icp_fit",
        by_name.iter().filter(|l| l.icp_fit.is_some()).count(),
    );
    // Interactions too, through `Entity::find()` and through the page
    // loader's raw statement (its own column list).
    let interactions = interaction::Entity::find()
        .order_by_asc(interaction::Column::Id)
        .all(db)
        .await
        .expect("interactions by name");
    let stored: Vec<interaction::Model> = interaction::Entity::find()
        .order_by_asc(interaction::Column::Id)
        .into_model::<StoredInteraction>()
        .all(db)
        .await
        .expect("interactions by position")
        .into_iter()
        .map(|row| row.0)
        .collect();
    assert_eq!(interactions.len(), 900);
    assert_eq!(interactions, stored);
    let keys: Vec<InteractionPageKey> = by_name
        .iter()
        .take(40)
        .map(|l| InteractionPageKey {
            lead_id: l.id,
            first: 2,
            after: None,
            kinds: Vec::new(),
        })
        .collect();
    let loader = InteractionPageLoader { db: db.clone() };
    let pages = loader.load(&keys).await.expect("pages");
    for key in &keys {
        let mut expected: Vec<&interaction::Model> = interactions
            .iter()
            .filter(|i| i.lead_id == key.lead_id)
            .collect();
        expected.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
        expected.truncate(2);
        let page: Vec<&interaction::Model> = pages[key].rows.iter().collect();
        assert_eq!(page, expected, "lead {}", key.lead_id);
    }
    // A partial select is not a whole row: the decoder refuses to guess.
    let partial = lead::Entity::find()
        .select_only()
        .column(lead::Column::Email)
        .column(lead::Column::Id)
        .into_model::<lead::ByPosition>()
        .all(db)
        .await;
    assert!(partial.is_err(), "a partial row decoded by position");
}
