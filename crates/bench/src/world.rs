//! What the scenarios address: every production, department and crew member of the seeded
//! data, by crewtime's global id and by database id (PostGraphile's `UUID`).

use anyhow::{anyhow, Context, Result};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::gql::{at, Gql};

#[derive(Debug, Clone)]
pub struct Crew {
    pub gid: String,
    pub uuid: Uuid,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Dept {
    pub gid: String,
    pub uuid: Uuid,
    pub crew: Vec<Crew>,
}

#[derive(Debug, Clone)]
pub struct Prod {
    pub name: String,
    pub gid: String,
    pub schema: String,
    pub depts: Vec<Dept>,
}

impl Prod {
    pub fn crew(&self) -> impl Iterator<Item = &Crew> {
        self.depts.iter().flat_map(|d| d.crew.iter())
    }
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Result<Vec<(String, String)>> {
    let rows = db
        .query_all(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get::<String>("", "a")?, r.try_get::<String>("", "b")?)))
        .collect()
}

/// Reads the world through the API (global ids) and the database (row ids), matched by name.
pub async fn discover(g: &Gql, db: &DatabaseConnection) -> Result<Vec<Prod>> {
    let list = g
        .run(
            "{ productions(first: 100) { edges { node { id name } } } }",
            json!({}),
        )
        .await?;
    let schemas: std::collections::HashMap<String, String> = rows(
        db,
        "SELECT name AS a, schema_name AS b FROM crewtime.productions",
    )
    .await?
    .into_iter()
    .collect();
    let mut out = Vec::new();
    let edges = at(&list, "/productions/edges")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    for e in edges {
        let gid = e["node"]["id"]
            .as_str()
            .context("production id")?
            .to_owned();
        let name = e["node"]["name"].as_str().context("production name")?;
        let schema = schemas
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("no schema for {name}"))?;
        // Identifiers checked by the control table's constraint (prod_ + 32 hex digits).
        let crew_ids: std::collections::HashMap<String, Uuid> = rows(
            db,
            &format!("SELECT name AS a, id::text AS b FROM \"{schema}\".crew_members"),
        )
        .await?
        .into_iter()
        .map(|(n, id)| Ok((n, id.parse()?)))
        .collect::<Result<_>>()?;
        let dept_ids: std::collections::HashMap<String, Uuid> = rows(
            db,
            &format!("SELECT name AS a, id::text AS b FROM \"{schema}\".departments"),
        )
        .await?
        .into_iter()
        .map(|(n, id)| Ok((n, id.parse()?)))
        .collect::<Result<_>>()?;
        let d = g
            .run(
                "query($p: ID!) { production(id: $p) { departments(first: 100) { edges { node { id name } } } } }",
                json!({ "p": gid }),
            )
            .await?;
        let mut depts = Vec::new();
        for de in at(&d, "/production/departments/edges")?
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let dgid = de["node"]["id"]
                .as_str()
                .context("department id")?
                .to_owned();
            let dname = de["node"]["name"].as_str().context("department name")?;
            let mut crew = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = g
                    .run(
                        "query($p: ID!, $d: ID!, $a: String) { production(id: $p) { crew(departmentId: $d, first: 100, after: $a) {
                           edges { node { id name } } pageInfo { hasNextPage endCursor } } } }",
                        json!({ "p": gid, "d": dgid, "a": after }),
                    )
                    .await?;
                for ce in at(&page, "/production/crew/edges")?
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let name = ce["node"]["name"].as_str().context("crew name")?.to_owned();
                    crew.push(Crew {
                        gid: ce["node"]["id"].as_str().context("crew id")?.to_owned(),
                        uuid: *crew_ids
                            .get(&name)
                            .ok_or_else(|| anyhow!("no row for {name}"))?,
                        name,
                    });
                }
                if page["production"]["crew"]["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = page["production"]["crew"]["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned);
            }
            depts.push(Dept {
                gid: dgid,
                uuid: *dept_ids
                    .get(dname)
                    .ok_or_else(|| anyhow!("no row for department {dname}"))?,
                crew,
            });
        }
        out.push(Prod {
            name: name.to_owned(),
            gid,
            schema,
            depts,
        });
    }
    // Production names sort like their seed index ("Bench Production 00", ...).
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
