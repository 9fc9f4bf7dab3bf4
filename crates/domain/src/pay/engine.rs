//! The computation: one set of functions over a compiled rule set. All arithmetic is on UTC
//! instants in whole seconds; the timezone only names the date and classifies night minutes.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::deal::Deal;
use super::error::PayError;
use super::input::{validate_week, DayInput};
use super::local::boundary_instant;
use super::num::{
    amount_for_secs, ceil_div, ceil_to, cents, duration_str, hours_of, hours_str, money_str,
    mult_str, zero_money,
};
use super::result::{DayPay, LineKind, MultiplierHours, PayLine, WeekPay};
use super::ruleset::{
    CompiledBand, CompiledMealPenalty, CompiledMealPremium, CompiledRules, RuleSet,
};

/// Why a stretch of paid time has its multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The day's band with this index.
    Band(usize),
    /// Straight time turned into overtime by the weekly threshold.
    Weekly,
    /// Minimum-call hours paid but not worked.
    TopUp,
}

/// A stretch of paid time with one multiplier, night flag and reason.
#[derive(Debug, Clone, Copy)]
struct Seg {
    secs: i64,
    multiplier: Decimal,
    night: bool,
    reason: Reason,
}

/// Paid time sharing one line: PAY-RULES.md groups by (multiplier, night, top-up).
struct Group {
    multiplier: Decimal,
    night: bool,
    top_up: bool,
    secs: i64,
    parts: Vec<(Reason, i64)>,
}

/// Prices a work week. `days` are in order; `previous_wrap` is the wrap before the first day
/// (for the rest rule). Every input is validated first, and every error names its field.
pub fn compute_week(
    rules: &RuleSet,
    deal: &Deal,
    tz: Tz,
    previous_wrap: Option<DateTime<Utc>>,
    days: &[DayInput],
) -> Result<WeekPay, PayError> {
    let compiled = rules.compile()?;
    validate_week(previous_wrap, days)?;
    let rate = deal.hourly();
    let mut week_straight = 0i64;
    let mut prev_wrap = previous_wrap.map(|t| t.timestamp());
    let mut out = Vec::with_capacity(days.len());
    let mut gross = zero_money();
    for (i, day) in days.iter().enumerate() {
        let pay = compute_day(&compiled, rate, tz, prev_wrap, day, &mut week_straight)
            .map_err(|e| e.within(&format!("days[{i}]")))?;
        gross = gross
            .checked_add(pay.gross)
            .ok_or_else(|| PayError::overflow("gross"))?;
        prev_wrap = Some(day.wrap.timestamp());
        out.push(pay);
    }
    Ok(WeekPay {
        hourly_rate: rate,
        days: out,
        gross,
    })
}

