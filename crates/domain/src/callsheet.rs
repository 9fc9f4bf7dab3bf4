//! Call sheets: the plan for one shoot day, issued in versions.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::production::parse_name;
use crate::time::local_date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallSheetStatus {
    Draft,
    Published,
    /// A published issue replaced by a later one; still readable.
    Superseded,
}

impl CallSheetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallSheetStatus::Draft => "DRAFT",
            CallSheetStatus::Published => "PUBLISHED",
            CallSheetStatus::Superseded => "SUPERSEDED",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "DRAFT" => Ok(CallSheetStatus::Draft),
            "PUBLISHED" => Ok(CallSheetStatus::Published),
            "SUPERSEDED" => Ok(CallSheetStatus::Superseded),
            other => Err(Error::internal(format!(
                "unknown stored call sheet status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMeal {
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// A call time for a department or one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallTarget {
    Department(Uuid),
    CrewMember(Uuid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTime {
    pub target: CallTarget,
    pub at: DateTime<Utc>,
}

/// The editable contents of a call sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSheetContent {
    pub shoot_date: NaiveDate,
    pub day_number: i32,
    pub total_days: i32,
    pub general_call: DateTime<Utc>,
    pub shooting_call: Option<DateTime<Utc>>,
    pub planned_meals: Vec<PlannedMeal>,
    pub locations: Vec<Location>,
    pub nearest_hospital: Option<String>,
    pub notes: Option<String>,
    pub calls: Vec<CallTime>,
}

/// A stored issue of a call sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSheet {
    pub id: Uuid,
    pub issue: i32,
    pub status: CallSheetStatus,
    pub version: i32,
    pub content: CallSheetContent,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl CallSheetContent {
    /// Checks a call sheet against the production's timezone: the general call falls on the
    /// shoot date, the day counts make sense, and every other time lies within 12 hours of the
    /// general call.
    pub fn validate(self, tz: Tz) -> Result<Self> {
        if self.day_number < 1 {
            return Err(Error::invalid("dayNumber", "must be at least 1"));
        }
        if self.total_days < self.day_number || self.total_days > 1000 {
            return Err(Error::invalid(
                "totalDays",
                "must be at least the day number and at most 1000",
            ));
        }
        if local_date(self.general_call, tz) != self.shoot_date {
            return Err(Error::invalid(
                "generalCall",
                format!(
                    "falls on {} in {tz}, not on the shoot date {}",
                    local_date(self.general_call, tz),
                    self.shoot_date
                ),
            ));
        }
        let near = |field: &str, at: DateTime<Utc>| -> Result<()> {
            if (at - self.general_call).abs() > Duration::hours(12) {
                return Err(Error::invalid(
                    field,
                    "must be within 12 hours of the general crew call",
                ));
            }
            Ok(())
        };
        if let Some(s) = self.shooting_call {
            if s < self.general_call {
                return Err(Error::invalid(
                    "shootingCall",
                    "cannot be before the general crew call",
                ));
            }
            near("shootingCall", s)?;
        }
        if self.planned_meals.len() > 3 {
            return Err(Error::invalid("plannedMeals", "at most 3 meals"));
        }
        let mut planned_meals = Vec::with_capacity(self.planned_meals.len());
        for (i, m) in self.planned_meals.iter().enumerate() {
            near(&format!("plannedMeals[{i}].at"), m.at)?;
            planned_meals.push(PlannedMeal {
                at: m.at,
                note: free_text(&format!("plannedMeals[{i}].note"), m.note.clone(), 200)?,
            });
        }
        if self.locations.len() > 20 {
            return Err(Error::invalid("locations", "at most 20 locations"));
        }
        let mut locations = Vec::with_capacity(self.locations.len());
        for (i, l) in self.locations.iter().enumerate() {
            locations.push(Location {
                name: parse_name(&format!("locations[{i}].name"), &l.name, 200)?,
                address: parse_name(&format!("locations[{i}].address"), &l.address, 500)?,
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.calls.iter().enumerate() {
            near(&format!("calls[{i}].at"), c.at)?;
            if !seen.insert(c.target) {
                return Err(Error::invalid(
                    format!("calls[{i}]"),
                    "has a second call for the same department or person",
                ));
            }
        }
        Ok(Self {
            nearest_hospital: free_text("nearestHospital", self.nearest_hospital.clone(), 500)?,
            notes: free_text("notes", self.notes.clone(), 10_000)?,
            planned_meals,
            locations,
            ..self
        })
    }

    /// The call a crew member of `department` gets from this sheet: their own, else their
    /// department's, else the general call.
    pub fn call_for(&self, crew_member: Uuid, department: Uuid) -> DateTime<Utc> {
        let find = |t: CallTarget| self.calls.iter().find(|c| c.target == t).map(|c| c.at);
        find(CallTarget::CrewMember(crew_member))
            .or_else(|| find(CallTarget::Department(department)))
            .unwrap_or(self.general_call)
    }
}

/// Optional free text: trimmed, bounded, and free of control characters other than line breaks
/// and tabs (PostgreSQL refuses NUL, and nothing else belongs on a call sheet).
fn free_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max => Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(s)
            if s.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
        {
            Err(Error::invalid(field, "must not contain control characters"))
        }
        Some(s) => Ok(Some(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sheet() -> CallSheetContent {
        CallSheetContent {
            shoot_date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            day_number: 3,
            total_days: 40,
            general_call: Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap(),
            shooting_call: Some(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap()),
            planned_meals: vec![],
            locations: vec![Location {
                name: " Stage 5 ".into(),
                address: "1 Studio Way".into(),
            }],
            nearest_hospital: Some(" ".into()),
            notes: None,
            calls: vec![],
        }
    }

    #[test]
    fn a_sheet_is_checked_in_the_production_timezone() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let ok = sheet().validate(la).unwrap();
        assert_eq!(ok.locations[0].name, "Stage 5");
        assert_eq!(ok.nearest_hospital, None);
        let field = |c: CallSheetContent| match c.validate(la) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(CallSheetContent {
                total_days: 2,
                ..sheet()
            }),
            "totalDays"
        );
        assert_eq!(
            field(CallSheetContent {
                shoot_date: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                ..sheet()
            }),
            "generalCall"
        );
        assert_eq!(
            field(CallSheetContent {
                shooting_call: Some(Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap()),
                ..sheet()
            }),
            "shootingCall"
        );
    }

    #[test]
    fn personal_calls_beat_department_calls_beat_the_general_call() {
        let crew = Uuid::now_v7();
        let dept = Uuid::now_v7();
        let mut s = sheet();
        assert_eq!(s.call_for(crew, dept), s.general_call);
        let early = Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).unwrap();
        s.calls.push(CallTime {
            target: CallTarget::Department(dept),
            at: early,
        });
        assert_eq!(s.call_for(crew, dept), early);
        let earlier = Utc.with_ymd_and_hms(2026, 3, 2, 12, 30, 0).unwrap();
        s.calls.push(CallTime {
            target: CallTarget::CrewMember(crew),
            at: earlier,
        });
        assert_eq!(s.call_for(crew, dept), earlier);
    }
}
