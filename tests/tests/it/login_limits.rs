//! Sign-in limits: failures per account, attempts per client address, and the proxy setting.
//! Over a limit, `login` answers RATE_LIMITED even with the right password.

use crewtime_tests::{error_code, TestApp, PASSWORD};
use serde_json::{json, Value};

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }";

async fn login(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> Value {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }));
    if let Some(hops) = forwarded_for {
        req = req.header("x-forwarded-for", hops);
    }
    req.send().await.unwrap().json().await.unwrap()
}

fn signed_in(body: &Value) -> bool {
    body["data"]["login"]["accessToken"].is_string()
}

#[tokio::test]
async fn failures_per_account_are_limited_alike_for_unknown_emails() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_LOGIN_MAX_FAILURES_PER_ACCOUNT".into(), "3".into());
        env.insert(
            "CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS".into(),
            "100".into(),
        );
    })
    .await;
    app.create_user("ann@example.com", false).await;
    app.create_user("bob@example.com", false).await;
    let mut refusals = Vec::new();
    for email in ["ann@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            let body = login(&app, email, "wrong password", None).await;
            assert_eq!(
                error_code(&body),
                Some("UNAUTHENTICATED"),
                "{email}: {body}"
            );
        }
        // The fourth try is refused before the password is looked at: even the right one.
        let body = login(&app, email, PASSWORD, None).await;
        assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{email}: {body}");
        assert_eq!(body["data"], Value::Null);
        refusals.push(body["errors"][0]["message"].clone());
    }
    // Whether the account exists does not show in the answer.
    assert_eq!(refusals[0], refusals[1]);
    // The email is counted however it is written.
    let body = login(&app, " ANN@example.com ", PASSWORD, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Other accounts from the same address are unaffected, and a success clears the count.
    for _ in 0..2 {
        let body = login(&app, "bob@example.com", "wrong password", None).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    }
    assert!(signed_in(
        &login(&app, "bob@example.com", PASSWORD, None).await
    ));
    for _ in 0..3 {
        let body = login(&app, "bob@example.com", "wrong password", None).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    }
    let body = login(&app, "bob@example.com", PASSWORD, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn attempts_per_address_are_limited_whatever_the_outcome() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS".into(), "4".into());
    })
    .await;
    for name in ["a", "b", "c", "d"] {
        app.create_user(&format!("{name}@example.com"), false).await;
    }
    assert!(signed_in(
        &login(&app, "a@example.com", PASSWORD, None).await
    ));
    assert!(signed_in(
        &login(&app, "b@example.com", PASSWORD, None).await
    ));
    let body = login(&app, "c@example.com", "wrong password", None).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    assert!(signed_in(
        &login(&app, "c@example.com", PASSWORD, None).await
    ));
    // A fifth attempt from this address, for an account with no failures, with its password.
    let body = login(&app, "d@example.com", PASSWORD, None).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Without CREWTIME_TRUST_PROXY a forwarded-for header changes nothing.
    let body = login(&app, "d@example.com", PASSWORD, Some("198.51.100.9")).await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_hop_it_appended_is_the_address() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS".into(), "2".into());
        env.insert("CREWTIME_TRUST_PROXY".into(), "true".into());
    })
    .await;
    app.create_user("ann@example.com", false).await;
    // The client forged the first entries; the proxy appended the real address last.
    for forged in ["1.1.1.1", "2.2.2.2"] {
        let hops = format!("{forged}, 203.0.113.7");
        assert!(signed_in(
            &login(&app, "ann@example.com", PASSWORD, Some(&hops)).await
        ));
    }
    let body = login(
        &app,
        "ann@example.com",
        PASSWORD,
        Some("3.3.3.3, 203.0.113.7"),
    )
    .await;
    assert_eq!(error_code(&body), Some("RATE_LIMITED"), "{body}");
    // Another client behind the same proxy is counted on its own.
    assert!(signed_in(
        &login(&app, "ann@example.com", PASSWORD, Some("203.0.113.8")).await
    ));
}
