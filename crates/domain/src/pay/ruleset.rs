//! Rule sets are data: a named, versioned configuration that the engine interprets. Presets ship
//! as JSON files compiled into the crate; a production copies one, overrides options by name and
//! stores the result (hence `Serialize`/`Deserialize`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::PayError;
use super::num::{decimal_from_json, hours_to_secs, int_from_json};

/// Longest band boundary, minimum call, meal interval or rest a rule set may state, in hours:
/// a day is at most 48 hours long, so larger numbers could never apply.
const MAX_RULE_HOURS: i64 = 48;
/// Multipliers and premium factors above this are taken as typing errors.
const MAX_MULTIPLIER: i64 = 10;
/// A single penalty amount above this is taken as a typing error (and keeps sums exact).
const MAX_PENALTY_AMOUNT: i64 = 100_000;
const MAX_BANDS: usize = 8;
const MAX_SCHEDULE_LEN: usize = 16;

/// A complete pay rule set (see PAY-RULES.md). Field names serialize in camelCase, the same
/// names the presets use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSet {
    pub name: String,
    /// Bumped whenever a number changes, so a computed week can name the rules that priced it.
    pub version: u32,
    /// First day these numbers apply to.
    pub effective_from: NaiveDate,
    #[serde(default)]
    pub description: String,
    /// Worked time per day is rounded up to this many minutes.
    pub rounding_minutes: u32,
    /// Multiplier bands by day in week; every day 1..=7 appears in exactly one schedule.
    pub tiers: Vec<TierSchedule>,
    /// Minimum paid hours per day; `None` for no minimum call.
    #[serde(default)]
    pub minimum_call_hours: Option<Decimal>,
    pub weekly_overtime: WeeklyOvertime,
    /// Union-style meal-delay penalties; `None` when the rule set has none.
    #[serde(default)]
    pub meal_penalty: Option<MealPenaltyRule>,
    /// Statute-style meal premium (one paid hour); `None` when the rule set has none.
    #[serde(default)]
    pub meal_premium: Option<MealPremiumRule>,
    /// Rest (turnaround) between wrap and the next call; `None` for no rest rule.
    #[serde(default)]
    pub rest: Option<RestRule>,
    pub night: NightPremium,
}

/// The bands that apply on the listed days in the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSchedule {
    pub days: Vec<u8>,
    pub bands: Vec<Band>,
}

