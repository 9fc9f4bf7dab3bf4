//! Productions, departments and `node`: the tenant boundary as clients see it.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Interface, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use crewtime_domain::auth::{Membership, Role as DomainRole};
use crewtime_domain::production::{Department as DomainDepartment, NewDepartment, NewProduction};
use crewtime_domain::Error;
use crewtime_persistence::productions::MemberView;
use crewtime_persistence::IdempotencyKey;
use std::sync::Arc;
use uuid::Uuid;

use super::callsheet::CallSheet;
use super::connection::page;
use super::crew::CrewMember;
use super::time::{Punch, Timecard, TimecardStatus};
use super::{Access, RequestCtx};
use crate::auth::Principal;
use crate::error::GqlResult;
use crate::ids::{decode_cursor, GlobalId, Kind};

/// A role in one production.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum Role {
    Admin,
    Accountant,
    Upm,
    Coordinator,
    DepartmentHead,
    Crew,
}

impl From<DomainRole> for Role {
    fn from(r: DomainRole) -> Self {
        match r {
            DomainRole::Admin => Role::Admin,
            DomainRole::Accountant => Role::Accountant,
            DomainRole::Upm => Role::Upm,
            DomainRole::Coordinator => Role::Coordinator,
            DomainRole::DepartmentHead => Role::DepartmentHead,
            DomainRole::Crew => Role::Crew,
        }
    }
}

impl From<Role> for DomainRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => DomainRole::Admin,
            Role::Accountant => DomainRole::Accountant,
            Role::Upm => DomainRole::Upm,
            Role::Coordinator => DomainRole::Coordinator,
            Role::DepartmentHead => DomainRole::DepartmentHead,
            Role::Crew => DomainRole::Crew,
        }
    }
}

/// A production (a tenant with its own schema), as seen by a member.
pub(crate) struct Production(pub(crate) Access);

#[Object]
impl Production {
    async fn id(&self) -> ID {
        ID(GlobalId::Production(self.0.production().id).encode())
    }
    async fn name(&self) -> &str {
        &self.0.production().name
    }
    /// IANA timezone in which punches are read and work days are dated.
    async fn timezone(&self) -> &str {
        &self.0.production().timezone
    }
    /// ISO 4217 currency of every amount in this production.
    async fn currency(&self) -> &str {
        &self.0.production().currency
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.production().created_at
    }
    /// The caller's roles in this production.
    async fn my_roles(&self) -> Vec<Role> {
        self.0
            .view
            .memberships
            .iter()
            .map(|m| m.role.into())
            .collect()
    }

    /// ISO weekday (1 = Monday .. 7 = Sunday) on which the work week ends; Saturday by default.
    async fn work_week_ends(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let rc = RequestCtx::get(ctx);
        let tx = rc.tx(&self.0).await.gql()?;
        let settings = tx.settings().await.gql()?;
        tx.commit().await.gql()?;
        Ok(i32::from(settings.work_week_ends))
    }

    /// The crew, oldest first, optionally of one department.
    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn crew(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        department_id: Option<ID>,
    ) -> async_graphql::Result<Connection<String, CrewMember>> {
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        super::crew::crew_page(ctx, &self.0, first, after, department_id).await
    }

    async fn crew_member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<CrewMember> {
        let (production, crew) = GlobalId::of(Kind::CrewMember, "id", &id).gql()?;
        if production != self.0.production().id {
            return Err(Error::NotFound("crew member")).gql();
        }
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        super::crew::load_crew(RequestCtx::get(ctx), &self.0, crew).await
    }

    /// The day's call sheet: the published issue, or the draft when none is published yet.
    async fn call_sheet(
        &self,
        ctx: &Context<'_>,
        date: chrono::NaiveDate,
    ) -> async_graphql::Result<Option<CallSheet>> {
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        let issues = super::callsheet::issues(RequestCtx::get(ctx), &self.0, date).await?;
        let published = issues
            .iter()
            .position(|s| s.1.status == crewtime_domain::callsheet::CallSheetStatus::Published);
        let draft = issues
            .iter()
            .position(|s| s.1.status == crewtime_domain::callsheet::CallSheetStatus::Draft);
        Ok(published.or(draft).and_then(|i| issues.into_iter().nth(i)))
    }

    /// Every issue of the day's call sheet, newest first; superseded issues stay readable.
    async fn call_sheet_issues(
        &self,
        ctx: &Context<'_>,
        date: chrono::NaiveDate,
    ) -> async_graphql::Result<Vec<CallSheet>> {
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        super::callsheet::issues(RequestCtx::get(ctx), &self.0, date).await
    }

