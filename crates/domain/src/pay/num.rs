//! Decimal helpers shared by the rule set, the parser and the engine: exact conversions between
//! hours and seconds, cent rounding, and the textual forms used by the vector format.

use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::error::PayError;

pub(crate) const SECS_PER_HOUR: i64 = 3600;

/// Rounds money half-up (away from zero) to cents, as PAY-RULES.md prescribes for every line,
/// and keeps two places so every amount reads the same ("0.00", "700.00").
pub(crate) fn cents(d: Decimal) -> Decimal {
    let mut m = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    m.rescale(2);
    m
}

/// Zero money, with the two places every amount carries.
pub(crate) fn zero_money() -> Decimal {
    Decimal::new(0, 2)
}

/// `1.5 h × rate × multiplier`, computed from seconds with a single division at the end so that
/// amounts that are exact in cents stay exact (and a true half cent rounds up).
pub(crate) fn amount_for_secs(
    secs: i64,
    rate: Decimal,
    factors: &[Decimal],
    field: &str,
) -> Result<Decimal, PayError> {
    let mut x = rate;
    for f in factors {
        x = x.checked_mul(*f).ok_or_else(|| PayError::overflow(field))?;
    }
    x = x
        .checked_mul(Decimal::from(secs))
        .ok_or_else(|| PayError::overflow(field))?;
    let exact = x
        .checked_div(Decimal::from(SECS_PER_HOUR))
        .ok_or_else(|| PayError::overflow(field))?;
    Ok(cents(exact))
}

/// Hours as a decimal, kept to 4 places (exact for any whole number of 6-minute or
/// quarter-hour units; finer units are display values only, money always uses seconds).
pub(crate) fn hours_of(secs: i64) -> Decimal {
    let mut h = (Decimal::from(secs) / Decimal::from(SECS_PER_HOUR))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if h.scale() == 0 {
        h.rescale(1);
    }
    h
}

/// Hours as the vector format writes them: tenths ("12.0") when exact in tenths, otherwise two
/// places (quarter hours stay exact; anything finer is rounded half-up for display).
pub(crate) fn hours_str(secs: i64) -> String {
    if secs % 360 == 0 {
        let tenths = secs / 360;
        let sign = if tenths < 0 { "-" } else { "" };
        let t = tenths.unsigned_abs();
        format!("{sign}{}.{}", t / 10, t % 10)
    } else {
        let mut h = (Decimal::from(secs) / Decimal::from(SECS_PER_HOUR))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        h.rescale(2);
        h.to_string()
    }
}

/// Money with exactly two decimals ("700.00").
pub(crate) fn money_str(d: Decimal) -> String {
    let mut m = cents(d);
    m.rescale(2);
    m.to_string()
}

/// A multiplier without trailing zeros ("1.5", "2").
pub(crate) fn mult_str(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A duration as "5 h 30 min", "8 h" or "45 min" for explanations.
pub(crate) fn duration_str(secs: i64) -> String {
    let mins = secs.max(0).saturating_add(59) / 60;
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A decimal from the vector format: a string such as "50.00" (preferred) or a JSON number.
pub(crate) fn decimal_from_json(v: &Value, field: &str) -> Result<Decimal, PayError> {
    let parsed = match v {
        Value::String(s) => {
            if s.len() > 40 {
                return Err(PayError::invalid(field, "number is too long"));
            }
            Decimal::from_str_exact(s.trim()).ok()
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Decimal::from(i))
            } else if let Some(u) = n.as_u64() {
                Some(Decimal::from(u))
            } else {
                Decimal::from_str(&n.to_string()).ok()
            }
        }
        _ => {
            return Err(PayError::invalid(
                field,
                "expected a decimal number as a string, e.g. \"50.00\"",
            ))
        }
    };
    parsed.ok_or_else(|| PayError::invalid(field, "not a valid decimal number"))
}

/// An integer from the vector format, within `lo..=hi`.
pub(crate) fn int_from_json(v: &Value, field: &str, lo: i64, hi: i64) -> Result<i64, PayError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| PayError::invalid(field, "expected a whole number"))?;
    if n < lo || n > hi {
        return Err(PayError::invalid(
            field,
            format!("must be between {lo} and {hi}, got {n}"),
        ));
    }
    Ok(n)
}

