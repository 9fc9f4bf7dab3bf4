//! Computed pay, cached in process. A key carries the crew member's time version and the
//! production's rules version, both bumped in the same transaction as any change to punches,
//! days, deals or rule sets: a changed input yields a new key, so a stale figure is never
//! served and nothing needs to be deleted on write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use crewtime_domain::payroll::PricedWeek;
use uuid::Uuid;

/// (production, crew member, week ending, crew time version, production rules version).
pub(crate) type PayKey = (Uuid, Uuid, NaiveDate, i32, i32);

/// Entries beyond this are dropped wholesale; a cold cache only costs recomputation.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct PayCache {
    entries: Mutex<HashMap<PayKey, Arc<PricedWeek>>>,
}

impl PayCache {
    pub(crate) fn get(&self, key: &PayKey) -> Option<Arc<PricedWeek>> {
        let hit = self.entries.lock().ok().and_then(|m| m.get(key).cloned());
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("crewtime_cache_requests_total", "cache" => "timecard_pay", "outcome" => outcome)
            .increment(1);
        hit
    }

    pub(crate) fn put(&self, key: PayKey, week: Arc<PricedWeek>) {
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(key, week);
        }
    }
}
