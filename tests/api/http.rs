//! GraphQL over HTTP and authentication at the edge (docs/architecture.md, docs/roles.md, §8).

use crate::helpers::TestApp;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut base = json!({"sub": "eve@example.com", "role": "ADMIN", "exp": now + 600});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

fn sign(secret: &str, alg: Algorithm, claims: &Value) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn status_and_code(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["errors"][0]["extensions"]["code"].clone())
}

#[tokio::test]
async fn every_bad_token_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let none = {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims(json!({})))
        )
    };
    let cases = [
        ("alg none", none),
        (
            "wrong algorithm",
            sign(&app.secret, Algorithm::HS512, &claims(json!({}))),
        ),
        (
            "bad signature",
            sign(
                "another-secret-another-secret-0123456789",
                Algorithm::HS256,
                &claims(json!({})),
            ),
        ),
        (
            "expired",
            sign(
                &app.secret,
                Algorithm::HS256,
                &claims(json!({"exp": now - 10})),
            ),
        ),
        (
            "not yet valid",
            sign(
                &app.secret,
                Algorithm::HS256,
                &claims(json!({"nbf": now + 600})),
            ),
        ),
        (
            "unknown role",
            sign(
                &app.secret,
                Algorithm::HS256,
                &claims(json!({"role": "ROOT"})),
            ),
        ),
        (
            "no sub",
            sign(&app.secret, Algorithm::HS256, &claims(json!({"sub": null}))),
        ),
        (
            "no exp",
            sign(&app.secret, Algorithm::HS256, &claims(json!({"exp": null}))),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (name, token) in cases {
        let (status, code) = status_and_code(&app, &token).await;
        assert_eq!(
            (status, code.as_str()),
            (401, Some("UNAUTHENTICATED")),
            "{name}"
        );
    }
    let good = sign(&app.secret, Algorithm::HS256, &claims(json!({})));
    assert_eq!(status_and_code(&app, &good).await.0, 200);
}

#[tokio::test]
async fn no_token_means_no_introspection_either() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(&app.url)
        .json(&json!({"query": "{ __schema { types { name } } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(body.get("data").is_none());
}

#[tokio::test]
async fn issuer_and_audience_are_required_when_configured() {
    let app = TestApp::spawn_with(|c| {
        c.jwt_issuer = Some("https://idp.example.com".into());
        c.jwt_audience = Some("leadgraph".into());
    })
    .await;
    let iss = "https://idp.example.com";
    let cases = [
        ("missing iss", json!({"aud": "leadgraph"}), 401),
        ("missing aud", json!({"iss": iss}), 401),
        (
            "wrong iss",
            json!({"iss": "https://evil.example.com", "aud": "leadgraph"}),
            401,
        ),
        ("wrong aud", json!({"iss": iss, "aud": "other"}), 401),
        ("both right", json!({"iss": iss, "aud": "leadgraph"}), 200),
    ];
    for (name, extra, expected) in cases {
        let token = sign(&app.secret, Algorithm::HS256, &claims(extra));
        assert_eq!(status_and_code(&app, &token).await.0, expected, "{name}");
    }
}

#[tokio::test]
async fn the_first_request_creates_the_user_from_the_claims() {
    let app = TestApp::spawn().await;
    let token = sign(
        &app.secret,
        Algorithm::HS256,
        &claims(
            json!({"sub": "nina@example.com", "role": "SALES", "name": "Nina", "email": "nina@example.com"}),
        ),
    );
    let data = app
        .ok(&token, "{ me { subject name email role } }", json!({}))
        .await;
    assert_eq!(
        data["me"],
        json!({"subject": "nina@example.com", "name": "Nina", "email": "nina@example.com", "role": "SALES"})
    );
    let admin = app.tokens().admin;
    let users = app
        .ok(&admin, "{ users(role: SALES) { subject } }", json!({}))
        .await;
    assert_eq!(users["users"], json!([{"subject": "nina@example.com"}]));
}

#[tokio::test]
async fn posts_that_are_not_json_are_refused_unexecuted() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(&app.url)
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(r#"{"query":"mutation { createLead(input: {email: \"csrf@example.com\"}) { id } }"}"#)
            .send()
            .await
            .expect("request");
        // multipart/form-data is an upload (tests/api/import.rs): this body
        // is no such form, so 400 — and never executed either way.
        let expected = if content_type.starts_with("multipart/") {
            400
        } else {
            415
        };
        assert_eq!(response.status().as_u16(), expected, "{content_type}");
    }
    let leads = app.ok(&admin, "{ leads { totalCount } }", json!({})).await;
    assert_eq!(leads["leads"]["totalCount"], 0);
}

#[tokio::test]
async fn get_runs_queries_only() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    let get = |query: &str| {
        app.client
            .get(&app.url)
            .bearer_auth(&admin)
            .query(&[("query", query)])
            .send()
    };
    let response = get("{ me { subject } }").await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["me"]["subject"], "admin@example.com");

    let response = get(r#"mutation { createLead(input: {email: "get@example.com"}) { id } }"#)
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let leads = app.ok(&admin, "{ leads { totalCount } }", json!({})).await;
    assert_eq!(leads["leads"]["totalCount"], 0);
}

#[tokio::test]
async fn graphiql_for_browsers() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(&app.url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.expect("text").contains("graphiql"));
}

