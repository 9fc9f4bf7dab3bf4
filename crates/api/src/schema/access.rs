//! Who may do what inside one production. Every resolver asks here; the role × operation
//! table in the tests checks the answers.

use std::sync::Arc;

use crewtime_domain::auth::Role;
use crewtime_domain::crew::CrewMember;
use crewtime_domain::production::Production;
use crewtime_domain::{Error, Result};
use crewtime_persistence::crew::CrewScope;
use crewtime_persistence::productions::MemberView;
use uuid::Uuid;

/// The caller's roles in one production.
#[derive(Clone)]
pub(crate) struct Access {
    pub view: Arc<MemberView>,
    pub user: Uuid,
}

const OFFICE: [Role; 3] = [Role::Admin, Role::Upm, Role::Coordinator];
const MONEY: [Role; 3] = [Role::Admin, Role::Accountant, Role::Upm];

impl Access {
    pub(crate) fn new(view: Arc<MemberView>, user: Uuid) -> Self {
        Self { view, user }
    }

    pub(crate) fn production(&self) -> &Production {
        &self.view.production
    }

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
        crew.user_id == Some(self.user)
    }

    /// Whose crew records and time the caller may list: the office sees everyone, a
    /// department head their departments, crew themselves.
    pub(crate) fn crew_scope(&self) -> CrewScope {
        if self.has_any(&[Role::Admin, Role::Upm, Role::Accountant, Role::Coordinator]) {
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

    pub(crate) fn can_manage_crew(&self) -> bool {
        self.has_any(&OFFICE)
    }

    pub(crate) fn can_manage_call_sheets(&self) -> bool {
        self.has_any(&OFFICE)
    }

    pub(crate) fn can_manage_deals(&self) -> bool {
        self.has_any(&MONEY)
    }

    pub(crate) fn can_manage_settings(&self) -> bool {
        self.has_any(&[Role::Admin, Role::Upm])
    }

    /// Rates of a crew member: money roles, and the crew member themself.
    pub(crate) fn can_see_rates(&self, crew: &CrewMember) -> bool {
        self.has_any(&MONEY) || self.is_self(crew)
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
        self.has_any(&[Role::Admin, Role::Upm, Role::Accountant, Role::Coordinator])
            || self.heads(crew.department_id)
            || self.is_self(crew)
    }

    pub(crate) fn can_punch_for(&self, crew: &CrewMember) -> bool {
        self.has_any(&OFFICE) || self.heads(crew.department_id) || self.is_self(crew)
    }

    pub(crate) fn can_correct_time(&self, crew: &CrewMember) -> bool {
        self.has_any(&[Role::Admin, Role::Upm, Role::Accountant]) || self.heads(crew.department_id)
    }

    pub(crate) fn require(&self, allowed: bool, what: &str) -> Result<()> {
        if allowed {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "your role in this production cannot {what}"
            )))
        }
    }
}
