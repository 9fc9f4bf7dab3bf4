//! Throughput of the pay engine on one thread: a fixed-seed set of realistic crew weeks, priced
//! over and over for a few seconds. Prints crew-days per second and a checksum of the gross so
//! runs on different machines can be checked for computing the same thing.
//!
//! `cargo bench -p crewtime-domain --bench pay_engine`

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use crewtime_domain::pay::{compute_week, preset, DayInput, Deal, RuleSet};
use rust_decimal::Decimal;
use serde_json::json;

const WEEKS: usize = 2000;
const SEED: u64 = 0x5EED_C0FF_EE15_2026;
const MEASURE_FOR: StdDuration = StdDuration::from_secs(3);

/// xorshift64*: deterministic and dependency-free; quality is ample for picking test data.
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

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }

    fn chance(&mut self, percent: i64) -> bool {
        self.range(0, 99) < percent
    }
}

struct Week {
    rules: RuleSet,
    deal: Deal,
    tz: Tz,
    previous_wrap: Option<DateTime<Utc>>,
    days: Vec<DayInput>,
}

fn rule_sets() -> Vec<RuleSet> {
    let reference = preset("REF-US-CREW").expect("preset");
    let mut night = reference.clone();
    let opts = json!({"nightPremium": true, "mealGraceMinutes": 12});
    night
        .apply_options(opts.as_object().expect("object"))
        .expect("options");
    let mut sag = reference.clone();
    let opts = json!({"mealPenaltySchedule": "S", "roundingMinutes": 15});
    sag.apply_options(opts.as_object().expect("object"))
        .expect("options");
    let ca = preset("CA-NONUNION").expect("preset");
    vec![reference, night, sag, ca]
}

fn generate(rng: &mut Rng) -> Vec<Week> {
    let rules = rule_sets();
    let zones = [
        chrono_tz::America::Los_Angeles,
        chrono_tz::America::New_York,
        chrono_tz::Europe::London,
    ];
    let monday = NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
    (0..WEEKS)
        .map(|w| {
            let tz = zones[w % zones.len()];
            let week_start = monday + Duration::weeks(i64::try_from(w % 52).unwrap_or(0));
            let deal = if rng.chance(70) {
                Deal::hourly_rate(Decimal::new(rng.range(2500, 9500), 2)).expect("deal")
            } else {
                Deal::day_rate(
                    Decimal::new(rng.range(30000, 90000), 2),
                    Decimal::from(rng.range(8, 12)),
                )
                .expect("deal")
            };
            let n_days = match rng.range(0, 19) {
                0 => 4,
                1..=3 => 6,
                _ => 5,
            };
            let night_shoot = rng.chance(10);
            let mut days: Vec<DayInput> = Vec::with_capacity(n_days);
            for d in 0..n_days {
                let date = week_start + Duration::days(i64::try_from(d).unwrap_or(0));
                let call_min = if night_shoot {
                    rng.range(16 * 60, 20 * 60)
                } else {
                    rng.range(5 * 60, 10 * 60)
                };
                let naive =
                    date.and_hms_opt(0, 0, 0).expect("midnight") + Duration::minutes(call_min);
                let mut call = tz
                    .from_local_datetime(&naive)
                    .earliest()
                    .expect("January and February have no DST gap")
                    .with_timezone(&Utc);
                if let Some(prev) = days.last() {
                    call = call.max(prev.wrap + Duration::hours(8));
                }
                let span = rng.range(9 * 60, 15 * 60);
                let at = |m: i64| call + Duration::minutes(m);
                let ndb = rng.chance(20).then(|| (call, at(rng.range(10, 20))));
                let first_out = rng.range(330, 420);
                let first_len = if rng.chance(80) { 30 } else { 60 };
                let mut meals = vec![(at(first_out), at(first_out + first_len))];
                let second_out = first_out + first_len + rng.range(300, 400);
                if second_out + 30 < span && rng.chance(60) {
                    meals.push((at(second_out), at(second_out + 30)));
                }
                days.push(DayInput {
                    day_in_week: u8::try_from(d + 1).unwrap_or(1),
                    call,
                    wrap: at(span),
                    meals,
                    ndb,
                });
            }
            let previous_wrap = rng
                .chance(30)
                .then(|| days[0].call - Duration::hours(rng.range(8, 12)));
            Week {
                rules: rules[w % rules.len()].clone(),
                deal,
                tz,
                previous_wrap,
                days,
            }
        })
        .collect()
}

fn price_all(weeks: &[Week]) -> (usize, Decimal) {
    let mut days = 0;
    let mut total = Decimal::ZERO;
    for w in weeks {
        let pay = compute_week(
            black_box(&w.rules),
            &w.deal,
            w.tz,
            w.previous_wrap,
            black_box(&w.days),
        )
        .expect("generated weeks are valid");
        days += pay.days.len();
        total += pay.gross;
    }
    (days, black_box(total))
}

fn main() {
    let mut rng = Rng(SEED);
    let weeks = generate(&mut rng);
    let (days_per_pass, checksum) = price_all(&weeks);

    let start = Instant::now();
    let mut passes = 0u32;
    let mut priced = 0usize;
    while start.elapsed() < MEASURE_FOR {
        let (d, total) = price_all(&weeks);
        assert_eq!(total, checksum, "the engine is deterministic");
        priced += d;
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = priced as f64 / secs;
    println!("pay engine benchmark (one thread, fixed seed {SEED:#x})");
    println!("  weeks per pass      {:>12}", weeks.len());
    println!("  crew-days per pass  {days_per_pass:>12}");
    println!("  passes              {passes:>12}");
    println!("  seconds             {secs:>12.2}");
    println!("  gross per pass      {checksum:>12}");
    println!("  crew-days/s         {per_sec:>12.0}");
    println!(
        "{}",
        json!({
            "bench": "pay_engine",
            "threads": 1,
            "crewDaysPerPass": days_per_pass,
            "passes": passes,
            "seconds": secs,
            "grossChecksum": checksum.to_string(),
            "crewDaysPerSecond": per_sec.round(),
        })
    );
}
