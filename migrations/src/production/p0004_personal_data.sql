-- Crew members' protected personal data. Tax ids and bank details are encrypted by the
-- application (AES-256-GCM, see crates/domain/src/crypto.rs) before they reach this table; the
-- database never sees them in clear. Only the last four digits are kept in clear, for masked
-- display to roles that may know the data exists.

CREATE TABLE personal_data (
    crew_member_id  uuid PRIMARY KEY REFERENCES crew_members (id),
    tax_id_kind     text CHECK (tax_id_kind IN ('SSN', 'FEIN')),
    -- Envelope: format, key id, nonce, ciphertext and tag; bound to this row and column.
    tax_id_ct       bytea,
    tax_id_last4    text CHECK (tax_id_last4 ~ '^[0-9]{4}$'),
    bank_ct         bytea,
    bank_last4      text CHECK (bank_last4 ~ '^[0-9]{4}$'),
    -- The key both envelopes are sealed under (8 hex digits); `crewtime keys rotate` finds the
    -- rows still under an older key by it.
    key_id          text NOT NULL CHECK (key_id ~ '^[0-9a-f]{8}$'),
    version         integer NOT NULL DEFAULT 1,
    -- The signed-in user who last set it (a control-schema id; no FK by design).
    updated_by      uuid NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((tax_id_ct IS NULL) = (tax_id_kind IS NULL)
           AND (tax_id_ct IS NULL) = (tax_id_last4 IS NULL)),
    CHECK ((bank_ct IS NULL) = (bank_last4 IS NULL)),
    CHECK (tax_id_ct IS NOT NULL OR bank_ct IS NOT NULL)
);
CREATE INDEX personal_data_key ON personal_data (key_id);

-- Every disclosure of decrypted personal data: whose, to whom, when, which fields, in which
-- request. Append-only; the general audit log will take these over.
CREATE TABLE personal_data_reads (
    id              uuid PRIMARY KEY,
    crew_member_id  uuid NOT NULL REFERENCES crew_members (id),
    -- A control-schema user id; no FK by design.
    reader_id       uuid NOT NULL,
    request_id      text,
    fields          text[] NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX personal_data_reads_crew ON personal_data_reads (crew_member_id, read_at);
