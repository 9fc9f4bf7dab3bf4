//! Pay: timecard pay from stored punches, its cache, the pay preview and `crewtime pay`, rule
//! set versions, the payroll export and the hot cost report.

use std::io::Write;
use std::process::{Command, Stdio};

use crewtime_tests::{crewtime_bin, error_code, repo_root, TestApp};
use serde_json::{json, Value};

const PAY: &str = "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { pay { gross
    days { date dayInWeek ruleSet workedHours hours1x hours15x hours2x mealPenalties mealPenaltyAmount gross
           lines { kind hours multiplier rate amount explanation } }
    unpriced { date reason } } } }";

/// V1 of the vectors: 07:00 call, 13:00-13:30 meal, 19:30 wrap, $50/h.
async fn v1_day(app: &TestApp, token: &str, crew: &str, day: u32, wrap: &str) {
    for (kind, time) in [
        ("CALL", "07:00"),
        ("MEAL_OUT", "13:00"),
        ("MEAL_IN", "13:30"),
        ("WRAP", wrap),
    ] {
        let at = format!("2026-03-{day:02}T{time}:00-08:00");
        let body = app.punch(token, crew, kind, &at).await;
        assert!(body.get("errors").is_none(), "{kind} {at}: {body}");
    }
}

async fn gross(app: &TestApp, token: &str, crew: &str) -> Value {
    app.gql_ok(Some(token), PAY, json!({ "c": crew })).await["timecard"]["pay"]["gross"].clone()
}

#[tokio::test]
async fn timecard_pay_is_computed_from_stored_punches() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Quinn").await;
    v1_day(&app, &token, &crew, 2, "19:30").await;
    app.punch(&token, &crew, "CALL", "2026-03-03T07:00:00-08:00")
        .await;
    let pay = app.gql_ok(Some(&token), PAY, json!({ "c": crew })).await;
    let pay = &pay["timecard"]["pay"];
    assert_eq!(pay["gross"], "700.00");
    let day = &pay["days"][0];
    assert_eq!(day["date"], "2026-03-02");
    assert_eq!(day["ruleSet"], "REF-US-CREW preset");
    assert_eq!(
        (day["hours1x"].clone(), day["hours15x"].clone()),
        (json!("8.0"), json!("4.0"))
    );
    let lines = day["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["kind"], "OVERTIME");
    assert_eq!(lines[1]["amount"], "300.00");
    assert!(
        lines[1]["explanation"].as_str().unwrap().contains("1.5x"),
        "{}",
        lines[1]["explanation"]
    );
    assert_eq!(
        pay["unpriced"],
        json!([{ "date": "2026-03-03", "reason": "not wrapped yet" }])
    );
}

#[tokio::test]
async fn a_change_to_punches_deal_or_rules_shows_up_at_once() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Rae").await;
    v1_day(&app, &token, &crew, 2, "19:40").await;
    // 12.2 h, and the second meal was due at 19:30: one 10.00 penalty (V1's note).
    assert_eq!(gross(&app, &token, &crew).await, "730.00");
    // Cached now: a second read is a hit.
    assert_eq!(gross(&app, &token, &crew).await, "730.00");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "crewtime_cache_requests_total{cache=\"timecard_pay\",outcome=\"hit_local\"}"
        ),
        "{metrics}"
    );

    // A corrected wrap: 19:30 instead of 19:40.
    let day = app
        .gql_ok(Some(&token), "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { punches { id kind version } } }", json!({ "c": crew }))
        .await;
    let wrap = day["workDay"]["punches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "WRAP")
        .unwrap()
        .clone();
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-02T19:30:00-08:00\", expectedVersion: $v, reason: \"per DPR\"}) { punch { version } } }",
        json!({ "p": wrap["id"], "v": wrap["version"] }),
    )
    .await;
    assert_eq!(gross(&app, &token, &crew).await, "700.00");

    // A new deal from that date: $60/h.
    let v = app
        .gql_ok(
            Some(&token),
            "query($c: ID!) { node(id: $c) { ... on CrewMember { version } } }",
            json!({ "c": crew }),
        )
        .await;
    app.gql_ok(
        Some(&token),
        "mutation($c: ID!, $v: Int!) { updateDeal(input: {crewMemberId: $c, expectedVersion: $v, reason: \"raise\", deal: {kind: HOURLY, rate: \"60\", effectiveFrom: \"2026-03-01\"}}) { deal { version } } }",
        json!({ "c": crew, "v": v["node"]["version"] }),
    )
    .await;
    assert_eq!(gross(&app, &token, &crew).await, "840.00");

    // A rule set version with 12 minutes of meal grace does not change a day with no late meal,
    // but one with the S schedule prices a late meal differently: move the meal 70 minutes late.
    let late = app
        .gql_ok(Some(&token), "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { punches { id kind version } } }", json!({ "c": crew }))
        .await;
    let punches = late["workDay"]["punches"].as_array().unwrap().clone();
    for (kind, at) in [
        ("MEAL_IN", "2026-03-02T14:40:00-08:00"),
        ("MEAL_OUT", "2026-03-02T14:10:00-08:00"),
    ] {
        let p = punches.iter().find(|p| p["kind"] == kind).unwrap();
        app.gql_ok(
            Some(&token),
            "mutation($p: ID!, $at: DateTime!, $v: Int!) { correctPunch(input: {punchId: $p, at: $at, expectedVersion: $v, reason: \"late lunch\"}) { punch { version } } }",
            json!({ "p": p["id"], "at": at, "v": p["version"] }),
        )
        .await;
    }
    let t_schedule = gross(&app, &token, &crew).await;
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-03-01\", options: {mealPenaltySchedule: \"S\"}, reason: \"SAG schedule\"}) { ruleSet { name version } } }",
        json!({ "p": production }),
    )
    .await;
    let s_schedule = gross(&app, &token, &crew).await;
    // At $60/h the day is 12 h of work less 0 (the meal still 30 min) and 3 penalties: T 37.50, S 110.00.
    let t: f64 = t_schedule.as_str().unwrap().parse().unwrap();
    let s: f64 = s_schedule.as_str().unwrap().parse().unwrap();
    assert!(
        (s - t - 72.5).abs() < 0.001,
        "T {t_schedule} S {s_schedule}"
    );
    let day = app.gql_ok(Some(&token), PAY, json!({ "c": crew })).await;
    assert_eq!(
        day["timecard"]["pay"]["days"][0]["ruleSet"],
        "REF-US-CREW v1"
    );
    assert_eq!(
        day["timecard"]["pay"]["days"][0]["mealPenaltyAmount"],
        "110.00"
    );
}