    /// Every recorded change, oldest first, optionally of one object (`entity`: any id), by
    /// one user (`actor`), or in a time window. Admins and accountants.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        entity: Option<String>,
        actor: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, super::audit::AuditEntry>> {
        super::audit::audit_log(ctx, &self.0, entity, actor, from, to, first, after).await
    }

    /// Whether department heads may see their department's rates and pay.
    async fn rates_visible_to_department_heads(&self) -> bool {
        self.0.production().rates_visible_to_department_heads
    }

    /// The production's stored rule set versions (crew on a rule set with no stored version
    /// are priced with the shipped preset).
    async fn rule_sets(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::pay::RuleSetVersion>> {
        self.0
            .require(self.0.can_read_rule_sets(), "read rule sets")
            .gql()?;
        let rc = RequestCtx::get(ctx);
        let tx = rc.tx(&self.0).await.gql()?;
        let stored = tx.rule_sets().await.gql()?;
        tx.commit().await.gql()?;
        stored
            .into_iter()
            .map(super::pay::RuleSetVersion::from_stored)
            .collect()
    }

    /// The payroll batch for a week (CSV and JSON). Accountants, UPMs and admins.
    async fn payroll_export(
        &self,
        ctx: &Context<'_>,
        week_ending: chrono::NaiveDate,
    ) -> async_graphql::Result<super::pay::PayrollExport> {
        super::pay::payroll_export(RequestCtx::get(ctx), &self.0, week_ending).await
    }

    /// Actual labour cost against budget per department for a shoot day, and to date.
    async fn hot_cost(
        &self,
        ctx: &Context<'_>,
        date: chrono::NaiveDate,
    ) -> async_graphql::Result<std::sync::Arc<super::pay::HotCost>> {
        super::pay::hot_cost(RequestCtx::get(ctx), &self.0, date).await
    }

    /// The week's timecards: every crew member with time that week, optionally of one
    /// department or status.
    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn timecards(
        &self,
        ctx: &Context<'_>,
        week_ending: chrono::NaiveDate,
        department_id: Option<ID>,
        status: Option<TimecardStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Timecard>> {
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        super::time::timecard_page(
            ctx,
            &self.0,
            week_ending,
            department_id,
            status,
            first,
            after,
        )
        .await
    }

    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn departments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Department>> {
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        let rc = RequestCtx::get(ctx);
        let limit = rc.page_size(first).gql()?;
        let after = after.as_deref().map(decode_cursor).transpose().gql()?;
        let tx = rc.tx(&self.0).await.gql()?;
        let rows = tx.departments(after, limit + 1).await.gql()?;
        tx.commit().await.gql()?;
        Ok(page(rows, limit, after.is_some(), |d| d.id, Department))
    }

    async fn department(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Department> {
        let (production, dept) = GlobalId::of(Kind::Department, "id", &id).gql()?;
        if production != self.0.production().id {
            return Err(Error::NotFound("department")).gql();
        }
        self.0
            .require(self.0.can_read_records(), "read the production's records")
            .gql()?;
        load_department(RequestCtx::get(ctx), &self.0, dept).await
    }

    /// The production's API tokens, oldest first, revoked and expired ones included (never
    /// their secrets). Production admins only.
    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, super::api_tokens::ApiToken>> {
        super::api_tokens::page(RequestCtx::get(ctx), &self.0, first, after).await
    }
}

pub(crate) async fn load_department(
    rc: &RequestCtx,
    access: &Access,
    id: Uuid,
) -> async_graphql::Result<Department> {
    rc.loaders
        .departments
        .load_one((access.production().id, id))
        .await
        .gql()?
        .map(Department)
        .ok_or(Error::NotFound("department"))
        .gql()
}

/// A department of a production.
pub(crate) struct Department(pub(crate) DomainDepartment);

#[Object]
impl Department {
    async fn id(&self) -> ID {
        ID(GlobalId::tenant(Kind::Department, self.0.production_id, self.0.id).encode())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Short code used on timecards and exports, upper case.
    async fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Anything fetchable by its global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub(crate) enum Node {
    Production(Production),
    Department(Department),
    CrewMember(CrewMember),
    CallSheet(CallSheet),
    Punch(Punch),
}

#[derive(Default)]
pub(crate) struct ProductionQuery;

#[Object]
impl ProductionQuery {
    /// The productions the caller is a member of, oldest first.
    #[graphql(
        complexity = "(first.unwrap_or(20).clamp(0, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)"
    )]
    async fn productions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Production>> {
        let rc = RequestCtx::get(ctx);
        let limit = rc.page_size(first).gql()?;
        let after = after.as_deref().map(decode_cursor).transpose().gql()?;
        let principal = match rc.principal().await.gql()? {
            Principal::User(user) => user,
            Principal::ApiToken(token) => {
                // A token sees exactly one production: its own.
                let access = rc.access(token.production.id).await.gql()?;
                let rows: Vec<Access> = Some(access)
                    .filter(|a| after.is_none_or(|c| a.production().id > c))
                    .into_iter()
                    .collect();
                return Ok(page(
                    rows,
                    limit,
                    after.is_some(),
                    |a| a.production().id,
                    Production,
                ));
            }
        };
        let rows = rc
            .store
            .productions_for_member(principal.user_id, after, limit + 1)
            .await
            .gql()?;
        // One query for the page, one for the caller's roles in all of it.
        let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
        let memberships = rc
            .store
            .memberships_in(principal.user_id, &ids)
            .await
            .gql()?;
        let mut views = Vec::with_capacity(rows.len());
        for production in rows {
            let mine: Vec<Membership> = memberships
                .iter()
                .filter(|m| m.production_id == production.id)
                .cloned()
                .collect();
            let view = Arc::new(MemberView {
                production,
                memberships: mine,
            });
            rc.remember(view.clone()).gql()?;
            views.push(view);
        }
        Ok(page(
            views,
            limit,
            after.is_some(),
            |v| v.production.id,
            |v| Production(Access::new(v, principal.user_id)),
        ))
    }

    /// One production; `NOT_FOUND` unless the caller is a member.
    async fn production(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Production> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("id", &id).gql()?;
        rc.access(production).await.map(Production).gql()
    }

    /// Any object by its global id; `NOT_FOUND` for ids the caller may not see.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let rc = RequestCtx::get(ctx);
        match GlobalId::decode("id", &id).gql()? {
            GlobalId::Production(p) => Ok(Some(Node::Production(Production(
                rc.access(p).await.gql()?,
            )))),
            GlobalId::Tenant {
                kind,
                production,
                id,
            } => {
                if kind == Kind::CrewMember {
                    // The membership and the crew member in one statement, no transaction.
                    let store = rc.store.clone();
                    let read = |user| async move {
                        store.member_and_crew_member(user, production, id).await
                    };
                    if let Some((access, found)) = rc.access_with(production, read).await.gql()? {
                        access
                            .require(access.can_read_records(), "read the production's records")
                            .gql()?;
                        let (crew, department) =
                            found.ok_or(Error::NotFound("crew member")).gql()?;
                        return Ok(Some(crew_node(rc, access, crew, department).await));
                    }
                }
                // The membership is read by the transaction's first statement (with the search
                // path), the object by the second: two statements for a read by id.
                let (access, tx) = rc.access_tx(production).await.gql()?;
                if kind != Kind::Punch {
                    // A punch is checked against its crew member's time in `load_punch`.
                    if let Err(e) =
                        access.require(access.can_read_records(), "read the production's records")
                    {
                        tx.rollback().await.gql()?;
                        return Err(e).gql();
                    }
                }
                Ok(Some(match kind {
                    Kind::Department => {
                        let found = tx.departments_by_ids(&[id]).await.gql()?;
                        tx.commit().await.gql()?;
                        let department = found
                            .into_iter()
                            .next()
                            .ok_or(Error::NotFound("department"))
                            .gql()?;
                        rc.loaders
                            .departments
                            .feed_one((production, id), department.clone())
                            .await;
                        Node::Department(Department(department))
                    }
                    Kind::CrewMember => {
                        let found = tx.crew_member_with_department(id).await.gql()?;
                        tx.commit().await.gql()?;
                        let (crew, department) =
                            found.ok_or(Error::NotFound("crew member")).gql()?;
                        crew_node(rc, access, crew, department).await
                    }
                    Kind::CallSheet => {
                        let sheet = tx.call_sheet(id).await.gql()?;
                        tx.commit().await.gql()?;
                        Node::CallSheet(
                            sheet
                                .map(|s| CallSheet(access.clone(), s))
                                .ok_or(Error::NotFound("call sheet"))
                                .gql()?,
                        )
                    }
                    Kind::Punch => Node::Punch(super::time::load_punch(tx, &access, id).await?),
                }))
            }
            GlobalId::User(_) | GlobalId::ApiToken { .. } => Err(Error::NotFound("node")).gql(),
        }
    }
}

/// A crew member read by id, as a node. Its department is usually asked for too: the loaders
/// are fed what the read brought.
async fn crew_node(
    rc: &RequestCtx,
    access: Access,
    crew: crewtime_domain::crew::CrewMember,
    department: crewtime_domain::production::Department,
) -> Node {
    let production = access.production().id;
    rc.loaders
        .departments
        .feed_one((production, department.id), department)
        .await;
    rc.loaders
        .crew
        .feed_one((production, crew.id), crew.clone())
        .await;
    Node::CrewMember(CrewMember { access, crew })
}

#[derive(InputObject)]
pub(crate) struct CreateProductionInput {
    name: String,
    /// IANA timezone, e.g. America/Los_Angeles.
    timezone: String,
    /// ISO 4217 code, e.g. USD.
    currency: String,
    /// Replaying the same key returns the first answer and creates nothing.
    idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct CreateProductionPayload {
    production: Production,
}

#[derive(InputObject)]
pub(crate) struct CreateDepartmentInput {
    production_id: ID,
    name: String,
    code: Option<String>,
    idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct CreateDepartmentPayload {
    department: Department,
}

#[derive(InputObject)]
pub(crate) struct GrantRoleInput {
    production_id: ID,
    /// The user's sign-in email.
    email: String,
    role: Role,
    /// Scope for department heads and crew.
    department_id: Option<ID>,
}

/// One role of one user in one production.
#[derive(SimpleObject)]
pub(crate) struct MembershipGrant {
    user_id: ID,
    production_id: ID,
    role: Role,
    department_id: Option<ID>,
}

#[derive(SimpleObject)]
pub(crate) struct GrantRolePayload {
    membership: MembershipGrant,
}

#[derive(InputObject)]
pub(crate) struct SetRatesVisibilityInput {
    production_id: ID,
    visible: bool,
}

#[derive(SimpleObject)]
pub(crate) struct SetRatesVisibilityPayload {
    rates_visible_to_department_heads: bool,
}

#[derive(Default)]
pub(crate) struct ProductionMutation;

#[Object]
impl ProductionMutation {
    /// Creates a production and its own migrated schema in one step; the creator becomes its
    /// ADMIN. Studio admins only.
    async fn create_production(
        &self,
        ctx: &Context<'_>,
        input: CreateProductionInput,
    ) -> async_graphql::Result<CreateProductionPayload> {
        let rc = RequestCtx::get(ctx);
        let principal = rc.user("create productions").await.gql()?;
        let new = NewProduction::parse(&input.name, &input.timezone, &input.currency).gql()?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .gql()?;
        if !principal.is_admin {
            return Err(Error::Forbidden(
                "only studio admins create productions".into(),
            ))
            .gql();
        }
        let production = rc
            .store
            .create_production(principal.user_id, &new, key.as_ref())
            .await
            .gql()?;
        Ok(CreateProductionPayload {
            production: Production(rc.access(production.id).await.gql()?),
        })
    }

    /// Adds a department. Production admins, UPMs and coordinators.
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        input: CreateDepartmentInput,
    ) -> async_graphql::Result<CreateDepartmentPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        let new = NewDepartment::parse(&input.name, input.code.as_deref()).gql()?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .gql()?;
        access
            .require(access.can_manage_crew(), "create departments")
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let department = tx
            .create_department(access.user, &new, key.as_ref())
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(CreateDepartmentPayload {
            department: Department(department),
        })
    }

    /// Lets (or stops) department heads see their department's rates and pay. Admins only.
    async fn set_rates_visibility(
        &self,
        ctx: &Context<'_>,
        input: SetRatesVisibilityInput,
    ) -> async_graphql::Result<SetRatesVisibilityPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(
                access.has_any(&[DomainRole::Admin]),
                "change rate visibility",
            )
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        tx.set_rates_visibility(input.visible).await.gql()?;
        tx.commit().await.gql()?;
        Ok(SetRatesVisibilityPayload {
            rates_visible_to_department_heads: input.visible,
        })
    }

    /// Grants a role in a production to an existing user. Production admins only.
    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        input: GrantRoleInput,
    ) -> async_graphql::Result<GrantRolePayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_grant_roles(), "grant roles")
            .gql()?;
        let department = match input.department_id.as_deref() {
            None => None,
            Some(id) => match GlobalId::of(Kind::Department, "departmentId", id).gql()? {
                (p, id) if p == production => {
                    load_department(rc, &access, id).await?;
                    Some(id)
                }
                _ => return Err(Error::NotFound("department")).gql(),
            },
        };
        let tx = rc.tx(&access).await.gql()?;
        let m = tx
            .grant_role(&rc.store, &input.email, input.role.into(), department)
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(GrantRolePayload {
            membership: MembershipGrant {
                user_id: ID(GlobalId::User(m.user_id).encode()),
                production_id: input.production_id,
                role: m.role.into(),
                department_id: m
                    .department_id
                    .map(|id| ID(GlobalId::tenant(Kind::Department, production, id).encode())),
            },
        })
    }
}
