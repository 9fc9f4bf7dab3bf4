-- A version per crew member and work week, bumped in the transaction of every change to that
-- week's time (a wrap also bumps the week of the day after it, whose rest it sets). Cached
-- priced weeks and hot cost reports are keyed by these, so recording today's time leaves the
-- cached pay of every other week valid. Rows are never deleted and versions only grow.
CREATE TABLE crew_weeks (
    crew_member_id uuid NOT NULL REFERENCES crew_members (id),
    week_ending date NOT NULL,
    version integer NOT NULL DEFAULT 1,
    PRIMARY KEY (crew_member_id, week_ending)
);
