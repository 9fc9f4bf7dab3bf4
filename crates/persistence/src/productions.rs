//! Productions and memberships in the control schema.

use crewtime_domain::auth::{Membership, Role};
use crewtime_domain::production::{NewProduction, Production};
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait};
use uuid::Uuid;

use crate::idempotency::{self, Claim, IdempotencyKey};
use crate::{db_err, migrate, Store};

#[derive(FromQueryResult)]
pub(crate) struct ProductionRow {
    id: Uuid,
    name: String,
    timezone: String,
    currency: String,
    schema_name: String,
    rates_visible_to_department_heads: bool,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ProductionRow> for Production {
    fn from(r: ProductionRow) -> Self {
        Production {
            id: r.id,
            name: r.name,
            timezone: r.timezone,
            currency: r.currency.trim().to_owned(),
            schema_name: r.schema_name,
            rates_visible_to_department_heads: r.rates_visible_to_department_heads,
            created_at: r.created_at,
        }
    }
}

pub(crate) const PRODUCTION_COLUMNS: &str =
    "p.id, p.name, p.timezone, p.currency, p.schema_name, p.rates_visible_to_department_heads, p.created_at";

#[derive(FromQueryResult)]
struct MembershipRow {
    user_id: Uuid,
    production_id: Uuid,
    role: String,
    department_id: Option<Uuid>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = Error;
    fn try_from(r: MembershipRow) -> Result<Self> {
        Ok(Membership {
            user_id: r.user_id,
            production_id: r.production_id,
            role: Role::parse(&r.role)?,
            department_id: r.department_id,
        })
    }
}

/// The membership rows of one user in one production as the caller's view of it; `NOT_FOUND`
/// without any.
pub(crate) fn member_view(rows: Vec<sea_orm::QueryResult>) -> Result<MemberView> {
    let mut view: Option<MemberView> = None;
    for row in rows {
        let p = ProductionRow::from_query_result(&row, "").map_err(db_err)?;
        let m = Membership::try_from(MembershipRow::from_query_result(&row, "").map_err(db_err)?)?;
        view.get_or_insert_with(|| MemberView {
            production: p.into(),
            memberships: Vec::new(),
        })
        .memberships
        .push(m);
    }
    view.ok_or(Error::NotFound("production"))
}

/// The membership read, shared by `production_for_member` and `TenantTx::begin_member`.
/// `columns` and `joins` add to the read (one row per role of the caller).
pub(crate) fn member_sql(columns: &str, joins: &str) -> String {
    format!(
        "SELECT {PRODUCTION_COLUMNS}, m.user_id, m.production_id, m.role, m.department_id{columns} \
         FROM crewtime.productions p JOIN crewtime.memberships m ON m.production_id = p.id {joins} \
         WHERE p.id = $1 AND m.user_id = $2"
    )
}

/// A production with the caller's roles in it.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub production: Production,
    pub memberships: Vec<Membership>,
}

