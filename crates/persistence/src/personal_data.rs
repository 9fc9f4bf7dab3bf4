//! Crew members' protected personal data. Values are sealed (AES-256-GCM, bound to this
//! production, the crew member and the column) before any statement carries them, so neither
//! the database, its logs nor its backups ever hold a tax id or bank number in clear; only the
//! last four digits are stored in clear, for masked display.
//!
//! Every disclosure of decrypted data is recorded by [`TenantTx::record_personal_data_read`] in
//! the transaction that reads it.

use crewtime_domain::crypto::{key_id_of, Aad, KeyId, Keyring};
use crewtime_domain::personal::{
    BankAccount, MaskedPersonalData, Parts, PersonalData, PersonalDataUpdate, TaxId, TaxIdKind,
    BANK_FIELD, TAX_ID_FIELD,
};
use crewtime_domain::{Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use crate::{db_err, is_unique_violation, TenantTx};

/// A stored row, envelopes included.
#[derive(FromQueryResult)]
struct SealedRow {
    crew_member_id: Uuid,
    tax_id_kind: Option<String>,
    tax_id_ct: Option<Vec<u8>>,
    tax_id_last4: Option<String>,
    bank_ct: Option<Vec<u8>>,
    bank_last4: Option<String>,
    version: i32,
    updated_at: chrono::DateTime<chrono::Utc>,
}

const SEALED_COLUMNS: &str = "crew_member_id, tax_id_kind, tax_id_ct, tax_id_last4, bank_ct, \
     bank_last4, version, updated_at";

/// The clear columns only: masked reads never fetch an envelope.
#[derive(FromQueryResult)]
struct MaskedRow {
    crew_member_id: Uuid,
    tax_id_kind: Option<String>,
    tax_id_last4: Option<String>,
    bank_last4: Option<String>,
    version: i32,
    updated_at: chrono::DateTime<chrono::Utc>,
}

const MASKED_COLUMNS: &str =
    "crew_member_id, tax_id_kind, tax_id_last4, bank_last4, version, updated_at";

impl TryFrom<MaskedRow> for MaskedPersonalData {
    type Error = Error;
    fn try_from(r: MaskedRow) -> Result<Self> {
        Ok(MaskedPersonalData {
            crew_member_id: r.crew_member_id,
            tax_id_kind: r
                .tax_id_kind
                .as_deref()
                .map(TaxIdKind::parse_stored)
                .transpose()?,
            tax_id_last4: r.tax_id_last4,
            bank_last4: r.bank_last4,
            version: r.version,
            updated_at: r.updated_at,
        })
    }
}

/// Who is reading decrypted personal data, in which request, asking for which fields.
#[derive(Debug, Clone, Copy)]
pub struct Disclosure<'a> {
    pub reader: Uuid,
    pub request_id: Option<&'a str>,
    pub fields: &'a [String],
}

/// What one rotation pass over a production did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// Rows sealed under the current key.
    pub current: u64,
    /// Rows sealed under any other key.
    pub other: u64,
}

