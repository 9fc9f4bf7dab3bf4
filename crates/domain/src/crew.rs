//! Crew members and their deals, and the crew-list CSV import.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::production::parse_name;

/// How a crew member is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DealKind {
    /// A rate per hour.
    Hourly,
    /// "X for N hours": a day rate that covers N hours with the overtime inside them.
    Daily,
    /// A weekly rate that covers a weekly guarantee of hours over five days.
    Weekly,
}

impl DealKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DealKind::Hourly => "HOURLY",
            DealKind::Daily => "DAILY",
            DealKind::Weekly => "WEEKLY",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "HOURLY" => Ok(DealKind::Hourly),
            "DAILY" => Ok(DealKind::Daily),
            "WEEKLY" => Ok(DealKind::Weekly),
            other => Err(Error::invalid(
                field,
                format!("{other:?} is not HOURLY, DAILY or WEEKLY"),
            )),
        }
    }
}

/// The money terms of a deal, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealTerms {
    pub kind: DealKind,
    pub rate: Decimal,
    pub guaranteed_hours: Option<Decimal>,
}

impl DealTerms {
    /// Checks a deal: a positive rate; day rates guarantee 8 to 12 hours; weekly rates guarantee
    /// 40 to 84 hours; hourly deals guarantee nothing.
    pub fn parse(kind: DealKind, rate: Decimal, guaranteed_hours: Option<Decimal>) -> Result<Self> {
        if rate <= Decimal::ZERO || rate > Decimal::from(1_000_000) {
            return Err(Error::invalid(
                "deal.rate",
                "must be more than 0 and at most 1000000",
            ));
        }
        if rate.scale() > 4 {
            return Err(Error::invalid(
                "deal.rate",
                "has more than 4 decimal places",
            ));
        }
        let range =
            |lo: i64, hi: i64| move |h: Decimal| h >= Decimal::from(lo) && h <= Decimal::from(hi);
        match (kind, guaranteed_hours) {
            (DealKind::Hourly, None) => {}
            (DealKind::Hourly, Some(_)) => {
                return Err(Error::invalid(
                    "deal.guaranteedHours",
                    "an hourly deal has no guaranteed hours",
                ))
            }
            (DealKind::Daily, Some(h)) if range(8, 12)(h) => {}
            (DealKind::Daily, _) => {
                return Err(Error::invalid(
                    "deal.guaranteedHours",
                    "a day rate guarantees between 8 and 12 hours",
                ))
            }
            (DealKind::Weekly, Some(h)) if range(40, 84)(h) => {}
            (DealKind::Weekly, _) => {
                return Err(Error::invalid(
                    "deal.guaranteedHours",
                    "a weekly rate guarantees between 40 and 84 hours",
                ))
            }
        }
        Ok(Self {
            kind,
            rate,
            guaranteed_hours,
        })
    }

    /// The straight-time hourly rate the deal implies (never rounded). A day rate "X for N"
    /// pays 8 hours straight and N - 8 at 1.5x, so hourly = X / (8 + (N - 8) × 1.5). A weekly
    /// rate spreads its guarantee over five days the same way.
    pub fn hourly_rate(&self) -> Decimal {
        let straight_equivalent = |hours: Decimal| {
            let eight = Decimal::from(8);
            let twelve = Decimal::from(12);
            let base = hours.min(eight);
            let ot = (hours.min(twelve) - eight).max(Decimal::ZERO) * Decimal::new(15, 1);
            let dt = (hours - twelve).max(Decimal::ZERO) * Decimal::from(2);
            base + ot + dt
        };
        match (self.kind, self.guaranteed_hours) {
            (DealKind::Daily, Some(h)) => self.rate / straight_equivalent(h),
            (DealKind::Weekly, Some(h)) => {
                self.rate / (straight_equivalent(h / Decimal::from(5)) * Decimal::from(5))
            }
            _ => self.rate,
        }
    }
}