fn compute_day(
    c: &CompiledRules,
    rate: Decimal,
    tz: Tz,
    prev_wrap: Option<i64>,
    day: &DayInput,
    week_straight: &mut i64,
) -> Result<DayPay, PayError> {
    let bands = usize::from(day.day_in_week)
        .checked_sub(1)
        .and_then(|i| c.bands.get(i))
        .ok_or_else(|| PayError::invalid("dayInWeek", "day in week must be 1 to 7"))?;
    let call = day.call.timestamp();
    let wrap = day.wrap.timestamp();
    let meals: Vec<(i64, i64)> = day
        .meals
        .iter()
        .map(|(o, i)| (o.timestamp(), i.timestamp()))
        .collect();
    let meal_secs: i64 = meals.iter().map(|(o, i)| i - o).sum();
    let worked = wrap - call - meal_secs;
    let rounded = ceil_to(worked, c.unit);
    let added = rounded - worked;

    // Worked stretches between meals; the minutes added by rounding sit right after wrap.
    let mut intervals = Vec::with_capacity(meals.len() + 2);
    let mut t = call;
    for &(o, i) in &meals {
        if o > t {
            intervals.push((t, o));
        }
        t = i;
    }
    if wrap > t {
        intervals.push((t, wrap));
    }
    if added > 0 {
        match intervals.last_mut() {
            Some(last) if last.1 == wrap => last.1 = wrap + added,
            _ => intervals.push((wrap, wrap + added)),
        }
    }

    let windows = match c.night {
        Some((start, end, _)) => night_windows(tz, start, end, call, wrap + added)?,
        None => Vec::new(),
    };
    let mut segs = classify(&intervals, bands, &windows);
    if let Some((threshold, multiplier)) = c.weekly {
        segs = apply_weekly(segs, threshold, multiplier, week_straight);
    }
    let top_up = c.minimum_call.map_or(0, |m| (m - rounded).max(0));
    if top_up > 0 {
        let first = bands.first().map_or(Decimal::ONE, |b| b.multiplier);
        segs.push(Seg {
            secs: top_up,
            multiplier: first,
            night: false,
            reason: Reason::TopUp,
        });
    }

    let groups = group(&segs);
    let mut lines = Vec::with_capacity(groups.len() + 3);
    let mut by_mult: Vec<MultiplierHours> = Vec::with_capacity(4);
    let mut night_secs = 0i64;
    for g in &groups {
        let night_factor = match (g.night, c.night) {
            (true, Some((_, _, f))) => Some(f),
            _ => None,
        };
        let mut factors = vec![g.multiplier];
        factors.extend(night_factor);
        let amount = amount_for_secs(g.secs, rate, &factors, "gross")?;
        let kind = if g.top_up {
            LineKind::MinimumCallTopUp
        } else if g.night {
            LineKind::Night
        } else {
            kind_for(g.multiplier)
        };
        if g.night {
            night_secs += g.secs;
        }
        match by_mult.iter_mut().find(|m| m.multiplier == g.multiplier) {
            Some(m) => m.seconds += g.secs,
            None => by_mult.push(MultiplierHours {
                multiplier: g.multiplier,
                hours: Decimal::ZERO,
                seconds: g.secs,
            }),
        }
        lines.push(PayLine {
            kind,
            hours: Some(hours_of(g.secs)),
            multiplier: Some(g.multiplier),
            night_factor,
            rate: Some(rate),
            count: None,
            amount,
            explanation: explain_time(g, bands, day.day_in_week, c, rounded, night_factor),
            seconds: g.secs,
        });
    }
    by_mult.sort_by_key(|m| m.multiplier);
    for m in &mut by_mult {
        m.hours = hours_of(m.seconds);
    }

    let ndb = day.ndb.map(|(o, i)| (o.timestamp(), i.timestamp()));
    let mut meal_penalties = 0u32;
    let mut meal_penalty_amount = zero_money();
    if let Some(mp) = &c.meal_penalty {
        for line in meal_penalty_lines(mp, call, wrap, ndb, &meals) {
            meal_penalties = meal_penalties.saturating_add(line.count.unwrap_or(0));
            meal_penalty_amount += line.amount;
            lines.push(line);
        }
    }

    let mut meal_premium_amount = zero_money();
    if let Some(p) = &c.meal_premium {
        if let Some(line) = meal_premium_line(p, rate, call, worked, &meals)? {
            meal_premium_amount = line.amount;
            lines.push(line);
        }
    }

    let mut rest_invasion = 0i64;
    let mut rest_premium_amount = zero_money();
    if let (Some((rest_secs, multiplier)), Some(pw)) = (c.rest, prev_wrap) {
        let gap = call - pw;
        if gap < rest_secs {
            rest_invasion = ceil_to(rest_secs - gap, c.unit);
            let amount = amount_for_secs(rest_invasion, rate, &[multiplier], "gross")?;
            rest_premium_amount = amount;
            lines.push(PayLine {
                kind: LineKind::RestPremium,
                hours: Some(hours_of(rest_invasion)),
                multiplier: Some(multiplier),
                night_factor: None,
                rate: Some(rate),
                count: None,
                amount,
                explanation: format!(
                    "{} h at {}x: rest invaded, {} between the previous wrap and this call, {} required",
                    hours_str(rest_invasion),
                    mult_str(multiplier),
                    duration_str(gap),
                    duration_str(rest_secs),
                ),
                seconds: rest_invasion,
            });
        }
    }

    let mut gross = zero_money();
    for l in &lines {
        gross = gross
            .checked_add(l.amount)
            .ok_or_else(|| PayError::overflow("gross"))?;
    }
    let secs_at = |m: Decimal| {
        by_mult
            .iter()
            .find(|x| x.multiplier == m)
            .map_or(0, |x| x.seconds)
    };
    Ok(DayPay {
        day_in_week: day.day_in_week,
        date: day.call.with_timezone(&tz).date_naive(),
        worked_seconds: worked,
        rounded_minutes: rounded / 60,
        worked_hours: hours_of(rounded),
        hours_1x: hours_of(secs_at(Decimal::ONE)),
        hours_15x: hours_of(secs_at(Decimal::new(15, 1))),
        hours_2x: hours_of(secs_at(Decimal::from(2))),
        hours_by_multiplier: by_mult,
        top_up_hours: hours_of(top_up),
        night_hours: hours_of(night_secs),
        meal_penalties,
        meal_penalty_amount,
        meal_premium_amount,
        rest_invasion_hours: hours_of(rest_invasion),
        rest_premium_amount,
        gross,
        lines,
    })
}

