//! Live hours over WebSocket (graphql-transport-ws and the legacy graphql-ws): snapshot then
//! changes in order, a timer warning with no punch, authorisation per subscription, refused
//! init, and a punch on one node reaching a subscriber on another through Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crewtime_tests::{redis_url, PrivateRedis, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const LIVE: &str = "subscription($p: ID!, $d: NaiveDate!, $dep: ID) { liveHours(productionId: $p, date: $d, departmentId: $dep) { kind warning { kind at } crew { crewMemberId name status call workedMinutes tier nextMealDue mealPenalties paySoFar version } } }";

/// How long a test waits for one message before failing.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    legacy: bool,
}

impl Client {
    pub(crate) async fn connect(app: &TestApp, subprotocol: &str) -> Self {
        let url = app.base.replace("http://", "ws://") + "/graphql";
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(subprotocol).expect("header"),
        );
        let (ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("WebSocket upgrade accepted");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(subprotocol)
        );
        Self {
            ws,
            legacy: subprotocol == "graphql-ws",
        }
    }

    /// A graphql-transport-ws socket on `app`, initialised with `token` and acknowledged.
    pub(crate) async fn ready(app: &TestApp, token: &str) -> Self {
        let mut client = Self::connect(app, "graphql-transport-ws").await;
        client.init(Some(token)).await.expect("ack");
        client
    }

    pub(crate) async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next frame: a JSON message, or the close frame's code.
    pub(crate) async fn next(&mut self) -> Result<Value, Option<u16>> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message within the wait");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(&t).expect("JSON message"))
                }
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// `connection_init` with `token`; returns the answer (ack) or the close code.
    pub(crate) async fn init(&mut self, token: Option<&str>) -> Result<Value, Option<u16>> {
        let payload = match token {
            Some(t) => json!({ "authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        loop {
            let m = self.next().await?;
            // The legacy protocol may send keep-alives.
            if m["type"] != "ka" {
                return Ok(m);
            }
        }
    }

    pub(crate) async fn subscribe(&mut self, id: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(
            json!({ "id": id, "type": kind, "payload": { "query": LIVE, "variables": variables } }),
        )
        .await;
    }

    /// The next payload of a subscription (`next` / legacy `data`), skipping keep-alives.
    pub(crate) async fn payload(&mut self) -> Value {
        loop {
            let m = self.next().await.expect("an open socket");
            match m["type"].as_str() {
                Some("next") | Some("data") => return m["payload"].clone(),
                Some("ka") | Some("ping") | Some("pong") => continue,
                _ => return m,
            }
        }
    }

    pub(crate) async fn live(&mut self) -> Value {
        let p = self.payload().await;
        assert!(p.get("errors").is_none(), "unexpected errors: {p}");
        p["data"]["liveHours"].clone()
    }
}

async fn setup(app: &TestApp) -> (String, String, String) {
    app.production_with_department().await
}

#[tokio::test]
async fn snapshot_then_one_change_per_punch_in_order() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    let body = app
        .punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    assert!(body.get("errors").is_none(), "{body}");

    let mut c = Client::connect(&app, "graphql-transport-ws").await;
    assert_eq!(
        c.init(Some(&token)).await.expect("ack")["type"],
        "connection_ack"
    );
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    let snap = c.live().await;
    assert_eq!(snap["kind"], "SNAPSHOT");
    let crew = snap["crew"].as_array().expect("crew");
    assert_eq!(crew.len(), 1, "{snap}");
    assert_eq!(crew[0]["crewMemberId"], ann.as_str());
    assert_eq!(crew[0]["status"], "ON_CLOCK");
    assert_eq!(crew[0]["call"], "2026-03-02T15:00:00+00:00");
    let mut version = crew[0]["version"].as_i64().expect("version");

    for (kind, at, status) in [
        ("MEAL_OUT", "2026-03-02T13:00:00-08:00", "AT_MEAL"),
        ("MEAL_IN", "2026-03-02T13:30:00-08:00", "ON_CLOCK"),
        ("WRAP", "2026-03-02T19:30:00-08:00", "WRAPPED"),
    ] {
        let body = app.punch(&token, &ann, kind, at).await;
        assert!(body.get("errors").is_none(), "{body}");
        let change = c.live().await;
        assert_eq!(change["kind"], "CHANGE", "{change}");
        let state = &change["crew"][0];
        assert_eq!(state["status"], status, "after {kind}: {change}");
        let v = state["version"].as_i64().expect("version");
        assert!(v > version, "versions grow: {v} after {version}");
        version = v;
    }
}

