//! The vector format of PAY-RULES.md: one case or a list of cases, with local times in the
//! case's timezone. Parsing is strict (unknown fields are errors, so a typo cannot silently drop
//! a rule) and every error names the field path, e.g. `days[0].meals[1].in`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::deal::Deal;
use super::engine::compute_week;
use super::error::{join_path, PayError};
use super::input::{validate_week, DayInput, MAX_DAYS_PER_WEEK, MAX_MEALS_PER_DAY};
use super::local::parse_local;
use super::num::{decimal_from_json, int_from_json};
use super::result::WeekPay;
use super::ruleset::{preset, preset_names, RuleSet};

/// A parsed and validated case: the rule set resolved (preset plus options), times as instants.
#[derive(Debug, Clone, PartialEq)]
pub struct PayCase {
    pub id: String,
    pub note: String,
    /// Name of the preset the case started from.
    pub ruleset: String,
    /// The preset with the case's options applied.
    pub rules: RuleSet,
    pub timezone: Tz,
    pub deal: Deal,
    pub previous_wrap: Option<DateTime<Utc>>,
    pub days: Vec<DayInput>,
    /// The case's `expected` block, untouched, when it has one.
    pub expected: Option<Value>,
}

const CASE_KEYS: &[&str] = &[
    "id",
    "note",
    "ruleset",
    "timezone",
    "deal",
    "options",
    "previousWrap",
    "days",
    "expected",
];
const DEAL_KEYS: &[&str] = &["hourlyRate", "dayRate", "guaranteedHours"];
const DAY_KEYS: &[&str] = &["dayInWeek", "call", "wrap", "meals", "ndb"];
const SPAN_KEYS: &[&str] = &["out", "in"];

fn object<'a>(v: &'a Value, field: &str, what: &str) -> Result<&'a Map<String, Value>, PayError> {
    v.as_object()
        .ok_or_else(|| PayError::invalid(field, format!("expected {what} (a JSON object)")))
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), PayError> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            let shown: String = k.chars().take(40).collect();
            return Err(PayError::invalid(
                join_path(path, &shown),
                format!("unknown field \"{shown}\""),
            ));
        }
    }
    Ok(())
}

