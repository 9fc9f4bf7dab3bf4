//! Time capture: punches, their order rules, idempotency, corrections, work days across
//! midnight and DST, timecards and the statement count of a department's week.

use crewtime_tests::{error_code, TestApp, PUNCH};
use serde_json::{json, Value};

const WORK_DAY: &str = "query($c: ID!, $d: NaiveDate!) { workDay(crewMemberId: $c, date: $d) { date status workedMinutes nextMealDue punches { id kind at version } } }";

async fn punch_rows(app: &TestApp) -> i64 {
    app.count_in_production("SELECT count(*) FROM {schema}.punches")
        .await
}

/// `WORK_DAY` of one crew member and date.
async fn work_day(app: &TestApp, token: &str, crew: &str, date: &str) -> Value {
    app.gql_ok(Some(token), WORK_DAY, json!({ "c": crew, "d": date }))
        .await
}

async fn next_meal_due(app: &TestApp, token: &str, crew: &str) -> Value {
    work_day(app, token, crew, "2026-03-02").await["workDay"]["nextMealDue"].clone()
}

/// `workDay.nextMealDue` counts from the production's stored rule set in force that day, as
/// `liveHours` does, not from the preset of the same name.
#[tokio::test]
async fn the_next_meal_follows_the_productions_own_rule_set() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Ann").await;
    app.punches(
        &token,
        &crew,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("MEAL_OUT", "2026-03-02T12:00:00-08:00"),
            ("MEAL_IN", "2026-03-02T12:30:00-08:00"),
        ],
    )
    .await;
    // The preset: six hours after the meal ended at 12:30 PST (20:30 UTC).
    assert_eq!(
        next_meal_due(&app, &token, &crew).await,
        "2026-03-03T02:30:00+00:00"
    );
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-03-01\", options: {mealIntervalHours: 5}, reason: \"five-hour meals\"}) { ruleSet { version } } }",
        json!({ "p": production }),
    )
    .await;
    // The production's own version from 1 March: five hours.
    assert_eq!(
        next_meal_due(&app, &token, &crew).await,
        "2026-03-03T01:30:00+00:00"
    );
    // A version effective after the day changes nothing on it.
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-03-03\", options: {mealIntervalHours: 4}, reason: \"later\"}) { ruleSet { version } } }",
        json!({ "p": production }),
    )
    .await;
    assert_eq!(
        next_meal_due(&app, &token, &crew).await,
        "2026-03-03T01:30:00+00:00"
    );
}

#[tokio::test]
async fn a_day_is_recorded_and_read_back() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Ann").await;
    // Los Angeles, 2 March 2026 (PST, UTC-8).
    app.punches(
        &token,
        &crew,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("NDB_OUT", "2026-03-02T07:00:00-08:00"),
            ("NDB_IN", "2026-03-02T07:15:00-08:00"),
            ("MEAL_OUT", "2026-03-02T13:00:00-08:00"),
        ],
    )
    .await;
    let day = work_day(&app, &token, &crew, "2026-03-02").await;
    assert_eq!(day["workDay"]["status"], "AT_MEAL");
    assert_eq!(day["workDay"]["nextMealDue"], Value::Null);
    let body = app
        .punch(&token, &crew, "MEAL_IN", "2026-03-02T13:30:00-08:00")
        .await;
    assert_eq!(body["data"]["recordPunch"]["workDay"]["status"], "ON_CLOCK");
    let day = work_day(&app, &token, &crew, "2026-03-02").await;
    // Six hours after the meal ended at 13:30 PST (21:30 UTC).
    assert_eq!(day["workDay"]["nextMealDue"], "2026-03-03T03:30:00+00:00");
    let body = app
        .punch(&token, &crew, "WRAP", "2026-03-02T19:30:00-08:00")
        .await;
    let wd = &body["data"]["recordPunch"]["workDay"];
    assert_eq!(wd["status"], "WRAPPED");
    assert_eq!(
        wd["workedMinutes"],
        12 * 60,
        "12.5 h on the clock less a 30 minute meal"
    );
    assert_eq!(wd["date"], "2026-03-02");
}

