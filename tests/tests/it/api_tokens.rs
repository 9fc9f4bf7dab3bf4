//! Integrator API tokens: shown once and stored hashed, one production, scopes and nothing
//! more, revocation, expiry, last use, and only a production's admins manage them.

use crewtime_tests::{error_code, TestApp};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

const CREATE: &str = "mutation($p: ID!, $n: String!, $s: [ApiScope!]!, $e: DateTime) { createApiToken(input: {productionId: $p, name: $n, scopes: $s, expiresAt: $e}) { token apiToken { id name scopes expiresAt createdAt lastUsedAt revokedAt } } }";
const LIST: &str = "query($p: ID!) { production(id: $p) { apiTokens { edges { node { id name scopes lastUsedAt revokedAt } } } } }";
const REVOKE: &str =
    "mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { apiToken { id revokedAt } } }";
const PRODUCTION: &str = "query($p: ID!) { production(id: $p) { name } }";

/// Creates a token as `admin`; returns (token, its id).
async fn api_token(
    app: &TestApp,
    admin: &str,
    production: &str,
    scopes: &[&str],
) -> (String, String) {
    let data = app
        .gql_ok(
            Some(admin),
            CREATE,
            json!({ "p": production, "n": "Integration", "s": scopes, "e": null }),
        )
        .await;
    let created = &data["createApiToken"];
    (
        created["token"].as_str().expect("token").to_owned(),
        created["apiToken"]["id"].as_str().expect("id").to_owned(),
    )
}

async fn grant(app: &TestApp, admin: &str, production: &str, email: &str, role: &str) {
    app.create_user(email, false).await;
    app.gql_ok(
        Some(admin),
        "mutation($p: ID!, $e: String!, $r: Role!) { grantRole(input: {productionId: $p, email: $e, role: $r}) { membership { role } } }",
        json!({ "p": production, "e": email, "r": role }),
    )
    .await;
}

