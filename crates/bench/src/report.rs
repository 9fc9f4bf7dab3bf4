//! The run's table (stdout) and JSON report.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cpu::Use;
use crate::load::Stats;
use crate::procs::PgbenchResult;
use crate::scenarios::{FanOut, Memory, Mix};
use crate::seed::SeedSpec;

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: &'static str,
    pub value: f64,
    pub target: String,
    pub pass: bool,
}

impl Target {
    pub fn at_least(name: &'static str, value: f64, min: f64) -> Self {
        Self {
            name,
            value,
            target: format!(">= {min}"),
            pass: value >= min,
        }
    }

    pub fn above(name: &'static str, value: f64, min: f64) -> Self {
        Self {
            name,
            value,
            target: format!("> {min}"),
            pass: value > min,
        }
    }

    pub fn at_most(name: &'static str, value: f64, max: f64) -> Self {
        Self {
            name,
            value,
            target: format!("<= {max}"),
            pass: value <= max,
        }
    }

    pub fn equals(name: &'static str, value: f64, want: f64) -> Self {
        Self {
            name,
            value,
            target: format!("= {want}"),
            pass: value == want,
        }
    }
}

pub struct Report {
    out: PathBuf,
    rows: Vec<(String, String, Stats)>,
    targets: Vec<Target>,
    notes: Vec<(String, f64)>,
    json: serde_json::Map<String, Value>,
}

impl Report {
    pub fn new(out: &Path, spec: SeedSpec, pool: u32, workers: usize) -> Self {
        let mut json = serde_json::Map::new();
        json.insert(
            "data_set".into(),
            serde_json::to_value(spec).unwrap_or_default(),
        );
        json.insert(
            "settings".into(),
            json!({
                "pool_size_each_server": pool,
                "closed_loop_workers": workers,
                "cores": crate::cpu::cores(),
            }),
        );
        Self {
            out: out.to_owned(),
            rows: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
            json,
        }
    }

    pub fn pair(&mut self, scenario: &str, ours: &Stats, peer: &Stats) {
        self.rows
            .push((scenario.into(), "crewtime".into(), ours.clone()));
        self.rows
            .push((scenario.into(), "PostGraphile 5".into(), peer.clone()));
    }

    pub fn rows_of(&mut self, scenario: &str, stats: &[Stats]) {
        for (i, s) in stats.iter().enumerate() {
            self.rows.push((
                scenario.into(),
                format!("crewtime, round {}", i + 1),
                s.clone(),
            ));
        }
    }

    pub fn punches(
        &mut self,
        ours: &Stats,
        retries: u64,
        acknowledged: u64,
        rows: i64,
        pgbench: &PgbenchResult,
    ) {
        self.rows.push((
            "recordPunch, 10% retries".into(),
            "crewtime".into(),
            ours.clone(),
        ));
        self.json.insert(
            "record_punch".into(),
            json!({ "retries": retries, "acknowledged": acknowledged, "rows": rows,
                    "duplicates": rows - acknowledged as i64, "pgbench": pgbench }),
        );
    }

    /// Where a punch's CPU goes, beside a pgbench transaction's, and the rate PostgreSQL's
    /// share of a punch alone would allow if it had every core: no server in front of it can
    /// pass that ceiling.
    pub fn punch_cpu(&mut self, ours: &Use, rps: f64, pgbench: &Use, tps: f64, cores: f64) {
        let punches = ours.ops_at(rps);
        let transactions = pgbench.ops_at(tps);
        let pg = Use::ms_each(ours.postgres, punches);
        self.note("recordPunch: CPU ms per punch, PostgreSQL", pg);
        self.note(
            "recordPunch: CPU ms per punch, crewtime",
            Use::ms_each(ours.nodes_user + ours.nodes_kernel, punches),
        );
        self.note(
            "recordPunch: CPU ms per punch, load generator",
            Use::ms_each(ours.bench, punches),
        );
        self.note(
            "pgbench: CPU ms per transaction, whole machine",
            Use::ms_each(pgbench.machine, transactions),
        );
        self.note(
            "pgbench: CPU ms per transaction, PostgreSQL",
            Use::ms_each(pgbench.postgres, transactions),
        );
        self.note(
            "recordPunch: ceiling vs pgbench from PostgreSQL's CPU alone",
            cores * 1e3 / pg / tps,
        );
        self.json.insert(
            "cpu".into(),
            json!({ "cores": cores, "record_punch": ours, "pgbench": pgbench }),
        );
    }

    pub fn fan_out(&mut self, f: &FanOut) {
        if let Some(u) = &f.cpu {
            let per_punch = |cpu: f64| Use::ms_each(cpu, f.punches as f64);
            self.note(
                "fan-out: CPU ms per punch, crewtime nodes in user space",
                per_punch(u.nodes_user),
            );
            self.note(
                "fan-out: CPU ms per punch, crewtime nodes in the kernel",
                per_punch(u.nodes_kernel),
            );
            self.note(
                "fan-out: CPU ms per punch, load generator",
                per_punch(u.bench),
            );
            self.note(
                "fan-out: CPU ms per punch, PostgreSQL",
                per_punch(u.postgres),
            );
        }
        self.json.insert(
            "fan_out".into(),
            serde_json::to_value(f).unwrap_or_default(),
        );
    }

