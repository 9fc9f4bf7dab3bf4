//! Crew members' protected personal data: tax ids (SSN or FEIN) and bank details.
//!
//! Values are validated here, sealed with [`crate::crypto`] bound to their production, crew
//! member and field, and masked for display. None of these types formats a number: their
//! `Debug` shows masked values, and validation errors name the field and the rule, never what
//! was sent.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{Aad, Keyring};
use crate::error::{Error, Result};
use crate::production::parse_name;

/// The field names sealed values are bound to (part of their associated data).
pub const TAX_ID_FIELD: &str = "tax_id";
pub const BANK_FIELD: &str = "bank_account";

/// What kind of tax id: a person's Social Security number, or a loan-out company's Federal
/// Employer Identification Number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaxIdKind {
    Ssn,
    Fein,
}

impl TaxIdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxIdKind::Ssn => "SSN",
            TaxIdKind::Fein => "FEIN",
        }
    }

    /// A stored kind; anything else is a fault on our side.
    pub fn parse_stored(s: &str) -> Result<Self> {
        match s {
            "SSN" => Ok(TaxIdKind::Ssn),
            "FEIN" => Ok(TaxIdKind::Fein),
            _ => Err(Error::internal(
                "stored tax id kind is neither SSN nor FEIN",
            )),
        }
    }

    /// The masked display of a tax id of this kind from its last four digits.
    pub fn mask(self, last4: &str) -> String {
        match self {
            TaxIdKind::Ssn => format!("***-**-{last4}"),
            TaxIdKind::Fein => format!("**-***{last4}"),
        }
    }
}

/// A validated tax id: nine digits, separators removed. Deliberately not `Serialize`: the only
/// serialisation is the sealed plaintext (`TaxIdPlain`).
#[derive(Clone, PartialEq, Eq)]
pub struct TaxId {
    kind: TaxIdKind,
    number: String,
}

impl TaxId {
    /// Checks a tax id as typed; spaces and dashes are ignored. An SSN is refused when it is in
    /// a range the Social Security Administration never issues (area 000, 666 or 900–999,
    /// group 00, serial 0000), so typos are caught before payroll is.
    pub fn parse(kind: TaxIdKind, raw: &str) -> Result<Self> {
        const FIELD: &str = "taxId.number";
        let number = digits(FIELD, raw)?;
        if number.len() != 9 {
            return Err(Error::invalid(
                FIELD,
                format!("an {} has exactly 9 digits", kind.as_str()),
            ));
        }
        match kind {
            TaxIdKind::Ssn => {
                let (area, group, serial) = (&number[..3], &number[3..5], &number[5..]);
                if area == "000" || area == "666" || area.starts_with('9') {
                    return Err(Error::invalid(
                        FIELD,
                        "is not a valid SSN: its first three digits are never issued",
                    ));
                }
                if group == "00" || serial == "0000" {
                    return Err(Error::invalid(
                        FIELD,
                        "is not a valid SSN: digits 4-5 and 6-9 cannot be all zeros",
                    ));
                }
            }
            TaxIdKind::Fein => {
                if number.starts_with("00") {
                    return Err(Error::invalid(
                        FIELD,
                        "is not a valid FEIN: its prefix is never 00",
                    ));
                }
            }
        }
        Ok(Self { kind, number })
    }

    pub fn kind(&self) -> TaxIdKind {
        self.kind
    }

    /// The nine digits.
    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }

    pub fn masked(&self) -> String {
        self.kind.mask(self.last4())
    }

    /// Seals the tax id (kind included, so the kind read back is authenticated too).
    pub fn seal(&self, keyring: &Keyring, production: Uuid, crew: Uuid) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&TaxIdPlain {
                kind: self.kind,
                number: Cow::Borrowed(&self.number),
            })
            .map_err(|_| Error::internal("tax id did not serialise"))?,
        );
        keyring
            .seal(&aad(production, crew, TAX_ID_FIELD), &plain)
            .map_err(|e| sealed_error(crew, TAX_ID_FIELD, e))
    }

    pub fn open(keyring: &Keyring, production: Uuid, crew: Uuid, envelope: &[u8]) -> Result<Self> {
        let plain = keyring
            .open(&aad(production, crew, TAX_ID_FIELD), envelope)
            .map_err(|e| sealed_error(crew, TAX_ID_FIELD, e))?;
        let p: TaxIdPlain<'_> =
            serde_json::from_slice(&plain).map_err(|_| unexpected_shape(crew, TAX_ID_FIELD))?;
        Ok(Self {
            kind: p.kind,
            number: p.number.into_owned(),
        })
    }
}

impl fmt::Debug for TaxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaxId({})", self.masked())
    }
}

/// Validated bank details for direct deposit. Not `Serialize`, like [`TaxId`].
#[derive(Clone, PartialEq, Eq)]
pub struct BankAccount {
    holder: String,
    routing: String,
    account: String,
}

