//! The weekly timecard's approval path: submit → department → accounting → final. A rejection
//! sends the card back to the crew member with a reason; an accountant unlocks a finally
//! approved card with a reason.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimecardStatus {
    Draft,
    Submitted,
    DepartmentApproved,
    AccountingApproved,
    /// Finally approved: locked until unlocked.
    Approved,
    /// Sent back with a reason; edited and submitted again like a draft.
    Rejected,
}

impl TimecardStatus {
    pub const ALL: [TimecardStatus; 6] = [
        TimecardStatus::Draft,
        TimecardStatus::Submitted,
        TimecardStatus::DepartmentApproved,
        TimecardStatus::AccountingApproved,
        TimecardStatus::Approved,
        TimecardStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimecardStatus::Draft => "DRAFT",
            TimecardStatus::Submitted => "SUBMITTED",
            TimecardStatus::DepartmentApproved => "DEPARTMENT_APPROVED",
            TimecardStatus::AccountingApproved => "ACCOUNTING_APPROVED",
            TimecardStatus::Approved => "APPROVED",
            TimecardStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        TimecardStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown stored timecard status {s:?}")))
    }

    /// Somewhere between submission and final approval: an edit sends it back to draft.
    pub fn in_approval(self) -> bool {
        matches!(
            self,
            TimecardStatus::Submitted
                | TimecardStatus::DepartmentApproved
                | TimecardStatus::AccountingApproved
        )
    }
}

/// A signature on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApprovalStep {
    Submitted,
    Department,
    Accounting,
    Final,
}

impl ApprovalStep {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStep::Submitted => "SUBMITTED",
            ApprovalStep::Department => "DEPARTMENT",
            ApprovalStep::Accounting => "ACCOUNTING",
            ApprovalStep::Final => "FINAL",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "SUBMITTED" => Ok(ApprovalStep::Submitted),
            "DEPARTMENT" => Ok(ApprovalStep::Department),
            "ACCOUNTING" => Ok(ApprovalStep::Accounting),
            "FINAL" => Ok(ApprovalStep::Final),
            other => Err(Error::internal(format!(
                "unknown stored approval step {other:?}"
            ))),
        }
    }
}

/// What someone does to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalAction {
    Submit,
    Approve,
    Reject,
    Unlock,
}

/// The step an approval now would sign, by the card's status.
pub fn pending_step(status: TimecardStatus) -> Option<ApprovalStep> {
    match status {
        TimecardStatus::Submitted => Some(ApprovalStep::Department),
        TimecardStatus::DepartmentApproved => Some(ApprovalStep::Accounting),
        TimecardStatus::AccountingApproved => Some(ApprovalStep::Final),
        _ => None,
    }
}

/// The status after `action`, and the signature it records; a move the path does not allow is
/// `CONFLICT` (the card is not where the caller thought).
pub fn transition(
    status: TimecardStatus,
    action: ApprovalAction,
) -> Result<(TimecardStatus, Option<ApprovalStep>)> {
    use ApprovalAction::*;
    use TimecardStatus::*;
    let refuse = |what: &str| {
        Err(Error::Conflict(format!(
            "a {} timecard cannot be {what}",
            status.as_str().to_lowercase().replace('_', " ")
        )))
    };
    match (action, status) {
        (Submit, Draft | Rejected) => Ok((Submitted, Some(ApprovalStep::Submitted))),
        (Submit, _) => refuse("submitted"),
        (Approve, Submitted) => Ok((DepartmentApproved, Some(ApprovalStep::Department))),
        (Approve, DepartmentApproved) => Ok((AccountingApproved, Some(ApprovalStep::Accounting))),
        (Approve, AccountingApproved) => Ok((Approved, Some(ApprovalStep::Final))),
        (Approve, _) => refuse("approved"),
        (Reject, s) if s.in_approval() => Ok((Rejected, None)),
        (Reject, _) => refuse("rejected"),
        (Unlock, Approved) => Ok((Draft, None)),
        (Unlock, _) => refuse("unlocked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApprovalAction::*;
    use TimecardStatus::*;

    #[test]
    fn the_path_runs_submit_department_accounting_final() {
        let mut s = Draft;
        for (action, next) in [
            (Submit, Submitted),
            (Approve, DepartmentApproved),
            (Approve, AccountingApproved),
            (Approve, Approved),
            (Unlock, Draft),
        ] {
            s = transition(s, action).unwrap().0;
            assert_eq!(s, next);
        }
    }

    #[test]
    fn moves_off_the_path_conflict() {
        for (status, action) in [
            (Draft, Approve),
            (Draft, Reject),
            (Submitted, Submit),
            (Approved, Approve),
            (Approved, Reject),
            (Submitted, Unlock),
        ] {
            assert!(
                matches!(transition(status, action), Err(Error::Conflict(_))),
                "{status:?} {action:?}"
            );
        }
        assert_eq!(transition(AccountingApproved, Reject).unwrap().0, Rejected);
        assert_eq!(transition(Rejected, Submit).unwrap().0, Submitted);
    }
}
