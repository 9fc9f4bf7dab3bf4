//! Call sheets: drafts, publishing, re-issues.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use crewtime_domain::callsheet::{
    CallSheet as DomainSheet, CallSheetContent, CallSheetStatus as DomainStatus, CallTarget,
    CallTime, Location as DomainLocation, PlannedMeal as DomainMeal,
};
use crewtime_domain::Error;
use uuid::Uuid;

use super::crew::{department_in, load_crew, CrewMember};
use super::production::{load_department, Department};
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{GlobalId, Kind};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum CallSheetStatus {
    Draft,
    Published,
    /// Replaced by a later published issue; still readable.
    Superseded,
}

impl From<DomainStatus> for CallSheetStatus {
    fn from(s: DomainStatus) -> Self {
        match s {
            DomainStatus::Draft => CallSheetStatus::Draft,
            DomainStatus::Published => CallSheetStatus::Published,
            DomainStatus::Superseded => CallSheetStatus::Superseded,
        }
    }
}

/// One issue of a shoot day's call sheet.
pub(crate) struct CallSheet(pub(crate) Access, pub(crate) DomainSheet);

#[derive(SimpleObject)]
pub(crate) struct Location {
    name: String,
    address: String,
}

#[derive(SimpleObject)]
pub(crate) struct PlannedMeal {
    at: DateTime<Utc>,
    note: Option<String>,
}

/// A call for a department or one person.
pub(crate) struct Call(Access, CallTime);

#[Object]
impl Call {
    async fn at(&self) -> DateTime<Utc> {
        self.1.at
    }
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Department>> {
        match self.1.target {
            CallTarget::Department(d) => load_department(RequestCtx::get(ctx), &self.0, d)
                .await
                .map(Some),
            CallTarget::CrewMember(_) => Ok(None),
        }
    }
    async fn crew_member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CrewMember>> {
        match self.1.target {
            CallTarget::CrewMember(c) => {
                load_crew(RequestCtx::get(ctx), &self.0, c).await.map(Some)
            }
            CallTarget::Department(_) => Ok(None),
        }
    }
}

#[Object]
impl CallSheet {
    pub(crate) async fn id(&self) -> ID {
        ID(GlobalId::tenant(Kind::CallSheet, self.0.production().id, self.1.id).encode())
    }
    async fn shoot_date(&self) -> NaiveDate {
        self.1.content.shoot_date
    }
    /// 1 for the first issue of the day, 2 for the first re-issue, ...
    async fn issue(&self) -> i32 {
        self.1.issue
    }
    async fn status(&self) -> CallSheetStatus {
        self.1.status.into()
    }
    /// Send back as `expectedVersion` when editing or publishing.
    async fn version(&self) -> i32 {
        self.1.version
    }
    async fn day_number(&self) -> i32 {
        self.1.content.day_number
    }
    async fn total_days(&self) -> i32 {
        self.1.content.total_days
    }
    async fn general_call(&self) -> DateTime<Utc> {
        self.1.content.general_call
    }
    async fn shooting_call(&self) -> Option<DateTime<Utc>> {
        self.1.content.shooting_call
    }
    async fn planned_meals(&self) -> Vec<PlannedMeal> {
        self.1
            .content
            .planned_meals
            .iter()
            .map(|m| PlannedMeal {
                at: m.at,
                note: m.note.clone(),
            })
            .collect()
    }
    async fn locations(&self) -> Vec<Location> {
        self.1
            .content
            .locations
            .iter()
            .map(|l| Location {
                name: l.name.clone(),
                address: l.address.clone(),
            })
            .collect()
    }
    async fn nearest_hospital(&self) -> Option<&str> {
        self.1.content.nearest_hospital.as_deref()
    }
    async fn notes(&self) -> Option<&str> {
        self.1.content.notes.as_deref()
    }
    /// Department pre-calls and individual calls; everyone else is on the general call.
    async fn calls(&self) -> Vec<Call> {
        self.1
            .content
            .calls
            .iter()
            .map(|c| Call(self.0.clone(), *c))
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.1.created_at
    }
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.1.published_at
    }
}

pub(crate) async fn issues(
    rc: &RequestCtx,
    access: &Access,
    date: NaiveDate,
) -> async_graphql::Result<Vec<CallSheet>> {
    crewtime_domain::time::check_date("date", date).gql()?;
    let tx = rc.tx(access).await.gql()?;
    let sheets = tx.call_sheet_issues(date).await.gql()?;
    tx.commit().await.gql()?;
    Ok(sheets
        .into_iter()
        .map(|s| CallSheet(access.clone(), s))
        .collect())
}

#[derive(InputObject)]
pub(crate) struct LocationInput {
    name: String,
    address: String,
}

#[derive(InputObject)]
pub(crate) struct PlannedMealInput {
    at: DateTime<Utc>,
    note: Option<String>,
}

#[derive(InputObject)]
pub(crate) struct DepartmentCallInput {
    department_id: ID,
    at: DateTime<Utc>,
}

#[derive(InputObject)]
pub(crate) struct CrewCallInput {
    crew_member_id: ID,
    at: DateTime<Utc>,
}

/// The contents of a call sheet.
#[derive(InputObject)]
pub(crate) struct CallSheetInput {
    shoot_date: NaiveDate,
    /// "Day N of M".
    day_number: i32,
    total_days: i32,
    /// When most of the crew starts; must fall on the shoot date in the production's timezone.
    general_call: DateTime<Utc>,
    shooting_call: Option<DateTime<Utc>>,
    #[graphql(default)]
    planned_meals: Vec<PlannedMealInput>,
    #[graphql(default)]
    locations: Vec<LocationInput>,
    nearest_hospital: Option<String>,
    notes: Option<String>,
    #[graphql(default)]
    department_calls: Vec<DepartmentCallInput>,
    #[graphql(default)]
    crew_calls: Vec<CrewCallInput>,
}