/// Subscribers that see the same message through the same operation share one rendering of it;
/// another operation (another selection) gets its own, in its own shape.
#[tokio::test]
async fn a_rendering_is_shared_only_by_subscriptions_of_the_same_operation() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    app.punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await;
    let same = json!({ "p": production, "d": "2026-03-02", "dep": dept });
    let mut first = Client::ready(&app, &token).await;
    first.subscribe("full", same.clone()).await;
    first
        .send(json!({
            "id": "narrow",
            "type": "subscribe",
            "payload": {
                "query": "subscription($p: ID!, $d: NaiveDate!, $dep: ID) { liveHours(productionId: $p, date: $d, departmentId: $dep) { kind crew { name status } } }",
                "variables": same,
            }
        }))
        .await;
    let mut second = Client::ready(&app, &token).await;
    second.subscribe("full", same.clone()).await;
    let mut snapshots = HashMap::new();
    for _ in 0..2 {
        let (id, m) = first.live_with_id().await;
        snapshots.insert(id, m);
    }
    let (_, theirs) = second.live_with_id().await;
    assert_eq!(
        snapshots["full"], theirs,
        "the same operation, the same snapshot"
    );
    assert_eq!(
        snapshots["narrow"],
        json!({ "kind": "SNAPSHOT", "crew": [{ "name": "Ann", "status": "ON_CLOCK" }] })
    );

    let shared = "crewtime_live_renders_shared_total";
    let before = app.metric(shared).await;
    app.punch(&token, &ann, "MEAL_OUT", "2026-03-02T13:00:00-08:00")
        .await;
    let mut changes = HashMap::new();
    for _ in 0..2 {
        let (id, m) = first.live_with_id().await;
        changes.insert(id, m);
    }
    let (_, theirs) = second.live_with_id().await;
    assert_eq!(changes["full"], theirs);
    let state = &theirs["crew"][0];
    assert_eq!(theirs["kind"], "CHANGE", "{theirs}");
    assert_eq!(state["status"], "AT_MEAL", "{theirs}");
    assert_eq!(state["name"], "Ann", "{theirs}");
    assert_eq!(
        changes["narrow"],
        json!({ "kind": "CHANGE", "crew": [{ "name": "Ann", "status": "AT_MEAL" }] })
    );
    // Of the three renderings of the change, the two of the same operation were one.
    assert_eq!(app.metric(shared).await - before, 1.0);
}

/// A node reads a crew member's state ahead of waking subscribers only for crew someone there
/// watches: a punch of anyone else costs it nothing.
#[tokio::test]
async fn a_node_computes_only_for_crew_its_subscriptions_watch() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let (ann, ann_token) = app.crew_with_account(&token, &dept, "Ann").await;
    let bob = app.crew(&token, &dept, "Bob").await;
    for crew in [&ann, &bob] {
        app.punch(&token, crew, "CALL", "2026-03-02T07:00:00-08:00")
            .await;
    }
    // Ann watches the department and sees only herself.
    let mut c = Client::ready(&app, &ann_token).await;
    c.subscribe(
        "1",
        json!({ "p": production, "d": "2026-03-02", "dep": dept }),
    )
    .await;
    let snap = c.live().await;
    assert_eq!(snap["crew"].as_array().map(Vec::len), Some(1), "{snap}");

    let computed = "crewtime_live_computations_total";
    let before = app.metric(computed).await;
    app.punch(&token, &bob, "MEAL_OUT", "2026-03-02T13:00:00-08:00")
        .await;
    app.punch(&token, &ann, "MEAL_OUT", "2026-03-02T13:00:00-08:00")
        .await;
    let change = c.live().await;
    assert_eq!(change["crew"][0]["crewMemberId"], ann.as_str(), "{change}");
    assert_eq!(change["crew"][0]["status"], "AT_MEAL", "{change}");
    assert_eq!(
        app.metric(computed).await - before,
        1.0,
        "Ann's state was computed; Bob's, whom nobody here watches, was not"
    );
}

#[tokio::test]
async fn the_final_state_carries_hours_tier_and_pay_for_those_who_may_see_pay() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    app.punches(
        &token,
        &ann,
        &[
            ("CALL", "2026-03-02T07:00:00-08:00"),
            ("MEAL_OUT", "2026-03-02T13:00:00-08:00"),
            ("MEAL_IN", "2026-03-02T13:30:00-08:00"),
            ("WRAP", "2026-03-02T19:30:00-08:00"),
        ],
    )
    .await;
    let coordinator = app.member(&token, &production, "COORDINATOR", None).await;
    for (who, sees_pay) in [(&token, true), (&coordinator, false)] {
        let mut c = Client::connect(&app, "graphql-ws").await;
        assert_eq!(
            c.init(Some(who)).await.expect("ack")["type"],
            "connection_ack"
        );
        c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
            .await;
        let snap = c.live().await;
        let s = &snap["crew"][0];
        assert_eq!(s["status"], "WRAPPED", "{snap}");
        assert_eq!(s["workedMinutes"], 12 * 60);
        // REF-US-CREW: 1x to 8 hours, 1.5x to 12 (Monday is day 1 of its week).
        assert_eq!(s["tier"], "1.5x", "{snap}");
        assert_eq!(s["paySoFar"].is_string(), sees_pay, "{snap}");
    }
}

