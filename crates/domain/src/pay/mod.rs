//! The pay rules engine: pure functions from a rule set, a deal and a week of times to hours by
//! multiplier, penalties, premiums and gross, to the cent. The numbers live in data
//! ([`RuleSet`], presets under `presets/`); PAY-RULES.md in the shared spec defines the rules and
//! `pay-vectors.json` pins them.
//!
//! Conventions the callers can rely on:
//!
//! - **Instants.** Every computation is on UTC instants in whole seconds (sub-second parts are
//!   ignored). The production timezone only names a day's date (the local date of its call) and
//!   classifies night minutes, so a day across midnight or a DST change needs no special case.
//! - **Local times in the vector format** (`2026-03-02T07:00`, no offset). A local time skipped
//!   by a spring-forward change is rejected, naming the field. A local time repeated by a
//!   fall-back change takes its first occurrence (the offset in force before the change), unless
//!   that would put it before the previous time of the same day (call, NDB, meals, wrap in that
//!   order), in which case it takes the second occurrence. Night-window boundaries that fall in a
//!   gap start when the clock first shows a time past them.
//! - **Money** is `Decimal`; the hourly rate is never rounded; every line is rounded half-up to
//!   cents from its exact seconds; gross is the sum of the rounded lines.
//! - **Bounds** that keep the engine panic-free on any input: days of at most 48 hours, at most
//!   8 meals a day, at most 7 days a week, years 1900 to 2199, hourly rates up to 100,000 and day
//!   rates up to 1,000,000, multipliers up to 10.

mod case;
mod deal;
mod engine;
mod error;
mod input;
mod local;
mod num;
mod result;
mod ruleset;

pub use case::{compute_case, parse_case, parse_cases, PayCase};
pub use deal::{Deal, DealKind};
pub use engine::compute_week;
pub use error::PayError;
pub use input::{validate_week, DayInput, MAX_DAYS_PER_WEEK, MAX_DAY_HOURS, MAX_MEALS_PER_DAY};
pub use result::{DayPay, LineKind, MultiplierHours, PayLine, WeekPay};
pub use ruleset::{
    preset, preset_names, Band, MealPenaltyRule, MealPremiumRule, NightPremium, RestRule, RuleSet,
    TierSchedule, WeeklyOvertime,
};
