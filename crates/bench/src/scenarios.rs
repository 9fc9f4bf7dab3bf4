//! The scenarios of QUALITY.md (Benchmarks). Each sends load to loopback only and checks every
//! answer before it counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{Duration as Days, NaiveDate, NaiveTime};
use crewtime_domain::time::local_instant;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::gql::{at, http_client, len_at, metric_sum, metrics, Gql};
use crate::load::{closed_loop, histogram, ms, open_loop, Stats};
use crate::seed;
use crate::world::{Crew, Prod};
use crate::ws::{next_json, Ws};

pub struct Run {
    pub warmup: Duration,
    pub duration: Duration,
    pub workers: usize,
}

// ---------------------------------------------------------------------------------------------
// Single object by id.

const CT_ONE: &str =
    "query One($id: ID!) { node(id: $id) { ... on CrewMember { id name position } } }";
const PG_ONE: &str = "query One($id: UUID!) { crewMemberByRowId(rowId: $id) { id name position } }";

fn pick(crew: &[Crew], worker: usize, i: u64) -> &Crew {
    let n = (worker as u64)
        .wrapping_mul(7919)
        .wrapping_add(i.wrapping_mul(104_729));
    &crew[(n % crew.len() as u64) as usize]
}

pub async fn single_crewtime(run: &Run, base: &str, token: &str, crew: Arc<Vec<Crew>>) -> Stats {
    let g = Gql::new(
        http_client(run.workers).unwrap_or_default(),
        base,
        Some(token.into()),
    );
    closed_loop(run.workers, run.warmup, run.duration, move |w, i| {
        let g = g.clone();
        let crew = crew.clone();
        async move {
            let c = pick(&crew, w, i);
            let d = g.run(CT_ONE, json!({ "id": c.gid })).await?;
            if at(&d, "/node/name")? != c.name.as_str() {
                bail!("wrong crew member in {d}");
            }
            Ok(())
        }
    })
    .await
}

pub async fn single_postgraphile(run: &Run, base: &str, crew: Arc<Vec<Crew>>) -> Stats {
    let g = Gql::new(http_client(run.workers).unwrap_or_default(), base, None);
    closed_loop(run.workers, run.warmup, run.duration, move |w, i| {
        let g = g.clone();
        let crew = crew.clone();
        async move {
            let c = pick(&crew, w, i);
            let d = g.run(PG_ONE, json!({ "id": c.uuid })).await?;
            if at(&d, "/crewMemberByRowId/name")? != c.name.as_str() {
                bail!("wrong crew member in {d}");
            }
            Ok(())
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Department week: crew x days x hours.

const CT_WEEK: &str = "query Week($p: ID!, $w: NaiveDate!, $d: ID!) { production(id: $p) {
  timecards(weekEnding: $w, departmentId: $d, first: 100) { edges { node {
    crewMember { name } workedHours days { date workedMinutes punches { kind at } } } } } } }";
const PG_WEEK: &str =
    "query Week($d: UUID!) { allCrewMembers(condition: {departmentId: $d}, first: 100) {
  nodes { name workDaysByCrewMemberId(orderBy: WORK_DATE_DESC, first: 5) {
    nodes { workDate punchesByWorkDayId { nodes { kind at } } } } } } }";

pub async fn week_crewtime(
    run: &Run,
    base: &str,
    token: &str,
    prod: Arc<Prod>,
    week: NaiveDate,
) -> Stats {
    let g = Gql::new(
        http_client(run.workers).unwrap_or_default(),
        base,
        Some(token.into()),
    );
    closed_loop(run.workers, run.warmup, run.duration, move |w, i| {
        let g = g.clone();
        let prod = prod.clone();
        async move {
            let dept = &prod.depts[(w + i as usize) % prod.depts.len()];
            let d = g
                .run(CT_WEEK, json!({ "p": prod.gid, "w": week, "d": dept.gid }))
                .await?;
            let edges = at(&d, "/production/timecards/edges")?
                .as_array()
                .context("edges")?;
            if edges.len() != dept.crew.len() {
                bail!("{} timecards for {} crew", edges.len(), dept.crew.len());
            }
            for e in edges {
                if len_at(e, "/node/days")? != 5 || len_at(e, "/node/days/0/punches")? != 4 {
                    bail!("incomplete week in {e}");
                }
            }
            Ok(())
        }
    })
    .await
}

