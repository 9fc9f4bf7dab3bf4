//! Crew members and their deal history, inside one production's schema.

use chrono::NaiveDate;
use crewtime_domain::crew::{
    CrewMember, Deal, DealKind, DealTerms, ImportRow, NewCrewMember, RowProblem,
};
use crewtime_domain::{Error, Result};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::idempotency::{replay_id, IdempotencyKey};
use crate::productions::{member_sql, member_view, MemberView};
use crate::tenant::qualified_query;
use crate::{db_err, is_unique_violation, Store, TenantTx};

#[derive(FromQueryResult, serde::Deserialize)]
pub(crate) struct CrewRow {
    id: Uuid,
    department_id: Uuid,
    name: String,
    email: Option<String>,
    position: String,
    occupation_code: Option<String>,
    union_name: Option<String>,
    union_local: Option<String>,
    rule_set: String,
    user_id: Option<Uuid>,
    version: i32,
    time_version: i32,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<CrewRow> for CrewMember {
    fn from(r: CrewRow) -> Self {
        CrewMember {
            id: r.id,
            department_id: r.department_id,
            name: r.name,
            email: r.email,
            position: r.position,
            occupation_code: r.occupation_code,
            union_name: r.union_name,
            union_local: r.union_local,
            rule_set: r.rule_set,
            user_id: r.user_id,
            version: r.version,
            time_version: r.time_version,
            created_at: r.created_at,
        }
    }
}

/// Which crew members a caller may list: everyone, or some departments and themself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrewScope {
    All,
    Limited { departments: Vec<Uuid>, user: Uuid },
}

impl CrewScope {
    /// Values for `($n::bool OR department_id = ANY($n+1) OR user_id = $n+2)`.
    pub(crate) fn values(&self) -> [sea_orm::Value; 3] {
        match self {
            CrewScope::All => [true.into(), Vec::<Uuid>::new().into(), Uuid::nil().into()],
            CrewScope::Limited { departments, user } => {
                [false.into(), departments.clone().into(), (*user).into()]
            }
        }
    }
}

pub(crate) const CREW_COLUMNS: &str =
    "id, department_id, name, email, position, occupation_code, union_name, \
     union_local, rule_set, user_id, version, time_version, created_at";

