//! Who may do what inside one production. Every resolver asks here; the role × operation
//! table and the API scope × operation table in the tests check the answers.
//!
//! A person's answers come from their roles. An API token has no role: its answers come from
//! its scopes alone, so no resolver needs to know which kind of caller it serves.

use std::sync::Arc;

use crewtime_domain::approval::ApprovalStep;
use crewtime_domain::auth::{ApiScope, ApiScopes, Role};
use crewtime_domain::crew::CrewMember;
use crewtime_domain::production::Production;
use crewtime_domain::{Error, Result};
use crewtime_persistence::crew::CrewScope;
use crewtime_persistence::productions::MemberView;
use uuid::Uuid;

/// The caller's roles (or API scopes) in one production.
#[derive(Clone)]
pub(crate) struct Access {
    pub view: Arc<MemberView>,
    /// The actor recorded on writes: the user's id, or for an API token the token's id.
    pub user: Uuid,
    /// `Some` for an API token; then `view.memberships` is empty and only these count.
    scopes: Option<ApiScopes>,
}

const OFFICE: [Role; 3] = [Role::Admin, Role::Upm, Role::Coordinator];
const MONEY: [Role; 3] = [Role::Admin, Role::Accountant, Role::Upm];

impl Access {
    pub(crate) fn new(view: Arc<MemberView>, user: Uuid) -> Self {
        Self {
            view,
            user,
            scopes: None,
        }
    }

    /// An API token's access to its production.
    pub(crate) fn for_token(view: Arc<MemberView>, token: Uuid, scopes: ApiScopes) -> Self {
        Self {
            view,
            user: token,
            scopes: Some(scopes),
        }
    }

    pub(crate) fn production(&self) -> &Production {
        &self.view.production
    }

    /// Whether the caller holds one of `roles`; never true for an API token, which holds none.
    pub(crate) fn has_any(&self, roles: &[Role]) -> bool {
        self.view
            .memberships
            .iter()
            .any(|m| roles.contains(&m.role))
    }

    fn heads(&self, department: Uuid) -> bool {
        self.view
            .memberships
            .iter()
            .any(|m| m.role == Role::DepartmentHead && m.department_id == Some(department))
    }

    fn is_self(&self, crew: &CrewMember) -> bool {
        self.scopes.is_none() && crew.user_id == Some(self.user)
    }

    /// For an API token: whether it holds `scope`. `None` for a person.
    fn token_has(&self, scope: ApiScope) -> Option<bool> {
        self.scopes.map(|s| s.contains(scope))
    }

    /// For an API token: whether it may read time. Pay shows the hours it is computed from, so
    /// READ_PAY reads time too.
    fn token_reads_time(&self) -> Option<bool> {
        self.scopes
            .map(|s| s.contains(ApiScope::ReadTime) || s.contains(ApiScope::ReadPay))
    }

    /// Whose crew records and time the caller may list: the office sees everyone, a
    /// department head their departments, crew themselves, a token that reads time everyone.
    pub(crate) fn crew_scope(&self) -> CrewScope {
        let everyone = match self.token_reads_time() {
            Some(reads) => reads,
            None => self.has_any(&[Role::Admin, Role::Upm, Role::Accountant, Role::Coordinator]),
        };
        if everyone {
            return CrewScope::All;
        }
        CrewScope::Limited {
            departments: self
                .view
                .memberships
                .iter()
                .filter(|m| m.role == Role::DepartmentHead)
                .filter_map(|m| m.department_id)
                .collect(),
            user: self.user,
        }
    }

    /// The production's records and lists (departments, crew, call sheets, timecards): every
    /// member (lists hold what `crew_scope` allows); a token only when it reads time.
    pub(crate) fn can_read_records(&self) -> bool {
        self.token_reads_time().unwrap_or(true)
    }

    /// The production's rule set versions: every member; a token only with READ_PAY.
    pub(crate) fn can_read_rule_sets(&self) -> bool {
        self.token_has(ApiScope::ReadPay).unwrap_or(true)
    }

    pub(crate) fn can_manage_crew(&self) -> bool {
        self.scopes.is_none() && self.has_any(&OFFICE)
    }

    pub(crate) fn can_manage_call_sheets(&self) -> bool {
        self.scopes.is_none() && self.has_any(&OFFICE)
    }

    pub(crate) fn can_manage_deals(&self) -> bool {
        self.scopes.is_none() && self.has_any(&MONEY)
    }

    /// The payroll export and the hot cost report: money roles; a token with READ_PAY.
    pub(crate) fn can_read_payroll(&self) -> bool {
        self.token_has(ApiScope::ReadPay)
            .unwrap_or_else(|| self.has_any(&MONEY))
    }

    pub(crate) fn can_manage_settings(&self) -> bool {
        self.scopes.is_none() && self.has_any(&[Role::Admin, Role::Upm])
    }

