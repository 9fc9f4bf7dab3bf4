//! A bounded-time fuzzer for the vector parser and the engine: mutates the pay vectors (byte
//! flips, field deletions, type swaps, random and extreme values, odd dates, shifted times) and
//! feeds each mutant through parse + compute + rendering, counting panics. The engine's contract
//! is an error naming the field, never a panic.
//!
//! `cargo run -p crewtime-domain --release --example fuzz_cases -- 60` (seconds, default 30)

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use crewtime_domain::pay::{compute_case, parse_cases};
use serde_json::{json, Map, Value};

const VECTORS: &str = include_str!("../tests/data/pay-vectors.json");

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ODD_TIMES: &[&str] = &[
    "2026-03-08T02:30",
    "2026-11-01T01:30",
    "2026-11-01T01:59:59",
    "1899-12-31T23:59",
    "1900-01-01T00:00",
    "2199-12-31T23:59",
    "2200-01-01T00:00",
    "9999-12-31T23:59",
    "0000-01-01T00:00",
    "-0001-01-01T00:00",
    "+262143-12-31T23:59",
    "2026-02-29T07:00",
    "2024-02-29T07:00",
    "2026-03-02T24:00",
    "2026-03-02T07:00:60",
    "2026-03-02T07:00Z",
    "2026-03-02T07:00+05:00",
    "2026-03-02",
    "07:00",
    "",
    "T",
];

const ODD_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0.00",
    "0.0000000000000000000000000001",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "99999999999999999999999999999999999999",
    "1e308",
    "NaN",
    "12.5",
    "100000",
    "100000.01",
    "1000000",
    " 50.00 ",
    "50,00",
];

const OPTION_NAMES: &[&str] = &[
    "roundingMinutes",
    "minimumCallHours",
    "weeklyOvertime",
    "weeklyOvertimeHours",
    "mealGraceMinutes",
    "mealIntervalHours",
    "mealPenaltySchedule",
    "restHours",
    "nightPremium",
    "bogus",
];

const ZONES: &[&str] = &[
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Antarctica/Troll",
    "UTC",
    "Etc/GMT+12",
    "Etc/GMT-14",
    "Not/AZone",
    "",
];

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 9 } else { 11 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.range(-1000, 1000)),
        3 => json!(rng.pick(&[i64::MIN, i64::MAX, -1, 0, 7, 8, 1 << 40])),
        4 => json!(rng.pick(&[u64::MAX, 1u64 << 63])),
        5 => json!(rng.pick(&[1e308f64, -1e308, 0.1, 1e-300, 12.5, 47.999_999])),
        6 => json!(*rng.pick(ODD_TIMES)),
        7 => json!(*rng.pick(ODD_NUMBERS)),
        8 => json!("x".repeat(rng.below(300))),
        9 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                let key =
                    (*rng.pick(&["out", "in", "call", "wrap", "dayInWeek", "hourlyRate", "q"]))
                        .to_owned();
                m.insert(key, random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// JSON pointers to every node under `v`.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{here}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn shift_time(s: &str, rng: &mut Rng) -> Option<String> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()?;
    let minutes = match rng.below(4) {
        0 => rng.range(-30, 30),
        1 => rng.range(-600, 600),
        2 => rng.range(-3000, 3000),
        _ => rng.range(-200_000, 200_000),
    };
    let shifted = t.checked_add_signed(chrono::Duration::minutes(minutes))?;
    Some(shifted.format("%Y-%m-%dT%H:%M").to_string())
}

fn mutate_structure(v: &mut Value, rng: &mut Rng) {
    let mut ptrs = Vec::new();
    pointers(v, String::new(), &mut ptrs);
    let ptr = rng.pick(&ptrs).clone();
    let Some(node) = v.pointer_mut(&ptr) else {
        return;
    };
    match rng.below(10) {
        // Delete a field or an element.
        0 => match node {
            Value::Object(m) if !m.is_empty() => {
                let key = m
                    .keys()
                    .nth(rng.below(m.len()))
                    .cloned()
                    .unwrap_or_default();
                m.remove(&key);
            }
            Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                items.remove(i);
            }
            _ => *node = Value::Null,
        },
        // Swap the type.
        1 => {
            *node = match node.take() {
                Value::String(s) => s.parse::<f64>().map_or(json!(s.len()), |f| json!(f)),
                Value::Number(n) => json!(n.to_string()),
                Value::Array(a) => json!({ "0": Value::Array(a) }),
                Value::Object(m) => Value::Array(m.into_values().collect()),
                Value::Bool(b) => json!(if b { "true" } else { "false" }),
                Value::Null => json!({}),
            }
        }
        2 | 3 => *node = random_value(rng, 0),
        // Shift or replace a time.
        4 | 5 => {
            if let Some(s) = node.as_str() {
                *node = match shift_time(s, rng) {
                    Some(t) if rng.below(3) > 0 => json!(t),
                    _ => json!(*rng.pick(ODD_TIMES)),
                };
            } else {
                *node = json!(*rng.pick(ODD_TIMES));
            }
        }
        // Duplicate an array element (more days, more meals).
        6 => {
            if let Value::Array(items) = node {
                if let Some(item) = items.get(rng.below(items.len())).cloned() {
                    for _ in 0..=rng.below(8) {
                        items.push(item.clone());
                    }
                }
            }
        }
        // Options with random names and values.
        7 => {
            if let Value::Object(m) = node {
                let mut opts = Map::new();
                for _ in 0..=rng.below(3) {
                    let value = random_value(rng, 1);
                    opts.insert((*rng.pick(OPTION_NAMES)).to_owned(), value);
                }
                m.insert("options".to_owned(), Value::Object(opts));
            }
        }
        8 => {
            if let Value::Object(m) = node {
                if m.contains_key("timezone") {
                    m.insert("timezone".to_owned(), json!(*rng.pick(ZONES)));
                } else {
                    m.insert("ndb".to_owned(), random_value(rng, 1));
                }
            }
        }
        _ => {
            if node.is_string() || node.is_number() {
                *node = json!(*rng.pick(ODD_NUMBERS));
            }
        }
    }
}

