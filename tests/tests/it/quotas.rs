//! Quotas and caps: a production over its request or cost quota is refused with RATE_LIMITED
//! (and a retry hint) while another production goes on; a caller over their own quota is
//! refused before anything runs; a socket holds at most so many subscriptions; and
//! `CREWTIME_PROTECTIONS=off` lifts it all.

use std::time::Duration;

use crewtime_tests::{error_code, TestApp};
use serde_json::{json, Value};

use crate::live::Client;

const PRODUCTION: &str = "query($p: ID!) { production(id: $p) { name } }";
const CREATE_TOKEN: &str = "mutation($p: ID!, $s: [ApiScope!]!) { createApiToken(input: {productionId: $p, name: \"Sync\", scopes: $s}) { token } }";

async fn api_token(app: &TestApp, admin: &str, production: &str, scopes: &[&str]) -> String {
    app.gql_ok(
        Some(admin),
        CREATE_TOKEN,
        json!({ "p": production, "s": scopes }),
    )
    .await["createApiToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Sends `query` until it is refused (at most `tries` times); returns the refusal.
async fn until_refused(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    tries: usize,
) -> Value {
    for _ in 0..tries {
        let body = app.gql(Some(token), query, variables.clone()).await;
        if body.get("errors").is_some() {
            return body;
        }
    }
    panic!("{tries} operations were all admitted");
}

fn assert_rate_limited(body: &Value, what: &str) {
    assert_eq!(error_code(body), Some("RATE_LIMITED"), "{body}");
    let ext = &body["errors"][0]["extensions"];
    let retry = ext["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=60).contains(&retry), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "{body}");
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_production_over_its_request_quota_is_refused_and_another_is_not() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_QUOTA_REQUESTS_PER_SEC".into(), "1".into());
        env.insert("CREWTIME_QUOTA_BURST".into(), "8".into());
    })
    .await;
    let (admin, a, _) = app.production_with_department().await;
    let b = app.production(&admin, "Sequel").await;
    let token_a = api_token(&app, &admin, &a, &["READ_TIME"]).await;
    let token_b = api_token(&app, &admin, &b, &["READ_TIME"]).await;

    let refused = until_refused(&app, &token_a, PRODUCTION, json!({ "p": a }), 30).await;
    assert_rate_limited(&refused, "request rate");
    // The production's quota is everyone's in it: its admin is refused there too...
    let admin_on_a = app.gql(Some(&admin), PRODUCTION, json!({ "p": a })).await;
    assert_eq!(
        error_code(&admin_on_a),
        Some("RATE_LIMITED"),
        "{admin_on_a}"
    );
    // ...and production B on the same node is not affected, for its token or a person.
    let on_b = app
        .gql_ok(Some(&token_b), PRODUCTION, json!({ "p": b }))
        .await;
    assert_eq!(on_b["production"]["name"], "Sequel");
    app.gql_ok(Some(&admin), PRODUCTION, json!({ "p": b }))
        .await;
    // The bucket refills: after the hinted wait, A is served again.
    let wait = refused["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    app.gql_ok(Some(&token_a), PRODUCTION, json!({ "p": a }))
        .await;
    let m = metrics(&app).await;
    assert!(
        m.contains("crewtime_quota_refusals_total{kind=\"production_requests\"}"),
        "{m}"
    );
}

#[tokio::test]
async fn a_costly_query_spends_the_cost_quota_and_a_cheap_one_still_fits() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_QUOTA_COST_PER_SEC".into(), "100".into());
        env.insert("CREWTIME_QUOTA_COST_BURST".into(), "2000".into());
    })
    .await;
    let (admin, production, _) = app.production_with_department().await;
    // Complexity 1 + 100 × (1 + (1 + 2)) + 1 = 402 per operation.
    let costly =
        "query($p: ID!) { production(id: $p) { crew(first: 100) { edges { node { id name } } } } }";
    let mut admitted = 0;
    let refused = loop {
        let body = app
            .gql(Some(&admin), costly, json!({ "p": production }))
            .await;
        if body.get("errors").is_some() {
            break body;
        }
        admitted += 1;
        assert!(
            admitted <= 6,
            "a 2,000-unit burst admitted {admitted} × 402 units"
        );
    };
    assert!(admitted >= 3, "only {admitted} admitted: {refused}");
    assert_rate_limited(&refused, "cost");
    // The request-rate quota is far from spent: a cheap query fits once a few units refill.
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.gql_ok(Some(&admin), PRODUCTION, json!({ "p": production }))
        .await;
    let m = metrics(&app).await;
    assert!(
        m.contains("crewtime_quota_refusals_total{kind=\"production_cost\"}"),
        "{m}"
    );
}

#[tokio::test]
async fn a_mutation_refused_by_a_quota_changes_nothing() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_QUOTA_REQUESTS_PER_SEC".into(), "1".into());
        env.insert("CREWTIME_QUOTA_BURST".into(), "8".into());
    })
    .await;
    let (admin, production, dept) = app.production_with_department().await;
    let crew = app.crew(&admin, &dept, "Pat").await;
    until_refused(&app, &admin, PRODUCTION, json!({ "p": production }), 30).await;

    let before = app.store().statement_count();
    let refused = app
        .punch(&admin, &crew, "CALL", "2026-03-02T14:00:00Z")
        .await;
    assert_rate_limited(&refused, "request rate");
    // Only the membership read that tells whose quota to charge ran; nothing was written.
    assert_eq!(app.store().statement_count() - before, 1, "{refused}");
    assert_eq!(
        app.count_in_production("SELECT count(*) FROM {schema}.punches")
            .await,
        0
    );
}

