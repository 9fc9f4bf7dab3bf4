//! The `crewtime` binary itself: schema export, migrate, user creation, configuration errors and
//! graceful shutdown.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crewtime_tests::{
    crewtime_bin, fresh_database, repo_root, test_env, TestApp, PASSWORD, TEST_ENCRYPTION_KEY,
};
use serde_json::json;

fn crewtime(
    env: &std::collections::HashMap<String, String>,
    args: &[&str],
) -> std::process::Output {
    Command::new(crewtime_bin())
        .args(args)
        .env_clear()
        .envs(env)
        .env("CREWTIME_LOG", "warn")
        .output()
        .expect("crewtime runs")
}

#[test]
fn schema_graphql_matches_the_code() {
    let committed =
        std::fs::read_to_string(repo_root().join("schema.graphql")).expect("schema.graphql");
    let generated = crewtime_api::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `make schema` and commit it"
    );
    let out = Command::new(crewtime_bin()).arg("schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let url = fresh_database().await;
    let env = test_env(&url);
    let first = crewtime(&env, &["migrate"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = String::from_utf8(first.stdout).unwrap();
    assert!(
        first.contains("control migrations applied") && !first.starts_with("migrated: 0"),
        "{first}"
    );

    // A production's schema is migrated too, and a second run changes nothing anywhere.
    let app_env = env.clone();
    let config = crewtime_server::Config::from_map(&app_env).unwrap();
    let server = crewtime_server::Server::build(config).await.unwrap();
    let owner = server
        .store()
        .create_user("m@example.com", PASSWORD, true)
        .await
        .unwrap();
    let new = crewtime_domain::production::NewProduction::parse("M", "UTC", "USD").unwrap();
    server
        .store()
        .create_production(owner.id, &new, None)
        .await
        .unwrap();

    let second = crewtime(&env, &["migrate"]);
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8(second.stdout).unwrap().trim(),
        "migrated: 0 control migrations applied; 1 production schemas checked, 0 migrations applied"
    );
    let report = server.store().migrate().await.unwrap();
    assert!(report.is_noop(), "{report:?}");
}

#[tokio::test]
async fn a_user_created_from_the_command_line_can_sign_in() {
    let app = TestApp::spawn().await;
    let mut child = Command::new(crewtime_bin())
        .args(["user", "create", "--email", "Ops@Example.com", "--admin"])
        .env_clear()
        .envs(test_env(&app.database_url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = app.login("ops@example.com").await;
    let me = app
        .gql_ok(Some(&token), "{ me { isAdmin } }", json!({}))
        .await;
    assert_eq!(me["me"]["isAdmin"], true);
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    for (name, value) in [
        ("CREWTIME_BIND", "not-an-address"),
        ("CREWTIME_DATABASE_URL", ""),
        ("CREWTIME_MAX_DEPTH", "ten"),
        ("CREWTIME_QUOTA_REQUESTS_PER_SEC", "0"),
        ("CREWTIME_QUOTA_BURST", "lots"),
        ("CREWTIME_QUOTA_COST_PER_SEC", "-5"),
        ("CREWTIME_QUOTA_COST_BURST", "10"),
        ("CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC", "1e3"),
        ("CREWTIME_MAX_SUBSCRIPTIONS_PER_CONNECTION", "0"),
        ("CREWTIME_PROTECTIONS", "disabled"),
    ] {
        let mut env = test_env("postgres://postgres@127.0.0.1:1/none");
        env.insert(name.into(), value.into());
        let out = crewtime(&env, &["serve"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[test]
fn protections_off_is_refused_in_production() {
    let mut env = test_env("postgres://postgres@127.0.0.1:1/none");
    env.insert("CREWTIME_ENV".into(), "production".into());
    env.insert("CREWTIME_ENCRYPTION_KEY".into(), TEST_ENCRYPTION_KEY.into());
    env.insert("CREWTIME_PROTECTIONS".into(), "off".into());
    let out = crewtime(&env, &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CREWTIME_PROTECTIONS") && stderr.contains("production"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_answers_then_stops_cleanly_on_sigterm() {
    let url = fresh_database().await;
    let env = test_env(&url);
    assert!(crewtime(&env, &["migrate"]).status.success());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(crewtime_bin())
        .arg("serve")
        .env_clear()
        .envs(&env)
        .env("CREWTIME_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            up = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server never answered");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = exited.expect("server exits after SIGTERM");
    assert!(exited.success(), "{exited:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    // JSON logs, one object a line, with the request id on request lines.
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    assert!(logs.contains("\"request_id\""), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
}

#[tokio::test]
async fn the_demo_seed_is_complete_and_repeatable() {
    let url = fresh_database().await;
    let mut env = test_env(&url);
    env.insert("CREWTIME_DEMO_EMAIL".into(), "demo@example.com".into());
    env.insert("CREWTIME_DEMO_PASSWORD".into(), "demo-password-1".into());
    assert!(crewtime(&env, &["migrate"]).status.success());
    for _ in 0..2 {
        let out = crewtime(&env, &["demo", "seed"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    use sea_orm::ConnectionTrait;
    let schema: String = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT schema_name FROM crewtime.productions",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    for (table, expected) in [
        ("departments", 5i64),
        ("crew_members", 10),
        ("punches", 200),
        ("work_days", 50),
    ] {
        let n: i64 = db
            .query_one(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT count(*) FROM {schema}.{table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert_eq!(n, expected, "{table}");
    }
}
