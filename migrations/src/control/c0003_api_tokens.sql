-- Integrator API tokens. A token acts in exactly one production within its scopes. Only the
-- SHA-256 of the token is kept: the token itself is shown once, when it is created, so a copy
-- of this table cannot be used to call the API.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    production_id uuid NOT NULL REFERENCES productions (id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    scopes        text[] NOT NULL CHECK (
        cardinality(scopes) > 0
        AND scopes <@ ARRAY['READ_TIME', 'READ_PAY', 'WRITE_PUNCHES', 'READ_AUDIT']::text[]
    ),
    -- NULL: valid until revoked.
    expires_at    timestamptz,
    created_by    uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Refreshed at most once a minute, so a busy integration does not write on every request.
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
-- The production's token list, in creation order (ids are UUIDv7).
CREATE INDEX api_tokens_production ON api_tokens (production_id, id);
