//! `crewtime-bench`: every benchmark scenario of QUALITY.md in one run, crewtime side by side
//! with PostGraphile 5 (same database, same pool size) and pgbench (same PostgreSQL server).
//! Prints a table and writes a JSON report. `make bench` installs the peers and runs it.

mod cpu;
mod gql;
mod load;
mod procs;
mod report;
mod scenarios;
mod seed;
mod world;
mod ws;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use crewtime_persistence::{Store, StoreOptions};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::procs::NodeSettings;
use crate::report::{Report, Target};
use crate::scenarios::Run;
use crate::seed::SeedSpec;

/// The load generator runs on the cores it measures: every cycle it spends on allocation is
/// taken from the servers (the system allocator was a tenth of its CPU in the fan-out).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "crewtime benchmarks, side by side with PostGraphile 5 and pgbench")]
struct Args {
    /// The crewtime binary to measure (a release build).
    #[arg(long, default_value = "target/release/crewtime")]
    crewtime: PathBuf,
    /// Folder where `npm install postgraphile@5 node@22` was run.
    #[arg(long, default_value = ".data/bench/peer")]
    peer_dir: PathBuf,
    /// A maintenance database URL on the PostgreSQL server to use.
    #[arg(long, env = "CREWTIME_TEST_ADMIN_URL")]
    admin_url: String,
    #[arg(long, env = "CREWTIME_TEST_REDIS_URL")]
    redis_url: Option<String>,
    #[arg(long, default_value_t = 20)]
    productions: usize,
    #[arg(long, default_value_t = 150)]
    crew: usize,
    #[arg(long, default_value_t = 8)]
    weeks: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Measured seconds per throughput phase (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Concurrent workers of the closed-loop scenarios (and pgbench clients).
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Database pool size of crewtime and of PostGraphile.
    #[arg(long, default_value_t = 10)]
    pool: u32,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Open subscriptions for the memory reading (sockets of 100 subscriptions each).
    #[arg(long, default_value_t = 10_000)]
    memory_subscriptions: usize,
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    strict: bool,
    /// Run only these scenarios (for profiling one of them); targets that need a skipped
    /// scenario are left out of the report.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Single,
    Week,
    Protections,
    Punch,
    FanOut,
    Mix,
    Memory,
}

fn with_db(admin_url: &str, db: &str) -> Result<String> {
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("the admin URL names a database")?;
    Ok(format!("{base}/{db}"))
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<()> {
    db.execute(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    Ok(())
}

/// Lets the machine's pending writes land before a measurement: a CHECKPOINT writes
/// PostgreSQL's dirty buffers, `sync` the kernel's dirty pages (the database copy, the release
/// build, an earlier scenario's rows). Left pending, the kernel wrote about 500 MB back in the
/// first seconds of the next scenario, and every commit waited behind it: the 90/10 mix's p95
/// was 51 to 415 ms in such runs and 7 to 12 ms in the others, and single punches of the
/// fan-out stalled for 140 to 460 ms.
async fn settle(db: &DatabaseConnection) -> Result<()> {
    exec(db, "CHECKPOINT").await?;
    // `sync` is in coreutils; where it is missing the kernel's own writeback timing stands.
    let _ = tokio::process::Command::new("sync").status().await;
    Ok(())
}

async fn migrate(binary: &PathBuf, url: &str) -> Result<()> {
    let out = tokio::process::Command::new(binary)
        .arg("migrate")
        .env("CREWTIME_DATABASE_URL", url)
        .env("CREWTIME_LOG", "warn")
        .output()
        .await
        .with_context(|| format!("running {} migrate", binary.display()))?;
    if !out.status.success() {
        bail!("migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The seeded data as a template database, built once per seed spec and copied for each run
/// (the runs write punches, so each starts from the same state).
async fn prepare_database(args: &Args, spec: SeedSpec) -> Result<String> {
    let admin = Database::connect(args.admin_url.as_str()).await?;
    let template = format!("crewtime_bench_seed_{}", spec.tag());
    let marker = "crewtime bench seed complete";
    let complete = admin
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1",
            [template.clone().into()],
        ))
        .await?
        .and_then(|r| r.try_get::<Option<String>>("", "c").ok().flatten())
        .is_some_and(|c| c == marker);
    if !complete {
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"),
        )
        .await?;
        exec(&admin, &format!("CREATE DATABASE \"{template}\"")).await?;
        let url = with_db(&args.admin_url, &template)?;
        migrate(&args.crewtime, &url).await?;
        let t0 = Instant::now();
        eprintln!(
            "bench: seeding {} productions x {} crew x {} weeks (once; kept as {template})",
            spec.productions, spec.crew, spec.weeks
        );
        let mut opts = StoreOptions::new(url.clone());
        opts.max_connections = 8;
        let store = Store::connect(&opts).await?;
        seed::seed(&store, &url, spec).await?;
        store.close().await;
        eprintln!("bench: seeded in {:.0} s", t0.elapsed().as_secs_f64());
        exec(
            &admin,
            &format!("COMMENT ON DATABASE \"{template}\" IS '{marker}'"),
        )
        .await?;
    }
    let run_db = "crewtime_bench_run";
    exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS \"{run_db}\" WITH (FORCE)"),
    )
    .await?;
    exec(
        &admin,
        &format!("CREATE DATABASE \"{run_db}\" TEMPLATE \"{template}\""),
    )
    .await?;
    let _ = admin.close().await;
    let url = with_db(&args.admin_url, run_db)?;
    // A no-op unless migrations were added since the template was seeded.
    migrate(&args.crewtime, &url).await?;
    let db = Database::connect(url.as_str()).await?;
    // Planner statistics, as a production database has them: the seed writes set-based and
    // autovacuum may not have analysed the template before it is copied (a fresh machine's
    // first run then planned every read blind: 1,000 clients, reads only, p95 6.5 s, not 20 ms).
    exec(&db, "ANALYZE").await?;
    exec(&db, "CREATE SCHEMA bench_ref").await?;
    exec(
        &db,
        "CREATE TABLE bench_ref.punch_ref (id bigserial PRIMARY KEY, idempotency_key text NOT NULL UNIQUE,
           crew_member_id uuid NOT NULL, kind text NOT NULL, at timestamptz NOT NULL)",
    )
    .await?;
    let _ = db.close().await;
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let spec = SeedSpec {
        productions: args.productions,
        crew: args.crew,
        weeks: args.weeks,
        seed: args.seed,
    };
    if spec.productions == 0 || spec.crew < 30 || spec.weeks == 0 {
        bail!("need at least 1 production, 30 crew and 1 week");
    }
    let log_dir = args
        .out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&log_dir)?;
    let url = prepare_database(&args, spec).await?;
    let db = Database::connect(url.as_str()).await?;
    let settings = NodeSettings {
        binary: args.crewtime.clone(),
        database_url: url.clone(),
        redis_url: args.redis_url.clone(),
        pool_size: args.pool,
        log_dir: log_dir.clone(),
        // Quotas stay on, sized for the offered load (one production takes all of it).
        extra: vec![
            ("CREWTIME_QUOTA_REQUESTS_PER_SEC".into(), "1000000".into()),
            ("CREWTIME_QUOTA_BURST".into(), "1000000".into()),
            ("CREWTIME_QUOTA_COST_PER_SEC".into(), "100000000".into()),
            ("CREWTIME_QUOTA_COST_BURST".into(), "100000000".into()),
            // Every request of the run carries the one admin's token.
            (
                "CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC".into(),
                "1000000".into(),
            ),
            ("CREWTIME_QUOTA_CALLER_BURST".into(), "1000000".into()),
            ("CREWTIME_MAX_COMPLEXITY".into(), "20000".into()),
        ],
    };
    let run = Run {
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.seconds),
        workers: args.workers,
    };
    let mut report = Report::new(&args.out, spec, args.pool, args.workers);
    let wants = |s: Scenario| args.only.is_empty() || args.only.contains(&s);

    let node_a = procs::crewtime(&settings, "crewtime-a").await?;
    let token = gql::login(&node_a.base, seed::ADMIN_EMAIL, seed::ADMIN_PASSWORD).await?;
    let admin = gql::Gql::new(gql::http_client(2)?, &node_a.base, Some(token.clone()));
    let prods = world::discover(&admin, &db).await?;
    if prods.len() != spec.productions {
        bail!(
            "found {} productions, seeded {}",
            prods.len(),
            spec.productions
        );
    }
    let last_week = seed::week_ending(spec.weeks - 1);
    let first = Arc::new(prods[0].clone());
    let first_crew = Arc::new(first.crew().cloned().collect::<Vec<_>>());

    // 1, 2: reads side by side with PostGraphile on the first production's schema.
    // PostGraphile exposes a backward relation only over a plain index (crewtime's index of
    // punches by day is partial), so the peer gets one of its own.
    exec(
        &db,
        &format!(
            "CREATE INDEX IF NOT EXISTS bench_peer_punches_day ON \"{}\".punches (work_day_id)",
            first.schema
        ),
    )
    .await?;
    let p = prods.len();
    // The first day no seeded punch is on: punch scenarios write from here.
    let punch_from = seed::first_free_day(spec.weeks);
    let mut ct_one_p99 = None;
    if wants(Scenario::Single) || wants(Scenario::Week) {
        eprintln!("bench: starting PostGraphile 5");
        let pg =
            procs::postgraphile(&args.peer_dir, &url, &first.schema, args.pool, &log_dir).await?;
        if wants(Scenario::Single) {
            eprintln!("bench: single object by id");
            settle(&db).await?;
            let ct_one =
                scenarios::single_crewtime(&run, &node_a.base, &token, first_crew.clone()).await;
            settle(&db).await?;
            let pg_one = scenarios::single_postgraphile(&run, &pg.base, first_crew.clone()).await;
            report.pair("single object by id", &ct_one, &pg_one);
            report.target(Target::at_least(
                "single object: requests/s vs PostGraphile",
                ct_one.rps / pg_one.rps,
                1.5,
            ));
            report.target(Target::at_most(
                "single object: p99 vs PostGraphile",
                ct_one.p99_ms / pg_one.p99_ms,
                0.7,
            ));
            ct_one_p99 = Some(ct_one.p99_ms);
        }
        if wants(Scenario::Week) {
            eprintln!("bench: department week");
            settle(&db).await?;
            let ct_week =
                scenarios::week_crewtime(&run, &node_a.base, &token, first.clone(), last_week)
                    .await;
            settle(&db).await?;
            let pg_week = scenarios::week_postgraphile(&run, &pg.base, first.clone()).await;
            let statements =
                scenarios::week_statements(&node_a.base, &token, &first, last_week).await?;
            report.pair("department week", &ct_week, &pg_week);
            report.target(Target::at_least(
                "department week: requests/s vs PostGraphile",
                ct_week.rps / pg_week.rps,
                1.0,
            ));
            report.target(Target::at_most(
                "department week: SQL statements per request",
                statements,
                3.0,
            ));
        }
        pg.stop().await;
    }

    if wants(Scenario::Protections) {
        // 6: all protections on vs off, alternating to spread the noise over both.
        eprintln!("bench: protections on vs off");
        settle(&db).await?;
        let mut off_settings = settings.clone();
        off_settings.extra = vec![("CREWTIME_PROTECTIONS".into(), "off".into())];
        let node_off = procs::crewtime(&off_settings, "crewtime-protections-off").await?;
        let half = Run {
            warmup: Duration::from_secs(1),
            duration: run.duration / 2,
            workers: run.workers,
        };
        let (mut on_n, mut off_n) = (0u64, 0u64);
        let mut on_stats = Vec::new();
        let mut off_stats = Vec::new();
        for _ in 0..4 {
            let on =
                scenarios::single_crewtime(&half, &node_a.base, &token, first_crew.clone()).await;
            let off =
                scenarios::single_crewtime(&half, &node_off.base, &token, first_crew.clone()).await;
            on_n += on.requests;
            off_n += off.requests;
            on_stats.push(on);
            off_stats.push(off);
        }
        node_off.stop().await;
        report.rows_of("protections on", &on_stats);
        report.rows_of("protections off", &off_stats);
        report.target(Target::at_least(
            "protections on vs off: requests/s",
            on_n as f64 / off_n.max(1) as f64,
            0.90,
        ));
    }

    if wants(Scenario::Punch) {
        // 3: recordPunch with 10% retries vs pgbench single-row writes.
        eprintln!("bench: recordPunch vs pgbench");
        settle(&db).await?;
        // One crew member per worker, spread over the productions, all distinct.
        // The last crew member of each first department stays free for the statement count.
        let writers: Vec<world::Crew> = (0..args.workers)
            .filter_map(|w| {
                let crew = &prods[w % p].depts[0].crew;
                crew[..crew.len().saturating_sub(1)].get(w / p).cloned()
            })
            .collect();
        if writers.len() < args.workers {
            bail!(
                "{} workers need {} crew in each production's first department",
                args.workers,
                args.workers.div_ceil(p)
            );
        }
        let node_pids: Vec<u32> = node_a.pid().into_iter().collect();
        let window_start = cpu::read_after(run.warmup, node_pids.clone());
        let (ct_punch, retries, acknowledged, writers) =
            scenarios::punches(&run, &node_a.base, &token, writers, punch_from).await?;
        let punch_cpu = cpu::since(window_start.await.ok().flatten(), &node_pids);
        let mut rows = 0i64;
        for w in &writers {
            let prod = prods
                .iter()
                .find(|p| p.crew().any(|c| c.uuid == w.uuid))
                .context("writer's production")?;
            let r = db
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!(
                        "SELECT count(*) AS n FROM \"{}\".punches WHERE crew_member_id = $1 AND deleted_at IS NULL AND at >= $2",
                        prod.schema
                    ),
                    [w.uuid.into(), punch_from.into()],
                ))
                .await?
                .context("count")?;
            rows += r.try_get::<i64>("", "n")?;
        }
        // A crew member no other scenario writes: the last of the first department.
        let counted = prods[0].depts[0].crew.last().context("crew")?;
        let punch_sql =
            scenarios::punch_statements(&node_a.base, &token, counted, punch_from).await?;
        report.note("recordPunch: SQL statements per new punch", punch_sql);
        settle(&db).await?;
        let before = cpu::read(&[]);
        let pgb = procs::pgbench(&url, args.workers, args.seconds, &log_dir).await?;
        let pgbench_cpu = cpu::since(before, &[]);
        report.punches(&ct_punch, retries, acknowledged, rows, &pgb);
        if let (Some(ours), Some(theirs)) = (punch_cpu, pgbench_cpu) {
            report.punch_cpu(&ours, ct_punch.rps, &theirs, pgb.tps, cpu::cores() as f64);
        }
        report.target(Target::at_least(
            "recordPunch: TPS vs pgbench single-row writes",
            ct_punch.rps / pgb.tps,
            0.5,
        ));
        report.target(Target::equals(
            "recordPunch: duplicate punches",
            (rows - acknowledged as i64) as f64,
            0.0,
        ));
    }

    if wants(Scenario::FanOut) {
        // 4: fan-out of one punch to many subscribers over two nodes.
        eprintln!(
            "bench: fan-out to {} subscribers over 2 nodes",
            args.subscribers
        );
        let node_b = procs::crewtime(&settings, "crewtime-b").await?;
        let fan_date = punch_from;
        scenarios::publish_call_sheet(&admin, &first, fan_date).await?;
        settle(&db).await?;
        let fan = scenarios::fan_out(
            [&node_a.base, &node_b.base],
            &token,
            &first,
            first.depts.len() - 1,
            fan_date,
            args.subscribers,
            [node_a.pid(), node_b.pid()].into_iter().flatten().collect(),
        )
        .await?;
        node_b.stop().await;
        report.fan_out(&fan);
        if let Some(one_p99) = ct_one_p99 {
            report.target(Target::at_most(
                "fan-out: last subscriber p99 vs single-query p99",
                fan.last_p99_ms / one_p99,
                5.0,
            ));
        }
        report.target(Target::equals("fan-out: dropped", fan.dropped as f64, 0.0));
    }

    if wants(Scenario::Mix) {
        // 5: 1,000 concurrent clients, 90% reads / 10% punches, on a warm cache; then the same
        // clients with reads only, for the cache's hit rate on the read mix.
        eprintln!("bench: {} concurrent clients, 90% reads", args.clients);
        scenarios::warm(&node_a.base, &token, &prods, last_week).await?;
        settle(&db).await?;
        // One crew member of its own per client, spread over the productions, from the departments
        // no other scenario writes.
        let pools: Vec<Vec<&world::Crew>> = prods
            .iter()
            .map(|prod| {
                prod.depts[1..prod.depts.len() - 1]
                    .iter()
                    .flat_map(|d| d.crew.iter())
                    .collect()
            })
            .collect();
        let mix_writers: Vec<world::Crew> = (0..args.clients)
            .filter_map(|c| pools[c % p].get(c / p).map(|w| (*w).clone()))
            .collect();
        if mix_writers.len() < args.clients {
            bail!(
                "{} clients need as many crew outside the first and last departments",
                args.clients
            );
        }
        let mix_writers = Arc::new(mix_writers);
        let all_prods = Arc::new(prods.clone());
        let c0 = scenarios::cache_counts(&node_a.base).await?;
        let mix = scenarios::mix(
            &run,
            args.clients,
            &node_a.base,
            &token,
            all_prods.clone(),
            mix_writers.clone(),
            last_week,
            punch_from,
            0.10,
        )
        .await?;
        let c1 = scenarios::cache_counts(&node_a.base).await?;
        eprintln!("bench: the same clients, reads only");
        settle(&db).await?;
        let reads = scenarios::mix(
            &run,
            args.clients,
            &node_a.base,
            &token,
            all_prods,
            mix_writers,
            last_week,
            punch_from,
            0.0,
        )
        .await?;
        let c2 = scenarios::cache_counts(&node_a.base).await?;
        let (mh, mm, mix_caches) = scenarios::cache_delta(&c0, &c1);
        let (rh, rm, read_caches) = scenarios::cache_delta(&c1, &c2);
        report.mix("90% reads / 10% punches", &mix, mh, mm, mix_caches);
        report.mix("reads only", &reads, rh, rm, read_caches);
        let rate = |h: f64, m: f64| if h + m > 0.0 { h / (h + m) } else { 0.0 };
        report.note("read-model cache hit rate, 90/10 mix", rate(mh, mm));
        report.target(Target::at_most(
            "1,000 clients 90/10: p95 ms",
            mix.stats.p95_ms,
            25.0,
        ));
        report.target(Target::equals(
            "1,000 clients 90/10: errors",
            (mix.stats.errors + reads.stats.errors) as f64,
            0.0,
        ));
        report.target(Target::above(
            "read-model cache hit rate on the read mix",
            rate(rh, rm),
            0.95,
        ));
    }

    node_a.stop().await;

    // Memory with many open subscriptions on one fresh node.
    if wants(Scenario::Memory) && args.memory_subscriptions > 0 {
        eprintln!(
            "bench: memory with {} subscriptions",
            args.memory_subscriptions
        );
        let node_m = procs::crewtime(&settings, "crewtime-memory").await?;
        let token_m = gql::login(&node_m.base, seed::ADMIN_EMAIL, seed::ADMIN_PASSWORD).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = node_m.rss_bytes().unwrap_or(0);
        let per = 100;
        let connections = args.memory_subscriptions.div_ceil(per);
        let t0 = Instant::now();
        let sockets = scenarios::open_subscriptions(
            &node_m.base,
            &token_m,
            &prods,
            last_week - chrono::Duration::days(1),
            connections,
            per,
        )
        .await?;
        let open_seconds = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = node_m.rss_bytes().unwrap_or(0);
        let subs = connections * per;
        report.memory(&scenarios::Memory {
            subscriptions: subs,
            connections,
            rss_before_mb: before as f64 / 1048576.0,
            rss_after_mb: after as f64 / 1048576.0,
            per_subscription_kb: (after.saturating_sub(before)) as f64 / 1024.0 / subs as f64,
            open_seconds,
        });
        drop(sockets);
        node_m.stop().await;
    }

    let missed = report.finish()?;
    if args.strict && missed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