    pub fn mix(&mut self, label: &str, m: &Mix, hits: f64, misses: f64, caches: Value) {
        self.rows.push((
            format!("{} clients, {label}", m.clients),
            "crewtime".into(),
            m.stats.clone(),
        ));
        let entry = self
            .json
            .entry("mix")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|o| {
                o.insert(
                    label.to_owned(),
                    json!({ "clients": m.clients, "requests_by_kind": m.by_kind,
                            "cache_hits": hits, "cache_misses": misses, "caches": caches }),
                );
            });
        let _ = entry;
    }

    pub fn memory(&mut self, m: &Memory) {
        self.json
            .insert("memory".into(), serde_json::to_value(m).unwrap_or_default());
    }

    /// A figure worth reading beside the targets.
    pub fn note(&mut self, name: &str, value: f64) {
        self.json.insert(name.into(), json!(value));
        self.notes.push((name.into(), value));
    }

    pub fn target(&mut self, t: Target) {
        self.targets.push(t);
    }

    /// Prints the tables, writes the JSON, and returns how many targets were missed.
    pub fn finish(mut self) -> Result<usize> {
        println!();
        println!(
            "{:<34} {:<26} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
            "scenario", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        for (scenario, server, s) in &self.rows {
            println!(
                "{:<34} {:<26} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
                scenario, server, s.rps, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.errors
            );
        }
        for (scenario, server, s) in &self.rows {
            if let Some(first) = s.sample_errors.first() {
                println!("  {scenario} / {server}: first error: {first}");
            }
        }
        if let Some(p) = self.json.get("record_punch") {
            println!(
                "pgbench single-row writes: {:.0} TPS ({} clients); recordPunch: {} acknowledged, {} retries, {} rows, {} duplicates",
                p["pgbench"]["tps"].as_f64().unwrap_or(0.0),
                p["pgbench"]["clients"],
                p["acknowledged"],
                p["retries"],
                p["rows"],
                p["duplicates"]
            );
        }
        if let Some(f) = self.json.get("fan_out") {
            println!(
                "fan-out: {} subscribers over 2 nodes, {} punches: punch answered p50 {} ms; first delivery p50 {} ms, p99 {} ms; last subscriber p50 {} ms, p99 {} ms; every delivery p99 {} ms; dropped {}",
                f["subscribers"], f["punches"], f["punch_p50_ms"], f["first_p50_ms"], f["first_p99_ms"], f["last_p50_ms"], f["last_p99_ms"], f["all_p99_ms"], f["dropped"]
            );
        }
        if let Some(Value::Object(mixes)) = self.json.get("mix") {
            for (label, m) in mixes {
                let caches = m["caches"]
                    .as_object()
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| {
                                format!("{k} {:.3}", v["hit_rate"].as_f64().unwrap_or(0.0))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                println!(
                    "read-model cache, {label}: {} hits, {} misses ({caches}); requests {}",
                    m["cache_hits"], m["cache_misses"], m["requests_by_kind"]
                );
            }
        }
        if let Some(m) = self.json.get("memory") {
            println!(
                "memory: {} subscriptions on {} sockets: RSS {:.1} MB -> {:.1} MB ({:.1} KB per subscription; opened in {:.1} s)",
                m["subscriptions"],
                m["connections"],
                m["rss_before_mb"].as_f64().unwrap_or(0.0),
                m["rss_after_mb"].as_f64().unwrap_or(0.0),
                m["per_subscription_kb"].as_f64().unwrap_or(0.0),
                m["open_seconds"].as_f64().unwrap_or(0.0)
            );
        }
        for (name, value) in &self.notes {
            println!("{name}: {value}");
        }
        println!();
        println!(
            "{:<52} {:>10} {:>9} {:>6}",
            "target", "measured", "target", ""
        );
        for t in &self.targets {
            println!(
                "{:<52} {:>10.3} {:>9} {:>6}",
                t.name,
                t.value,
                t.target,
                if t.pass { "pass" } else { "MISS" }
            );
        }
        let missed = self.targets.iter().filter(|t| !t.pass).count();
        println!(
            "targets: {} passed, {} missed",
            self.targets.len() - missed,
            missed
        );
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|(scenario, server, s)| json!({ "scenario": scenario, "server": server, "stats": s }))
            .collect();
        self.json.insert("rows".into(), Value::Array(rows));
        self.json.insert(
            "targets".into(),
            serde_json::to_value(&self.targets).unwrap_or_default(),
        );
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            &self.out,
            serde_json::to_string_pretty(&Value::Object(self.json))?,
        )?;
        println!("report: {}", self.out.display());
        Ok(missed)
    }
}
