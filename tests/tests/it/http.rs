//! GraphQL over HTTP, health, readiness, metrics and request ids.

use crewtime_tests::{error_code, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let url = format!("{}/graphql", app.base);
    let resp = app
        .client
        .get(&url)
        .query(&[("query", "{ me { email } }")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["data"]["me"]["email"].is_string(), "{body}");

    let before = app.store().statement_count();
    let resp = app
        .client
        .get(&url)
        .query(&[("query", "mutation { createProduction(input: {name: \"G\", timezone: \"UTC\", currency: \"USD\"}) { production { id } } }")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.headers()["allow"].to_str().unwrap().contains("POST"));
    assert_eq!(
        app.store().statement_count(),
        before,
        "a refused GET mutation ran SQL"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn graphql_response_media_type_is_negotiated() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.base);
    let resp = app
        .client
        .post(&url)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ me { email " }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["content-type"],
        "application/graphql-response+json"
    );
    let resp = app
        .client
        .post(&url)
        .json(&json!({ "query": "{ me { email " }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let app = TestApp::spawn().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let generated = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["x-request-id"], "client-chosen-42");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
    assert_eq!(body["migrations"], "current");
    let expected_redis = if crewtime_tests::redis_url().is_some() {
        "up"
    } else {
        "not_configured"
    };
    assert_eq!(body["redis"], expected_redis);

    // A header that could smuggle into logs is replaced, not echoed.
    let odd = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(odd.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_pending() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM crewtime.seaql_migrations")
        .await
        .unwrap();
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["migrations"], "pending");
}

#[tokio::test]
async fn metrics_cover_http_graphql_and_the_pool() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    app.gql_ok(Some(&token), "query WhoAmI { me { email } }", json!({}))
        .await;
    app.gql(
        Some(&token),
        "query Broken { production(id: \"nope\") { name } }",
        json!({}),
    )
    .await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "crewtime_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"}",
        "crewtime_graphql_operations_total{operation=\"WhoAmI\",outcome=\"ok\"}",
        "crewtime_graphql_operations_total{operation=\"Broken\",outcome=\"error\"}",
        "crewtime_http_request_duration_seconds_bucket{route=\"/graphql\",le=\"0.005\"}",
        "crewtime_graphql_operation_duration_seconds_bucket",
        "crewtime_db_pool_connections{state=\"in_use\"}",
        "crewtime_db_statements_total",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[tokio::test]
async fn clients_cannot_mint_metric_labels() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ me { email } }", "operationName": "Invented123" }))
        .send()
        .await
        .unwrap();
    let _ = resp.text().await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("Invented123"),
        "a client-chosen name became a label"
    );
}
