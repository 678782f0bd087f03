//! Personas (docs/personas.md): validation, access, a lead's persona and ICP
//! fit, rematching on rescoring and on deletion.

use crate::helpers::TestApp;
use serde_json::{Value, json};

const FIELDS: &str =
    "id name description industries companySizeMin companySizeMax countries jobTitleKeywords";
const LEAD: &str = "query($id: ID!) { lead(id: $id) { icpFit persona { id name } } }";
const RESCORE: &str = "mutation { rescoreLeads { leadsRescored promotedToMql } }";

fn create_query() -> String {
    format!("mutation($input: PersonaInput!) {{ createPersona(input: $input) {{ {FIELDS} }} }}")
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: PersonaInput!) {{ updatePersona(id: $id, input: $input) {{ {FIELDS} }} }}"
    )
}

const DELETE: &str = "mutation($id: ID!) { deletePersona(id: $id) }";

async fn persona(app: &TestApp, token: &str, input: Value) -> String {
    app.ok(token, &create_query(), json!({"input": input}))
        .await["createPersona"]["id"]
        .as_str()
        .expect("persona id")
        .to_owned()
}

async fn lead_with(app: &TestApp, token: &str, input: Value) -> String {
    app.ok(
        token,
        "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
        json!({"input": input}),
    )
    .await["createLead"]["id"]
        .as_str()
        .expect("lead id")
        .to_owned()
}

/// (persona name, icpFit) of a lead.
async fn matched(app: &TestApp, token: &str, id: &str) -> (Value, Value) {
    let l = app.ok(token, LEAD, json!({"id": id})).await["lead"].clone();
    (l["persona"]["name"].clone(), l["icpFit"].clone())
}

