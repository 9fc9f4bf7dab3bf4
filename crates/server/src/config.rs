//! Configuration from the environment (twelve-factor). Every setting is read and checked at
//! start-up; the first bad one stops the process with one line naming it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crewtime_api::{ApiConfig, Environment, QuotaConfig, Rate};
use crewtime_domain::crypto::{development_key, Key, Keyring};

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// Everything `crewtime serve` needs.
/// Its `Debug` hides the database and Redis URLs (they may carry passwords) and, through
/// `ApiConfig`, the secrets.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub bind: SocketAddr,
    pub log_filter: String,
    pub db_pool_size: u32,
    pub shutdown_grace: Duration,
    pub api: ApiConfig,
    /// No `CREWTIME_ENCRYPTION_KEY` was given, so personal data is sealed under the public
    /// development key; the binary warns about it at start-up.
    pub development_encryption_key: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &"<redacted>")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("bind", &self.bind)
            .field("log_filter", &self.log_filter)
            .field("db_pool_size", &self.db_pool_size)
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// A development secret, so `make run` works without set-up; refused in production.
const DEV_JWT_SECRET: &str = "crewtime-development-only-secret-do-not-use-in-production";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Reads the settings from a map, so tests need not touch the process environment.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| env.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
        let environment = match get("CREWTIME_ENV").unwrap_or("development") {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => {
                return Err(ConfigError {
                    name: "CREWTIME_ENV",
                    problem: format!("{other:?} is neither \"development\" nor \"production\""),
                })
            }
        };
        let database_url = get("CREWTIME_DATABASE_URL").ok_or(ConfigError {
            name: "CREWTIME_DATABASE_URL",
            problem: "is not set (e.g. postgres://user@127.0.0.1:5432/crewtime)".into(),
        })?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError {
                name: "CREWTIME_DATABASE_URL",
                problem: "must be a postgres:// URL".into(),
            });
        }
        let redis_url = get("CREWTIME_REDIS_URL").map(str::to_owned);
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError {
                    name: "CREWTIME_REDIS_URL",
                    problem: "must be a redis:// URL".into(),
                });
            }
        }
        let jwt_secret = match (get("CREWTIME_JWT_SECRET"), environment) {
            (Some(s), _) if s.len() >= 32 => s.as_bytes().to_vec(),
            (Some(_), _) => {
                return Err(ConfigError {
                    name: "CREWTIME_JWT_SECRET",
                    problem: "must be at least 32 characters".into(),
                })
            }
            (None, Environment::Development) => DEV_JWT_SECRET.as_bytes().to_vec(),
            (None, Environment::Production) => {
                return Err(ConfigError {
                    name: "CREWTIME_JWT_SECRET",
                    problem: "is required when CREWTIME_ENV=production".into(),
                })
            }
        };
        let (keyring, development_encryption_key) = keyring(&get, environment)?;
        let bind = parse::<SocketAddr>(env, "CREWTIME_BIND", "127.0.0.1:8080")?;
        let mut api = ApiConfig::new(environment, jwt_secret, keyring);
        api.max_depth = parse(env, "CREWTIME_MAX_DEPTH", "10")?;
        api.max_complexity = parse(env, "CREWTIME_MAX_COMPLEXITY", "2000")?;
        api.max_aliases = parse(env, "CREWTIME_MAX_ALIASES", "15")?;
        api.max_batch = parse(env, "CREWTIME_MAX_BATCH", "10")?;
        api.max_body_bytes = parse(env, "CREWTIME_MAX_BODY_BYTES", "1048576")?;
        api.max_page_size = parse(env, "CREWTIME_MAX_PAGE_SIZE", "100")?;
        api.access_token_ttl =
            Duration::from_secs(parse(env, "CREWTIME_ACCESS_TOKEN_TTL_SECS", "900")?);
        api.refresh_token_ttl =
            Duration::from_secs(parse(env, "CREWTIME_REFRESH_TOKEN_TTL_SECS", "2592000")?);
        api.login_max_failures_per_account =
            positive(env, "CREWTIME_LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")?;
        api.login_max_attempts_per_address =
            positive(env, "CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS", "30")?;
        api.trust_proxy = parse(env, "CREWTIME_TRUST_PROXY", "false")?;
        api.ws_init_timeout = Duration::from_secs(
            positive::<u32>(env, "CREWTIME_WS_INIT_TIMEOUT_SECS", "10")?.into(),
        );
        api.ws_token_recheck = Duration::from_secs(
            positive::<u32>(env, "CREWTIME_WS_TOKEN_RECHECK_SECS", "30")?.into(),
        );
        api.live_meal_warning_lead = Duration::from_secs(
            u64::from(positive::<u32>(
                env,
                "CREWTIME_LIVE_MEAL_WARNING_MINUTES",
                "15",
            )?) * 60,
        );
        api.quotas = quotas(env, api.max_complexity)?;
        api.max_subscriptions_per_connection =
            positive::<u32>(env, "CREWTIME_MAX_SUBSCRIPTIONS_PER_CONNECTION", "100")? as usize;
        let protections = match get("CREWTIME_PROTECTIONS").unwrap_or("on") {
            "on" => true,
            "off" if environment == Environment::Production => {
                return Err(ConfigError {
                    name: "CREWTIME_PROTECTIONS",
                    problem: "\"off\" is for benchmarks only and is refused when \
                              CREWTIME_ENV=production"
                        .into(),
                })
            }
            "off" => false,
            other => {
                return Err(ConfigError {
                    name: "CREWTIME_PROTECTIONS",
                    problem: format!("{other:?} is neither \"on\" nor \"off\""),
                })
            }
        };
        if !protections {
            api = api.without_protections();
        }
        api.cache.max_local_entries = usize::try_from(positive::<u32>(
            env,
            "CREWTIME_CACHE_LOCAL_ENTRIES",
            "100000",
        )?)
        .unwrap_or(usize::MAX);
        api.cache.redis_ttl = Duration::from_secs(
            positive::<u32>(env, "CREWTIME_CACHE_REDIS_TTL_SECS", "3600")?.into(),
        );
        api.cache.redis_timeout = Duration::from_millis(
            positive::<u32>(env, "CREWTIME_CACHE_REDIS_TIMEOUT_MS", "100")?.into(),
        );
        Ok(Self {
            database_url: database_url.to_owned(),
            redis_url,
            bind,
            log_filter: get("CREWTIME_LOG").unwrap_or("info").to_owned(),
            db_pool_size: parse(env, "CREWTIME_DB_POOL_SIZE", "16")?,
            shutdown_grace: Duration::from_secs(parse(env, "CREWTIME_SHUTDOWN_GRACE_SECS", "20")?),
            api,
            development_encryption_key,
        })
    }
}