impl CallSheetInput {
    fn content(self, access: &Access) -> async_graphql::Result<CallSheetContent> {
        crewtime_domain::time::check_date("shootDate", self.shoot_date).gql()?;
        let mut calls = Vec::new();
        for (i, c) in self.department_calls.iter().enumerate() {
            let field = format!("departmentCalls[{i}].departmentId");
            let dept = department_in(access, &field, Some(c.department_id.as_str()))?
                .ok_or(Error::invalid(field, "required"))
                .gql()?;
            calls.push(CallTime {
                target: CallTarget::Department(dept),
                at: c.at,
            });
        }
        for (i, c) in self.crew_calls.iter().enumerate() {
            let field = format!("crewCalls[{i}].crewMemberId");
            let (production, crew) =
                GlobalId::of(Kind::CrewMember, &field, &c.crew_member_id).gql()?;
            if production != access.production().id {
                return Err(Error::NotFound("crew member")).gql();
            }
            calls.push(CallTime {
                target: CallTarget::CrewMember(crew),
                at: c.at,
            });
        }
        let content = CallSheetContent {
            shoot_date: self.shoot_date,
            day_number: self.day_number,
            total_days: self.total_days,
            general_call: self.general_call,
            shooting_call: self.shooting_call,
            planned_meals: self
                .planned_meals
                .into_iter()
                .map(|m| DomainMeal {
                    at: m.at,
                    note: m.note,
                })
                .collect(),
            locations: self
                .locations
                .into_iter()
                .map(|l| DomainLocation {
                    name: l.name,
                    address: l.address,
                })
                .collect(),
            nearest_hospital: self.nearest_hospital,
            notes: self.notes,
            calls,
        };
        content.validate(access.production().tz().gql()?).gql()
    }
}

#[derive(InputObject)]
pub(crate) struct CreateCallSheetInput {
    production_id: ID,
    sheet: CallSheetInput,
    /// Replaying the key returns the first answer and creates nothing.
    idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub(crate) struct UpdateCallSheetInput {
    call_sheet_id: ID,
    sheet: CallSheetInput,
    expected_version: i32,
}

#[derive(InputObject)]
pub(crate) struct PublishCallSheetInput {
    call_sheet_id: ID,
    expected_version: i32,
}

#[derive(InputObject)]
pub(crate) struct ReissueCallSheetInput {
    /// The published issue to start the next issue from.
    call_sheet_id: ID,
}

#[derive(SimpleObject)]
pub(crate) struct CallSheetPayload {
    call_sheet: CallSheet,
}

#[derive(Default)]
pub(crate) struct CallSheetMutation;

async fn sheet_access(rc: &RequestCtx, id: &str) -> async_graphql::Result<(Access, Uuid)> {
    let (production, sheet) = GlobalId::of(Kind::CallSheet, "callSheetId", id).gql()?;
    let access = rc.access(production).await.gql()?;
    access
        .require(access.can_manage_call_sheets(), "edit call sheets")
        .gql()?;
    Ok((access, sheet))
}

#[Object]
impl CallSheetMutation {
    /// Starts a draft call sheet for a shoot day.
    async fn create_call_sheet(
        &self,
        ctx: &Context<'_>,
        input: CreateCallSheetInput,
    ) -> async_graphql::Result<CallSheetPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_call_sheets(), "edit call sheets")
            .gql()?;
        let content = input.sheet.content(&access)?;
        let tx = rc.tx(&access).await.gql()?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(crewtime_persistence::IdempotencyKey::parse)
            .transpose()
            .gql()?;
        let sheet = tx
            .create_call_sheet(access.user, &content, key.as_ref())
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(CallSheetPayload {
            call_sheet: CallSheet(access, sheet),
        })
    }

    /// Replaces a draft's contents.
    async fn update_call_sheet(
        &self,
        ctx: &Context<'_>,
        input: UpdateCallSheetInput,
    ) -> async_graphql::Result<CallSheetPayload> {
        let rc = RequestCtx::get(ctx);
        let (access, id) = sheet_access(rc, &input.call_sheet_id).await?;
        let content = input.sheet.content(&access)?;
        let tx = rc.tx(&access).await.gql()?;
        let sheet = tx
            .update_call_sheet(id, &content, input.expected_version)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(CallSheetPayload {
            call_sheet: CallSheet(access, sheet),
        })
    }

    /// Publishes a draft; its calls become the day's default calls. The day's earlier
    /// published issue is kept as SUPERSEDED.
    async fn publish_call_sheet(
        &self,
        ctx: &Context<'_>,
        input: PublishCallSheetInput,
    ) -> async_graphql::Result<CallSheetPayload> {
        let rc = RequestCtx::get(ctx);
        let (access, id) = sheet_access(rc, &input.call_sheet_id).await?;
        let tx = rc.tx(&access).await.gql()?;
        let sheet = tx
            .publish_call_sheet(id, input.expected_version)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(CallSheetPayload {
            call_sheet: CallSheet(access, sheet),
        })
    }

    /// Starts the next issue of a published call sheet as an editable draft.
    async fn reissue_call_sheet(
        &self,
        ctx: &Context<'_>,
        input: ReissueCallSheetInput,
    ) -> async_graphql::Result<CallSheetPayload> {
        let rc = RequestCtx::get(ctx);
        let (access, id) = sheet_access(rc, &input.call_sheet_id).await?;
        let tx = rc.tx(&access).await.gql()?;
        let sheet = tx.reissue_call_sheet(id).await.gql()?;
        tx.commit().await.gql()?;
        Ok(CallSheetPayload {
            call_sheet: CallSheet(access, sheet),
        })
    }
}