pub async fn week_postgraphile(run: &Run, base: &str, prod: Arc<Prod>) -> Stats {
    let g = Gql::new(http_client(run.workers).unwrap_or_default(), base, None);
    closed_loop(run.workers, run.warmup, run.duration, move |w, i| {
        let g = g.clone();
        let prod = prod.clone();
        async move {
            let dept = &prod.depts[(w + i as usize) % prod.depts.len()];
            let d = g.run(PG_WEEK, json!({ "d": dept.uuid })).await?;
            let nodes = at(&d, "/allCrewMembers/nodes")?
                .as_array()
                .context("nodes")?;
            if nodes.len() != dept.crew.len() {
                bail!("{} crew for {}", nodes.len(), dept.crew.len());
            }
            for n in nodes {
                if len_at(n, "/workDaysByCrewMemberId/nodes")? != 5
                    || len_at(
                        n,
                        "/workDaysByCrewMemberId/nodes/0/punchesByWorkDayId/nodes",
                    )? != 4
                {
                    bail!("incomplete week in {n}");
                }
            }
            Ok(())
        }
    })
    .await
}

/// SQL statements one request costs: the smallest movement of the server's statement counter
/// over `n` sequential requests.
pub async fn statements_per_request<F, Fut>(base: &str, n: usize, mut send: F) -> Result<f64>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut deltas = Vec::new();
    for i in 0..n {
        let before = metric_sum(&metrics(base).await?, "crewtime_db_statements_total", &[]);
        send(i).await?;
        let after = metric_sum(&metrics(base).await?, "crewtime_db_statements_total", &[]);
        deltas.push(after - before);
    }
    // The node's other work (deleting published outbox rows after a write, the outbox relay)
    // only adds to a window, never takes away: the fewest is the request's own count.
    deltas.into_iter().reduce(f64::min).context("no requests")
}

pub async fn week_statements(base: &str, token: &str, prod: &Prod, week: NaiveDate) -> Result<f64> {
    let g = Gql::new(http_client(1)?, base, Some(token.into()));
    statements_per_request(base, 15, |i| {
        let g = g.clone();
        let dept = prod.depts[i % prod.depts.len()].gid.clone();
        let p = prod.gid.clone();
        async move {
            g.run(CT_WEEK, json!({ "p": p, "w": week, "d": dept }))
                .await?;
            Ok(())
        }
    })
    .await
}