#[tokio::test]
async fn request_errors_are_4xx_in_the_graphql_response_media_type() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    let post = |accept: &'static str, body: String| {
        app.client
            .post(&app.url)
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(body)
            .send()
    };
    let gr = "application/graphql-response+json";
    let response = post(gr, r#"{"query": "{ me { nope } }"}"#.into())
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with(gr)
    );
    let body: Value = response.json().await.expect("json");
    assert!(body.get("data").is_none());
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let response = post(gr, r#"{"query": "{ me { "#.into())
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let response = post(gr, "{not json".into()).await.expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let response = post(gr, r#"{"query": 42}"#.into()).await.expect("request");
    assert_eq!(response.status().as_u16(), 400);

    // application/json: a validation failure is still a GraphQL response (200).
    let response = post("application/json", r#"{"query": "{ me { nope } }"}"#.into())
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
    // An unacceptable media type.
    let response = post("text/csv", r#"{"query": "{ me { id } }"}"#.into())
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 406);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    let big = format!(
        r#"{{"query": "{{ me {{ id }} }}", "variables": {{"x": "{}"}}}}"#,
        "a".repeat(1_100_000)
    );
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn batches_are_bounded() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    let op = json!({"query": "{ me { subject } }"});
    let post = |n: usize| {
        app.client
            .post(&app.url)
            .bearer_auth(&admin)
            .json(&Value::Array(vec![op.clone(); n]))
            .send()
    };
    let response = post(3).await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body.as_array().map(Vec::len), Some(3));
    let response = post(11).await.expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
}

#[tokio::test]
async fn depth_complexity_and_alias_floods_are_limited() {
    let app = TestApp::spawn_with(|c| c.max_depth = 5).await;
    let admin = app.tokens().admin;
    let deep =
        "{ leads { edges { node { interactions { edges { node { lead { email } } } } } } } }";
    assert_eq!(
        app.error_code(&admin, deep, json!({})).await,
        "LIMIT_EXCEEDED"
    );
    let flood = format!(
        "{{ {} }}",
        (0..3000)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(
        app.error_code(&admin, &flood, json!({})).await,
        "LIMIT_EXCEEDED"
    );
    let wide = "{ leads(first: 100) { edges { node { interactions(first: 100) { edges { node { id kind occurredAt } } } } } } }";
    assert_eq!(
        app.error_code(&admin, wide, json!({})).await,
        "LIMIT_EXCEEDED"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let base = format!("http://{}", app.addr);
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let admin = app.tokens().admin;
    app.ok(&admin, "{ me { id } }", json!({})).await;
    let metrics = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("request");
    assert!(
        metrics
            .text()
            .await
            .expect("text")
            .contains("leadgraph_graphql_requests_total")
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn public_keys_verify_rs256_es256_and_eddsa() {
    let cases = [
        (
            "rsa",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem as fn(&[u8]) -> _,
        ),
        ("ec", Algorithm::ES256, EncodingKey::from_ec_pem),
        ("ed", Algorithm::EdDSA, EncodingKey::from_ed_pem),
    ];
    for (name, alg, encoding) in cases {
        let public = fixture(&format!("{name}-public.pem"));
        let app = TestApp::spawn_with(|c| c.jwt_public_key_file = Some(public.clone())).await;
        let private = std::fs::read(fixture(&format!("{name}-private.pem"))).expect("private key");
        let key = encoding(&private).expect("encoding key");
        let token = encode(&Header::new(alg), &claims(json!({})), &key).expect("sign");
        assert_eq!(status_and_code(&app, &token).await.0, 200, "{name}");
        // The public key used as an HMAC secret (algorithm confusion) is refused.
        let pem = std::fs::read_to_string(&public).expect("public key");
        let forged = sign(&pem, Algorithm::HS256, &claims(json!({})));
        assert_eq!(
            status_and_code(&app, &forged).await.0,
            401,
            "{name}: HS256 with the public key"
        );
        // A token of another key family is refused.
        let other = sign(&app.secret, Algorithm::HS256, &claims(json!({})));
        assert_eq!(
            status_and_code(&app, &other).await.0,
            401,
            "{name}: HS256 token"
        );
    }
}

#[tokio::test]
async fn internal_errors_are_masked_with_a_request_id() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let t = app.tokens();
    let id = app.create_lead(&t.admin, "boom@example.com").await;
    app.state
        .db
        .write
        .execute_unprepared("DROP TABLE stage_change")
        .await
        .expect("drop");
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(&t.admin)
        .json(&json!({"query": "query($id: ID!) { lead(id: $id) { stageHistory { to } } }", "variables": {"id": id}}))
        .send()
        .await
        .expect("request");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("header")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "INTERNAL_SERVER_ERROR");
    assert_eq!(error["extensions"]["requestId"], request_id.as_str());
    let message = error["message"].as_str().expect("message");
    assert_eq!(message, format!("internal error (request id {request_id})"));
    assert!(
        !body.to_string().to_lowercase().contains("stage_change"),
        "no SQL detail leaks: {body}"
    );
}

#[tokio::test]
async fn malformed_input_never_stops_the_server() {
    let app = TestApp::spawn().await;
    let admin = app.tokens().admin;
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        nested.into_bytes(),
        br#"{"query": "{ me { id } }", "variables": [1]}"#.to_vec(),
        br#"{"query": "{ me { id } }", "operationName": 5}"#.to_vec(),
        br#"{"query": "query($n: Int) { leads(first: $n) { totalCount } }", "variables": {"n": 99999999999999}}"#.to_vec(),
        br#"{"query": "{ leads(first: 10, after: \"\u0000\") { totalCount } }"}"#.to_vec(),
        br#"{"query": "mutation { createLead(input: {email: \"\u0000@x.com\"}) { id } }"}"#.to_vec(),
        format!(r#"{{"query": "{{ {} }}"}}"#, "me { id } ".repeat(5000)).into_bytes(),
        format!(r#"{{"query": "{}"}}"#, "{".repeat(10000)).into_bytes(),
    ];
    for body in bodies {
        let response = app
            .client
            .post(&app.url)
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the server answers");
        assert!(
            response.status().as_u16() < 500,
            "{} for {:?}",
            response.status(),
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    app.ok(&admin, "{ me { id } }", json!({})).await;
}
