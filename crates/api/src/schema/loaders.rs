//! Per-request DataLoaders: every read of crew, departments, deals, work days and call sheets
//! in one request is batched into one statement per kind and production, whatever the shape
//! of the query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use crewtime_domain::callsheet::CallSheet;
use crewtime_domain::crew::{CrewMember, Deal};
use crewtime_domain::payroll::StoredRuleSet;
use crewtime_domain::personal::MaskedPersonalData;
use crewtime_domain::production::{Department, Production};
use crewtime_domain::{Error, Result};
use crewtime_persistence::punches::WorkDayRecord;
use crewtime_persistence::timecards::TimecardRecord;
use crewtime_persistence::{Store, TenantTx};
use uuid::Uuid;

type Views = Arc<super::Operation>;

/// Loaders share the store and the request's production views: a loader only reaches
/// productions whose membership this request already checked.
#[derive(Clone)]
pub(crate) struct Source {
    store: Store,
    views: Views,
}

impl Source {
    fn production(&self, id: Uuid) -> Result<Production> {
        self.views
            .views
            .lock()
            .map_err(|_| Error::internal("views lock poisoned"))?
            .get(&id)
            .map(|v| v.production.clone())
            .ok_or(Error::NotFound("production"))
    }

    async fn begin(&self, production: Uuid) -> Result<TenantTx> {
        TenantTx::begin(&self.store, &self.production(production)?).await
    }
}

fn group<K: Copy, G: std::hash::Hash + Eq>(keys: &[K], by: impl Fn(&K) -> G) -> HashMap<G, Vec<K>> {
    let mut out: HashMap<G, Vec<K>> = HashMap::new();
    for k in keys {
        out.entry(by(k)).or_default().push(*k);
    }
    out
}

/// Cached for the request: a list resolver that already read a page's rows feeds them in, so
/// the nested resolvers never reach the database again (and the statement count of a page does
/// not depend on how the loaders' batching windows happen to fall).
pub(crate) struct Loaders {
    pub crew: DataLoader<CrewLoader, HashMapCache>,
    pub departments: DataLoader<DepartmentLoader, HashMapCache>,
    pub deals: DataLoader<DealsLoader, HashMapCache>,
    pub days: DataLoader<DaysLoader, HashMapCache>,
    pub sheets: DataLoader<SheetLoader, HashMapCache>,
    pub cards: DataLoader<CardLoader, HashMapCache>,
    pub personal_data: DataLoader<PersonalDataLoader, HashMapCache>,
    pub rule_sets: DataLoader<RuleSetsLoader, HashMapCache>,
}