/// One version of a crew member's deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    pub id: Uuid,
    pub crew_member_id: Uuid,
    pub version: i32,
    pub effective_from: NaiveDate,
    pub terms: DealTerms,
    pub reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A crew member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrewMember {
    pub id: Uuid,
    pub department_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub position: String,
    pub occupation_code: Option<String>,
    pub union_name: Option<String>,
    pub union_local: Option<String>,
    pub rule_set: String,
    pub user_id: Option<Uuid>,
    pub version: i32,
    /// Bumped by every change to the crew member's punches, days or deal; keys cached pay.
    pub time_version: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A validated request to add a crew member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCrewMember {
    pub name: String,
    pub email: Option<String>,
    pub position: String,
    pub occupation_code: Option<String>,
    pub union_name: Option<String>,
    pub union_local: Option<String>,
    pub rule_set: String,
    pub deal: DealTerms,
    pub deal_effective_from: NaiveDate,
}

/// The rule sets a crew member can be on: the shipped presets.
pub const RULE_SETS: [&str; 2] = ["REF-US-CREW", "CA-NONUNION"];

/// Raw text fields of a new crew member, as a form or a CSV row gives them.
#[derive(Debug, Clone, Default)]
pub struct CrewFields<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub position: &'a str,
    pub occupation_code: Option<&'a str>,
    pub union_name: Option<&'a str>,
    pub union_local: Option<&'a str>,
    pub rule_set: &'a str,
}

impl NewCrewMember {
    pub fn parse(f: CrewFields<'_>, deal: DealTerms, effective_from: NaiveDate) -> Result<Self> {
        let opt = |field: &str, v: Option<&str>, max: usize| -> Result<Option<String>> {
            match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => parse_name(field, s, max).map(Some),
            }
        };
        let email = match f.email.map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(crate::auth::parse_email(e)?),
        };
        let rule_set = f.rule_set.trim();
        if !RULE_SETS.contains(&rule_set) {
            return Err(Error::invalid(
                "ruleSet",
                format!(
                    "{rule_set:?} is not a rule set; use one of {}",
                    RULE_SETS.join(", ")
                ),
            ));
        }
        Ok(Self {
            name: parse_name("name", f.name, 200)?,
            email,
            position: parse_name("position", f.position, 100)?,
            occupation_code: opt("occupationCode", f.occupation_code, 32)?,
            union_name: opt("union", f.union_name, 100)?,
            union_local: opt("local", f.union_local, 32)?,
            rule_set: rule_set.to_owned(),
            deal,
            deal_effective_from: effective_from,
        })
    }
}

/// One row of an imported crew list: the crew member and the department named in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: usize,
    pub department: String,
    pub member: NewCrewMember,
}

/// What was wrong with one row of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub column: String,
    pub message: String,
}

/// The columns a crew CSV must have, in any order (header names are case-insensitive).
pub const IMPORT_COLUMNS: [&str; 12] = [
    "name",
    "email",
    "department",
    "position",
    "occupation_code",
    "union",
    "local",
    "deal",
    "rate",
    "guaranteed_hours",
    "rule_set",
    "effective_from",
];

/// The most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 5_000;

