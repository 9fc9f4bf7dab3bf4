//! Invitations that link a crew member to a user account so they can sign in and punch.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crewtime_domain::auth::{check_password, Role, User};
use crewtime_domain::{Error, Result};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{db_err, Store};

/// An invitation as handed to the inviter, once.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone)]
pub struct AcceptedInvitation {
    pub user: User,
    pub production_id: Uuid,
    pub crew_member_id: Uuid,
}

#[derive(FromQueryResult)]
struct InvitationRow {
    id: Uuid,
    production_id: Uuid,
    crew_member_id: Uuid,
    department_id: Uuid,
    email: String,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The email an open invitation is for, so sign-in limits can count attempts against it.
    pub async fn invitation_email(&self, token: &str) -> Result<Option<String>> {
        let row = self
            .db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT email FROM crewtime.invitations WHERE token_hash = $1 \
                 AND accepted_at IS NULL AND expires_at > now()",
                [Sha256::digest(token.as_bytes()).to_vec().into()],
            ))
            .await
            .map_err(db_err)?;
        row.map(|r| r.try_get::<String>("", "email").map_err(db_err))
            .transpose()
    }

    /// Invites `email` to sign in as a crew member of `production`. The token is shown once.
    pub async fn invite_crew_member(
        &self,
        invited_by: Uuid,
        production: Uuid,
        crew_member: Uuid,
        department: Uuid,
        email: &str,
        ttl: Duration,
    ) -> Result<IssuedInvitation> {
        let email = crewtime_domain::auth::parse_email(email)?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("inv_{}", URL_SAFE_NO_PAD.encode(secret));
        let expires_at = Utc::now() + ttl;
        self.db
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO crewtime.invitations (id, token_hash, production_id, crew_member_id, department_id, \
                 email, invited_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [
                    Uuid::now_v7().into(),
                    Sha256::digest(token.as_bytes()).to_vec().into(),
                    production.into(),
                    crew_member.into(),
                    department.into(),
                    email.into(),
                    invited_by.into(),
                    expires_at.into(),
                ],
            ))
            .await
            .map_err(db_err)?;
        Ok(IssuedInvitation { token, expires_at })
    }

    /// Accepts an invitation: signs in the existing account with that email (the password must
    /// match) or creates it, grants CREW in the production scoped to the crew member's
    /// department, and links the crew member. Any bad token is `UNAUTHENTICATED`.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
    ) -> Result<AcceptedInvitation> {
        let txn = self.db.begin().await.map_err(db_err)?;
        let row = InvitationRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, production_id, crew_member_id, department_id, email, expires_at, accepted_at \
             FROM crewtime.invitations WHERE token_hash = $1 FOR UPDATE",
            [Sha256::digest(token.as_bytes()).to_vec().into()],
        ))
        .one(&txn)
        .await
        .map_err(db_err)?
        .ok_or(Error::Unauthenticated)?;
        if row.accepted_at.is_some() || row.expires_at <= Utc::now() {
            return Err(Error::Unauthenticated);
        }
        let user = match self.user_by_email(&row.email).await? {
            Some(_) => self.verify_login(&row.email, password).await?,
            None => {
                check_password(password)?;
                self.create_user_in(&txn, &row.email, password, false)
                    .await?
            }
        };
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO crewtime.memberships (user_id, production_id, role, department_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, production_id, role) DO UPDATE SET department_id = EXCLUDED.department_id",
            [user.id.into(), row.production_id.into(), Role::Crew.as_str().into(), row.department_id.into()],
        ))
        .await
        .map_err(db_err)?;
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE crewtime.invitations SET accepted_at = now() WHERE id = $1",
            [row.id.into()],
        ))
        .await
        .map_err(db_err)?;
        let production = self.production_by_id_in(&txn, row.production_id).await?;
        crate::tenant::set_search_path(&txn, &production.schema_name).await?;
        let linked = txn
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                // Never re-link a crew member someone already punches as.
                "UPDATE crew_members SET user_id = $2, version = version + 1 WHERE id = $1 AND user_id IS NULL",
                [row.crew_member_id.into(), user.id.into()],
            ))
            .await
            .map_err(|e| {
                if crate::is_unique_violation(&e) {
                    Error::Conflict("this account already punches as another crew member".into())
                } else {
                    db_err(e)
                }
            })?;
        if linked.rows_affected() == 0 {
            return Err(Error::Conflict(
                "this crew member is already linked to an account".into(),
            ));
        }
        crate::audit::append(
            &txn,
            crate::audit::TrailLock::Take,
            &crate::audit::AuditActor {
                kind: crate::audit::ActorKind::User,
                id: Some(user.id),
                request_id: None,
            },
            "acceptInvitation",
            "Membership",
            Some(user.id),
            None,
            Some(serde_json::json!({ "role": Role::Crew, "crewMemberId": row.crew_member_id, "departmentId": row.department_id })),
            None,
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
        Ok(AcceptedInvitation {
            user,
            production_id: row.production_id,
            crew_member_id: row.crew_member_id,
        })
    }
}
