//! The engine against `pay-vectors.json` (a verbatim copy of the shared spec's file): every
//! figure of every day and every case total must match to the cent and the tenth. Also: the
//! vector format's error paths, each kind of bad case named by its field.

use crewtime_domain::pay::{compute_case, parse_case, parse_cases, LineKind, PayError};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("data/pay-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("pay-vectors.json is valid JSON")
}

/// Compares two objects key by key, counting matches and recording every difference.
fn compare_object(
    label: &str,
    expected: &Value,
    actual: &Value,
    matched: &mut usize,
    mismatches: &mut Vec<String>,
) {
    let (Some(exp), Some(act)) = (expected.as_object(), actual.as_object()) else {
        mismatches.push(format!(
            "{label}: expected an object, got {expected} / {actual}"
        ));
        return;
    };
    // Days are compared one by one by the caller; here only the figures themselves count.
    for (key, want) in exp.iter().filter(|(k, _)| k.as_str() != "days") {
        match act.get(key) {
            Some(got) if got == want => *matched += 1,
            Some(got) => mismatches.push(format!("{label}.{key}: expected {want}, got {got}")),
            None => mismatches.push(format!("{label}.{key}: expected {want}, engine gave none")),
        }
    }
    for key in act.keys() {
        if !exp.contains_key(key) && key != "days" {
            mismatches.push(format!(
                "{label}.{key}: engine gave a figure the vector lacks"
            ));
        }
    }
}

