//! The processes a run starts: crewtime nodes (the release binary), PostGraphile 5 on Node 22,
//! and pgbench. Every one listens on or talks to loopback only, and is killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// A child process that dies with its handle.
pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resident memory of the process, from /proc (Linux), in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A port free on loopback right now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until `request` (built anew for each try) answers with a 2xx status, failing early if
/// the process exits and after `limit`.
async fn wait_ready(
    proc: &mut Proc,
    what: &str,
    limit: Duration,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = proc.child.try_wait()? {
            bail!("{what} exited during start-up ({status}); see its log");
        }
        if let Ok(r) = request(&client).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{what} did not become ready within {limit:?}; see its log");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Settings shared by every crewtime node of a run.
#[derive(Clone)]
pub struct NodeSettings {
    pub binary: PathBuf,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub pool_size: u32,
    pub log_dir: PathBuf,
    pub extra: Vec<(String, String)>,
}

pub const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0001";

pub async fn crewtime(settings: &NodeSettings, name: &str) -> Result<Proc> {
    let port = free_port()?;
    let log = std::fs::File::create(settings.log_dir.join(format!("{name}.log")))?;
    let mut cmd = Command::new(&settings.binary);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CREWTIME_DATABASE_URL", &settings.database_url)
        .env("CREWTIME_BIND", format!("127.0.0.1:{port}"))
        .env("CREWTIME_JWT_SECRET", JWT_SECRET)
        .env("CREWTIME_DB_POOL_SIZE", settings.pool_size.to_string())
        .env("CREWTIME_ACCESS_TOKEN_TTL_SECS", "14400")
        .env("CREWTIME_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    if let Some(r) = &settings.redis_url {
        cmd.env("CREWTIME_REDIS_URL", r);
    }
    for (k, v) in &settings.extra {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", settings.binary.display()))?;
    let mut proc = Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let ready = format!("{}/readyz", proc.base);
    wait_ready(&mut proc, name, Duration::from_secs(90), |c| c.get(&ready)).await?;
    Ok(proc)
}

/// PostGraphile 5 (the `postgraphile` npm package, installed with `node@22` in `peer_dir`),
/// serving one production schema with the same pool size as crewtime.
pub async fn postgraphile(
    peer_dir: &Path,
    database_url: &str,
    schema: &str,
    pool_size: u32,
    log_dir: &Path,
) -> Result<Proc> {
    let peer_dir = &std::path::absolute(peer_dir)?;
    let node = peer_dir.join("node_modules/node/bin/node");
    let cli = peer_dir.join("node_modules/postgraphile/dist/cli-run.js");
    for p in [&node, &cli] {
        if !p.exists() {
            bail!(
                "{} is missing: install the peer with `npm install postgraphile@5 node@22` in {}",
                p.display(),
                peer_dir.display()
            );
        }
    }
    let port = free_port()?;
    // The amber preset, as `postgraphile -c … -s …` uses, with the pool size pinned.
    let config = peer_dir.join("graphile.config.mjs");
    std::fs::write(
        &config,
        format!(
            r#"import {{ PostGraphileAmberPreset }} from "postgraphile/presets/amber";
import {{ makePgService }} from "postgraphile/adaptors/pg";
export default {{
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({{
    connectionString: {url:?},
    schemas: [{schema:?}],
    poolConfig: {{ max: {pool_size} }},
  }})],
  grafserv: {{ port: {port}, host: "127.0.0.1", graphiql: false }},
}};
"#,
            url = database_url,
        ),
    )?;
    let log = std::fs::File::create(log_dir.join("postgraphile.log"))?;
    let child = Command::new(&node)
        .arg(&cli)
        .arg("--config")
        .arg(&config)
        .current_dir(peer_dir)
        .env("NODE_ENV", "production")
        .env("GRAPHILE_ENV", "production")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .context("starting PostGraphile")?;
    let mut proc = Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    // Up once it answers a query.
    let url = format!("{}/graphql", proc.base);
    wait_ready(&mut proc, "PostGraphile", Duration::from_secs(120), |c| {
        c.post(&url)
            .json(&serde_json::json!({ "query": "{ __typename }" }))
    })
    .await?;
    Ok(proc)
}

/// What pgbench printed for one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PgbenchResult {
    pub clients: usize,
    pub seconds: u64,
    pub transactions: u64,
    pub tps: f64,
    pub latency_avg_ms: f64,
}

/// pgbench with single-row write transactions (one INSERT with a unique key per transaction)
/// into a scratch table on the same server and database crewtime uses.
pub async fn pgbench(
    database_url: &str,
    clients: usize,
    seconds: u64,
    work_dir: &Path,
) -> Result<PgbenchResult> {
    let script = work_dir.join("single_row_write.sql");
    std::fs::write(
        &script,
        "\\set n random(1, 1000000000000)\n\
         BEGIN;\n\
         INSERT INTO bench_ref.punch_ref (idempotency_key, crew_member_id, kind, at)\n\
           VALUES ('k-' || :client_id || '-' || :n, gen_random_uuid(), 'CALL', now())\n\
           ON CONFLICT (idempotency_key) DO NOTHING;\n\
         COMMIT;\n",
    )?;
    let out = Command::new("pgbench")
        .arg("-n")
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg("2")
        .arg("-T")
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&script)
        .arg(database_url)
        .output()
        .await
        .context("running pgbench (Debian package postgresql)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let find = |prefix: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| {
                l.split(['=', ':'])
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
    };
    let tps = find("tps").context("pgbench printed no tps")?;
    Ok(PgbenchResult {
        clients,
        seconds,
        transactions: find("number of transactions actually processed").unwrap_or(0.0) as u64,
        tps,
        latency_avg_ms: find("latency average").unwrap_or(0.0),
    })
}
