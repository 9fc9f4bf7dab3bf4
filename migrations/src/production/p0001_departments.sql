-- One production's own schema. No foreign keys into the control schema, so the schema can move
-- to another PostgreSQL cluster whole.
CREATE TABLE departments (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    code       text,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX departments_name ON departments (lower(name));

-- Replay protection for creates inside this production.
CREATE TABLE idempotency_keys (
    actor_id     uuid NOT NULL,
    operation    text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, operation, key)
);
