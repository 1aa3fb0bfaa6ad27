-- 0001 in PostgreSQL's dialect: the same tables, columns and keys as
-- migrations/sqlite/0001_init.sql (read its comments), with BIGINT for SQLite's INTEGER
-- and the call list's call_id ordered bytewise ("C"), as SQLite orders text.

CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    -- The event kind and up to three arguments (see store/codec.rs).
    kind TEXT NOT NULL,
    a TEXT,
    b TEXT,
    c TEXT,
    PRIMARY KEY (call_id, seq)
);

CREATE TABLE agent_events (
    agent_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

-- One row per call: the call list and the KPIs.
CREATE TABLE calls (
    call_id TEXT COLLATE "C" PRIMARY KEY,
    -- NULL until the start event arrives.
    started_ms BIGINT,
    number TEXT,
    caller TEXT,
    call_type TEXT,
    scenario_id TEXT,
    department TEXT,
    agent TEXT,
    queued BIGINT NOT NULL,
    wait_ms BIGINT,
    abandon_wait_ms BIGINT,
    handle_ms BIGINT,
    ended_ms BIGINT,
    end_reason TEXT,
    talk_ms BIGINT NOT NULL,
    callback_requested BIGINT NOT NULL,
    callback_department TEXT,
    callback_kept BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    events BIGINT NOT NULL
);
CREATE INDEX calls_started ON calls (started_ms);

-- One row per scenario a started call walked: the scenario report's facts, with the
-- call's second-dimension values copied in so that the report reads one table.
CREATE TABLE scenario_passes (
    call_id TEXT NOT NULL,
    pass_no BIGINT NOT NULL,
    -- NULL: the call entered no scenario.
    scenario_id TEXT,
    started_ms BIGINT NOT NULL,
    number TEXT NOT NULL,
    call_type TEXT NOT NULL,
    end_reason TEXT,
    department TEXT,
    by_option BIGINT NOT NULL,
    re_pass BIGINT NOT NULL,
    transferred BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    no_conversation BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    -- 0 until the call ends (the averages are over ended calls).
    total_ms BIGINT NOT NULL,
    talk_ms BIGINT NOT NULL,
    -- Clustered by start: a report's time range is one sequential read.
    PRIMARY KEY (started_ms, call_id, pass_no)
);
-- A call's rows, to rewrite them.
CREATE INDEX scenario_passes_call ON scenario_passes (call_id);

-- The operations walked in each pass (the "operation" dimension).
CREATE TABLE pass_operations (
    call_id TEXT NOT NULL,
    pass_no BIGINT NOT NULL,
    operation_id TEXT NOT NULL,
    PRIMARY KEY (call_id, pass_no, operation_id)
);

-- The scenario report pre-aggregated per hour of call start, per second dimension: a
-- report over whole hours reads these sums instead of every pass. `dimension` is 'none',
-- 'number', 'call_type', 'end_reason', 'department' or 'operation'; the keys are '' for
-- "none" and '=' followed by the id or value otherwise (primary key columns cannot be
-- NULL here). Kept in step with scenario_passes in the ingest's transaction.
CREATE TABLE report_rollup (
    dimension TEXT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    scenario_key TEXT NOT NULL,
    value_key TEXT NOT NULL,
    total BIGINT NOT NULL,
    by_option BIGINT NOT NULL,
    transferred BIGINT NOT NULL,
    no_conversation BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    re_pass BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    total_ms BIGINT NOT NULL,
    talk_ms BIGINT NOT NULL,
    PRIMARY KEY (dimension, bucket_ms, scenario_key, value_key)
);

-- Where each event source was read up to, committed with the events it covers: a
-- reporting node that restarts resumes from here.
CREATE TABLE sources (
    source TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
