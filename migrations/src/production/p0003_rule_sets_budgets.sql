-- Pay rule sets per production (copies of presets with overrides), versioned by effective date,
-- department budgets, and the version stamps that key cached pay.

CREATE TABLE rule_sets (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    version        integer NOT NULL,
    effective_from date NOT NULL,
    -- The whole rule set as data (the preset's shape with the overrides applied).
    body           jsonb NOT NULL,
    reason         text NOT NULL,
    created_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version),
    UNIQUE (name, effective_from)
);

-- Bumped by every change to a rule set: part of every cached pay key.
ALTER TABLE settings ADD COLUMN rules_version integer NOT NULL DEFAULT 1;

-- Bumped by every change to a crew member's punches, days or deal: part of every cached pay key.
ALTER TABLE crew_members ADD COLUMN time_version integer NOT NULL DEFAULT 1;

-- The department's daily labour budget for the hot cost report.
ALTER TABLE departments ADD COLUMN daily_budget numeric(14, 2);
