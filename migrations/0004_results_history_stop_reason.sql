-- sweepq schema, version 4: the database stays the truth under hand edits.
--
-- results_history keeps every result that stopped being current: a job set back from
-- `done` (by hand in sqlite3, or by any sweepq command) loses its result row here, and
-- a job done again has its old result moved here when the new one is written. So
-- "one result per done job, none for the others" holds, and nothing is thrown away.
CREATE TABLE results_history (
    history_id          INTEGER PRIMARY KEY,
    job_id              INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    completion_seq      INTEGER NOT NULL,     -- the result's place in the completion order
    passed              INTEGER NOT NULL,
    detail              TEXT NOT NULL,
    wall_seconds        REAL,
    sub_calls           INTEGER NOT NULL,
    output              TEXT,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cache_read_tokens   INTEGER,
    cache_write_tokens  INTEGER,
    cost_usd            REAL,
    models              TEXT,
    completed_at        REAL NOT NULL,
    replaced_at         REAL NOT NULL,
    why                 TEXT NOT NULL         -- 'job left done', 'done again', 'check --repair'
) STRICT;
CREATE INDEX results_history_job ON results_history (job_id);

-- Results of jobs that are not done (left by hand edits before this version) move to
-- the history now, so the invariant holds from here on.
INSERT INTO results_history (job_id, completion_seq, passed, detail, wall_seconds, sub_calls,
    output, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
    models, completed_at, replaced_at, why)
SELECT r.job_id, r.completion_seq, r.passed, r.detail, r.wall_seconds, r.sub_calls, r.output,
       r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.cost_usd,
       r.models, r.completed_at, (julianday('now') - 2440587.5) * 86400.0, 'job left done'
FROM results AS r JOIN jobs AS j USING (job_id) WHERE j.state != 'done';
DELETE FROM results WHERE job_id IN (SELECT job_id FROM jobs WHERE state != 'done');

-- A job leaving `done`, whoever moves it: its result becomes history.
CREATE TRIGGER results_leave_done AFTER UPDATE OF state ON jobs
WHEN OLD.state = 'done' AND NEW.state != 'done' BEGIN
    INSERT INTO results_history (job_id, completion_seq, passed, detail, wall_seconds,
        sub_calls, output, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
        cost_usd, models, completed_at, replaced_at, why)
    SELECT job_id, completion_seq, passed, detail, wall_seconds, sub_calls, output,
           input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
           models, completed_at, (julianday('now') - 2440587.5) * 86400.0, 'job left done'
    FROM results WHERE job_id = OLD.job_id;
    DELETE FROM results WHERE job_id = OLD.job_id;
END;

-- Why the model stopped ('end_turn', 'max_tokens', 'refusal', …; NULL when not known).
ALTER TABLE calls ADD COLUMN stop_reason TEXT;
