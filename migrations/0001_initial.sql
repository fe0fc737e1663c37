-- sweepq schema, version 1. Released migrations are never edited: add 0002_*.sql instead.
--
-- Times are unix seconds (REAL) so the claim query compares numbers;
-- read them with datetime(col, 'unixepoch') in sqlite3.

-- A named experiment; its fields are those of the historical `_meta` line.
CREATE TABLE sweeps (
    sweep          TEXT PRIMARY KEY,
    benchmark      TEXT,                    -- 'bbh'; NULL for files from before rows named their benchmark
    subtasks       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(subtasks) AND json_type(subtasks) = 'array'),
    n_per_subtask  INTEGER CHECK (n_per_subtask > 0),
    start          INTEGER NOT NULL DEFAULT 0 CHECK (start >= 0),
    arms           TEXT NOT NULL CHECK (json_valid(arms) AND json_type(arms) = 'array'),
    models         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(models) AND json_type(models) = 'object'),
    dataset        TEXT,                    -- where the tasks came from: a path, or NULL for the Hugging Face copy
    has_meta       INTEGER NOT NULL DEFAULT 1 CHECK (has_meta IN (0, 1)),  -- export writes a `_meta` line
    created_at     REAL NOT NULL
) STRICT;

-- One (task_id, arm) of a sweep. Its history is in its row: state, attempts, errors.
CREATE TABLE jobs (
    job_id            INTEGER PRIMARY KEY,
    sweep             TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    task_id           TEXT NOT NULL,
    arm               TEXT NOT NULL,
    position          INTEGER NOT NULL,     -- canonical order: task-major, arm-minor
    task              TEXT NOT NULL CHECK (json_valid(task)),   -- payload: prompt, choices, gold
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'running', 'done', 'error')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    available_at      REAL NOT NULL DEFAULT 0,   -- not claimable before this (backoff)
    lease_owner       TEXT,                      -- worker holding the job while running
    lease_expires_at  REAL,                      -- after this a running job is claimable again
    created_at        REAL NOT NULL,
    started_at        REAL,                      -- last claim
    finished_at       REAL,                      -- done or error
    last_error        TEXT,
    errors            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(errors)),  -- trail: [{at, attempt, kind, message}]
    UNIQUE (sweep, task_id, arm),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
) STRICT;

-- The claim index: only claimable states, in canonical order, so the claim
-- reads the first few entries instead of sorting the queue.
CREATE INDEX jobs_claimable ON jobs (sweep, position) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_sweep_state ON jobs (sweep, state, arm);

-- What a done job produced. completion_seq is the order results were committed.
CREATE TABLE results (
    completion_seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id              INTEGER NOT NULL UNIQUE REFERENCES jobs (job_id) ON DELETE CASCADE,
    passed              INTEGER NOT NULL CHECK (passed IN (0, 1)),
    detail              TEXT NOT NULL,        -- 'passed', 'expected X got Y', 'unparseable', 'scorer …'
    wall_seconds        REAL,
    sub_calls           INTEGER NOT NULL CHECK (sub_calls >= 0),   -- model calls the arm made
    output              TEXT,                 -- the final answer text
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cache_read_tokens   INTEGER,
    cache_write_tokens  INTEGER,
    cost_usd            REAL,
    models              TEXT CHECK (models IS NULL OR json_valid(models)),  -- model ids called
    completed_at        REAL NOT NULL
) STRICT;

-- One model call inside a job; a retried job replays successful calls from here.
CREATE TABLE calls (
    call_id             INTEGER PRIMARY KEY,
    job_id              INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    attempt             INTEGER NOT NULL,
    call_index          INTEGER NOT NULL,     -- order within the arm
    model               TEXT NOT NULL,
    request_hash        TEXT NOT NULL,
    response_text       TEXT,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cache_read_tokens   INTEGER,
    cache_write_tokens  INTEGER,
    cost_usd            REAL,
    latency_seconds     REAL,
    error_class         TEXT CHECK (error_class IN ('exhausted', 'rate_limited', 'transient', 'fatal')),
    error               TEXT,
    created_at          REAL NOT NULL,
    CHECK ((error_class IS NULL) = (response_text IS NOT NULL))
) STRICT;
CREATE INDEX calls_job ON calls (job_id, request_hash);

-- Queue-wide pauses (the account is exhausted, or rate-limited). Active while
-- cleared_at is NULL and resume_at is NULL (until `sweepq resume`) or in the future.
CREATE TABLE pauses (
    pause_id    INTEGER PRIMARY KEY,
    resume_at   REAL,
    reason      TEXT NOT NULL,
    message     TEXT,
    set_by      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    cleared_at  REAL
) STRICT;

-- Per sweep, per arm: where the sweep stands.
CREATE VIEW arm_summary AS
SELECT
    j.sweep,
    j.arm,
    count(*)                                   AS total,
    sum(j.state = 'done')                      AS done,
    coalesce(sum(r.passed), 0)                 AS passed,
    round(avg(r.passed), 4)                    AS pass_rate,
    sum(j.state = 'error')                     AS errors,
    sum(j.state = 'pending')                   AS pending,
    sum(j.state = 'running')                   AS running
FROM jobs AS j
LEFT JOIN results AS r USING (job_id)
GROUP BY j.sweep, j.arm;

-- Jobs with readable times, for ad-hoc questions.
CREATE VIEW jobs_readable AS
SELECT
    job_id, sweep, task_id, arm, state, attempts, max_attempts,
    datetime(available_at, 'unixepoch')      AS available_at,
    lease_owner,
    datetime(lease_expires_at, 'unixepoch')  AS lease_expires_at,
    datetime(started_at, 'unixepoch')        AS started_at,
    datetime(finished_at, 'unixepoch')       AS finished_at,
    last_error
FROM jobs;
