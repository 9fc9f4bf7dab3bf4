//! The read cache (timecard pay, work-day totals, hot cost): every kind of write shows in the
//! next read, nodes share entries through Redis, and reads answer correctly without Redis.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use crewtime_domain::time::DayType;
use crewtime_persistence::TenantTx;
use crewtime_tests::{redis_url, PrivateRedis, TestApp};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

/// Every cached read model of the fixture at once: two timecards (worked time per day and
/// week, pay) and the hot cost report of 3 March.
const SNAPSHOT: &str = "query($p: ID!, $z: ID!, $a: ID!) {
  zed: timecard(crewMemberId: $z, weekEnding: \"2026-03-07\") {
    workedHours days { date dayType workedMinutes workedHours }
    pay { gross days { date gross mealPenaltyAmount } unpriced { date reason } } }
  amy: timecard(crewMemberId: $a, weekEnding: \"2026-03-07\") {
    workedHours days { date workedMinutes } pay { gross days { date gross mealPenaltyAmount } } }
  production(id: $p) { hotCost(date: \"2026-03-03\") { shootDaysToDate
    departments { department crewCount hours1x hours15x hours2x mealPenalties actualCost budget
                  variance actualToDate budgetToDate varianceToDate }
    totals { crewCount actualCost budget variance actualToDate budgetToDate varianceToDate } } }
}";

const HOT_COST: &str = "query($p: ID!) { production(id: $p) { hotCost(date: \"2026-03-03\") {
    totals { actualCost actualToDate budget } } } }";

const MODELS: [&str; 3] = ["timecard_pay", "work_day_totals", "hot_cost"];

fn series(cache: &str, outcome: &str) -> String {
    format!("crewtime_cache_requests_total{{cache=\"{cache}\",outcome=\"{outcome}\"}}")
}

/// `crewtime_cache_requests_total` of each read model with `outcome`.
async fn counts(app: &TestApp, outcome: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for m in MODELS {
        out.push(app.metric(&series(m, outcome)).await);
    }
    out
}

/// A production with Grip (Zed) and Camera (Amy), budgets, and three worked days.
struct Fixture {
    token: String,
    production: String,
    grip: String,
    zed: String,
    amy: String,
}

impl Fixture {
    async fn new(app: &TestApp) -> Self {
        let (token, production, grip) = app.production_with_department().await;
        let camera = app.department(&token, &production, "Camera").await;
        let zed = app.crew(&token, &grip, "Zed").await;
        let amy = app.crew(&token, &camera, "Amy").await;
        let f = Self {
            token,
            production,
            grip,
            zed,
            amy,
        };
        f.day(app, &f.zed, 2, "19:30").await;
        f.day(app, &f.amy, 2, "19:40").await;
        f.day(app, &f.amy, 3, "19:30").await;
        for (dept, budget) in [(&f.grip, "650"), (&camera, "800")] {
            f.budget(app, dept, budget).await;
        }
        f
    }

    /// 07:00 call, 13:00-13:30 meal, wrap at `wrap`, Los Angeles time.
    async fn day(&self, app: &TestApp, crew: &str, day: u32, wrap: &str) {
        let at = |time: &str| format!("2026-03-{day:02}T{time}:00-08:00");
        let times = [at("07:00"), at("13:00"), at("13:30"), at(wrap)];
        let kinds = ["CALL", "MEAL_OUT", "MEAL_IN", "WRAP"];
        let punches: Vec<(&str, &str)> = kinds
            .into_iter()
            .zip(times.iter().map(String::as_str))
            .collect();
        app.punches(&self.token, crew, &punches).await;
    }

    async fn budget(&self, app: &TestApp, dept: &str, budget: &str) {
        app.gql_ok(
            Some(&self.token),
            "mutation($d: ID!, $b: Decimal) { setDepartmentBudget(input: {departmentId: $d, dailyBudget: $b}) { dailyBudget } }",
            json!({ "d": dept, "b": budget }),
        )
        .await;
    }

    async fn snapshot(&self, app: &TestApp) -> Value {
        app.gql_ok(
            Some(&self.token),
            SNAPSHOT,
            json!({ "p": self.production, "z": self.zed, "a": self.amy }),
        )
        .await
    }

    /// What a node that never cached anything answers: a new node on the same database,
    /// without Redis.
    async fn truth(&self, app: &TestApp) -> Value {
        let cold = TestApp::spawn_on(app.database_url.clone(), |env| {
            env.remove("CREWTIME_REDIS_URL");
        })
        .await;
        let truth = self.snapshot(&cold).await;
        cold.stop().await;
        truth
    }