/// Parses a crew list. Returns every row, or every problem found (all rows are checked, so one
/// import run reports everything that needs fixing).
pub fn parse_crew_csv(text: &str) -> std::result::Result<Vec<ImportRow>, Vec<RowProblem>> {
    let problem = |line: usize, column: &str, message: String| RowProblem {
        line,
        column: column.to_owned(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![problem(1, "", format!("unreadable header: {e}"))]),
    };
    let missing: Vec<RowProblem> = IMPORT_COLUMNS
        .iter()
        .filter(|c| !headers.iter().any(|h| h == *c))
        .map(|c| problem(1, c, "column is missing from the header".into()))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or(0);
    let idx: Vec<usize> = IMPORT_COLUMNS.iter().map(|c| col(c)).collect();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen_emails = std::collections::HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if i >= MAX_IMPORT_ROWS {
            problems.push(problem(
                line,
                "",
                format!("an import holds at most {MAX_IMPORT_ROWS} rows"),
            ));
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(line, "", format!("unreadable row: {e}")));
                continue;
            }
        };
        let get = |c: usize| record.get(idx[c]).unwrap_or("");
        let department = get(2);
        if department.is_empty() {
            problems.push(problem(line, "department", "must not be empty".into()));
        }
        let rate = match get(8).parse::<Decimal>() {
            Ok(r) => Some(r),
            Err(_) => {
                problems.push(problem(
                    line,
                    "rate",
                    format!("{:?} is not a number", get(8)),
                ));
                None
            }
        };
        let guaranteed = match get(9) {
            "" => Some(None),
            g => match g.parse::<Decimal>() {
                Ok(h) => Some(Some(h)),
                Err(_) => {
                    problems.push(problem(
                        line,
                        "guaranteed_hours",
                        format!("{g:?} is not a number"),
                    ));
                    None
                }
            },
        };
        let kind = match DealKind::parse("deal", get(7)) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(problem(line, "deal", message_of(e)));
                None
            }
        };
        let effective = match NaiveDate::parse_from_str(get(11), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(problem(
                    line,
                    "effective_from",
                    format!("{:?} is not a date (YYYY-MM-DD)", get(11)),
                ));
                None
            }
        };
        let (Some(kind), Some(rate), Some(guaranteed), Some(effective)) =
            (kind, rate, guaranteed, effective)
        else {
            continue;
        };
        let deal = match DealTerms::parse(kind, rate, guaranteed) {
            Ok(d) => d,
            Err(e) => {
                let column = if matches!(&e, Error::Invalid { field, .. } if field.ends_with("rate"))
                {
                    "rate"
                } else {
                    "guaranteed_hours"
                };
                problems.push(problem(line, column, message_of(e)));
                continue;
            }
        };
        let fields = CrewFields {
            name: get(0),
            email: Some(get(1)),
            position: get(3),
            occupation_code: Some(get(4)),
            union_name: Some(get(5)),
            union_local: Some(get(6)),
            rule_set: get(10),
        };
        match NewCrewMember::parse(fields, deal, effective) {
            Ok(member) => {
                if let Some(email) = &member.email {
                    if let Some(first) = seen_emails.insert(email.clone(), line) {
                        problems.push(problem(
                            line,
                            "email",
                            format!("{email} is also on line {first}"),
                        ));
                        continue;
                    }
                }
                if !department.is_empty() {
                    rows.push(ImportRow {
                        line,
                        department: department.to_owned(),
                        member,
                    });
                }
            }
            Err(e) => {
                let column = match &e {
                    Error::Invalid { field, .. } => csv_column(field),
                    _ => "",
                };
                problems.push(problem(line, column, message_of(e)));
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn csv_column(field: &str) -> &'static str {
    match field {
        "name" => "name",
        "email" => "email",
        "position" => "position",
        "occupationCode" => "occupation_code",
        "union" => "union",
        "local" => "local",
        "ruleSet" => "rule_set",
        _ => "",
    }
}

fn message_of(e: Error) -> String {
    match e {
        Error::Invalid { message, .. } => message,
        other => other.to_string(),
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
    fn day_rates_convert_to_hourly_as_the_rules_say() {
        let ten = DealTerms::parse(DealKind::Daily, d("550"), Some(d("10"))).unwrap();
        assert_eq!(ten.hourly_rate(), d("50"));
        let twelve = DealTerms::parse(DealKind::Daily, d("700"), Some(d("12"))).unwrap();
        assert_eq!(twelve.hourly_rate(), d("50"));
        let week = DealTerms::parse(DealKind::Weekly, d("3500"), Some(d("60"))).unwrap();
        assert_eq!(week.hourly_rate(), d("50"));
        assert!(DealTerms::parse(DealKind::Daily, d("500"), Some(d("13"))).is_err());
        assert!(DealTerms::parse(DealKind::Daily, d("500"), None).is_err());
        assert!(DealTerms::parse(DealKind::Hourly, d("0"), None).is_err());
        assert!(DealTerms::parse(DealKind::Hourly, d("50"), Some(d("8"))).is_err());
    }

    const HEADER: &str = "name,email,department,position,occupation_code,union,local,deal,rate,guaranteed_hours,rule_set,effective_from\n";

    #[test]
    fn a_good_crew_list_imports() {
        let csv = format!(
            "{HEADER}Ann Lee,ann@example.com,Camera,1st AC,CAM-1,IATSE,600,HOURLY,52.50,,REF-US-CREW,2026-03-01\n\
             \"Bo, Jr.\",,Grip,Key Grip,,,,DAILY,600,10,CA-NONUNION,2026-03-01\n"
        );
        let rows = parse_crew_csv(&csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].member.name, "Bo, Jr.");
        assert_eq!(rows[1].department, "Grip");
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_column() {
        let csv = format!(
            "{HEADER}Ann,ann@example.com,Camera,AC,,,,HOURLY,abc,,REF-US-CREW,2026-03-01\n\
             Bob,bob@example.com,Camera,AC,,,,DAILY,500,14,REF-US-CREW,2026-03-01\n\
             Cy,cy@example.com,Camera,AC,,,,HOURLY,40,,NO-SUCH,2026-03-01\n\
             Di,ann@example.com,,AC,,,,HOURLY,40,,REF-US-CREW,03/01/2026\n"
        );
        let problems = parse_crew_csv(&csv).unwrap_err();
        let got: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "rate"),
                (3, "guaranteed_hours"),
                (4, "rule_set"),
                (5, "department"),
                (5, "effective_from")
            ]
        );
        let missing = parse_crew_csv("name,email\nA,a@b.co\n").unwrap_err();
        assert_eq!(missing.len(), 10);
    }
}
