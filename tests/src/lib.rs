//! The test harness: a fresh database per test, a real crewtime server on a random port, and a
//! small GraphQL client. Tests drive the server only over HTTP, like any integrator would; they
//! reach the database directly only to check what the API cannot show (schemas, rows).

use std::collections::HashMap;
use std::path::PathBuf;

use crewtime_persistence::{Store, StoreOptions};
use crewtime_server::{Config, RunningServer, Server};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

pub const TEST_JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256-0001";
pub const PASSWORD: &str = "correct horse battery";
/// A personal-data key for servers that must not use the development key (production mode).
pub const TEST_ENCRYPTION_KEY: &str =
    "5f8e2a4c9b1d3e7f60a2c4e6f8091b3d5f7e9a1c3b5d7f90e2a4c6b8d0f1e3a5";

/// The maintenance database URL on the test PostgreSQL server.
pub fn admin_url() -> String {
    std::env::var("CREWTIME_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Redis for tests, when one is running (`make test` always provides one).
pub fn redis_url() -> Option<String> {
    std::env::var("CREWTIME_TEST_REDIS_URL").ok()
}

/// Creates an empty database of its own for one test and returns its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("crewtime_t_{}", Uuid::new_v4().simple());
    let conn = Database::connect(admin.as_str())
        .await
        .expect("test PostgreSQL reachable (run `make test`, which starts it)");
    conn.execute(Statement::from_string(
        DbBackend::Postgres,
        format!("CREATE DATABASE \"{name}\""),
    ))
    .await
    .expect("create test database");
    let _ = conn.close().await;
    let (base, _) = admin
        .rsplit_once('/')
        .expect("admin URL has a database part");
    format!("{base}/{name}")
}

/// The settings a test server runs with, as the environment would give them.
pub fn test_env(database_url: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    env.insert("CREWTIME_DATABASE_URL".into(), database_url.into());
    env.insert("CREWTIME_BIND".into(), "127.0.0.1:0".into());
    env.insert("CREWTIME_JWT_SECRET".into(), TEST_JWT_SECRET.into());
    env.insert("CREWTIME_DB_POOL_SIZE".into(), "8".into());
    env.insert("CREWTIME_SHUTDOWN_GRACE_SECS".into(), "5".into());
    if let Some(redis) = redis_url() {
        env.insert("CREWTIME_REDIS_URL".into(), redis);
    }
    env
}

/// A running server on its own database.
pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub client: reqwest::Client,
    server: Option<RunningServer>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings changed by `tweak` (e.g. a lower limit).
    pub async fn spawn_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        Self::spawn_on(fresh_database().await, tweak).await
    }

    /// Spawns another server on an existing test database (e.g. one configured with other
    /// keys); migrating again is a no-op.
    pub async fn spawn_on(
        database_url: String,
        tweak: impl FnOnce(&mut HashMap<String, String>),
    ) -> Self {
        let mut env = test_env(&database_url);
        tweak(&mut env);
        let config = Config::from_map(&env).expect("test configuration is valid");
        let server = Server::build(config).await.expect("server builds");
        server.store().migrate().await.expect("migrations apply");
        let running = server.start().await.expect("server starts");
        Self {
            base: format!("http://{}", running.addr),
            database_url,
            client: reqwest::Client::new(),
            server: Some(running),
        }
    }

    /// The server's own store: its statement counter shows whether a request reached SQL.
    pub fn store(&self) -> &Store {
        &self.server.as_ref().expect("server running").state.store
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("server stops cleanly");
        }
    }

    /// POSTs one GraphQL operation and returns the JSON body (which must be JSON).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        resp.json().await.expect("JSON body")
    }

    /// Like [`gql`] but panics unless the answer has no errors; returns `data`.
    pub async fn gql_ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The value of one series of `/metrics`, e.g.
    /// `crewtime_cache_requests_total{cache="hot_cost",outcome="miss"}`; 0 while it is absent.
    /// The recorder is process-wide, so it counts every server of the test.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.trim().parse().expect("a number"))
            .unwrap_or(0.0)
    }

    /// A direct connection to this test's database, for checks the API cannot make.
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(self.database_url.as_str())
            .await
            .expect("test db")
    }

    /// A store of its own on this test's database.
    pub async fn own_store(&self, max_connections: u32) -> Store {
        let mut opts = StoreOptions::new(self.database_url.clone());
        opts.max_connections = max_connections;
        Store::connect(&opts).await.expect("store connects")
    }

    /// Creates a user straight in the database (as `crewtime user create` does).
    pub async fn create_user(&self, email: &str, admin: bool) {
        self.store()
            .create_user(email, PASSWORD, admin)
            .await
            .expect("user created");
    }

    pub async fn login(&self, email: &str) -> String {
        let data = self
            .gql_ok(
                None,
                "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }",
                json!({ "e": email, "p": PASSWORD }),
            )
            .await;
        data["login"]["accessToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A new studio admin, signed in.
    pub async fn admin(&self) -> String {
        let email = format!("admin-{}@example.com", Uuid::new_v4().simple());
        self.create_user(&email, true).await;
        self.login(&email).await
    }

    /// Creates a production and returns its global id.
    pub async fn production(&self, token: &str, name: &str) -> String {
        let data = self
            .gql_ok(
                Some(token),
                "mutation($n: String!) { createProduction(input: {name: $n, timezone: \"America/Los_Angeles\", currency: \"USD\"}) { production { id } } }",
                json!({ "n": name }),
            )
            .await;
        data["createProduction"]["production"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Creates a department and returns its global id.
    pub async fn department(&self, token: &str, production: &str, name: &str) -> String {
        let data = self
            .gql_ok(
                Some(token),
                "mutation($p: ID!, $n: String!) { createDepartment(input: {productionId: $p, name: $n}) { department { id } } }",
                json!({ "p": production, "n": name }),
            )
            .await;
        data["createDepartment"]["department"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The path of the built `crewtime` binary (`make test` builds it first).
pub fn crewtime_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let bin = dir.join("crewtime");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p crewtime-server --bin crewtime`",
        bin.display()
    );
    bin
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the repo")
        .to_path_buf()
}

pub const ADD_CREW: &str = "mutation($d: ID!, $n: String!, $e: String) { addCrewMember(input: {departmentId: $d, name: $n, email: $e, position: \"Grip\", ruleSet: \"REF-US-CREW\", deal: {kind: HOURLY, rate: \"50.00\", effectiveFrom: \"2026-01-01\"}}) { crewMember { id version } } }";
pub const PUNCH: &str = "mutation($c: ID!, $k: PunchKind!, $at: DateTime!, $key: String!) { recordPunch(input: {crewMemberId: $c, kind: $k, at: $at, idempotencyKey: $key}) { punch { id kind at version } workDay { date status workedMinutes } } }";

impl TestApp {
    /// Adds an hourly crew member ($50/h, REF-US-CREW) and returns their id.
    pub async fn crew(&self, token: &str, department: &str, name: &str) -> String {
        let data = self
            .gql_ok(
                Some(token),
                ADD_CREW,
                json!({ "d": department, "n": name, "e": null }),
            )
            .await;
        data["addCrewMember"]["crewMember"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Records a punch with a fresh idempotency key; returns the whole answer body.
    pub async fn punch(&self, token: &str, crew: &str, kind: &str, at: &str) -> Value {
        self.gql(
            Some(token),
            PUNCH,
            json!({ "c": crew, "k": kind, "at": at, "key": Uuid::new_v4().to_string() }),
        )
        .await
    }

    /// Records each `(kind, at)` punch in order and fails the test on the first error;
    /// answers each punch's response body.
    pub async fn punches(&self, token: &str, crew: &str, punches: &[(&str, &str)]) -> Vec<Value> {
        let mut bodies = Vec::with_capacity(punches.len());
        for &(kind, at) in punches {
            let body = self.punch(token, crew, kind, at).await;
            assert!(body.get("errors").is_none(), "{kind} {at}: {body}");
            bodies.push(body);
        }
        bodies
    }

    /// Takes a card through submit and the three approvals (an admin may sign every step).
    pub async fn approve_fully(&self, token: &str, crew: &str, week_ending: &str) {
        let submit = "mutation($c: ID!, $w: NaiveDate!, $v: Int!) { submitTimecard(input: {crewMemberId: $c, weekEnding: $w, expectedVersion: $v}) { timecard { version } } }";
        let approve = "mutation($c: ID!, $w: NaiveDate!, $v: Int!) { approveTimecard(input: {crewMemberId: $c, weekEnding: $w, expectedVersion: $v}) { timecard { version status } } }";
        let mut version = self
            .gql_ok(Some(token), "query($c: ID!, $w: NaiveDate!) { timecard(crewMemberId: $c, weekEnding: $w) { version } }", json!({ "c": crew, "w": week_ending }))
            .await["timecard"]["version"]
            .clone();
        for (i, q) in [submit, approve, approve, approve].into_iter().enumerate() {
            let data = self
                .gql_ok(
                    Some(token),
                    q,
                    json!({ "c": crew, "w": week_ending, "v": version }),
                )
                .await;
            let payload = if i == 0 {
                &data["submitTimecard"]
            } else {
                &data["approveTimecard"]
            };
            version = payload["timecard"]["version"].clone();
        }
    }

    /// A new user with `role` in `production` (optionally scoped to a department), signed in.
    pub async fn member(
        &self,
        admin: &str,
        production: &str,
        role: &str,
        department: Option<&str>,
    ) -> String {
        let email = format!(
            "{}-{}@example.com",
            role.to_lowercase(),
            Uuid::new_v4().simple()
        );
        self.create_user(&email, false).await;
        self.gql_ok(
            Some(admin),
            "mutation($p: ID!, $e: String!, $r: Role!, $d: ID) { grantRole(input: {productionId: $p, email: $e, role: $r, departmentId: $d}) { membership { role } } }",
            json!({ "p": production, "e": email, "r": role, "d": department }),
        )
        .await;
        self.login(&email).await
    }

    /// A crew member with a signed-in account of their own: (crew member id, token).
    pub async fn crew_with_account(
        &self,
        admin: &str,
        department: &str,
        name: &str,
    ) -> (String, String) {
        let email = format!("crew-{}@example.com", Uuid::new_v4().simple());
        let id = self
            .gql_ok(
                Some(admin),
                ADD_CREW,
                json!({ "d": department, "n": name, "e": email }),
            )
            .await["addCrewMember"]["crewMember"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let invite = self
            .gql_ok(
                Some(admin),
                "mutation($c: ID!) { inviteCrewMember(input: {crewMemberId: $c}) { invitationToken } }",
                json!({ "c": id }),
            )
            .await;
        let accepted = self
            .gql_ok(
                None,
                "mutation($t: String!, $p: String!) { acceptInvitation(input: {token: $t, password: $p}) { accessToken } }",
                json!({ "t": invite["inviteCrewMember"]["invitationToken"], "p": PASSWORD }),
            )
            .await;
        let token = accepted["acceptInvitation"]["accessToken"]
            .as_str()
            .expect("token")
            .to_owned();
        (id, token)
    }

    /// A production with one department, signed in as its admin: (token, production, department).
    pub async fn production_with_department(&self) -> (String, String, String) {
        let token = self.admin().await;
        let production = self.production(&token, "Feature").await;
        let department = self.department(&token, &production, "Grip").await;
        (token, production, department)
    }

    /// The schema of the (only or first) production of this test's database.
    pub async fn production_schema(&self) -> String {
        self.db()
            .await
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT schema_name FROM crewtime.productions ORDER BY id LIMIT 1",
            ))
            .await
            .expect("query")
            .expect("a production")
            .try_get_by_index(0)
            .expect("schema name")
    }

    /// Runs one SQL query in the schema of the (only or first) production of this test's
    /// database and returns the first column of the first row as i64.
    /// Waits until the node has deleted the live events it published from the outbox (it does
    /// so off the request path), failing the test if they are still there when the relay
    /// would take them as left behind (3 s).
    pub async fn outbox_swept(&self) {
        let relay_age = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while self
            .count_in_production("SELECT count(*) FROM {schema}.live_outbox")
            .await
            != 0
        {
            assert!(
                std::time::Instant::now() < relay_age,
                "the published event is still in the outbox when the relay would resend it"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub async fn count_in_production(&self, sql: &str) -> i64 {
        let db = self.db().await;
        let sql = sql.replace("{schema}", &self.production_schema().await);
        db.query_one(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("query")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("count")
    }
}

/// A Redis server of a test's own, which it may stop, pause or restart without disturbing the
/// shared one other tests use.
pub struct PrivateRedis {
    port: u16,
    child: tokio::process::Child,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        Self {
            port,
            child: Self::spawn(port).await,
        }
    }

    async fn spawn(port: u16) -> tokio::process::Child {
        let child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/services.sh installs it)");
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        child
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its data is gone: it keeps none on disk).
    pub async fn stop(&mut self) {
        self.child.kill().await.expect("redis-server stops");
    }

    /// Starts it again on the same port, empty.
    pub async fn start_again(&mut self) {
        self.child = Self::spawn(self.port).await;
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Freezes (`true`, SIGSTOP) or thaws (`false`, SIGCONT) the server: it keeps its port
    /// open but answers nothing meanwhile, like a hung Redis.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.id().expect("redis-server running");
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }
}