/// SQL statements one new punch costs (a crew member of its own, from `start`).
pub async fn punch_statements(
    base: &str,
    token: &str,
    crew: &Crew,
    start: NaiveDate,
) -> Result<f64> {
    let g = Gql::new(http_client(1)?, base, Some(token.into()));
    statements_per_request(base, 12, |n| {
        let g = g.clone();
        let crew = crew.clone();
        async move {
            let (kind, when) = nth_punch(start, n as u64)?;
            let key = format!("bench-count-{}-{n}", crew.uuid.simple());
            g.run(
                PUNCH,
                json!({ "c": crew.gid, "k": kind, "at": when, "key": key }),
            )
            .await?;
            Ok(())
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// recordPunch with idempotency keys, 10% retries.

const PUNCH: &str = "mutation Punch($c: ID!, $k: PunchKind!, $at: DateTime!, $key: String!) {
  recordPunch(input: {crewMemberId: $c, kind: $k, at: $at, idempotencyKey: $key}) { punch { id kind at } } }";

/// The n-th punch of a crew member's sequence from `start`: call, meal out, meal in, wrap, one
/// day after another.
fn nth_punch(start: NaiveDate, n: u64) -> Result<(&'static str, String)> {
    let day = start + Days::days((n / 4) as i64);
    let (kind, h, m) = match n % 4 {
        0 => ("CALL", 7, 0),
        1 => ("MEAL_OUT", 13, 0),
        2 => ("MEAL_IN", 13, 30),
        _ => ("WRAP", 19, 0),
    };
    let local = day.and_time(NaiveTime::from_hms_opt(h, m, 0).context("time")?);
    let tz: chrono_tz::Tz = seed::TIMEZONE.parse().map_err(|e| anyhow!("{e}"))?;
    let at = local_instant("at", local, tz)?;
    Ok((kind, at.to_rfc3339()))
}

/// A writer's state: its crew member, the next punch, and the last request (for retries).
struct Writer {
    crew: Crew,
    next: u64,
    last: Option<(Value, String)>,
}

pub async fn punches(
    run: &Run,
    base: &str,
    token: &str,
    writers: Vec<Crew>,
    start: NaiveDate,
) -> Result<(Stats, u64, u64, Vec<Crew>)> {
    let g = Gql::new(http_client(run.workers)?, base, Some(token.into()));
    let crew: Vec<Crew> = writers.clone();
    let states: Arc<Vec<tokio::sync::Mutex<Writer>>> = Arc::new(
        writers
            .into_iter()
            .map(|crew| {
                tokio::sync::Mutex::new(Writer {
                    crew,
                    next: 0,
                    last: None,
                })
            })
            .collect(),
    );
    let retries = Arc::new(AtomicU64::new(0));
    let workers = states.len();
    let st = states.clone();
    let rt = retries.clone();
    let stats = closed_loop(workers, run.warmup, run.duration, move |w, i| {
        let g = g.clone();
        let st = st.clone();
        let rt = rt.clone();
        async move {
            let mut s = st[w].lock().await;
            let mut rng = StdRng::seed_from_u64((w as u64) << 32 | i);
            if let (true, Some((vars, first_id))) = (rng.gen_bool(0.10), s.last.clone()) {
                rt.fetch_add(1, Ordering::Relaxed);
                let d = g.run(PUNCH, vars).await?;
                if at(&d, "/recordPunch/punch/id")? != first_id.as_str() {
                    bail!("a retry got another punch: {d}");
                }
                return Ok(());
            }
            let (kind, when) = nth_punch(start, s.next)?;
            let key = format!("bench-punch-{}-{}", s.crew.uuid.simple(), s.next);
            let vars = json!({ "c": s.crew.gid, "k": kind, "at": when, "key": key });
            let d = g.run(PUNCH, vars.clone()).await?;
            let id = at(&d, "/recordPunch/punch/id")?
                .as_str()
                .context("punch id")?
                .to_owned();
            s.next += 1;
            s.last = Some((vars, id));
            Ok(())
        }
    })
    .await;
    let mut acknowledged = 0;
    for s in states.iter() {
        acknowledged += s.lock().await.next;
    }
    Ok((stats, retries.load(Ordering::Relaxed), acknowledged, crew))
}

// ---------------------------------------------------------------------------------------------
// Fan-out of one punch to many subscribers over two nodes.

const LIVE: &str = "subscription Live($p: ID!, $d: NaiveDate!, $dep: ID) {
  liveHours(productionId: $p, date: $d, departmentId: $dep) { kind crew { crewMemberId workedMinutes version } } }";

#[derive(Debug, Clone, Serialize)]
pub struct FanOut {
    pub subscribers: usize,
    pub punches: usize,
    /// The punch's own answer, from request to response.
    pub punch_p50_ms: f64,
    /// The first delivery to any subscriber.
    pub first_p50_ms: f64,
    pub first_p99_ms: f64,
    pub last_p50_ms: f64,
    pub last_p99_ms: f64,
    pub all_p50_ms: f64,
    pub all_p99_ms: f64,
    pub dropped: u64,
    /// The timed round's CPU by part, where `/proc` can be read.
    pub cpu: Option<crate::cpu::Use>,
}

/// A graphql-transport-ws message as the fan-out's subscribers read it: a change names crew
/// members by id (ids hold no escapes, so they borrow from the text).
#[derive(serde::Deserialize)]
struct LiveNext<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow, default)]
    payload: LivePayload<'a>,
}

#[derive(serde::Deserialize, Default)]
struct LivePayload<'a> {
    #[serde(borrow)]
    data: LiveData<'a>,
}

#[derive(serde::Deserialize, Default)]
struct LiveData<'a> {
    #[serde(rename = "liveHours", borrow)]
    live_hours: LiveHours<'a>,
}

#[derive(serde::Deserialize, Default)]
struct LiveHours<'a> {
    #[serde(borrow)]
    crew: Vec<LiveCrew<'a>>,
}

#[derive(serde::Deserialize)]
struct LiveCrew<'a> {
    #[serde(rename = "crewMemberId")]
    crew_member_id: &'a str,
}