#[tokio::test]
async fn every_order_rule_refuses_with_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Bo").await;
    let refuse = |kind: &'static str, at: &'static str, field: &'static str| (kind, at, field);
    // Before any call.
    let cases_before_call = [
        refuse("MEAL_OUT", "2026-03-02T12:00:00-08:00", "at"),
        refuse("WRAP", "2026-03-02T18:00:00-08:00", "at"),
    ];
    for (kind, at, field) in cases_before_call {
        let before = punch_rows(&app).await;
        let body = app.punch(&token, &crew, kind, at).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{kind}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{kind}: {body}"
        );
        assert_eq!(punch_rows(&app).await, before);
    }
    app.punches(
        &token,
        &crew,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("MEAL_OUT", "2026-03-02T12:00:00-08:00"),
        ],
    )
    .await;
    let cases = [
        refuse("CALL", "2026-03-02T08:00:00-08:00", "kind"), // a second call the same day
        refuse("MEAL_OUT", "2026-03-02T12:10:00-08:00", "at"), // meals overlap
        refuse("WRAP", "2026-03-02T12:20:00-08:00", "kind"), // wrap during a meal
        refuse("NDB_IN", "2026-03-02T12:25:00-08:00", "kind"), // NDB in without out
        refuse("MEAL_OUT", "2026-03-02T06:00:00-08:00", "at"), // before the call
    ];
    for (kind, at, field) in cases {
        let before = punch_rows(&app).await;
        let body = app.punch(&token, &crew, kind, at).await;
        assert_eq!(
            error_code(&body),
            Some("BAD_USER_INPUT"),
            "{kind} {at}: {body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{kind} {at}: {body}"
        );
        assert_eq!(punch_rows(&app).await, before, "{kind} {at} wrote a row");
    }
    app.punches(
        &token,
        &crew,
        &[
            ("MEAL_IN", "2026-03-02T12:30:00-08:00"),
            ("MEAL_OUT", "2026-03-02T15:00:00-08:00"),
            ("MEAL_IN", "2026-03-02T15:30:00-08:00"),
            ("MEAL_OUT", "2026-03-02T18:00:00-08:00"),
            ("MEAL_IN", "2026-03-02T18:30:00-08:00"),
            ("WRAP", "2026-03-02T23:00:00-08:00"),
        ],
    )
    .await;
    let after = [
        refuse("MEAL_OUT", "2026-03-02T23:30:00-08:00", "at"), // after wrap
    ];
    for (kind, at, field) in after {
        let before = punch_rows(&app).await;
        let body = app.punch(&token, &crew, kind, at).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
        assert_eq!(punch_rows(&app).await, before);
    }
    // A fourth meal on another crew member's day.
    let cy = app.crew(&token, &dept, "Cy").await;
    app.punch(&token, &cy, "CALL", "2026-03-02T01:00:00-08:00")
        .await;
    for h in [2, 4, 6] {
        app.punch(
            &token,
            &cy,
            "MEAL_OUT",
            &format!("2026-03-02T{h:02}:00:00-08:00"),
        )
        .await;
        app.punch(
            &token,
            &cy,
            "MEAL_IN",
            &format!("2026-03-02T{h:02}:30:00-08:00"),
        )
        .await;
    }
    let body = app
        .punch(&token, &cy, "MEAL_OUT", "2026-03-02T09:00:00-08:00")
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "kind", "{body}");
    // Malformed input: a bad id, an empty key, an unknown kind, a time without an offset.
    let bad = [
        json!({ "c": "garbage", "k": "CALL", "at": "2026-03-03T07:00:00Z", "key": "k1" }),
        json!({ "c": crew, "k": "CALL", "at": "2026-03-03T07:00:00Z", "key": "" }),
        json!({ "c": crew, "k": "LUNCH", "at": "2026-03-03T07:00:00Z", "key": "k2" }),
        json!({ "c": crew, "k": "CALL", "at": "2026-03-03 07:00", "key": "k3" }),
    ];
    for vars in bad {
        let before = punch_rows(&app).await;
        let body = app.gql(Some(&token), PUNCH, vars.clone()).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{vars}: {body}");
        assert_eq!(punch_rows(&app).await, before);
    }
}

#[tokio::test]
async fn fifty_concurrent_retries_of_one_punch_leave_one_row() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Dee").await;
    let vars = json!({ "c": crew, "k": "CALL", "at": "2026-03-02T07:00:00-08:00", "key": "phone-42-call" });
    let answers =
        futures_util::future::join_all((0..50).map(|_| app.gql(Some(&token), PUNCH, vars.clone())))
            .await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            assert!(a.get("errors").is_none(), "{a}");
            a["data"]["recordPunch"]["punch"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry got the first answer");
    assert_eq!(punch_rows(&app).await, 1);
    // The same key with another body is a conflict, and writes nothing.
    let other = json!({ "c": crew, "k": "CALL", "at": "2026-03-02T08:00:00-08:00", "key": "phone-42-call" });
    let body = app.gql(Some(&token), PUNCH, other).await;
    assert_eq!(error_code(&body), Some("CONFLICT"));
    assert_eq!(punch_rows(&app).await, 1);
    // A key reused for someone its owner may not punch for is still a CONFLICT: the key is
    // checked before the crew member.
    let (fay, fay_token) = app.crew_with_account(&token, &dept, "Fay").await;
    let own = json!({ "c": fay, "k": "CALL", "at": "2026-03-02T07:00:00-08:00", "key": "fay-1" });
    assert!(app
        .gql(Some(&fay_token), PUNCH, own)
        .await
        .get("errors")
        .is_none());
    let for_dee =
        json!({ "c": crew, "k": "CALL", "at": "2026-03-03T07:00:00-08:00", "key": "fay-1" });
    let body = app.gql(Some(&fay_token), PUNCH, for_dee.clone()).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    // Under a fresh key the same punch is refused for want of rights.
    let mut fresh = for_dee;
    fresh["key"] = json!("fay-2");
    let body = app.gql(Some(&fay_token), PUNCH, fresh).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(punch_rows(&app).await, 2);
}

