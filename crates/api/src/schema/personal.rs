//! Crew members' protected personal data: `setPersonalData`, the masked `CrewMember.personalData`
//! and the decrypted, recorded `CrewMember.personalDataFull`.
//!
//! The input types here derive no `Debug`, and every error names the field and the rule, never
//! the value, so a tax id or bank number cannot reach a log line through this module.

use async_graphql::{Context, Enum, InputObject, Object, SelectionField, SimpleObject, ID};
use chrono::{DateTime, Utc};
use crewtime_domain::personal::{
    BankAccount as DomainBank, MaskedPersonalData, Parts, PersonalData, PersonalDataUpdate,
    TaxId as DomainTaxId, TaxIdKind as DomainKind,
};
use crewtime_persistence::personal_data::Disclosure;

use super::crew::{crew_from_id, CrewMember};
use super::RequestCtx;
use crate::error::GqlResult;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum TaxIdKind {
    /// A person's Social Security number.
    Ssn,
    /// A loan-out company's Federal Employer Identification Number.
    Fein,
}

impl From<TaxIdKind> for DomainKind {
    fn from(k: TaxIdKind) -> Self {
        match k {
            TaxIdKind::Ssn => DomainKind::Ssn,
            TaxIdKind::Fein => DomainKind::Fein,
        }
    }
}

impl From<DomainKind> for TaxIdKind {
    fn from(k: DomainKind) -> Self {
        match k {
            DomainKind::Ssn => TaxIdKind::Ssn,
            DomainKind::Fein => TaxIdKind::Fein,
        }
    }
}

#[derive(InputObject)]
pub(crate) struct TaxIdInput {
    kind: TaxIdKind,
    /// Nine digits; spaces and dashes are ignored ("123-45-6789", "12-3456789").
    number: String,
}

#[derive(InputObject)]
pub(crate) struct BankAccountInput {
    account_holder: String,
    /// The 9-digit ABA routing number (its check digit is verified).
    routing_number: String,
    /// 4 to 17 digits.
    account_number: String,
}

#[derive(InputObject)]
pub(crate) struct SetPersonalDataInput {
    crew_member_id: ID,
    /// Replaces the stored tax id; left out, the stored one is kept.
    tax_id: Option<TaxIdInput>,
    /// Replaces the stored bank details; left out, the stored ones are kept.
    bank: Option<BankAccountInput>,
    /// `personalData.version` as last read; 0 when none is stored yet.
    expected_version: i32,
}

impl SetPersonalDataInput {
    fn update(&self) -> crewtime_domain::Result<PersonalDataUpdate> {
        let tax_id = self
            .tax_id
            .as_ref()
            .map(|t| DomainTaxId::parse(t.kind.into(), &t.number))
            .transpose()?;
        let bank = self
            .bank
            .as_ref()
            .map(|b| DomainBank::parse(&b.account_holder, &b.routing_number, &b.account_number))
            .transpose()?;
        PersonalDataUpdate::new(tax_id, bank)
    }
}

#[derive(SimpleObject)]
pub(crate) struct SetPersonalDataPayload {
    crew_member: CrewMember,
    personal_data: PersonalDataMasked,
}

/// A crew member's personal data as most readers may see it: kinds and last four digits.
pub(crate) struct PersonalDataMasked(pub(crate) MaskedPersonalData);

