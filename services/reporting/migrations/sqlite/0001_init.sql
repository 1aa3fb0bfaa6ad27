-- 0001: events, the call records derived from them, and the report's facts.
--
-- call_events and agent_events are the source of truth: (call_id, seq) and
-- (agent_id, seq) are the events' identities, so a batch ingested twice adds nothing.
-- calls, scenario_passes and pass_operations are derived (rewritten for every call that
-- gets a new event) and could be rebuilt from the events.
-- PostgreSQL gets the same tables and columns in its own dialect
-- (migrations/postgres/0001_init.sql), numbered the same.

CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    -- The event kind and up to three arguments (see store/codec.rs).
    kind TEXT NOT NULL,
    a TEXT,
    b TEXT,
    c TEXT,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;

CREATE TABLE agent_events (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;

-- One row per call: the call list and the KPIs.
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    -- NULL until the start event arrives.
    started_ms INTEGER,
    number TEXT,
    caller TEXT,
    call_type TEXT,
    scenario_id TEXT,
    department TEXT,
    agent TEXT,
    queued INTEGER NOT NULL,
    wait_ms INTEGER,
    abandon_wait_ms INTEGER,
    handle_ms INTEGER,
    ended_ms INTEGER,
    end_reason TEXT,
    talk_ms INTEGER NOT NULL,
    callback_requested INTEGER NOT NULL,
    callback_department TEXT,
    callback_kept INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    events INTEGER NOT NULL
);
CREATE INDEX calls_started ON calls (started_ms);

-- One row per scenario a started call walked: the scenario report's facts, with the
-- call's second-dimension values copied in so that the report reads one table.
CREATE TABLE scenario_passes (
    call_id TEXT NOT NULL,
    pass_no INTEGER NOT NULL,
    -- NULL: the call entered no scenario.
    scenario_id TEXT,
    started_ms INTEGER NOT NULL,
    number TEXT NOT NULL,
    call_type TEXT NOT NULL,
    end_reason TEXT,
    department TEXT,
    by_option INTEGER NOT NULL,
    re_pass INTEGER NOT NULL,
    transferred INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    no_conversation INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    -- 0 until the call ends (the averages are over ended calls).
    total_ms INTEGER NOT NULL,
    talk_ms INTEGER NOT NULL,
    -- Clustered by start: a report's time range is one sequential read.
    PRIMARY KEY (started_ms, call_id, pass_no)
) WITHOUT ROWID;
-- A call's rows, to rewrite them.
CREATE INDEX scenario_passes_call ON scenario_passes (call_id);

-- The operations walked in each pass (the "operation" dimension).
CREATE TABLE pass_operations (
    call_id TEXT NOT NULL,
    pass_no INTEGER NOT NULL,
    operation_id TEXT NOT NULL,
    PRIMARY KEY (call_id, pass_no, operation_id)
) WITHOUT ROWID;

-- The scenario report pre-aggregated per hour of call start, per second dimension: a
-- report over whole hours reads these sums instead of every pass. `dimension` is 'none',
-- 'number', 'call_type', 'end_reason', 'department' or 'operation'; the keys are '' for
-- "none" and '=' followed by the id or value otherwise (primary key columns cannot be
-- NULL here). Kept in step with scenario_passes in the ingest's transaction.
CREATE TABLE report_rollup (
    dimension TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    scenario_key TEXT NOT NULL,
    value_key TEXT NOT NULL,
    total INTEGER NOT NULL,
    by_option INTEGER NOT NULL,
    transferred INTEGER NOT NULL,
    no_conversation INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    re_pass INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    total_ms INTEGER NOT NULL,
    talk_ms INTEGER NOT NULL,
    PRIMARY KEY (dimension, bucket_ms, scenario_key, value_key)
) WITHOUT ROWID;

-- Where each event source was read up to, committed with the events it covers: a
-- reporting node that restarts resumes from here.
CREATE TABLE sources (
    source TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