/// Publishes `date`'s call sheet so the whole department is watched from the first message.
pub async fn publish_call_sheet(g: &Gql, prod: &Prod, date: NaiveDate) -> Result<()> {
    let tz: chrono_tz::Tz = seed::TIMEZONE.parse().map_err(|e| anyhow!("{e}"))?;
    let call = local_instant(
        "generalCall",
        date.and_time(NaiveTime::from_hms_opt(7, 0, 0).context("time")?),
        tz,
    )?;
    let d = g
        .run(
            "mutation($p: ID!, $s: CallSheetInput!) { createCallSheet(input: {productionId: $p, sheet: $s}) { callSheet { id version } } }",
            json!({ "p": prod.gid, "s": { "shootDate": date, "dayNumber": 1, "totalDays": 40, "generalCall": call.to_rfc3339() } }),
        )
        .await?;
    let sheet = at(&d, "/createCallSheet/callSheet")?;
    g.run(
        "mutation($id: ID!, $v: Int!) { publishCallSheet(input: {callSheetId: $id, expectedVersion: $v}) { callSheet { status } } }",
        json!({ "id": sheet["id"], "v": sheet["version"] }),
    )
    .await?;
    Ok(())
}

pub async fn fan_out(
    nodes: [&str; 2],
    token: &str,
    prod: &Prod,
    dept: usize,
    date: NaiveDate,
    subscribers: usize,
    node_pids: Vec<u32>,
) -> Result<FanOut> {
    let dept = &prod.depts[dept];
    // (subscriber, index of the crew member the change names, when it came); `None` for a
    // message that is not a well-formed change of one of the department's crew.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Option<usize>, Instant)>();
    let crew_index: Arc<HashMap<String, usize>> = Arc::new(
        dept.crew
            .iter()
            .enumerate()
            .map(|(i, c)| (c.gid.clone(), i))
            .collect(),
    );
    let mut tasks = Vec::new();
    // Connect and subscribe everyone and wait for every snapshot.
    let vars = json!({ "p": prod.gid, "d": date, "dep": dept.gid });
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<()>>();
    for s in 0..subscribers {
        let base = nodes[s % 2].to_owned();
        let token = token.to_owned();
        let vars = vars.clone();
        let tx = tx.clone();
        let ready_tx = ready_tx.clone();
        let expected = dept.crew.len();
        let crew_index = crew_index.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = match Ws::connect(&base, &token).await {
                Ok(ws) => ws,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            if let Err(e) = ws.subscribe("1", LIVE, vars).await {
                let _ = ready_tx.send(Err(e));
                return;
            }
            match next_json(&mut ws.stream, Duration::from_secs(60)).await {
                Ok(m)
                    if m["payload"]["data"]["liveHours"]["kind"] == "SNAPSHOT"
                        && m["payload"]["data"]["liveHours"]["crew"]
                            .as_array()
                            .is_some_and(|c| c.len() == expected) =>
                {
                    let _ = ready_tx.send(Ok(()));
                }
                Ok(m) => {
                    let _ = ready_tx.send(Err(anyhow!("unexpected first message {m}")));
                    return;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            }
            // Changes are read into borrowed structs rather than a `Value` tree: the load
            // generator shares the machine's two cores with the nodes it measures, and a
            // message's allocations were a fifth of its CPU.
            while let Some(Ok(frame)) = ws.stream.next().await {
                let now = Instant::now();
                let Message::Text(text) = frame else { continue };
                match serde_json::from_str::<LiveNext>(&text) {
                    Ok(m) if m.kind == "next" => {
                        for c in m.payload.data.live_hours.crew {
                            let who = crew_index.get(c.crew_member_id).copied();
                            let _ = tx.send((s, who, now));
                        }
                    }
                    // Pings and pongs; anything else is a wrong answer.
                    Ok(m) if m.kind == "ping" || m.kind == "pong" => {}
                    _ => {
                        let _ = tx.send((s, None, now));
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..subscribers {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.context("a subscriber could not start")),
            None => bail!("subscribers ended before their snapshots"),
        }
    }
    eprintln!("bench: fan-out: every subscriber has its snapshot; punching");
    let http = http_client(2)?;
    let mut punched = histogram();
    let mut first = histogram();
    let mut last = histogram();
    let mut all = histogram();
    let mut dropped = 0u64;
    let punches = dept.crew.len();
    let mut cpu_start = None;
    // Three rounds, one punch of each crew member each (a CALL, a MEAL_OUT, a MEAL_IN); the
    // first two warm up and are not timed. Each node's pooled connections prepare the punch's
    // statements on first use: before any warm-up a node's first ten or so punches took
    // 10-22 ms to answer and the rest 4-7 ms, which timed the pool's warm-up rather than the
    // fan-out. A CALL's statement differs from the other kinds' (it may create the day), so a
    // CALL round alone left 18 of the 30 timed punches preparing theirs.
    const WARM_UP_ROUNDS: u64 = 2;
    let rounds = (0..=WARM_UP_ROUNDS).flat_map(|round| dept.crew.iter().map(move |c| (round, c)));
    let mut malformed = 0u64;
    for (k, (round, c)) in rounds.enumerate() {
        let expected = crew_index.get(&c.gid).copied();
        let measured = round == WARM_UP_ROUNDS;
        if measured && k == punches * WARM_UP_ROUNDS as usize {
            // The measured part starts here (scripts/profile.sh samples from this line on).
            eprintln!("bench: fan-out: warmed up; measuring");
            cpu_start = crate::cpu::read(&node_pids);
        }
        let g = Gql::new(http.clone(), nodes[k % 2], Some(token.to_owned()));
        let (kind, when) = nth_punch(date, round)?;
        let t0 = Instant::now();
        g.run(
            PUNCH,
            json!({ "c": c.gid, "k": kind, "at": when, "key": format!("bench-fanout-{round}-{}", c.uuid.simple()) }),
        )
        .await?;
        let answered = t0.elapsed();
        let mut seen = vec![false; subscribers];
        let mut got = 0usize;
        let mut earliest: Option<Instant> = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut latest = t0;
        while got < subscribers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((_, None, _))) => malformed += 1,
                Ok(Some((s, who, when))) if who == expected && !seen[s] => {
                    seen[s] = true;
                    got += 1;
                    latest = latest.max(when);
                    earliest = Some(earliest.map_or(when, |e| e.min(when)));
                    if measured {
                        let _ = all.record(when.duration_since(t0).as_micros().max(1) as u64);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if malformed > 0 {
            bail!("{malformed} live messages were not changes of the department's crew");
        }
        // A delivery missed in the warm-up counts as dropped too.
        dropped += (subscribers - got) as u64;
        if got < subscribers {
            // Someone never got it: the last delivery is at least the whole wait.
            latest = Instant::now();
        }
        if measured {
            let _ = punched.record(answered.as_micros().max(1) as u64);
            let _ = last.record(latest.duration_since(t0).as_micros().max(1) as u64);
            if let Some(e) = earliest {
                let _ = first.record(e.duration_since(t0).as_micros().max(1) as u64);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The timed round's CPU, sleeps between punches included (they cost nothing).
    let cpu = crate::cpu::since(cpu_start, &node_pids);
    for t in tasks {
        t.abort();
    }
    Ok(FanOut {
        cpu,
        subscribers,
        punches,
        punch_p50_ms: ms(&punched, 0.5),
        first_p50_ms: ms(&first, 0.5),
        first_p99_ms: ms(&first, 0.99),
        last_p50_ms: ms(&last, 0.5),
        last_p99_ms: ms(&last, 0.99),
        all_p50_ms: ms(&all, 0.5),
        all_p99_ms: ms(&all, 0.99),
        dropped,
    })
}

// ---------------------------------------------------------------------------------------------
// 1,000 concurrent clients, 90% reads, 10% punches.

#[derive(Debug, Clone, Serialize)]
pub struct Mix {
    pub clients: usize,
    pub stats: Stats,
    pub by_kind: HashMap<&'static str, u64>,
}

const MIX_TIMECARD: &str = "query Card($c: ID!, $w: NaiveDate!) { timecard(crewMemberId: $c, weekEnding: $w) { workedHours pay { gross } } }";
const MIX_DAY: &str = "query Day($c: ID!, $d: NaiveDate!) { workDay(crewMemberId: $c, date: $d) { status workedMinutes } }";
const MIX_HOT: &str = "query Hot($p: ID!, $d: NaiveDate!) { production(id: $p) { hotCost(date: $d) { totals { crewCount actualCost } } } }";
const MIX_WEEK: &str = "query Week($p: ID!, $w: NaiveDate!, $d: ID!) { production(id: $p) { timecards(weekEnding: $w, departmentId: $d, first: 30) { edges { node { crewMember { name } workedHours } } } } }";

/// Reads every read model of the mix's working set once, so the mix measures a warm cache.
pub async fn warm(base: &str, token: &str, prods: &[Prod], week: NaiveDate) -> Result<()> {
    let g = Gql::new(http_client(4)?, base, Some(token.into()));
    for p in prods {
        for d in &p.depts {
            g.run(
                "query($p: ID!, $w: NaiveDate!, $d: ID!) { production(id: $p) { timecards(weekEnding: $w, departmentId: $d, first: 100) { edges { node { workedHours pay { gross } days { workedMinutes } } } } } }",
                json!({ "p": p.gid, "w": week, "d": d.gid }),
            )
            .await?;
        }
        for day in 0..5 {
            g.run(
                MIX_HOT,
                json!({ "p": p.gid, "d": week - Days::days(5 - day) }),
            )
            .await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn mix(
    run: &Run,
    clients: usize,
    base: &str,
    token: &str,
    prods: Arc<Vec<Prod>>,
    writers: Arc<Vec<Crew>>,
    week: NaiveDate,
    punch_from: NaiveDate,
    write_share: f64,
) -> Result<Mix> {
    let counts: Arc<std::sync::Mutex<HashMap<&'static str, u64>>> = Arc::default();
    let next: Arc<Vec<AtomicU64>> = Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect());
    let mut gs = Vec::with_capacity(clients);
    for _ in 0..clients {
        // One connection per client, as 1,000 phones and browsers would hold.
        gs.push(Gql::new(http_client(1)?, base, Some(token.to_owned())));
    }
    let gs = Arc::new(gs);
    let c2 = counts.clone();
    let stats = open_loop(
        clients,
        Duration::from_secs(1),
        run.warmup,
        run.duration,
        move |c, i| {
            let g = gs[c].clone();
            let prods = prods.clone();
            let writers = writers.clone();
            let next = next.clone();
            let counts = c2.clone();
            async move {
                let mut rng = StdRng::seed_from_u64((c as u64) << 32 | i);
                let r: f64 = rng.gen();
                let p = &prods[rng.gen_range(0..prods.len())];
                let dept = &p.depts[rng.gen_range(0..p.depts.len())];
                let crew = &dept.crew[rng.gen_range(0..dept.crew.len())];
                let day = week - Days::days(rng.gen_range(1..=5));
                // Reads keep their shares of the rest whatever the write share.
                let r = if r < write_share {
                    r * 0.10 / write_share
                } else {
                    0.10 + (r - write_share) * 0.90 / (1.0 - write_share)
                };
                let kind = if r < 0.10 {
                    let w = &writers[c];
                    let n = next[c].fetch_add(1, Ordering::Relaxed);
                    let (k, when) = nth_punch(punch_from, n)?;
                    let key = format!("bench-mix-{}-{n}", w.uuid.simple());
                    let d = g
                        .run(PUNCH, json!({ "c": w.gid, "k": k, "at": when, "key": key }))
                        .await?;
                    at(&d, "/recordPunch/punch/id")?;
                    "punch"
                } else if r < 0.40 {
                    let d = g.run(CT_ONE, json!({ "id": crew.gid })).await?;
                    if at(&d, "/node/name")? != crew.name.as_str() {
                        bail!("wrong crew member");
                    }
                    "node"
                } else if r < 0.65 {
                    let d = g
                        .run(MIX_TIMECARD, json!({ "c": crew.gid, "w": week }))
                        .await?;
                    at(&d, "/timecard/pay/gross")?;
                    "timecard_pay"
                } else if r < 0.80 {
                    let d = g.run(MIX_DAY, json!({ "c": crew.gid, "d": day })).await?;
                    if at(&d, "/workDay/workedMinutes")?.as_i64().unwrap_or(0) <= 0 {
                        bail!("a seeded day with no time: {d}");
                    }
                    "work_day"
                } else if r < 0.90 {
                    let d = g.run(MIX_HOT, json!({ "p": p.gid, "d": day })).await?;
                    at(&d, "/production/hotCost/totals/actualCost")?;
                    "hot_cost"
                } else {
                    let d = g
                        .run(MIX_WEEK, json!({ "p": p.gid, "w": week, "d": dept.gid }))
                        .await?;
                    if len_at(&d, "/production/timecards/edges")? != dept.crew.len().min(30) {
                        bail!("short department week");
                    }
                    "department_week"
                };
                if let Ok(mut m) = counts.lock() {
                    *m.entry(kind).or_default() += 1;
                }
                Ok(())
            }
        },
    )
    .await;
    let by_kind = counts.lock().map(|m| m.clone()).unwrap_or_default();
    Ok(Mix {
        clients,
        stats,
        by_kind,
    })
}

/// Read-model cache hits and misses so far per cache, from a node's /metrics.
pub async fn cache_counts(base: &str) -> Result<HashMap<String, (f64, f64)>> {
    let text = metrics(base).await?;
    let mut out = HashMap::new();
    for cache in ["timecard_pay", "work_day_totals", "hot_cost"] {
        let label = format!("cache=\"{cache}\"");
        let all = metric_sum(&text, "crewtime_cache_requests_total", &[&label]);
        let misses = metric_sum(
            &text,
            "crewtime_cache_requests_total",
            &[&label, "outcome=\"miss\""],
        );
        out.insert(cache.to_owned(), (all - misses, misses));
    }
    Ok(out)
}

/// Hits and misses between two readings: in all, and per cache as JSON.
pub fn cache_delta(
    before: &HashMap<String, (f64, f64)>,
    after: &HashMap<String, (f64, f64)>,
) -> (f64, f64, Value) {
    let (mut hits, mut misses) = (0.0, 0.0);
    let mut per = serde_json::Map::new();
    for (cache, (h1, m1)) in after {
        let (h0, m0) = before.get(cache).copied().unwrap_or_default();
        let (h, m) = (h1 - h0, m1 - m0);
        hits += h;
        misses += m;
        let rate = if h + m > 0.0 { h / (h + m) } else { 0.0 };
        per.insert(
            cache.clone(),
            json!({ "hits": h, "misses": m, "hit_rate": rate }),
        );
    }
    (hits, misses, Value::Object(per))
}

// ---------------------------------------------------------------------------------------------
// Memory with many open subscriptions on one node.

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub subscriptions: usize,
    pub connections: usize,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
    pub per_subscription_kb: f64,
    pub open_seconds: f64,
}

/// Opens `connections` sockets with `per` subscriptions each and waits for every snapshot;
/// returns the sockets (kept open by the caller while it reads memory).
pub async fn open_subscriptions(
    base: &str,
    token: &str,
    prods: &[Prod],
    date: NaiveDate,
    connections: usize,
    per: usize,
) -> Result<Vec<Ws>> {
    let mut tasks = tokio::task::JoinSet::new();
    // A few sockets at a time: each asks for 100 snapshots at once.
    let gate = Arc::new(tokio::sync::Semaphore::new(4));
    for c in 0..connections {
        let base = base.to_owned();
        let token = token.to_owned();
        let gate = gate.clone();
        let targets: Vec<Value> = (0..per)
            .map(|s| {
                let p = &prods[(c * per + s) % prods.len()];
                let d = &p.depts[(c + s) % p.depts.len()];
                json!({ "p": p.gid, "d": date, "dep": d.gid })
            })
            .collect();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut ws = Ws::connect(&base, &token).await?;
            for (s, vars) in targets.into_iter().enumerate() {
                ws.subscribe(&s.to_string(), LIVE, vars).await?;
            }
            let mut snapshots = 0;
            while snapshots < per {
                let m = next_json(&mut ws.stream, Duration::from_secs(120)).await?;
                match m["type"].as_str() {
                    Some("next") if m["payload"].get("errors").is_some() => {
                        bail!("subscription failed: {m}")
                    }
                    Some("next") if m["payload"]["data"]["liveHours"]["kind"] == "SNAPSHOT" => {
                        snapshots += 1
                    }
                    Some("next") => {}
                    _ => bail!("subscription refused: {m}"),
                }
            }
            Ok::<Ws, anyhow::Error>(ws)
        });
    }
    let mut out = Vec::with_capacity(connections);
    while let Some(done) = tasks.join_next().await {
        out.push(done??);
    }
    Ok(out)
}
