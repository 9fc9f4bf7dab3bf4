//! A production's rule sets: copies of presets with overrides, versioned by effective date.

use chrono::NaiveDate;
use crewtime_domain::pay::RuleSet;
use crewtime_domain::payroll::StoredRuleSet;
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::{db_err, is_unique_violation, TenantTx};

#[derive(FromQueryResult)]
struct RuleRow {
    name: String,
    version: i32,
    effective_from: NaiveDate,
    body: serde_json::Value,
    reason: String,
}

impl TryFrom<RuleRow> for StoredRuleSet {
    type Error = Error;
    fn try_from(r: RuleRow) -> Result<Self> {
        let rules: RuleSet = serde_json::from_value(r.body).map_err(|e| {
            Error::internal(format!("stored rule set {} v{}: {e}", r.name, r.version))
        })?;
        Ok(StoredRuleSet {
            name: r.name,
            version: r.version,
            effective_from: r.effective_from,
            rules,
            reason: r.reason,
        })
    }
}

impl TenantTx {
    /// Every stored version of every rule set, oldest first.
    pub async fn rule_sets(&self) -> Result<Vec<StoredRuleSet>> {
        let rows = RuleRow::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT name, version, effective_from, body, reason FROM rule_sets ORDER BY name, version",
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        rows.into_iter().map(StoredRuleSet::try_from).collect()
    }

    /// Stores a new version of a rule set, effective from `effective_from`, and bumps the
    /// production's rules version so every cached pay figure is recomputed.
    pub async fn save_rule_set(
        &self,
        actor: Uuid,
        rules: &RuleSet,
        effective_from: NaiveDate,
        reason: &str,
    ) -> Result<StoredRuleSet> {
        self.touch_timecards_from(None, Some(&rules.name), effective_from)
            .await?;
        let body = serde_json::to_value(rules).map_err(Error::internal)?;
        let row = RuleRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO rule_sets (id, name, version, effective_from, body, reason, created_by) \
             SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4, $5, $6 FROM rule_sets WHERE name = $2 \
             RETURNING name, version, effective_from, body, reason",
            [
                Uuid::now_v7().into(),
                rules.name.clone().into(),
                effective_from.into(),
                body.into(),
                reason.to_owned().into(),
                actor.into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "{} already has a version effective from {effective_from}",
                    rules.name
                ))
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        self.conn()
            .execute(Statement::from_string(
                DbBackend::Postgres,
                "UPDATE settings SET rules_version = rules_version + 1 WHERE id = 1",
            ))
            .await
            .map_err(db_err)?;
        let stored = StoredRuleSet::try_from(row)?;
        self.audit(
            "setRuleSet",
            "RuleSet",
            None,
            None,
            Some(crate::audit::snapshot(&stored)?),
            Some(reason),
        )
        .await?;
        Ok(stored)
    }
}
