//! Every role against every operation, from one table.
//!
//! Principals, in column order: admin, accountant, UPM, coordinator, the crew member's
//! department head, another department's head, the crew member themself, another crew member,
//! a signed-in user with no role in the production. Outcomes: `A` allowed (the request got past
//! authorisation, whatever the business rules then said), `F` FORBIDDEN, `N` NOT_FOUND.

use crewtime_tests::TestApp;
use serde_json::{json, Value};

const PRINCIPALS: [&str; 9] = [
    "admin",
    "accountant",
    "upm",
    "coordinator",
    "head",
    "other head",
    "crew self",
    "crew other",
    "outsider",
];

/// (operation, query, expected outcomes by principal).
const MATRIX: &[(&str, &str, &str)] = &[
    ("read production", "query($p: ID!) { production(id: $p) { name } }", "AAAAAAAAN"),
    ("list crew", "query($p: ID!) { production(id: $p) { crew { edges { node { id } } } } }", "AAAAAAAAN"),
    ("read crew email", "query($c: ID!) { node(id: $c) { ... on CrewMember { email } } }", "AAAAAFAFN"),
    ("read rates", "query($c: ID!) { node(id: $c) { ... on CrewMember { deal { rate } } } }", "AAAFFFAFN"),
    ("read time", "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { workedHours } }", "AAAAAFAFN"),
    ("read pay", "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { pay { gross } } }", "AAAFFFAFN"),
    ("record punch", "mutation($c: ID!) { recordPunch(input: {crewMemberId: $c, kind: CALL, at: \"2026-03-02T07:00:00-08:00\", idempotencyKey: \"m\"}) { punch { id } } }", "AFAAAFAFN"),
    ("correct punch", "mutation($punch: ID!) { correctPunch(input: {punchId: $punch, at: \"2026-03-03T06:30:00-08:00\", expectedVersion: 1, reason: \"matrix\"}) { punch { id } } }", "AAAFAFFFN"),
    ("set day type", "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-05\", dayType: HOLD}) { workDay { date } } }", "AAAFAFFFN"),
    ("add crew", "mutation($d: ID!) { addCrewMember(input: {departmentId: $d, name: \"New\", position: \"Grip\", ruleSet: \"REF-US-CREW\", deal: {kind: HOURLY, rate: \"40\", effectiveFrom: \"2026-01-01\"}}) { crewMember { id } } }", "AFAAFFFFN"),
    ("update deal", "mutation($c: ID!) { updateDeal(input: {crewMemberId: $c, expectedVersion: 99, reason: \"matrix\", deal: {kind: HOURLY, rate: \"41\", effectiveFrom: \"2026-02-01\"}}) { deal { version } } }", "AAAFFFFFN"),
    ("invite crew", "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c, email: \"x@example.com\"}) { expiresAt } }", "AFAAFFFFN"),
    ("create department", "mutation($p: ID!) { createDepartment(input: {productionId: $p, name: \"Sound\"}) { department { id } } }", "AFAAFFFFN"),
    ("create call sheet", "mutation($p: ID!) { createCallSheet(input: {productionId: $p, sheet: {shootDate: \"2026-03-10\", dayNumber: 1, totalDays: 9, generalCall: \"2026-03-10T15:00:00Z\"}}) { callSheet { id } } }", "AFAAFFFFN"),
    ("grant role", "mutation($p: ID!) { grantRole(input: {productionId: $p, email: \"grantee@example.com\", role: CREW}) { membership { role } } }", "AFFFFFFFN"),
    ("set rate visibility", "mutation($p: ID!) { setRatesVisibility(input: {productionId: $p, visible: false}) { ratesVisibleToDepartmentHeads } }", "AFFFFFFFN"),
    ("production settings", "mutation($p: ID!) { updateProductionSettings(input: {productionId: $p, workWeekEnds: 6, expectedVersion: 99}) { version } }", "AFAFFFFFN"),
    ("set rule set", "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-01-01\", options: {}, reason: \"matrix\"}) { ruleSet { version } } }", "AAAFFFFFN"),
    ("set budget", "mutation($d: ID!) { setDepartmentBudget(input: {departmentId: $d, dailyBudget: \"1000\"}) { dailyBudget } }", "AAAFFFFFN"),
    ("payroll export", "query($p: ID!) { production(id: $p) { payrollExport(weekEnding: \"2026-03-07\") { rows } } }", "AAAFFFFFN"),
    ("hot cost", "query($p: ID!) { production(id: $p) { hotCost(date: \"2026-03-02\") { date } } }", "AAAFFFFFN"),
    ("audit log", "query($p: ID!) { production(id: $p) { auditLog { edges { cursor } } } }", "AAFFFFFFN"),
    ("submit timecard", "mutation($c: ID!) { submitTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: 99}) { timecard { status } } }", "AFAFAFAFN"),
    ("unlock timecard", "mutation($c: ID!) { unlockTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: 99, reason: \"matrix\"}) { timecard { status } } }", "AAFFFFFFN"),
];

fn outcome(body: &Value) -> char {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some("FORBIDDEN") => 'F',
        Some("NOT_FOUND") => 'N',
        Some("UNAUTHENTICATED") | Some("INTERNAL") => '!',
        _ => 'A',
    }
}

#[tokio::test]
async fn every_role_against_every_operation() {
    let app = TestApp::spawn().await;
    let (admin, production, dept) = app.production_with_department().await;
    let other_dept = app.department(&admin, &production, "Camera").await;
    let (crew, crew_self) = app.crew_with_account(&admin, &dept, "Target").await;
    let (_, crew_other) = app.crew_with_account(&admin, &dept, "Colleague").await;
    app.create_user("grantee@example.com", false).await;
    let punch = app
        .punch(&admin, &crew, "CALL", "2026-03-03T07:00:00-08:00")
        .await["data"]["recordPunch"]["punch"]["id"]
        .clone();
    let tokens = [
        admin.clone(),
        app.member(&admin, &production, "ACCOUNTANT", None).await,
        app.member(&admin, &production, "UPM", None).await,
        app.member(&admin, &production, "COORDINATOR", None).await,
        app.member(&admin, &production, "DEPARTMENT_HEAD", Some(&dept))
            .await,
        app.member(&admin, &production, "DEPARTMENT_HEAD", Some(&other_dept))
            .await,
        crew_self,
        crew_other,
        app.admin().await,
    ];
    let vars = json!({ "p": production, "d": dept, "c": crew, "punch": punch });
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (op, query, expected) in MATRIX {
        // Each query declares only the variables it uses.
        let mut mine = serde_json::Map::new();
        for (k, v) in vars.as_object().unwrap() {
            if query.contains(&format!("${k}:")) {
                mine.insert(k.clone(), v.clone());
            }
        }
        for (i, token) in tokens.iter().enumerate() {
            let body = app
                .gql(Some(token), query, Value::Object(mine.clone()))
                .await;
            let got = outcome(&body);
            let want = expected.chars().nth(i).unwrap();
            cells += 1;
            if got != want {
                mismatches.push(format!(
                    "{op} as {}: expected {want}, got {got}: {body}",
                    PRINCIPALS[i]
                ));
            }
        }
    }
    println!(
        "role x operation matrix: {} operations x {} principals = {cells} cells, {} mismatches",
        MATRIX.len(),
        PRINCIPALS.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
