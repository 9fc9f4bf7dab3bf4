-- Crew, deals, call sheets and time capture for one production.

-- One row of production-wide settings.
CREATE TABLE settings (
    id              smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- ISO weekday (1 = Monday .. 7 = Sunday) of the work week's last day.
    work_week_ends  smallint NOT NULL DEFAULT 6 CHECK (work_week_ends BETWEEN 1 AND 7),
    version         integer NOT NULL DEFAULT 1
);
INSERT INTO settings DEFAULT VALUES;

CREATE TABLE crew_members (
    id              uuid PRIMARY KEY,
    department_id   uuid NOT NULL REFERENCES departments (id),
    name            text NOT NULL,
    email           text,
    position        text NOT NULL,
    occupation_code text,
    union_name      text,
    union_local     text,
    rule_set        text NOT NULL,
    -- The signed-in user who punches as this crew member (a control-schema id; no FK by design).
    user_id         uuid,
    invited_email   text,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crew_members_department ON crew_members (department_id, id);
CREATE UNIQUE INDEX crew_members_email ON crew_members (lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX crew_members_user ON crew_members (user_id) WHERE user_id IS NOT NULL;

-- Every version of every deal; the one in force on a date is the latest effective_from <= date.
CREATE TABLE deals (
    id               uuid PRIMARY KEY,
    crew_member_id   uuid NOT NULL REFERENCES crew_members (id),
    version          integer NOT NULL,
    effective_from   date NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('HOURLY', 'DAILY', 'WEEKLY')),
    rate             numeric(12, 4) NOT NULL CHECK (rate > 0),
    guaranteed_hours numeric(5, 2),
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crew_member_id, version),
    UNIQUE (crew_member_id, effective_from)
);

-- Each issued version of a day's call sheet is a row; old versions stay readable.
CREATE TABLE call_sheets (
    id               uuid PRIMARY KEY,
    shoot_date       date NOT NULL,
    issue            integer NOT NULL,
    status           text NOT NULL CHECK (status IN ('DRAFT', 'PUBLISHED', 'SUPERSEDED')),
    day_number       integer NOT NULL CHECK (day_number >= 1),
    total_days       integer NOT NULL CHECK (total_days >= day_number),
    general_call     timestamptz NOT NULL,
    shooting_call    timestamptz,
    planned_meals    jsonb NOT NULL DEFAULT '[]',
    locations        jsonb NOT NULL DEFAULT '[]',
    nearest_hospital text,
    notes            text,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    UNIQUE (shoot_date, issue)
);
-- At most one draft and one published issue per day.
CREATE UNIQUE INDEX call_sheets_one_draft ON call_sheets (shoot_date) WHERE status = 'DRAFT';
CREATE UNIQUE INDEX call_sheets_one_published ON call_sheets (shoot_date) WHERE status = 'PUBLISHED';

CREATE TABLE call_sheet_calls (
    call_sheet_id   uuid NOT NULL REFERENCES call_sheets (id) ON DELETE CASCADE,
    department_id   uuid REFERENCES departments (id),
    crew_member_id  uuid REFERENCES crew_members (id),
    call_at         timestamptz NOT NULL,
    CHECK ((department_id IS NULL) <> (crew_member_id IS NULL))
);
CREATE INDEX call_sheet_calls_sheet ON call_sheet_calls (call_sheet_id);

-- A crew member's work day: the local date of its call in the production's timezone.
CREATE TABLE work_days (
    id              uuid PRIMARY KEY,
    crew_member_id  uuid NOT NULL REFERENCES crew_members (id),
    work_date       date NOT NULL,
    day_type        text NOT NULL DEFAULT 'WORK' CHECK (day_type IN ('WORK', 'TRAVEL', 'IDLE', 'HOLD', 'HOLIDAY')),
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crew_member_id, work_date)
);
CREATE INDEX work_days_date ON work_days (work_date);

CREATE TABLE punches (
    id              uuid PRIMARY KEY,
    work_day_id     uuid NOT NULL REFERENCES work_days (id),
    crew_member_id  uuid NOT NULL REFERENCES crew_members (id),
    kind            text NOT NULL CHECK (kind IN ('CALL', 'NDB_OUT', 'NDB_IN', 'MEAL_OUT', 'MEAL_IN', 'WRAP')),
    at              timestamptz NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    recorded_by     uuid NOT NULL,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX punches_day ON punches (work_day_id) WHERE deleted_at IS NULL;
CREATE INDEX punches_crew_at ON punches (crew_member_id, at) WHERE deleted_at IS NULL;

-- What a correction or deletion changed, and why.
CREATE TABLE punch_revisions (
    id          uuid PRIMARY KEY,
    punch_id    uuid NOT NULL REFERENCES punches (id),
    version     integer NOT NULL,
    old_kind    text NOT NULL,
    old_at      timestamptz NOT NULL,
    new_kind    text,
    new_at      timestamptz,
    reason      text NOT NULL,
    actor_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Weekly timecards; approvals build on status.
CREATE TABLE timecards (
    id              uuid PRIMARY KEY,
    crew_member_id  uuid NOT NULL REFERENCES crew_members (id),
    week_ending     date NOT NULL,
    status          text NOT NULL DEFAULT 'DRAFT',
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crew_member_id, week_ending)
);
