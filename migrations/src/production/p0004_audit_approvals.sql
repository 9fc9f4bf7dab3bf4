-- The audit trail and timecard approvals of one production.

-- Append-only and tamper-evident: each row's hash covers its content and the previous row's
-- hash. The hash is computed in SQL from the stored values (jsonb's canonical text, times as
-- epoch microseconds), so writing and verifying cannot disagree on formatting.
CREATE TABLE audit_log (
    seq         bigserial PRIMARY KEY,
    id          uuid NOT NULL UNIQUE,
    at          timestamptz NOT NULL,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('USER', 'API_TOKEN', 'SYSTEM')),
    actor_id    uuid,
    operation   text NOT NULL,
    entity_type text NOT NULL,
    entity_id   uuid,
    before      jsonb,
    after       jsonb,
    reason      text,
    request_id  text,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The database itself refuses to change or remove history.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Approval state of a weekly timecard.
ALTER TABLE timecards ADD COLUMN rejection_reason text;
ALTER TABLE timecards ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE timecards ADD CONSTRAINT timecards_status CHECK
    (status IN ('DRAFT', 'SUBMITTED', 'DEPARTMENT_APPROVED', 'ACCOUNTING_APPROVED', 'APPROVED', 'REJECTED'));

-- Each signature; cleared (not deleted) when the card returns to draft.
CREATE TABLE timecard_approvals (
    id           uuid PRIMARY KEY,
    timecard_id  uuid NOT NULL REFERENCES timecards (id),
    step         text NOT NULL CHECK (step IN ('SUBMITTED', 'DEPARTMENT', 'ACCOUNTING', 'FINAL')),
    actor_id     uuid NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    cleared_at   timestamptz
);
CREATE INDEX timecard_approvals_card ON timecard_approvals (timecard_id);