#[derive(FromQueryResult)]
struct DealRow {
    id: Uuid,
    crew_member_id: Uuid,
    version: i32,
    effective_from: NaiveDate,
    kind: String,
    rate: Decimal,
    guaranteed_hours: Option<Decimal>,
    reason: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<DealRow> for Deal {
    type Error = Error;
    fn try_from(r: DealRow) -> Result<Self> {
        let kind =
            DealKind::parse("kind", &r.kind).map_err(|_| Error::internal("stored deal kind"))?;
        Ok(Deal {
            id: r.id,
            crew_member_id: r.crew_member_id,
            version: r.version,
            effective_from: r.effective_from,
            terms: DealTerms {
                kind,
                rate: r.rate.normalize(),
                guaranteed_hours: r.guaranteed_hours.map(|h| h.normalize()),
            },
            reason: r.reason,
            created_at: r.created_at,
        })
    }
}

const DEAL_COLUMNS: &str =
    "id, crew_member_id, version, effective_from, kind, rate, guaranteed_hours, reason, created_at";

/// One crew member (columns prefixed `c_`) with their department (`d_`) by the id in
/// placeholder `id`; `tables` qualifies the tables ("" reads through the search path).
fn crew_with_department_sql(tables: &str, id: &str) -> String {
    format!(
        "SELECT c.id AS c_id, c.department_id AS c_department_id, c.name AS c_name, \
         c.email AS c_email, c.position AS c_position, c.occupation_code AS c_occupation_code, \
         c.union_name AS c_union_name, c.union_local AS c_union_local, \
         c.rule_set AS c_rule_set, c.user_id AS c_user_id, c.version AS c_version, \
         c.time_version AS c_time_version, c.created_at AS c_created_at, d.id AS d_id, \
         d.name AS d_name, d.code AS d_code, d.daily_budget AS d_daily_budget, \
         d.created_at AS d_created_at \
         FROM {tables}crew_members c JOIN {tables}departments d ON d.id = c.department_id \
         WHERE c.id = {id}"
    )
}

impl Store {
    /// The caller's membership of `production` and one of its crew members with their
    /// department, in one statement outside any transaction (`qualified_query`): a read of one
    /// crew member by id is one round trip. A production that does not exist is `NOT_FOUND`, as
    /// is one the caller is not a member of.
    pub async fn member_and_crew_member(
        &self,
        user: Uuid,
        production: Uuid,
        id: Uuid,
    ) -> Result<(
        MemberView,
        Option<(CrewMember, crewtime_domain::production::Department)>,
    )> {
        let sql = |tables: &str| {
            member_sql(
                ", o.*",
                &format!(
                    "LEFT JOIN ({}) AS o ON true",
                    crew_with_department_sql(tables, "$3")
                ),
            )
        };
        let values = vec![production.into(), user.into(), id.into()];
        let rows = qualified_query(self, production, sql, values)
            .await?
            .ok_or(Error::NotFound("production"))?;
        let found = match rows.first() {
            Some(row)
                if row
                    .try_get::<Option<Uuid>>("", "c_id")
                    .map_err(db_err)?
                    .is_some() =>
            {
                let crew = CrewRow::from_query_result(row, "c_").map_err(db_err)?;
                let department = crate::departments::DepartmentRow::from_query_result(row, "d_")
                    .map_err(db_err)?;
                Some((crew.into(), department.of(production)))
            }
            _ => None,
        };
        Ok((member_view(rows)?, found))
    }
}

impl TenantTx {
    /// Adds a crew member with the first version of their deal.
    pub async fn add_crew_member(
        &self,
        actor: Uuid,
        department_id: Uuid,
        input: &NewCrewMember,
        key: Option<&IdempotencyKey>,
    ) -> Result<CrewMember> {
        const OP: &str = "addCrewMember";
        let request = serde_json::json!({
            "department": department_id, "name": input.name, "email": input.email,
            "position": input.position, "deal": input.deal, "from": input.deal_effective_from,
            "ruleSet": input.rule_set, "occ": input.occupation_code, "union": input.union_name,
            "local": input.union_local,
        });
        if let Some(answer) = self.replayed(actor, OP, key, &request).await? {
            let id = replay_id(&answer, "crewMemberId")?;
            return self
                .crew_member(id)
                .await?
                .ok_or(Error::NotFound("crew member"));
        }
        if self.department_by_id(department_id).await?.is_none() {
            return Err(Error::NotFound("department"));
        }
        let member = self.insert_crew(department_id, input).await?;
        self.audit(
            "addCrewMember",
            "CrewMember",
            Some(member.id),
            None,
            Some(crate::audit::snapshot(
                &serde_json::json!({ "crewMember": member, "deal": input.deal,
                "effectiveFrom": input.deal_effective_from }),
            )?),
            None,
        )
        .await?;
        self.remember_answer(
            actor,
            OP,
            key,
            &serde_json::json!({ "crewMemberId": member.id }),
        )
        .await?;
        Ok(member)
    }

    async fn insert_crew(&self, department_id: Uuid, input: &NewCrewMember) -> Result<CrewMember> {
        let id = Uuid::now_v7();
        let row = CrewRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO crew_members (id, department_id, name, email, position, occupation_code, \
                 union_name, union_local, rule_set) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 RETURNING {CREW_COLUMNS}"
            ),
            [
                id.into(),
                department_id.into(),
                input.name.clone().into(),
                input.email.clone().into(),
                input.position.clone().into(),
                input.occupation_code.clone().into(),
                input.union_name.clone().into(),
                input.union_local.clone().into(),
                input.rule_set.clone().into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict("a crew member with this email already exists".into())
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        self.insert_deal(id, 1, &input.deal, input.deal_effective_from, None)
            .await?;
        Ok(row.into())
    }