/// The personal-data keyring: `CREWTIME_ENCRYPTION_KEY` seals, and it and the keys in
/// `CREWTIME_ENCRYPTION_OLD_KEYS` (comma-separated) open. Without a key, development uses the
/// public development key and production refuses to start. No message quotes a key.
fn keyring<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    environment: Environment,
) -> Result<(Keyring, bool), ConfigError> {
    const CURRENT: &str = "CREWTIME_ENCRYPTION_KEY";
    const OLD: &str = "CREWTIME_ENCRYPTION_OLD_KEYS";
    let (current, development) = match (get(CURRENT), environment) {
        (Some(hex), _) => {
            let key = Key::from_hex(hex).map_err(|_| ConfigError {
                name: CURRENT,
                problem: "must be 64 hex digits (a 256-bit key)".into(),
            })?;
            if environment == Environment::Production && key.id() == development_key().id() {
                return Err(ConfigError {
                    name: CURRENT,
                    problem: "is the public development key; generate a key of your own \
                              (e.g. openssl rand -hex 32)"
                        .into(),
                });
            }
            (key, false)
        }
        (None, Environment::Development) => (development_key(), true),
        (None, Environment::Production) => {
            return Err(ConfigError {
                name: CURRENT,
                problem: "is required when CREWTIME_ENV=production (64 hex digits, \
                          e.g. from openssl rand -hex 32)"
                    .into(),
            })
        }
    };
    let old = get(OLD)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, hex)| {
            Key::from_hex(hex).map_err(|_| ConfigError {
                name: OLD,
                problem: format!("entry {} must be 64 hex digits (a 256-bit key)", i + 1),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((Keyring::new(current, old), development))
}

/// The quotas: per production `CREWTIME_QUOTA_REQUESTS_PER_SEC` / `CREWTIME_QUOTA_BURST`
/// operations and `CREWTIME_QUOTA_COST_PER_SEC` / `CREWTIME_QUOTA_COST_BURST` complexity units,
/// per caller `CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC` / `CREWTIME_QUOTA_CALLER_BURST`
/// operations. Every value is at least 1, a burst at least its rate's one second (so the rate
/// is reachable), and the cost burst at least one operation's largest cost.
fn quotas(
    env: &HashMap<String, String>,
    max_complexity: usize,
) -> Result<QuotaConfig, ConfigError> {
    let d = QuotaConfig::default();
    let rate = |per_sec: &'static str,
                burst: &'static str,
                default: Rate,
                floor: u64|
     -> Result<Rate, ConfigError> {
        let per_sec_v = positive::<u64>(env, per_sec, &default.per_sec.to_string())?;
        // An unset burst follows the rate: twice it, as the defaults.
        let burst_default = per_sec_v.saturating_mul(default.burst / default.per_sec.max(1));
        let burst_v = positive::<u64>(env, burst, &burst_default.to_string())?;
        let least = per_sec_v.max(floor);
        if burst_v < least {
            return Err(ConfigError {
                name: burst,
                problem: format!(
                    "must be at least {least} (the rate per second{})",
                    if floor > per_sec_v {
                        ", and the largest complexity one operation may have"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ok(Rate::new(per_sec_v, burst_v))
    };
    Ok(QuotaConfig {
        production_requests: rate(
            "CREWTIME_QUOTA_REQUESTS_PER_SEC",
            "CREWTIME_QUOTA_BURST",
            d.production_requests,
            1,
        )?,
        production_cost: rate(
            "CREWTIME_QUOTA_COST_PER_SEC",
            "CREWTIME_QUOTA_COST_BURST",
            d.production_cost,
            max_complexity as u64,
        )?,
        caller_requests: rate(
            "CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC",
            "CREWTIME_QUOTA_CALLER_BURST",
            d.caller_requests,
            1,
        )?,
    })
}

fn parse<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let raw = env
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(default);
    raw.parse::<T>().map_err(|e| ConfigError {
        name,
        problem: format!("{raw:?} is malformed: {e}"),
    })
}

/// A count that must be at least 1 (a limit of 0 would refuse everything).
fn positive<T>(
    env: &HashMap<String, String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialEq + From<u8>,
    T::Err: std::fmt::Display,
{
    let n = parse::<T>(env, name, default)?;
    if n == T::from(0) {
        return Err(ConfigError {
            name,
            problem: "must be at least 1".into(),
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crewtime_domain::crypto::DEVELOPMENT_KEY_HEX;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config::from_map(&env(&[
            (
                "CREWTIME_DATABASE_URL",
                "postgres://user:hunter2@127.0.0.1/db",
            ),
            (
                "CREWTIME_JWT_SECRET",
                "a-very-long-jwt-secret-that-must-stay-hidden",
            ),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("must-stay-hidden"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_apply_in_development() {
        let c = Config::from_map(&env(&[(
            "CREWTIME_DATABASE_URL",
            "postgres://x@127.0.0.1/db",
        )]))
        .unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            (c.api.max_depth, c.api.max_aliases, c.api.max_batch),
            (10, 15, 10)
        );
        assert_eq!((c.api.max_body_bytes, c.api.max_page_size), (1 << 20, 100));
        assert_eq!(
            (
                c.api.login_max_failures_per_account,
                c.api.login_max_attempts_per_address,
                c.api.trust_proxy
            ),
            (5, 30, false)
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        let db = ("CREWTIME_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let name = |pairs: &[(&str, &str)]| Config::from_map(&env(pairs)).unwrap_err().name;
        assert_eq!(name(&[]), "CREWTIME_DATABASE_URL");
        assert_eq!(
            name(&[("CREWTIME_DATABASE_URL", "mysql://x")]),
            "CREWTIME_DATABASE_URL"
        );
        assert_eq!(name(&[db, ("CREWTIME_BIND", "nowhere")]), "CREWTIME_BIND");
        assert_eq!(name(&[db, ("CREWTIME_ENV", "staging")]), "CREWTIME_ENV");
        assert_eq!(
            name(&[db, ("CREWTIME_ENV", "production")]),
            "CREWTIME_JWT_SECRET"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_JWT_SECRET", "short")]),
            "CREWTIME_JWT_SECRET"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_MAX_DEPTH", "-1")]),
            "CREWTIME_MAX_DEPTH"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_REDIS_URL", "http://x")]),
            "CREWTIME_REDIS_URL"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_ENCRYPTION_KEY", "abc")]),
            "CREWTIME_ENCRYPTION_KEY"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_LOGIN_MAX_FAILURES_PER_ACCOUNT", "0")]),
            "CREWTIME_LOGIN_MAX_FAILURES_PER_ACCOUNT"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS", "many")]),
            "CREWTIME_LOGIN_MAX_ATTEMPTS_PER_ADDRESS"
        );
        assert_eq!(
            name(&[db, ("CREWTIME_TRUST_PROXY", "yes")]),
            "CREWTIME_TRUST_PROXY"
        );
        for (var, bad) in [
            ("CREWTIME_QUOTA_REQUESTS_PER_SEC", "0"),
            ("CREWTIME_QUOTA_REQUESTS_PER_SEC", "fast"),
            ("CREWTIME_QUOTA_BURST", "-3"),
            ("CREWTIME_QUOTA_COST_PER_SEC", "1.5"),
            ("CREWTIME_QUOTA_COST_BURST", "0"),
            ("CREWTIME_QUOTA_CALLER_REQUESTS_PER_SEC", "0"),
            ("CREWTIME_QUOTA_CALLER_BURST", "x"),
            ("CREWTIME_MAX_SUBSCRIPTIONS_PER_CONNECTION", "0"),
            ("CREWTIME_PROTECTIONS", "maybe"),
        ] {
            assert_eq!(name(&[db, (var, bad)]), var, "{var}={bad}");
        }
        // A burst below its rate, or a cost burst below one operation's largest cost, could
        // never be reached.
        assert_eq!(
            name(&[
                db,
                ("CREWTIME_QUOTA_REQUESTS_PER_SEC", "50"),
                ("CREWTIME_QUOTA_BURST", "10")
            ]),
            "CREWTIME_QUOTA_BURST"
        );
        assert_eq!(
            name(&[
                db,
                ("CREWTIME_QUOTA_COST_PER_SEC", "100"),
                ("CREWTIME_QUOTA_COST_BURST", "1999")
            ]),
            "CREWTIME_QUOTA_COST_BURST"
        );
    }

    #[test]
    fn quotas_default_generously_and_follow_their_settings() {
        let db = ("CREWTIME_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let c = Config::from_map(&env(&[db])).unwrap();
        assert_eq!(c.api.quotas, QuotaConfig::default());
        assert_eq!(c.api.quotas.production_requests, Rate::new(200, 400));
        assert_eq!(c.api.quotas.production_cost, Rate::new(200_000, 400_000));
        assert_eq!(c.api.max_subscriptions_per_connection, 100);
        assert!(c.api.protections);
        let c = Config::from_map(&env(&[
            db,
            ("CREWTIME_QUOTA_REQUESTS_PER_SEC", "5"),
            ("CREWTIME_QUOTA_COST_PER_SEC", "3000"),
            ("CREWTIME_QUOTA_COST_BURST", "4000"),
            ("CREWTIME_QUOTA_CALLER_BURST", "1000"),
            ("CREWTIME_MAX_SUBSCRIPTIONS_PER_CONNECTION", "3"),
        ]))
        .unwrap();
        assert_eq!(c.api.quotas.production_requests, Rate::new(5, 10));
        assert_eq!(c.api.quotas.production_cost, Rate::new(3000, 4000));
        assert_eq!(c.api.quotas.caller_requests, Rate::new(200, 1000));
        assert_eq!(c.api.max_subscriptions_per_connection, 3);
    }

    #[test]
    fn protections_off_lifts_the_limits_and_is_refused_in_production() {
        let db = ("CREWTIME_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let c = Config::from_map(&env(&[db, ("CREWTIME_PROTECTIONS", "off")])).unwrap();
        assert!(!c.api.protections);
        assert_eq!(c.api.max_depth, usize::MAX);
        assert_eq!(c.api.max_batch, usize::MAX);
        assert!(c.api.max_page_size >= i32::MAX as usize);
        let prod = Config::from_map(&env(&[
            db,
            ("CREWTIME_ENV", "production"),
            (
                "CREWTIME_JWT_SECRET",
                "a-production-secret-of-32-characters!",
            ),
            ("CREWTIME_ENCRYPTION_KEY", KEY),
            ("CREWTIME_PROTECTIONS", "off"),
        ]))
        .unwrap_err();
        assert_eq!(prod.name, "CREWTIME_PROTECTIONS");
        assert!(prod.problem.contains("production"), "{prod}");
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const OLD: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

    #[test]
    fn the_encryption_keys_are_parsed_into_the_keyring() {
        let db = ("CREWTIME_DATABASE_URL", "postgres://x@127.0.0.1/db");
        let dev = Config::from_map(&env(&[db])).unwrap();
        assert!(dev.development_encryption_key);
        assert_eq!(
            dev.api.keyring.current_id(),
            development_key().id(),
            "development falls back to the development key"
        );
        let c = Config::from_map(&env(&[
            db,
            ("CREWTIME_ENCRYPTION_KEY", KEY),
            ("CREWTIME_ENCRYPTION_OLD_KEYS", &format!(" {OLD} ,")),
        ]))
        .unwrap();
        assert!(!c.development_encryption_key);
        assert_eq!(c.api.keyring.current_id(), Key::from_hex(KEY).unwrap().id());
        assert_eq!(
            c.api.keyring.old_ids(),
            vec![Key::from_hex(OLD).unwrap().id()]
        );
        // Debug of the whole configuration shows key ids, never keys.
        assert!(!format!("{c:?}").contains(&KEY[..16]));
    }

    #[test]
    fn production_requires_a_key_of_its_own_and_no_message_quotes_one() {
        let base = [
            ("CREWTIME_DATABASE_URL", "postgres://x@127.0.0.1/db"),
            ("CREWTIME_ENV", "production"),
            (
                "CREWTIME_JWT_SECRET",
                "a-production-secret-of-32-characters!",
            ),
        ];
        let err = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_map(&env(&pairs)).unwrap_err()
        };
        assert_eq!(err(&[]).name, "CREWTIME_ENCRYPTION_KEY");
        let dev = err(&[("CREWTIME_ENCRYPTION_KEY", DEVELOPMENT_KEY_HEX)]);
        assert_eq!(dev.name, "CREWTIME_ENCRYPTION_KEY");
        assert!(
            !dev.to_string().contains(&DEVELOPMENT_KEY_HEX[..16]),
            "{dev}"
        );
        let short = &KEY[..62];
        let bad = err(&[("CREWTIME_ENCRYPTION_KEY", short)]);
        assert!(!bad.to_string().contains(&short[..16]), "{bad}");
        let bad_old = err(&[
            ("CREWTIME_ENCRYPTION_KEY", KEY),
            ("CREWTIME_ENCRYPTION_OLD_KEYS", &format!("{OLD},{short}")),
        ]);
        assert_eq!(bad_old.name, "CREWTIME_ENCRYPTION_OLD_KEYS");
        assert!(bad_old.problem.contains("entry 2"), "{bad_old}");
        assert!(!bad_old.to_string().contains(&short[..16]), "{bad_old}");
        // Rotating away from the development key is allowed: it may be an old key.
        let mut pairs = base.to_vec();
        pairs.push(("CREWTIME_ENCRYPTION_KEY", KEY));
        pairs.push(("CREWTIME_ENCRYPTION_OLD_KEYS", DEVELOPMENT_KEY_HEX));
        assert!(Config::from_map(&env(&pairs)).is_ok());
    }
}