impl TenantTx {
    /// Stores a crew member's personal data sealed under the current key. `expected_version` is
    /// the stored data's version as last read (0 when none is stored); a stale one is
    /// `CONFLICT`. A part left out of `update` keeps what is stored, re-sealed under the
    /// current key if it was under an older one, so every envelope of a row is under the key
    /// its `key_id` names.
    pub async fn set_personal_data(
        &self,
        keyring: &Keyring,
        actor: Uuid,
        crew: Uuid,
        update: &PersonalDataUpdate,
        expected_version: i32,
    ) -> Result<MaskedPersonalData> {
        let production = self.production().id;
        let stored = self.sealed_row(crew, true).await?;
        let stored_version = stored.as_ref().map_or(0, |r| r.version);
        if stored_version != expected_version {
            return Err(Error::Conflict(format!(
                "personal data is at version {stored_version}, not {expected_version}; reload and retry"
            )));
        }
        let (tax_kind, tax_ct, tax_last4) = match (&update.tax_id, &stored) {
            (Some(t), _) => (
                Some(t.kind().as_str().to_owned()),
                Some(t.seal(keyring, production, crew)?),
                Some(t.last4().to_owned()),
            ),
            (None, Some(row)) => (
                row.tax_id_kind.clone(),
                row.tax_id_ct
                    .as_deref()
                    .map(|ct| reseal(keyring, production, crew, TAX_ID_FIELD, ct))
                    .transpose()?,
                row.tax_id_last4.clone(),
            ),
            (None, None) => (None, None, None),
        };
        let (bank_ct, bank_last4) = match (&update.bank, &stored) {
            (Some(b), _) => (
                Some(b.seal(keyring, production, crew)?),
                Some(b.last4().to_owned()),
            ),
            (None, Some(row)) => (
                row.bank_ct
                    .as_deref()
                    .map(|ct| reseal(keyring, production, crew, BANK_FIELD, ct))
                    .transpose()?,
                row.bank_last4.clone(),
            ),
            (None, None) => (None, None),
        };
        let values = [
            crew.into(),
            tax_kind.into(),
            tax_ct.into(),
            tax_last4.into(),
            bank_ct.into(),
            bank_last4.into(),
            keyring.current_id().to_string().into(),
            actor.into(),
            expected_version.into(),
        ];
        let sql = if stored.is_some() {
            // The row is locked (FOR UPDATE above), so the version cannot have moved since.
            format!(
                "UPDATE personal_data SET tax_id_kind = $2, tax_id_ct = $3, tax_id_last4 = $4, \
                 bank_ct = $5, bank_last4 = $6, key_id = $7, updated_by = $8, \
                 version = version + 1, updated_at = now() \
                 WHERE crew_member_id = $1 AND version = $9 RETURNING {MASKED_COLUMNS}"
            )
        } else {
            format!(
                "INSERT INTO personal_data (crew_member_id, tax_id_kind, tax_id_ct, tax_id_last4, \
                 bank_ct, bank_last4, key_id, updated_by, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9 + 1) RETURNING {MASKED_COLUMNS}"
            )
        };
        let row = MaskedRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .one(self.conn())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(
                    "personal data was stored by a concurrent request; reload and retry".into(),
                )
            } else {
                db_err(e)
            }
        })?
        .ok_or_else(|| Error::internal("personal data write returned no row"))?;
        let stored = MaskedPersonalData::try_from(row)?;
        // On the record with what a masked read shows: never the numbers.
        self.audit(
            "setPersonalData",
            "PersonalData",
            Some(crew),
            None,
            Some(serde_json::json!({
                "taxIdKind": stored.tax_id_kind.map(|k| format!("{k:?}")),
                "taxIdLast4": stored.tax_id_last4,
                "bankLast4": stored.bank_last4,
                "version": stored.version,
            })),
            None,
        )
        .await?;
        Ok(stored)
    }

    /// The masked personal data of the given crew members (those who have any).
    pub async fn personal_data_masked(&self, crew: &[Uuid]) -> Result<Vec<MaskedPersonalData>> {
        let rows = MaskedRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {MASKED_COLUMNS} FROM personal_data WHERE crew_member_id = ANY($1)"),
            [crew.to_vec().into()],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        rows.into_iter().map(MaskedPersonalData::try_from).collect()
    }

    /// Decrypts the parts of a crew member's personal data that `parts` asks for, and records
    /// the disclosure in this transaction. `None` (and nothing recorded) when nothing is
    /// stored. The caller commits only after it has the plaintext, so a read that fails to
    /// decrypt leaves no record and a record is never lost for a read that succeeded.
    pub async fn read_personal_data(
        &self,
        keyring: &Keyring,
        crew: Uuid,
        parts: Parts,
        disclosure: &Disclosure<'_>,
    ) -> Result<Option<PersonalData>> {
        let Some(row) = self.sealed_row(crew, false).await? else {
            return Ok(None);
        };
        self.record_personal_data_read(crew, disclosure).await?;
        let production = self.production().id;
        let tax_id = match (&row.tax_id_ct, parts.tax_id) {
            (Some(ct), true) => Some(TaxId::open(keyring, production, crew, ct)?),
            _ => None,
        };
        let bank = match (&row.bank_ct, parts.bank) {
            (Some(ct), true) => Some(BankAccount::open(keyring, production, crew, ct)?),
            _ => None,
        };
        Ok(Some(PersonalData {
            tax_id,
            bank,
            version: row.version,
            updated_at: row.updated_at,
        }))
    }

    /// Records one disclosure of decrypted personal data: whose, to whom, in which request,
    /// which fields. The one place such a record is written, so routing it into the general
    /// audit log later is a change here only.
    pub(crate) async fn record_personal_data_read(
        &self,
        crew: Uuid,
        disclosure: &Disclosure<'_>,
    ) -> Result<()> {
        self.conn()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO personal_data_reads (id, crew_member_id, reader_id, request_id, fields) \
                 VALUES ($1, $2, $3, $4, $5)",
                [
                    Uuid::now_v7().into(),
                    crew.into(),
                    disclosure.reader.into(),
                    disclosure.request_id.map(str::to_owned).into(),
                    disclosure.fields.to_vec().into(),
                ],
            ))
            .await
            .map_err(db_err)?;
        // And on the production's audit trail, with the fields read (never their values).
        self.audit(
            "readPersonalData",
            "PersonalData",
            Some(crew),
            None,
            Some(serde_json::json!({ "fields": disclosure.fields })),
            None,
        )
        .await
    }

    /// Re-seals under the current key up to `limit` rows still under another key and returns
    /// how many it did. The rows are locked, so a concurrent write waits for this transaction.
    /// Versions are left alone: the data did not change, and a client holding the version may
    /// still write.
    pub async fn rotate_personal_data(&self, keyring: &Keyring, limit: u64) -> Result<u64> {
        let current = keyring.current_id().to_string();
        let rows = SealedRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {SEALED_COLUMNS} FROM personal_data WHERE key_id <> $1 \
                 ORDER BY crew_member_id LIMIT $2 FOR UPDATE"
            ),
            [
                current.clone().into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .all(self.conn())
        .await
        .map_err(db_err)?;
        let production = self.production().id;
        for row in &rows {
            let crew = row.crew_member_id;
            let tax = row
                .tax_id_ct
                .as_deref()
                .map(|ct| reseal(keyring, production, crew, TAX_ID_FIELD, ct))
                .transpose()?;
            let bank = row
                .bank_ct
                .as_deref()
                .map(|ct| reseal(keyring, production, crew, BANK_FIELD, ct))
                .transpose()?;
            self.conn()
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE personal_data SET tax_id_ct = $2, bank_ct = $3, key_id = $4 \
                     WHERE crew_member_id = $1",
                    [crew.into(), tax.into(), bank.into(), current.clone().into()],
                ))
                .await
                .map_err(db_err)?;
        }
        Ok(rows.len() as u64)
    }

    /// How many rows are sealed under the current key and how many under others.
    pub async fn personal_data_key_counts(&self, current: KeyId) -> Result<KeyCounts> {
        let row = self
            .conn()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FILTER (WHERE key_id = $1) AS cur, \
                 count(*) FILTER (WHERE key_id <> $1) AS oth FROM personal_data",
                [current.to_string().into()],
            ))
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::internal("count returned no row"))?;
        let get = |c: &str| row.try_get::<i64>("", c).map_err(db_err);
        Ok(KeyCounts {
            current: u64::try_from(get("cur")?).unwrap_or(0),
            other: u64::try_from(get("oth")?).unwrap_or(0),
        })
    }

    async fn sealed_row(&self, crew: Uuid, lock: bool) -> Result<Option<SealedRow>> {
        let lock = if lock { " FOR UPDATE" } else { "" };
        SealedRow::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {SEALED_COLUMNS} FROM personal_data WHERE crew_member_id = $1{lock}"),
            [crew.into()],
        ))
        .one(self.conn())
        .await
        .map_err(db_err)
    }
}

/// An envelope under the current key: kept as it is when it already is, else opened with the
/// older key it names and sealed again, bound to the same production, crew member and field.
fn reseal(
    keyring: &Keyring,
    production: Uuid,
    crew: Uuid,
    field: &str,
    envelope: &[u8],
) -> Result<Vec<u8>> {
    let fault = |e: crewtime_domain::crypto::CryptoError| {
        Error::internal(format!("crew member {crew}: {field}: {e}"))
    };
    if key_id_of(envelope).map_err(fault)? == keyring.current_id() {
        return Ok(envelope.to_vec());
    }
    let aad = Aad {
        production,
        record: crew,
        field,
    };
    let plain = keyring.open(&aad, envelope).map_err(fault)?;
    keyring.seal(&aad, &plain).map_err(fault)
}