async fn refused(app: &TestApp, token: &str, query: &str, vars: Value) -> (String, String) {
    let body = app.gql(token, query, vars).await;
    let ext = &body["errors"][0]["extensions"];
    (
        ext["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {body:#}"))
            .to_owned(),
        ext["field"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn personas_are_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let created = app
        .ok(
            &t.marketing,
            &create_query(),
            json!({"input": {"name": " CTO DACH ", "description": "Technical buyers",
                   "industries": ["Software", " SaaS"], "companySizeMin": 50, "companySizeMax": 500,
                   "countries": ["de", "AT", " ch "], "jobTitleKeywords": ["CTO", "Head of Engineering"]}}),
        )
        .await["createPersona"]
        .clone();
    let id = created["id"].clone();
    assert_eq!(
        created,
        json!({"id": id, "name": "CTO DACH", "description": "Technical buyers",
               "industries": ["Software", "SaaS"], "companySizeMin": 50, "companySizeMax": 500,
               "countries": ["DE", "AT", "CH"], "jobTitleKeywords": ["CTO", "Head of Engineering"]})
    );
    let minimal = persona(&app, &t.admin, json!({"name": "Anyone"})).await;
    for token in [&t.admin, &t.marketing, &t.sales] {
        let list = app
            .ok(token, &format!("{{ personas {{ {FIELDS} }} }}"), json!({}))
            .await;
        assert_eq!(list["personas"][0], created, "oldest first");
        assert_eq!(
            list["personas"][1],
            json!({"id": minimal, "name": "Anyone", "description": null, "industries": [],
                   "companySizeMin": null, "companySizeMax": null, "countries": [], "jobTitleKeywords": []})
        );
        let node = app
            .ok(
                token,
                "query($id: ID!) { node(id: $id) { ... on Persona { name } } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(node["node"]["name"], "CTO DACH");
    }

    // Update replaces every field.
    let updated = app
        .ok(
            &t.marketing,
            &update_query(),
            json!({"id": id, "input": {"name": "CTO Europe", "countries": ["FR"]}}),
        )
        .await["updatePersona"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": id, "name": "CTO Europe", "description": null, "industries": [],
               "companySizeMin": null, "companySizeMax": null, "countries": ["FR"], "jobTitleKeywords": []})
    );
    // Renaming to itself is no conflict.
    app.ok(
        &t.marketing,
        &update_query(),
        json!({"id": id, "input": {"name": "CTO Europe"}}),
    )
    .await;

    // Delete: gone from the list and node(); the name is free again.
    assert_eq!(
        app.ok(&t.marketing, DELETE, json!({"id": minimal})).await["deletePersona"],
        true
    );
    let list = app.ok(&t.sales, "{ personas { name } }", json!({})).await;
    assert_eq!(list["personas"], json!([{"name": "CTO Europe"}]));
    let node = app
        .ok(
            &t.admin,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": minimal}),
        )
        .await;
    assert!(node["node"].is_null());
    assert_eq!(
        app.error_code(&t.marketing, DELETE, json!({"id": minimal}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(
            &t.marketing,
            &update_query(),
            json!({"id": minimal, "input": {"name": "x"}})
        )
        .await,
        "NOT_FOUND"
    );
    persona(&app, &t.marketing, json!({"name": "Anyone"})).await;
}

#[tokio::test]
async fn every_persona_validation_names_its_field() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let existing = persona(&app, &t.marketing, json!({"name": "Taken"})).await;
    let other = persona(&app, &t.marketing, json!({"name": "Other"})).await;
    let long = "x".repeat(257);
    let cases = [
        (json!({"name": ""}), "input.name"),
        (json!({"name": "   "}), "input.name"),
        (json!({"name": long}), "input.name"),
        (
            json!({"name": "p", "description": long}),
            "input.description",
        ),
        (
            json!({"name": "p", "industries": [long]}),
            "input.industries",
        ),
        (
            json!({"name": "p", "industries": ["Retail", ""]}),
            "input.industries",
        ),
        (
            json!({"name": "p", "industries": vec!["x"; 101]}),
            "input.industries",
        ),
        (
            json!({"name": "p", "jobTitleKeywords": [long]}),
            "input.jobTitleKeywords",
        ),
        (
            json!({"name": "p", "jobTitleKeywords": [" "]}),
            "input.jobTitleKeywords",
        ),
        (json!({"name": "p", "countries": ["XX"]}), "input.countries"),
        (
            json!({"name": "p", "countries": ["DE", "DEU"]}),
            "input.countries",
        ),
        (json!({"name": "p", "countries": [""]}), "input.countries"),
        (
            json!({"name": "p", "companySizeMin": -1}),
            "input.companySizeMin",
        ),
        (
            json!({"name": "p", "companySizeMax": -1}),
            "input.companySizeMax",
        ),
        (
            json!({"name": "p", "companySizeMin": 500, "companySizeMax": 50}),
            "input.companySizeMin",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(
            refused(&app, &t.marketing, &create_query(), json!({"input": input})).await,
            ("BAD_USER_INPUT".to_owned(), field.to_owned()),
            "create {input}"
        );
        assert_eq!(
            refused(
                &app,
                &t.admin,
                &update_query(),
                json!({"id": existing, "input": input})
            )
            .await,
            ("BAD_USER_INPUT".to_owned(), field.to_owned()),
            "update {input}"
        );
    }
    // Equal bounds are fine.
    persona(
        &app,
        &t.marketing,
        json!({"name": "Exactly 100", "companySizeMin": 100, "companySizeMax": 100}),
    )
    .await;
    // Names are unique.
    assert_eq!(
        app.error_code(
            &t.marketing,
            &create_query(),
            json!({"input": {"name": "Taken"}})
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        app.error_code(
            &t.marketing,
            &update_query(),
            json!({"id": other, "input": {"name": "Taken"}})
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        refused(&app, &t.marketing, DELETE, json!({"id": "TGVhZDox"})).await,
        ("BAD_USER_INPUT".to_owned(), "id".to_owned())
    );
    let list = app
        .ok(&t.marketing, "{ personas { name } }", json!({}))
        .await;
    assert_eq!(
        list["personas"],
        json!([{"name": "Taken"}, {"name": "Other"}, {"name": "Exactly 100"}])
    );
}

#[tokio::test]
async fn persona_access_per_role() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = persona(&app, &t.admin, json!({"name": "P"})).await;
    let writes = [
        (create_query(), json!({"input": {"name": "Q"}})),
        (update_query(), json!({"id": id, "input": {"name": "R"}})),
        (DELETE.to_owned(), json!({"id": id})),
    ];
    for token in [&t.sales, &t.ingest] {
        for (q, vars) in &writes {
            assert_eq!(
                app.error_code(token, q, vars.clone()).await,
                "FORBIDDEN",
                "{q}"
            );
        }
    }
    assert_eq!(
        app.error_code(&t.ingest, "{ personas { id } }", json!({}))
            .await,
        "FORBIDDEN"
    );
    // INGEST reads nothing, node() included (issue 10).
    assert_eq!(
        app.error_code(
            &t.ingest,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": id}),
        )
        .await,
        "FORBIDDEN"
    );
    app.ok(&t.sales, "{ personas { id } }", json!({})).await;
    for (q, vars) in &writes {
        app.ok(&t.marketing, q, vars.clone()).await;
    }
}

#[tokio::test]
async fn leads_match_their_best_persona() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let dach = persona(
        &app,
        &t.marketing,
        json!({"name": "CTO DACH", "industries": ["software"], "countries": ["DE", "AT", "CH"],
               "jobTitleKeywords": ["cto", "head of engineering"]}),
    )
    .await;
    persona(
        &app,
        &t.marketing,
        json!({"name": "Enterprise", "companySizeMin": 1000}),
    )
    .await;
    // Same criteria as Enterprise, created later: loses every tie.
    persona(
        &app,
        &t.marketing,
        json!({"name": "Enterprise too", "companySizeMin": 1000}),
    )
    .await;
    persona(&app, &t.marketing, json!({"name": "Nobody"})).await;

    let cto = lead_with(
        &app,
        &t.marketing,
        json!({"email": "cto@a.example", "industry": "Software", "country": "de", "jobTitle": "CTO", "companySize": 50}),
    )
    .await;
    let big = lead_with(
        &app,
        &t.marketing,
        json!({"email": "buyer@b.example", "industry": "Retail", "country": "FR", "jobTitle": "Buyer", "companySize": 5000}),
    )
    .await;
    let partial = lead_with(
        &app,
        &t.marketing,
        json!({"email": "dev@c.example", "industry": "SOFTWARE", "country": "FR", "jobTitle": "Developer"}),
    )
    .await;
    let nothing = lead_with(&app, &t.marketing, json!({"email": "x@d.example"})).await;
    assert_eq!(
        matched(&app, &t.marketing, &cto).await,
        (json!("CTO DACH"), json!(1.0))
    );
    assert_eq!(
        matched(&app, &t.marketing, &big).await,
        (json!("Enterprise"), json!(1.0))
    );
    // 1 of 3 criteria (industry).
    let (name, fit) = matched(&app, &t.marketing, &partial).await;
    assert_eq!(name, "CTO DACH");
    assert!((fit.as_f64().expect("fit") - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        matched(&app, &t.marketing, &nothing).await,
        (Value::Null, Value::Null)
    );

    // A persona filter on leads.
    let filtered = app
        .ok(
            &t.marketing,
            "query($p: [ID!]) { leads(filter: {personaIds: $p}) { totalCount } }",
            json!({"p": [dach]}),
        )
        .await;
    assert_eq!(filtered["leads"]["totalCount"], 2);

    // Updating a lead rematches it in the same write.
    app.ok(
        &t.marketing,
        "mutation($id: ID!) { updateLead(id: $id, input: {country: \"AT\", jobTitle: \"Head of Engineering\"}) { id } }",
        json!({"id": partial}),
    )
    .await;
    assert_eq!(
        matched(&app, &t.marketing, &partial).await,
        (json!("CTO DACH"), json!(1.0))
    );

    // SALES reads a visible lead's persona (an owned lead here).
    let owned = lead_with(
        &app,
        &t.sales,
        json!({"email": "own@e.example", "companySize": 2000}),
    )
    .await;
    assert_eq!(
        matched(&app, &t.sales, &owned).await,
        (json!("Enterprise"), json!(1.0))
    );
}

#[tokio::test]
async fn persona_changes_apply_on_rescoring_and_deletion_rematches() {
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let broad = persona(
        &app,
        &t.marketing,
        json!({"name": "Software", "industries": ["Software"], "countries": ["US"]}),
    )
    .await;
    let lead = lead_with(
        &app,
        &t.marketing,
        json!({"email": "a@a.example", "industry": "Software", "country": "DE", "companySize": 20}),
    )
    .await;
    let other = lead_with(
        &app,
        &t.marketing,
        json!({"email": "b@b.example", "industry": "Retail", "country": "US"}),
    )
    .await;
    assert_eq!(
        matched(&app, &t.marketing, &lead).await,
        (json!("Software"), json!(0.5))
    );
    // A new, better persona applies on the next rescoring.
    let small = persona(
        &app,
        &t.marketing,
        json!({"name": "Small software", "industries": ["Software"], "companySizeMax": 50}),
    )
    .await;
    assert_eq!(
        matched(&app, &t.marketing, &lead).await,
        (json!("Software"), json!(0.5))
    );
    let r = app.ok(&t.marketing, RESCORE, json!({})).await;
    assert_eq!(r["rescoreLeads"]["leadsRescored"], 2);
    assert_eq!(
        matched(&app, &t.marketing, &lead).await,
        (json!("Small software"), json!(1.0))
    );

    // Deleting a persona rematches its leads at once: `lead` falls back to
    // "Software"; `other` (matched to "Software" too) then to nothing.
    app.ok(&t.marketing, DELETE, json!({"id": small})).await;
    assert_eq!(
        matched(&app, &t.marketing, &lead).await,
        (json!("Software"), json!(0.5))
    );
    assert_eq!(
        matched(&app, &t.marketing, &other).await,
        (json!("Software"), json!(0.5))
    );
    app.ok(&t.admin, DELETE, json!({"id": broad})).await;
    for id in [&lead, &other] {
        assert_eq!(
            matched(&app, &t.marketing, id).await,
            (Value::Null, Value::Null)
        );
    }
    let filtered = app
        .ok(
            &t.marketing,
            "query($p: [ID!]) { leads(filter: {personaIds: $p}) { totalCount } }",
            json!({"p": [broad, small]}),
        )
        .await;
    assert_eq!(filtered["leads"]["totalCount"], 0);
}
