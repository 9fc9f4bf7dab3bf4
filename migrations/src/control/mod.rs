use crate::SqlMigration;
use sea_orm_migration::MigrationTrait;

pub(crate) fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(SqlMigration {
            name: "c0001_users_productions_memberships",
            up: include_str!("c0001_users_productions_memberships.sql"),
        }),
        Box::new(SqlMigration {
            name: "c0002_invitations",
            up: include_str!("c0002_invitations.sql"),
        }),
        Box::new(SqlMigration {
            name: "c0003_api_tokens",
            up: include_str!("c0003_api_tokens.sql"),
        }),
        Box::new(SqlMigration {
            name: "c0004_rates_visibility",
            up: include_str!("c0004_rates_visibility.sql"),
        }),
    ]
}