/// Worked time before `up_to_hours` (counted from the day's first worked minute) is paid at
/// `multiplier`; the last band has no upper bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Band {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_hours: Option<Decimal>,
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeeklyOvertime {
    pub enabled: bool,
    pub threshold_hours: Decimal,
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MealPenaltyRule {
    /// A meal is due this long after the meal clock starts or the previous meal ends.
    pub interval_hours: Decimal,
    pub grace_minutes: u32,
    /// One penalty per started unit of lateness.
    pub unit_minutes: u32,
    /// Name of the schedule in `schedules` that applies.
    pub schedule: String,
    /// Penalty amounts per meal period: first, second, ... and the last repeats.
    pub schedules: BTreeMap<String, Vec<Decimal>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MealPremiumRule {
    /// Premium when the first meal starts later than this after call.
    pub first_meal_within_hours: Decimal,
    /// Premium when more than this is worked with no meal at all.
    pub max_hours_without_meal: Decimal,
    /// Paid at 1x the hourly rate, at most once per day.
    pub premium_hours: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestRule {
    pub hours: Decimal,
    /// Invaded rest is paid at this multiple of the hourly rate.
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NightPremium {
    pub enabled: bool,
    /// Local wall-clock "HH:MM" at which night starts.
    pub start: String,
    /// Local wall-clock "HH:MM" at which night ends (the next morning when before `start`).
    pub end: String,
    pub factor: Decimal,
}

/// One multiplier band with its bounds in worked seconds.
#[derive(Debug, Clone)]
pub(crate) struct CompiledBand {
    pub lower: i64,
    pub upper: Option<i64>,
    pub multiplier: Decimal,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledMealPenalty {
    pub interval: i64,
    pub grace: i64,
    pub unit: i64,
    pub amounts: Vec<Decimal>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledMealPremium {
    pub first_within: i64,
    pub max_without: i64,
    pub premium_secs: i64,
}

/// The rule set with every number checked and converted to seconds, so the engine's inner loop
/// deals only in integers and decimals it can trust.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRules {
    pub unit: i64,
    /// Bands per day in week, index 0 for day 1.
    pub bands: [Vec<CompiledBand>; 7],
    pub minimum_call: Option<i64>,
    pub weekly: Option<(i64, Decimal)>,
    pub meal_penalty: Option<CompiledMealPenalty>,
    pub meal_premium: Option<CompiledMealPremium>,
    pub rest: Option<(i64, Decimal)>,
    /// Night window as minutes of the local day, and its factor.
    pub night: Option<(u32, u32, Decimal)>,
}

fn multiplier_ok(m: Decimal, field: &str) -> Result<Decimal, PayError> {
    if m <= Decimal::ZERO || m > Decimal::from(MAX_MULTIPLIER) {
        return Err(PayError::invalid(
            field,
            format!("multiplier must be more than 0 and at most {MAX_MULTIPLIER}, got {m}"),
        ));
    }
    Ok(m)
}

/// Minutes of the day in "HH:MM".
fn clock_minutes(s: &str, field: &str) -> Result<u32, PayError> {
    let bad = || {
        PayError::invalid(
            field,
            format!("expected a time of day \"HH:MM\", got \"{s}\""),
        )
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl RuleSet {
    /// The meal clock: a meal is due this long after call or the end of the last meal (the meal
    /// penalty interval, else the meal premium's first-meal window, else six hours). Shared by
    /// a work day's `nextMealDue` and the live hours, so both count from the same rules.
    pub fn meal_interval(&self) -> chrono::Duration {
        let hours = self.meal_penalty.as_ref().map(|m| m.interval_hours).or(self
            .meal_premium
            .as_ref()
            .map(|m| m.first_meal_within_hours));
        let minutes = hours
            .and_then(|h| (h * Decimal::from(60)).round().try_into().ok())
            .unwrap_or(360i64);
        chrono::Duration::minutes(minutes)
    }

    /// Checks every number and converts the rule set into the form the engine runs on.
    pub(crate) fn compile(&self) -> Result<CompiledRules, PayError> {
        if !(1..=60).contains(&self.rounding_minutes) {
            return Err(PayError::invalid(
                "rules.roundingMinutes",
                format!(
                    "must be between 1 and 60 minutes, got {}",
                    self.rounding_minutes
                ),
            ));
        }
        let unit = i64::from(self.rounding_minutes) * 60;

        let mut bands: [Option<Vec<CompiledBand>>; 7] = Default::default();
        for (s, schedule) in self.tiers.iter().enumerate() {
            let path = format!("rules.tiers[{s}]");
            if schedule.bands.is_empty() || schedule.bands.len() > MAX_BANDS {
                return Err(PayError::invalid(
                    format!("{path}.bands"),
                    format!("needs 1 to {MAX_BANDS} bands"),
                ));
            }
            let mut compiled = Vec::with_capacity(schedule.bands.len());
            let mut lower = 0i64;
            for (b, band) in schedule.bands.iter().enumerate() {
                let bpath = format!("{path}.bands[{b}]");
                let multiplier = multiplier_ok(band.multiplier, &format!("{bpath}.multiplier"))?;
                let is_last = b + 1 == schedule.bands.len();
                let upper = match (band.up_to_hours, is_last) {
                    (None, true) => None,
                    (Some(_), true) => {
                        return Err(PayError::invalid(
                            format!("{bpath}.upToHours"),
                            "the last band must have no upper bound",
                        ))
                    }
                    (None, false) => {
                        return Err(PayError::missing(format!("{bpath}.upToHours")));
                    }
                    (Some(h), false) => {
                        let secs =
                            hours_to_secs(h, MAX_RULE_HOURS, false, &format!("{bpath}.upToHours"))?;
                        if secs <= lower {
                            return Err(PayError::invalid(
                                format!("{bpath}.upToHours"),
                                "band bounds must increase",
                            ));
                        }
                        Some(secs)
                    }
                };
                compiled.push(CompiledBand {
                    lower,
                    upper,
                    multiplier,
                });
                if let Some(u) = upper {
                    lower = u;
                }
            }
            for (k, &day) in schedule.days.iter().enumerate() {
                let dpath = format!("{path}.days[{k}]");
                let slot = usize::from(day)
                    .checked_sub(1)
                    .and_then(|i| bands.get_mut(i))
                    .ok_or_else(|| PayError::invalid(&dpath, "day in week must be 1 to 7"))?;
                if slot.is_some() {
                    return Err(PayError::invalid(
                        dpath,
                        format!("day {day} appears in more than one schedule"),
                    ));
                }
                *slot = Some(compiled.clone());
            }
        }
        let mut day_bands: [Vec<CompiledBand>; 7] = Default::default();
        for (i, slot) in bands.into_iter().enumerate() {
            day_bands[i] = slot.ok_or_else(|| {
                PayError::invalid("rules.tiers", format!("no schedule for day {}", i + 1))
            })?;
        }

        let minimum_call = self
            .minimum_call_hours
            .map(|h| hours_to_secs(h, 24, false, "rules.minimumCallHours"))
            .transpose()?;

        let weekly = if self.weekly_overtime.enabled {
            let w = &self.weekly_overtime;
            let threshold = hours_to_secs(
                w.threshold_hours,
                168,
                false,
                "rules.weeklyOvertime.thresholdHours",
            )?;
            let m = multiplier_ok(w.multiplier, "rules.weeklyOvertime.multiplier")?;
            Some((threshold, m))
        } else {
            None
        };

        let meal_penalty = match &self.meal_penalty {
            None => None,
            Some(mp) => {
                let interval = hours_to_secs(
                    mp.interval_hours,
                    24,
                    false,
                    "rules.mealPenalty.intervalHours",
                )?;
                if mp.grace_minutes > 120 {
                    return Err(PayError::invalid(
                        "rules.mealPenalty.graceMinutes",
                        "must be at most 120",
                    ));
                }
                if !(1..=120).contains(&mp.unit_minutes) {
                    return Err(PayError::invalid(
                        "rules.mealPenalty.unitMinutes",
                        "must be between 1 and 120",
                    ));
                }
                for (name, amounts) in &mp.schedules {
                    check_schedule(amounts, &format!("rules.mealPenalty.schedules.{name}"))?;
                }
                let amounts = mp.schedules.get(&mp.schedule).ok_or_else(|| {
                    PayError::invalid(
                        "rules.mealPenalty.schedule",
                        format!("no schedule named \"{}\"", mp.schedule),
                    )
                })?;
                Some(CompiledMealPenalty {
                    interval,
                    grace: i64::from(mp.grace_minutes) * 60,
                    unit: i64::from(mp.unit_minutes) * 60,
                    amounts: amounts.clone(),
                })
            }
        };

        let meal_premium = match &self.meal_premium {
            None => None,
            Some(p) => Some(CompiledMealPremium {
                first_within: hours_to_secs(
                    p.first_meal_within_hours,
                    24,
                    false,
                    "rules.mealPremium.firstMealWithinHours",
                )?,
                max_without: hours_to_secs(
                    p.max_hours_without_meal,
                    24,
                    false,
                    "rules.mealPremium.maxHoursWithoutMeal",
                )?,
                premium_secs: hours_to_secs(
                    p.premium_hours,
                    8,
                    false,
                    "rules.mealPremium.premiumHours",
                )?,
            }),
        };

        let rest = match &self.rest {
            None => None,
            Some(r) => Some((
                hours_to_secs(r.hours, MAX_RULE_HOURS, false, "rules.rest.hours")?,
                multiplier_ok(r.multiplier, "rules.rest.multiplier")?,
            )),
        };

        let night = if self.night.enabled {
            let start = clock_minutes(&self.night.start, "rules.night.start")?;
            let end = clock_minutes(&self.night.end, "rules.night.end")?;
            if start == end {
                return Err(PayError::invalid(
                    "rules.night.end",
                    "night must not start and end at the same time",
                ));
            }
            let f = self.night.factor;
            if f < Decimal::ONE || f > Decimal::from(MAX_MULTIPLIER) {
                return Err(PayError::invalid(
                    "rules.night.factor",
                    format!("must be between 1 and {MAX_MULTIPLIER}, got {f}"),
                ));
            }
            Some((start, end, f))
        } else {
            None
        };

        Ok(CompiledRules {
            unit,
            bands: day_bands,
            minimum_call,
            weekly,
            meal_penalty,
            meal_premium,
            rest,
            night,
        })
    }

    /// Checks that the rule set can price a week (consistent tiers, numbers in range).
    pub fn validate(&self) -> Result<(), PayError> {
        self.compile().map(|_| ())
    }

    /// Overrides named options (the names of PAY-RULES.md's option column). Unknown names and
    /// out-of-range values are rejected with the option's path (`options.<name>`); on error the
    /// rule set is left unchanged.
    pub fn apply_options(&mut self, options: &Map<String, Value>) -> Result<(), PayError> {
        let mut next = self.clone();
        for (name, value) in options {
            next.apply_option(name, value)?;
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn apply_option(&mut self, name: &str, v: &Value) -> Result<(), PayError> {
        let field = format!("options.{name}");
        let field = field.as_str();
        match name {
            "roundingMinutes" => {
                self.rounding_minutes = u32::try_from(int_from_json(v, field, 1, 60)?)
                    .map_err(|_| PayError::invalid(field, "out of range"))?;
            }
            "minimumCallHours" => {
                self.minimum_call_hours = optional_hours(v, 24, field)?;
            }
            "weeklyOvertime" => {
                self.weekly_overtime.enabled = bool_from_json(v, field)?;
            }
            "weeklyOvertimeHours" => {
                let h = decimal_from_json(v, field)?;
                hours_to_secs(h, 168, false, field)?;
                self.weekly_overtime.threshold_hours = h;
            }
            "mealGraceMinutes" => {
                let g = int_from_json(v, field, 0, 120)?;
                self.meal_penalty_mut(field)?.grace_minutes =
                    u32::try_from(g).map_err(|_| PayError::invalid(field, "out of range"))?;
            }
            "mealIntervalHours" => {
                let h = decimal_from_json(v, field)?;
                hours_to_secs(h, 24, false, field)?;
                self.meal_penalty_mut(field)?.interval_hours = h;
            }
            "mealPenaltySchedule" => {
                let rule = self.meal_penalty_mut(field)?;
                match v {
                    Value::String(s) => {
                        if !rule.schedules.contains_key(s) {
                            let known: Vec<&str> =
                                rule.schedules.keys().map(String::as_str).collect();
                            return Err(PayError::invalid(
                                field,
                                format!("no schedule named \"{s}\" (known: {})", known.join(", ")),
                            ));
                        }
                        rule.schedule = s.clone();
                    }
                    Value::Array(items) => {
                        let amounts = items
                            .iter()
                            .enumerate()
                            .map(|(i, a)| decimal_from_json(a, &format!("{field}[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?;
                        check_schedule(&amounts, field)?;
                        rule.schedules.insert("custom".to_owned(), amounts);
                        rule.schedule = "custom".to_owned();
                    }
                    _ => {
                        return Err(PayError::invalid(
                            field,
                            "expected a schedule name such as \"T\" or a list of amounts",
                        ))
                    }
                }
            }
            "restHours" => {
                match optional_hours(v, MAX_RULE_HOURS, field)? {
                    None => self.rest = None,
                    Some(hours) => {
                        let multiplier = self.rest.as_ref().map_or(Decimal::ONE, |r| r.multiplier);
                        self.rest = Some(RestRule { hours, multiplier });
                    }
                };
            }
            "nightPremium" => {
                self.night.enabled = bool_from_json(v, field)?;
            }
            _ => {
                return Err(PayError::UnknownOption {
                    field: field.to_owned(),
                    name: name.to_owned(),
                })
            }
        }
        Ok(())
    }

    fn meal_penalty_mut(&mut self, field: &str) -> Result<&mut MealPenaltyRule, PayError> {
        let name = self.name.clone();
        self.meal_penalty.as_mut().ok_or_else(|| {
            PayError::invalid(field, format!("rule set {name} has no meal penalties"))
        })
    }
}

fn check_schedule(amounts: &[Decimal], field: &str) -> Result<(), PayError> {
    if amounts.is_empty() || amounts.len() > MAX_SCHEDULE_LEN {
        return Err(PayError::invalid(
            field,
            format!("a penalty schedule needs 1 to {MAX_SCHEDULE_LEN} amounts"),
        ));
    }
    for (i, a) in amounts.iter().enumerate() {
        if *a < Decimal::ZERO || *a > Decimal::from(MAX_PENALTY_AMOUNT) || a.scale() > 2 {
            return Err(PayError::invalid(
                format!("{field}[{i}]"),
                format!("penalty amount must be 0 to {MAX_PENALTY_AMOUNT} in cents, got {a}"),
            ));
        }
    }
    Ok(())
}

fn bool_from_json(v: &Value, field: &str) -> Result<bool, PayError> {
    v.as_bool()
        .ok_or_else(|| PayError::invalid(field, "expected true or false"))
}

/// Hours where `null` or 0 switches the rule off.
fn optional_hours(v: &Value, max: i64, field: &str) -> Result<Option<Decimal>, PayError> {
    if v.is_null() {
        return Ok(None);
    }
    let h = decimal_from_json(v, field)?;
    if h.is_zero() {
        return Ok(None);
    }
    hours_to_secs(h, max, false, field)?;
    Ok(Some(h))
}

const PRESET_SOURCES: [(&str, &str); 2] = [
    (
        "REF-US-CREW",
        include_str!("../../presets/REF-US-CREW.json"),
    ),
    (
        "CA-NONUNION",
        include_str!("../../presets/CA-NONUNION.json"),
    ),
];

fn presets() -> &'static [RuleSet] {
    static PRESETS: OnceLock<Vec<RuleSet>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        // A preset that fails to load is left out rather than panicking; the crate's tests
        // assert that every shipped preset loads and validates.
        PRESET_SOURCES
            .iter()
            .filter_map(|(_, src)| serde_json::from_str::<RuleSet>(src).ok())
            .filter(|r| r.validate().is_ok())
            .collect()
    })
}

/// Names of the shipped presets.
pub fn preset_names() -> Vec<&'static str> {
    PRESET_SOURCES.iter().map(|(n, _)| *n).collect()
}

/// A copy of the named preset rule set, ready to be overridden and stored.
pub fn preset(name: &str) -> Option<RuleSet> {
    presets().iter().find(|r| r.name == name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_preset_loads_validates_and_keeps_its_file_name() {
        for (name, src) in PRESET_SOURCES {
            let r: RuleSet = serde_json::from_str(src).expect("preset parses");
            assert_eq!(r.name, name);
            r.validate().expect("preset validates");
            assert_eq!(preset(name), Some(r));
        }
        assert_eq!(presets().len(), PRESET_SOURCES.len());
        assert!(preset("NOPE").is_none());
    }

    #[test]
    fn rule_set_round_trips_through_json() {
        let r = preset("REF-US-CREW").unwrap();
        let text = serde_json::to_string(&r).unwrap();
        let back: RuleSet = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn options_override_named_numbers() {
        let mut r = preset("REF-US-CREW").unwrap();
        let opts = json!({
            "roundingMinutes": 15,
            "minimumCallHours": "10",
            "weeklyOvertime": false,
            "mealGraceMinutes": 12,
            "mealPenaltySchedule": "S",
            "restHours": 12,
            "nightPremium": true
        });
        r.apply_options(opts.as_object().unwrap()).unwrap();
        assert_eq!(r.rounding_minutes, 15);
        assert_eq!(r.minimum_call_hours, Some(Decimal::from(10)));
        assert!(!r.weekly_overtime.enabled);
        let mp = r.meal_penalty.as_ref().unwrap();
        assert_eq!((mp.grace_minutes, mp.schedule.as_str()), (12, "S"));
        assert_eq!(r.rest.as_ref().unwrap().hours, Decimal::from(12));
        assert!(r.night.enabled);
    }

    #[test]
    fn custom_penalty_schedule_and_switching_rules_off() {
        let mut r = preset("REF-US-CREW").unwrap();
        let opts = json!({"mealPenaltySchedule": ["5.00", "7.50"], "restHours": null, "minimumCallHours": 0});
        r.apply_options(opts.as_object().unwrap()).unwrap();
        assert_eq!(r.meal_penalty.as_ref().unwrap().schedule, "custom");
        assert!(r.rest.is_none());
        assert!(r.minimum_call_hours.is_none());
    }

    #[test]
    fn unknown_or_bad_options_are_rejected_by_name_and_leave_rules_unchanged() {
        let original = preset("REF-US-CREW").unwrap();
        let mut r = original.clone();
        let e = r
            .apply_options(
                json!({"roundingMinutes": 15, "overtimeMagic": 1})
                    .as_object()
                    .unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.field(), "options.overtimeMagic");
        assert!(e.to_string().contains("unknown option \"overtimeMagic\""));
        assert_eq!(r, original);

        let cases = [
            (json!({"roundingMinutes": 0}), "options.roundingMinutes"),
            (json!({"roundingMinutes": "6"}), "options.roundingMinutes"),
            (
                json!({"mealPenaltySchedule": "X"}),
                "options.mealPenaltySchedule",
            ),
            (json!({"nightPremium": "yes"}), "options.nightPremium"),
            (json!({"restHours": "100"}), "options.restHours"),
            (
                json!({"mealPenaltySchedule": ["-1"]}),
                "options.mealPenaltySchedule[0]",
            ),
        ];
        for (opts, field) in cases {
            let e = r.apply_options(opts.as_object().unwrap()).unwrap_err();
            assert_eq!(e.field(), field, "{opts}");
        }
        let mut ca = preset("CA-NONUNION").unwrap();
        let e = ca
            .apply_options(json!({"mealGraceMinutes": 5}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(e.field(), "options.mealGraceMinutes");
    }

    #[test]
    fn inconsistent_tiers_are_rejected() {
        let mut r = preset("REF-US-CREW").unwrap();
        r.tiers[2].days = vec![6];
        assert_eq!(r.validate().unwrap_err().field(), "rules.tiers[2].days[0]");
        let mut r = preset("REF-US-CREW").unwrap();
        r.tiers[2].days.clear();
        assert_eq!(r.validate().unwrap_err().field(), "rules.tiers");
        let mut r = preset("REF-US-CREW").unwrap();
        r.tiers[0].bands[1].up_to_hours = Some(Decimal::from(7));
        assert_eq!(
            r.validate().unwrap_err().field(),
            "rules.tiers[0].bands[1].upToHours"
        );
    }
}