/// Whole seconds in `hours`, which must be a whole number of minutes in `(0, max_hours]`
/// (or `[0, max_hours]` when `allow_zero`).
pub(crate) fn hours_to_secs(
    hours: Decimal,
    max_hours: i64,
    allow_zero: bool,
    field: &str,
) -> Result<i64, PayError> {
    let in_range = if allow_zero {
        hours >= Decimal::ZERO
    } else {
        hours > Decimal::ZERO
    } && hours <= Decimal::from(max_hours);
    if !in_range {
        let low = if allow_zero { "0" } else { "more than 0" };
        return Err(PayError::invalid(
            field,
            format!("hours must be {low} and at most {max_hours}, got {hours}"),
        ));
    }
    let minutes = hours * Decimal::from(60);
    if !minutes.fract().is_zero() {
        return Err(PayError::invalid(
            field,
            format!("hours must be a whole number of minutes, got {hours}"),
        ));
    }
    minutes
        .to_i64()
        .map(|m| m * 60)
        .ok_or_else(|| PayError::overflow(field))
}

/// `n` rounded up to a multiple of `unit` (both non-negative, unit positive).
pub(crate) fn ceil_to(n: i64, unit: i64) -> i64 {
    if unit <= 0 {
        return n;
    }
    let rem = n.rem_euclid(unit);
    if rem == 0 {
        n
    } else {
        n - rem + unit
    }
}

/// `ceil(n / d)` for non-negative `n` and positive `d`.
pub(crate) fn ceil_div(n: i64, d: i64) -> i64 {
    if d <= 0 {
        return 0;
    }
    n.div_euclid(d) + i64::from(n.rem_euclid(d) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn half_cent_rounds_up() {
        // 0.1 h at 50.05 is exactly 5.005: the single final division keeps it exact.
        assert_eq!(
            amount_for_secs(360, d("50.05"), &[], "").unwrap(),
            d("5.01")
        );
        assert_eq!(cents(d("2.345")), d("2.35"));
    }

    #[test]
    fn stored_decimals_keep_their_places() {
        assert_eq!(cents(d("700")).to_string(), "700.00");
        assert_eq!(zero_money().to_string(), "0.00");
        assert_eq!(hours_of(12 * 3600).to_string(), "12.0");
        assert_eq!(hours_of(732 * 60).to_string(), "12.2");
        assert_eq!(hours_of(7 * 60).to_string(), "0.1167");
    }

    #[test]
    fn textual_forms() {
        assert_eq!(hours_str(12 * 3600), "12.0");
        assert_eq!(hours_str(732 * 60), "12.2");
        assert_eq!(hours_str(8 * 3600 + 15 * 60), "8.25");
        assert_eq!(money_str(d("700")), "700.00");
        assert_eq!(money_str(d("636.365")), "636.37");
        assert_eq!(mult_str(d("1.50")), "1.5");
        assert_eq!(duration_str(70 * 60), "1 h 10 min");
        assert_eq!(duration_str(3600 * 8), "8 h");
    }

    #[test]
    fn rounding_helpers() {
        assert_eq!(ceil_to(730 * 60, 360), 732 * 60);
        assert_eq!(ceil_to(720 * 60, 360), 720 * 60);
        assert_eq!(ceil_div(70 * 60, 1800), 3);
        assert_eq!(ceil_div(60 * 60, 1800), 2);
        assert_eq!(ceil_div(0, 1800), 0);
    }

    #[test]
    fn hours_must_be_whole_minutes_and_in_range() {
        assert_eq!(hours_to_secs(d("8"), 24, false, "x").unwrap(), 8 * 3600);
        assert!(hours_to_secs(d("8.001"), 24, false, "x").is_err());
        assert!(hours_to_secs(d("0"), 24, false, "x").is_err());
        assert!(hours_to_secs(d("25"), 24, false, "x").is_err());
    }
}
