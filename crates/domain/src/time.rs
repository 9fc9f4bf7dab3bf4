//! Time capture: punches, the rules that order them inside one work day, and what a work day
//! looks like at a given instant. All arithmetic is on UTC instants; the production's timezone
//! only names the date.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// What a punch records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PunchKind {
    Call,
    NdbOut,
    NdbIn,
    MealOut,
    MealIn,
    Wrap,
}

impl PunchKind {
    pub const ALL: [PunchKind; 6] = [
        PunchKind::Call,
        PunchKind::NdbOut,
        PunchKind::NdbIn,
        PunchKind::MealOut,
        PunchKind::MealIn,
        PunchKind::Wrap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PunchKind::Call => "CALL",
            PunchKind::NdbOut => "NDB_OUT",
            PunchKind::NdbIn => "NDB_IN",
            PunchKind::MealOut => "MEAL_OUT",
            PunchKind::MealIn => "MEAL_IN",
            PunchKind::Wrap => "WRAP",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        PunchKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown stored punch kind {s:?}")))
    }

    /// Order of punches at the same instant: closing a break before opening the next one.
    fn tie_rank(self) -> u8 {
        match self {
            PunchKind::Call => 0,
            PunchKind::NdbIn => 1,
            PunchKind::MealIn => 2,
            PunchKind::NdbOut => 3,
            PunchKind::MealOut => 4,
            PunchKind::Wrap => 5,
        }
    }
}

/// A stored punch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Punch {
    pub id: Uuid,
    pub crew_member_id: Uuid,
    pub work_day_id: Uuid,
    pub kind: PunchKind,
    pub at: DateTime<Utc>,
    pub version: i32,
}

/// Kinds of day on a timecard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayType {
    Work,
    Travel,
    Idle,
    Hold,
    Holiday,
}

impl DayType {
    pub const ALL: [DayType; 5] = [
        DayType::Work,
        DayType::Travel,
        DayType::Idle,
        DayType::Hold,
        DayType::Holiday,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DayType::Work => "WORK",
            DayType::Travel => "TRAVEL",
            DayType::Idle => "IDLE",
            DayType::Hold => "HOLD",
            DayType::Holiday => "HOLIDAY",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        DayType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown stored day type {s:?}")))
    }
}

/// Where a work day stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayStatus {
    NotStarted,
    OnClock,
    AtMeal,
    Wrapped,
}

/// A break with its end, if it has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    pub out: DateTime<Utc>,
    pub back: Option<DateTime<Utc>>,
}

/// One work day's punches, checked and put in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timeline {
    pub call: Option<DateTime<Utc>>,
    pub ndb: Option<Break>,
    pub meals: Vec<Break>,
    pub wrap: Option<DateTime<Utc>>,
}

/// The longest a work day may run from call to its last punch.
pub const MAX_DAY: Duration = Duration::hours(24);
pub const MAX_MEALS: usize = 3;

/// Checks the order of a day's punches: nothing before call, nothing after wrap, meals do not
/// overlap, every in has its out, at most one NDB and three meals, no break open at wrap.
/// Errors name the input field `at` or `kind`, since the punch being recorded is the usual
/// culprit.
pub fn timeline(punches: &[(PunchKind, DateTime<Utc>)]) -> Result<Timeline> {
    let mut sorted = punches.to_vec();
    sorted.sort_by_key(|(k, at)| (*at, k.tie_rank()));
    let mut t = Timeline::default();
    let mut open_meal = false;
    let mut open_ndb = false;
    for (kind, at) in sorted {
        if let Some(wrap) = t.wrap {
            return Err(Error::invalid(
                "at",
                format!("{} at {at} is after wrap at {wrap}", kind.as_str()),
            ));
        }
        let call = match (kind, t.call) {
            (PunchKind::Call, None) => {
                t.call = Some(at);
                continue;
            }
            (PunchKind::Call, Some(c)) => {
                return Err(Error::invalid(
                    "kind",
                    format!("this day already has a call at {c}"),
                ))
            }
            (_, None) => {
                return Err(Error::invalid(
                    "at",
                    format!("{} at {at} is before the day's call", kind.as_str()),
                ))
            }
            (_, Some(c)) => c,
        };
        if at - call > MAX_DAY {
            return Err(Error::invalid(
                "at",
                format!("{at} is more than 24 hours after the call at {call}"),
            ));
        }
        match kind {
            // Every CALL was settled by the match above.
            PunchKind::Call => {}
            PunchKind::NdbOut => {
                if t.ndb.is_some() {
                    return Err(Error::invalid(
                        "kind",
                        "this day already has a non-deductible breakfast",
                    ));
                }
                if open_meal {
                    return Err(Error::invalid("at", "an NDB cannot start during a meal"));
                }
                t.ndb = Some(Break {
                    out: at,
                    back: None,
                });
                open_ndb = true;
            }
            PunchKind::NdbIn => match t.ndb.as_mut() {
                Some(b) if open_ndb => {
                    b.back = Some(at);
                    open_ndb = false;
                }
                _ => return Err(Error::invalid("kind", "an NDB in needs its NDB out")),
            },
            PunchKind::MealOut => {
                if open_meal {
                    return Err(Error::invalid(
                        "at",
                        "meals cannot overlap: the previous meal has no meal in yet",
                    ));
                }
                if open_ndb {
                    return Err(Error::invalid("at", "a meal cannot start during the NDB"));
                }
                if t.meals.len() == MAX_MEALS {
                    return Err(Error::invalid(
                        "kind",
                        format!("a day has at most {MAX_MEALS} meals"),
                    ));
                }
                t.meals.push(Break {
                    out: at,
                    back: None,
                });
                open_meal = true;
            }
            PunchKind::MealIn => match t.meals.last_mut() {
                Some(b) if open_meal => {
                    b.back = Some(at);
                    open_meal = false;
                }
                _ => return Err(Error::invalid("kind", "a meal in needs its meal out")),
            },
            PunchKind::Wrap => {
                if open_meal {
                    return Err(Error::invalid(
                        "kind",
                        "the meal has no meal in before wrap",
                    ));
                }
                if open_ndb {
                    return Err(Error::invalid("kind", "the NDB has no NDB in before wrap"));
                }
                t.wrap = Some(at);
            }
        }
    }
    Ok(t)
}

