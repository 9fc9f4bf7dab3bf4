//! `crewtime`: serve the API, migrate, print the schema, manage users, seed the demo.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use crewtime_persistence::{Store, StoreOptions};
use crewtime_server::{telemetry, Config, Server};

/// A request allocates and frees many small objects across threads (GraphQL values, JSON,
/// futures); the system allocator spent about a tenth of the server's CPU on them in
/// `scripts/profile.sh week`, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "crewtime",
    version,
    about = "Crew hours and union pay for film and TV productions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GraphQL API (configured from CREWTIME_* environment variables).
    Serve,
    /// Bring the control schema and every production schema up to date. Idempotent.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Price pay cases in the pay-vector format read from standard input (one case or a list)
    /// and print each result shaped like a vector's `expected`.
    Pay,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Productions.
    Production {
        #[command(subcommand)]
        command: ProductionCommand,
    },
    /// Crew lists.
    Crew {
        #[command(subcommand)]
        command: CrewCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Encryption keys of personal data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Demo data for `make run`.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// A studio admin may create productions.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
enum ProductionCommand {
    /// List every production: id, schema, timezone, name.
    List,
}

#[derive(Subcommand)]
enum CrewCommand {
    /// Import a crew list from CSV, all or nothing; prints a report per bad row.
    Import {
        /// The production's id (see `crewtime production list`).
        #[arg(long)]
        production: uuid::Uuid,
        /// The CSV file ("-" for standard input).
        #[arg(long)]
        file: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute a production's hash chain and name the first broken link (exit 1 if any).
    Verify {
        /// The production's id (see `crewtime production list`).
        #[arg(long)]
        production: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every production's personal data under CREWTIME_ENCRYPTION_KEY, opening what
    /// is under the keys in CREWTIME_ENCRYPTION_OLD_KEYS. Idempotent; reports each production.
    Rotate,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Create the demo admin (CREWTIME_DEMO_EMAIL, CREWTIME_DEMO_PASSWORD) and production.
    Seed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => {
            print!("{}", crewtime_api::sdl());
            return ExitCode::SUCCESS;
        }
        Command::Pay => return pay_from_stdin(),
        _ => {}
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crewtime: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config.log_filter);
    if config.development_encryption_key {
        tracing::warn!(
            "CREWTIME_ENCRYPTION_KEY is not set: personal data is encrypted with the public \
             development key; set a key of your own before storing real data"
        );
    }
    if !config.api.protections && matches!(cli.command, Command::Serve) {
        let warning = "CREWTIME_PROTECTIONS=off: quotas, the subscription cap and the depth, \
                       complexity, alias, batch, body and page limits are OFF; for benchmarks \
                       only, never expose this node";
        eprintln!("crewtime: WARNING: {warning}");
        tracing::warn!(protections = "off", "{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Named so `top -H` and perf tell the server's threads from other tokio programs'.
        .thread_name("crewtime-worker")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("crewtime: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crewtime: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Schema | Command::Pay => Ok(()),
        Command::Serve => {
            let server = Server::build(config.clone()).await?;
            let pending = server.store().pending_control_migrations().await?;
            if pending > 0 {
                anyhow::bail!(
                    "{pending} control migrations are pending; run `crewtime migrate` first"
                );
            }
            let running = server.start().await?;
            tracing::info!(addr = %running.addr, "crewtime listening");
            running.run_until_signal().await
        }
        Command::Migrate => {
            let store = store(&config).await?;
            let report = store.migrate().await?;
            println!(
                "migrated: {} control migrations applied; {} production schemas checked, {} migrations applied",
                report.control_applied, report.productions, report.production_applied
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::Create { email, admin },
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let store = store(&config).await?;
            let user = store.create_user(&email, password, admin).await?;
            println!(
                "created user {} ({})",
                user.email,
                if admin { "studio admin" } else { "user" }
            );
            Ok(())
        }
        Command::Production {
            command: ProductionCommand::List,
        } => {
            let store = store(&config).await?;
            for p in store.all_productions().await? {
                println!("{}\t{}\t{}\t{}", p.id, p.schema_name, p.timezone, p.name);
            }
            Ok(())
        }
        Command::Crew {
            command: CrewCommand::Import { production, file },
        } => {
            let text = if file == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?
            };
            let store = store(&config).await?;
            match crewtime_server::crew_import::run(&store, production, &text).await? {
                Ok(n) => {
                    println!("imported {n} crew members");
                    Ok(())
                }
                Err(problems) => {
                    for p in &problems {
                        eprintln!("line {}: {}: {}", p.line, p.column, p.message);
                    }
                    anyhow::bail!("nothing imported: {} problems", problems.len())
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { production },
        } => {
            let store = store(&config).await?;
            let production = store
                .all_productions()
                .await?
                .into_iter()
                .find(|p| p.id == production)
                .ok_or_else(|| anyhow::anyhow!("no production {production}"))?;
            let tx = crewtime_persistence::TenantTx::begin(&store, &production).await?;
            let outcome = tx.verify_audit().await?;
            tx.rollback().await?;
            match outcome {
                Ok(n) => {
                    println!("audit chain intact: {n} records");
                    Ok(())
                }
                Err(broken) => anyhow::bail!(
                    "audit chain broken at record {} ({}): {}",
                    broken.seq,
                    broken.id,
                    broken.problem
                ),
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let store = store(&config).await?;
            let keyring = &config.api.keyring;
            let report = crewtime_server::keys::rotate(&store, keyring).await?;
            let mut total = 0;
            for p in &report {
                total += p.rotated;
                println!(
                    "production {}: {} re-encrypted, {} under key {}",
                    p.production.id,
                    p.rotated,
                    p.current,
                    keyring.current_id()
                );
            }
            println!(
                "rotated: {total} rows re-encrypted in {} productions; all under key {}",
                report.len(),
                keyring.current_id()
            );
            Ok(())
        }
        Command::Demo {
            command: DemoCommand::Seed,
        } => {
            let email = std::env::var("CREWTIME_DEMO_EMAIL")
                .unwrap_or_else(|_| "admin@demo.crewtime".into());
            let password = std::env::var("CREWTIME_DEMO_PASSWORD").map_err(|_| {
                anyhow::anyhow!("CREWTIME_DEMO_PASSWORD: is not set (the demo admin's password)")
            })?;
            let store = store(&config).await?;
            let seed = crewtime_server::demo::seed(&store, &email, &password).await?;
            println!(
                "demo seeded: {} owns production {}",
                seed.email, seed.production_id
            );
            Ok(())
        }
    }
}

/// `crewtime pay`: needs no database; bad input names the field and exits 1.
fn pay_from_stdin() -> ExitCode {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("crewtime pay: cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }
    let input: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("crewtime pay: input is not JSON: {e}");
            return ExitCode::FAILURE;
        }
    };
    match crewtime_api::pay_preview(&input) {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crewtime pay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn store(config: &Config) -> anyhow::Result<Store> {
    let mut opts = StoreOptions::new(config.database_url.clone());
    opts.max_connections = 4;
    Ok(Store::connect(&opts).await?)
}