    /// Zed's punch of `kind` on 3 March.
    async fn punch_of(&self, app: &TestApp, kind: &str) -> Value {
        let day = app
            .gql_ok(
                Some(&self.token),
                "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-03\") { punches { id kind version } } }",
                json!({ "c": self.zed }),
            )
            .await;
        day["workDay"]["punches"]
            .as_array()
            .expect("punches")
            .iter()
            .find(|p| p["kind"] == kind)
            .expect("the punch")
            .clone()
    }
}

#[tokio::test]
async fn every_kind_of_write_shows_in_the_next_read_of_every_read_model() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let mut last = f.snapshot(&app).await;
    assert_eq!(last, f.truth(&app).await);
    assert_eq!(last["zed"]["pay"]["gross"], "700.00");
    assert_eq!(
        last["production"]["hotCost"]["totals"]["actualToDate"],
        "2130.00"
    );

    // Unchanged inputs: the second read comes from this node's memory, for every read model.
    let before: Vec<f64> = counts(&app, "hit_local").await;
    assert_eq!(f.snapshot(&app).await, last);
    for (m, b) in MODELS.iter().zip(before) {
        let after = app.metric(&series(m, "hit_local")).await;
        assert!(after > b, "{m}: no local hit ({b} -> {after})");
    }

    let t = Some(f.token.as_str());
    for step in 0..8 {
        let what = match step {
            0 => {
                f.day(&app, &f.zed, 3, "19:30").await;
                "punch: Zed works 3 March"
            }
            1 => {
                let wrap = f.punch_of(&app, "WRAP").await;
                app.gql_ok(t, "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-03T20:30:00-08:00\", expectedVersion: $v, reason: \"per DPR\"}) { punch { version } } }",
                    json!({ "p": wrap["id"], "v": wrap["version"] })).await;
                "correction: Zed's wrap on 3 March moves to 20:30"
            }
            2 => {
                // A wrapped day's meal can only go after its wrap; the wrap is then recorded
                // again, so the figures read are those of a finished day.
                for kind in ["WRAP", "MEAL_IN", "MEAL_OUT"] {
                    let p = f.punch_of(&app, kind).await;
                    app.gql_ok(t, "mutation($p: ID!, $v: Int!) { deletePunch(input: {punchId: $p, expectedVersion: $v, reason: \"no meal taken\"}) { punch { id } } }",
                        json!({ "p": p["id"], "v": p["version"] })).await;
                }
                let body = app
                    .punch(&f.token, &f.zed, "WRAP", "2026-03-03T20:30:00-08:00")
                    .await;
                assert!(body.get("errors").is_none(), "{body}");
                "deletion: Zed's meal on 3 March is struck"
            }
            3 => {
                app.gql_ok(t, "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-03\", dayType: TRAVEL}) { workDay { version } } }",
                    json!({ "c": f.zed })).await;
                "day type: Zed's 3 March becomes a travel day"
            }
            4 => {
                let v = app
                    .gql_ok(
                        t,
                        "query($c: ID!) { node(id: $c) { ... on CrewMember { version } } }",
                        json!({ "c": f.zed }),
                    )
                    .await;
                app.gql_ok(t, "mutation($c: ID!, $v: Int!) { updateDeal(input: {crewMemberId: $c, expectedVersion: $v, reason: \"raise\", deal: {kind: HOURLY, rate: \"60\", effectiveFrom: \"2026-03-01\"}}) { deal { version } } }",
                    json!({ "c": f.zed, "v": v["node"]["version"] })).await;
                "deal: Zed earns $60/h from 1 March"
            }
            5 => {
                app.gql_ok(t, "mutation($p: ID!) { setRuleSet(input: {productionId: $p, ruleSet: \"REF-US-CREW\", effectiveFrom: \"2026-03-01\", options: {mealPenaltySchedule: \"S\"}, reason: \"SAG schedule\"}) { ruleSet { version } } }",
                    json!({ "p": f.production })).await;
                "rule set: meal penalties on the S schedule (Amy's late second meal)"
            }
            6 => {
                f.budget(&app, &f.grip, "725").await;
                "budget: Grip's daily budget rises"
            }
            _ => {
                app.department(&f.token, &f.production, "Sound").await;
                "department: Sound is added"
            }
        };
        let now = f.snapshot(&app).await;
        assert_ne!(now, last, "{what}: the write must change a figure");
        assert_eq!(
            now,
            f.truth(&app).await,
            "{what}: a stale figure was served"
        );
        // And the fresh figure is what is cached now.
        assert_eq!(f.snapshot(&app).await, now, "{what}");
        last = now;
    }
    let hot = &last["production"]["hotCost"];
    assert_eq!(hot["departments"].as_array().unwrap().len(), 3);
    assert_eq!(hot["departments"][1]["department"], "Grip");
    assert_eq!(hot["departments"][1]["budget"], "725.00");
    assert_eq!(last["zed"]["days"][1]["dayType"], "TRAVEL");
}

