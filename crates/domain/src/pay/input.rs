//! The engine's input: one work day as UTC instants, and the checks every week must pass before
//! any arithmetic (so the arithmetic itself cannot fail on user data).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::PayError;
use super::local::{in_range, MAX_YEAR, MIN_YEAR};

/// Longest work day accepted, call to wrap.
pub const MAX_DAY_HOURS: i64 = 48;
/// Most meals accepted in a day: one due every 6 hours over the longest day, rounded up.
pub const MAX_MEALS_PER_DAY: usize = 8;
/// Days in one work week.
pub const MAX_DAYS_PER_WEEK: usize = 7;

/// One worked day. `day_in_week` is the ordinal among days worked in the week (1..=7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayInput {
    pub day_in_week: u8,
    pub call: DateTime<Utc>,
    pub wrap: DateTime<Utc>,
    /// (out, in) per meal, in order.
    pub meals: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Non-deductible breakfast (out, in): paid, and restarts the meal clock.
    pub ndb: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

fn time_in_range(t: DateTime<Utc>, field: impl Fn() -> String) -> Result<(), PayError> {
    if in_range(t) {
        Ok(())
    } else {
        Err(PayError::time(
            field(),
            format!("date out of range: years {MIN_YEAR} to {MAX_YEAR} are accepted"),
        ))
    }
}

/// Checks a week's days: each day well formed, days in order and not overlapping, and
/// `previous_wrap` not after the first call. Errors name the vector-format field.
pub fn validate_week(
    previous_wrap: Option<DateTime<Utc>>,
    days: &[DayInput],
) -> Result<(), PayError> {
    if days.len() > MAX_DAYS_PER_WEEK {
        return Err(PayError::invalid(
            "days",
            format!(
                "a work week has at most {MAX_DAYS_PER_WEEK} days, got {}",
                days.len()
            ),
        ));
    }
    if let Some(pw) = previous_wrap {
        time_in_range(pw, || "previousWrap".to_owned())?;
    }
    for (i, day) in days.iter().enumerate() {
        let p = |s: &str| format!("days[{i}].{s}");
        if !(1..=7).contains(&day.day_in_week) {
            return Err(PayError::invalid(
                p("dayInWeek"),
                format!("day in week must be 1 to 7, got {}", day.day_in_week),
            ));
        }
        time_in_range(day.call, || p("call"))?;
        time_in_range(day.wrap, || p("wrap"))?;
        if day.wrap <= day.call {
            return Err(PayError::order(p("wrap"), "wrap must be after call"));
        }
        if day.wrap - day.call > Duration::hours(MAX_DAY_HOURS) {
            return Err(PayError::invalid(
                p("wrap"),
                format!("a work day is at most {MAX_DAY_HOURS} hours from call to wrap"),
            ));
        }
        match i.checked_sub(1).and_then(|j| days.get(j)) {
            None => {
                if let Some(pw) = previous_wrap {
                    if pw > day.call {
                        return Err(PayError::order(
                            "previousWrap",
                            "previous wrap is after the first day's call",
                        ));
                    }
                }
            }
            Some(prev) => {
                if day.day_in_week <= prev.day_in_week {
                    return Err(PayError::order(
                        p("dayInWeek"),
                        format!(
                            "days must be in order: day in week {} follows {}",
                            day.day_in_week, prev.day_in_week
                        ),
                    ));
                }
                if day.call < prev.wrap {
                    return Err(PayError::order(
                        p("call"),
                        "call is before the previous day's wrap",
                    ));
                }
            }
        }
        if let Some((out, back)) = day.ndb {
            time_in_range(out, || p("ndb.out"))?;
            time_in_range(back, || p("ndb.in"))?;
            if back <= out {
                return Err(PayError::order(p("ndb.in"), "NDB in must be after NDB out"));
            }
            if out < day.call {
                return Err(PayError::order(p("ndb.out"), "NDB starts before call"));
            }
            if back > day.wrap {
                return Err(PayError::order(p("ndb.in"), "NDB ends after wrap"));
            }
            if let Some((first_out, _)) = day.meals.first() {
                if back > *first_out {
                    return Err(PayError::order(
                        p("ndb.in"),
                        "NDB must end before the first meal starts",
                    ));
                }
            }
        }
        if day.meals.len() > MAX_MEALS_PER_DAY {
            return Err(PayError::invalid(
                p("meals"),
                format!("at most {MAX_MEALS_PER_DAY} meals in a day"),
            ));
        }
        for (j, (out, back)) in day.meals.iter().enumerate() {
            let m = |s: &str| p(&format!("meals[{j}].{s}"));
            time_in_range(*out, || m("out"))?;
            time_in_range(*back, || m("in"))?;
            if back <= out {
                return Err(PayError::order(m("in"), "meal in must be after meal out"));
            }
            if *out < day.call {
                return Err(PayError::order(m("out"), "meal starts before call"));
            }
            if *back > day.wrap {
                return Err(PayError::order(m("in"), "meal ends after wrap"));
            }
            if let Some((prev_out, prev_in)) = j.checked_sub(1).and_then(|k| day.meals.get(k)) {
                if out < prev_out {
                    return Err(PayError::order(
                        m("out"),
                        format!("meals out of order: starts before meal {}", j - 1),
                    ));
                }
                if out < prev_in {
                    return Err(PayError::order(
                        m("out"),
                        format!("meal overlaps meal {}", j - 1),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn day() -> DayInput {
        DayInput {
            day_in_week: 1,
            call: t(7, 0),
            wrap: t(19, 0),
            meals: vec![(t(13, 0), t(13, 30))],
            ndb: None,
        }
    }

    fn field_of(days: &[DayInput]) -> String {
        validate_week(None, days).unwrap_err().field().to_owned()
    }

    #[test]
    fn a_good_day_passes() {
        validate_week(Some(t(0, 0)), &[day()]).unwrap();
    }

    #[test]
    fn each_kind_of_bad_day_names_its_field() {
        let mut d = day();
        d.wrap = t(6, 0);
        assert_eq!(field_of(&[d]), "days[0].wrap");

        let mut d = day();
        d.meals = vec![(t(13, 0), t(12, 30))];
        assert_eq!(field_of(&[d]), "days[0].meals[0].in");

        let mut d = day();
        d.meals = vec![(t(13, 0), t(13, 30)), (t(13, 15), t(13, 45))];
        assert_eq!(field_of(&[d]), "days[0].meals[1].out");

        let mut d = day();
        d.meals = vec![(t(15, 0), t(15, 30)), (t(13, 0), t(13, 30))];
        assert_eq!(field_of(&[d]), "days[0].meals[1].out");

        let mut d = day();
        d.meals = vec![(t(18, 45), t(19, 15))];
        assert_eq!(field_of(&[d]), "days[0].meals[0].in");

        let mut d = day();
        d.meals = vec![(t(6, 45), t(7, 15))];
        assert_eq!(field_of(&[d]), "days[0].meals[0].out");

        let mut d = day();
        d.day_in_week = 8;
        assert_eq!(field_of(&[d]), "days[0].dayInWeek");

        let mut d = day();
        d.ndb = Some((t(7, 0), t(13, 15)));
        assert_eq!(field_of(&[d]), "days[0].ndb.in");

        let mut d = day();
        d.wrap = d.call + Duration::hours(49);
        d.meals.clear();
        assert_eq!(field_of(&[d]), "days[0].wrap");

        let d2 = day();
        assert_eq!(field_of(&[day(), d2]), "days[1].dayInWeek");

        assert_eq!(
            validate_week(Some(t(8, 0)), &[day()]).unwrap_err().field(),
            "previousWrap"
        );
    }
}