impl Timeline {
    pub fn status(&self) -> DayStatus {
        match (self.call, self.wrap) {
            (None, _) => DayStatus::NotStarted,
            (Some(_), Some(_)) => DayStatus::Wrapped,
            (Some(_), None) if self.meals.last().is_some_and(|m| m.back.is_none()) => {
                DayStatus::AtMeal
            }
            (Some(_), None) => DayStatus::OnClock,
        }
    }

    /// Paid minutes between call and `now` (or wrap): meals are deducted, the NDB is not. An
    /// open meal counts as unpaid up to `now`.
    pub fn worked_minutes(&self, now: DateTime<Utc>) -> i64 {
        let Some(call) = self.call else { return 0 };
        let end = self.wrap.unwrap_or(now).max(call);
        let meals: i64 = self
            .meals
            .iter()
            .map(|m| {
                let back = m.back.unwrap_or(end).min(end);
                (back - m.out.min(end)).num_minutes().max(0)
            })
            .sum();
        ((end - call).num_minutes() - meals).max(0)
    }

    /// When the next meal is due: `interval` after the meal clock started (call, or the end of
    /// the NDB) or after the end of the last meal. None before call, at a meal, or after wrap.
    pub fn next_meal_due(&self, interval: Duration) -> Option<DateTime<Utc>> {
        if self.wrap.is_some() || self.status() == DayStatus::AtMeal {
            return None;
        }
        let call = self.call?;
        let clock = match self.meals.last().and_then(|m| m.back) {
            Some(back) => back,
            None => self.ndb.and_then(|n| n.back).unwrap_or(call),
        };
        Some(clock + interval)
    }
}

/// The dates crewtime accepts from clients; far enough either way for any production, and
/// small enough that date arithmetic and PostgreSQL can never overflow.
pub fn check_date(field: &str, date: NaiveDate) -> Result<NaiveDate> {
    let ok = (1900..=2199).contains(&date.year());
    if ok {
        Ok(date)
    } else {
        Err(Error::invalid(
            field,
            "must be a date between the years 1900 and 2199",
        ))
    }
}

/// The instants crewtime accepts from clients (see [`check_date`]).
pub fn check_instant(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    check_date(field, at.date_naive()).map(|_| at)
}

/// The local date of an instant in the production's timezone: the date a call names.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The instant a local wall-clock time names; ambiguous times (autumn fall-back) take the
/// earlier instant, nonexistent ones (spring gap) are an input error.
pub fn local_instant(field: &str, local: chrono::NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Error::invalid(
                field,
                format!("{local} does not exist in {tz} (clocks go forward)"),
            )
        })
}

/// The work week holding `date` ends on the `ends` weekday (ISO number, 1 = Monday).
pub fn week_ending(date: NaiveDate, ends: u8) -> NaiveDate {
    let today = date.weekday().number_from_monday() as i64;
    let ahead = (i64::from(ends) - today).rem_euclid(7);
    date + Duration::days(ahead)
}