impl Loaders {
    pub(crate) fn new(store: Store, views: Views) -> Self {
        let source = Source { store, views };
        Self {
            crew: DataLoader::with_cache(
                CrewLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            departments: DataLoader::with_cache(
                DepartmentLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            deals: DataLoader::with_cache(
                DealsLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            days: DataLoader::with_cache(
                DaysLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            sheets: DataLoader::with_cache(
                SheetLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            cards: DataLoader::with_cache(
                CardLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            rule_sets: DataLoader::with_cache(
                RuleSetsLoader(source.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            personal_data: DataLoader::with_cache(
                PersonalDataLoader(source),
                tokio::spawn,
                HashMapCache::default(),
            ),
        }
    }
}

/// (production, crew member) → crew member.
pub(crate) struct CrewLoader(Source);

impl Loader<(Uuid, Uuid)> for CrewLoader {
    type Value = CrewMember;
    type Error = Error;

    async fn load(&self, keys: &[(Uuid, Uuid)]) -> Result<HashMap<(Uuid, Uuid), CrewMember>> {
        let mut out = HashMap::new();
        for (production, keys) in group(keys, |k| k.0) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let rows = tx.crew_members_by_ids(&ids).await?;
            tx.commit().await?;
            out.extend(rows.into_iter().map(|c| ((production, c.id), c)));
        }
        Ok(out)
    }
}

/// (production, crew member) → masked personal data, for those who have any. Never an
/// envelope: decrypted reads go through `TenantTx::read_personal_data`, one recorded read each.
pub(crate) struct PersonalDataLoader(Source);

impl Loader<(Uuid, Uuid)> for PersonalDataLoader {
    type Value = MaskedPersonalData;
    type Error = Error;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), MaskedPersonalData>> {
        let mut out = HashMap::new();
        for (production, keys) in group(keys, |k| k.0) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let rows = tx.personal_data_masked(&ids).await?;
            tx.commit().await?;
            out.extend(
                rows.into_iter()
                    .map(|p| ((production, p.crew_member_id), p)),
            );
        }
        Ok(out)
    }
}

/// (production, department) → department.
pub(crate) struct DepartmentLoader(Source);

impl Loader<(Uuid, Uuid)> for DepartmentLoader {
    type Value = Department;
    type Error = Error;

    async fn load(&self, keys: &[(Uuid, Uuid)]) -> Result<HashMap<(Uuid, Uuid), Department>> {
        let mut out = HashMap::new();
        for (production, keys) in group(keys, |k| k.0) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let rows = tx.departments_by_ids(&ids).await?;
            tx.commit().await?;
            out.extend(rows.into_iter().map(|d| ((production, d.id), d)));
        }
        Ok(out)
    }
}

/// (production, crew member) → every deal version, oldest first.
pub(crate) struct DealsLoader(Source);

impl Loader<(Uuid, Uuid)> for DealsLoader {
    type Value = Vec<Deal>;
    type Error = Error;

    async fn load(&self, keys: &[(Uuid, Uuid)]) -> Result<HashMap<(Uuid, Uuid), Vec<Deal>>> {
        let mut out: HashMap<(Uuid, Uuid), Vec<Deal>> = HashMap::new();
        for (production, keys) in group(keys, |k| k.0) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let deals = tx.deals_of(&ids).await?;
            tx.commit().await?;
            for k in keys {
                out.entry(k).or_default();
            }
            for d in deals {
                out.entry((production, d.crew_member_id))
                    .or_default()
                    .push(d);
            }
        }
        Ok(out)
    }
}

/// production → its stored rule set versions (the presets apply where it has none).
pub(crate) struct RuleSetsLoader(Source);

impl Loader<Uuid> for RuleSetsLoader {
    type Value = Arc<Vec<StoredRuleSet>>;
    type Error = Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Arc<Vec<StoredRuleSet>>>> {
        let mut out = HashMap::new();
        for production in keys {
            let tx = self.0.begin(*production).await?;
            let rules = tx.rule_sets().await?;
            tx.commit().await?;
            out.insert(*production, Arc::new(rules));
        }
        Ok(out)
    }
}

/// (production, crew member, from, to) → that crew member's work days in the range.
pub(crate) struct DaysLoader(Source);

pub(crate) type DaysKey = (Uuid, Uuid, NaiveDate, NaiveDate);

impl Loader<DaysKey> for DaysLoader {
    type Value = Vec<WorkDayRecord>;
    type Error = Error;

    async fn load(&self, keys: &[DaysKey]) -> Result<HashMap<DaysKey, Vec<WorkDayRecord>>> {
        let mut out: HashMap<DaysKey, Vec<WorkDayRecord>> = HashMap::new();
        for ((production, from, to), keys) in group(keys, |k| (k.0, k.2, k.3)) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let days = tx.work_days(&ids, from, to).await?;
            tx.commit().await?;
            for k in keys {
                out.entry(k).or_default();
            }
            for d in days {
                out.entry((production, d.crew_member_id, from, to))
                    .or_default()
                    .push(d);
            }
        }
        Ok(out)
    }
}

/// (production, date) → the published call sheet of that day, or None (cached too).
pub(crate) struct SheetLoader(Source);

impl Loader<(Uuid, NaiveDate)> for SheetLoader {
    type Value = Option<CallSheet>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[(Uuid, NaiveDate)],
    ) -> Result<HashMap<(Uuid, NaiveDate), Option<CallSheet>>> {
        let mut out = HashMap::new();
        for (production, keys) in group(keys, |k| k.0) {
            let dates: Vec<NaiveDate> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let sheets = tx.published_call_sheets(&dates).await?;
            tx.commit().await?;
            out.extend(published_by_date(production, &dates, sheets));
        }
        Ok(out)
    }
}

/// (production, crew member, week ending) → the week's card and its signatures.
pub(crate) struct CardLoader(Source);

pub(crate) type CardKey = (Uuid, Uuid, NaiveDate);

impl Loader<CardKey> for CardLoader {
    type Value = TimecardRecord;
    type Error = Error;

    async fn load(&self, keys: &[CardKey]) -> Result<HashMap<CardKey, TimecardRecord>> {
        let mut out = HashMap::new();
        for ((production, week), keys) in group(keys, |k| (k.0, k.2)) {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
            let tx = self.0.begin(production).await?;
            let cards = tx.timecards_of(&ids, week).await?;
            tx.commit().await?;
            out.extend(
                cards
                    .into_iter()
                    .map(|c| ((production, c.crew_member_id, week), c)),
            );
        }
        Ok(out)
    }
}

/// One entry per date, None where no sheet is published.
pub(crate) fn published_by_date(
    production: Uuid,
    dates: &[NaiveDate],
    sheets: Vec<CallSheet>,
) -> HashMap<(Uuid, NaiveDate), Option<CallSheet>> {
    let mut out: HashMap<(Uuid, NaiveDate), Option<CallSheet>> =
        dates.iter().map(|d| ((production, *d), None)).collect();
    for s in sheets {
        out.insert((production, s.content.shoot_date), Some(s));
    }
    out
}
