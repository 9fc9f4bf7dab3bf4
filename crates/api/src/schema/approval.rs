//! Timecard approvals over GraphQL: submit, approve (one step at a time), reject, unlock, and
//! approve many at once.

use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use crewtime_domain::approval::{
    pending_step, ApprovalAction, ApprovalStep as DomainStep, TimecardStatus as DomainStatus,
};
use crewtime_domain::time::{check_date, check_week_ending};
use crewtime_domain::Error;
use crewtime_persistence::timecards::TimecardRecord;

use super::crew::{crew_from_id, crew_of_one_production, required_reason, CrewMember};
use super::time::{Timecard, TimecardStatus};
use super::RequestCtx;
use crate::error::GqlResult;
use crate::ids::GlobalId;
use uuid::Uuid;

#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum ApprovalStep {
    Submitted,
    Department,
    Accounting,
    Final,
}

impl From<DomainStep> for ApprovalStep {
    fn from(s: DomainStep) -> Self {
        match s {
            DomainStep::Submitted => ApprovalStep::Submitted,
            DomainStep::Department => ApprovalStep::Department,
            DomainStep::Accounting => ApprovalStep::Accounting,
            DomainStep::Final => ApprovalStep::Final,
        }
    }
}

impl From<DomainStatus> for TimecardStatus {
    fn from(s: DomainStatus) -> Self {
        match s {
            DomainStatus::Draft => TimecardStatus::Draft,
            DomainStatus::Submitted => TimecardStatus::Submitted,
            DomainStatus::DepartmentApproved => TimecardStatus::DepartmentApproved,
            DomainStatus::AccountingApproved => TimecardStatus::AccountingApproved,
            DomainStatus::Approved => TimecardStatus::Approved,
            DomainStatus::Rejected => TimecardStatus::Rejected,
        }
    }
}

/// A signature on a timecard.
#[derive(SimpleObject)]
pub(crate) struct Approval {
    step: ApprovalStep,
    /// The signing user.
    user_id: ID,
    at: DateTime<Utc>,
}

pub(crate) fn approvals(card: &TimecardRecord) -> Vec<Approval> {
    card.approvals
        .iter()
        .map(|a| Approval {
            step: a.step.into(),
            user_id: ID(GlobalId::User(a.actor_id).encode()),
            at: a.at,
        })
        .collect()
}

#[derive(InputObject)]
pub(crate) struct TimecardRef {
    crew_member_id: ID,
    week_ending: NaiveDate,
    /// The timecard's `version` as last read (0 for a card nothing has happened to yet).
    expected_version: i32,
}

#[derive(InputObject)]
pub(crate) struct TimecardReasonInput {
    crew_member_id: ID,
    week_ending: NaiveDate,
    expected_version: i32,
    reason: String,
}

#[derive(InputObject)]
pub(crate) struct ApproveTimecardsInput {
    /// All of one production; at most 500.
    timecards: Vec<TimecardRef>,
}

#[derive(SimpleObject)]
pub(crate) struct TimecardPayload {
    timecard: Timecard,
}

#[derive(SimpleObject)]
pub(crate) struct TimecardsPayload {
    timecards: Vec<Timecard>,
}

#[derive(Default)]
pub(crate) struct ApprovalMutation;

/// Applies one approval action in the caller's transaction: checks the week, then the caller's
/// right to sign the step the card is at, then moves the card.
async fn act(
    tx: &crewtime_persistence::TenantTx,
    member: &CrewMember,
    week_ending: NaiveDate,
    expected_version: i32,
    action: ApprovalAction,
    reason: Option<&str>,
) -> async_graphql::Result<()> {
    check_date("weekEnding", week_ending).gql()?;
    check_week_ending(week_ending, tx.settings().await.gql()?.work_week_ends).gql()?;
    let current = tx
        .timecards_of(&[member.crew.id], week_ending)
        .await
        .gql()?
        .pop()
        .ok_or(Error::internal("no card"))
        .gql()?;
    act_on(
        tx,
        member,
        &current,
        week_ending,
        expected_version,
        action,
        reason,
    )
    .await
}

/// `act` on a card already read (`current`) in a week already checked.
async fn act_on(
    tx: &crewtime_persistence::TenantTx,
    member: &CrewMember,
    current: &TimecardRecord,
    week_ending: NaiveDate,
    expected_version: i32,
    action: ApprovalAction,
    reason: Option<&str>,
) -> async_graphql::Result<()> {
    let CrewMember { access, crew } = member;
    let allowed = match action {
        ApprovalAction::Submit => access.can_sign(DomainStep::Submitted, crew),
        ApprovalAction::Approve | ApprovalAction::Reject => match pending_step(current.status) {
            Some(step) => access.can_sign(step, crew),
            // Not in approval: let the state machine say why (CONFLICT) to anyone who signs.
            None => access.can_sign(DomainStep::Department, crew) || access.can_unlock(),
        },
        ApprovalAction::Unlock => access.can_unlock(),
    };
    access
        .require(allowed, "sign this step of the timecard")
        .gql()?;
    // The right to sign was judged on the card as read now, unlocked; apply_approval then locks
    // it and checks the version again, so a matching version means the same status was
    // judged (every move bumps the version). A stale one is refused here, before any change.
    if current.version != expected_version {
        return Err(Error::Conflict(format!(
            "expectedVersion {expected_version} is stale; the current version is {}",
            current.version
        )))
        .gql();
    }
    tx.apply_approval(
        crew.id,
        week_ending,
        action,
        expected_version,
        reason,
        access.user,
    )
    .await
    .gql()?;
    Ok(())
}

