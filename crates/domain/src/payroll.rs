//! From stored time to pay: turns a crew member's work days, deal versions and rule set versions
//! into priced days. The rule set and the deal in force on each day's date apply to that day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::crew::{Deal, DealKind};
use crate::error::{Error, Result};
use crate::pay::{self, DayInput, DayPay, PayError, RuleSet};
use crate::time::{timeline, DayType, PunchKind};

/// A stored version of a production's rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRuleSet {
    pub name: String,
    pub version: i32,
    pub effective_from: NaiveDate,
    pub rules: RuleSet,
    pub reason: String,
}

/// One work day as the timecard holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkedDay {
    pub date: NaiveDate,
    pub day_type: DayType,
    pub punches: Vec<(PunchKind, DateTime<Utc>)>,
}

/// A priced day and what priced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedDay {
    pub pay: DayPay,
    /// "REF-US-CREW v2" (a production's version) or "REF-US-CREW preset".
    pub rule_set: String,
    pub deal_version: i32,
}

/// A day on the card that has no pay (yet), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedDay {
    pub date: NaiveDate,
    pub reason: String,
}

/// A crew member's priced week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedWeek {
    pub days: Vec<PricedDay>,
    pub unpriced: Vec<UnpricedDay>,
    pub gross: Decimal,
}

/// Everything one crew member's week is priced from.
pub struct WeekInputs<'a> {
    pub tz: Tz,
    /// The crew member's rule set name.
    pub rule_set: &'a str,
    /// The production's stored versions of rule sets (any names); none means the preset.
    pub rule_versions: &'a [StoredRuleSet],
    pub deals: &'a [Deal],
    pub days: &'a [WorkedDay],
    /// Wrap of the crew member's last work day before the week, for the rest rule.
    pub previous_wrap: Option<DateTime<Utc>>,
}

/// The rule set in force on `date`: the production's latest version of `name` effective on or
/// before it, else the shipped preset.
pub fn rules_on<'a>(
    name: &str,
    versions: &'a [StoredRuleSet],
    date: NaiveDate,
) -> Result<(String, std::borrow::Cow<'a, RuleSet>)> {
    let stored = versions
        .iter()
        .filter(|v| v.name == name && v.effective_from <= date)
        .max_by_key(|v| (v.effective_from, v.version));
    match stored {
        Some(v) => Ok((
            format!("{} v{}", v.name, v.version),
            std::borrow::Cow::Borrowed(&v.rules),
        )),
        None => pay::preset(name)
            .map(|r| (format!("{name} preset"), std::borrow::Cow::Owned(r)))
            .ok_or_else(|| Error::internal(format!("no rule set named {name:?}"))),
    }
}

/// The deal version in force on `date`.
pub fn deal_on(deals: &[Deal], date: NaiveDate) -> Option<&Deal> {
    deals
        .iter()
        .filter(|d| d.effective_from <= date)
        .max_by_key(|d| (d.effective_from, d.version))
}

/// The engine's deal for a stored deal: weekly deals are priced at their implied hourly rate.
pub fn engine_deal(deal: &Deal) -> Result<pay::Deal> {
    let t = &deal.terms;
    let d = match (t.kind, t.guaranteed_hours) {
        (DealKind::Daily, Some(h)) => pay::Deal::day_rate(t.rate, h),
        _ => pay::Deal::hourly_rate(t.hourly_rate()),
    };
    d.map_err(pay_error)
}

/// A pay engine error as a domain input error naming its field.
pub fn pay_error(e: PayError) -> Error {
    let field = e.field().to_owned();
    let text = e.to_string();
    let message = text
        .strip_prefix(&format!("{field}: "))
        .unwrap_or(&text)
        .to_owned();
    Error::Invalid { field, message }
}

