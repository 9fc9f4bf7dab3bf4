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

/// What an integrator's API token may do in its one production. A token has no role: these
/// scopes alone answer every access question for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiScope {
    /// Read the production's departments, crew, call sheets, work days and timecards (no pay).
    ReadTime,
    /// Read pay: timecard pay, deals and rates, rule sets, the payroll export and hot cost.
    /// Pay shows hours anyway, so this scope also reads everything `ReadTime` reads.
    ReadPay,
    /// Record punches (`recordPunch`, `recordPunches`) for any crew member of the production.
    WritePunches,
    /// Read the production's audit log.
    ReadAudit,
}

impl ApiScope {
    pub const ALL: [ApiScope; 4] = [
        ApiScope::ReadTime,
        ApiScope::ReadPay,
        ApiScope::WritePunches,
        ApiScope::ReadAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::ReadTime => "READ_TIME",
            ApiScope::ReadPay => "READ_PAY",
            ApiScope::WritePunches => "WRITE_PUNCHES",
            ApiScope::ReadAudit => "READ_AUDIT",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        ApiScope::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown stored API scope {s:?}")))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of API scopes; `Copy`, so the request's principal stays cheap to pass around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ApiScopes(u8);

impl ApiScopes {
    pub fn contains(self, scope: ApiScope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in their declared order.
    pub fn iter(self) -> impl Iterator<Item = ApiScope> {
        ApiScope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<ApiScope> for ApiScopes {
    fn from_iter<I: IntoIterator<Item = ApiScope>>(iter: I) -> Self {
        ApiScopes(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

/// A checked request for a new API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub name: String,
    pub scopes: ApiScopes,
    /// `None`: the token works until it is revoked.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl NewApiToken {
    /// Checks a client's request: a name, at least one scope, an expiry (if any) in the future.
    pub fn parse(
        name: &str,
        scopes: &[ApiScope],
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self> {
        let name = crate::production::parse_name("name", name, 100)?;
        let scopes: ApiScopes = scopes.iter().copied().collect();
        if scopes.is_empty() {
            return Err(Error::invalid("scopes", "give at least one scope"));
        }
        if let Some(at) = expires_at {
            crate::time::check_instant("expiresAt", at)?;
            if at <= now {
                return Err(Error::invalid("expiresAt", "must be in the future"));
            }
        }
        Ok(Self {
            name,
            scopes,
            expires_at,
        })
    }
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

    #[test]
    fn api_scopes_round_trip_and_form_sets() {
        for s in ApiScope::ALL {
            assert_eq!(ApiScope::parse(s.as_str()).unwrap(), s);
        }
        assert!(ApiScope::parse("ADMIN").is_err());
        let set: ApiScopes = [
            ApiScope::WritePunches,
            ApiScope::ReadTime,
            ApiScope::ReadTime,
        ]
        .into_iter()
        .collect();
        assert!(set.contains(ApiScope::ReadTime) && set.contains(ApiScope::WritePunches));
        assert!(!set.contains(ApiScope::ReadPay) && !set.contains(ApiScope::ReadAudit));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [ApiScope::ReadTime, ApiScope::WritePunches]
        );
        assert!(ApiScopes::default().is_empty());
    }

    #[test]
    fn new_api_tokens_are_checked() {
        let now = chrono::Utc::now();
        let ok = NewApiToken::parse(" Payroll sync ", &[ApiScope::ReadPay], None, now).unwrap();
        assert_eq!(ok.name, "Payroll sync");
        let field = |r: Result<NewApiToken>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("not an input error: {other:?}"),
        };
        assert_eq!(
            field(NewApiToken::parse("", &[ApiScope::ReadPay], None, now)),
            "name"
        );
        assert_eq!(field(NewApiToken::parse("x", &[], None, now)), "scopes");
        let past = Some(now - chrono::Duration::seconds(1));
        assert_eq!(
            field(NewApiToken::parse("x", &[ApiScope::ReadTime], past, now)),
            "expiresAt"
        );
    }
}