fn kind_for(multiplier: Decimal) -> LineKind {
    if multiplier == Decimal::ONE {
        LineKind::Straight
    } else if multiplier == Decimal::new(15, 1) {
        LineKind::Overtime
    } else if multiplier == Decimal::from(2) {
        LineKind::DoubleTime
    } else {
        LineKind::Premium
    }
}

/// Night windows, as sorted non-overlapping instants, covering `from..to`. Each local day's
/// window runs from `start` to `end` wall-clock (into the next day when `end` ≤ `start`).
fn night_windows(
    tz: Tz,
    start: u32,
    end: u32,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, PayError> {
    let out_of_range = || PayError::time("", "date out of range");
    let local_date = |ts: i64| -> Result<NaiveDate, PayError> {
        DateTime::from_timestamp(ts, 0)
            .map(|t| t.with_timezone(&tz).date_naive())
            .ok_or_else(out_of_range)
    };
    let clock = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).ok_or_else(out_of_range);
    let (start_t, end_t) = (clock(start)?, clock(end)?);
    let mut d = local_date(from)?.pred_opt().ok_or_else(out_of_range)?;
    let last = local_date(to)?;
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(4);
    let mut prev_end = i64::MIN;
    while d <= last {
        let end_date = if end > start {
            d
        } else {
            d.succ_opt().ok_or_else(out_of_range)?
        };
        let ws = boundary_instant(tz, d.and_time(start_t)).ok_or_else(out_of_range)?;
        let we = boundary_instant(tz, end_date.and_time(end_t)).ok_or_else(out_of_range)?;
        // A DST change can make neighbouring windows touch or a window collapse; keep them
        // disjoint and ordered so the classification walk stays simple.
        let ws = ws.max(prev_end);
        if we > ws {
            out.push((ws, we));
            prev_end = we;
        }
        d = d.succ_opt().ok_or_else(out_of_range)?;
    }
    Ok(out)
}

/// Whether `t` is at night, and the next instant at which that changes.
fn night_at(windows: &[(i64, i64)], t: i64) -> (bool, i64) {
    for &(ws, we) in windows {
        if t < ws {
            return (false, ws);
        }
        if t < we {
            return (true, we);
        }
    }
    (false, i64::MAX)
}

/// Splits worked time into stretches by band (worked seconds before them) and night window.
fn classify(intervals: &[(i64, i64)], bands: &[CompiledBand], windows: &[(i64, i64)]) -> Vec<Seg> {
    let mut segs: Vec<Seg> = Vec::with_capacity(4);
    let mut offset = 0i64;
    let mut band = 0usize;
    for &(s, e) in intervals {
        let mut t = s;
        while t < e {
            while band + 1 < bands.len() && bands[band].upper.is_some_and(|u| offset >= u) {
                band += 1;
            }
            let Some(b) = bands.get(band) else { break };
            let mut next = e;
            if let Some(u) = b.upper {
                if u > offset {
                    next = next.min(t + (u - offset));
                }
            }
            let (night, change) = night_at(windows, t);
            next = next.min(change);
            if next <= t {
                next = e;
            }
            let secs = next - t;
            push_merged(
                &mut segs,
                Seg {
                    secs,
                    multiplier: b.multiplier,
                    night,
                    reason: Reason::Band(band),
                },
            );
            offset += secs;
            t = next;
        }
    }
    segs
}

