//! Every limit refuses with BAD_USER_INPUT before a single SQL statement runs.

use crewtime_tests::{error_code, TestApp};
use serde_json::{json, Value};

async fn refused_before_sql(app: &TestApp, token: &str, body: Value) -> Value {
    let before = app.store().statement_count();
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let json: Value = resp.json().await.unwrap();
    assert_eq!(
        app.store().statement_count(),
        before,
        "SQL ran for a refused request: {json}"
    );
    json
}

#[tokio::test]
async fn depth_over_ten_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let body = refused_before_sql(&app, &token, json!({ "query": deep })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
}

#[tokio::test]
async fn more_than_fifteen_aliases_of_one_field_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let aliases = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: me {{ email }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let body = refused_before_sql(&app, &token, json!({ "query": aliases(16) })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("aliases"));
    let ok = app.gql(Some(&token), &aliases(15), json!({})).await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

#[tokio::test]
async fn batches_over_ten_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let op = json!({ "query": "{ me { email } }" });
    let batch = |n: usize| Value::Array(vec![op.clone(); n]);
    let body = refused_before_sql(&app, &token, batch(11)).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let ten: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .json(&batch(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answers = ten.as_array().unwrap();
    assert_eq!(answers.len(), 10);
    assert!(answers.iter().all(|a| a.get("errors").is_none()), "{ten}");
}

#[tokio::test]
async fn complexity_and_page_size_are_bounded() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let heavy = "{ productions(first: 100) { edges { node { departments(first: 100) { edges { node { id name code } } } } } } }";
    let body = refused_before_sql(&app, &token, json!({ "query": heavy })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );

    let body = app
        .gql(
            Some(&token),
            "{ productions(first: 101) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let before = app.store().statement_count();
    let huge = format!(
        r#"{{"query":"{{ me {{ email }} }}","variables":{{"x":"{}"}}}}"#,
        "x".repeat(1_100_000)
    );
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    for raw in ["{not json", r#"{"query": 5}"#, ""] {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{raw}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{raw}");
    }
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "text/plain")
        .body("{ me { email } }")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(app.store().statement_count(), before);

    // Syntax errors and unknown enum values are the client's to fix.
    for q in ["{ me { email ", "mutation { grantRole(input: {productionId: \"x\", email: \"a@b.c\", role: OWNER}) { membership { role } } }"] {
        let body = app.gql(Some(&token), q, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{q}: {body}");
    }
}

#[tokio::test]
async fn limits_follow_configuration() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_MAX_ALIASES".into(), "2".into());
        env.insert("CREWTIME_MAX_BATCH".into(), "1".into());
    })
    .await;
    let token = app.admin().await;
    let body = refused_before_sql(
        &app,
        &token,
        json!({ "query": "{ a: me { email } b: me { email } c: me { email } }" }),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let op = json!({ "query": "{ me { email } }" });
    let body = refused_before_sql(&app, &token, json!([op, op])).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn production_mode_hides_introspection_and_suggestions() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_ENV".into(), "production".into());
        // Production refuses to start without a personal-data key of its own.
        env.insert(
            "CREWTIME_ENCRYPTION_KEY".into(),
            crewtime_tests::TEST_ENCRYPTION_KEY.into(),
        );
    })
    .await;
    let token = app.admin().await;
    let body = app
        .gql(Some(&token), "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection answered: {body}"
    );
    let body = app
        .gql(
            Some(&token),
            "{ __type(name: \"Production\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert!(
        body["data"]["__type"].is_null(),
        "introspection answered: {body}"
    );
    let body = app.gql(Some(&token), "{ mee { email } }", json!({})).await;
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(!msg.contains("Did you mean"), "{msg}");
    let graphiql = app
        .client
        .get(format!("{}/graphiql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 404);
}
