//! Sign-in throttling: at most N failed sign-ins per account and M attempts per client address
//! in a fixed window (15 minutes from the first counted attempt). Over either limit, `login`
//! answers `RATE_LIMITED` before any password check, and the same whether the account exists.
//!
//! The counters live in this process, in two maps bounded in size. With several nodes each node
//! limits on its own (so a cluster allows up to nodes × the limits); shared limits in Redis come
//! with the realtime work.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crewtime_domain::{Error, Result};
use sha2::{Digest, Sha256};

/// How long a counter lasts from its first attempt.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Keys per map. Past this, expired counters are dropped and then the oldest; an attacker must
/// spread over this many accounts (and, through the address limit, many addresses) within one
/// window to push a victim's counter out.
const CAPACITY: usize = 100_000;

struct Counter {
    started: Instant,
    count: u32,
}

struct Counters<K> {
    map: HashMap<K, Counter>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Counters<K> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
        }
    }

    fn count(&self, key: &K, now: Instant, window: Duration) -> u32 {
        self.map
            .get(key)
            .filter(|c| now.duration_since(c.started) < window)
            .map_or(0, |c| c.count)
    }

    fn add(&mut self, key: &K, now: Instant, window: Duration) {
        if !self.map.contains_key(key) && self.map.len() >= self.capacity {
            self.map
                .retain(|_, c| now.duration_since(c.started) < window);
            if self.map.len() >= self.capacity {
                let oldest = self
                    .map
                    .iter()
                    .min_by_key(|(_, c)| c.started)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.map.remove(&k);
                }
            }
        }
        let counter = self.map.entry(key.clone()).or_insert(Counter {
            started: now,
            count: 0,
        });
        if now.duration_since(counter.started) >= window {
            *counter = Counter {
                started: now,
                count: 0,
            };
        }
        counter.count = counter.count.saturating_add(1);
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }
}

/// An account is counted by a hash of its normalised email, so no address is kept in memory.
type AccountKey = [u8; 32];

pub(crate) struct LoginLimiter {
    max_failures_per_account: u32,
    max_attempts_per_address: u32,
    window: Duration,
    // Locked in this order (addresses, then accounts) wherever both are needed.
    addresses: Mutex<Counters<IpAddr>>,
    accounts: Mutex<Counters<AccountKey>>,
}

/// An admitted sign-in attempt. It was counted as a failure up front, so that concurrent
/// attempts cannot overshoot the limit; a success takes the account's count back to zero.
pub(crate) struct LoginAttempt {
    account: AccountKey,
}

impl LoginLimiter {
    pub(crate) fn new(max_failures_per_account: u32, max_attempts_per_address: u32) -> Self {
        Self::with(
            max_failures_per_account,
            max_attempts_per_address,
            WINDOW,
            CAPACITY,
        )
    }

    fn with(failures: u32, attempts: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max_failures_per_account: failures,
            max_attempts_per_address: attempts,
            window,
            addresses: Mutex::new(Counters::new(capacity)),
            accounts: Mutex::new(Counters::new(capacity)),
        }
    }

    /// Admits a sign-in for `email` from `client`, or refuses it with `RATE_LIMITED`.
    pub(crate) fn admit(&self, email: &str, client: Option<IpAddr>) -> Result<LoginAttempt> {
        self.admit_at(email, client, Instant::now())
    }

    fn admit_at(&self, email: &str, client: Option<IpAddr>, now: Instant) -> Result<LoginAttempt> {
        let account = account_key(email);
        let address = client.map(address_key);
        let poisoned = || Error::internal("login limiter lock poisoned");
        let mut addresses = self.addresses.lock().map_err(|_| poisoned())?;
        let mut accounts = self.accounts.lock().map_err(|_| poisoned())?;
        let address_full = address.is_some_and(|a| {
            addresses.count(&a, now, self.window) >= self.max_attempts_per_address
        });
        let account_full =
            accounts.count(&account, now, self.window) >= self.max_failures_per_account;
        if address_full || account_full {
            // One message for both limits: which one tripped says nothing about the account.
            return Err(Error::RateLimited(
                "too many sign-in attempts; try again later".into(),
            ));
        }
        if let Some(a) = address {
            addresses.add(&a, now, self.window);
        }
        accounts.add(&account, now, self.window);
        Ok(LoginAttempt { account })
    }

    /// The attempt signed in: its account starts afresh.
    pub(crate) fn succeeded(&self, attempt: LoginAttempt) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.clear(&attempt.account);
        }
    }
}

