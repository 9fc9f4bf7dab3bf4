//! The approval path of weekly timecards.

use crewtime_tests::{error_code, TestApp};
use serde_json::{json, Value};

const CARD: &str = "query($c: ID!) { timecard(crewMemberId: $c, weekEnding: \"2026-03-07\") { status version rejectionReason approvals { step } } }";
const SUBMIT: &str = "mutation($c: ID!, $v: Int!) { submitTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: $v}) { timecard { status version } } }";
const APPROVE: &str = "mutation($c: ID!, $v: Int!) { approveTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: $v}) { timecard { status version } } }";
const REJECT: &str = "mutation($c: ID!, $v: Int!, $r: String!) { rejectTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: $v, reason: $r}) { timecard { status version rejectionReason } } }";
const UNLOCK: &str = "mutation($c: ID!, $v: Int!, $r: String!) { unlockTimecard(input: {crewMemberId: $c, weekEnding: \"2026-03-07\", expectedVersion: $v, reason: $r}) { timecard { status version } } }";

async fn card(app: &TestApp, token: &str, crew: &str) -> Value {
    app.gql_ok(Some(token), CARD, json!({ "c": crew })).await["timecard"].clone()
}

struct Office {
    admin: String,
    head: String,
    accountant: String,
    upm: String,
    crew: String,
    crew_token: String,
}

async fn office(app: &TestApp) -> Office {
    let (admin, production, dept) = app.production_with_department().await;
    let head = app
        .member(&admin, &production, "DEPARTMENT_HEAD", Some(&dept))
        .await;
    let accountant = app.member(&admin, &production, "ACCOUNTANT", None).await;
    let upm = app.member(&admin, &production, "UPM", None).await;
    let (crew, crew_token) = app.crew_with_account(&admin, &dept, "Una").await;
    app.punch(&crew_token, &crew, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    app.punch(&crew_token, &crew, "WRAP", "2026-03-02T17:00:00-08:00")
        .await;
    Office {
        admin,
        head,
        accountant,
        upm,
        crew,
        crew_token,
    }
}

#[tokio::test]
async fn a_card_goes_crew_department_accounting_final_and_locks() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    let s = app
        .gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 0 }))
        .await;
    assert_eq!(
        s["submitTimecard"]["timecard"],
        json!({ "status": "SUBMITTED", "version": 1 })
    );
    // Steps are signed in order by their own roles only.
    let early = app
        .gql(Some(&o.accountant), APPROVE, json!({ "c": c, "v": 1 }))
        .await;
    assert_eq!(error_code(&early), Some("FORBIDDEN"), "{early}");
    let crew_self = app
        .gql(Some(&o.crew_token), APPROVE, json!({ "c": c, "v": 1 }))
        .await;
    assert_eq!(error_code(&crew_self), Some("FORBIDDEN"));
    for (who, status, version) in [
        (&o.head, "DEPARTMENT_APPROVED", 2),
        (&o.accountant, "ACCOUNTING_APPROVED", 3),
        (&o.upm, "APPROVED", 4),
    ] {
        let a = app
            .gql_ok(Some(who), APPROVE, json!({ "c": c, "v": version - 1 }))
            .await;
        assert_eq!(
            a["approveTimecard"]["timecard"],
            json!({ "status": status, "version": version })
        );
    }
    let approved = card(&app, &o.admin, c).await;
    assert_eq!(
        approved["approvals"],
        json!([{ "step": "SUBMITTED" }, { "step": "DEPARTMENT" }, { "step": "ACCOUNTING" }, { "step": "FINAL" }])
    );
    // Locked: an edit is a conflict and changes nothing.
    let locked = app
        .punch(&o.admin, c, "CALL", "2026-03-03T07:00:00-08:00")
        .await;
    assert_eq!(error_code(&locked), Some("CONFLICT"), "{locked}");
    // Only an accountant unlocks, with a reason.
    let by_upm = app
        .gql(Some(&o.upm), UNLOCK, json!({ "c": c, "v": 4, "r": "fix" }))
        .await;
    assert_eq!(error_code(&by_upm), Some("FORBIDDEN"));
    let no_reason = app
        .gql(
            Some(&o.accountant),
            UNLOCK,
            json!({ "c": c, "v": 4, "r": "" }),
        )
        .await;
    assert_eq!(no_reason["errors"][0]["extensions"]["field"], "reason");
    let unlocked = app
        .gql_ok(
            Some(&o.accountant),
            UNLOCK,
            json!({ "c": c, "v": 4, "r": "Tuesday missing" }),
        )
        .await;
    assert_eq!(
        unlocked["unlockTimecard"]["timecard"],
        json!({ "status": "DRAFT", "version": 5 })
    );
    assert_eq!(card(&app, &o.admin, c).await["approvals"], json!([]));
    let edit = app
        .punch(&o.admin, c, "CALL", "2026-03-03T07:00:00-08:00")
        .await;
    assert!(edit.get("errors").is_none(), "{edit}");
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_returns_the_card() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    app.gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 0 }))
        .await;
    app.gql_ok(Some(&o.head), APPROVE, json!({ "c": c, "v": 1 }))
        .await;
    let blank = app
        .gql(
            Some(&o.accountant),
            REJECT,
            json!({ "c": c, "v": 2, "r": "  " }),
        )
        .await;
    assert_eq!(blank["errors"][0]["extensions"]["field"], "reason");
    let stale = app
        .gql(
            Some(&o.accountant),
            REJECT,
            json!({ "c": c, "v": 1, "r": "meal times" }),
        )
        .await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    let r = app
        .gql_ok(
            Some(&o.accountant),
            REJECT,
            json!({ "c": c, "v": 2, "r": "meal times missing" }),
        )
        .await;
    assert_eq!(
        r["rejectTimecard"]["timecard"],
        json!({ "status": "REJECTED", "version": 3, "rejectionReason": "meal times missing" })
    );
    assert_eq!(card(&app, &o.crew_token, c).await["approvals"], json!([]));
    let again = app
        .gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 3 }))
        .await;
    assert_eq!(again["submitTimecard"]["timecard"]["status"], "SUBMITTED");
}

