//! Crew members, deals, the crew-list import and invitations.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use crewtime_domain::crew::{
    parse_crew_csv, CrewFields, CrewMember as DomainCrew, Deal as DomainDeal,
    DealKind as DomainDealKind, DealTerms, NewCrewMember, RowProblem,
};
use crewtime_domain::time::local_date;
use crewtime_domain::Error;
use crewtime_persistence::IdempotencyKey;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::connection::page;
use super::production::{load_department, Department};
use super::session::AuthPayload;
use super::{Access, RequestCtx};
use crate::error::GqlResult;
use crate::ids::{decode_cursor, GlobalId, Kind};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum DealKind {
    /// A rate per hour.
    Hourly,
    /// "X for N hours": a day rate covering N hours (8 to 12), overtime included.
    Daily,
    /// A weekly rate covering a weekly guarantee of 40 to 84 hours over five days.
    Weekly,
}

impl From<DealKind> for DomainDealKind {
    fn from(k: DealKind) -> Self {
        match k {
            DealKind::Hourly => DomainDealKind::Hourly,
            DealKind::Daily => DomainDealKind::Daily,
            DealKind::Weekly => DomainDealKind::Weekly,
        }
    }
}

impl From<DomainDealKind> for DealKind {
    fn from(k: DomainDealKind) -> Self {
        match k {
            DomainDealKind::Hourly => DealKind::Hourly,
            DomainDealKind::Daily => DealKind::Daily,
            DomainDealKind::Weekly => DealKind::Weekly,
        }
    }
}

/// A crew member of a production.
pub(crate) struct CrewMember {
    pub(crate) access: Access,
    pub(crate) crew: DomainCrew,
}

