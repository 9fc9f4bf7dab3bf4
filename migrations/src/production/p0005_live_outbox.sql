-- Live events waiting to be published. A change writes its event here in its own transaction,
-- and the node deletes it once published; a node's relay publishes what is left after a few
-- seconds, so an event survives a node that dies right after its commit.
CREATE TABLE live_outbox (
    id bigserial PRIMARY KEY,
    crew_member_id uuid NOT NULL,
    work_date date NOT NULL,
    kind text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_outbox_created_at ON live_outbox (created_at);