impl BankAccount {
    /// Checks bank details as typed: the holder's name; a 9-digit ABA routing number whose
    /// check digit and Federal Reserve prefix are right; an account number of 4 to 17 digits.
    /// Spaces and dashes in the numbers are ignored.
    pub fn parse(holder: &str, routing: &str, account: &str) -> Result<Self> {
        let holder = parse_name("bank.accountHolder", holder, 200)?;
        let routing = parse_routing(routing)?;
        const ACCOUNT: &str = "bank.accountNumber";
        let account = digits(ACCOUNT, account)?;
        if !(4..=17).contains(&account.len()) {
            return Err(Error::invalid(ACCOUNT, "must have 4 to 17 digits"));
        }
        Ok(Self {
            holder,
            routing,
            account,
        })
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn routing_number(&self) -> &str {
        &self.routing
    }

    pub fn account_number(&self) -> &str {
        &self.account
    }

    pub fn last4(&self) -> &str {
        &self.account[self.account.len() - 4..]
    }

    pub fn masked(&self) -> String {
        mask_account(self.last4())
    }

    pub fn seal(&self, keyring: &Keyring, production: Uuid, crew: Uuid) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&BankPlain {
                holder: Cow::Borrowed(&self.holder),
                routing: Cow::Borrowed(&self.routing),
                account: Cow::Borrowed(&self.account),
            })
            .map_err(|_| Error::internal("bank details did not serialise"))?,
        );
        keyring
            .seal(&aad(production, crew, BANK_FIELD), &plain)
            .map_err(|e| sealed_error(crew, BANK_FIELD, e))
    }

    pub fn open(keyring: &Keyring, production: Uuid, crew: Uuid, envelope: &[u8]) -> Result<Self> {
        let plain = keyring
            .open(&aad(production, crew, BANK_FIELD), envelope)
            .map_err(|e| sealed_error(crew, BANK_FIELD, e))?;
        let p: BankPlain<'_> =
            serde_json::from_slice(&plain).map_err(|_| unexpected_shape(crew, BANK_FIELD))?;
        Ok(Self {
            holder: p.holder.into_owned(),
            routing: p.routing.into_owned(),
            account: p.account.into_owned(),
        })
    }
}

impl fmt::Debug for BankAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BankAccount({})", self.masked())
    }
}

/// The masked display of a bank account from its last four digits.
pub fn mask_account(last4: &str) -> String {
    format!("****{last4}")
}

/// A validated request to store personal data: either part, or both. A part left out keeps
/// what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalDataUpdate {
    pub tax_id: Option<TaxId>,
    pub bank: Option<BankAccount>,
}

impl PersonalDataUpdate {
    pub fn new(tax_id: Option<TaxId>, bank: Option<BankAccount>) -> Result<Self> {
        if tax_id.is_none() && bank.is_none() {
            return Err(Error::invalid("taxId", "give taxId, bank or both"));
        }
        Ok(Self { tax_id, bank })
    }
}

/// What is stored, as anyone allowed to know it exists may see it: kinds and last four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedPersonalData {
    pub crew_member_id: Uuid,
    pub tax_id_kind: Option<TaxIdKind>,
    pub tax_id_last4: Option<String>,
    pub bank_last4: Option<String>,
    pub version: i32,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl MaskedPersonalData {
    pub fn tax_id_masked(&self) -> Option<String> {
        Some(self.tax_id_kind?.mask(self.tax_id_last4.as_deref()?))
    }

    pub fn bank_account_masked(&self) -> Option<String> {
        self.bank_last4.as_deref().map(mask_account)
    }
}

/// Which parts of the stored data a reader asked for; only those are decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub tax_id: bool,
    pub bank: bool,
}

/// Decrypted personal data (the parts asked for and stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalData {
    pub tax_id: Option<TaxId>,
    pub bank: Option<BankAccount>,
    pub version: i32,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The sealed plaintexts: JSON, so a part can gain fields later; borrowed, so no copy of a
/// number outlives the zeroed buffer longer than needed.
/// (`Cow`, because a name with a quote or backslash is escaped in JSON and cannot be borrowed.)
#[derive(Serialize, Deserialize)]
struct TaxIdPlain<'a> {
    kind: TaxIdKind,
    #[serde(borrow)]
    number: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
struct BankPlain<'a> {
    #[serde(borrow)]
    holder: Cow<'a, str>,
    #[serde(borrow)]
    routing: Cow<'a, str>,
    #[serde(borrow)]
    account: Cow<'a, str>,
}

fn unexpected_shape(crew: Uuid, field: &str) -> Error {
    Error::internal(format!(
        "crew member {crew}: {field} opened to an unexpected shape"
    ))
}

fn aad(production: Uuid, crew: Uuid, field: &str) -> Aad<'_> {
    Aad {
        production,
        record: crew,
        field,
    }
}

/// A sealing fault for the logs: which record and field, and what failed; never the value.
fn sealed_error(crew: Uuid, field: &str, e: crate::crypto::CryptoError) -> Error {
    Error::internal(format!("crew member {crew}: {field}: {e}"))
}

/// The digits of a number as typed, spaces and dashes removed.
fn digits(field: &str, raw: &str) -> Result<String> {
    let kept: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if kept.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if !kept.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            field,
            "must contain only digits (spaces and dashes are ignored)",
        ));
    }
    Ok(kept)
}