#[tokio::test]
async fn concurrent_punches_for_one_person_are_checked_against_each_other() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Dan").await;
    app.punches(&token, &crew, &[("CALL", "2026-03-02T07:00:00-08:00")])
        .await;
    // Twenty wraps of one day, each valid on its own, sent at once: a punch that waited for
    // another's lock must check itself against what that one stored, not against what was
    // there when it began.
    let times: Vec<String> = (0..20)
        .map(|i| format!("2026-03-02T18:{:02}:00-08:00", 10 + i))
        .collect();
    let wraps =
        futures_util::future::join_all(times.iter().map(|at| app.punch(&token, &crew, "WRAP", at)))
            .await;
    let recorded = wraps.iter().filter(|w| w.get("errors").is_none()).count();
    assert_eq!(recorded, 1, "{wraps:?}");
    for w in wraps.iter().filter(|w| w.get("errors").is_some()) {
        assert_eq!(error_code(w), Some("BAD_USER_INPUT"), "{w}");
    }
    assert_eq!(punch_rows(&app).await, 2);
}

#[tokio::test]
async fn a_new_punch_takes_four_statements() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Gus").await;
    app.punches(&token, &crew, &[("CALL", "2026-03-02T07:00:00-08:00")])
        .await;
    // The node's statements once it has deleted its published outbox rows, which it does off
    // the request path (one DELETE per request here).
    let settled = || async {
        app.outbox_swept().await;
        app.store().statement_count()
    };
    let vars =
        json!({ "c": crew, "k": "WRAP", "at": "2026-03-02T18:00:00-08:00", "key": "gus-wrap" });
    let before = settled().await;
    let body = app.gql(Some(&token), PUNCH, vars.clone()).await;
    assert!(body.get("errors").is_none(), "{body}");
    // The membership; the key's claim with the crew member's lock and the day; the punch with
    // its weeks, the key's answer and the outbox row; the audit record. Then the sweep.
    assert_eq!(settled().await - before, 4 + 1);
    // A replay: the membership, the claim that finds the answer, the day it names and the
    // outbox row of the event it announces again. Then the sweep.
    let before = settled().await;
    let again = app.gql(Some(&token), PUNCH, vars).await;
    assert_eq!(again["data"], body["data"]);
    assert_eq!(settled().await - before, 4 + 1);
    assert_eq!(punch_rows(&app).await, 2);
}

const CORRECT: &str = "mutation($p: ID!, $at: DateTime, $v: Int!, $r: String!) { correctPunch(input: {punchId: $p, at: $at, expectedVersion: $v, reason: $r}) { punch { at version } } }";