#[Object(name = "PersonalData")]
impl PersonalDataMasked {
    async fn tax_id_kind(&self) -> Option<TaxIdKind> {
        self.0.tax_id_kind.map(Into::into)
    }
    /// "***-**-6789" for an SSN, "**-***6789" for an FEIN.
    async fn tax_id_masked(&self) -> Option<String> {
        self.0.tax_id_masked()
    }
    /// "****1234".
    async fn bank_account_masked(&self) -> Option<String> {
        self.0.bank_account_masked()
    }
    /// Changes with every `setPersonalData`; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Decrypted personal data. Every read of it is recorded.
pub(crate) struct PersonalDataFull(PersonalData);

#[Object]
impl PersonalDataFull {
    async fn tax_id(&self) -> Option<TaxId> {
        self.0.tax_id.clone().map(TaxId)
    }
    async fn bank(&self) -> Option<BankAccount> {
        self.0.bank.clone().map(BankAccount)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A tax id in full.
pub(crate) struct TaxId(DomainTaxId);

#[Object]
impl TaxId {
    async fn kind(&self) -> TaxIdKind {
        self.0.kind().into()
    }
    /// The nine digits, without separators.
    async fn number(&self) -> &str {
        self.0.number()
    }
}

/// Bank details in full.
pub(crate) struct BankAccount(DomainBank);

#[Object]
impl BankAccount {
    async fn account_holder(&self) -> &str {
        self.0.holder()
    }
    async fn routing_number(&self) -> &str {
        self.0.routing_number()
    }
    async fn account_number(&self) -> &str {
        self.0.account_number()
    }
}

/// `CrewMember.personalData`.
pub(crate) async fn masked(
    ctx: &Context<'_>,
    member: &CrewMember,
) -> async_graphql::Result<Option<PersonalDataMasked>> {
    let access = &member.access;
    access
        .require(
            access.can_see_masked_personal_data(&member.crew),
            "see personal data",
        )
        .gql()?;
    let rc = RequestCtx::get(ctx);
    Ok(rc
        .loaders
        .personal_data
        .load_one((access.production().id, member.crew.id))
        .await
        .gql()?
        .map(PersonalDataMasked))
}

/// `CrewMember.personalDataFull`: decrypts what the query selects, in a transaction that also
/// records the read; committed only once the plaintext is in hand.
pub(crate) async fn full(
    ctx: &Context<'_>,
    member: &CrewMember,
) -> async_graphql::Result<Option<PersonalDataFull>> {
    let access = &member.access;
    access
        .require(
            access.can_read_full_personal_data(),
            "read decrypted personal data",
        )
        .gql()?;
    let rc = RequestCtx::get(ctx);
    let fields = requested_fields(ctx.field());
    let parts = Parts {
        tax_id: fields.iter().any(|f| f.starts_with("taxId")),
        bank: fields.iter().any(|f| f.starts_with("bank")),
    };
    let disclosure = Disclosure {
        reader: access.user,
        request_id: Some(rc.request_id.as_str()),
        fields: &fields,
    };
    let tx = rc.tx(access).await.gql()?;
    match tx
        .read_personal_data(&rc.config.keyring, member.crew.id, parts, &disclosure)
        .await
    {
        Ok(data) => {
            tx.commit().await.gql()?;
            Ok(data.map(PersonalDataFull))
        }
        Err(e) => {
            // Nothing was disclosed, so nothing is recorded.
            let _ = tx.rollback().await;
            Err(e).gql()
        }
    }
}

/// The leaf fields a query selects below `field`, as dotted paths ("bank.accountNumber"),
/// sorted and without duplicates: what a read record says was asked for.
fn requested_fields(field: SelectionField<'_>) -> Vec<String> {
    fn walk(prefix: &str, field: SelectionField<'_>, out: &mut Vec<String>) {
        for child in field.selection_set() {
            if child.name().starts_with("__") {
                continue;
            }
            let path = if prefix.is_empty() {
                child.name().to_owned()
            } else {
                format!("{prefix}.{}", child.name())
            };
            if child.selection_set().next().is_none() {
                out.push(path);
            } else {
                walk(&path, child, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", field, &mut out);
    out.sort();
    out.dedup();
    out
}

#[derive(Default)]
pub(crate) struct PersonalDataMutation;

#[Object]
impl PersonalDataMutation {
    /// Stores a crew member's tax id and/or bank details, encrypted. ADMIN, UPM, ACCOUNTANT and
    /// the crew member themself. Answers with the masked values.
    async fn set_personal_data(
        &self,
        ctx: &Context<'_>,
        input: SetPersonalDataInput,
    ) -> async_graphql::Result<SetPersonalDataPayload> {
        let rc = RequestCtx::get(ctx);
        let member = crew_from_id(rc, "crewMemberId", &input.crew_member_id).await?;
        let access = member.access.clone();
        // Permission first: a caller who may not set the data learns nothing from validation.
        access
            .require(
                access.can_set_personal_data(&member.crew),
                "set this crew member's personal data",
            )
            .gql()?;
        let update = input.update().gql()?;
        let tx = rc.tx(&access).await.gql()?;
        let stored = tx
            .set_personal_data(
                &rc.config.keyring,
                access.user,
                member.crew.id,
                &update,
                input.expected_version,
            )
            .await
            .gql()?;
        tx.commit().await.gql()?;
        Ok(SetPersonalDataPayload {
            crew_member: member,
            personal_data: PersonalDataMasked(stored),
        })
    }
}