impl Store {
    /// Creates the production row, the creator's ADMIN membership and the migrated schema in one
    /// transaction. With an idempotency key, a replay returns the first production.
    pub async fn create_production(
        &self,
        actor: Uuid,
        input: &NewProduction,
        key: Option<&IdempotencyKey>,
    ) -> Result<Production> {
        const OP: &str = "createProduction";
        let txn = self.db.begin().await.map_err(db_err)?;
        // First, so a migration (holding the lock exclusively) and a creation never interleave.
        migrate::lock(&txn, true).await?;
        if let Some(key) = key {
            let hash = idempotency::request_hash(&serde_json::json!({
                "name": input.name, "timezone": input.timezone, "currency": input.currency,
            }));
            let claim =
                idempotency::claim(&txn, "crewtime.idempotency_keys", actor, OP, key, &hash)
                    .await?;
            if let Claim::Replay(v) = claim {
                let id = v
                    .get("productionId")
                    .and_then(|v| v.as_str())
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| Error::internal("stored createProduction answer malformed"))?;
                txn.commit().await.map_err(db_err)?;
                return self.production_by_id(id).await;
            }
        }
        let id = Uuid::now_v7();
        let schema_name = Production::schema_name_for(id);
        let row = ProductionRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO crewtime.productions AS p (id, name, timezone, currency, schema_name, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING p.id, p.name, p.timezone, p.currency, p.schema_name, \
             p.rates_visible_to_department_heads, p.created_at",
            [
                id.into(),
                input.name.clone().into(),
                input.timezone.clone().into(),
                input.currency.clone().into(),
                schema_name.into(),
                actor.into(),
            ],
        ))
        .one(&txn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        let production = Production::from(row);
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO crewtime.memberships (user_id, production_id, role) VALUES ($1, $2, 'ADMIN')",
            [actor.into(), id.into()],
        ))
        .await
        .map_err(db_err)?;
        migrate::create_production_schema(&txn, &production).await?;
        if let Some(key) = key {
            idempotency::complete(
                &txn,
                "crewtime.idempotency_keys",
                actor,
                OP,
                key,
                &serde_json::json!({ "productionId": id }),
            )
            .await?;
        }
        txn.commit().await.map_err(db_err)?;
        metrics::counter!("crewtime_productions_created_total").increment(1);
        Ok(production)
    }

    async fn production_by_id(&self, id: Uuid) -> Result<Production> {
        self.production_by_id_in(&self.db, id).await
    }

    pub(crate) async fn production_by_id_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: Uuid,
    ) -> Result<Production> {
        ProductionRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {PRODUCTION_COLUMNS} FROM crewtime.productions p WHERE p.id = $1"),
            [id.into()],
        ))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(Production::from)
        .ok_or(Error::NotFound("production"))
    }

    /// Every production, for migrations and operator commands; never for a client.
    pub async fn all_productions(&self) -> Result<Vec<Production>> {
        let rows = ProductionRow::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {PRODUCTION_COLUMNS} FROM crewtime.productions p ORDER BY p.id"),
        ))
        .all(&self.db)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Production::from).collect())
    }

    /// The production as seen by `user`: `NOT_FOUND` without a membership, so a production the
    /// caller does not belong to is indistinguishable from one that does not exist.
    pub async fn production_for_member(&self, user: Uuid, production: Uuid) -> Result<MemberView> {
        let rows = self
            .db
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                member_sql("", ""),
                [production.into(), user.into()],
            ))
            .await
            .map_err(db_err)?;
        member_view(rows)
    }

    /// A page of the productions `user` belongs to, in creation order (ids are UUIDv7).
    pub async fn productions_for_member(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<Production>> {
        let rows = ProductionRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT DISTINCT {PRODUCTION_COLUMNS} FROM crewtime.productions p \
                 JOIN crewtime.memberships m ON m.production_id = p.id \
                 WHERE m.user_id = $1 AND ($2::uuid IS NULL OR p.id > $2) ORDER BY p.id LIMIT $3"
            ),
            [
                user.into(),
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .all(&self.db)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Production::from).collect())
    }
}

impl Store {
    /// The roles `user` holds in each of `productions`, in one query.
    pub async fn memberships_in(
        &self,
        user: Uuid,
        productions: &[Uuid],
    ) -> Result<Vec<Membership>> {
        if productions.is_empty() {
            return Ok(Vec::new());
        }
        let rows = MembershipRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT user_id, production_id, role, department_id FROM crewtime.memberships \
             WHERE user_id = $1 AND production_id = ANY($2)",
            [user.into(), productions.to_vec().into()],
        ))
        .all(&self.db)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(Membership::try_from).collect()
    }
}

impl crate::TenantTx {
    /// Grants `role` in this transaction's production to the user with `email`, on the
    /// production's audit trail. Idempotent.
    pub async fn grant_role(
        &self,
        store: &Store,
        email: &str,
        role: Role,
        department: Option<Uuid>,
    ) -> Result<Membership> {
        let user = store
            .user_by_email(email)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let production = self.production().id;
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO crewtime.memberships (user_id, production_id, role, department_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, production_id, role) \
                 DO UPDATE SET department_id = EXCLUDED.department_id",
                [
                    user.id.into(),
                    production.into(),
                    role.as_str().into(),
                    department.into(),
                ],
            ))
            .await
            .map_err(db_err)?;
        self.audit(
            "grantRole",
            "Membership",
            Some(user.id),
            None,
            Some(
                serde_json::json!({ "userId": user.id, "role": role, "departmentId": department }),
            ),
            None,
        )
        .await?;
        Ok(Membership {
            user_id: user.id,
            production_id: production,
            role,
            department_id: department,
        })
    }
}

impl crate::TenantTx {
    /// Lets (or stops) department heads see their department's rates and pay.
    pub async fn set_rates_visibility(&self, visible: bool) -> Result<()> {
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE crewtime.productions SET rates_visible_to_department_heads = $2 WHERE id = $1",
                [self.production().id.into(), visible.into()],
            ))
            .await
            .map_err(db_err)?;
        self.audit(
            "setRatesVisibility",
            "Production",
            Some(self.production().id),
            Some(serde_json::json!({ "ratesVisibleToDepartmentHeads": self.production().rates_visible_to_department_heads })),
            Some(serde_json::json!({ "ratesVisibleToDepartmentHeads": visible })),
            None,
        )
        .await
    }
}
