//! The demo data `make run` seeds: an admin, a production and its departments. Idempotent, so
//! `make run` can be repeated.

use crewtime_domain::production::{NewDepartment, NewProduction};
use crewtime_domain::Error;
use crewtime_persistence::{IdempotencyKey, Store, TenantTx};

pub const DEMO_PRODUCTION: &str = "Demo Feature";
const DEMO_DEPARTMENTS: [(&str, &str); 5] = [
    ("Camera", "CAM"),
    ("Grip", "GRP"),
    ("Electric", "ELE"),
    ("Hair & Make-up", "HMU"),
    ("Production", "PRD"),
];

/// What the seed left in place.
pub struct DemoSeed {
    pub email: String,
    pub production_id: uuid::Uuid,
}

pub async fn seed(store: &Store, email: &str, password: &str) -> anyhow::Result<DemoSeed> {
    let admin = match store.user_by_email(email).await? {
        Some(u) => u,
        None => store.create_user(email, password, true).await?,
    };
    let new = NewProduction::parse(DEMO_PRODUCTION, "America/Los_Angeles", "USD")?;
    // A fixed idempotency key makes a second seed return the first production.
    let key = IdempotencyKey::parse("demo-seed-production")?;
    let production = store.create_production(admin.id, &new, Some(&key)).await?;
    for (name, code) in DEMO_DEPARTMENTS {
        let tx = TenantTx::begin(store, &production).await?;
        let key = IdempotencyKey::parse(&format!("demo-seed-department-{code}"))?;
        let dept = NewDepartment::parse(name, Some(code))?;
        match tx.create_department(admin.id, &dept, Some(&key)).await {
            Ok(_) => tx.commit().await?,
            Err(Error::Conflict(_)) => tx.rollback().await?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(DemoSeed {
        email: admin.email,
        production_id: production.id,
    })
}