    async fn insert_deal(
        &self,
        crew: Uuid,
        version: i32,
        terms: &DealTerms,
        effective_from: NaiveDate,
        reason: Option<&str>,
    ) -> Result<Deal> {
        let row = DealRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO deals (id, crew_member_id, version, effective_from, kind, rate, guaranteed_hours, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {DEAL_COLUMNS}"
            ),
            [
                Uuid::now_v7().into(),
                crew.into(),
                version.into(),
                effective_from.into(),
                terms.kind.as_str().into(),
                terms.rate.into(),
                terms.guaranteed_hours.into(),
                reason.map(str::to_owned).into(),
            ],
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!("a deal version already takes effect on {effective_from}"))
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("insert returned no row"))?;
        Deal::try_from(row)
    }

    /// Adds a new deal version. `expected_version` is the crew member's version as the client
    /// last saw it; a stale one is `CONFLICT`.
    pub async fn update_deal(
        &self,
        crew: Uuid,
        terms: &DealTerms,
        effective_from: NaiveDate,
        expected_version: i32,
        reason: &str,
    ) -> Result<(CrewMember, Deal)> {
        let member = self.bump_crew_version(crew, expected_version).await?;
        let next = self
            .query_i32(
                "SELECT COALESCE(max(version), 0) + 1 AS v FROM deals WHERE crew_member_id = $1",
                crew,
            )
            .await?;
        // A new deal reprices its weeks: cards there in approval go back to draft, finally
        // approved ones refuse the change until unlocked.
        self.touch_timecards_from(Some(crew), None, effective_from)
            .await?;
        let before = self.deals_of(&[crew]).await?;
        let deal = self
            .insert_deal(crew, next, terms, effective_from, Some(reason))
            .await?;
        self.audit(
            "updateDeal",
            "Deal",
            Some(deal.id),
            before.last().map(crate::audit::snapshot).transpose()?,
            Some(crate::audit::snapshot(&deal)?),
            Some(reason),
        )
        .await?;
        Ok((member, deal))
    }

    /// Checks and increments a crew member's version.
    async fn bump_crew_version(&self, crew: Uuid, expected: i32) -> Result<CrewMember> {
        let row = CrewRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "UPDATE crew_members SET version = version + 1, time_version = time_version + 1 \
                 WHERE id = $1 AND version = $2 RETURNING {CREW_COLUMNS}"
            ),
            [crew.into(), expected.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => Ok(r.into()),
            None => match self.crew_member(crew).await? {
                Some(m) => Err(Error::Conflict(format!(
                    "crew member is at version {}, not {expected}; reload and retry",
                    m.version
                ))),
                None => Err(Error::NotFound("crew member")),
            },
        }
    }

    pub(crate) async fn query_i32(&self, sql: &str, id: Uuid) -> Result<i32> {
        let row = self
            .conn()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [id.into()],
            ))
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::internal("no row"))?;
        row.try_get_by_index::<i32>(0).map_err(db_err)
    }

    pub async fn crew_member(&self, id: Uuid) -> Result<Option<CrewMember>> {
        Ok(self.crew_members_by_ids(&[id]).await?.into_iter().next())
    }

    /// A crew member with their department, in one statement (a read of one crew member by id
    /// usually shows the department too).
    pub async fn crew_member_with_department(
        &self,
        id: Uuid,
    ) -> Result<Option<(CrewMember, crewtime_domain::production::Department)>> {
        let row = self
            .conn()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                crew_with_department_sql("", "$1"),
                [id.into()],
            ))
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let crew = CrewRow::from_query_result(&row, "c_").map_err(db_err)?;
        let department =
            crate::departments::DepartmentRow::from_query_result(&row, "d_").map_err(db_err)?;
        Ok(Some((crew.into(), self.department(department))))
    }

    pub async fn crew_members_by_ids(&self, ids: &[Uuid]) -> Result<Vec<CrewMember>> {
        let rows = CrewRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {CREW_COLUMNS} FROM crew_members WHERE id = ANY($1)"),
            [ids.to_vec().into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(CrewMember::from).collect())
    }

    /// A page of crew in creation order, optionally of one department.
    pub async fn crew_members(
        &self,
        scope: &CrewScope,
        department: Option<Uuid>,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<CrewMember>> {
        let [all, departments, user] = scope.values();
        let rows = CrewRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {CREW_COLUMNS} FROM crew_members WHERE ($1::uuid IS NULL OR department_id = $1) \
                 AND ($2::uuid IS NULL OR id > $2) \
                 AND ($4::bool OR department_id = ANY($5) OR user_id = $6) ORDER BY id LIMIT $3"
            ),
            [
                department.into(),
                after.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
                all,
                departments,
                user,
            ],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(CrewMember::from).collect())
    }

    /// Every deal version of the given crew members, oldest first.
    pub async fn deals_of(&self, crew: &[Uuid]) -> Result<Vec<Deal>> {
        let rows = DealRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {DEAL_COLUMNS} FROM deals WHERE crew_member_id = ANY($1) ORDER BY crew_member_id, version"
            ),
            [crew.to_vec().into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        rows.into_iter().map(Deal::try_from).collect()
    }

    /// Imports a crew list all or nothing: departments are matched by name or code
    /// (case-insensitive), and rows whose email is already on the crew are reported.
    pub async fn import_crew(
        &self,
        actor: Uuid,
        csv: &str,
        rows: &[ImportRow],
        key: Option<&IdempotencyKey>,
    ) -> Result<std::result::Result<Vec<CrewMember>, Vec<RowProblem>>> {
        const OP: &str = "importCrew";
        let request = serde_json::json!({ "csv": csv });
        if let Some(answer) = self.replayed(actor, OP, key, &request).await? {
            let ids: Vec<Uuid> = serde_json::from_value(answer["crewMemberIds"].clone())
                .map_err(|e| Error::internal(format!("stored import answer: {e}")))?;
            let mut crew = self.crew_members_by_ids(&ids).await?;
            crew.sort_by_key(|c| c.id);
            return Ok(Ok(crew));
        }
        let result = self.import_rows(rows).await?;
        if let Ok(crew) = &result {
            let ids: Vec<Uuid> = crew.iter().map(|c| c.id).collect();
            self.audit(
                "importCrew",
                "CrewList",
                None,
                None,
                Some(serde_json::json!({ "imported": ids.len(), "crewMemberIds": ids })),
                None,
            )
            .await?;
            self.remember_answer(actor, OP, key, &serde_json::json!({ "crewMemberIds": ids }))
                .await?;
        }
        Ok(result)
    }

    async fn import_rows(
        &self,
        rows: &[ImportRow],
    ) -> Result<std::result::Result<Vec<CrewMember>, Vec<RowProblem>>> {
        let departments = self.departments(None, 10_000).await?;
        let existing: std::collections::HashSet<String> = self
            .conn()
            .query_all(Statement::from_string(
                DbBackend::Postgres,
                "SELECT lower(email) AS e FROM crew_members WHERE email IS NOT NULL",
            ))
            .await
            .map_err(db_err)?
            .into_iter()
            .filter_map(|r| r.try_get::<String>("", "e").ok())
            .collect();
        let mut problems = Vec::new();
        let mut resolved = Vec::new();
        for row in rows {
            let wanted = row.department.to_lowercase();
            let dept = departments.iter().find(|d| {
                d.name.to_lowercase() == wanted
                    || d.code
                        .as_deref()
                        .is_some_and(|c| c.to_lowercase() == wanted)
            });
            match dept {
                None => problems.push(RowProblem {
                    line: row.line,
                    column: "department".into(),
                    message: format!("no department is named {:?}", row.department),
                }),
                Some(_)
                    if row
                        .member
                        .email
                        .as_ref()
                        .is_some_and(|e| existing.contains(e)) =>
                {
                    problems.push(RowProblem {
                        line: row.line,
                        column: "email".into(),
                        message: "a crew member with this email already exists".into(),
                    })
                }
                Some(d) => resolved.push((d.id, &row.member)),
            }
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let mut out = Vec::with_capacity(resolved.len());
        for (dept, member) in resolved {
            out.push(self.insert_crew(dept, member).await?);
        }
        Ok(Ok(out))
    }
}