/// One action on one card, in a transaction of its own.
async fn single(
    ctx: &Context<'_>,
    crew_member_id: &str,
    week_ending: NaiveDate,
    expected_version: i32,
    action: ApprovalAction,
    reason: Option<&str>,
) -> async_graphql::Result<TimecardPayload> {
    let rc = RequestCtx::get(ctx);
    let member = crew_from_id(rc, "crewMemberId", crew_member_id).await?;
    let tx = rc.tx(&member.access).await.gql()?;
    act(&tx, &member, week_ending, expected_version, action, reason).await?;
    tx.commit().await.gql()?;
    Ok(TimecardPayload {
        timecard: Timecard::new(member.access, member.crew, week_ending),
    })
}

#[Object]
impl ApprovalMutation {
    /// Submits a week for approval (the crew member, their department head, a UPM or admin).
    async fn submit_timecard(
        &self,
        ctx: &Context<'_>,
        input: TimecardRef,
    ) -> async_graphql::Result<TimecardPayload> {
        single(
            ctx,
            &input.crew_member_id,
            input.week_ending,
            input.expected_version,
            ApprovalAction::Submit,
            None,
        )
        .await
    }

    /// Signs the step the card is at: department (department head or UPM), accounting
    /// (accountant), final (UPM). A finally approved card is locked.
    async fn approve_timecard(
        &self,
        ctx: &Context<'_>,
        input: TimecardRef,
    ) -> async_graphql::Result<TimecardPayload> {
        single(
            ctx,
            &input.crew_member_id,
            input.week_ending,
            input.expected_version,
            ApprovalAction::Approve,
            None,
        )
        .await
    }

    /// Sends a card in approval back to the crew member, with a reason; its signatures are
    /// cleared.
    async fn reject_timecard(
        &self,
        ctx: &Context<'_>,
        input: TimecardReasonInput,
    ) -> async_graphql::Result<TimecardPayload> {
        let reason = required_reason(&input.reason).gql()?;
        single(
            ctx,
            &input.crew_member_id,
            input.week_ending,
            input.expected_version,
            ApprovalAction::Reject,
            Some(&reason),
        )
        .await
    }

    /// Unlocks a finally approved card so it can be corrected (accountants), with a reason; it
    /// returns to draft with its signatures cleared.
    async fn unlock_timecard(
        &self,
        ctx: &Context<'_>,
        input: TimecardReasonInput,
    ) -> async_graphql::Result<TimecardPayload> {
        let reason = required_reason(&input.reason).gql()?;
        single(
            ctx,
            &input.crew_member_id,
            input.week_ending,
            input.expected_version,
            ApprovalAction::Unlock,
            Some(&reason),
        )
        .await
    }

    /// Signs many cards at once, all or nothing.
    async fn approve_timecards(
        &self,
        ctx: &Context<'_>,
        input: ApproveTimecardsInput,
    ) -> async_graphql::Result<TimecardsPayload> {
        let rc = RequestCtx::get(ctx);
        if input.timecards.is_empty() || input.timecards.len() > 500 {
            return Err(Error::invalid("timecards", "give 1 to 500 timecards")).gql();
        }
        let given: Vec<&str> = input
            .timecards
            .iter()
            .map(|t| t.crew_member_id.as_str())
            .collect();
        let (access, crew) = crew_of_one_production(
            rc,
            &given,
            |i| format!("timecards[{i}].crewMemberId"),
            |i| format!("timecards[{i}]"),
            "timecards",
        )
        .await?;
        let members = crew
            .into_iter()
            .map(|c| {
                Ok(CrewMember {
                    access: access.clone(),
                    crew: c.ok_or(Error::NotFound("crew member"))?,
                })
            })
            .collect::<crewtime_domain::Result<Vec<_>>>()
            .gql()?;
        let tx = rc.tx(&access).await.gql()?;
        // The settings once, and the cards once per week named, for the whole batch.
        let ends = tx.settings().await.gql()?.work_week_ends;
        let mut cards: HashMap<(Uuid, NaiveDate), TimecardRecord> = HashMap::new();
        let mut weeks: Vec<NaiveDate> = Vec::new();
        for t in &input.timecards {
            check_date("weekEnding", t.week_ending).gql()?;
            check_week_ending(t.week_ending, ends).gql()?;
            if !weeks.contains(&t.week_ending) {
                weeks.push(t.week_ending);
            }
        }
        for week in weeks {
            let ids: Vec<Uuid> = input
                .timecards
                .iter()
                .zip(&members)
                .filter(|(t, _)| t.week_ending == week)
                .map(|(_, m)| m.crew.id)
                .collect();
            for card in tx.timecards_of(&ids, week).await.gql()? {
                cards.insert((card.crew_member_id, week), card);
            }
        }
        for (t, member) in input.timecards.iter().zip(&members) {
            let current = cards
                .get(&(member.crew.id, t.week_ending))
                .ok_or(Error::internal("no card"))
                .gql()?;
            act_on(
                &tx,
                member,
                current,
                t.week_ending,
                t.expected_version,
                ApprovalAction::Approve,
                None,
            )
            .await?;
        }
        tx.commit().await.gql()?;
        Ok(TimecardsPayload {
            timecards: input
                .timecards
                .iter()
                .zip(members)
                .map(|(t, m)| Timecard::new(m.access, m.crew, t.week_ending))
                .collect(),
        })
    }
}
