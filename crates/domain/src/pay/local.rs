//! Local wall-clock time: the only place where the production timezone meets the engine's UTC
//! instants. The DST policy is deliberate and documented in the module docs of `pay`.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::error::PayError;

/// Years the engine accepts. Bounding them keeps every date computation (next day, timezone
/// lookup) far from chrono's limits, so none of them can fail at run time.
pub(crate) const MIN_YEAR: i32 = 1900;
pub(crate) const MAX_YEAR: i32 = 2199;

/// A local time mapped to UTC: one instant, or two when a fall-back change repeats the hour.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Local {
    Single(DateTime<Utc>),
    Ambiguous(DateTime<Utc>, DateTime<Utc>),
}

impl Local {
    /// The first occurrence, unless it falls before `not_before` (the previous time on the same
    /// day's timeline) and the second does not: a wrap at 01:15 after a meal ending at 01:40 in
    /// the repeated hour can only mean the second 01:15.
    pub(crate) fn resolve(self, not_before: Option<DateTime<Utc>>) -> DateTime<Utc> {
        match self {
            Local::Single(t) => t,
            Local::Ambiguous(first, second) => match not_before {
                Some(nb) if first < nb && second >= nb => second,
                _ => first,
            },
        }
    }
}

/// Parses "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (no offset) as a local time in `tz`.
/// A local time skipped by a spring-forward change is an error naming `field`.
pub(crate) fn parse_local(s: &str, tz: Tz, field: &str) -> Result<Local, PayError> {
    let malformed = || {
        PayError::time(
            field,
            format!("expected a local date-time like 2026-03-02T07:00 without offset, got \"{s}\""),
        )
    };
    if s.len() > 32 {
        return Err(malformed());
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| malformed())?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&naive.year()) {
        return Err(PayError::time(
            field,
            format!("date out of range: years {MIN_YEAR} to {MAX_YEAR} are accepted, got \"{s}\""),
        ));
    }
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(Local::Single(t.with_timezone(&Utc))),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            Ok(Local::Ambiguous(a.min(b), a.max(b)))
        }
        LocalResult::None => Err(PayError::time(
            field,
            format!("{s} does not exist in {tz}: the clocks skip it for daylight saving"),
        )),
    }
}

/// A local wall-clock time as an instant for classifying minutes (night windows): a repeated
/// time takes its first occurrence, a skipped time becomes the first instant after the gap,
/// which is when the clock first shows a time at or past it.
pub(crate) fn boundary_instant(tz: Tz, naive: NaiveDateTime) -> Option<i64> {
    let mut probe = naive;
    // Gaps last at most a few hours; a day's worth of minutes bounds the search whatever the zone.
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return Some(t.timestamp()),
            LocalResult::Ambiguous(a, b) => return Some(a.timestamp().min(b.timestamp())),
            LocalResult::None => probe = probe.checked_add_signed(Duration::minutes(1))?,
        }
    }
    None
}

/// True when the instant lies within the years the engine accepts.
pub(crate) fn in_range(t: DateTime<Utc>) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&t.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const LA: Tz = chrono_tz::America::Los_Angeles;

    #[test]
    fn spring_forward_gap_is_an_error_naming_the_field() {
        let e = parse_local("2026-03-08T02:30", LA, "days[0].call").unwrap_err();
        assert_eq!(e.field(), "days[0].call");
        assert!(e.to_string().contains("does not exist"));
    }

    #[test]
    fn fall_back_takes_first_occurrence_unless_that_runs_backwards() {
        let l = parse_local("2026-11-01T01:30", LA, "x").unwrap();
        let first = l.resolve(None);
        assert_eq!(first.to_rfc3339(), "2026-11-01T08:30:00+00:00");
        let later = Utc.with_ymd_and_hms(2026, 11, 1, 8, 45, 0).unwrap();
        assert_eq!(
            l.resolve(Some(later)).to_rfc3339(),
            "2026-11-01T09:30:00+00:00"
        );
    }

    #[test]
    fn malformed_and_out_of_range() {
        for s in [
            "2026-03-02 07:00",
            "2026-03-02T07:00Z",
            "2026-02-30T07:00",
            "07:00",
            "",
        ] {
            assert!(parse_local(s, LA, "call").is_err(), "{s}");
        }
        assert!(parse_local("9999-01-01T07:00", LA, "call").is_err());
        assert!(parse_local("2026-03-02T07:00:30", LA, "call").is_ok());
    }

    #[test]
    fn boundary_in_a_gap_moves_to_the_end_of_the_gap() {
        let naive = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap();
        let t = boundary_instant(LA, naive).unwrap();
        // 03:00 PDT is 10:00 UTC.
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0)
                .unwrap()
                .timestamp()
        );
    }
}
