//! crewtime's schema migrations, as plain SQL run by sea-orm-migration.
//!
//! Two migrators: [`ControlMigrator`] for the `crewtime` control schema and
//! [`ProductionMigrator`], run once inside every production schema. Neither names a schema in its
//! SQL: the caller runs them in a transaction whose `search_path` is set to the target schema, so
//! the same production migrations serve every production and each schema records its own
//! history in its own `seaql_migrations` table.
//!
//! Migrations are expand/contract: a migration only adds (tables, nullable columns, indexes), and
//! removals ship a release later, so old and new nodes can serve during a rollout.

use sea_orm_migration::prelude::*;

mod control;
mod production;

pub use sea_orm_migration::MigratorTrait;

/// Migrates the control schema.
pub struct ControlMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ControlMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        control::all()
    }
}

/// Migrates one production schema.
pub struct ProductionMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ProductionMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        production::all()
    }
}

/// One migration that is a fixed block of SQL.
struct SqlMigration {
    name: &'static str,
    up: &'static str,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.up).await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Deliberately absent: rolling back drops payroll data; restore a backup instead.
        Err(DbErr::Migration(format!(
            "{} cannot be reverted; restore from a backup",
            self.name
        )))
    }
}
