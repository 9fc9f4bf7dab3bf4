//! Users, roles and memberships: who may act in which production.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role a user holds in one production. The detailed limits of each role are enforced by the
/// API layer; the set itself is fixed here so every layer agrees on the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    Accountant,
    Upm,
    Coordinator,
    DepartmentHead,
    Crew,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Accountant,
        Role::Upm,
        Role::Coordinator,
        Role::DepartmentHead,
        Role::Crew,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Accountant => "ACCOUNTANT",
            Role::Upm => "UPM",
            Role::Coordinator => "COORDINATOR",
            Role::DepartmentHead => "DEPARTMENT_HEAD",
            Role::Crew => "CREW",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown stored role {s:?}")))
    }
}

/// A signed-in user as the control schema knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    /// A studio admin may create productions and manage users; production roles are separate.
    pub is_admin: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One role of one user in one production, optionally scoped to a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub user_id: Uuid,
    pub production_id: Uuid,
    pub role: Role,
    pub department_id: Option<Uuid>,
}

/// Normalises an email address for storage and lookup; rejects what cannot be one.
pub fn parse_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid("email", "is not an email address"))
    }
}

/// Minimum password policy: long enough to resist guessing, short enough to bound hashing cost.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 10 {
        return Err(Error::invalid("password", "must be at least 10 characters"));
    }
    if password.len() > 1024 {
        return Err(Error::invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(parse_email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "@x.com",
            "ann@",
            "ann@x",
            "a b@x.com",
            "ann@.com",
            "a@b@c.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("OWNER").is_err());
    }
}