#[tokio::test]
async fn two_corrections_with_one_version_give_one_success_and_one_conflict() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Eve").await;
    let call = app
        .punch(&token, &crew, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    let punch = call["data"]["recordPunch"]["punch"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = app.gql(Some(&token), CORRECT, json!({ "p": punch, "at": "2026-03-02T06:48:00-08:00", "v": 1, "r": "call was 6:48 per the DPR" }));
    let b = app.gql(
        Some(&token),
        CORRECT,
        json!({ "p": punch, "at": "2026-03-02T06:54:00-08:00", "v": 1, "r": "call was 6:54" }),
    );
    let (a, b) = tokio::join!(a, b);
    let codes: Vec<Option<&str>> = vec![error_code(&a), error_code(&b)];
    assert!(
        codes.contains(&None) && codes.contains(&Some("CONFLICT")),
        "{a} {b}"
    );
    // The reason is required and the version must be current.
    let no_reason = app
        .gql(
            Some(&token),
            CORRECT,
            json!({ "p": punch, "at": "2026-03-02T06:30:00-08:00", "v": 2, "r": " " }),
        )
        .await;
    assert_eq!(no_reason["errors"][0]["extensions"]["field"], "reason");
    let revisions = app
        .count_in_production("SELECT count(*) FROM {schema}.punch_revisions")
        .await;
    assert_eq!(revisions, 1);
    // Deleting needs the current version too; the punch stays on record.
    let del = "mutation($p: ID!, $v: Int!) { deletePunch(input: {punchId: $p, expectedVersion: $v, reason: \"duplicate\"}) { punch { version } } }";
    let stale = app
        .gql(Some(&token), del, json!({ "p": punch, "v": 1 }))
        .await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    let ok = app
        .gql_ok(Some(&token), del, json!({ "p": punch, "v": 2 }))
        .await;
    assert_eq!(ok["deletePunch"]["punch"]["version"], 3);
    let day = work_day(&app, &token, &crew, "2026-03-02").await;
    assert_eq!(day["workDay"]["punches"], json!([]));
    assert_eq!(day["workDay"]["status"], "NOT_STARTED");
}

#[tokio::test]
async fn night_shifts_across_midnight_and_dst_land_on_their_call_date() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    // (call, wrap, work date, worked minutes) in America/Los_Angeles.
    let cases = [
        // Across midnight, no DST change: 18:00 to 04:00 is 10 hours.
        (
            "2026-03-02T18:00:00-08:00",
            "2026-03-03T04:00:00-08:00",
            "2026-03-02",
            600,
        ),
        // Spring forward (8 March, 02:00 -> 03:00): 20:00 PST to 06:00 PDT is 9 hours.
        (
            "2026-03-07T20:00:00-08:00",
            "2026-03-08T06:00:00-07:00",
            "2026-03-07",
            540,
        ),
        // Fall back (1 November, 02:00 -> 01:00): 20:00 PDT to 06:00 PST is 11 hours.
        (
            "2026-10-31T20:00:00-07:00",
            "2026-11-01T06:00:00-08:00",
            "2026-10-31",
            660,
        ),
    ];
    for (i, (call, wrap, date, minutes)) in cases.into_iter().enumerate() {
        let crew = app.crew(&token, &dept, &format!("Night {i}")).await;
        let c = app.punch(&token, &crew, "CALL", call).await;
        assert_eq!(c["data"]["recordPunch"]["workDay"]["date"], date, "{c}");
        let w = app.punch(&token, &crew, "WRAP", wrap).await;
        assert_eq!(w["data"]["recordPunch"]["workDay"]["date"], date, "{w}");
        assert_eq!(
            w["data"]["recordPunch"]["workDay"]["workedMinutes"], minutes,
            "{w}"
        );
        let day = work_day(&app, &token, &crew, date).await;
        assert_eq!(day["workDay"]["punches"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn another_productions_crew_member_is_not_found() {
    let app = TestApp::spawn().await;
    let (token_a, _, dept_a) = app.production_with_department().await;
    let (token_b, _, dept_b) = app.production_with_department().await;
    let crew_b = app.crew(&token_b, &dept_b, "Bee").await;
    let _ = dept_a;
    let body = app
        .punch(&token_a, &crew_b, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let body = app
        .gql(
            Some(&token_a),
            WORK_DAY,
            json!({ "c": crew_b, "d": "2026-03-02" }),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let body = app
        .gql(
            Some(&token_a),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": crew_b }),
        )
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
}

#[tokio::test]
async fn bulk_punches_are_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let a = app.crew(&token, &dept, "A").await;
    let b = app.crew(&token, &dept, "B").await;
    app.punch(&token, &b, "CALL", "2026-03-02T06:00:00-08:00")
        .await;
    let q = "mutation($ids: [ID!]!, $k: PunchKind!, $at: DateTime!, $key: String!) { recordPunches(input: {crewMemberIds: $ids, kind: $k, at: $at, idempotencyKey: $key}) { punches { id } } }";
    let before = punch_rows(&app).await;
    // B already has a call that day: the whole batch is refused.
    let body = app
        .gql(Some(&token), q, json!({ "ids": [a, b], "k": "CALL", "at": "2026-03-02T07:00:00-08:00", "key": "grp-1" }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "crewMemberIds[1]");
    assert_eq!(punch_rows(&app).await, before);
    app.gql_ok(
        Some(&token),
        q,
        json!({ "ids": [a], "k": "CALL", "at": "2026-03-02T07:00:00-08:00", "key": "grp-2" }),
    )
    .await;
    let body = app
        .gql_ok(Some(&token), q, json!({ "ids": [a, b], "k": "WRAP", "at": "2026-03-02T17:00:00-08:00", "key": "grp-3" }))
        .await;
    assert_eq!(
        body["recordPunches"]["punches"].as_array().unwrap().len(),
        2
    );
    assert_eq!(punch_rows(&app).await, before + 3);
}

#[tokio::test]
async fn timecards_show_day_types_and_ordinals_and_respect_the_work_week() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Flo").await;
    // Monday to Wednesday 2-4 March 2026; Thursday is a travel day.
    for d in 2..=4 {
        app.punch(
            &token,
            &crew,
            "CALL",
            &format!("2026-03-{d:02}T07:00:00-08:00"),
        )
        .await;
        app.punch(
            &token,
            &crew,
            "WRAP",
            &format!("2026-03-{d:02}T17:00:00-08:00"),
        )
        .await;
    }
    app.gql_ok(
        Some(&token),
        "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-05\", dayType: TRAVEL}) { workDay { dayType } } }",
        json!({ "c": crew }),
    )
    .await;
    let q = "query($c: ID!, $w: NaiveDate!) { timecard(crewMemberId: $c, weekEnding: $w) { weekEnding status workedHours days { date dayType dayInWeek workedMinutes } } }";
    let card = app
        .gql_ok(Some(&token), q, json!({ "c": crew, "w": "2026-03-07" }))
        .await;
    assert_eq!(card["timecard"]["workedHours"], "30");
    assert_eq!(card["timecard"]["status"], "DRAFT");
    let days: Vec<(String, String, Value)> = card["timecard"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["dayType"].as_str().unwrap().to_owned(),
                d["dayInWeek"].clone(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-03-02".into(), "WORK".into(), json!(1)),
            ("2026-03-03".into(), "WORK".into(), json!(2)),
            ("2026-03-04".into(), "WORK".into(), json!(3)),
            ("2026-03-05".into(), "TRAVEL".into(), Value::Null),
        ]
    );
    // A week ending on the wrong weekday is refused.
    let body = app
        .gql(Some(&token), q, json!({ "c": crew, "w": "2026-03-06" }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "weekEnding");
    // Move the week's end to Friday: now Friday works and Saturday does not.
    app.gql_ok(
        Some(&token),
        "mutation($p: ID!) { updateProductionSettings(input: {productionId: $p, workWeekEnds: 5, expectedVersion: 1}) { workWeekEnds version } }",
        json!({ "p": production }),
    )
    .await;
    app.gql_ok(Some(&token), q, json!({ "c": crew, "w": "2026-03-06" }))
        .await;
    let list = app
        .gql_ok(
            Some(&token),
            "query($p: ID!, $d: ID!) { production(id: $p) { timecards(weekEnding: \"2026-03-06\", departmentId: $d, status: DRAFT) { edges { node { crewMember { name } } } } } }",
            json!({ "p": production, "d": dept }),
        )
        .await;
    assert_eq!(
        list["production"]["timecards"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_department_week_of_two_hundred_crew_takes_a_fixed_number_of_statements() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_MAX_PAGE_SIZE".into(), "200".into());
        env.insert("CREWTIME_MAX_COMPLEXITY".into(), "100000".into());
    })
    .await;
    let (token, production, _) = app.production_with_department().await;
    let mut csv = String::from("name,email,department,position,occupation_code,union,local,deal,rate,guaranteed_hours,rule_set,effective_from\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "Crew {i},c{i}@example.com,Grip,Grip,,,,HOURLY,40,,REF-US-CREW,2026-01-01\n"
        ));
    }
    let imported = app
        .gql_ok(
            Some(&token),
            "mutation($p: ID!, $csv: String!) { importCrew(input: {productionId: $p, csv: $csv}) { imported crewMembers { id } problems { line } } }",
            json!({ "p": production, "csv": csv }),
        )
        .await;
    assert_eq!(imported["importCrew"]["imported"], 200);
    let ids: Vec<Value> = imported["importCrew"]["crewMembers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let bulk = "mutation($ids: [ID!]!, $k: PunchKind!, $at: DateTime!, $key: String!) { recordPunches(input: {crewMemberIds: $ids, kind: $k, at: $at, idempotencyKey: $key}) { punches { id } } }";
    for d in 2..=6 {
        for (k, h) in [("CALL", 7), ("WRAP", 17)] {
            app.gql_ok(
                Some(&token),
                bulk,
                json!({ "ids": ids, "k": k, "at": format!("2026-03-{d:02}T{h:02}:00:00-08:00"), "key": format!("{k}-{d}") }),
            )
            .await;
        }
    }
    // Wednesday's call sheet is published with a department pre-call.
    let sheet = app
        .gql_ok(
            Some(&token),
            "mutation($p: ID!) { createCallSheet(input: {productionId: $p, sheet: {shootDate: \"2026-03-04\", dayNumber: 3, totalDays: 40,
               generalCall: \"2026-03-04T15:00:00Z\"}}) { callSheet { id version } } }",
            json!({ "p": production }),
        )
        .await;
    let sheet = &sheet["createCallSheet"]["callSheet"];
    app.gql_ok(
        Some(&token),
        "mutation($id: ID!, $v: Int!) { publishCallSheet(input: {callSheetId: $id, expectedVersion: $v}) { callSheet { status } } }",
        json!({ "id": sheet["id"], "v": sheet["version"] }),
    )
    .await;
    let q = "query($p: ID!) { production(id: $p) { timecards(weekEnding: \"2026-03-07\", first: 200) { edges { node {
               crewMember { name position department { name } }
               workedHours
               days { date dayType dayInWeek status workedMinutes scheduledCall punches { kind at } } } } } } }";
    let before = app.store().statement_count();
    let data = app
        .gql_ok(Some(&token), q, json!({ "p": production }))
        .await;
    let statements = app.store().statement_count() - before;
    let edges = data["production"]["timecards"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 200);
    assert!(edges
        .iter()
        .all(|e| e["node"]["days"].as_array().unwrap().len() == 5));
    assert_eq!(edges[0]["node"]["workedHours"], "50");
    assert_eq!(
        edges[0]["node"]["days"][2]["scheduledCall"],
        "2026-03-04T15:00:00+00:00"
    );
    assert_eq!(edges[0]["node"]["days"][1]["scheduledCall"], Value::Null);
    println!("statements for 200 crew x 1 week: {statements}");
    // The membership (`production(id:)`), then one transaction: its search path, and one
    // statement returning the settings, the crew page, their work days with punches, their
    // departments, the week's published call sheets with their calls and the timecard states.
    // (BEGIN and COMMIT do not pass the counter.)
    assert_eq!(
        statements, 3,
        "the department week must not grow with the crew"
    );
}

