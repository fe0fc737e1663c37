-- sweepq schema: scorers as data, and scorings of a sweep besides its own.
-- (Assigned number 0012 for the merge: rename the file if 0010 and 0011 exist by then.)
--
-- sweeps.scorer: the named scorer (`sweepq`, `echo`, or one registered under the entry
-- point group `sweepq.scorers`) every job, retry and resume of the sweep scores with.
-- Sweeps stored before this migration were scored by sweepq's own scorer.
ALTER TABLE sweeps ADD COLUMN scorer TEXT NOT NULL DEFAULT 'sweepq'
    CHECK (length(scorer) BETWEEN 1 AND 64);

-- scorings: the sweep's stored replies scored again by another scorer (`sweepq rescore`),
-- without a model call. The sweep's own verdicts stay in `results`; a scoring's are in
-- `verdicts`, one per result that had a reply to read.
CREATE TABLE scorings (
    sweep       TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    scorer      TEXT NOT NULL CHECK (length(scorer) BETWEEN 1 AND 64),
    results     INTEGER NOT NULL CHECK (results >= 0),   -- verdicts written
    no_reply    INTEGER NOT NULL CHECK (no_reply >= 0),  -- results with no stored reply
    created_at  REAL NOT NULL,
    PRIMARY KEY (sweep, scorer)
) STRICT;

CREATE TABLE verdicts (
    job_id      INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    scorer      TEXT NOT NULL,
    passed      INTEGER NOT NULL CHECK (passed IN (0, 1)),
    detail      TEXT NOT NULL,
    PRIMARY KEY (scorer, job_id)
) STRICT, WITHOUT ROWID;

-- A result that goes (its job left `done`, `check --repair`) takes its rescored
-- verdicts with it: a later result of the same job was never read by that scoring.
CREATE TRIGGER verdicts_follow_results AFTER DELETE ON results BEGIN
    DELETE FROM verdicts WHERE job_id = OLD.job_id;
END;