#[tokio::test]
async fn warnings_fire_from_timers_with_no_punch() {
    // REF-US-CREW wants a meal 6 hours after call (MEAL_DUE_SOON 15 minutes before) and pays
    // 1.5x after 8 hours and 2x after 12. Each call is placed so the moment is 2 seconds away.
    let rules = crewtime_domain::pay::preset("REF-US-CREW").expect("preset");
    let mp = rules.meal_penalty.expect("REF-US-CREW has meal penalties");
    assert_eq!(mp.interval_hours, 6.into());
    let (grace, unit) = (i64::from(mp.grace_minutes), i64::from(mp.unit_minutes));
    tokio::join!(
        watch_for_warning(6 * 60 - 15, "MEAL_DUE_SOON"),
        watch_for_warning(6 * 60 + grace, "MEAL_PENALTY_STARTED"),
        watch_for_warning(6 * 60 + unit.max(grace + 1), "MEAL_PENALTY_ADDED"),
        watch_for_warning(8 * 60, "ENTERING_OVERTIME"),
        watch_for_warning(12 * 60, "ENTERING_DOUBLE_TIME"),
    );
}

/// A production in UTC, so a test's dates are the UTC dates of its instants: (token,
/// production, department).
async fn utc_production(app: &TestApp) -> (String, String, String) {
    let token = app.admin().await;
    let production = app
        .gql_ok(
            Some(&token),
            "mutation { createProduction(input: {name: \"UTC\", timezone: \"UTC\", currency: \"USD\"}) { production { id } } }",
            json!({}),
        )
        .await["createProduction"]["production"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let dept = app.department(&token, &production, "Grip").await;
    (token, production, dept)
}

async fn watch_for_warning(minutes_after_call: i64, expected: &str) {
    let app = TestApp::spawn().await;
    let (token, production, dept) = utc_production(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    let call: DateTime<Utc> =
        Utc::now() - chrono::Duration::minutes(minutes_after_call) + chrono::Duration::seconds(2);
    let call = call.with_nanosecond_zero();
    let body = app.punch(&token, &ann, "CALL", &call.to_rfc3339()).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut c = Client::ready(&app, &token).await;
    c.subscribe(
        "w",
        json!({ "p": production, "d": call.date_naive().to_string() }),
    )
    .await;
    let snap = c.live().await;
    assert_eq!(snap["kind"], "SNAPSHOT");
    let started = Instant::now();
    // Moments can coincide (REF-US-CREW's fifth meal penalty starts at 8 hours, with 1.5x):
    // wait for the expected one among the warnings.
    loop {
        let warning = c.live().await;
        assert_eq!(warning["kind"], "WARNING", "{warning}");
        assert_eq!(warning["crew"][0]["crewMemberId"], ann.as_str());
        if warning["warning"]["kind"] == expected {
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{expected} fired on time: {:?}",
        started.elapsed()
    );
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl NoNanos for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).expect("valid")
    }
}

#[tokio::test]
async fn init_without_a_valid_token_is_closed_with_4401() {
    let app = TestApp::spawn().await;
    for subprotocol in ["graphql-transport-ws", "graphql-ws"] {
        for token in [None, Some("not-a-jwt")] {
            let mut c = Client::connect(&app, subprotocol).await;
            let mut answer = c.init(token).await;
            // The legacy protocol sends `connection_error` first, then closes.
            if let Ok(m) = &answer {
                assert_eq!(m["type"], "connection_error", "{subprotocol}: {m}");
                answer = c.next().await;
            }
            assert_eq!(answer, Err(Some(4401)), "{subprotocol} {token:?}");
        }
    }
    // The plain GET query path still works next to the upgrade.
    let resp = app
        .client
        .get(format!("{}/graphql?query=%7B__typename%7D", app.base))
        .send()
        .await
        .expect("GET");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn each_subscription_is_authorised_on_its_own() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let other_dept = app.department(&token, &production, "Electric").await;
    let head = app
        .member(&token, &production, "DEPARTMENT_HEAD", Some(&dept))
        .await;
    let stranger = app.admin().await;
    let _their_own = app.production(&stranger, "Other").await;

    let mut c = Client::ready(&app, &stranger).await;
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    let refused = c.payload().await;
    let text = refused.to_string();
    assert!(text.contains("NOT_FOUND"), "{refused}");

    let mut h = Client::ready(&app, &head).await;
    h.subscribe(
        "own",
        json!({ "p": production, "d": "2026-03-02", "dep": dept }),
    )
    .await;
    assert_eq!(h.live().await["kind"], "SNAPSHOT");
    h.subscribe(
        "other",
        json!({ "p": production, "d": "2026-03-02", "dep": other_dept }),
    )
    .await;
    let refused = h.payload().await;
    assert!(refused.to_string().contains("FORBIDDEN"), "{refused}");
}

#[tokio::test]
async fn a_punch_on_one_node_reaches_a_subscriber_on_another() {
    // Two servers on one database and one Redis: the nodes of a deployment.
    assert!(
        redis_url().is_some(),
        "this test needs Redis (CREWTIME_TEST_REDIS_URL; scripts/services.sh provides it)"
    );
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.database_url.clone(), |_| {}).await;
    let (token, production, dept) = setup(&a).await;
    let ann = a.crew(&token, &dept, "Ann").await;
    assert!(a
        .punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    let mut c = Client::ready(&b, &token).await;
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    assert_eq!(c.live().await["kind"], "SNAPSHOT");
    // Day types are toggled on the next day so each change is a new version of Ann's time
    // without running into the day's punch order rules.
    let set_day = "mutation($c: ID!, $t: DayType!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-03\", dayType: $t}) { workDay { version } } }";
    let mut latencies = Vec::new();
    let mut last = 0;
    // 40 by default; CREWTIME_TEST_LIVE_EVENTS=1000 measures the latency figures quoted in
    // docs/OPERATIONS.md.
    let events: usize = std::env::var("CREWTIME_TEST_LIVE_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    for i in 0..events {
        let t = if i % 2 == 0 { "HOLD" } else { "TRAVEL" };
        let sent = Instant::now();
        a.gql_ok(Some(&token), set_day, json!({ "c": ann, "t": t }))
            .await;
        let change = c.live().await;
        latencies.push(sent.elapsed());
        assert_eq!(change["kind"], "CHANGE", "{change}");
        let v = change["crew"][0]["version"].as_i64().expect("version");
        assert!(v > last, "in order: {v} after {last}");
        last = v;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "mutation on node A sent -> change received on node B, {} changes: median {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1]
    );
    let ready: Value = b
        .client
        .get(format!("{}/readyz", b.base))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["redis_subscriber"], "up", "{ready}");
}