#[tokio::test]
async fn an_edit_in_approval_returns_the_card_to_draft_on_the_record() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    app.gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 0 }))
        .await;
    app.gql_ok(Some(&o.head), APPROVE, json!({ "c": c, "v": 1 }))
        .await;
    let day = app
        .gql_ok(Some(&o.head), "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { punches { id kind version } } }", json!({ "c": c }))
        .await;
    let wrap = day["workDay"]["punches"][1].clone();
    app.gql_ok(
        Some(&o.head),
        "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-02T18:00:00-08:00\", expectedVersion: $v, reason: \"wrap per DPR\"}) { punch { version } } }",
        json!({ "p": wrap["id"], "v": wrap["version"] }),
    )
    .await;
    let after = card(&app, &o.admin, c).await;
    assert_eq!(after["status"], "DRAFT");
    assert_eq!(after["approvals"], json!([]));
    let log = app
        .gql_ok(
            Some(&o.admin),
            "query($p: ID!) { production(id: $p) { auditLog(first: 100) { edges { node { operation reason } } } } }",
            json!({ "p": production_of(&app, &o.admin).await }),
        )
        .await;
    let ops: Vec<(String, Value)> = log["production"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["operation"].as_str().unwrap().to_owned(),
                e["node"]["reason"].clone(),
            )
        })
        .collect();
    let tail: Vec<&(String, Value)> = ops.iter().rev().take(2).collect();
    assert_eq!(tail[0].0, "correctPunch");
    assert_eq!(
        tail[1],
        &(
            "timecardReturnedToDraft".to_owned(),
            json!("time edited while the card was in approval")
        )
    );
}

async fn production_of(app: &TestApp, token: &str) -> String {
    app.gql_ok(
        Some(token),
        "{ productions { edges { node { id } } } }",
        json!({}),
    )
    .await["productions"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn bulk_approval_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (admin, _, dept) = app.production_with_department().await;
    let a = app.crew(&admin, &dept, "A").await;
    let b = app.crew(&admin, &dept, "B").await;
    for c in [&a, &b] {
        app.punch(&admin, c, "CALL", "2026-03-02T07:00:00-08:00")
            .await;
        app.punch(&admin, c, "WRAP", "2026-03-02T17:00:00-08:00")
            .await;
    }
    app.gql_ok(Some(&admin), SUBMIT, json!({ "c": a, "v": 0 }))
        .await;
    let bulk = "mutation($cards: [TimecardRef!]!) { approveTimecards(input: {timecards: $cards}) { timecards { status } } }";
    // B was never submitted: nothing is approved.
    let body = app
        .gql(
            Some(&admin),
            bulk,
            json!({ "cards": [{ "crewMemberId": a, "weekEnding": "2026-03-07", "expectedVersion": 1 }, { "crewMemberId": b, "weekEnding": "2026-03-07", "expectedVersion": 0 }] }),
        )
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(card(&app, &admin, &a).await["status"], "SUBMITTED");
    app.gql_ok(Some(&admin), SUBMIT, json!({ "c": b, "v": 0 }))
        .await;
    let ok = app
        .gql_ok(
            Some(&admin),
            bulk,
            json!({ "cards": [{ "crewMemberId": a, "weekEnding": "2026-03-07", "expectedVersion": 1 }, { "crewMemberId": b, "weekEnding": "2026-03-07", "expectedVersion": 1 }] }),
        )
        .await;
    assert_eq!(
        ok["approveTimecards"]["timecards"],
        json!([{ "status": "DEPARTMENT_APPROVED" }, { "status": "DEPARTMENT_APPROVED" }])
    );
}

#[tokio::test]
async fn a_signer_cannot_walk_a_card_past_their_own_step() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    app.gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 0 }))
        .await;
    app.gql_ok(Some(&o.head), APPROVE, json!({ "c": c, "v": 1 }))
        .await;
    // The head's second approval would sign the accounting step.
    let again = app
        .gql(Some(&o.head), APPROVE, json!({ "c": c, "v": 2 }))
        .await;
    assert_eq!(error_code(&again), Some("FORBIDDEN"), "{again}");
    assert_eq!(
        card(&app, &o.admin, c).await["status"],
        "DEPARTMENT_APPROVED"
    );
}