#[test]
fn every_vector_matches_to_the_cent() {
    let all = vectors();
    let cases = parse_cases(&all).expect("every vector parses");
    assert_eq!(cases.len(), all.as_array().map_or(0, Vec::len));
    assert!(!cases.is_empty());

    let mut matched = 0usize;
    let mut mismatches = Vec::new();
    for case in &cases {
        let expected = case
            .expected
            .as_ref()
            .unwrap_or_else(|| panic!("case {} has no expected block", case.id));
        let actual = match compute_case(case) {
            Ok(week) => week.to_expected_json(),
            Err(e) => {
                mismatches.push(format!("{}: engine error: {e}", case.id));
                continue;
            }
        };
        let exp_days = expected["days"].as_array().cloned().unwrap_or_default();
        let act_days = actual["days"].as_array().cloned().unwrap_or_default();
        if exp_days.len() != act_days.len() {
            mismatches.push(format!(
                "{}: expected {} days, engine gave {}",
                case.id,
                exp_days.len(),
                act_days.len()
            ));
        }
        for (i, (e, a)) in exp_days.iter().zip(&act_days).enumerate() {
            compare_object(
                &format!("{} days[{i}]", case.id),
                e,
                a,
                &mut matched,
                &mut mismatches,
            );
        }
        compare_object(&case.id, expected, &actual, &mut matched, &mut mismatches);
    }
    println!(
        "pay vectors: {} cases, {matched} figures matched, {} mismatched",
        cases.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn each_day_adds_up_and_lines_explain_themselves() {
    for case in parse_cases(&vectors()).unwrap() {
        let week = compute_case(&case).unwrap();
        let mut week_total = rust_decimal::Decimal::ZERO;
        for day in &week.days {
            let sum: rust_decimal::Decimal = day.lines.iter().map(|l| l.amount).sum();
            assert_eq!(sum, day.gross, "{}: lines add up to gross", case.id);
            assert!(day.lines.iter().all(|l| !l.explanation.is_empty()));
            week_total += day.gross;
        }
        assert_eq!(week_total, week.gross, "{}", case.id);
    }
}

fn case_by_id(id: &str) -> Value {
    vectors()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap()
}

#[test]
fn explanations_say_why_in_plain_english() {
    let week = compute_case(&parse_case(&case_by_id("V2")).unwrap()).unwrap();
    let texts: Vec<&str> = week.days[0]
        .lines
        .iter()
        .map(|l| l.explanation.as_str())
        .collect();
    assert!(
        texts.contains(&"0.2 h at 2x: worked beyond 12 h"),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"3 meal penalties: first meal 70 min late (10.00 + 12.50 + 15.00)"),
        "{texts:?}"
    );

    let week = compute_case(&parse_case(&case_by_id("V7")).unwrap()).unwrap();
    let top_up = week.days[0]
        .lines
        .iter()
        .find(|l| l.kind == LineKind::MinimumCallTopUp)
        .expect("a top-up line");
    assert_eq!(
        top_up.explanation,
        "4.0 h at 1x: minimum call of 8 h, 4.0 h worked"
    );

    let week = compute_case(&parse_case(&case_by_id("C1")).unwrap()).unwrap();
    let sixth = &week.days[5].lines[0];
    assert_eq!(
        sixth.explanation,
        "8.5 h at 1.5x: 8.0 h straight time beyond 40 h in the week + 0.5 h worked beyond 8 h, up to 12 h"
    );
}

/// A copy of V1 with `edit` applied, parsed.
fn parse_edited(edit: impl FnOnce(&mut Value)) -> Result<(), PayError> {
    let mut case = case_by_id("V1");
    edit(&mut case);
    parse_case(&case).and_then(|c| compute_case(&c)).map(|_| ())
}

#[test]
fn bad_cases_name_the_field() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("ruleset", Box::new(|c| c["ruleset"] = json!("REF-XX"))),
        ("deal", Box::new(|c| c["deal"] = json!({}))),
        (
            "deal.guaranteedHours",
            Box::new(|c| c["deal"] = json!({"dayRate": "500.00", "guaranteedHours": "13"})),
        ),
        (
            "deal.guaranteedHours",
            Box::new(|c| c["deal"] = json!({"dayRate": "500.00"})),
        ),
        (
            "deal.hourlyRate",
            Box::new(|c| c["deal"] = json!({"hourlyRate": "fifty"})),
        ),
        (
            "days[0].meals[1].out",
            Box::new(|c| {
                c["days"][0]["meals"] = json!([
                    {"out": "2026-03-02T15:00", "in": "2026-03-02T15:30"},
                    {"out": "2026-03-02T13:00", "in": "2026-03-02T13:30"}
                ])
            }),
        ),
        (
            "days[0].meals[1].out",
            Box::new(|c| {
                c["days"][0]["meals"] = json!([
                    {"out": "2026-03-02T13:00", "in": "2026-03-02T13:30"},
                    {"out": "2026-03-02T13:20", "in": "2026-03-02T13:50"}
                ])
            }),
        ),
        (
            "days[0].meals[0].in",
            Box::new(|c| {
                c["days"][0]["meals"] =
                    json!([{"out": "2026-03-02T13:30", "in": "2026-03-02T13:00"}])
            }),
        ),
        (
            "days[0].meals[0].in",
            Box::new(|c| {
                c["days"][0]["meals"] =
                    json!([{"out": "2026-03-02T19:15", "in": "2026-03-02T19:45"}])
            }),
        ),
        (
            "days[0].meals[0].out",
            Box::new(|c| {
                c["days"][0]["meals"] =
                    json!([{"out": "2026-03-02T06:45", "in": "2026-03-02T07:15"}])
            }),
        ),
        (
            "days[0].wrap",
            Box::new(|c| c["days"][0]["wrap"] = json!("2026-03-02T06:00")),
        ),
        (
            "options.overtimeMagic",
            Box::new(|c| c["options"] = json!({"overtimeMagic": 1})),
        ),
        (
            "days[0].call",
            Box::new(|c| c["days"][0]["call"] = json!("2026-03-02 07:00")),
        ),
        (
            "days[0].call",
            Box::new(|c| c["days"][0]["call"] = json!("2026-13-02T07:00")),
        ),
        (
            "days[0].call",
            Box::new(|c| c["days"][0]["call"] = json!(7)),
        ),
        (
            "days[0].call",
            Box::new(|c| c["days"][0]["call"] = json!("12026-03-02T07:00")),
        ),
        (
            "timezone",
            Box::new(|c| c["timezone"] = json!("Mars/Olympus_Mons")),
        ),
        (
            "days[0].dayInWeek",
            Box::new(|c| c["days"][0]["dayInWeek"] = json!(0)),
        ),
        (
            "days[0].dayInWeek",
            Box::new(|c| c["days"][0]["dayInWeek"] = json!(8)),
        ),
        (
            "days[0].dayInWeek",
            Box::new(|c| c["days"][0]["dayInWeek"] = json!("1")),
        ),
        (
            "days[0].mael",
            Box::new(|c| c["days"][0]["mael"] = json!([])),
        ),
        (
            "previousWrap",
            Box::new(|c| c["previousWrap"] = json!("2026-03-02T08:00")),
        ),
        (
            "days[0].call",
            Box::new(|c| {
                // 02:30 on the spring-forward Sunday does not exist in Los Angeles.
                c["days"][0] = json!({"dayInWeek": 1, "call": "2026-03-08T02:30",
                    "wrap": "2026-03-08T10:00", "meals": []});
            }),
        ),
        (
            "days",
            Box::new(|c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("days")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
    ];
    for (field, edit) in cases {
        let err = parse_edited(edit).expect_err(field);
        assert_eq!(err.field(), field, "error was: {err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn a_list_prefixes_errors_with_the_case_index() {
    let mut all = vectors();
    all[3]["days"][0]["meals"][0]["in"] = json!("2026-03-02T12:00");
    let err = parse_cases(&all).unwrap_err();
    assert_eq!(err.field(), "[3].days[0].meals[0].in");
}

#[test]
fn ambiguous_fall_back_time_takes_the_first_occurrence() {
    // 2026-11-01 01:00-02:00 happens twice in Los Angeles. A night shoot from 18:00 to 01:30:
    // the first 01:30 (PDT) gives 7.5 h elapsed.
    let mut case = case_by_id("V7");
    case["days"][0] = json!({"dayInWeek": 1, "call": "2026-10-31T18:00",
        "wrap": "2026-11-01T01:30", "meals": []});
    let week = compute_case(&parse_case(&case).unwrap()).unwrap();
    assert_eq!(week.days[0].worked_seconds, 7 * 3600 + 1800);

    // A wrap at 01:15 after a meal ending at 01:40 can only be the second 01:15 (PST).
    case["days"][0] = json!({"dayInWeek": 1, "call": "2026-10-31T18:00",
        "wrap": "2026-11-01T01:15",
        "meals": [{"out": "2026-11-01T01:10", "in": "2026-11-01T01:40"}]});
    let week = compute_case(&parse_case(&case).unwrap()).unwrap();
    // 18:00 PDT to 01:15 PST is 8 h 15 min elapsed, less the 30-minute meal.
    assert_eq!(week.days[0].worked_seconds, 7 * 3600 + 45 * 60);
}

#[test]
fn ca_meal_premium_is_one_hour_once_a_day() {
    let mut case = case_by_id("C2");
    case["days"][0]["dayInWeek"] = json!(1);
    case["days"][0]["meals"] = json!([{"out": "2026-03-08T13:30", "in": "2026-03-08T14:00"}]);
    let week = compute_case(&parse_case(&case).unwrap()).unwrap();
    let day = &week.days[0];
    assert_eq!(day.meal_premium_amount, rust_decimal::Decimal::from(40));
    let exp = week.to_expected_json();
    assert_eq!(exp["days"][0]["mealPenalties"], json!(1));
    assert_eq!(exp["days"][0]["mealPenaltyAmount"], json!("40.00"));
    // 10.0 h: 8 at 1x + 2 at 1.5x = 320 + 120, plus the premium.
    assert_eq!(exp["days"][0]["gross"], json!("480.00"));

    case["days"][0]["meals"] = json!([]);
    let week = compute_case(&parse_case(&case).unwrap()).unwrap();
    assert_eq!(
        week.days[0].meal_premium_amount,
        rust_decimal::Decimal::from(40)
    );
}