#[tokio::test]
async fn a_read_of_one_crew_member_takes_one_statement_and_one_week_two() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Ann").await;
    for d in 2..=4 {
        for (k, h) in [("CALL", 7), ("WRAP", 17)] {
            let body = app
                .punch(
                    &token,
                    &crew,
                    k,
                    &format!("2026-03-{d:02}T{h:02}:00:00-08:00"),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
        }
    }
    app.gql_ok(
        Some(&token),
        "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-05\", dayType: TRAVEL}) { workDay { date } } }",
        json!({ "c": crew }),
    )
    .await;
    // Tuesday's sheet calls the department early, Wednesday's calls Ann herself.
    for (date, day, calls) in [
        (
            "2026-03-03",
            2,
            json!({ "departmentCalls": [{ "departmentId": dept, "at": "2026-03-03T14:00:00Z" }] }),
        ),
        (
            "2026-03-04",
            3,
            json!({ "crewCalls": [{ "crewMemberId": crew, "at": "2026-03-04T14:30:00Z" }] }),
        ),
    ] {
        let mut sheet = json!({ "shootDate": date, "dayNumber": day, "totalDays": 40, "generalCall": format!("{date}T15:00:00Z") });
        sheet
            .as_object_mut()
            .unwrap()
            .extend(calls.as_object().unwrap().clone());
        let created = app
            .gql_ok(
                Some(&token),
                "mutation($p: ID!, $s: CallSheetInput!) { createCallSheet(input: {productionId: $p, sheet: $s}) { callSheet { id version } } }",
                json!({ "p": production, "s": sheet }),
            )
            .await;
        let created = &created["createCallSheet"]["callSheet"];
        app.gql_ok(
            Some(&token),
            "mutation($id: ID!, $v: Int!) { publishCallSheet(input: {callSheetId: $id, expectedVersion: $v}) { callSheet { status } } }",
            json!({ "id": created["id"], "v": created["version"] }),
        )
        .await;
    }
    app.approve_fully(&token, &crew, "2026-03-07").await;
    // Each read is a request of its own, so nothing is known about the production yet.
    let node = "query($c: ID!) { node(id: $c) { ... on CrewMember { name position department { name } } } }";
    let before = app.store().statement_count();
    let data = app.gql_ok(Some(&token), node, json!({ "c": crew })).await;
    let node_statements = app.store().statement_count() - before;
    assert_eq!(
        data["node"],
        json!({ "name": "Ann", "position": "Grip", "department": { "name": "Grip" } })
    );
    let week = "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") {
        status approvals { step } crewMember { name department { name } } workedHours
        days { date dayType dayInWeek status workedMinutes scheduledCall punches { kind at } } } }";
    let before = app.store().statement_count();
    let data = app.gql_ok(Some(&token), week, json!({ "c": crew })).await;
    let week_statements = app.store().statement_count() - before;
    let card = &data["timecard"];
    assert_eq!(card["status"], "APPROVED");
    assert_eq!(
        card["approvals"],
        json!([{ "step": "SUBMITTED" }, { "step": "DEPARTMENT" }, { "step": "ACCOUNTING" }, { "step": "FINAL" }])
    );
    assert_eq!(card["crewMember"]["department"]["name"], "Grip");
    assert_eq!(card["workedHours"], "30");
    let days = card["days"].as_array().unwrap();
    let calls: Vec<(&str, &str, &Value, &Value)> = days
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap(),
                d["dayType"].as_str().unwrap(),
                &d["dayInWeek"],
                &d["scheduledCall"],
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("2026-03-02", "WORK", &json!(1), &Value::Null),
            (
                "2026-03-03",
                "WORK",
                &json!(2),
                &json!("2026-03-03T14:00:00+00:00")
            ),
            (
                "2026-03-04",
                "WORK",
                &json!(3),
                &json!("2026-03-04T14:30:00+00:00")
            ),
            ("2026-03-05", "TRAVEL", &Value::Null, &Value::Null),
        ]
    );
    assert_eq!(
        days[0]["punches"],
        json!([
            { "kind": "CALL", "at": "2026-03-02T15:00:00+00:00" },
            { "kind": "WRAP", "at": "2026-03-03T01:00:00+00:00" }
        ])
    );
    assert_eq!(days[0]["status"], "WRAPPED");
    assert_eq!(days[0]["workedMinutes"], 600);
    println!("statements for node(id) of a crew member: {node_statements}; for one week: {week_statements}");
    // A crew member by id: the membership, the crew member and their department in one
    // statement, outside any transaction. The week: one transaction, the membership read by
    // the statement that sets its search path, then the whole week (BEGIN and COMMIT do not
    // pass the counter).
    assert_eq!(node_statements, 1, "node(id) of a crew member");
    assert_eq!(week_statements, 2, "one crew member's week");
}