    /// Granting roles: the production's admins.
    pub(crate) fn can_grant_roles(&self) -> bool {
        self.scopes.is_none() && self.has_any(&[Role::Admin])
    }

    /// Creating, listing and revoking API tokens: the production's admins (never a token).
    pub(crate) fn can_manage_api_tokens(&self) -> bool {
        self.scopes.is_none() && self.has_any(&[Role::Admin])
    }

    /// Rates and pay of a crew member: money roles, the crew member themself, their department
    /// head where the production allows it, a token with READ_PAY.
    pub(crate) fn can_see_rates(&self, crew: &CrewMember) -> bool {
        self.token_has(ApiScope::ReadPay).unwrap_or_else(|| {
            self.has_any(&MONEY)
                || self.is_self(crew)
                || (self.production().rates_visible_to_department_heads
                    && self.heads(crew.department_id))
        })
    }

    pub(crate) fn can_submit(&self, crew: &CrewMember) -> bool {
        self.scopes.is_none()
            && (self.has_any(&[Role::Admin, Role::Upm])
                || self.heads(crew.department_id)
                || self.is_self(crew))
    }

    /// Who signs each step: the department head, then the accountant, then the UPM (an admin
    /// may sign any). Tokens sign nothing.
    pub(crate) fn can_sign(&self, step: ApprovalStep, crew: &CrewMember) -> bool {
        self.scopes.is_none()
            && (self.has_any(&[Role::Admin])
                || match step {
                    ApprovalStep::Submitted => self.can_submit(crew),
                    ApprovalStep::Department => {
                        self.heads(crew.department_id) || self.has_any(&[Role::Upm])
                    }
                    ApprovalStep::Accounting => self.has_any(&[Role::Accountant]),
                    ApprovalStep::Final => self.has_any(&[Role::Upm]),
                })
    }

    pub(crate) fn can_unlock(&self) -> bool {
        self.scopes.is_none() && self.has_any(&[Role::Accountant, Role::Admin])
    }

    /// The audit trail: admins, accountants, tokens with READ_AUDIT.
    pub(crate) fn can_read_audit(&self) -> bool {
        self.token_has(ApiScope::ReadAudit)
            .unwrap_or_else(|| self.has_any(&[Role::Admin, Role::Accountant]))
    }

    /// Whether audit records may show money (deals, rates, rule sets): not to a token without
    /// READ_PAY, which could otherwise read rates through the trail.
    pub(crate) fn can_read_money_in_audit(&self) -> bool {
        self.token_has(ApiScope::ReadPay).unwrap_or(true)
    }

    /// Whether the caller is an API token (audit records name it as such).
    pub(crate) fn is_token(&self) -> bool {
        self.scopes.is_some()
    }

    /// Storing a crew member's tax id and bank details: money roles, and the crew member
    /// themself (who is the one to know them).
    pub(crate) fn can_set_personal_data(&self, crew: &CrewMember) -> bool {
        self.has_any(&MONEY) || self.is_self(crew)
    }

    /// Masked personal data (kinds and last four digits): money roles and the crew member
    /// themself.
    pub(crate) fn can_see_masked_personal_data(&self, crew: &CrewMember) -> bool {
        self.has_any(&MONEY) || self.is_self(crew)
    }

    /// Decrypted personal data: accountants only, who run payroll. Deliberately not admins
    /// (who may grant themselves any role, which is then on record) nor the crew member.
    pub(crate) fn can_read_full_personal_data(&self) -> bool {
        self.has_any(&[Role::Accountant])
    }

    pub(crate) fn can_read_time(&self, crew: &CrewMember) -> bool {
        self.token_reads_time().unwrap_or_else(|| {
            self.has_any(&[Role::Admin, Role::Upm, Role::Accountant, Role::Coordinator])
                || self.heads(crew.department_id)
                || self.is_self(crew)
        })
    }

    /// Recording punches: the office, the department's head, the crew member themself; a token
    /// with WRITE_PUNCHES for anyone in its production.
    pub(crate) fn can_punch_for(&self, crew: &CrewMember) -> bool {
        self.token_has(ApiScope::WritePunches).unwrap_or_else(|| {
            self.has_any(&OFFICE) || self.heads(crew.department_id) || self.is_self(crew)
        })
    }

    pub(crate) fn can_correct_time(&self, crew: &CrewMember) -> bool {
        self.scopes.is_none()
            && (self.has_any(&[Role::Admin, Role::Upm, Role::Accountant])
                || self.heads(crew.department_id))
    }

    pub(crate) fn require(&self, allowed: bool, what: &str) -> Result<()> {
        match (allowed, self.scopes) {
            (true, _) => Ok(()),
            (false, None) => Err(Error::Forbidden(format!(
                "your role in this production cannot {what}"
            ))),
            (false, Some(_)) => Err(Error::Forbidden(format!(
                "this API token's scopes do not allow it to {what}"
            ))),
        }
    }
}