#[tokio::test]
async fn deal_changes_and_week_settings_respect_cards_in_approval() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    let production = production_of(&app, &o.admin).await;
    app.gql_ok(Some(&o.crew_token), SUBMIT, json!({ "c": c, "v": 0 }))
        .await;
    let settings = "mutation($p: ID!) { updateProductionSettings(input: {productionId: $p, workWeekEnds: 5, expectedVersion: 1}) { version } }";
    let moved = app
        .gql(Some(&o.admin), settings, json!({ "p": production }))
        .await;
    assert_eq!(error_code(&moved), Some("CONFLICT"), "{moved}");
    let deal = "mutation($c: ID!, $v: Int!, $from: NaiveDate!) { updateDeal(input: {crewMemberId: $c, expectedVersion: $v, reason: \"raise\", deal: {kind: HOURLY, rate: \"70\", effectiveFrom: $from}}) { deal { version } } }";
    // A new deal inside a card in approval sends the card back to draft.
    let v = crew_version(&app, &o.admin, c).await;
    app.gql_ok(
        Some(&o.admin),
        deal,
        json!({ "c": c, "v": v, "from": "2026-03-01" }),
    )
    .await;
    assert_eq!(card(&app, &o.admin, c).await["status"], "DRAFT");
    // And a finally approved card refuses it.
    app.approve_fully(&o.admin, c, "2026-03-07").await;
    let v = crew_version(&app, &o.admin, c).await;
    let refused = app
        .gql(
            Some(&o.admin),
            deal,
            json!({ "c": c, "v": v, "from": "2026-03-02" }),
        )
        .await;
    assert_eq!(error_code(&refused), Some("CONFLICT"), "{refused}");
    assert_eq!(card(&app, &o.admin, c).await["status"], "APPROVED");
}

async fn crew_version(app: &TestApp, token: &str, crew: &str) -> i64 {
    app.gql_ok(
        Some(token),
        "query($c: ID!) { node(id: $c) { ... on CrewMember { version } } }",
        json!({ "c": crew }),
    )
    .await["node"]["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_saturday_wrap_edit_returns_both_weeks_cards_to_draft() {
    let app = TestApp::spawn().await;
    let o = office(&app).await;
    let c = &o.crew;
    // Saturday closes the week ending 2026-03-07; Sunday opens the one ending 2026-03-14,
    // whose first day's rest the Saturday wrap sets.
    app.punches(
        &o.crew_token,
        c,
        &[
            ("CALL", "2026-03-07T07:00:00-08:00"),
            ("WRAP", "2026-03-07T21:00:00-08:00"),
            ("CALL", "2026-03-08T09:00:00-08:00"),
            ("WRAP", "2026-03-08T17:00:00-08:00"),
        ],
    )
    .await;
    let submit = |week: &str| {
        format!("mutation($c: ID!) {{ submitTimecard(input: {{crewMemberId: $c, weekEnding: \"{week}\", expectedVersion: 0}}) {{ timecard {{ status }} }} }}")
    };
    for week in ["2026-03-07", "2026-03-14"] {
        let s = app
            .gql_ok(Some(&o.crew_token), &submit(week), json!({ "c": c }))
            .await;
        assert_eq!(s["submitTimecard"]["timecard"]["status"], "SUBMITTED");
    }
    let day = app
        .gql_ok(Some(&o.head), "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-07\") { punches { id kind version } } }", json!({ "c": c }))
        .await;
    let wrap = day["workDay"]["punches"][1].clone();
    assert_eq!(wrap["kind"], "WRAP");
    app.gql_ok(
        Some(&o.head),
        "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-07T22:00:00-08:00\", expectedVersion: $v, reason: \"wrap per DPR\"}) { punch { version } } }",
        json!({ "p": wrap["id"], "v": wrap["version"] }),
    )
    .await;
    for week in ["2026-03-07", "2026-03-14"] {
        let card = app
            .gql_ok(
                Some(&o.admin),
                &format!("query($c: ID!) {{ timecard(crewMemberId: $c, weekEnding: \"{week}\") {{ status }} }}"),
                json!({ "c": c }),
            )
            .await;
        assert_eq!(card["timecard"]["status"], "DRAFT", "{week}");
    }
    let log = app
        .gql_ok(
            Some(&o.admin),
            "query($p: ID!) { production(id: $p) { auditLog(first: 100) { edges { node { operation } } } } }",
            json!({ "p": production_of(&app, &o.admin).await }),
        )
        .await;
    let ops: Vec<&str> = log["production"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops[ops.len() - 3..],
        [
            "timecardReturnedToDraft",
            "timecardReturnedToDraft",
            "correctPunch"
        ]
    );
}
