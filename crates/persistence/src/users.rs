//! Users and their passwords. Passwords are hashed with Argon2id off the async threads.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use crewtime_domain::auth::{check_password, parse_email, User};
use crewtime_domain::{Error, Result};
use sea_orm::{DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::{db_err, is_unique_violation, Store};

#[derive(FromQueryResult)]
struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    is_admin: bool,
    disabled: bool,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&UserRow> for User {
    fn from(r: &UserRow) -> Self {
        User {
            id: r.id,
            email: r.email.clone(),
            is_admin: r.is_admin,
            created_at: r.created_at,
        }
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, is_admin, disabled, created_at";

impl Store {
    /// Creates a user. A duplicate email is `CONFLICT`.
    pub async fn create_user(&self, email: &str, password: &str, is_admin: bool) -> Result<User> {
        self.create_user_in(&self.db, email, password, is_admin)
            .await
    }

    /// Creates a user inside the caller's transaction.
    pub(crate) async fn create_user_in<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<User> {
        let email = parse_email(email)?;
        check_password(password)?;
        let hash = hash_password(password.to_owned()).await?;
        let row = UserRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO crewtime.users (id, email, password_hash, is_admin) VALUES ($1, $2, $3, $4) \
                 RETURNING {USER_COLUMNS}"
            ),
            [Uuid::now_v7().into(), email.into(), hash.into(), is_admin.into()],
        ))
        .one(conn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict("a user with this email already exists".into())
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        Ok(User::from(&row))
    }

    /// Checks an email and password. Every failure is the same `UNAUTHENTICATED`, and an unknown
    /// email still costs one hash verification, so neither the answer nor its timing tells
    /// whether the account exists.
    pub async fn verify_login(&self, email: &str, password: &str) -> Result<User> {
        let email = parse_email(email).unwrap_or_default();
        let row = self.user_row_by_email(&email).await?;
        let stored = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let ok = verify_password(password.to_owned(), stored).await?;
        match row {
            Some(r) if ok && !r.disabled => Ok(User::from(&r)),
            _ => Err(Error::Unauthenticated),
        }
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<User>> {
        let row = UserRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {USER_COLUMNS} FROM crewtime.users WHERE id = $1 AND NOT disabled"),
            [id.into()],
        ))
        .one(&self.db)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(User::from))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = parse_email(email)?;
        Ok(self
            .user_row_by_email(&email)
            .await?
            .as_ref()
            .map(User::from))
    }

    async fn user_row_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        UserRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {USER_COLUMNS} FROM crewtime.users WHERE email = $1"),
            [email.into()],
        ))
        .one(&self.db)
        .await
        .map_err(db_err)
    }
}

async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

async fn verify_password(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&stored).map_err(|e| Error::internal(format!("stored hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

/// A hash of a random password, verified against when the email is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(Uuid::new_v4().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