#[tokio::test]
async fn a_caller_over_their_own_quota_is_refused_before_any_sql() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC".into(), "1".into());
        env.insert("CREWTIME_QUOTA_CALLER_BURST".into(), "10".into());
    })
    .await;
    let (admin, production, dept) = app.production_with_department().await;
    let crew = app.crew(&admin, &dept, "Pat").await;
    let coordinator = app.member(&admin, &production, "COORDINATOR", None).await;
    until_refused(&app, &admin, "{ me { email } }", json!({}), 30).await;

    let before = app.store().statement_count();
    let refused = app
        .punch(&admin, &crew, "CALL", "2026-03-02T14:00:00Z")
        .await;
    assert_rate_limited(&refused, "your request rate");
    assert_eq!(
        app.store().statement_count(),
        before,
        "SQL ran for a refused operation: {refused}"
    );
    // Another person in the same production goes on.
    let punched = app
        .punch(&coordinator, &crew, "CALL", "2026-03-02T14:00:00Z")
        .await;
    assert!(punched.get("errors").is_none(), "{punched}");
    assert_eq!(
        app.count_in_production("SELECT count(*) FROM {schema}.punches")
            .await,
        1
    );
    let m = metrics(&app).await;
    assert!(
        m.contains("crewtime_quota_refusals_total{kind=\"caller_requests\"}"),
        "{m}"
    );
}

#[tokio::test]
async fn a_socket_holds_at_most_its_cap_of_subscriptions() {
    let app = TestApp::spawn_with(|env| {
        env.insert(
            "CREWTIME_MAX_SUBSCRIPTIONS_PER_CONNECTION".into(),
            "2".into(),
        );
    })
    .await;
    let (admin, production, _) = app.production_with_department().await;
    let vars = json!({ "p": production, "d": "2026-03-02" });
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut c = Client::connect(&app, protocol).await;
        c.init(Some(&admin)).await.expect("ack");
        c.subscribe("1", vars.clone()).await;
        assert_eq!(c.live().await["kind"], "SNAPSHOT", "{protocol}");
        c.subscribe("2", vars.clone()).await;
        assert_eq!(c.live().await["kind"], "SNAPSHOT", "{protocol}");
        // The third gets an error for its own id, then completes; the socket stays open.
        c.subscribe("3", vars.clone()).await;
        let refused = message(&mut c).await;
        assert_eq!(refused["id"], "3", "{protocol}: {refused}");
        assert_eq!(
            error_code(&refused["payload"]),
            Some("TOO_MANY_SUBSCRIPTIONS"),
            "{protocol}: {refused}"
        );
        let done = message(&mut c).await;
        assert_eq!(
            (done["id"].as_str(), done["type"].as_str()),
            (Some("3"), Some("complete")),
            "{protocol}: {done}"
        );
        // Completing one frees its place (the server confirms with `complete`).
        let stop = if protocol == "graphql-ws" {
            "stop"
        } else {
            "complete"
        };
        c.send(json!({ "id": "1", "type": stop })).await;
        let done = message(&mut c).await;
        assert_eq!(
            (done["id"].as_str(), done["type"].as_str()),
            (Some("1"), Some("complete")),
            "{protocol}: {done}"
        );
        c.subscribe("4", vars.clone()).await;
        assert_eq!(c.live().await["kind"], "SNAPSHOT", "{protocol}");
    }
    let m = metrics(&app).await;
    assert!(
        m.contains("crewtime_quota_refusals_total{kind=\"subscriptions\"}"),
        "{m}"
    );
}

/// The next message other than a keep-alive.
async fn message(c: &mut Client) -> Value {
    loop {
        let m = c.next().await.expect("an open socket");
        if !matches!(m["type"].as_str(), Some("ka" | "ping" | "pong")) {
            return m;
        }
    }
}

#[tokio::test]
async fn protections_off_lets_over_limit_requests_through() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_PROTECTIONS".into(), "off".into());
        // Would refuse the third operation with protections on.
        env.insert("CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC".into(), "1".into());
        env.insert("CREWTIME_QUOTA_CALLER_BURST".into(), "2".into());
    })
    .await;
    let token = app.admin().await;
    let aliases: Vec<String> = (0..40).map(|i| format!("a{i}: me {{ email }}")).collect();
    let many = app
        .gql(
            Some(&token),
            &format!("{{ {} }}", aliases.join(" ")),
            json!({}),
        )
        .await;
    assert!(many.get("errors").is_none(), "{many}");
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let deep = app.gql(Some(&token), deep, json!({})).await;
    assert!(deep.get("errors").is_none(), "{deep}");
    let batch = Value::Array(vec![json!({ "query": "{ me { email } }" }); 25]);
    let answers: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 25);
    assert!(answers.iter().all(|a| a.get("errors").is_none()));
}