fn vectors() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("crates/domain/tests/data/pay-vectors.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn pay_preview_reproduces_the_vectors_and_names_bad_fields() {
    let app = TestApp::spawn().await;
    let token = app.admin().await;
    let q = "query($c: JSON!) { payPreview(case: $c) }";
    for case in vectors().as_array().unwrap() {
        let mut input = case.clone();
        let expected = input.as_object_mut().unwrap().remove("expected").unwrap();
        let got = app.gql_ok(Some(&token), q, json!({ "c": input })).await;
        assert_eq!(got["payPreview"], expected, "{}", case["id"]);
    }
    let v1 = vectors()[0].clone();
    let broken = |path: &[&str], value: Value| {
        let mut c = v1.clone();
        let mut at = &mut c;
        for p in &path[..path.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[path[path.len() - 1]] = value;
        c
    };
    for (case, field) in [
        (broken(&["ruleset"], json!("NO-SUCH")), "case.ruleset"),
        (broken(&["deal"], json!({})), "case.deal"),
        (
            broken(
                &["deal"],
                json!({ "dayRate": "500", "guaranteedHours": "13" }),
            ),
            "case.deal.guaranteedHours",
        ),
        (
            broken(
                &["days", "0", "meals", "0", "in"],
                json!("2026-03-02T12:00"),
            ),
            "case.days[0].meals[0].in",
        ),
        (
            broken(&["options"], json!({ "noSuchOption": 1 })),
            "case.options.noSuchOption",
        ),
    ] {
        let body = app.gql(Some(&token), q, json!({ "c": case })).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        let got = body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(got.starts_with(field), "{field}: {body}");
    }
    let anonymous = app.gql(None, q, json!({ "c": v1 })).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[test]
fn the_pay_command_prints_every_vectors_expected() {
    let all = vectors();
    let mut child = Command::new(crewtime_bin())
        .arg("pay")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(all.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["expected"].clone())
        .collect();
    assert_eq!(printed, Value::Array(expected));

    let mut child = Command::new(crewtime_bin())
        .arg("pay")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bad = all[1].clone();
    bad["deal"] = json!({ "dayRate": "500.00" });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bad.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("deal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_payroll_export_and_hot_cost_add_up() {
    let app = TestApp::spawn().await;
    let (token, production, grip) = app.production_with_department().await;
    let camera = app.department(&token, &production, "Camera").await;
    let zed = app.crew(&token, &grip, "Zed").await;
    let amy = app.crew(&token, &camera, "Amy").await;
    v1_day(&app, &token, &zed, 2, "19:30").await; // 700.00
    v1_day(&app, &token, &amy, 2, "19:40").await; // 720.00 + one 10.00 meal penalty
    v1_day(&app, &token, &amy, 3, "19:30").await; // 700.00
    for (dept, budget) in [(&grip, "650"), (&camera, "800")] {
        app.gql_ok(
            Some(&token),
            "mutation($d: ID!, $b: Decimal) { setDepartmentBudget(input: {departmentId: $d, dailyBudget: $b}) { dailyBudget } }",
            json!({ "d": dept, "b": budget }),
        )
        .await;
    }
    // Only finally approved cards are exported: none yet, then both.
    let q = "query($p: ID!) { production(id: $p) { payrollExport(weekEnding: \"2026-03-07\") { rows totalGross csv json } } }";
    let none = app
        .gql_ok(Some(&token), q, json!({ "p": production }))
        .await;
    assert_eq!(none["production"]["payrollExport"]["rows"], 0);
    app.approve_fully(&token, &zed, "2026-03-07").await;
    let one = app
        .gql_ok(Some(&token), q, json!({ "p": production }))
        .await;
    assert_eq!(one["production"]["payrollExport"]["rows"], 1);
    app.approve_fully(&token, &amy, "2026-03-07").await;
    let export = app
        .gql_ok(
            Some(&token),
            "query($p: ID!) { production(id: $p) { payrollExport(weekEnding: \"2026-03-07\") { rows totalGross csv json } } }",
            json!({ "p": production }),
        )
        .await;
    let export = &export["production"]["payrollExport"];
    assert_eq!(export["rows"], 3);
    assert_eq!(export["totalGross"], "2130.00");
    let csv = export["csv"].as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "employee,employee_id,occupation,union,local,department,account_code,work_date,day_type,day_in_week,hours_1x,hours_1_5x,hours_2x,top_up_hours,meal_penalties,meal_penalty_amount,rest_premium,gross,rule_set"
    );
    assert!(
        lines[1].starts_with("Amy,")
            && lines[1].contains(",2026-03-02,WORK,1,8.0,4.0,0.2,0.0,1,10.00,0.00,730.00,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("Amy,") && lines[2].contains(",2026-03-03,WORK,2,"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("Zed,"), "{}", lines[3]);
    assert_eq!(
        lines[4],
        "TOTAL,,,,,,,,,,24.0,12.0,0.2,0.0,,10.00,0.00,2130.00,"
    );
    assert_eq!(export["json"]["rows"].as_array().unwrap().len(), 3);
    assert_eq!(export["json"]["totals"]["gross"], "2130.00");

    let hot = app
        .gql_ok(
            Some(&token),
            "query($p: ID!) { production(id: $p) { hotCost(date: \"2026-03-03\") { shootDaysToDate
               departments { department crewCount hours1x actualCost budget variance actualToDate budgetToDate varianceToDate }
               totals { crewCount actualCost budget variance actualToDate budgetToDate } } } }",
            json!({ "p": production }),
        )
        .await;
    let hot = &hot["production"]["hotCost"];
    assert_eq!(hot["shootDaysToDate"], 2);
    assert_eq!(
        hot["departments"],
        json!([
            { "department": "Camera", "crewCount": 1, "hours1x": "8.0", "actualCost": "700.00", "budget": "800.00",
              "variance": "100.00", "actualToDate": "1430.00", "budgetToDate": "1600.00", "varianceToDate": "170.00" },
            { "department": "Grip", "crewCount": 0, "hours1x": "0.0", "actualCost": "0.00", "budget": "650.00",
              "variance": "650.00", "actualToDate": "700.00", "budgetToDate": "1300.00", "varianceToDate": "600.00" },
        ])
    );
    assert_eq!(hot["totals"]["actualToDate"], "2130.00");
}

#[tokio::test]
async fn pay_is_forbidden_to_roles_without_it_while_the_rest_arrives() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Sol").await;
    v1_day(&app, &token, &crew, 2, "19:30").await;
    app.create_user("coord@example.com", false).await;
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!) { grantRole(input: {productionId: $p, email: \"coord@example.com\", role: COORDINATOR}) { membership { role } } }",
        json!({ "p": production }),
    )
    .await;
    let coord = app.login("coord@example.com").await;
    let body = app
        .gql(Some(&coord), "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { workedHours pay { gross } } }", json!({ "c": crew }))
        .await;
    assert_eq!(body["data"]["timecard"]["workedHours"], "12");
    assert_eq!(body["data"]["timecard"]["pay"], Value::Null);
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    assert_eq!(body["errors"][0]["path"], json!(["timecard", "pay"]));
    let export = app
        .gql(Some(&coord), "query($p: ID!) { production(id: $p) { name payrollExport(weekEnding: \"2026-03-07\") { rows } } }", json!({ "p": production }))
        .await;
    assert_eq!(export["data"]["production"]["name"], "Feature");
    assert_eq!(error_code(&export), Some("FORBIDDEN"));
}
