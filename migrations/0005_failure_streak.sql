-- sweepq schema, version 5: the breaker's state and the history of sweeps' model maps.
--
-- failure_streak holds one row: the signature (kind + message with digits masked) of the
-- failure that ended the latest attempts, and the jobs whose attempts it ended in a row.
-- `Queue.fail` and `Queue.complete` update it in their own short transaction, so every
-- process counts together; 5 different jobs trip the breaker (a pause, reason
-- 'unrecognised'), and tripped_pause remembers which pause it set.
CREATE TABLE failure_streak (
    streak_id      INTEGER PRIMARY KEY CHECK (streak_id = 1),
    signature      TEXT NOT NULL,
    jobs           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(jobs)),  -- job ids, one per charged attempt
    tripped_pause  INTEGER REFERENCES pauses (pause_id),
    updated_at     REAL NOT NULL
) STRICT;

-- Every change `sweepq models` made to a sweep's model map.
CREATE TABLE model_changes (
    change_id   INTEGER PRIMARY KEY,
    sweep       TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    alias       TEXT NOT NULL,
    old_model   TEXT,
    new_model   TEXT NOT NULL,
    forced      INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),  -- results with old_model existed
    changed_at  REAL NOT NULL
) STRICT;