#[tokio::test]
async fn a_socket_without_init_is_closed_with_4408() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_WS_INIT_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let mut c = Client::connect(&app, "graphql-transport-ws").await;
    let started = Instant::now();
    assert_eq!(c.next().await, Err(Some(4408)));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn an_expired_token_ends_the_subscription_with_a_clear_error() {
    let app = TestApp::spawn().await;
    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    app.create_user(&email, true).await;
    let token = app.login(&email).await;
    let production = app.production(&token, "Feature").await;
    // A second node whose access tokens live two seconds.
    let short = TestApp::spawn_on(app.database_url.clone(), |env| {
        env.insert("CREWTIME_ACCESS_TOKEN_TTL_SECS".into(), "2".into());
    })
    .await;
    let brief = short.login(&email).await;
    let mut c = Client::ready(&short, &brief).await;
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    assert_eq!(c.live().await["kind"], "SNAPSHOT");
    let ended = c.payload().await;
    assert_eq!(
        ended["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{ended}"
    );
    assert!(
        ended["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{ended}"
    );
    let complete = c.next().await.expect("complete");
    assert_eq!(complete["type"], "complete", "{complete}");
}

/// A socket opened with a READ_TIME API token of a new production, watching one day of it.
struct TokenSocket {
    admin: String,
    production: String,
    token_id: String,
    client: Client,
}

impl TokenSocket {
    async fn open(app: &TestApp) -> Self {
        let (admin, production, _) = setup(app).await;
        let data = app
            .gql_ok(
                Some(&admin),
                "mutation($p: ID!) { createApiToken(input: {productionId: $p, name: \"Feed\", scopes: [READ_TIME]}) { token apiToken { id } } }",
                json!({ "p": production }),
            )
            .await;
        let created = &data["createApiToken"];
        let token = created["token"].as_str().expect("token");
        let mut client = Client::ready(app, token).await;
        client
            .subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
            .await;
        assert_eq!(client.live().await["kind"], "SNAPSHOT");
        Self {
            admin,
            token_id: created["apiToken"]["id"].as_str().expect("id").to_owned(),
            production,
            client,
        }
    }

    async fn revoke(&self, app: &TestApp) {
        app.gql_ok(
            Some(&self.admin),
            "mutation($t: ID!) { revokeApiToken(input: {tokenId: $t}) { apiToken { revokedAt } } }",
            json!({ "t": self.token_id }),
        )
        .await;
    }

    /// Subscribes to another day of the production.
    async fn subscribe_again(&mut self, id: &str) {
        self.client
            .subscribe(id, json!({ "p": self.production, "d": "2026-03-03" }))
            .await;
    }
}

#[tokio::test]
async fn a_revoked_api_token_closes_its_socket() {
    let app = TestApp::spawn_with(|env| {
        env.insert("CREWTIME_WS_TOKEN_RECHECK_SECS".into(), "1".into());
    })
    .await;
    let mut s = TokenSocket::open(&app).await;
    // Still valid: a check passes and the socket stays open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.subscribe_again("2").await;
    assert_eq!(s.client.live().await["kind"], "SNAPSHOT");
    s.revoke(&app).await;
    let closed = loop {
        match s.client.next().await {
            Ok(m) if m["type"] == "ping" || m["type"] == "pong" => continue,
            Ok(m) => panic!("a message after the revocation: {m}"),
            Err(code) => break code,
        }
    };
    assert_eq!(closed, Some(4401));
}

#[tokio::test]
async fn a_socket_starts_nothing_more_for_a_revoked_api_token() {
    // The default check interval (30 s) is longer than this test: the socket stays open, and
    // it is the new operation's own lookup that refuses.
    let app = TestApp::spawn().await;
    let mut s = TokenSocket::open(&app).await;
    s.revoke(&app).await;
    s.subscribe_again("2").await;
    let refused = s
        .client
        .next()
        .await
        .expect("an answer for the new subscription");
    assert_eq!(refused["id"], "2", "{refused}");
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    let complete = s.client.next().await.expect("complete");
    assert_eq!(
        (complete["id"].as_str(), complete["type"].as_str()),
        (Some("2"), Some("complete")),
        "{complete}"
    );
}

#[tokio::test]
async fn the_graphql_ws_npm_client_subscribes() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = crewtime_tests::repo_root().join("tests/interop");
    assert!(
        dir.join("node_modules/graphql-ws").exists(),
        "the interop check needs its npm packages: run `npm ci --prefix tests/interop` (`make test` does)"
    );
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    assert!(app
        .punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("live.mjs"))
        .env(
            "CREWTIME_WS_URL",
            app.base.replace("http://", "ws://") + "/graphql",
        )
        .env("CREWTIME_TOKEN", &token)
        .env("CREWTIME_PRODUCTION", &production)
        .env("CREWTIME_DATE", "2026-03-02")
        .env("COUNT", "2")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("a result within the wait")
            .expect("readable")
            .expect("a result line");
        serde_json::from_str(&line).expect("JSON result")
    };
    let snapshot = next().await;
    assert_eq!(
        snapshot["data"]["liveHours"]["kind"], "SNAPSHOT",
        "{snapshot}"
    );
    assert!(app
        .punch(&token, &ann, "MEAL_OUT", "2026-03-02T13:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    let change = next().await;
    assert_eq!(change["data"]["liveHours"]["kind"], "CHANGE", "{change}");
    assert_eq!(change["data"]["liveHours"]["crew"][0]["status"], "AT_MEAL");
    let status = tokio::time::timeout(WAIT, node.wait())
        .await
        .expect("node exits")
        .expect("status");
    assert!(
        status.success(),
        "the graphql-ws client ended with {status}"
    );
}

#[tokio::test]
async fn subscribers_resync_after_redis_restarts_and_go_on() {
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
    let (token, production, dept) = setup(&a).await;
    let ann = a.crew(&token, &dept, "Ann").await;
    let punch = |kind: &'static str, at: &'static str| {
        let (a, token, ann) = (&a, &token, &ann);
        async move {
            let body = a.punch(token, ann, kind, at).await;
            assert!(body.get("errors").is_none(), "{kind}: {body}");
        }
    };
    punch("CALL", "2026-03-02T07:00:00-08:00").await;
    let mut c = Client::ready(&b, &token).await;
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    assert_eq!(c.live().await["kind"], "SNAPSHOT");
    punch("MEAL_OUT", "2026-03-02T13:00:00-08:00").await;
    assert_eq!(c.live().await["crew"][0]["status"], "AT_MEAL");

    redis.restart().await;
    // Events published while node B was cut off are gone (pub/sub is at-most-once), so B
    // resyncs its subscribers once its subscriber is back.
    let resync = c.live().await;
    assert_eq!(resync["kind"], "RESYNC", "{resync}");
    assert_eq!(resync["crew"][0]["status"], "AT_MEAL");
    let ready: Value = b
        .client
        .get(format!("{}/readyz", b.base))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["redis_subscriber"], "up", "{ready}");

    punch("MEAL_IN", "2026-03-02T13:30:00-08:00").await;
    let change = c.live().await;
    assert_eq!(change["kind"], "CHANGE", "{change}");
    assert_eq!(change["crew"][0]["status"], "ON_CLOCK");
}

#[tokio::test]
async fn rest_at_risk_fires_when_a_wrap_would_invade_the_next_published_call() {
    let app = TestApp::spawn().await;
    let (token, production, dept) = utc_production(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    let rest_hours: i64 = crewtime_domain::pay::preset("REF-US-CREW")
        .and_then(|r| r.rest)
        .expect("REF-US-CREW has a rest rule")
        .hours
        .try_into()
        .expect("whole hours");
    // Tomorrow's call is placed so that the rest period before it begins 2 seconds from now.
    let next_call =
        (Utc::now() + chrono::Duration::hours(rest_hours) + chrono::Duration::seconds(2))
            .with_nanosecond_zero();
    let shoot_date = next_call.date_naive();
    let today = shoot_date.pred_opt().expect("a day before");
    let call = today.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let body = app.punch(&token, &ann, "CALL", &call.to_rfc3339()).await;
    assert!(body.get("errors").is_none(), "{body}");
    let sheet = json!({
        "shootDate": shoot_date.to_string(), "dayNumber": 2, "totalDays": 5,
        "generalCall": next_call.to_rfc3339(),
    });
    let created = app
        .gql_ok(
            Some(&token),
            "mutation($p: ID!, $s: CallSheetInput!) { createCallSheet(input: {productionId: $p, sheet: $s}) { callSheet { id version } } }",
            json!({ "p": production, "s": sheet }),
        )
        .await;
    let draft = &created["createCallSheet"]["callSheet"];
    app.gql_ok(
        Some(&token),
        "mutation($id: ID!, $v: Int!) { publishCallSheet(input: {callSheetId: $id, expectedVersion: $v}) { callSheet { status } } }",
        json!({ "id": draft["id"], "v": draft["version"] }),
    )
    .await;
    let mut c = Client::ready(&app, &token).await;
    c.subscribe("r", json!({ "p": production, "d": today.to_string() }))
        .await;
    assert_eq!(c.live().await["kind"], "SNAPSHOT");
    let started = Instant::now();
    loop {
        let m = c.live().await;
        assert_eq!(m["kind"], "WARNING", "{m}");
        if m["warning"]["kind"] == "REST_AT_RISK" {
            let at: DateTime<Utc> = m["warning"]["at"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .expect("at");
            assert_eq!(at, next_call - chrono::Duration::hours(rest_hours));
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn queries_over_the_socket_read_fresh_data_each_time() {
    // Each operation on a socket has a context of its own, like an HTTP request: a second
    // query after a punch must not answer from the first one's caches.
    let app = TestApp::spawn().await;
    let (token, _, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    assert!(app
        .punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    let mut c = Client::ready(&app, &token).await;
    let query = "query($c: ID!) { workDay(crewMemberId: $c, date: \"2026-03-02\") { status } }";
    let status = async |c: &mut Client, id: &str| -> Value {
        c.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": { "c": ann } } }))
            .await;
        let p = c.payload().await;
        assert!(p.get("errors").is_none(), "{p}");
        let done = c.next().await.expect("complete");
        assert_eq!(done["type"], "complete");
        p["data"]["workDay"]["status"].clone()
    };
    assert_eq!(status(&mut c, "1").await, "ON_CLOCK");
    assert!(app
        .punch(&token, &ann, "MEAL_OUT", "2026-03-02T13:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    assert_eq!(status(&mut c, "2").await, "AT_MEAL");
}

#[tokio::test]
async fn an_event_left_in_the_outbox_by_a_dead_node_is_still_delivered() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn().await;
    let (token, production, dept) = setup(&app).await;
    let ann = app.crew(&token, &dept, "Ann").await;
    assert!(app
        .punch(&token, &ann, "CALL", "2026-03-02T07:00:00-08:00")
        .await
        .get("errors")
        .is_none());
    // The node that committed the punch published it and emptied its outbox: off the request
    // path, but before the relay would take the row as left behind (3 s).
    app.outbox_swept().await;
    let mut c = Client::ready(&app, &token).await;
    c.subscribe("1", json!({ "p": production, "d": "2026-03-02" }))
        .await;
    let snap = c.live().await;
    let version = snap["crew"][0]["version"].as_i64().expect("version");
    // What a node leaves behind when it dies between its commit and its publish: the change
    // (here only its version) and the event in the outbox, nothing on the bus.
    let schema = app.production_schema().await;
    let db = app.db().await;
    // And a production whose schema is gone (being dropped, say): the relay's look into every
    // outbox fails on it, and the relay still finds this production's event.
    setup(&app).await;
    db.execute(Statement::from_string(
        DbBackend::Postgres,
        format!(
            "DO $$ DECLARE s text; BEGIN SELECT schema_name INTO s FROM crewtime.productions \
             WHERE schema_name <> '{}'; EXECUTE format('DROP SCHEMA %I CASCADE', s); END $$",
            schema.trim_matches('"')
        ),
    ))
    .await
    .expect("drop the other production's schema");
    for sql in [
        format!("UPDATE {schema}.crew_members SET time_version = time_version + 1"),
        format!(
            "INSERT INTO {schema}.live_outbox (crew_member_id, work_date, kind, created_at) \
             SELECT id, '2026-03-02', 'PUNCH', now() - interval '10 seconds' FROM {schema}.crew_members"
        ),
    ] {
        db.execute(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("statement");
    }
    let change = c.live().await;
    assert_eq!(change["kind"], "CHANGE", "{change}");
    assert_eq!(change["crew"][0]["version"], version + 1, "{change}");
    assert_eq!(
        app.count_in_production("SELECT count(*) FROM {schema}.live_outbox")
            .await,
        0
    );
}

/// Who holds a socket in the fan-out test, and what they may see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Viewer {
    /// The production's admin: everyone, with pay.
    Admin,
    /// The department's head (rates hidden from heads): everyone, never pay.
    Head,
    /// Ann herself: only Ann, with her pay.
    Ann,
    /// Bob himself: only Bob, with his pay.
    Bob,
}

/// One socket of the fan-out test and the subscriptions it carries.
struct Socket {
    client: Client,
    viewer: Viewer,
    subscriptions: usize,
}

impl Client {
    /// The next subscription payload with the subscription's id, skipping keep-alives.
    async fn live_with_id(&mut self) -> (String, Value) {
        loop {
            let m = self.next().await.expect("an open socket");
            match m["type"].as_str() {
                Some("next") | Some("data") => {
                    let p = &m["payload"];
                    assert!(p.get("errors").is_none(), "unexpected errors: {m}");
                    let id = m["id"].as_str().expect("id").to_owned();
                    return (id, p["data"]["liveHours"].clone());
                }
                Some("ka") | Some("ping") | Some("pong") => continue,
                _ => panic!("unexpected message {m}"),
            }
        }
    }
}

impl Socket {
    async fn open(
        app: &TestApp,
        token: &str,
        viewer: Viewer,
        subscriptions: usize,
        variables: &Value,
    ) -> Self {
        let mut client = Client::ready(app, token).await;
        for i in 0..subscriptions {
            client.subscribe(&i.to_string(), variables.clone()).await;
        }
        Self {
            client,
            viewer,
            subscriptions,
        }
    }

    /// One message on each subscription; each is checked by `check` and timed from `since`.
    async fn one_each(&mut self, since: Instant, check: impl Fn(Viewer, &Value)) -> Vec<Duration> {
        let mut seen = std::collections::HashSet::new();
        let mut times = Vec::new();
        while seen.len() < self.subscriptions {
            let (id, m) = self.client.live_with_id().await;
            times.push(since.elapsed());
            assert!(seen.insert(id.clone()), "{id} got two messages: {m}");
            check(self.viewer, &m);
        }
        times
    }
}

/// What `viewer` may see of a crew state: only whom they may read, pay only if they may see it.
fn check_visible(viewer: Viewer, state: &Value, ann: &str, bob: &str) {
    let who = state["crewMemberId"].as_str().expect("crew member id");
    match viewer {
        Viewer::Ann => assert_eq!(who, ann, "Ann sees only herself: {state}"),
        Viewer::Bob => assert_eq!(who, bob, "Bob sees only himself: {state}"),
        Viewer::Admin | Viewer::Head => assert!(who == ann || who == bob, "{state}"),
    }
    let pay = &state["paySoFar"];
    if viewer == Viewer::Head {
        assert!(
            pay.is_null(),
            "a head without pay rights sees no pay: {state}"
        );
    } else {
        assert!(pay.is_string(), "{viewer:?} sees pay: {state}");
    }
}

/// Changes `crew`'s time once (a day type on the next day: the same statements every time) and
/// waits for the change on every subscription of `sockets` whose viewer `gets` it. Returns the
/// statements each node ran meanwhile and when each message arrived.
async fn fan_out(
    (a, b): (&TestApp, &TestApp),
    token: &str,
    crew: &str,
    day_type: &str,
    sockets: &mut [Socket],
    gets: impl Fn(Viewer) -> bool,
    check: &dyn Fn(Viewer, &Value),
) -> (u64, u64, Vec<Duration>) {
    let set_day = "mutation($c: ID!, $t: DayType!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-03\", dayType: $t}) { workDay { version } } }";
    let before = (a.store().statement_count(), b.store().statement_count());
    let sent = Instant::now();
    let readers = futures_util::future::join_all(
        sockets
            .iter_mut()
            .filter(|s| gets(s.viewer))
            .map(|s| s.one_each(sent, check)),
    );
    let (_, times) = tokio::join!(
        a.gql_ok(Some(token), set_day, json!({ "c": crew, "t": day_type })),
        readers
    );
    let mut times: Vec<Duration> = times.into_iter().flatten().collect();
    times.sort();
    // The writing node deletes the published event off the request path: counted once it ran,
    // whether it ran before the last subscriber heard or after.
    a.outbox_swept().await;
    (
        a.store().statement_count() - before.0,
        b.store().statement_count() - before.1,
        times,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_subscribers_on_two_nodes_share_one_computation_per_event() {
    assert!(
        redis_url().is_some(),
        "this test needs Redis (CREWTIME_TEST_REDIS_URL; scripts/services.sh provides it)"
    );
    // 200 subscribers by default; CREWTIME_TEST_LIVE_SUBSCRIBERS=1000 measures the fan-out
    // figure quoted in docs/OPERATIONS.md.
    let total: usize = std::env::var("CREWTIME_TEST_LIVE_SUBSCRIBERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.database_url.clone(), |_| {}).await;
    let nodes = (&a, &b);
    let (token, production, dept) = setup(&a).await;
    let (ann, ann_token) = a.crew_with_account(&token, &dept, "Ann").await;
    let (bob, bob_token) = a.crew_with_account(&token, &dept, "Bob").await;
    let head = a
        .member(&token, &production, "DEPARTMENT_HEAD", Some(&dept))
        .await;
    // Whole days, so the pay so far is settled.
    for crew in [&ann, &bob] {
        a.punches(
            &token,
            crew,
            &[
                ("CALL", "2026-03-02T07:00:00-08:00"),
                ("MEAL_OUT", "2026-03-02T13:00:00-08:00"),
                ("MEAL_IN", "2026-03-02T13:30:00-08:00"),
                ("WRAP", "2026-03-02T19:30:00-08:00"),
            ],
        )
        .await;
    }
    let variables = json!({ "p": production, "d": "2026-03-02", "dep": dept });
    let snapshot = |viewer: Viewer, m: &Value| {
        assert_eq!(m["kind"], "SNAPSHOT", "{m}");
        let crew = m["crew"].as_array().expect("crew");
        let expected = match viewer {
            Viewer::Admin | Viewer::Head => 2,
            Viewer::Ann | Viewer::Bob => 1,
        };
        assert_eq!(crew.len(), expected, "{viewer:?}: {m}");
        for s in crew {
            check_visible(viewer, s, &ann, &bob);
        }
    };
    let change_of = |who: &str| {
        let (who, ann, bob) = (who.to_owned(), ann.clone(), bob.clone());
        move |viewer: Viewer, m: &Value| {
            assert_eq!(m["kind"], "CHANGE", "{m}");
            let crew = m["crew"].as_array().expect("crew");
            assert_eq!(crew.len(), 1, "{m}");
            assert_eq!(crew[0]["crewMemberId"], who.as_str(), "{viewer:?}: {m}");
            check_visible(viewer, &crew[0], &ann, &bob);
        }
    };
    // A first change of each, before anyone watches (the next day's row exists from now on).
    for crew in [&ann, &bob] {
        a.gql_ok(
            Some(&token),
            "mutation($c: ID!) { setDayType(input: {crewMemberId: $c, date: \"2026-03-03\", dayType: HOLD}) { workDay { version } } }",
            json!({ "c": crew }),
        )
        .await;
    }

    // One subscriber per node: what one event costs each node.
    let mut sockets = Vec::new();
    for node in [&a, &b] {
        sockets.push(Socket::open(node, &token, Viewer::Admin, 1, &variables).await);
    }
    for s in &mut sockets {
        s.one_each(Instant::now(), &snapshot).await;
    }
    let (a1, b1, _) = fan_out(
        nodes,
        &token,
        &ann,
        "TRAVEL",
        &mut sockets,
        |_| true,
        &change_of(&ann),
    )
    .await;

    // Then `total` subscribers over the two nodes, in sockets of at most 50.
    let per_viewer = (total / 8).max(1);
    let mut opened = Vec::new();
    for node in [&a, &b] {
        for (viewer, who) in [
            (Viewer::Admin, &token),
            (Viewer::Head, &head),
            (Viewer::Ann, &ann_token),
            (Viewer::Bob, &bob_token),
        ] {
            let mut left = per_viewer;
            while left > 0 {
                let n = left.min(50);
                opened.push(Socket::open(node, who, viewer, n, &variables).await);
                left -= n;
            }
        }
    }
    futures_util::future::join_all(
        opened
            .iter_mut()
            .map(|s| s.one_each(Instant::now(), &snapshot)),
    )
    .await;
    sockets.extend(opened);
    let subscribers: usize = sockets.iter().map(|s| s.subscriptions).sum();

    // Ann's change reaches everyone who may read her (and not Bob), each filtered for them.
    let (a2, b2, times) = fan_out(
        nodes,
        &token,
        &ann,
        "HOLD",
        &mut sockets,
        |v| v != Viewer::Bob,
        &change_of(&ann),
    )
    .await;
    println!(
        "one change, {} of {subscribers} subscribers over 2 nodes receive it: first {:?}, median {:?}, last {:?}; \
         statements on the writing node {a1} with 1 subscriber, {a2} with all; on the other node {b1} with 1, {b2} with all",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
    );
    assert_eq!(
        times.len(),
        subscribers - per_viewer * 2,
        "every subscriber who may read Ann got her change"
    );
    assert_eq!(
        b2, b1,
        "statements per event on a node do not grow with its subscribers"
    );
    assert_eq!(
        a2, a1,
        "statements per event on a node do not grow with its subscribers"
    );

    // Bob's subscribers never got Ann's change: their next message is Bob's own.
    let (_, b3, _) = fan_out(
        nodes,
        &token,
        &bob,
        "TRAVEL",
        &mut sockets,
        |v| v != Viewer::Ann,
        &change_of(&bob),
    )
    .await;
    assert_eq!(b3, b1);
    // And Ann's never got Bob's.
    let (_, b4, _) = fan_out(
        nodes,
        &token,
        &ann,
        "TRAVEL",
        &mut sockets,
        |v| v != Viewer::Bob,
        &change_of(&ann),
    )
    .await;
    assert_eq!(b4, b1);
}