fn parse_routing(raw: &str) -> Result<String> {
    const FIELD: &str = "bank.routingNumber";
    let routing = digits(FIELD, raw)?;
    if routing.len() != 9 {
        return Err(Error::invalid(FIELD, "an ABA routing number has 9 digits"));
    }
    let d: Vec<u32> = routing.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    if sum % 10 != 0 {
        return Err(Error::invalid(
            FIELD,
            "is not a valid ABA routing number: its check digit is wrong",
        ));
    }
    // The first two digits are a Federal Reserve routing symbol: 00–12 (banks), 21–32
    // (thrifts), 61–72 (electronic), 80 (traveller's cheques). All zeros passes the checksum.
    let prefix = d[0] * 10 + d[1];
    let known = matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80);
    if !known || d.iter().all(|&x| x == 0) {
        return Err(Error::invalid(
            FIELD,
            "is not a valid ABA routing number: its first two digits are not a routing symbol",
        ));
    }
    Ok(routing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key;

    fn field_of<T: fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(Error::Invalid { field, message }) => {
                for secret in ["123456789", "021000022", "99999"] {
                    assert!(!message.contains(secret), "{message}");
                }
                field
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn tax_ids_are_nine_digits_in_issued_ranges() {
        let ssn = TaxId::parse(TaxIdKind::Ssn, "123-45-6789").unwrap();
        assert_eq!(ssn.number(), "123456789");
        assert_eq!(ssn.masked(), "***-**-6789");
        let fein = TaxId::parse(TaxIdKind::Fein, "12-3456789").unwrap();
        assert_eq!(fein.masked(), "**-***6789");
        for bad in [
            "12345678",
            "1234567890",
            "12345678x",
            "",
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert_eq!(
                field_of(TaxId::parse(TaxIdKind::Ssn, bad)),
                "taxId.number",
                "{bad}"
            );
        }
        assert_eq!(
            field_of(TaxId::parse(TaxIdKind::Fein, "00-1234567")),
            "taxId.number"
        );
        // Valid as an FEIN though not as an SSN.
        assert!(TaxId::parse(TaxIdKind::Fein, "98-7654321").is_ok());
    }

    #[test]
    fn routing_numbers_need_the_aba_check_digit() {
        for good in ["021000021", "011000015", "121000358", "0210-0002-1"] {
            assert!(BankAccount::parse("A", good, "1234").is_ok(), "{good}");
        }
        for bad in [
            "021000022",
            "02100002",
            "0210000211",
            "000000000",
            "991000012",
            "abc",
        ] {
            assert_eq!(
                field_of(BankAccount::parse("A", bad, "1234")),
                "bank.routingNumber",
                "{bad}"
            );
        }
    }

    #[test]
    fn account_numbers_have_four_to_seventeen_digits() {
        assert!(BankAccount::parse("A", "021000021", "1234").is_ok());
        assert!(BankAccount::parse("A", "021000021", &"9".repeat(17)).is_ok());
        for bad in ["123", &"9".repeat(18), "12a4", ""] {
            assert_eq!(
                field_of(BankAccount::parse("A", "021000021", bad)),
                "bank.accountNumber"
            );
        }
        assert_eq!(
            field_of(BankAccount::parse(" ", "021000021", "1234")),
            "bank.accountHolder"
        );
        let b = BankAccount::parse("Ann Lee", "021000021", "000123456789").unwrap();
        assert_eq!(b.masked(), "****6789");
    }

    #[test]
    fn debug_never_shows_a_number() {
        let ssn = TaxId::parse(TaxIdKind::Ssn, "123-45-6789").unwrap();
        let bank = BankAccount::parse("Ann Lee", "021000021", "000123456789").unwrap();
        let update = PersonalDataUpdate::new(Some(ssn), Some(bank)).unwrap();
        let shown = format!("{update:?}");
        for secret in ["12345", "021000021", "00012345", "Ann Lee"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            field_of(PersonalDataUpdate::new(None, None)),
            "taxId".to_owned()
        );
    }

    #[test]
    fn sealed_values_open_only_for_their_crew_member_and_field() {
        let keyring = Keyring::new(
            Key::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap(),
            Vec::new(),
        );
        let (p, a, b) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let ssn = TaxId::parse(TaxIdKind::Ssn, "123-45-6789").unwrap();
        let sealed = ssn.seal(&keyring, p, a).unwrap();
        assert_eq!(TaxId::open(&keyring, p, a, &sealed).unwrap(), ssn);
        let moved = TaxId::open(&keyring, p, b, &sealed).unwrap_err();
        assert_eq!(moved.code(), "INTERNAL");
        assert!(!format!("{moved:?}").contains("6789"));
        assert!(BankAccount::open(&keyring, p, a, &sealed).is_err());
        // A holder's name that JSON escapes comes back as it went in.
        let bank =
            BankAccount::parse("Bo \"Jr\" O'Núñez \\ Co", "021000021", "000123456789").unwrap();
        let sealed = bank.seal(&keyring, p, a).unwrap();
        assert_eq!(BankAccount::open(&keyring, p, a, &sealed).unwrap(), bank);
    }
}