/// Checks that a client's `weekEnding` falls on the production's last day of the work week.
pub fn check_week_ending(date: NaiveDate, ends: u8) -> Result<NaiveDate> {
    if week_ending(date, ends) == date {
        Ok(date)
    } else {
        let name = weekday_name(ends);
        Err(Error::invalid(
            "weekEnding",
            format!("{date} is not a {name}, the last day of this production's work week"),
        ))
    }
}

pub fn weekday_name(iso: u8) -> &'static str {
    match Weekday::try_from(iso.saturating_sub(1)) {
        Ok(Weekday::Mon) => "Monday",
        Ok(Weekday::Tue) => "Tuesday",
        Ok(Weekday::Wed) => "Wednesday",
        Ok(Weekday::Thu) => "Thursday",
        Ok(Weekday::Fri) => "Friday",
        Ok(Weekday::Sat) => "Saturday",
        _ => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PunchKind::*;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn field(r: Result<Timeline>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn a_full_day_orders_and_measures() {
        let day = timeline(&[
            (Wrap, t(19, 30)),
            (MealIn, t(13, 30)),
            (Call, t(7, 0)),
            (MealOut, t(13, 0)),
            (NdbOut, t(7, 0)),
            (NdbIn, t(7, 15)),
        ])
        .unwrap();
        assert_eq!(day.status(), DayStatus::Wrapped);
        assert_eq!(day.worked_minutes(t(23, 0)), 12 * 60);
        assert_eq!(day.next_meal_due(Duration::hours(6)), None);
    }

    #[test]
    fn live_state_follows_the_clock() {
        let day = timeline(&[(Call, t(7, 0)), (NdbOut, t(7, 0)), (NdbIn, t(7, 15))]).unwrap();
        assert_eq!(day.status(), DayStatus::OnClock);
        assert_eq!(day.worked_minutes(t(9, 0)), 120);
        assert_eq!(day.next_meal_due(Duration::hours(6)), Some(t(13, 15)));
        let at_meal = timeline(&[(Call, t(7, 0)), (MealOut, t(12, 0))]).unwrap();
        assert_eq!(at_meal.status(), DayStatus::AtMeal);
        assert_eq!(at_meal.worked_minutes(t(12, 20)), 300);
        let after = timeline(&[(Call, t(7, 0)), (MealOut, t(12, 0)), (MealIn, t(12, 30))]).unwrap();
        assert_eq!(after.next_meal_due(Duration::hours(6)), Some(t(18, 30)));
        assert_eq!(Timeline::default().status(), DayStatus::NotStarted);
    }

    #[test]
    fn order_rules_refuse_with_the_field() {
        assert_eq!(
            field(timeline(&[(MealOut, t(6, 0)), (Call, t(7, 0))])),
            "at"
        );
        assert_eq!(
            field(timeline(&[
                (Call, t(7, 0)),
                (Wrap, t(18, 0)),
                (MealOut, t(19, 0))
            ])),
            "at"
        );
        assert_eq!(
            field(timeline(&[(Call, t(7, 0)), (MealIn, t(12, 0))])),
            "kind"
        );
        assert_eq!(
            field(timeline(&[
                (Call, t(7, 0)),
                (MealOut, t(12, 0)),
                (MealOut, t(12, 10))
            ])),
            "at"
        );
        assert_eq!(field(timeline(&[(Call, t(7, 0)), (Call, t(8, 0))])), "kind");
        assert_eq!(
            field(timeline(&[
                (Call, t(7, 0)),
                (MealOut, t(12, 0)),
                (Wrap, t(13, 0))
            ])),
            "kind"
        );
        let four_meals: Vec<_> = [(Call, t(1, 0))]
            .into_iter()
            .chain((0..4).flat_map(|i| [(MealOut, t(2 + 2 * i, 0)), (MealIn, t(2 + 2 * i, 30))]))
            .collect();
        assert_eq!(field(timeline(&four_meals)), "kind");
        let late = Utc.with_ymd_and_hms(2026, 3, 3, 7, 1, 0).unwrap();
        assert_eq!(field(timeline(&[(Call, t(7, 0)), (Wrap, late)])), "at");
    }

    #[test]
    fn dates_and_weeks_follow_the_production() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 06:00 UTC on 3 March is 22:00 on 2 March in Los Angeles.
        let at = Utc.with_ymd_and_hms(2026, 3, 3, 6, 0, 0).unwrap();
        assert_eq!(
            local_date(at, la),
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
        );
        let mon = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let sat = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(week_ending(mon, 6), sat);
        assert_eq!(week_ending(sat, 6), sat);
        assert!(check_week_ending(sat, 6).is_ok());
        assert!(check_week_ending(mon, 6).is_err());
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert!(local_instant("call", gap, la).is_err());
    }
}
