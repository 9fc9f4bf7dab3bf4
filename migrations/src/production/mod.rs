use crate::SqlMigration;
use sea_orm_migration::MigrationTrait;

pub(crate) fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(SqlMigration {
            name: "p0001_departments",
            up: include_str!("p0001_departments.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0002_crew_call_sheets_punches",
            up: include_str!("p0002_crew_call_sheets_punches.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0003_rule_sets_budgets",
            up: include_str!("p0003_rule_sets_budgets.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0004_audit_approvals",
            up: include_str!("p0004_audit_approvals.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0004_personal_data",
            up: include_str!("p0004_personal_data.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0005_live_outbox",
            up: include_str!("p0005_live_outbox.sql"),
        }),
        Box::new(SqlMigration {
            name: "p0006_crew_weeks",
            up: include_str!("p0006_crew_weeks.sql"),
        }),
    ]
}