/// A present, non-null member.
fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, PayError> {
    member(obj, key).ok_or_else(|| PayError::missing(join_path(path, key)))
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, PayError> {
    v.as_str()
        .ok_or_else(|| PayError::invalid(field, "expected a string"))
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<String, PayError> {
    member(obj, key)
        .map(|v| string(v, key).map(str::to_owned))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn time(
    v: &Value,
    tz: Tz,
    field: &str,
    not_before: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, PayError> {
    let s = v.as_str().ok_or_else(|| {
        PayError::time(
            field,
            "expected a local date-time string like 2026-03-02T07:00",
        )
    })?;
    Ok(parse_local(s, tz, field)?.resolve(not_before))
}

fn parse_deal(v: &Value) -> Result<Deal, PayError> {
    let obj = object(v, "deal", "a deal")?;
    check_keys(obj, DEAL_KEYS, "deal")?;
    match (
        member(obj, "hourlyRate"),
        member(obj, "dayRate"),
        member(obj, "guaranteedHours"),
    ) {
        (Some(rate), None, None) => Deal::hourly_rate(decimal_from_json(rate, "deal.hourlyRate")?),
        (None, Some(rate), Some(hours)) => Deal::day_rate(
            decimal_from_json(rate, "deal.dayRate")?,
            decimal_from_json(hours, "deal.guaranteedHours")?,
        ),
        (None, Some(_), None) => Err(PayError::missing("deal.guaranteedHours")),
        (None, None, _) => Err(PayError::invalid(
            "deal",
            "a deal needs a rate: hourlyRate, or dayRate with guaranteedHours",
        )),
        (Some(_), _, _) => Err(PayError::invalid(
            "deal",
            "give either hourlyRate or dayRate with guaranteedHours, not both",
        )),
    }
}

/// An `{out, in}` pair, each time not before the previous one on the day's timeline.
fn parse_span(
    v: &Value,
    tz: Tz,
    path: &str,
    cursor: &mut DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), PayError> {
    let obj = object(v, path, "{\"out\": ..., \"in\": ...}")?;
    check_keys(obj, SPAN_KEYS, path)?;
    let out_field = join_path(path, "out");
    let out = time(required(obj, "out", path)?, tz, &out_field, Some(*cursor))?;
    *cursor = out;
    let in_field = join_path(path, "in");
    let back = time(required(obj, "in", path)?, tz, &in_field, Some(*cursor))?;
    *cursor = back;
    Ok((out, back))
}

fn parse_day(v: &Value, tz: Tz, path: &str) -> Result<DayInput, PayError> {
    let obj = object(v, path, "a day")?;
    check_keys(obj, DAY_KEYS, path)?;
    let day_in_week = int_from_json(
        required(obj, "dayInWeek", path)?,
        &join_path(path, "dayInWeek"),
        1,
        7,
    )?;
    let call = time(
        required(obj, "call", path)?,
        tz,
        &join_path(path, "call"),
        None,
    )?;
    let mut cursor = call;
    let ndb = member(obj, "ndb")
        .map(|n| parse_span(n, tz, &join_path(path, "ndb"), &mut cursor))
        .transpose()?;
    let meals_field = join_path(path, "meals");
    let meals = match member(obj, "meals") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_MEALS_PER_DAY {
                return Err(PayError::invalid(
                    meals_field,
                    format!("at most {MAX_MEALS_PER_DAY} meals in a day"),
                ));
            }
            let mut meals = Vec::with_capacity(items.len());
            for (j, m) in items.iter().enumerate() {
                meals.push(parse_span(
                    m,
                    tz,
                    &format!("{meals_field}[{j}]"),
                    &mut cursor,
                )?);
            }
            meals
        }
        Some(_) => {
            return Err(PayError::invalid(
                meals_field,
                "expected a list of {\"out\", \"in\"} meals",
            ))
        }
    };
    let wrap = time(
        required(obj, "wrap", path)?,
        tz,
        &join_path(path, "wrap"),
        Some(cursor),
    )?;
    Ok(DayInput {
        day_in_week: u8::try_from(day_in_week)
            .map_err(|_| PayError::invalid(join_path(path, "dayInWeek"), "out of range"))?,
        call,
        wrap,
        meals,
        ndb,
    })
}

/// Parses and validates one case of the vector format.
pub fn parse_case(v: &Value) -> Result<PayCase, PayError> {
    let obj = object(v, "", "a case")?;
    check_keys(obj, CASE_KEYS, "")?;
    let id = optional_string(obj, "id")?;
    let note = optional_string(obj, "note")?;

    let ruleset = string(required(obj, "ruleset", "")?, "ruleset")?.to_owned();
    let mut rules = preset(&ruleset).ok_or_else(|| PayError::UnknownRuleSet {
        field: "ruleset".to_owned(),
        name: ruleset.chars().take(60).collect(),
        known: preset_names().join(", "),
    })?;
    if let Some(options) = member(obj, "options") {
        rules.apply_options(object(options, "options", "an object of options")?)?;
    }

    let tz_name = string(required(obj, "timezone", "")?, "timezone")?;
    let timezone: Tz = tz_name.parse().map_err(|_| PayError::UnknownTimezone {
        field: "timezone".to_owned(),
        name: tz_name.chars().take(60).collect(),
    })?;

    let deal = parse_deal(required(obj, "deal", "")?)?;
    let previous_wrap = member(obj, "previousWrap")
        .map(|v| time(v, timezone, "previousWrap", None))
        .transpose()?;

    let days_value = required(obj, "days", "")?;
    let items = days_value
        .as_array()
        .ok_or_else(|| PayError::invalid("days", "expected a list of days"))?;
    if items.len() > MAX_DAYS_PER_WEEK {
        return Err(PayError::invalid(
            "days",
            format!("a work week has at most {MAX_DAYS_PER_WEEK} days"),
        ));
    }
    let days = items
        .iter()
        .enumerate()
        .map(|(i, d)| parse_day(d, timezone, &format!("days[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    validate_week(previous_wrap, &days)?;

    Ok(PayCase {
        id,
        note,
        ruleset,
        rules,
        timezone,
        deal,
        previous_wrap,
        days,
        expected: member(obj, "expected").cloned(),
    })
}

/// Parses one case object or a list of cases; errors in a list are prefixed with the case's
/// index (`[3].days[0].call`).
pub fn parse_cases(v: &Value) -> Result<Vec<PayCase>, PayError> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_case(c).map_err(|e| e.within(&format!("[{i}]"))))
            .collect(),
        Value::Object(_) => Ok(vec![parse_case(v)?]),
        _ => Err(PayError::invalid(
            "",
            "expected a case object or a list of cases",
        )),
    }
}

/// Prices a parsed case.
pub fn compute_case(case: &PayCase) -> Result<WeekPay, PayError> {
    compute_week(
        &case.rules,
        &case.deal,
        case.timezone,
        case.previous_wrap,
        &case.days,
    )
}