fn account_key(email: &str) -> AccountKey {
    let normalised =
        crewtime_domain::auth::parse_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    Sha256::digest(normalised.as_bytes()).into()
}

/// IPv4 addresses count one by one; IPv6 addresses by their /64, the block one subscriber
/// usually holds (counting single IPv6 addresses would let one host rotate forever).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_per_account_are_limited_across_addresses_and_expire() {
        let limiter = LoginLimiter::with(3, 100, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        for (i, addr) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            assert!(limiter
                .admit_at(
                    "Ann@Example.com",
                    ip(addr),
                    t0 + Duration::from_secs(i as u64)
                )
                .is_ok());
        }
        let refused = limiter.admit_at(" ann@example.COM ", ip("10.0.0.4"), t0);
        assert!(matches!(refused, Err(Error::RateLimited(_))));
        // Another account is not affected; the window's end lets the account in again.
        assert!(limiter
            .admit_at("bob@example.com", ip("10.0.0.4"), t0)
            .is_ok());
        assert!(limiter
            .admit_at(
                "ann@example.com",
                ip("10.0.0.4"),
                t0 + Duration::from_secs(61)
            )
            .is_ok());
    }

    #[test]
    fn a_success_clears_the_account_but_not_the_address() {
        let limiter = LoginLimiter::with(2, 3, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let first = limiter
            .admit_at("ann@example.com", ip("10.0.0.1"), t0)
            .unwrap();
        limiter.succeeded(first);
        assert!(limiter
            .admit_at("ann@example.com", ip("10.0.0.1"), t0)
            .is_ok());
        assert!(limiter
            .admit_at("ann@example.com", ip("10.0.0.1"), t0)
            .is_ok());
        // Three attempts from the address: the fourth is refused whatever the account.
        assert!(limiter
            .admit_at("cat@example.com", ip("10.0.0.1"), t0)
            .is_err());
        assert!(limiter
            .admit_at("cat@example.com", ip("10.0.0.2"), t0)
            .is_ok());
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let limiter = LoginLimiter::with(100, 2, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert!(limiter
            .admit_at("a@example.com", ip("2001:db8::1"), t0)
            .is_ok());
        assert!(limiter
            .admit_at("b@example.com", ip("2001:db8::ffff:2"), t0)
            .is_ok());
        assert!(limiter
            .admit_at("c@example.com", ip("2001:db8::3"), t0)
            .is_err());
        assert!(limiter
            .admit_at("c@example.com", ip("2001:db8:0:1::3"), t0)
            .is_ok());
        assert_eq!(
            address_key(ip("::ffff:10.1.2.3").unwrap()),
            ip("10.1.2.3").unwrap()
        );
    }

    #[test]
    fn the_maps_stay_bounded() {
        let limiter = LoginLimiter::with(1, 1_000, Duration::from_secs(60), 10);
        let t0 = Instant::now();
        for i in 0..50u64 {
            let email = format!("user{i}@example.com");
            assert!(limiter
                .admit_at(&email, None, t0 + Duration::from_millis(i))
                .is_ok());
        }
        assert_eq!(limiter.accounts.lock().unwrap().map.len(), 10);
        // The newest counters survive: the last account is still limited.
        assert!(limiter
            .admit_at("user49@example.com", None, t0 + Duration::from_millis(60))
            .is_err());
    }
}