fn push_merged(segs: &mut Vec<Seg>, seg: Seg) {
    if let Some(last) = segs.last_mut() {
        if last.reason == seg.reason && last.night == seg.night && last.multiplier == seg.multiplier
        {
            last.secs += seg.secs;
            return;
        }
    }
    segs.push(seg);
}

/// Walks the day's stretches in order; once the week's straight time reaches the threshold,
/// further straight time is paid at the weekly multiplier. Premium time is left alone.
fn apply_weekly(
    segs: Vec<Seg>,
    threshold: i64,
    multiplier: Decimal,
    straight: &mut i64,
) -> Vec<Seg> {
    let mut out = Vec::with_capacity(segs.len() + 1);
    for seg in segs {
        if seg.multiplier != Decimal::ONE {
            out.push(seg);
            continue;
        }
        let room = (threshold - *straight).max(0);
        if seg.secs <= room {
            *straight += seg.secs;
            out.push(seg);
        } else {
            if room > 0 {
                out.push(Seg { secs: room, ..seg });
                *straight += room;
            }
            out.push(Seg {
                secs: seg.secs - room,
                multiplier,
                reason: Reason::Weekly,
                ..seg
            });
        }
    }
    out
}

fn group(segs: &[Seg]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::with_capacity(4);
    for s in segs {
        let top_up = s.reason == Reason::TopUp;
        let idx = match groups
            .iter()
            .position(|g| g.multiplier == s.multiplier && g.night == s.night && g.top_up == top_up)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    multiplier: s.multiplier,
                    night: s.night,
                    top_up,
                    secs: 0,
                    parts: Vec::with_capacity(2),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        g.secs += s.secs;
        match g.parts.iter_mut().find(|(r, _)| *r == s.reason) {
            Some(p) => p.1 += s.secs,
            None => g.parts.push((s.reason, s.secs)),
        }
    }
    groups.sort_by_key(|g| (g.top_up, g.night, g.multiplier));
    groups
}

