-- Control schema: who can sign in, which productions exist and where their data lives.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE productions (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    currency    char(3) NOT NULL,
    -- Derived from the id by the server; never client input.
    schema_name text NOT NULL UNIQUE CHECK (schema_name ~ '^prod_[0-9a-f]{32}$'),
    -- The PostgreSQL cluster that holds the schema; one cluster today, several later.
    placement   text NOT NULL DEFAULT 'primary',
    created_by  uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    production_id uuid NOT NULL REFERENCES productions (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('ADMIN', 'ACCOUNTANT', 'UPM', 'COORDINATOR', 'DEPARTMENT_HEAD', 'CREW')),
    -- Scope for department heads and crew; a department id inside the production's schema.
    department_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, production_id, role)
);
CREATE INDEX memberships_production ON memberships (production_id);

-- Rotating refresh tokens: only a hash is stored; a family shares one login.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Replay protection for control-level creates (createProduction).
CREATE TABLE idempotency_keys (
    actor_id     uuid NOT NULL,
    operation    text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, operation, key)
);
