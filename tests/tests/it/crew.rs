//! Crew members, deals, the crew-list import, invitations and call sheets.

use std::io::Write;
use std::process::{Command, Stdio};

use crewtime_tests::{crewtime_bin, error_code, test_env, TestApp, ADD_CREW, PASSWORD};
use serde_json::{json, Value};

const HEADER: &str = "name,email,department,position,occupation_code,union,local,deal,rate,guaranteed_hours,rule_set,effective_from\n";

async fn crew_count(app: &TestApp) -> i64 {
    app.count_in_production("SELECT count(*) FROM {schema}.crew_members")
        .await
}

#[tokio::test]
async fn deals_keep_every_version_and_apply_by_date() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let add = "mutation($d: ID!) { addCrewMember(input: {departmentId: $d, name: \"Gia\", position: \"Key Grip\", occupationCode: \"GRP-1\",
                 union: \"IATSE\", local: \"80\", ruleSet: \"REF-US-CREW\",
                 deal: {kind: DAILY, rate: \"550\", guaranteedHours: \"10\", effectiveFrom: \"2026-01-01\"}}) {
                 crewMember { id version union local deal(date: \"2026-02-01\") { kind rate guaranteedHours hourlyRate version } } } }";
    let data = app.gql_ok(Some(&token), add, json!({ "d": dept })).await;
    let crew = &data["addCrewMember"]["crewMember"];
    assert_eq!(
        crew["deal"],
        json!({ "kind": "DAILY", "rate": "550", "guaranteedHours": "10", "hourlyRate": "50", "version": 1 })
    );
    let id = crew["id"].as_str().unwrap();
    let update = "mutation($c: ID!, $v: Int!) { updateDeal(input: {crewMemberId: $c, expectedVersion: $v, reason: \"raise\",
                    deal: {kind: HOURLY, rate: \"55.00\", effectiveFrom: \"2026-03-01\"}}) { crewMember { version } deal { version rate } } }";
    let up = app
        .gql_ok(Some(&token), update, json!({ "c": id, "v": 1 }))
        .await;
    assert_eq!(
        up["updateDeal"]["deal"],
        json!({ "version": 2, "rate": "55" })
    );
    let stale = app
        .gql(Some(&token), update, json!({ "c": id, "v": 1 }))
        .await;
    assert_eq!(error_code(&stale), Some("CONFLICT"));
    let q = "query($id: ID!) { node(id: $id) { ... on CrewMember { before: deal(date: \"2026-02-28\") { version } after: deal(date: \"2026-03-01\") { version rate }
               deals { version effectiveFrom reason } } } }";
    let read = app.gql_ok(Some(&token), q, json!({ "id": id })).await;
    assert_eq!(read["node"]["before"]["version"], 1);
    assert_eq!(read["node"]["after"], json!({ "version": 2, "rate": "55" }));
    assert_eq!(read["node"]["deals"].as_array().unwrap().len(), 2);
    assert_eq!(read["node"]["deals"][1]["reason"], "raise");
}

#[tokio::test]
async fn bad_crew_input_names_the_field_and_adds_nothing() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let q = "mutation($d: ID!, $n: String!, $rs: String!, $k: DealKind!, $r: Decimal!, $g: Decimal, $e: String) {
               addCrewMember(input: {departmentId: $d, name: $n, email: $e, position: \"Grip\", ruleSet: $rs,
               deal: {kind: $k, rate: $r, guaranteedHours: $g, effectiveFrom: \"2026-01-01\"}}) { crewMember { id } } }";
    let ok = json!({ "d": dept, "n": "Hal", "rs": "REF-US-CREW", "k": "HOURLY", "r": "40", "g": null, "e": null });
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        o
    };
    for (vars, field) in [
        (with("n", json!("  ")), "name"),
        (with("rs", json!("NO-SUCH")), "ruleSet"),
        (with("r", json!("0")), "deal.rate"),
        (with("r", json!("-5")), "deal.rate"),
        (
            json!({ "d": dept, "n": "Hal", "rs": "REF-US-CREW", "k": "DAILY", "r": "500", "g": "13", "e": null }),
            "deal.guaranteedHours",
        ),
        (
            json!({ "d": dept, "n": "Hal", "rs": "REF-US-CREW", "k": "DAILY", "r": "500", "g": null, "e": null }),
            "deal.guaranteedHours",
        ),
        (with("e", json!("not-an-email")), "email"),
        (with("d", json!("garbage")), "departmentId"),
    ] {
        let body = app.gql(Some(&token), q, vars.clone()).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{vars}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{vars}: {body}"
        );
    }
    let body = app.gql(Some(&token), q, with("r", json!("forty"))).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(crew_count(&app).await, 0);
}