/// A `timecard` read of cached figures only (worked hours, pay) skips the week read: it answers
/// what the full read answers, and refuses what it refuses.
#[tokio::test]
async fn a_timecard_of_cached_figures_only_answers_as_the_full_read() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Ann").await;
    app.punches(
        &token,
        &crew,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("WRAP", "2026-03-02T20:00:00-08:00"),
            ("CALL", "2026-03-03T07:00:00-08:00"),
            ("WRAP", "2026-03-03T17:30:00-08:00"),
        ],
    )
    .await;
    let full = "query($c: ID!, $w: NaiveDate!) { timecard(crewMemberId: $c, weekEnding: $w) { status days { date } weekEnding workedHours pay { gross } crewMember { name } } }";
    let cached = "query($c: ID!, $w: NaiveDate!) { timecard(crewMemberId: $c, weekEnding: $w) { weekEnding workedHours pay { gross } crewMember { name } } }";
    let vars = json!({ "c": crew, "w": "2026-03-07" });
    let a = app.gql_ok(Some(&token), full, vars.clone()).await;
    let b = app.gql_ok(Some(&token), cached, vars.clone()).await;
    for field in ["weekEnding", "workedHours", "pay", "crewMember"] {
        assert_eq!(a["timecard"][field], b["timecard"][field], "{field}");
    }
    assert_eq!(b["timecard"]["workedHours"], "23.50");
    assert_ne!(b["timecard"]["pay"]["gross"], "0.00");
    // The same for a page of cards.
    let page = |fields: &str| {
        format!("query($p: ID!) {{ production(id: $p) {{ timecards(weekEnding: \"2026-03-07\", first: 10) {{ edges {{ node {{ {fields} }} }} }} }} }}")
    };
    let vars = json!({ "p": production });
    let a = app
        .gql_ok(
            Some(&token),
            &page("status days { date } workedHours pay { gross } crewMember { name }"),
            vars.clone(),
        )
        .await;
    let b = app
        .gql_ok(
            Some(&token),
            &page("workedHours pay { gross } crewMember { name }"),
            vars,
        )
        .await;
    let node = |v: &Value| v["production"]["timecards"]["edges"][0]["node"].clone();
    for field in ["workedHours", "pay", "crewMember"] {
        assert_eq!(node(&a)[field], node(&b)[field], "page: {field}");
    }
    assert_eq!(node(&b)["workedHours"], "23.50");
    // The same refusals: a date that does not end a work week, a crew member that is not there.
    for (q, name) in [(full, "full"), (cached, "cached")] {
        let body = app
            .gql(Some(&token), q, json!({ "c": crew, "w": "2026-03-05" }))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{name}: {body}");
        let other = app.production_with_department().await;
        let stranger = app.crew(&other.0, &other.2, "Zoe").await;
        let body = app
            .gql(Some(&token), q, json!({ "c": stranger, "w": "2026-03-07" }))
            .await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{name}: {body}");
    }
}