#[tokio::test]
async fn a_token_is_shown_once_and_stored_only_as_a_hash() {
    let app = TestApp::spawn().await;
    let (admin, production, _) = app.production_with_department().await;
    let data = app
        .gql_ok(
            Some(&admin),
            CREATE,
            json!({ "p": production, "n": " Payroll sync ", "s": ["READ_PAY", "READ_TIME", "READ_PAY"], "e": "2030-01-01T00:00:00Z" }),
        )
        .await;
    let created = &data["createApiToken"];
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("ct_") && token.len() == 46, "{token}");
    assert_eq!(created["apiToken"]["name"], "Payroll sync");
    assert_eq!(
        created["apiToken"]["scopes"],
        json!(["READ_TIME", "READ_PAY"])
    );
    assert_eq!(
        created["apiToken"]["expiresAt"],
        "2030-01-01T00:00:00+00:00"
    );
    assert_eq!(created["apiToken"]["lastUsedAt"], Value::Null);
    assert_eq!(created["apiToken"]["revokedAt"], Value::Null);

    // The list has no field that could show the secret, and the secret is in no column.
    let list = app
        .gql_ok(Some(&admin), LIST, json!({ "p": production }))
        .await;
    let edges = list["production"]["apiTokens"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    assert!(!list.to_string().contains(token));
    let db = app.db().await;
    let secret = token.trim_start_matches("ct_");
    let row = db
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))), \
                    count(*) FILTER (WHERE strpos(row_to_json(t)::text, $2) > 0), \
                    count(*) \
             FROM crewtime.api_tokens t",
            [token.into(), secret.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let (hashed, plain, all): (i64, i64, i64) = (
        row.try_get_by_index(0).unwrap(),
        row.try_get_by_index(1).unwrap(),
        row.try_get_by_index(2).unwrap(),
    );
    assert_eq!((hashed, plain, all), (1, 0, 1));

    // And the shown token works.
    let body = app
        .gql_ok(Some(token), PRODUCTION, json!({ "p": production }))
        .await;
    assert_eq!(body["production"]["name"], "Feature");

    // Bad requests name the field and create nothing.
    for (vars, field) in [
        (
            json!({ "p": production, "n": "x", "s": [], "e": null }),
            "scopes",
        ),
        (
            json!({ "p": production, "n": "  ", "s": ["READ_TIME"], "e": null }),
            "name",
        ),
        (
            json!({ "p": production, "n": "x", "s": ["READ_TIME"], "e": "2020-01-01T00:00:00Z" }),
            "expiresAt",
        ),
    ] {
        let body = app.gql(Some(&admin), CREATE, vars).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let list = app
        .gql_ok(Some(&admin), LIST, json!({ "p": production }))
        .await;
    assert_eq!(
        list["production"]["apiTokens"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// What each scope set may do: every operation below is tried with a token of each scope set
/// (the columns of `SCOPE_SETS`) and must answer as the row says.
const SCOPE_SETS: [&[&str]; 6] = [
    &["READ_TIME"],
    &["READ_PAY"],
    &["WRITE_PUNCHES"],
    &["READ_AUDIT"],
    &["READ_TIME", "WRITE_PUNCHES"],
    &["READ_TIME", "READ_PAY", "WRITE_PUNCHES", "READ_AUDIT"],
];
const OK: &str = "ok";
const NO: &str = "FORBIDDEN";

struct Fixture {
    production: String,
    department: String,
    crew: String,
    punch: String,
    /// One crew member per scope set for `recordPunch`, and one for `recordPunches`, so every
    /// allowed punch is a valid first call.
    punchers: Vec<String>,
    bulk: Vec<String>,
    spare_token: String,
}

type Vars = fn(&Fixture, usize) -> Value;

fn p(f: &Fixture, _: usize) -> Value {
    json!({ "p": f.production })
}
fn pc(f: &Fixture, _: usize) -> Value {
    json!({ "p": f.production, "c": f.crew })
}
fn c(f: &Fixture, _: usize) -> Value {
    json!({ "c": f.crew })
}
fn d(f: &Fixture, _: usize) -> Value {
    json!({ "d": f.department })
}
fn none(_: &Fixture, _: usize) -> Value {
    json!({})
}

#[rustfmt::skip]
fn operations() -> Vec<(&'static str, &'static str, Vars, [&'static str; 6])> {
    vec![
        // Columns: READ_TIME, READ_PAY, WRITE_PUNCHES, READ_AUDIT, READ_TIME+WRITE_PUNCHES, all.
        ("production", "query($p: ID!) { production(id: $p) { name timezone myRoles workWeekEnds } }", p,
            [OK, OK, OK, OK, OK, OK]),
        ("productions", "{ productions { edges { node { name } } } }", none,
            [OK, OK, OK, OK, OK, OK]),
        ("departments", "query($p: ID!) { production(id: $p) { departments { edges { node { name } } } } }", p,
            [OK, OK, NO, NO, OK, OK]),
        ("department node", "query($d: ID!) { node(id: $d) { id } }", d,
            [OK, OK, NO, NO, OK, OK]),
        ("crew list", "query($p: ID!) { production(id: $p) { crew { edges { node { name } } } } }", p,
            [OK, OK, NO, NO, OK, OK]),
        ("crew member and email", "query($p: ID!, $c: ID!) { production(id: $p) { crewMember(id: $c) { name email } } }", pc,
            [OK, OK, NO, NO, OK, OK]),
        ("call sheets", "query($p: ID!) { production(id: $p) { callSheetIssues(date: \"2026-03-02\") { id } } }", p,
            [OK, OK, NO, NO, OK, OK]),
        ("work day", "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { status workedMinutes punches { id } } }", c,
            [OK, OK, NO, NO, OK, OK]),
        ("timecard", "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { workedHours days { date } } }", c,
            [OK, OK, NO, NO, OK, OK]),
        ("timecards", "query($p: ID!) { production(id: $p) { timecards(weekEnding: \"2026-03-07\") { edges { node { workedHours } } } } }", p,
            [OK, OK, NO, NO, OK, OK]),
        ("timecard pay", "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { pay { gross } } }", c,
            [NO, OK, NO, NO, NO, OK]),
        ("deals", "query($p: ID!, $c: ID!) { production(id: $p) { crewMember(id: $c) { deals { rate } } } }", pc,
            [NO, OK, NO, NO, NO, OK]),
        ("rule sets", "query($p: ID!) { production(id: $p) { ruleSets { name } } }", p,
            [NO, OK, NO, NO, NO, OK]),
        ("payroll export", "query($p: ID!) { production(id: $p) { payrollExport(weekEnding: \"2026-03-07\") { rows } } }", p,
            [NO, OK, NO, NO, NO, OK]),
        ("hot cost", "query($p: ID!) { production(id: $p) { hotCost(date: \"2026-03-02\") { totals { actualCost } } } }", p,
            [NO, OK, NO, NO, NO, OK]),
        ("record punch", "mutation($c: ID!, $k: String!) { recordPunch(input: {crewMemberId: $c, kind: CALL, at: \"2026-03-09T07:00:00-07:00\", idempotencyKey: $k}) { punch { id } workDay { status } } }",
            |f, i| json!({ "c": f.punchers[i], "k": Uuid::new_v4().to_string() }),
            [NO, NO, OK, NO, OK, OK]),
        ("record punches", "mutation($c: ID!, $k: String!) { recordPunches(input: {crewMemberIds: [$c], kind: CALL, at: \"2026-03-09T07:00:00-07:00\", idempotencyKey: $k}) { punches { id } } }",
            |f, i| json!({ "c": f.bulk[i], "k": Uuid::new_v4().to_string() }),
            [NO, NO, OK, NO, OK, OK]),
        ("correct punch", "mutation($id: ID!) { correctPunch(input: {punchId: $id, at: \"2026-03-02T07:05:00-08:00\", expectedVersion: 1, reason: \"late\"}) { punch { id } } }",
            |f, _| json!({ "id": f.punch }),
            [NO, NO, NO, NO, NO, NO]),
        ("set day type", "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-04\", dayType: HOLD}) { workDay { date } } }", c,
            [NO, NO, NO, NO, NO, NO]),
        ("production settings", "mutation($p: ID!) { updateProductionSettings(input: {productionId: $p, workWeekEnds: 7, expectedVersion: 1}) { version } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("create department", "mutation($p: ID!) { createDepartment(input: {productionId: $p, name: \"Camera\"}) { department { id } } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("add crew member", "mutation($d: ID!) { addCrewMember(input: {departmentId: $d, name: \"New\", position: \"Grip\", ruleSet: \"REF-US-CREW\", deal: {kind: HOURLY, rate: \"50.00\", effectiveFrom: \"2026-01-01\"}}) { crewMember { id } } }", d,
            [NO, NO, NO, NO, NO, NO]),
        ("update deal", "mutation($c: ID!) { updateDeal(input: {crewMemberId: $c, deal: {kind: HOURLY, rate: \"60.00\", effectiveFrom: \"2026-03-01\"}, expectedVersion: 1, reason: \"raise\"}) { deal { rate } } }", c,
            [NO, NO, NO, NO, NO, NO]),
        ("import crew", "mutation($p: ID!) { importCrew(input: {productionId: $p, csv: \"name\\n\"}) { imported } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("invite crew member", "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c, email: \"x@example.com\"}) { expiresAt } }", c,
            [NO, NO, NO, NO, NO, NO]),
        ("create call sheet", "mutation($p: ID!) { createCallSheet(input: {productionId: $p, sheet: {shootDate: \"2026-03-10\", dayNumber: 1, totalDays: 5, generalCall: \"2026-03-10T07:00:00-07:00\"}}) { callSheet { id } } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("set rule set", "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-01-01\", options: {}, reason: \"r\"}) { ruleSet { version } } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("set budget", "mutation($d: ID!) { setDepartmentBudget(input: {departmentId: $d, dailyBudget: \"100\"}) { dailyBudget } }", d,
            [NO, NO, NO, NO, NO, NO]),
        ("grant role", "mutation($p: ID!) { grantRole(input: {productionId: $p, email: \"someone@example.com\", role: ADMIN}) { membership { role } } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("create production", "mutation { createProduction(input: {name: \"Mine\", timezone: \"UTC\", currency: \"USD\"}) { production { id } } }", none,
            [NO, NO, NO, NO, NO, NO]),
        ("me", "{ me { email } }", none,
            [NO, NO, NO, NO, NO, NO]),
        ("pay preview", "{ payPreview(case: {}) }", none,
            [NO, NO, NO, NO, NO, NO]),
        ("create API token", "mutation($p: ID!) { createApiToken(input: {productionId: $p, name: \"more\", scopes: [READ_PAY]}) { token } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("list API tokens", "query($p: ID!) { production(id: $p) { apiTokens { edges { node { id } } } } }", p,
            [NO, NO, NO, NO, NO, NO]),
        ("revoke API token", "mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { apiToken { revokedAt } } }",
            |f, _| json!({ "t": f.spare_token }),
            [NO, NO, NO, NO, NO, NO]),
    ]
}

#[tokio::test]
async fn each_scope_allows_exactly_its_operations() {
    let app = TestApp::spawn().await;
    let (admin, production, department) = app.production_with_department().await;
    let crew = app.crew(&admin, &department, "Ada").await;
    // A priced day on Monday 2 March 2026, so time and pay have something to show.
    let bodies = app
        .punches(
            &admin,
            &crew,
            &[
                ("CALL", "2026-03-02T07:00:00-08:00"),
                ("MEAL_OUT", "2026-03-02T13:00:00-08:00"),
                ("MEAL_IN", "2026-03-02T13:30:00-08:00"),
                ("WRAP", "2026-03-02T19:30:00-08:00"),
            ],
        )
        .await;
    let punch = bodies[0]["data"]["recordPunch"]["punch"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut punchers = Vec::new();
    let mut bulk = Vec::new();
    for i in 0..SCOPE_SETS.len() {
        punchers.push(app.crew(&admin, &department, &format!("Single {i}")).await);
        bulk.push(app.crew(&admin, &department, &format!("Bulk {i}")).await);
    }
    let (_, spare_token) = api_token(&app, &admin, &production, &["READ_TIME"]).await;
    let fixture = Fixture {
        production: production.clone(),
        department,
        crew,
        punch,
        punchers,
        bulk,
        spare_token,
    };
    let mut tokens = Vec::new();
    for scopes in SCOPE_SETS {
        tokens.push(api_token(&app, &admin, &production, scopes).await.0);
    }

    let mut failures = Vec::new();
    for (name, query, vars, expected) in operations() {
        for (i, scopes) in SCOPE_SETS.iter().enumerate() {
            let body = app.gql(Some(&tokens[i]), query, vars(&fixture, i)).await;
            let got = match body.get("errors") {
                None => OK,
                Some(_) => error_code(&body).unwrap_or("no code"),
            };
            let every_error_forbidden = body["errors"]
                .as_array()
                .is_none_or(|errs| errs.iter().all(|e| e["extensions"]["code"] == NO));
            if got != expected[i] || !every_error_forbidden {
                failures.push(format!(
                    "{name} with {scopes:?}: expected {}, got {body}",
                    expected[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The allowed punches were recorded by the tokens, and nothing else was written.
    let punches = app
        .count_in_production("SELECT count(*) FROM {schema}.punches")
        .await;
    assert_eq!(punches, 4 + 3 * 2);
    let departments = app
        .count_in_production("SELECT count(*) FROM {schema}.departments")
        .await;
    assert_eq!(departments, 1);
    let tokens_left = app
        .gql_ok(Some(&admin), LIST, json!({ "p": production }))
        .await;
    let edges = tokens_left["production"]["apiTokens"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(edges.len(), 1 + SCOPE_SETS.len());
    assert!(edges.iter().all(|e| e["node"]["revokedAt"].is_null()));
}

#[tokio::test]
async fn another_productions_objects_are_not_found_for_a_token() {
    let app = TestApp::spawn().await;
    // One admin owns both productions: membership is no barrier, only the token's production.
    let (admin, mine, _) = app.production_with_department().await;
    let theirs = app.production(&admin, "Other").await;
    let their_department = app.department(&admin, &theirs, "Grip").await;
    let their_crew = app.crew(&admin, &their_department, "Zed").await;
    let (token, _) = api_token(
        &app,
        &admin,
        &mine,
        &["READ_TIME", "READ_PAY", "WRITE_PUNCHES", "READ_AUDIT"],
    )
    .await;

    let listed = app
        .gql_ok(
            Some(&token),
            "{ productions { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["productions"]["edges"],
        json!([{ "node": { "id": mine } }])
    );
    for (what, query, vars) in [
        ("production", PRODUCTION, json!({ "p": theirs })),
        ("node", "query($d: ID!) { node(id: $d) { id } }", json!({ "d": their_department })),
        (
            "work day",
            "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { status } }",
            json!({ "c": their_crew }),
        ),
        (
            "timecard",
            "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { pay { gross } } }",
            json!({ "c": their_crew }),
        ),
        (
            "punch",
            "mutation($c: ID!) { recordPunch(input: {crewMemberId: $c, kind: CALL, at: \"2026-03-02T07:00:00-08:00\", idempotencyKey: \"k1\"}) { punch { id } } }",
            json!({ "c": their_crew }),
        ),
        (
            "payroll export",
            "query($p: ID!) { production(id: $p) { payrollExport(weekEnding: \"2026-03-07\") { rows } } }",
            json!({ "p": theirs }),
        ),
    ] {
        let body = app.gql(Some(&token), query, vars).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{what}: {body}");
    }
    let punches = app
        .count_in_production("SELECT count(*) FROM {schema}.punches")
        .await;
    assert_eq!(punches, 0);
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let (admin, production, _) = app.production_with_department().await;
    let (token, id) = api_token(&app, &admin, &production, &["READ_TIME"]).await;
    app.gql_ok(Some(&token), PRODUCTION, json!({ "p": production }))
        .await;

    let first = app.gql_ok(Some(&admin), REVOKE, json!({ "t": id })).await;
    let revoked_at = first["revokeApiToken"]["apiToken"]["revokedAt"].clone();
    assert!(revoked_at.is_string(), "{first}");
    let body = app
        .gql(Some(&token), PRODUCTION, json!({ "p": production }))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    // Revoking again keeps the first time.
    let again = app.gql_ok(Some(&admin), REVOKE, json!({ "t": id })).await;
    assert_eq!(again["revokeApiToken"]["apiToken"]["revokedAt"], revoked_at);

    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let data = app
        .gql_ok(
            Some(&admin),
            CREATE,
            json!({ "p": production, "n": "short", "s": ["READ_TIME"], "e": soon.to_rfc3339() }),
        )
        .await;
    let short = data["createApiToken"]["token"].as_str().unwrap().to_owned();
    app.gql_ok(Some(&short), PRODUCTION, json!({ "p": production }))
        .await;
    let wait = (soon - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(200)).await;
    let body = app
        .gql(Some(&short), PRODUCTION, json!({ "p": production }))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");

    // Never issued: a well-formed random one, a malformed one.
    let made_up = format!("ct_{}", "A".repeat(43));
    for bad in [made_up.as_str(), "ct_nope"] {
        let body = app
            .gql(Some(bad), PRODUCTION, json!({ "p": production }))
            .await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let (admin, production, _) = app.production_with_department().await;
    let (token, _) = api_token(&app, &admin, &production, &["READ_TIME"]).await;
    let last_used = || async {
        let list = app
            .gql_ok(Some(&admin), LIST, json!({ "p": production }))
            .await;
        list["production"]["apiTokens"]["edges"][0]["node"]["lastUsedAt"].clone()
    };
    assert_eq!(last_used().await, Value::Null);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.gql_ok(Some(&token), PRODUCTION, json!({ "p": production }))
        .await;
    let first = last_used().await;
    let at: chrono::DateTime<chrono::Utc> = first.as_str().expect("recorded").parse().unwrap();
    assert!(at >= before && at <= chrono::Utc::now(), "{at}");
    // Within the minute, a second use writes nothing.
    let statements = app.store().statement_count();
    app.gql_ok(Some(&token), PRODUCTION, json!({ "p": production }))
        .await;
    assert_eq!(
        app.store().statement_count() - statements,
        1,
        "one lookup, no write"
    );
    assert_eq!(last_used().await, first);
}

#[tokio::test]
async fn a_refused_request_with_a_token_runs_no_sql() {
    let app = TestApp::spawn().await;
    let (admin, production, _) = app.production_with_department().await;
    let (token, _) = api_token(&app, &admin, &production, &["READ_TIME"]).await;
    let aliases: Vec<String> = (0..16).map(|i| format!("a{i}: me {{ email }}")).collect();
    let before = app.store().statement_count();
    let body = app
        .gql(
            Some(&token),
            &format!("{{ {} }}", aliases.join(" ")),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(app.store().statement_count(), before);
}

#[tokio::test]
async fn only_the_productions_admins_manage_tokens() {
    let app = TestApp::spawn().await;
    let (admin, production, _) = app.production_with_department().await;
    let (_, id) = api_token(&app, &admin, &production, &["READ_TIME"]).await;
    grant(&app, &admin, &production, "upm@example.com", "UPM").await;
    grant(&app, &admin, &production, "money@example.com", "ACCOUNTANT").await;
    let upm = app.login("upm@example.com").await;
    let accountant = app.login("money@example.com").await;
    app.create_user("outsider@example.com", false).await;
    let outsider = app.login("outsider@example.com").await;
    // A studio admin of another production is an outsider here too.
    let other_admin = app.admin().await;

    let create = json!({ "p": production, "n": "mine", "s": ["READ_PAY"], "e": null });
    for (who, token, code) in [
        ("upm", &upm, "FORBIDDEN"),
        ("accountant", &accountant, "FORBIDDEN"),
        ("outsider", &outsider, "NOT_FOUND"),
        ("other admin", &other_admin, "NOT_FOUND"),
    ] {
        let body = app.gql(Some(token), CREATE, create.clone()).await;
        assert_eq!(error_code(&body), Some(code), "create as {who}: {body}");
        let body = app.gql(Some(token), LIST, json!({ "p": production })).await;
        assert_eq!(error_code(&body), Some(code), "list as {who}: {body}");
        let body = app.gql(Some(token), REVOKE, json!({ "t": id })).await;
        assert_eq!(error_code(&body), Some(code), "revoke as {who}: {body}");
    }
    let list = app
        .gql_ok(Some(&admin), LIST, json!({ "p": production }))
        .await;
    let edges = list["production"]["apiTokens"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    assert!(edges[0]["node"]["revokedAt"].is_null());

    // A second admin of the production may.
    grant(&app, &admin, &production, "admin2@example.com", "ADMIN").await;
    let admin2 = app.login("admin2@example.com").await;
    app.gql_ok(Some(&admin2), REVOKE, json!({ "t": id })).await;
    app.gql_ok(Some(&admin2), CREATE, create).await;
}