#[Object]
impl CrewMember {
    pub(crate) async fn id(&self) -> ID {
        ID(GlobalId::tenant(Kind::CrewMember, self.access.production().id, self.crew.id).encode())
    }
    async fn name(&self) -> &str {
        &self.crew.name
    }
    /// Office roles, the crew member's department head and the crew member themself.
    async fn email(&self) -> async_graphql::Result<Option<&str>> {
        self.access
            .require(self.access.can_read_time(&self.crew), "see crew emails")
            .gql()?;
        Ok(self.crew.email.as_deref())
    }
    async fn position(&self) -> &str {
        &self.crew.position
    }
    /// The payroll occupation code.
    async fn occupation_code(&self) -> Option<&str> {
        self.crew.occupation_code.as_deref()
    }
    async fn union(&self) -> Option<&str> {
        self.crew.union_name.as_deref()
    }
    async fn local(&self) -> Option<&str> {
        self.crew.union_local.as_deref()
    }
    /// The pay rule set the crew member's time is computed with.
    async fn rule_set(&self) -> &str {
        &self.crew.rule_set
    }
    /// Whether a user account punches as this crew member.
    async fn has_account(&self) -> bool {
        self.crew.user_id.is_some()
    }
    /// Changes with every edit; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.crew.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.crew.created_at
    }
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Department> {
        load_department(RequestCtx::get(ctx), &self.access, self.crew.department_id).await
    }

    /// The deal in force on `date` (default: today in the production's timezone).
    /// `FORBIDDEN` for roles that may not see rates.
    async fn deal(
        &self,
        ctx: &Context<'_>,
        date: Option<NaiveDate>,
    ) -> async_graphql::Result<Option<Deal>> {
        if let Some(d) = date {
            crewtime_domain::time::check_date("date", d).gql()?;
        }
        let deals = self.deals_checked(ctx).await?;
        let tz = self.access.production().tz().gql()?;
        let date = date.unwrap_or_else(|| local_date(Utc::now(), tz));
        Ok(deal_on(&deals, date).cloned().map(Deal))
    }

    /// Every version of the deal, oldest first. `FORBIDDEN` for roles that may not see rates.
    async fn deals(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Deal>> {
        Ok(self
            .deals_checked(ctx)
            .await?
            .into_iter()
            .map(Deal)
            .collect())
    }

    /// The tax id and bank details, masked (null when none are stored). ADMIN, ACCOUNTANT,
    /// UPM and the crew member themself; `FORBIDDEN` to others.
    async fn personal_data(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::personal::PersonalDataMasked>> {
        super::personal::masked(ctx, self).await
    }

    /// The tax id and bank details decrypted (null when none are stored). ACCOUNTANT only;
    /// `FORBIDDEN` to everyone else, admins included. Every read is recorded with the reader,
    /// the time, the request id and the fields selected; only the selected parts are decrypted.
    async fn personal_data_full(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::personal::PersonalDataFull>> {
        super::personal::full(ctx, self).await
    }
}

impl CrewMember {
    async fn deals_checked(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DomainDeal>> {
        self.access
            .require(self.access.can_see_rates(&self.crew), "see rates")
            .gql()?;
        let rc = RequestCtx::get(ctx);
        Ok(rc
            .loaders
            .deals
            .load_one((self.access.production().id, self.crew.id))
            .await
            .gql()?
            .unwrap_or_default())
    }
}

/// The deal version in force on `date`: the latest whose effective date is not after it.
pub(crate) fn deal_on(deals: &[DomainDeal], date: NaiveDate) -> Option<&DomainDeal> {
    deals
        .iter()
        .filter(|d| d.effective_from <= date)
        .max_by_key(|d| (d.effective_from, d.version))
}

/// One version of a deal memo.
pub(crate) struct Deal(DomainDeal);

#[Object]
impl Deal {
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn effective_from(&self) -> NaiveDate {
        self.0.effective_from
    }
    async fn kind(&self) -> DealKind {
        self.0.terms.kind.into()
    }
    /// Per hour, per day or per week, by kind.
    async fn rate(&self) -> Decimal {
        self.0.terms.rate
    }
    async fn guaranteed_hours(&self) -> Option<Decimal> {
        self.0.terms.guaranteed_hours
    }
    /// The straight-time hourly rate the deal implies, shown to 4 decimal places (pay is
    /// computed with the unrounded rate).
    async fn hourly_rate(&self) -> Decimal {
        self.0.terms.hourly_rate().round_dp(4)
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub(crate) async fn load_crew(
    rc: &RequestCtx,
    access: &Access,
    id: Uuid,
) -> async_graphql::Result<CrewMember> {
    let crew = rc
        .loaders
        .crew
        .load_one((access.production().id, id))
        .await
        .gql()?
        .ok_or(Error::NotFound("crew member"))
        .gql()?;
    Ok(CrewMember {
        access: access.clone(),
        crew,
    })
}

/// Resolves a crew member id sent by a client, within the production it names.
pub(crate) async fn crew_from_id(
    rc: &RequestCtx,
    field: &str,
    id: &str,
) -> async_graphql::Result<CrewMember> {
    let (production, crew) = GlobalId::of(Kind::CrewMember, field, id).gql()?;
    let access = rc.access(production).await.gql()?;
    load_crew(rc, &access, crew).await
}

/// Crew members named by many ids that must all be of one production: every id is decoded
/// and checked against the first one's production (`field(i)` names a bad id, `item(i)` the
/// entry a second production is blamed on, `what` the list in that message), then the caller's
/// access is read once and the crew loaded in one batch. Returns the access and, per id in
/// order, its crew member when it exists.
pub(crate) async fn crew_of_one_production(
    rc: &RequestCtx,
    ids: &[&str],
    field: impl Fn(usize) -> String,
    item: impl Fn(usize) -> String,
    what: &str,
) -> async_graphql::Result<(Access, Vec<Option<DomainCrew>>)> {
    let mut production = None;
    let mut crew = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let (p, c) = GlobalId::of(Kind::CrewMember, &field(i), id).gql()?;
        if production.is_some_and(|q| q != p) {
            return Err(Error::invalid(
                item(i),
                format!("all {what} must be of one production"),
            ))
            .gql();
        }
        production = Some(p);
        crew.push(c);
    }
    let production = production.ok_or(Error::invalid(item(0), "empty")).gql()?;
    let access = rc.access(production).await.gql()?;
    let mut loaded = rc
        .loaders
        .crew
        .load_many(crew.iter().map(|c| (production, *c)))
        .await
        .gql()?;
    let found = crew
        .iter()
        .map(|c| loaded.remove(&(production, *c)))
        .collect();
    Ok((access, found))
}

pub(crate) async fn crew_page(
    ctx: &Context<'_>,
    access: &Access,
    first: Option<i32>,
    after: Option<String>,
    department_id: Option<ID>,
) -> async_graphql::Result<Connection<String, CrewMember>> {
    let rc = RequestCtx::get(ctx);
    let limit = rc.page_size(first).gql()?;
    let after = after.as_deref().map(decode_cursor).transpose().gql()?;
    let department = department_in(
        access,
        "departmentId",
        department_id.as_ref().map(|i| i.as_str()),
    )?;
    let tx = rc.tx(access).await.gql()?;
    let rows = tx
        .crew_members(&access.crew_scope(), department, after, limit + 1)
        .await
        .gql()?;
    tx.commit().await.gql()?;
    Ok(page(
        rows,
        limit,
        after.is_some(),
        |c| c.id,
        |crew| CrewMember {
            access: access.clone(),
            crew,
        },
    ))
}

/// A department id that must belong to `access`'s production.
pub(crate) fn department_in(
    access: &Access,
    field: &str,
    id: Option<&str>,
) -> async_graphql::Result<Option<Uuid>> {
    match id {
        None => Ok(None),
        Some(id) => {
            let (production, dept) = GlobalId::of(Kind::Department, field, id).gql()?;
            if production != access.production().id {
                return Err(Error::NotFound("department")).gql();
            }
            Ok(Some(dept))
        }
    }
}

#[derive(InputObject)]
pub(crate) struct DealInput {
    kind: DealKind,
    /// Per hour, per day or per week, by kind; a decimal string.
    rate: Decimal,
    /// Day rates: 8 to 12. Weekly rates: 40 to 84. Hourly: none.
    guaranteed_hours: Option<Decimal>,
    effective_from: NaiveDate,
}

impl DealInput {
    fn terms(&self) -> crewtime_domain::Result<DealTerms> {
        crewtime_domain::time::check_date("deal.effectiveFrom", self.effective_from)?;
        DealTerms::parse(self.kind.into(), self.rate, self.guaranteed_hours)
    }
}

#[derive(InputObject)]
pub(crate) struct AddCrewMemberInput {
    department_id: ID,
    name: String,
    email: Option<String>,
    position: String,
    occupation_code: Option<String>,
    union: Option<String>,
    local: Option<String>,
    /// REF-US-CREW or CA-NONUNION.
    rule_set: String,
    deal: DealInput,
    idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct CrewMemberPayload {
    crew_member: CrewMember,
}

#[derive(InputObject)]
pub(crate) struct UpdateDealInput {
    crew_member_id: ID,
    deal: DealInput,
    /// The crew member's `version` as last read.
    expected_version: i32,
    reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct UpdateDealPayload {
    crew_member: CrewMember,
    deal: Deal,
}

#[derive(InputObject)]
pub(crate) struct ImportCrewInput {
    production_id: ID,
    /// CSV with a header row naming the columns: name, email, department, position,
    /// occupation_code, union, local, deal, rate, guaranteed_hours, rule_set, effective_from.
    csv: String,
    /// Replaying the key returns the first import's crew and imports nothing.
    idempotency_key: Option<String>,
}

/// What was wrong with one row of an import.
#[derive(SimpleObject)]
pub(crate) struct ImportProblem {
    /// Line in the file, the header being line 1.
    line: i32,
    column: String,
    message: String,
}

impl From<RowProblem> for ImportProblem {
    fn from(p: RowProblem) -> Self {
        Self {
            line: i32::try_from(p.line).unwrap_or(i32::MAX),
            column: p.column,
            message: p.message,
        }
    }
}

/// An import is all or nothing: either every row was added, or none and `problems` says why.
#[derive(SimpleObject)]
pub(crate) struct ImportCrewPayload {
    imported: i32,
    crew_members: Vec<CrewMember>,
    problems: Vec<ImportProblem>,
}

#[derive(InputObject)]
pub(crate) struct InviteCrewMemberInput {
    crew_member_id: ID,
    /// Defaults to the crew member's email.
    email: Option<String>,
}

/// The invitation token is shown once; send it to the crew member.
#[derive(SimpleObject)]
pub(crate) struct InviteCrewMemberPayload {
    invitation_token: String,
    expires_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub(crate) struct AcceptInvitationInput {
    token: String,
    /// The new account's password, or the existing account's.
    password: String,
}

#[derive(Default)]
pub(crate) struct CrewMutation;

#[Object]
impl CrewMutation {
    /// Adds a crew member with the first version of their deal.
    async fn add_crew_member(
        &self,
        ctx: &Context<'_>,
        input: AddCrewMemberInput,
    ) -> async_graphql::Result<CrewMemberPayload> {
        let rc = RequestCtx::get(ctx);
        let (production, department) =
            GlobalId::of(Kind::Department, "departmentId", &input.department_id).gql()?;
        let access = rc.access(production).await.gql()?;
        let fields = CrewFields {
            name: &input.name,
            email: input.email.as_deref(),
            position: &input.position,
            occupation_code: input.occupation_code.as_deref(),
            union_name: input.union.as_deref(),
            union_local: input.local.as_deref(),
            rule_set: &input.rule_set,
        };
        let new =
            NewCrewMember::parse(fields, input.deal.terms().gql()?, input.deal.effective_from)
                .gql()?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .gql()?;
        access
            .require(access.can_manage_crew(), "add crew members")
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let crew = tx
            .add_crew_member(access.user, department, &new, key.as_ref())
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(CrewMemberPayload {
            crew_member: CrewMember { access, crew },
        })
    }

    /// Adds a new version of a crew member's deal; earlier versions stay on record.
    async fn update_deal(
        &self,
        ctx: &Context<'_>,
        input: UpdateDealInput,
    ) -> async_graphql::Result<UpdateDealPayload> {
        let rc = RequestCtx::get(ctx);
        let member = crew_from_id(rc, "crewMemberId", &input.crew_member_id).await?;
        let terms = input.deal.terms().gql()?;
        let reason = required_reason(&input.reason).gql()?;
        let access = member.access;
        access
            .require(access.can_manage_deals(), "change deals")
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let (crew, deal) = tx
            .update_deal(
                member.crew.id,
                &terms,
                input.deal.effective_from,
                input.expected_version,
                &reason,
            )
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(UpdateDealPayload {
            crew_member: CrewMember { access, crew },
            deal: Deal(deal),
        })
    }

    /// Imports a crew list from CSV, all or nothing, with a report per bad row.
    async fn import_crew(
        &self,
        ctx: &Context<'_>,
        input: ImportCrewInput,
    ) -> async_graphql::Result<ImportCrewPayload> {
        let rc = RequestCtx::get(ctx);
        let production = GlobalId::production("productionId", &input.production_id).gql()?;
        let access = rc.access(production).await.gql()?;
        access
            .require(access.can_manage_crew(), "import crew")
            .gql()?;
        let rows = match parse_crew_csv(&input.csv) {
            Ok(rows) => rows,
            Err(problems) => return Ok(rejected(problems)),
        };
        let tx = rc.tx(&access).await.gql()?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .gql()?;
        match tx
            .import_crew(access.user, &input.csv, &rows, key.as_ref())
            .await
            .gql()?
        {
            Ok(crew) => {
                tx.commit().await.gql()?;
                Ok(ImportCrewPayload {
                    imported: i32::try_from(crew.len()).unwrap_or(i32::MAX),
                    crew_members: crew
                        .into_iter()
                        .map(|crew| CrewMember {
                            access: access.clone(),
                            crew,
                        })
                        .collect(),
                    problems: Vec::new(),
                })
            }
            Err(problems) => {
                tx.rollback().await.gql()?;
                Ok(rejected(problems))
            }
        }
    }

    /// Invites a crew member to sign in and punch; the token is shown once.
    async fn invite_crew_member(
        &self,
        ctx: &Context<'_>,
        input: InviteCrewMemberInput,
    ) -> async_graphql::Result<InviteCrewMemberPayload> {
        let rc = RequestCtx::get(ctx);
        let member = crew_from_id(rc, "crewMemberId", &input.crew_member_id).await?;
        let access = &member.access;
        access
            .require(access.can_manage_crew(), "invite crew")
            .gql()?;
        // The invitation links an account to this crew member, so it goes to the crew member's
        // own email; only an admin may name one for a crew member who has none.
        let email = match (input.email, member.crew.email.clone()) {
            (Some(given), Some(own)) if given.trim().eq_ignore_ascii_case(&own) => own,
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "email",
                    "must be the crew member's own email",
                ))
                .gql()
            }
            (None, Some(own)) => own,
            (Some(given), None) if access.has_any(&[crewtime_domain::auth::Role::Admin]) => given,
            (Some(_), None) => {
                return Err(Error::Forbidden(
                    "only an admin may invite a crew member who has no email on record".into(),
                ))
                .gql()
            }
            (None, None) => {
                return Err(Error::invalid(
                    "email",
                    "the crew member has no email; an admin may give one",
                ))
                .gql()
            }
        };
        let issued = rc
            .store
            .invite_crew_member(
                access.user,
                access.production().id,
                member.crew.id,
                member.crew.department_id,
                &email,
                chrono::Duration::days(14),
            )
            .await
            .gql()?;
        Ok(InviteCrewMemberPayload {
            invitation_token: issued.token,
            expires_at: issued.expires_at,
        })
    }

    /// Accepts an invitation: creates the account (or signs in the existing one with that
    /// email), links it to the crew member, and signs in. No token needed.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> async_graphql::Result<AuthPayload> {
        let rc = RequestCtx::get(ctx);
        // Accepting checks an existing account's password: count it like a sign-in.
        let email = rc.store.invitation_email(&input.token).await.gql()?;
        let attempt = match &email {
            Some(email) => Some(rc.login_limiter.admit(email, rc.client).gql()?),
            None => None,
        };
        let accepted = rc
            .store
            .accept_invitation(&input.token, &input.password)
            .await
            .gql()?;
        if let Some(attempt) = attempt {
            rc.login_limiter.succeeded(attempt);
        }
        super::session::issue(rc, accepted.user).await
    }
}

fn rejected(problems: Vec<RowProblem>) -> ImportCrewPayload {
    ImportCrewPayload {
        imported: 0,
        crew_members: Vec::new(),
        problems: problems.into_iter().map(ImportProblem::from).collect(),
    }
}

/// A reason for a change: required, trimmed, at most 1000 characters.
pub(crate) fn required_reason(raw: &str) -> crewtime_domain::Result<String> {
    crewtime_domain::production::parse_name("reason", raw, 1000)
}
