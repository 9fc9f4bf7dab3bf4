//! `crewtime keys rotate`: re-seals every production's personal data under the current
//! `CREWTIME_ENCRYPTION_KEY`, opening what is under the keys in `CREWTIME_ENCRYPTION_OLD_KEYS`.
//!
//! Idempotent and safe to run while nodes serve: rows already under the current key are not
//! touched, each batch is its own transaction with its rows locked, and the data's versions do
//! not change. Run it after every node has the new key configured (with the old one in the
//! old-keys list), and drop the old key only once it reports nothing left under it.

use crewtime_domain::crypto::Keyring;
use crewtime_domain::production::Production;
use crewtime_domain::Error;
use crewtime_persistence::{Store, TenantTx};

/// Rows re-sealed per transaction: small enough that a write waiting on a locked row waits
/// briefly.
const BATCH: u64 = 200;

/// What a rotation did in one production.
#[derive(Debug, Clone)]
pub struct ProductionRotation {
    pub production: Production,
    /// Rows re-sealed by this run.
    pub rotated: u64,
    /// Rows under the current key afterwards (including those that already were).
    pub current: u64,
}

/// Rotates every production in turn and reports each.
pub async fn rotate(store: &Store, keyring: &Keyring) -> anyhow::Result<Vec<ProductionRotation>> {
    let mut out = Vec::new();
    for production in store.all_productions().await.map_err(detail)? {
        let mut rotated = 0;
        loop {
            let tx = TenantTx::begin(store, &production).await.map_err(detail)?;
            let n = tx
                .rotate_personal_data(keyring, BATCH)
                .await
                .map_err(|e| in_production(&production, e))?;
            tx.commit().await.map_err(detail)?;
            rotated += n;
            if n < BATCH {
                break;
            }
        }
        let tx = TenantTx::begin(store, &production).await.map_err(detail)?;
        let counts = tx
            .personal_data_key_counts(keyring.current_id())
            .await
            .map_err(detail)?;
        tx.commit().await.map_err(detail)?;
        if counts.other > 0 {
            // Written under an older key by a node that had not been given the new one yet.
            anyhow::bail!(
                "production {}: {} rows were written under another key during the rotation; \
                 give every node the new key and run `crewtime keys rotate` again",
                production.id,
                counts.other
            );
        }
        out.push(ProductionRotation {
            production,
            rotated,
            current: counts.current,
        });
    }
    Ok(out)
}

/// An operator needs the detail an API client must not see. These details name ids, keys by
/// id and what failed; they never carry personal data.
fn detail(e: Error) -> anyhow::Error {
    match e {
        Error::Internal(detail) => anyhow::anyhow!(detail),
        other => anyhow::anyhow!(other),
    }
}

fn in_production(production: &Production, e: Error) -> anyhow::Error {
    detail(e).context(format!("production {}", production.id))
}
