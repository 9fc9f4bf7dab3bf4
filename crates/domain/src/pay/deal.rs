//! A crew member's rate. Constructed only through checked constructors, so the hourly rate is
//! always defined and positive.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::PayError;

/// Largest hourly rate accepted; keeps every product in the engine far from `Decimal`'s limits.
const MAX_HOURLY_RATE: i64 = 100_000;
/// Largest day rate accepted.
const MAX_DAY_RATE: i64 = 1_000_000;

/// How a deal states its rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DealKind {
    Hourly {
        rate: Decimal,
    },
    /// "X for N hours": 8 straight hours plus N − 8 at 1.5x are worth X.
    Daily {
        rate: Decimal,
        guaranteed_hours: Decimal,
    },
}

/// A validated deal. Serializes in the vector format: `{"hourlyRate": "50.00"}` or
/// `{"dayRate": "500.00", "guaranteedHours": "10"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DealRepr", into = "DealRepr")]
pub struct Deal {
    kind: DealKind,
}

impl Deal {
    /// An hourly deal; the rate must be positive and at most 100,000.
    pub fn hourly_rate(rate: Decimal) -> Result<Self, PayError> {
        check_rate(rate, MAX_HOURLY_RATE, "deal.hourlyRate")?;
        Ok(Deal {
            kind: DealKind::Hourly { rate },
        })
    }

    /// A day-rate deal "rate for guaranteed_hours", with 8 ≤ guaranteed_hours ≤ 12.
    pub fn day_rate(rate: Decimal, guaranteed_hours: Decimal) -> Result<Self, PayError> {
        check_rate(rate, MAX_DAY_RATE, "deal.dayRate")?;
        if guaranteed_hours < Decimal::from(8) || guaranteed_hours > Decimal::from(12) {
            return Err(PayError::invalid(
                "deal.guaranteedHours",
                format!("guaranteed hours must be between 8 and 12, got {guaranteed_hours}"),
            ));
        }
        Ok(Deal {
            kind: DealKind::Daily {
                rate,
                guaranteed_hours,
            },
        })
    }

    pub fn kind(&self) -> &DealKind {
        &self.kind
    }

    /// The hourly rate every line is priced at. Never rounded: rounding happens per line.
    pub fn hourly(&self) -> Decimal {
        match &self.kind {
            DealKind::Hourly { rate } => *rate,
            DealKind::Daily {
                rate,
                guaranteed_hours,
            } => {
                // The constructor bounds N to 8..=12, so the divisor is in 8..=14.
                let straight = Decimal::from(8);
                let divisor = straight + (*guaranteed_hours - straight) * Decimal::new(15, 1);
                rate.checked_div(divisor).unwrap_or(Decimal::ZERO)
            }
        }
    }
}

fn check_rate(rate: Decimal, max: i64, field: &str) -> Result<(), PayError> {
    if rate <= Decimal::ZERO || rate > Decimal::from(max) {
        return Err(PayError::invalid(
            field,
            format!("rate must be more than 0 and at most {max}, got {rate}"),
        ));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DealRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hourly_rate: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day_rate: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guaranteed_hours: Option<Decimal>,
}

impl TryFrom<DealRepr> for Deal {
    type Error = PayError;

    fn try_from(r: DealRepr) -> Result<Self, PayError> {
        match (r.hourly_rate, r.day_rate, r.guaranteed_hours) {
            (Some(rate), None, None) => Deal::hourly_rate(rate),
            (None, Some(rate), Some(hours)) => Deal::day_rate(rate, hours),
            (None, Some(_), None) => Err(PayError::missing("deal.guaranteedHours")),
            (Some(_), _, _) => Err(PayError::invalid(
                "deal",
                "give either hourlyRate or dayRate with guaranteedHours, not both",
            )),
            (None, None, _) => Err(PayError::invalid(
                "deal",
                "a deal needs hourlyRate, or dayRate with guaranteedHours",
            )),
        }
    }
}

impl From<Deal> for DealRepr {
    fn from(d: Deal) -> Self {
        match d.kind {
            DealKind::Hourly { rate } => DealRepr {
                hourly_rate: Some(rate),
                day_rate: None,
                guaranteed_hours: None,
            },
            DealKind::Daily {
                rate,
                guaranteed_hours,
            } => DealRepr {
                hourly_rate: None,
                day_rate: Some(rate),
                guaranteed_hours: Some(guaranteed_hours),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn day_rate_hourly_is_x_over_straight_equivalent_hours() {
        let deal = Deal::day_rate(d("500.00"), d("10")).unwrap();
        assert_eq!(deal.hourly(), d("500") / d("11"));
        let deal = Deal::day_rate(d("400.00"), d("8")).unwrap();
        assert_eq!(deal.hourly(), d("50"));
        let deal = Deal::day_rate(d("700.00"), d("12")).unwrap();
        assert_eq!(deal.hourly(), d("50"));
    }

    #[test]
    fn bad_deals_name_the_field() {
        assert_eq!(
            Deal::day_rate(d("500"), d("13")).unwrap_err().field(),
            "deal.guaranteedHours"
        );
        assert_eq!(
            Deal::day_rate(d("500"), d("7.9")).unwrap_err().field(),
            "deal.guaranteedHours"
        );
        assert_eq!(
            Deal::hourly_rate(d("0")).unwrap_err().field(),
            "deal.hourlyRate"
        );
        assert_eq!(
            Deal::hourly_rate(d("-5")).unwrap_err().field(),
            "deal.hourlyRate"
        );
    }

    #[test]
    fn serde_uses_the_vector_format_and_validates() {
        let deal: Deal = serde_json::from_str(r#"{"dayRate":"500.00","guaranteedHours":"10"}"#)
            .expect("valid deal");
        assert_eq!(
            serde_json::to_value(&deal).unwrap(),
            serde_json::json!({"dayRate": "500.00", "guaranteedHours": "10"})
        );
        assert!(
            serde_json::from_str::<Deal>(r#"{"dayRate":"500.00","guaranteedHours":"14"}"#).is_err()
        );
        assert!(serde_json::from_str::<Deal>("{}").is_err());
    }
}