/// Prices a crew member's week. WORK days with a call and a wrap are priced; other days are
/// listed as unpriced with the reason. Each day is priced with the rule set and deal in force on
/// its date, in the context of the whole week (weekly overtime, day in week, rest).
pub fn price_week(input: &WeekInputs<'_>) -> Result<PricedWeek> {
    let mut priceable: Vec<(NaiveDate, DayInput)> = Vec::new();
    let mut unpriced = Vec::new();
    let mut days: Vec<&WorkedDay> = input.days.iter().collect();
    days.sort_by_key(|d| d.date);
    let mut ordinal = 0u8;
    for d in days {
        let t = timeline(&d.punches)?;
        let worked = d.day_type == DayType::Work && t.call.is_some();
        if worked {
            ordinal = ordinal.saturating_add(1);
        }
        let reason = match (d.day_type, t.call, t.wrap) {
            (DayType::Work, Some(call), Some(wrap)) => {
                priceable.push((
                    d.date,
                    DayInput {
                        day_in_week: ordinal,
                        call,
                        wrap,
                        meals: t
                            .meals
                            .iter()
                            .filter_map(|m| m.back.map(|b| (m.out, b)))
                            .collect(),
                        ndb: t.ndb.and_then(|n| n.back.map(|b| (n.out, b))),
                    },
                ));
                continue;
            }
            (DayType::Work, Some(_), None) => "not wrapped yet".to_owned(),
            (DayType::Work, None, _) => "no call recorded".to_owned(),
            (other, _, _) => format!("{} days are not priced by the rule set", other.as_str()),
        };
        unpriced.push(UnpricedDay {
            date: d.date,
            reason,
        });
    }
    let inputs: Vec<DayInput> = priceable.iter().map(|(_, d)| d.clone()).collect();
    // Price the whole week once per (rule set version, deal version) in force on some day, and
    // keep from each run the days that version governs.
    let mut runs: BTreeMap<(String, i32), Vec<usize>> = BTreeMap::new();
    for (i, (date, _)) in priceable.iter().enumerate() {
        let (label, _) = rules_on(input.rule_set, input.rule_versions, *date)?;
        let deal = deal_on(input.deals, *date)
            .ok_or_else(|| Error::invalid("deal", format!("no deal is in force on {date}")))?;
        runs.entry((label, deal.version)).or_default().push(i);
    }
    let mut priced: Vec<Option<PricedDay>> = vec![None; priceable.len()];
    for ((label, deal_version), indices) in runs {
        let first = priceable[indices[0]].0;
        let (_, rules) = rules_on(input.rule_set, input.rule_versions, first)?;
        let deal = input
            .deals
            .iter()
            .find(|d| d.version == deal_version)
            .ok_or_else(|| Error::internal("deal version vanished"))?;
        let week = pay::compute_week(
            &rules,
            &engine_deal(deal)?,
            input.tz,
            input.previous_wrap,
            &inputs,
        )
        .map_err(pay_error)?;
        for i in indices {
            let pay = week
                .days
                .get(i)
                .cloned()
                .ok_or_else(|| Error::internal("engine returned fewer days"))?;
            priced[i] = Some(PricedDay {
                pay,
                rule_set: label.clone(),
                deal_version,
            });
        }
    }
    let days: Vec<PricedDay> = priced.into_iter().flatten().collect();
    let gross = days.iter().map(|d| d.pay.gross).sum();
    Ok(PricedWeek {
        days,
        unpriced,
        gross,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crew::DealTerms;
    use chrono::TimeZone;
    use std::str::FromStr;
    use uuid::Uuid;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // Los Angeles in March 2026 before the DST change: UTC-8.
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
            + chrono::Duration::hours(i64::from(h) + 8)
            + chrono::Duration::minutes(i64::from(m))
    }

    fn deal(version: i32, from: (u32, u32), rate: &str) -> Deal {
        Deal {
            id: Uuid::now_v7(),
            crew_member_id: Uuid::nil(),
            version,
            effective_from: NaiveDate::from_ymd_opt(2026, from.0, from.1).unwrap(),
            terms: DealTerms {
                kind: crate::crew::DealKind::Hourly,
                rate: Decimal::from_str(rate).unwrap(),
                guaranteed_hours: None,
            },
            reason: None,
            created_at: Utc::now(),
        }
    }

    fn day(d: u32) -> WorkedDay {
        WorkedDay {
            date: NaiveDate::from_ymd_opt(2026, 3, d).unwrap(),
            day_type: DayType::Work,
            punches: vec![
                (PunchKind::Call, at(d, 7, 0)),
                (PunchKind::MealOut, at(d, 13, 0)),
                (PunchKind::MealIn, at(d, 13, 30)),
                (PunchKind::Wrap, at(d, 19, 30)),
            ],
        }
    }

    #[test]
    fn a_stored_week_prices_like_vector_v1_and_follows_deal_changes() {
        let tz: Tz = "America/Los_Angeles".parse().unwrap();
        let deals = [deal(1, (1, 1), "50.00"), deal(2, (3, 3), "60.00")];
        let mut days = vec![day(2), day(3)];
        days.push(WorkedDay {
            date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
            day_type: DayType::Travel,
            punches: vec![],
        });
        days.push(WorkedDay {
            date: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
            day_type: DayType::Work,
            punches: vec![(PunchKind::Call, at(5, 7, 0))],
        });
        let week = price_week(&WeekInputs {
            tz,
            rule_set: "REF-US-CREW",
            rule_versions: &[],
            deals: &deals,
            days: &days,
            previous_wrap: None,
        })
        .unwrap();
        // V1: a clean 12-hour day at $50 is 700.00; at $60 it is 840.00.
        let gross: Vec<String> = week.days.iter().map(|d| d.pay.gross.to_string()).collect();
        assert_eq!(gross, ["700.00", "840.00"]);
        assert_eq!(week.gross.to_string(), "1540.00");
        assert_eq!(week.days[1].deal_version, 2);
        assert_eq!(week.days[0].rule_set, "REF-US-CREW preset");
        let reasons: Vec<&str> = week.unpriced.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "TRAVEL days are not priced by the rule set",
                "not wrapped yet"
            ]
        );
        // A priced week survives the JSON the shared read cache stores, to the last decimal
        // place and paid second.
        let text = serde_json::to_string(&week).unwrap();
        let back: PricedWeek = serde_json::from_str(&text).unwrap();
        assert_eq!(back, week);
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        assert!(back.days[0].pay.lines.iter().any(|l| l.seconds > 0));
    }

    #[test]
    fn a_production_rule_version_applies_from_its_date() {
        let tz: Tz = "America/Los_Angeles".parse().unwrap();
        let mut rules = pay::preset("REF-US-CREW").unwrap();
        let mut opts = serde_json::Map::new();
        opts.insert("mealPenaltySchedule".into(), serde_json::json!("S"));
        rules.apply_options(&opts).unwrap();
        let stored = [StoredRuleSet {
            name: "REF-US-CREW".into(),
            version: 1,
            effective_from: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
            rules,
            reason: "S schedule".into(),
        }];
        let late = |d: u32| WorkedDay {
            date: NaiveDate::from_ymd_opt(2026, 3, d).unwrap(),
            day_type: DayType::Work,
            punches: vec![
                (PunchKind::Call, at(d, 7, 0)),
                (PunchKind::MealOut, at(d, 14, 10)),
                (PunchKind::MealIn, at(d, 14, 40)),
                (PunchKind::Wrap, at(d, 19, 40)),
            ],
        };
        let week = price_week(&WeekInputs {
            tz,
            rule_set: "REF-US-CREW",
            rule_versions: &stored,
            deals: &[deal(1, (1, 1), "50.00")],
            days: &[late(2), late(3)],
            previous_wrap: None,
        })
        .unwrap();
        // V2 and V2S: 37.50 of penalties on the T schedule, 110.00 on S.
        let penalties: Vec<String> = week
            .days
            .iter()
            .map(|d| d.pay.meal_penalty_amount.to_string())
            .collect();
        assert_eq!(penalties, ["37.50", "110.00"]);
        assert_eq!(week.days[1].rule_set, "REF-US-CREW v1");
    }
}
