-- Invitations that link a crew member to a user account. Accepting one is unauthenticated (the
-- crew member may have no account yet), so the token must lead to the production: it lives here.
CREATE TABLE invitations (
    id             uuid PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE,
    production_id  uuid NOT NULL REFERENCES productions (id) ON DELETE CASCADE,
    crew_member_id uuid NOT NULL,
    department_id  uuid NOT NULL,
    email          text NOT NULL,
    invited_by     uuid NOT NULL REFERENCES users (id),
    expires_at     timestamptz NOT NULL,
    accepted_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