fn mutate_bytes(text: &str, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    const TOKENS: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b"\"", b",", b":", b"null", b"-", b"9", b"\\u0000", b"e99",
    ];
    for _ in 0..=rng.below(8) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = *rng.pick(b"0123456789:-T\"{}[],. ex"),
            2 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {
                let token = rng.pick(TOKENS);
                bytes.splice(at..at, token.iter().copied());
            }
        }
    }
    bytes
}

/// What became of one document.
#[derive(Default)]
struct Outcome {
    rejected: bool,
    cases: u64,
    days: u64,
}

/// Everything a client can make the library do with one document.
fn run(doc: &Value) -> Outcome {
    match parse_cases(doc) {
        Err(e) => {
            // Rendering the error is part of the contract too.
            let _ = (e.field().len(), e.to_string());
            Outcome {
                rejected: true,
                ..Outcome::default()
            }
        }
        Ok(cases) => {
            let mut out = Outcome::default();
            for case in &cases {
                match compute_case(case) {
                    Ok(week) => {
                        out.cases += 1;
                        out.days += week.days.len() as u64;
                        let _ = week.to_expected_json();
                        let _ = serde_json::to_string(&week);
                    }
                    Err(e) => {
                        out.rejected = true;
                        let _ = e.to_string();
                    }
                }
            }
            out
        }
    }
}

fn panics() -> &'static Mutex<BTreeMap<String, usize>> {
    static PANICS: OnceLock<Mutex<BTreeMap<String, usize>>> = OnceLock::new();
    PANICS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x0F0F_1234_5678_9ABC);
    let base: Value = serde_json::from_str(VECTORS).expect("the vectors are valid JSON");
    let cases = base.as_array().cloned().unwrap_or_default();

    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut p) = panics().lock() {
            *p.entry(format!("{location}: {message}")).or_insert(0) += 1;
        }
    }));

    let mut rng = Rng(seed | 1);
    let deadline = Duration::from_secs(secs);
    let start = Instant::now();
    let (mut execs, mut panicked, mut samples) = (0u64, 0u64, Vec::new());
    let (mut not_json, mut rejected, mut accepted) = (0u64, 0u64, 0u64);
    let (mut weeks, mut days) = (0u64, 0u64);
    while start.elapsed() < deadline {
        let doc: Option<Value> = if rng.below(10) < 3 {
            let source = if rng.below(4) == 0 {
                base.clone()
            } else {
                rng.pick(&cases).clone()
            };
            let text = serde_json::to_string(&source).unwrap_or_default();
            serde_json::from_slice(&mutate_bytes(&text, &mut rng)).ok()
        } else {
            let mut doc = if rng.below(8) == 0 {
                base.clone()
            } else {
                rng.pick(&cases).clone()
            };
            for _ in 0..=rng.below(4) {
                mutate_structure(&mut doc, &mut rng);
            }
            Some(doc)
        };
        let Some(doc) = doc else {
            execs += 1;
            not_json += 1;
            continue;
        };
        execs += 1;
        match panic::catch_unwind(AssertUnwindSafe(|| run(&doc))) {
            Ok(o) => {
                if o.rejected {
                    rejected += 1;
                } else {
                    accepted += 1;
                }
                weeks += o.cases;
                days += o.days;
            }
            Err(_) => {
                panicked += 1;
                if samples.len() < 3 {
                    samples.push(doc.to_string());
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("fuzz: {execs} execs in {elapsed:.1} s, {panicked} panics");
    println!(
        "  documents: {not_json} not JSON, {rejected} rejected with an error, {accepted} accepted"
    );
    println!("  weeks computed {weeks}, crew-days computed {days}");
    if let Ok(p) = panics().lock() {
        for (site, n) in p.iter() {
            println!("  panic x{n}: {site}");
        }
    }
    for s in samples {
        println!("  input: {s}");
    }
    if panicked > 0 {
        std::process::exit(1);
    }
}
