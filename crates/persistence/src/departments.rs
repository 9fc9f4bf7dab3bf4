//! Departments inside one production's schema.

use crewtime_domain::production::{Department, NewDepartment};
use crewtime_domain::{Error, Result};
use sea_orm::{DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::idempotency::{replay_id, IdempotencyKey};
use crate::{db_err, is_unique_violation, TenantTx};

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct DepartmentRow {
    id: Uuid,
    name: String,
    code: Option<String>,
    daily_budget: Option<rust_decimal::Decimal>,
    created_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str = "id, name, code, daily_budget, created_at";

impl DepartmentRow {
    pub(crate) fn of(self, production: Uuid) -> Department {
        Department {
            id: self.id,
            production_id: production,
            name: self.name,
            code: self.code,
            daily_budget: self.daily_budget,
            created_at: self.created_at,
        }
    }
}

impl TenantTx {
    pub(crate) fn department(&self, r: DepartmentRow) -> Department {
        r.of(self.production().id)
    }

    pub async fn create_department(
        &self,
        actor: Uuid,
        input: &NewDepartment,
        key: Option<&IdempotencyKey>,
    ) -> Result<Department> {
        const OP: &str = "createDepartment";
        let request = serde_json::json!({ "name": input.name, "code": input.code });
        if let Some(answer) = self.replayed(actor, OP, key, &request).await? {
            let id = replay_id(&answer, "departmentId")?;
            return self
                .department_by_id(id)
                .await?
                .ok_or(Error::NotFound("department"));
        }
        let row = DepartmentRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO departments (id, name, code) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
            ),
            [
                Uuid::now_v7().into(),
                input.name.clone().into(),
                input.code.clone().into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "a department named {:?} already exists",
                    input.name
                ))
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        let department = self.department(row);
        self.audit(
            "createDepartment",
            "Department",
            Some(department.id),
            None,
            Some(crate::audit::snapshot(&department)?),
            None,
        )
        .await?;
        self.remember_answer(
            actor,
            OP,
            key,
            &serde_json::json!({ "departmentId": department.id }),
        )
        .await?;
        Ok(department)
    }

    pub async fn department_by_id(&self, id: Uuid) -> Result<Option<Department>> {
        let row = DepartmentRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {COLUMNS} FROM departments WHERE id = $1"),
            [id.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| self.department(r)))
    }

    /// A page of departments in creation order (ids are UUIDv7).
    pub async fn departments(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Department>> {
        let rows = DepartmentRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {COLUMNS} FROM departments WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
            ),
            [after.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| self.department(r)).collect())
    }
}

impl TenantTx {
    pub async fn departments_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Department>> {
        let rows = DepartmentRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {COLUMNS} FROM departments WHERE id = ANY($1)"),
            [ids.to_vec().into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| self.department(r)).collect())
    }
}

impl TenantTx {
    /// Sets (or clears) a department's daily labour budget.
    pub async fn set_department_budget(
        &self,
        id: Uuid,
        budget: Option<rust_decimal::Decimal>,
    ) -> Result<Department> {
        let row = DepartmentRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("UPDATE departments SET daily_budget = $2, version = version + 1 WHERE id = $1 RETURNING {COLUMNS}"),
            [id.into(), budget.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?
        .ok_or(Error::NotFound("department"))?;
        let department = self.department(row);
        self.audit(
            "setDepartmentBudget",
            "Department",
            Some(id),
            None,
            Some(serde_json::json!({ "dailyBudget": department.daily_budget })),
            None,
        )
        .await?;
        Ok(department)
    }
}
