//! What the engine produces: per day the hours by multiplier, penalties, premiums and the priced
//! lines that add up to gross, each line explained in plain English.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::num::{hours_str, money_str, mult_str};

/// What a pay line pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineKind {
    /// Worked time at 1x.
    Straight,
    /// Worked time at 1.5x (daily or weekly overtime, premium days).
    Overtime,
    /// Worked time at 2x.
    DoubleTime,
    /// Worked time at any other multiplier a rule set defines.
    Premium,
    /// Worked time inside the night window, at its multiplier × the night factor.
    Night,
    /// Minimum-call hours paid but not worked.
    MinimumCallTopUp,
    /// Meal-delay penalties of one meal period.
    MealPenalty,
    /// Statute meal premium (one hour at the hourly rate).
    MealPremium,
    /// Invaded rest, paid as extra hours.
    RestPremium,
}

/// One priced line. Time lines carry hours, multiplier and rate (amount = hours × rate ×
/// multiplier, × night factor, rounded half-up to cents); flat penalty lines carry only a count
/// and an amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayLine {
    pub kind: LineKind,
    pub hours: Option<Decimal>,
    pub multiplier: Option<Decimal>,
    /// Night factor applied on top of the multiplier, for night lines.
    pub night_factor: Option<Decimal>,
    pub rate: Option<Decimal>,
    /// Number of penalties, for meal penalty lines.
    pub count: Option<u32>,
    pub amount: Decimal,
    pub explanation: String,
    /// Exact paid seconds behind `hours` (0 for flat lines); money is computed from these.
    pub seconds: i64,
}

/// Paid hours at one multiplier, worked and top-up together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiplierHours {
    pub multiplier: Decimal,
    pub hours: Decimal,
    pub seconds: i64,
}

/// One computed day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayPay {
    pub day_in_week: u8,
    /// Local date of the call: the day a wrap after midnight still belongs to.
    pub date: NaiveDate,
    /// Wrap − call − meals, to the second, before rounding.
    pub worked_seconds: i64,
    /// Worked time rounded up to the rule set's unit.
    pub rounded_minutes: i64,
    /// `rounded_minutes` in hours.
    pub worked_hours: Decimal,
    /// Paid hours per multiplier (ascending), minimum-call top-up included.
    pub hours_by_multiplier: Vec<MultiplierHours>,
    pub hours_1x: Decimal,
    pub hours_15x: Decimal,
    pub hours_2x: Decimal,
    /// Minimum-call hours paid but not worked.
    pub top_up_hours: Decimal,
    /// Worked hours inside the night window (zero when the night premium is off).
    pub night_hours: Decimal,
    pub meal_penalties: u32,
    pub meal_penalty_amount: Decimal,
    pub meal_premium_amount: Decimal,
    pub rest_invasion_hours: Decimal,
    pub rest_premium_amount: Decimal,
    pub gross: Decimal,
    pub lines: Vec<PayLine>,
}

/// One computed work week.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeekPay {
    /// The unrounded hourly rate the lines are priced at.
    pub hourly_rate: Decimal,
    pub days: Vec<DayPay>,
    pub gross: Decimal,
}

impl DayPay {
    fn secs_at(&self, multiplier: Decimal) -> i64 {
        self.hours_by_multiplier
            .iter()
            .find(|m| m.multiplier == multiplier)
            .map_or(0, |m| m.seconds)
    }

    fn rest_invasion_secs(&self) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::RestPremium)
            .map(|l| l.seconds)
            .sum()
    }

    /// The day in the shape of a vector's `expected.days[i]`. A statute meal premium is reported
    /// with the meal penalties (count and amount), since the format has no field of its own for
    /// it and the day's figures must add up to its gross.
    pub fn to_expected_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "date".into(),
            json!(self.date.format("%Y-%m-%d").to_string()),
        );
        m.insert(
            "workedHours".into(),
            json!(hours_str(self.rounded_minutes.saturating_mul(60))),
        );
        let standard = [Decimal::ONE, Decimal::new(15, 1), Decimal::from(2)];
        for mult in standard {
            m.insert(mult_key(mult), json!(hours_str(self.secs_at(mult))));
        }
        for mh in &self.hours_by_multiplier {
            if !standard.contains(&mh.multiplier) && mh.seconds != 0 {
                m.insert(mult_key(mh.multiplier), json!(hours_str(mh.seconds)));
            }
        }
        let premium_count = u32::from(!self.meal_premium_amount.is_zero());
        m.insert(
            "mealPenalties".into(),
            json!(self.meal_penalties.saturating_add(premium_count)),
        );
        m.insert(
            "mealPenaltyAmount".into(),
            json!(money_str(
                self.meal_penalty_amount + self.meal_premium_amount
            )),
        );
        m.insert(
            "restInvasionHours".into(),
            json!(hours_str(self.rest_invasion_secs())),
        );
        m.insert(
            "restPremiumAmount".into(),
            json!(money_str(self.rest_premium_amount)),
        );
        m.insert("gross".into(), json!(money_str(self.gross)));
        Value::Object(m)
    }
}

/// "hours1x", "hours15x", "hours2x", "hours25x" ...
fn mult_key(m: Decimal) -> String {
    format!("hours{}x", mult_str(m).replace('.', ""))
}

impl WeekPay {
    /// The week in the shape of a vector's `expected`: a date per day, amounts as strings with
    /// two decimals, hours as strings in tenths, counts as numbers.
    pub fn to_expected_json(&self) -> Value {
        json!({
            "days": self.days.iter().map(DayPay::to_expected_json).collect::<Vec<_>>(),
            "gross": money_str(self.gross),
        })
    }
}
