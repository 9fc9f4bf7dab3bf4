//! The audit trail: what is recorded, who may read it, that the database refuses to change it,
//! and that `crewtime audit verify` catches a row altered behind its back.

use std::process::Command;

use crewtime_tests::{crewtime_bin, error_code, test_env, TestApp};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};

const LOG: &str = "query($p: ID!, $e: String, $a: ID) { production(id: $p) { auditLog(entity: $e, actor: $a, first: 100) {
    edges { node { seq operation entityType actorKind actorId before after reason requestId } } } } }";

async fn entries(
    app: &TestApp,
    token: &str,
    production: &str,
    entity: Option<&str>,
    actor: Option<&str>,
) -> Vec<Value> {
    let data = app
        .gql_ok(
            Some(token),
            LOG,
            json!({ "p": production, "e": entity, "a": actor }),
        )
        .await;
    data["production"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn every_change_is_recorded_with_actor_reason_and_request_id() {
    let app = TestApp::spawn().await;
    let (admin, production, dept) = app.production_with_department().await;
    let crew = app.crew(&admin, &dept, "Vic").await;
    // A punch sent with a request id of the client's choosing.
    let body: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header("x-request-id", "phone-7-req-1")
        .json(&json!({ "query": crewtime_tests::PUNCH, "variables": { "c": crew, "k": "CALL", "at": "2026-03-02T07:00:00-08:00", "key": "k1" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let punch = body["data"]["recordPunch"]["punch"].clone();
    app.gql_ok(
        Some(&admin),
        "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-02T06:54:00-08:00\", expectedVersion: $v, reason: \"per DPR\"}) { punch { version } } }",
        json!({ "p": punch["id"], "v": punch["version"] }),
    )
    .await;
    app.gql_ok(
        Some(&admin),
        "mutation($c: ID!) { updateDeal(input: {crewMemberId: $c, expectedVersion: 1, reason: \"raise\", deal: {kind: HOURLY, rate: \"60\", effectiveFrom: \"2026-03-01\"}}) { deal { version } } }",
        json!({ "c": crew }),
    )
    .await;
    app.member(&admin, &production, "ACCOUNTANT", None).await;
    let all = entries(&app, &admin, &production, None, None).await;
    let ops: Vec<&str> = all
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "createDepartment",
            "addCrewMember",
            "recordPunch",
            "correctPunch",
            "updateDeal",
            "grantRole"
        ],
        "{all:#?}"
    );
    let record = &all[2];
    assert_eq!(record["requestId"], "phone-7-req-1");
    assert_eq!(record["actorKind"], "USER");
    assert!(record["actorId"].is_string());
    let correction = &all[3];
    assert_eq!(correction["reason"], "per DPR");
    assert_eq!(correction["before"]["at"], "2026-03-02T15:00:00Z");
    assert_eq!(correction["after"]["at"], "2026-03-02T14:54:00Z");
    // Filtered by entity (any id the API handed out) and by actor.
    let by_punch = entries(&app, &admin, &production, punch["id"].as_str(), None).await;
    assert_eq!(by_punch.len(), 2);
    let actor = record["actorId"].as_str().unwrap().to_owned();
    assert_eq!(
        entries(&app, &admin, &production, None, Some(&actor))
            .await
            .len(),
        6
    );
    // Only admins and accountants read the trail.
    let coordinator = app.member(&admin, &production, "COORDINATOR", None).await;
    let body = app
        .gql(
            Some(&coordinator),
            LOG,
            json!({ "p": production, "e": null, "a": null }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
}

#[tokio::test]
async fn the_database_refuses_to_change_history_and_verify_catches_tampering() {
    let app = TestApp::spawn().await;
    let (admin, production, dept) = app.production_with_department().await;
    for i in 0..3 {
        app.crew(&admin, &dept, &format!("Crew {i}")).await;
    }
    let db = app.db().await;
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id::text, schema_name FROM crewtime.productions",
        ))
        .await
        .unwrap()
        .unwrap();
    let id: String = row.try_get_by_index(0).unwrap();
    let schema: String = row.try_get_by_index(1).unwrap();
    for sql in [
        format!("UPDATE {schema}.audit_log SET reason = 'x'"),
        format!("DELETE FROM {schema}.audit_log"),
        format!("TRUNCATE {schema}.audit_log"),
    ] {
        let err = db
            .execute_unprepared(&sql)
            .await
            .expect_err(&sql)
            .to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let verify = || {
        Command::new(crewtime_bin())
            .args(["audit", "verify", "--production", &id])
            .env_clear()
            .envs(test_env(&app.database_url))
            .env("CREWTIME_LOG", "warn")
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "audit chain intact: 4 records"
    );
    // Someone with superuser rights bypasses the trigger and rewrites record 3.
    db.execute_unprepared(&format!(
        "SET session_replication_role = replica;
         UPDATE {schema}.audit_log SET after = '{{\"name\": \"Forged\"}}' WHERE seq = (SELECT seq FROM {schema}.audit_log ORDER BY seq OFFSET 2 LIMIT 1);
         SET session_replication_role = origin;"
    ))
    .await
    .unwrap();
    let broken = verify();
    assert_eq!(broken.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("audit chain broken at record 3")
            && stderr.contains("does not match its hash"),
        "{stderr}"
    );
    let _ = production;
}

#[tokio::test]
async fn tokens_and_reads_of_personal_data_are_on_the_record() {
    let app = TestApp::spawn().await;
    let (admin, production, dept) = app.production_with_department().await;
    let crew = app.crew(&admin, &dept, "Wyn").await;
    let accountant = app.member(&admin, &production, "ACCOUNTANT", None).await;
    app.gql_ok(
        Some(&admin),
        "mutation($c: ID!) { setPersonalData(input: {crewMemberId: $c, taxId: {kind: SSN, number: \"234567890\"}, expectedVersion: 0}) { personalData { taxIdMasked } } }",
        json!({ "c": crew }),
    )
    .await;
    app.gql_ok(
        Some(&accountant),
        "query($c: ID!) { node(id: $c) { ... on CrewMember { personalDataFull { taxId { number } } } } }",
        json!({ "c": crew }),
    )
    .await;
    let token = app
        .gql_ok(
            Some(&admin),
            "mutation($p: ID!) { createApiToken(input: {productionId: $p, name: \"payroll\", scopes: [READ_TIME]}) { apiToken { id } } }",
            json!({ "p": production }),
        )
        .await["createApiToken"]["apiToken"]["id"]
        .clone();
    app.gql_ok(
        Some(&admin),
        "mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { apiToken { revokedAt } } }",
        json!({ "t": token }),
    )
    .await;
    let all = entries(&app, &admin, &production, None, None).await;
    let ops: Vec<&str> = all
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    for op in ["readPersonalData", "createApiToken", "revokeApiToken"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let read = all
        .iter()
        .find(|e| e["operation"] == "readPersonalData")
        .unwrap();
    assert!(
        !read.to_string().contains("234567890"),
        "the record holds no number: {read}"
    );
}