/// Zed's pay for the week ending 14 March (Sunday 8 March is its first day).
const NEXT_WEEK: &str = "query($z: ID!) { timecard(crewMemberId: $z, weekEnding: \"2026-03-14\") {
    pay { gross days { date gross restPremiumAmount } } } }";

/// Computed priced weeks and hot cost reports so far on `app`.
async fn pay_and_hot_cost_misses(app: &TestApp) -> (f64, f64) {
    (
        app.metric(&series("timecard_pay", "miss")).await,
        app.metric(&series("hot_cost", "miss")).await,
    )
}

/// Keys are per week: time recorded in a later week leaves the priced weeks and hot cost
/// reports of earlier weeks cached, and a wrap at the end of a week reprices the next week,
/// whose first day's rest it sets.
#[tokio::test]
async fn time_in_a_later_week_leaves_earlier_weeks_cached() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let t = Some(f.token.as_str());
    let first = f.snapshot(&app).await;
    // Zed works Sunday 8 and Tuesday 10 March, in the next week.
    f.day(&app, &f.zed, 8, "17:00").await;
    f.day(&app, &f.zed, 10, "19:30").await;
    let before = pay_and_hot_cost_misses(&app).await;
    let now = f.snapshot(&app).await;
    assert_eq!(
        pay_and_hot_cost_misses(&app).await,
        before,
        "computed again"
    );
    assert_eq!(now, first);
    assert_eq!(now, f.truth(&app).await);

    // Zed works Saturday 7 March until 18:00; then the wrap moves to 23:30, and Sunday's 07:00
    // call invades the 10-hour rest: the week ending 14 March is priced again with the premium.
    f.day(&app, &f.zed, 7, "18:00").await;
    assert_ne!(f.snapshot(&app).await["zed"], first["zed"]);
    let next = app.gql_ok(t, NEXT_WEEK, json!({ "z": f.zed })).await;
    let sunday = |week: &Value| week["timecard"]["pay"]["days"][0].clone();
    assert_eq!(sunday(&next)["date"], "2026-03-08", "{next}");
    assert_eq!(sunday(&next)["restPremiumAmount"], "0.00", "{next}");
    let saturday = app
        .gql_ok(
            t,
            "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-07\") { punches { id kind version } } }",
            json!({ "c": f.zed }),
        )
        .await;
    let wrap = saturday["workDay"]["punches"]
        .as_array()
        .expect("punches")
        .iter()
        .find(|p| p["kind"] == "WRAP")
        .expect("the wrap")
        .clone();
    app.gql_ok(t, "mutation($p: ID!, $v: Int!) { correctPunch(input: {punchId: $p, at: \"2026-03-07T23:30:00-08:00\", expectedVersion: $v, reason: \"late wrap\"}) { punch { version } } }",
        json!({ "p": wrap["id"], "v": wrap["version"] })).await;
    let moved = app.gql_ok(t, NEXT_WEEK, json!({ "z": f.zed })).await;
    assert_ne!(sunday(&moved)["restPremiumAmount"], "0.00", "{moved}");
    assert_ne!(
        moved["timecard"]["pay"]["gross"],
        next["timecard"]["pay"]["gross"]
    );
}

/// A change of the work week's last day waits for a time edit in flight: an edit bumps the
/// version of its week as the settings define it, so a week priced under new settings must not
/// be cached while an edit bumped a week of the old ones. (The edit here has also written its
/// audit record, whose lock alone would order the two; the settings row's share lock, taken
/// when the edit touches its card, covers the moments before that.)
#[tokio::test]
async fn a_change_of_the_work_week_waits_for_time_edits_in_flight() {
    let app = TestApp::spawn().await;
    let f = Fixture::new(&app).await;
    let store = app.store().clone();
    let production = store
        .all_productions()
        .await
        .expect("productions")
        .into_iter()
        .next()
        .expect("the fixture's production");
    // An edit of Zed's Thursday, held open.
    let tx = TenantTx::begin(&store, &production).await.expect("begin");
    let zed: Uuid = tx
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id FROM crew_members WHERE name = 'Zed'",
        ))
        .await
        .expect("query")
        .expect("Zed")
        .try_get_by_index(0)
        .expect("id");
    let thursday = NaiveDate::from_ymd_opt(2026, 3, 5).expect("date");
    tx.set_day_type(zed, thursday, DayType::Hold)
        .await
        .expect("day type");
    let (client, base, token, id) = (
        app.client.clone(),
        app.base.clone(),
        f.token.clone(),
        f.production.clone(),
    );
    let change = tokio::spawn(async move {
        client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&json!({
                "query": "mutation($p: ID!) { updateProductionSettings(input: {productionId: $p, workWeekEnds: 5, expectedVersion: 1}) { workWeekEnds } }",
                "variables": { "p": id },
            }))
            .send()
            .await
            .expect("sent")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !change.is_finished(),
        "the settings changed under an open edit"
    );
    tx.commit().await.expect("commit");
    let body = change.await.expect("joined");
    assert_eq!(
        body["data"]["updateProductionSettings"]["workWeekEnds"], 5,
        "{body}"
    );
}

