//! `crewtime crew import`: the same all-or-nothing import as the `importCrew` mutation, for
//! operators with a file.

use crewtime_domain::crew::{parse_crew_csv, RowProblem};
use crewtime_domain::Error;
use crewtime_persistence::{Store, TenantTx};
use uuid::Uuid;

/// Imports `csv` into `production`: the number imported, or every problem found.
pub async fn run(
    store: &Store,
    production: Uuid,
    csv: &str,
) -> anyhow::Result<Result<usize, Vec<RowProblem>>> {
    let production = store
        .all_productions()
        .await?
        .into_iter()
        .find(|p| p.id == production)
        .ok_or(Error::NotFound("production"))?;
    let rows = match parse_crew_csv(csv) {
        Ok(rows) => rows,
        Err(problems) => return Ok(Err(problems)),
    };
    let tx = TenantTx::begin(store, &production).await?;
    // The operator's command has no idempotency key: a re-run reports the rows as existing.
    match tx.import_crew(Uuid::nil(), csv, &rows, None).await? {
        Ok(crew) => {
            tx.commit().await?;
            Ok(Ok(crew.len()))
        }
        Err(problems) => {
            tx.rollback().await?;
            Ok(Err(problems))
        }
    }
}