#[tokio::test]
async fn crew_lists_page_and_filter_by_department() {
    let app = TestApp::spawn().await;
    let (token, production, grip) = app.production_with_department().await;
    let camera = app.department(&token, &production, "Camera").await;
    for i in 0..3 {
        app.crew(&token, &grip, &format!("Grip {i}")).await;
    }
    app.crew(&token, &camera, "Cam 0").await;
    let q = "query($p: ID!, $d: ID) { production(id: $p) { crew(departmentId: $d, first: 2) { edges { node { name department { name } } } pageInfo { hasNextPage } } } }";
    let all = app
        .gql_ok(Some(&token), q, json!({ "p": production, "d": null }))
        .await;
    assert_eq!(all["production"]["crew"]["pageInfo"]["hasNextPage"], true);
    let cam = app
        .gql_ok(Some(&token), q, json!({ "p": production, "d": camera }))
        .await;
    assert_eq!(
        cam["production"]["crew"]["edges"],
        json!([{ "node": { "name": "Cam 0", "department": { "name": "Camera" } } }])
    );
}

#[tokio::test]
async fn a_crew_import_is_all_or_nothing_with_a_report_per_row() {
    let app = TestApp::spawn().await;
    let (token, production, _) = app.production_with_department().await;
    let q = "mutation($p: ID!, $csv: String!) { importCrew(input: {productionId: $p, csv: $csv}) { imported problems { line column message } } }";
    let bad = format!(
        "{HEADER}Ida,ida@example.com,Grip,Grip,,,,HOURLY,40,,REF-US-CREW,2026-01-01\n\
         Jo,jo@example.com,Sound,Mixer,,,,HOURLY,60,,REF-US-CREW,2026-01-01\n\
         Kai,kai@example.com,Grip,Grip,,,,DAILY,500,,REF-US-CREW,2026-01-01\n"
    );
    let report = app
        .gql_ok(Some(&token), q, json!({ "p": production, "csv": bad }))
        .await;
    assert_eq!(report["importCrew"]["imported"], 0);
    let problems: Vec<(i64, String)> = report["importCrew"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_i64().unwrap(),
                p["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(problems, vec![(4, "guaranteed_hours".to_owned())]);
    // Row 3's unknown department is found once the rows parse.
    let unknown_dept = format!(
        "{HEADER}Ida,ida@example.com,Grip,Grip,,,,HOURLY,40,,REF-US-CREW,2026-01-01\n\
         Jo,jo@example.com,Sound,Mixer,,,,HOURLY,60,,REF-US-CREW,2026-01-01\n"
    );
    let report = app
        .gql_ok(
            Some(&token),
            q,
            json!({ "p": production, "csv": unknown_dept }),
        )
        .await;
    assert_eq!(report["importCrew"]["problems"][0]["line"], 3);
    assert_eq!(report["importCrew"]["problems"][0]["column"], "department");
    assert_eq!(
        crew_count(&app).await,
        0,
        "nothing of a refused import is kept"
    );

    let good =
        format!("{HEADER}Ida,ida@example.com,grip,Grip,,,,HOURLY,40,,REF-US-CREW,2026-01-01\n");
    let report = app
        .gql_ok(Some(&token), q, json!({ "p": production, "csv": good }))
        .await;
    assert_eq!(report["importCrew"]["imported"], 1);
    // The same person again is reported, not duplicated.
    let again = app
        .gql_ok(Some(&token), q, json!({ "p": production, "csv": good }))
        .await;
    assert_eq!(again["importCrew"]["problems"][0]["column"], "email");
    assert_eq!(crew_count(&app).await, 1);
}

#[tokio::test]
async fn the_command_line_import_matches_the_mutation() {
    let app = TestApp::spawn().await;
    let (token, production, _) = app.production_with_department().await;
    let _ = token;
    let db = app.db().await;
    use sea_orm::ConnectionTrait;
    let id: uuid::Uuid = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id FROM crewtime.productions",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let _ = production;
    let run = |csv: String| {
        let mut child = Command::new(crewtime_bin())
            .args([
                "crew",
                "import",
                "--production",
                &id.to_string(),
                "--file",
                "-",
            ])
            .env_clear()
            .envs(test_env(&app.database_url))
            .env("CREWTIME_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(csv.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(format!(
        "{HEADER}Lu,lu@example.com,Grip,Grip,,,,HOURLY,abc,,REF-US-CREW,2026-01-01\n"
    ));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2: rate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(crew_count(&app).await, 0);
    let out = run(format!(
        "{HEADER}Lu,lu@example.com,Grip,Grip,,,,HOURLY,45,,REF-US-CREW,2026-01-01\n"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported 1 crew members"
    );
    assert_eq!(crew_count(&app).await, 1);
}

#[tokio::test]
async fn an_invited_crew_member_signs_in_and_punches_only_for_themself() {
    let app = TestApp::spawn().await;
    let (token, _, dept) = app.production_with_department().await;
    let me = app
        .gql_ok(
            Some(&token),
            ADD_CREW,
            json!({ "d": dept, "n": "Max", "e": "max@example.com" }),
        )
        .await["addCrewMember"]["crewMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.crew(&token, &dept, "Ned").await;
    let invite = app
        .gql_ok(
            Some(&token),
            "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c}) { invitationToken expiresAt } }",
            json!({ "c": me }),
        )
        .await;
    let invitation = invite["inviteCrewMember"]["invitationToken"]
        .as_str()
        .unwrap();
    let accept = "mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { accessToken user { email } } }";
    let accepted = app
        .gql_ok(None, accept, json!({ "t": invitation, "p": PASSWORD }))
        .await;
    assert_eq!(
        accepted["acceptInvitation"]["user"]["email"],
        "max@example.com"
    );
    // An invitation works once.
    let again = app
        .gql(None, accept, json!({ "t": invitation, "p": PASSWORD }))
        .await;
    assert_eq!(error_code(&again), Some("UNAUTHENTICATED"));
    let crew_token = app.login("max@example.com").await;
    let own = app
        .punch(&crew_token, &me, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    assert!(own.get("errors").is_none(), "{own}");
    let theirs = app
        .punch(&crew_token, &other, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    assert_eq!(error_code(&theirs), Some("FORBIDDEN"), "{theirs}");
    // Crew see their own rates, not a colleague's.
    let q = "query($id: ID!) { node(id: $id) { ... on CrewMember { name deal { rate } } } }";
    let mine = app.gql_ok(Some(&crew_token), q, json!({ "id": me })).await;
    assert_eq!(mine["node"]["deal"]["rate"], "50");
    let colleague = app.gql(Some(&crew_token), q, json!({ "id": other })).await;
    assert_eq!(
        colleague["data"]["node"]["name"], "Ned",
        "the rest of the answer arrives"
    );
    assert_eq!(colleague["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(colleague["errors"][0]["path"], json!(["node", "deal"]));
}

const CREATE_SHEET: &str = "mutation($p: ID!, $s: CallSheetInput!) { createCallSheet(input: {productionId: $p, sheet: $s}) { callSheet { id version issue status } } }";
const PUBLISH: &str = "mutation($id: ID!, $v: Int!) { publishCallSheet(input: {callSheetId: $id, expectedVersion: $v}) { callSheet { id version issue status } } }";

#[tokio::test]
async fn call_sheets_are_drafted_published_and_reissued_with_history() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = app.production_with_department().await;
    let crew = app.crew(&token, &dept, "Oz").await;
    let other = app.crew(&token, &dept, "Pia").await;
    let sheet = json!({
        "shootDate": "2026-03-02", "dayNumber": 12, "totalDays": 40,
        "generalCall": "2026-03-02T15:00:00Z", "shootingCall": "2026-03-02T16:00:00Z",
        "plannedMeals": [{ "at": "2026-03-02T21:00:00Z", "note": "catered" }],
        "locations": [{ "name": "Stage 5", "address": "1 Studio Way" }],
        "nearestHospital": "St. Joseph's, 501 S Buena Vista St",
        "departmentCalls": [{ "departmentId": dept, "at": "2026-03-02T14:00:00Z" }],
        "crewCalls": [{ "crewMemberId": crew, "at": "2026-03-02T13:30:00Z" }],
    });
    let created = app
        .gql_ok(
            Some(&token),
            CREATE_SHEET,
            json!({ "p": production, "s": sheet }),
        )
        .await;
    let draft = &created["createCallSheet"]["callSheet"];
    assert_eq!(draft["status"], "DRAFT");
    // A second draft for the day is a conflict.
    let dup = app
        .gql(
            Some(&token),
            CREATE_SHEET,
            json!({ "p": production, "s": sheet }),
        )
        .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"));
    // Edit the draft, then publish it.
    let mut edited = sheet.clone();
    edited["notes"] = json!("Rain cover on stand-by");
    let upd = app
        .gql_ok(
            Some(&token),
            "mutation($id: ID!, $s: CallSheetInput!, $v: Int!) { updateCallSheet(input: {callSheetId: $id, sheet: $s, expectedVersion: $v}) { callSheet { version notes } } }",
            json!({ "id": draft["id"], "s": edited, "v": draft["version"] }),
        )
        .await;
    let v = upd["updateCallSheet"]["callSheet"]["version"].clone();
    let published = app
        .gql_ok(Some(&token), PUBLISH, json!({ "id": draft["id"], "v": v }))
        .await;
    assert_eq!(
        published["publishCallSheet"]["callSheet"]["status"],
        "PUBLISHED"
    );
    // Published calls are the default calls of the day's work days.
    let wd = "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { scheduledCall } }";
    let own = app.gql_ok(Some(&token), wd, json!({ "c": crew })).await;
    assert_eq!(own["workDay"]["scheduledCall"], "2026-03-02T13:30:00+00:00");
    let dept_call = app.gql_ok(Some(&token), wd, json!({ "c": other })).await;
    assert_eq!(
        dept_call["workDay"]["scheduledCall"],
        "2026-03-02T14:00:00+00:00"
    );
    // A published sheet is not edited; it is re-issued.
    let edit_published = app
        .gql(
            Some(&token),
            "mutation($id: ID!, $s: CallSheetInput!, $v: Int!) { updateCallSheet(input: {callSheetId: $id, sheet: $s, expectedVersion: $v}) { callSheet { version } } }",
            json!({ "id": draft["id"], "s": edited, "v": 3 }),
        )
        .await;
    assert_eq!(error_code(&edit_published), Some("CONFLICT"));
    let re = app
        .gql_ok(
            Some(&token),
            "mutation($id: ID!) { reissueCallSheet(input: {callSheetId: $id}) { callSheet { id version issue status } } }",
            json!({ "id": draft["id"] }),
        )
        .await;
    let second = &re["reissueCallSheet"]["callSheet"];
    assert_eq!(second["issue"], 2);
    let mut later = edited.clone();
    later["generalCall"] = json!("2026-03-02T16:00:00Z");
    later["crewCalls"] = json!([]);
    let upd = app
        .gql_ok(
            Some(&token),
            "mutation($id: ID!, $s: CallSheetInput!, $v: Int!) { updateCallSheet(input: {callSheetId: $id, sheet: $s, expectedVersion: $v}) { callSheet { version } } }",
            json!({ "id": second["id"], "s": later, "v": second["version"] }),
        )
        .await;
    app.gql_ok(
        Some(&token),
        PUBLISH,
        json!({ "id": second["id"], "v": upd["updateCallSheet"]["callSheet"]["version"] }),
    )
    .await;
    let issues = app
        .gql_ok(
            Some(&token),
            "query($p: ID!) { production(id: $p) { callSheet(date: \"2026-03-02\") { issue generalCall } callSheetIssues(date: \"2026-03-02\") { issue status notes } } }",
            json!({ "p": production }),
        )
        .await;
    assert_eq!(
        issues["production"]["callSheet"],
        json!({ "issue": 2, "generalCall": "2026-03-02T16:00:00+00:00" })
    );
    assert_eq!(
        issues["production"]["callSheetIssues"],
        json!([
            { "issue": 2, "status": "PUBLISHED", "notes": "Rain cover on stand-by" },
            { "issue": 1, "status": "SUPERSEDED", "notes": "Rain cover on stand-by" },
        ])
    );
    let own = app.gql_ok(Some(&token), wd, json!({ "c": crew })).await;
    assert_eq!(
        own["workDay"]["scheduledCall"], "2026-03-02T14:00:00+00:00",
        "issue 2 dropped the personal call"
    );
}

#[tokio::test]
async fn bad_call_sheets_name_the_field() {
    let app = TestApp::spawn().await;
    let (token, production, _) = app.production_with_department().await;
    let base = json!({ "shootDate": "2026-03-02", "dayNumber": 1, "totalDays": 10, "generalCall": "2026-03-02T15:00:00Z" });
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        o
    };
    for (sheet, field) in [
        (with("dayNumber", json!(0)), "dayNumber"),
        (with("totalDays", json!(0)), "totalDays"),
        // 05:00 UTC on 2 March is still 1 March in Los Angeles.
        (
            with("generalCall", json!("2026-03-02T05:00:00Z")),
            "generalCall",
        ),
        (
            with("shootingCall", json!("2026-03-02T14:00:00Z")),
            "shootingCall",
        ),
        (
            with("locations", json!([{ "name": "", "address": "x" }])),
            "locations[0].name",
        ),
        (
            with("plannedMeals", json!([{ "at": "2026-03-03T15:00:00Z" }])),
            "plannedMeals[0].at",
        ),
    ] {
        let body = app
            .gql(
                Some(&token),
                CREATE_SHEET,
                json!({ "p": production, "s": sheet }),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{sheet}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{sheet}: {body}"
        );
    }
    let sheets = app
        .count_in_production("SELECT count(*) FROM {schema}.call_sheets")
        .await;
    assert_eq!(sheets, 0);
}

#[tokio::test]
async fn an_invitation_goes_only_to_the_crew_members_own_email_and_links_once() {
    let app = TestApp::spawn().await;
    let (admin, production, dept) = app.production_with_department().await;
    let coordinator = app.member(&admin, &production, "COORDINATOR", None).await;
    let target = app
        .gql_ok(
            Some(&admin),
            ADD_CREW,
            json!({ "d": dept, "n": "Tia", "e": "tia@example.com" }),
        )
        .await["addCrewMember"]["crewMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = "mutation($c: ID!, $e: String) { inviteCrewMember(input: {crewMemberId: $c, email: $e}) { invitationToken } }";
    let hijack = app
        .gql(
            Some(&coordinator),
            invite,
            json!({ "c": target, "e": "coordinator@example.com" }),
        )
        .await;
    assert_eq!(
        hijack["errors"][0]["extensions"]["field"], "email",
        "{hijack}"
    );
    // Two invitations for one crew member: the second acceptance cannot re-link.
    let accept = "mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { accessToken } }";
    let first = app
        .gql_ok(
            Some(&coordinator),
            invite,
            json!({ "c": target, "e": null }),
        )
        .await;
    let second = app
        .gql_ok(
            Some(&coordinator),
            invite,
            json!({ "c": target, "e": null }),
        )
        .await;
    app.gql_ok(
        None,
        accept,
        json!({ "t": first["inviteCrewMember"]["invitationToken"], "p": PASSWORD }),
    )
    .await;
    let again = app
        .gql(
            None,
            accept,
            json!({ "t": second["inviteCrewMember"]["invitationToken"], "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
}
