use crewtime_tests::{error_code, TestApp, PASSWORD, TEST_JWT_SECRET};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const ME: &str = "{ me { email isAdmin } }";
const LOGIN: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken refreshToken user { email } } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { accessToken refreshToken } }";

#[tokio::test]
async fn login_returns_tokens_that_sign_in() {
    let app = TestApp::spawn().await;
    app.create_user("Ann@Example.com", true).await;
    let data = app
        .gql_ok(
            None,
            LOGIN,
            json!({ "e": "ann@example.com", "p": PASSWORD }),
        )
        .await;
    let token = data["login"]["accessToken"].as_str().unwrap();
    assert!(data["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .starts_with("rt_"));
    let me = app.gql_ok(Some(token), ME, json!({})).await;
    assert_eq!(
        me["me"],
        json!({ "email": "ann@example.com", "isAdmin": true })
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_email_and_wrong_password_fail_alike() {
    let app = TestApp::spawn().await;
    app.create_user("bob@example.com", false).await;
    let wrong_pw = app
        .gql(
            None,
            LOGIN,
            json!({ "e": "bob@example.com", "p": "not the password" }),
        )
        .await;
    let wrong_email = app
        .gql(
            None,
            LOGIN,
            json!({ "e": "nobody@example.com", "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&wrong_pw), Some("UNAUTHENTICATED"));
    assert_eq!(
        wrong_pw["errors"][0]["message"],
        wrong_email["errors"][0]["message"]
    );
    assert_eq!(error_code(&wrong_email), Some("UNAUTHENTICATED"));
    assert_eq!(wrong_pw["data"], Value::Null);
}

fn claims(secs_from_now_exp: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": uuid::Uuid::now_v7(), "adm": true, "iss": "crewtime", "aud": "crewtime-api",
        "iat": now, "nbf": now - 10, "exp": now + secs_from_now_exp,
    })
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let app = TestApp::spawn().await;
    let good = app.admin().await;
    let key = EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes());
    let expired = encode(&Header::default(), &claims(-3600), &key).unwrap();
    let wrong_key = encode(
        &Header::default(),
        &claims(600),
        &EncodingKey::from_secret(b"another-secret-another-secret-another-secret"),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(600).to_string())
    );
    // A well-signed token for someone else's audience.
    let mut foreign = claims(600);
    foreign["aud"] = json!("another-service");
    let wrong_audience = encode(&Header::default(), &foreign, &key).unwrap();
    for (what, token) in [
        ("expired", expired.as_str()),
        ("garbage", "not-a-jwt"),
        ("wrong key", wrong_key.as_str()),
        ("alg none", alg_none.as_str()),
        ("wrong audience", wrong_audience.as_str()),
    ] {
        let body = app.gql(Some(token), ME, json!({})).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{what}: {body}");
    }
    let body = app.gql(None, ME, json!({})).await;
    assert_eq!(
        error_code(&body),
        Some("UNAUTHENTICATED"),
        "no token: {body}"
    );
    // The good token still works, so the failures above are the tokens' fault.
    app.gql_ok(Some(&good), ME, json!({})).await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.create_user("cat@example.com", false).await;
    let first = app
        .gql_ok(
            None,
            LOGIN,
            json!({ "e": "cat@example.com", "p": PASSWORD }),
        )
        .await["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.gql_ok(None, REFRESH, json!({ "t": first })).await;
    let second_refresh = second["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = second["refreshToken"]["accessToken"].as_str().unwrap();
    app.gql_ok(Some(access), ME, json!({})).await;
    assert_ne!(first, second_refresh);

    // Replaying the spent token fails and takes its successor down with it.
    let replay = app.gql(None, REFRESH, json!({ "t": first })).await;
    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"));
    let after = app.gql(None, REFRESH, json!({ "t": second_refresh })).await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"));
    let garbage = app.gql(None, REFRESH, json!({ "t": "rt_nope" })).await;
    assert_eq!(error_code(&garbage), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn only_studio_admins_create_productions() {
    let app = TestApp::spawn().await;
    app.create_user("dan@example.com", false).await;
    let token = app.login("dan@example.com").await;
    let body = app
        .gql(
            Some(&token),
            r#"mutation { createProduction(input: {name: "X", timezone: "UTC", currency: "USD"}) { production { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    let count = app
        .gql_ok(
            Some(&token),
            "{ productions { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(count["productions"]["edges"], json!([]));
}