fn ordinal_num(n: u8) -> String {
    let suffix = match n {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn ordinal_word(i: usize) -> String {
    const WORDS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    WORDS
        .get(i)
        .map_or_else(|| format!("meal {}", i + 1), |w| (*w).to_owned())
}

fn hours_num(secs: i64) -> String {
    mult_str(hours_of(secs))
}

fn reason_text(
    r: Reason,
    bands: &[CompiledBand],
    day_in_week: u8,
    c: &CompiledRules,
    rounded: i64,
) -> String {
    match r {
        Reason::Band(i) => {
            let Some(b) = bands.get(i) else {
                return String::new();
            };
            let text = match (b.lower, b.upper) {
                (0, Some(u)) => format!("within the first {} h worked", hours_num(u)),
                (0, None) => "all hours worked".to_owned(),
                (l, Some(u)) => {
                    format!("worked beyond {} h, up to {} h", hours_num(l), hours_num(u))
                }
                (l, None) => format!("worked beyond {} h", hours_num(l)),
            };
            let premium_day = bands.first().is_some_and(|f| f.multiplier > Decimal::ONE);
            if premium_day {
                format!(
                    "{} day worked in the week, {text}",
                    ordinal_num(day_in_week)
                )
            } else {
                text
            }
        }
        Reason::Weekly => match c.weekly {
            Some((threshold, _)) => format!(
                "straight time beyond {} h in the week",
                hours_num(threshold)
            ),
            None => "weekly overtime".to_owned(),
        },
        Reason::TopUp => format!(
            "minimum call of {} h, {} h worked",
            hours_num(c.minimum_call.unwrap_or(0)),
            hours_str(rounded)
        ),
    }
}

fn explain_time(
    g: &Group,
    bands: &[CompiledBand],
    day_in_week: u8,
    c: &CompiledRules,
    rounded: i64,
    night_factor: Option<Decimal>,
) -> String {
    let mut head = format!("{} h at {}x", hours_str(g.secs), mult_str(g.multiplier));
    if let Some(f) = night_factor {
        head.push_str(&format!(" with night premium ×{f}"));
    }
    let reasons: Vec<String> = if g.parts.len() == 1 {
        g.parts
            .iter()
            .map(|(r, _)| reason_text(*r, bands, day_in_week, c, rounded))
            .collect()
    } else {
        g.parts
            .iter()
            .map(|(r, s)| {
                format!(
                    "{} h {}",
                    hours_str(*s),
                    reason_text(*r, bands, day_in_week, c, rounded)
                )
            })
            .collect()
    };
    let mut text = format!("{head}: {}", reasons.join(" + "));
    if g.night {
        if let Some((start, end, _)) = c.night {
            text.push_str(&format!(
                ", between {:02}:{:02} and {:02}:{:02}",
                start / 60,
                start % 60,
                end / 60,
                end % 60
            ));
        }
    }
    text
}

/// One line per late meal period. The meal clock starts at call, or at the end of the NDB;
/// each meal is due `interval` after it, and after each meal the clock restarts at its end.
fn meal_penalty_lines(
    mp: &CompiledMealPenalty,
    call: i64,
    wrap: i64,
    ndb: Option<(i64, i64)>,
    meals: &[(i64, i64)],
) -> Vec<PayLine> {
    let mut lines = Vec::new();
    let mut due = ndb.map_or(call, |(_, back)| back) + mp.interval;
    let period = |index: usize, taken: bool, late: i64, lines: &mut Vec<PayLine>| {
        if late <= mp.grace {
            return;
        }
        let count = ceil_div(late, mp.unit);
        let (amount, shown) = penalty_amounts(&mp.amounts, count);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let noun = if count == 1 { "penalty" } else { "penalties" };
        let what = if taken {
            format!(
                "{} meal {} min late",
                ordinal_word(index),
                ceil_div(late, 60)
            )
        } else {
            format!(
                "no {} meal before wrap, wrap {} min after it was due",
                ordinal_word(index),
                ceil_div(late, 60)
            )
        };
        let grace = if mp.grace > 0 {
            format!(", beyond the {}-minute grace", mp.grace / 60)
        } else {
            String::new()
        };
        lines.push(PayLine {
            kind: LineKind::MealPenalty,
            hours: None,
            multiplier: None,
            night_factor: None,
            rate: None,
            count: Some(count),
            amount,
            explanation: format!("{count} meal {noun}: {what}{grace} ({shown})"),
            seconds: 0,
        });
    };
    for (j, &(out, back)) in meals.iter().enumerate() {
        period(j, true, out - due, &mut lines);
        due = back + mp.interval;
    }
    period(meals.len(), false, wrap - due, &mut lines);
    lines
}

/// Sum of `count` penalties on the schedule (the last amount repeats), and the sum written out.
fn penalty_amounts(schedule: &[Decimal], count: i64) -> (Decimal, String) {
    let Some((&last, head)) = schedule.split_last() else {
        return (zero_money(), String::new());
    };
    let mut total = zero_money();
    let mut parts = Vec::with_capacity(schedule.len());
    let mut left = count;
    for &a in head {
        if left == 0 {
            break;
        }
        total += a;
        parts.push(money_str(a));
        left -= 1;
    }
    if left > 0 {
        total += last * Decimal::from(left);
        if left == 1 {
            parts.push(money_str(last));
        } else {
            parts.push(format!("{left} × {}", money_str(last)));
        }
    }
    (cents(total), parts.join(" + "))
}

/// At most one premium per day: the first meal started too late, or too long worked with no meal.
fn meal_premium_line(
    p: &CompiledMealPremium,
    rate: Decimal,
    call: i64,
    worked: i64,
    meals: &[(i64, i64)],
) -> Result<Option<PayLine>, PayError> {
    let why = match meals.first() {
        Some(&(out, _)) if out - call > p.first_within => format!(
            "first meal started {} after call, more than {} h",
            duration_str(out - call),
            hours_num(p.first_within)
        ),
        None if worked > p.max_without => format!(
            "{} worked with no meal, more than {} h",
            duration_str(worked),
            hours_num(p.max_without)
        ),
        _ => return Ok(None),
    };
    let amount = amount_for_secs(p.premium_secs, rate, &[], "gross")?;
    Ok(Some(PayLine {
        kind: LineKind::MealPremium,
        hours: Some(hours_of(p.premium_secs)),
        multiplier: Some(Decimal::ONE),
        night_factor: None,
        rate: Some(rate),
        count: None,
        amount,
        explanation: format!("{} h at 1x: meal premium, {why}", hours_str(p.premium_secs)),
        seconds: p.premium_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pay::ruleset::{preset, Band};
    use chrono::TimeZone;
    use std::str::FromStr;

    const LA: Tz = chrono_tz::America::Los_Angeles;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(call: DateTime<Utc>, hours: i64) -> DayInput {
        DayInput {
            day_in_week: 1,
            call,
            wrap: call + chrono::Duration::hours(hours),
            meals: vec![],
            ndb: None,
        }
    }

    #[test]
    fn extreme_instants_from_the_api_are_errors_not_panics() {
        let rules = preset("REF-US-CREW").unwrap();
        let deal = Deal::hourly_rate(d("50")).unwrap();
        let mut far = day(DateTime::<Utc>::MIN_UTC, 1);
        far.wrap = DateTime::<Utc>::MAX_UTC;
        let e = compute_week(&rules, &deal, LA, None, &[far]).unwrap_err();
        assert_eq!(e.field(), "days[0].call");
        let ok = day(Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap(), 8);
        let e = compute_week(&rules, &deal, LA, Some(DateTime::<Utc>::MIN_UTC), &[ok]).unwrap_err();
        assert_eq!(e.field(), "previousWrap");
    }

    #[test]
    fn rule_sets_are_data_a_golden_band_needs_no_code() {
        let mut rules = preset("REF-US-CREW").unwrap();
        rules.tiers[0].bands = vec![
            Band {
                up_to_hours: Some(d("8")),
                multiplier: d("1"),
            },
            Band {
                up_to_hours: Some(d("12")),
                multiplier: d("1.5"),
            },
            Band {
                up_to_hours: Some(d("16")),
                multiplier: d("2"),
            },
            Band {
                up_to_hours: None,
                multiplier: d("2.5"),
            },
        ];
        // A mealless 17-hour day would also earn meal penalties; only the bands matter here.
        rules.meal_penalty = None;
        let deal = Deal::hourly_rate(d("40")).unwrap();
        let call = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        let week = compute_week(&rules, &deal, LA, None, &[day(call, 17)]).unwrap();
        let exp = week.to_expected_json();
        assert_eq!(exp["days"][0]["hours25x"], "1.0");
        assert_eq!(exp["days"][0]["hours2x"], "4.0");
        // 8 × 40 + 4 × 60 + 4 × 80 + 1 × 100
        assert_eq!(exp["gross"], "980.00");
        let golden = week.days[0].lines.last().unwrap();
        assert_eq!(golden.kind, LineKind::Premium);
        assert_eq!(golden.explanation, "1.0 h at 2.5x: worked beyond 16 h");
    }

    #[test]
    fn night_minutes_follow_the_wall_clock_across_fall_back() {
        let mut rules = preset("REF-US-CREW").unwrap();
        rules.night.enabled = true;
        rules.minimum_call_hours = None;
        rules.meal_penalty = None;
        let deal = Deal::hourly_rate(d("10")).unwrap();
        // 18:00 PDT on 31 October to 07:00 PST on 1 November: 14 real hours, of which
        // 20:00 PDT to 06:00 PST is 11 real hours of night.
        let call = Utc.with_ymd_and_hms(2026, 11, 1, 1, 0, 0).unwrap();
        let week = compute_week(&rules, &deal, LA, None, &[day(call, 14)]).unwrap();
        let pay = &week.days[0];
        assert_eq!(pay.date, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        assert_eq!(pay.night_hours, d("11"));
        // Day: 2 h at 1x = 20. Night: 6 h at 1x, 4 h at 1.5x, 1 h at 2x, each × 1.10
        // = 66 + 66 + 22. Morning after 06:00: 1 h at 2x = 20.
        assert_eq!(pay.gross, d("194.00"));
    }
}