#[tokio::test]
async fn a_second_node_reads_what_the_first_computed_from_redis() {
    assert!(
        redis_url().is_some(),
        "this test needs Redis (CREWTIME_TEST_REDIS_URL; scripts/services.sh provides it)"
    );
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.database_url.clone(), |_| {}).await;
    let f = Fixture::new(&a).await;
    let before_a = a.store().statement_count();
    let on_a = f.snapshot(&a).await;
    let statements_a = a.store().statement_count() - before_a;

    let hits: Vec<f64> = counts(&b, "hit_redis").await;
    let misses: Vec<f64> = counts(&b, "miss").await;
    let before_b = b.store().statement_count();
    let on_b = f.snapshot(&b).await;
    let statements_b = b.store().statement_count() - before_b;
    assert_eq!(on_a, on_b);
    for ((m, hit), miss) in MODELS.iter().zip(hits).zip(misses) {
        let (hit_after, miss_after) = (
            b.metric(&series(m, "hit_redis")).await,
            b.metric(&series(m, "miss")).await,
        );
        assert!(
            hit_after > hit,
            "{m}: node B's first read is not a Redis hit ({hit} -> {hit_after})"
        );
        assert_eq!(miss_after, miss, "{m}: node B computed");
    }
    println!(
        "snapshot statements: node A (computed) {statements_a}, node B (from Redis) {statements_b}"
    );
    assert!(statements_b < statements_a);

    // A cached hot cost report costs its versions and nothing more: on a third node, with
    // the report in Redis, the membership, then the versions in one statement outside any
    // transaction.
    let c = TestApp::spawn_on(a.database_url.clone(), |_| {}).await;
    let before = c.store().statement_count();
    let hot = c
        .gql_ok(Some(&f.token), HOT_COST, json!({ "p": f.production }))
        .await;
    let statements = c.store().statement_count() - before;
    assert_eq!(
        hot["production"]["hotCost"]["totals"]["actualToDate"],
        on_a["production"]["hotCost"]["totals"]["actualToDate"]
    );
    println!("statements for a hot cost report from Redis: {statements}");
    assert_eq!(statements, 2, "a cached report reads only its versions");
    let ratio = c
        .metric("crewtime_cache_hit_ratio{cache=\"hot_cost\"}")
        .await;
    assert!(ratio > 0.0 && ratio < 1.0, "hit ratio {ratio}");
}

#[tokio::test]
async fn without_redis_reads_are_computed_and_right() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let a = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_REDIS_URL".into(), url.clone());
    })
    .await;
    let b = TestApp::spawn_on(a.database_url.clone(), |env| {
        env.insert("CREWTIME_REDIS_URL".into(), url.clone());
    })
    .await;
    let f = Fixture::new(&a).await;
    let first = f.snapshot(&a).await;

    // Redis goes away: a write, then reads on both nodes (B has nothing in memory) answer the
    // new figures, and the failures are counted.
    redis.stop().await;
    let errors = "crewtime_cache_redis_errors_total{cache=\"hot_cost\",op=\"get\"}";
    let errors_before = a.metric(errors).await;
    f.day(&a, &f.zed, 3, "19:30").await;
    let truth = f.truth(&a).await;
    assert_ne!(truth, first);
    assert_eq!(f.snapshot(&a).await, truth);
    assert_eq!(f.snapshot(&b).await, truth);
    assert!(a.metric(errors).await > errors_before);
    let ready = a
        .client
        .get(format!("{}/readyz", a.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        ready.status(),
        200,
        "Redis being down does not make a node unready"
    );

    // Redis is back (empty): after the pause the cache fills it again and stays right.
    redis.start_again().await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    f.budget(&a, &f.grip, "700").await;
    let truth = f.truth(&a).await;
    assert_eq!(f.snapshot(&a).await, truth);
    assert_eq!(f.snapshot(&b).await, truth);

    // A hung Redis (it accepts but never answers) costs a read its short timeout, once.
    let c = TestApp::spawn_on(a.database_url.clone(), |env| {
        env.insert("CREWTIME_REDIS_URL".into(), url.clone());
    })
    .await;
    redis.freeze(true);
    let started = Instant::now();
    let on_c = f.snapshot(&c).await;
    let took = started.elapsed();
    redis.freeze(false);
    assert_eq!(on_c, truth);
    println!("a read with Redis hung took {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}