#[tokio::test]
async fn the_department_week_shows_each_role_only_whom_it_may_see() {
    let app = TestApp::spawn().await;
    let (admin, production, grip) = app.production_with_department().await;
    let camera = app.department(&admin, &production, "Camera").await;
    let (ann, ann_token) = app.crew_with_account(&admin, &grip, "Ann").await;
    let bob = app.crew(&admin, &grip, "Bob").await;
    let cy = app.crew(&admin, &camera, "Cy").await;
    let _idle = app.crew(&admin, &camera, "Dee").await;
    for crew in [&ann, &bob, &cy] {
        let body = app
            .punch(&admin, crew, "CALL", "2026-03-03T07:00:00-08:00")
            .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let grip_head = app
        .member(&admin, &production, "DEPARTMENT_HEAD", Some(&grip))
        .await;
    let camera_head = app
        .member(&admin, &production, "DEPARTMENT_HEAD", Some(&camera))
        .await;
    let q = "query($p: ID!) { production(id: $p) { timecards(weekEnding: \"2026-03-07\") { edges { node { crewMember { name } days { date } } } } } }";
    for (who, token, want) in [
        ("admin", &admin, vec!["Ann", "Bob", "Cy"]),
        ("grip head", &grip_head, vec!["Ann", "Bob"]),
        ("camera head", &camera_head, vec!["Cy"]),
        ("crew", &ann_token, vec!["Ann"]),
    ] {
        let data = app.gql_ok(Some(token), q, json!({ "p": production })).await;
        let edges = data["production"]["timecards"]["edges"].as_array().unwrap();
        let mut names: Vec<&str> = edges
            .iter()
            .map(|e| e["node"]["crewMember"]["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, want, "{who}");
        assert!(
            edges
                .iter()
                .all(|e| e["node"]["days"] == json!([{ "date": "2026-03-03" }])),
            "{who}: {data}"
        );
    }
    // One crew member's week: their head and themself, nobody else below the office.
    let card = "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { crewMember { name } } }";
    for (who, token, code) in [
        ("grip head", &grip_head, None),
        ("camera head", &camera_head, Some("FORBIDDEN")),
        ("crew self", &ann_token, None),
    ] {
        let body = app.gql(Some(token), card, json!({ "c": ann })).await;
        assert_eq!(error_code(&body), code, "{who}: {body}");
    }
    let body = app.gql(Some(&ann_token), card, json!({ "c": bob })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn work_days_cannot_overlap() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Gus").await;
    app.punch(&token, &crew, "CALL", "2026-03-02T20:00:00-08:00")
        .await;
    // A new call while Monday's night is not wrapped.
    let body = app
        .punch(&token, &crew, "CALL", "2026-03-03T02:00:00-08:00")
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "at", "{body}");
    app.punch(&token, &crew, "WRAP", "2026-03-03T04:00:00-08:00")
        .await;
    // A call inside Monday's night.
    let body = app
        .punch(&token, &crew, "CALL", "2026-03-03T03:00:00-08:00")
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // After the wrap it is a new day, and Monday's wrap cannot be moved into it.
    let tue = app
        .punch(&token, &crew, "CALL", "2026-03-03T18:00:00-08:00")
        .await;
    assert!(tue.get("errors").is_none(), "{tue}");
    let mon = work_day(&app, &token, &crew, "2026-03-02").await;
    let wrap = mon["workDay"]["punches"][1].clone();
    let body = app
        .gql(Some(&token), CORRECT, json!({ "p": wrap["id"], "at": "2026-03-03T19:00:00-08:00", "v": wrap["version"], "r": "typo" }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(punch_rows(&app).await, 3);
}

/// A CALL moved to a date far from its day is checked against the days around the new date.
#[tokio::test]
async fn a_call_moved_days_away_is_checked_against_its_new_neighbours() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Ivy").await;
    // Monday 2 March: a call alone. Tuesday 10 March: a night running to 03:00 Wednesday.
    app.punches(
        &token,
        &crew,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("CALL", "2026-03-10T18:00:00-07:00"),
            ("WRAP", "2026-03-11T03:00:00-07:00"),
        ],
    )
    .await;
    let mon = work_day(&app, &token, &crew, "2026-03-02").await;
    let call = mon["workDay"]["punches"][0].clone();
    // Moved to 01:00 Wednesday, inside Tuesday's night: refused, and nothing changes.
    let body = app
        .gql(Some(&token), CORRECT, json!({ "p": call["id"], "at": "2026-03-11T01:00:00-07:00", "v": call["version"], "r": "wrong day" }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "at", "{body}");
    let mon = work_day(&app, &token, &crew, "2026-03-02").await;
    assert_eq!(
        mon["workDay"]["punches"][0]["at"],
        "2026-03-02T15:00:00+00:00"
    );
    // Moved to 08:00 Wednesday, after Tuesday's wrap: accepted, the day moves with it.
    let body = app
        .gql(Some(&token), CORRECT, json!({ "p": call["id"], "at": "2026-03-11T08:00:00-07:00", "v": call["version"], "r": "right day" }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let wed = work_day(&app, &token, &crew, "2026-03-11").await;
    assert_eq!(
        wed["workDay"]["punches"][0]["at"],
        "2026-03-11T15:00:00+00:00"
    );
}

#[tokio::test]
async fn dates_outside_any_production_are_refused_not_crashed_on() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Hap").await;
    for (q, vars) in [
        ("query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"+262142-12-31\") { weekEnding } }", json!({ "c": crew })),
        ("query($c: ID!) { workDay(crewMemberId: $c, date: \"-4000-01-01\") { date } }", json!({ "c": crew })),
        ("query($p: ID!) { production(id: $p) { timecards(weekEnding: \"-262143-01-03\") { edges { cursor } } } }", json!({ "p": production })),
    ] {
        let body = app.gql(Some(&token), q, vars).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{q}: {body}");
    }
    let body = app
        .punch(&token, &crew, "CALL", "2300-01-01T07:00:00Z")
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "at", "{body}");
    assert_eq!(punch_rows(&app).await, 0);
}

#[tokio::test]
async fn crew_see_only_themselves_in_lists() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    for i in 0..3 {
        app.crew(&token, &dept, &format!("Other {i}")).await;
    }
    let me = app
        .gql_ok(
            Some(&token),
            crewtime_tests::ADD_CREW,
            json!({ "d": dept, "n": "Me", "e": "me@example.com" }),
        )
        .await["addCrewMember"]["crewMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = app
        .gql_ok(
            Some(&token),
            "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c}) { invitationToken } }",
            json!({ "c": me }),
        )
        .await;
    app.gql_ok(
        None,
        "mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { accessToken } }",
        json!({ "t": invite["inviteCrewMember"]["invitationToken"], "p": crewtime_tests::PASSWORD }),
    )
    .await;
    let mine = app.login("me@example.com").await;
    let list = app
        .gql_ok(Some(&mine), "query($p: ID!) { production(id: $p) { crew(first: 1) { edges { node { name email } } pageInfo { hasNextPage } } } }", json!({ "p": production }))
        .await;
    assert_eq!(
        list["production"]["crew"]["edges"],
        json!([{ "node": { "name": "Me", "email": "me@example.com" } }])
    );
    assert_eq!(list["production"]["crew"]["pageInfo"]["hasNextPage"], false);
}
