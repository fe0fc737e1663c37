-- sweepq schema, version 2: what `sweepq status` reads instead of joining every result.
--
-- result_buckets counts a sweep's results per arm and per (passed, sub_calls,
-- unparseable): everything the status view derives (pass rate, escalations,
-- cost units) is a function of those, so a status on a million-job sweep reads
-- a few dozen rows. Triggers keep it in step with `results`; status checks that
-- its row count equals the sweep's done jobs and falls back to the join if not.
CREATE TABLE result_buckets (
    sweep              TEXT NOT NULL,
    arm                TEXT NOT NULL,
    passed             INTEGER NOT NULL,
    sub_calls          INTEGER NOT NULL,
    unparseable        INTEGER NOT NULL,    -- detail = 'unparseable'
    n                  INTEGER NOT NULL,    -- results in the bucket
    cost_usd           REAL NOT NULL DEFAULT 0,     -- sum over the rows that have a cost
    cost_usd_rows      INTEGER NOT NULL DEFAULT 0,  -- rows that have a cost
    first_started_at   REAL,                -- min(completed_at - wall_seconds): about the first claim
    last_completed_at  REAL,
    PRIMARY KEY (sweep, arm, passed, sub_calls, unparseable)
) STRICT, WITHOUT ROWID;

INSERT INTO result_buckets
SELECT j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable', count(*),
       coalesce(sum(r.cost_usd), 0), count(r.cost_usd),
       min(r.completed_at - coalesce(r.wall_seconds, 0)), max(r.completed_at)
FROM results AS r JOIN jobs AS j USING (job_id)
GROUP BY j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable';

CREATE TRIGGER result_buckets_insert AFTER INSERT ON results BEGIN
    INSERT INTO result_buckets (sweep, arm, passed, sub_calls, unparseable, n, cost_usd,
                                cost_usd_rows, first_started_at, last_completed_at)
    SELECT sweep, arm, NEW.passed, NEW.sub_calls, NEW.detail = 'unparseable', 1,
           coalesce(NEW.cost_usd, 0), NEW.cost_usd IS NOT NULL,
           NEW.completed_at - coalesce(NEW.wall_seconds, 0), NEW.completed_at
    FROM jobs WHERE job_id = NEW.job_id
    ON CONFLICT (sweep, arm, passed, sub_calls, unparseable) DO UPDATE SET
        n = n + 1,
        cost_usd = cost_usd + excluded.cost_usd,
        cost_usd_rows = cost_usd_rows + excluded.cost_usd_rows,
        first_started_at = min(first_started_at, excluded.first_started_at),
        last_completed_at = max(last_completed_at, excluded.last_completed_at);
END;

-- A result deleted on its own (the job still exists).
CREATE TRIGGER result_buckets_delete AFTER DELETE ON results BEGIN
    UPDATE result_buckets
    SET n = n - 1, cost_usd = cost_usd - coalesce(OLD.cost_usd, 0),
        cost_usd_rows = cost_usd_rows - (OLD.cost_usd IS NOT NULL)
    WHERE (sweep, arm) = (SELECT sweep, arm FROM jobs WHERE job_id = OLD.job_id)
      AND passed = OLD.passed AND sub_calls = OLD.sub_calls
      AND unparseable = (OLD.detail = 'unparseable');
    DELETE FROM result_buckets WHERE n <= 0;
END;

-- A job deleted with its result (directly or by ON DELETE CASCADE from its sweep):
-- here the result is still readable, in the results trigger the job no longer is.
CREATE TRIGGER result_buckets_delete_job BEFORE DELETE ON jobs WHEN OLD.state = 'done' BEGIN
    UPDATE result_buckets
    SET n = n - 1,
        cost_usd = cost_usd - coalesce((SELECT cost_usd FROM results WHERE job_id = OLD.job_id), 0),
        cost_usd_rows = cost_usd_rows
                        - coalesce((SELECT cost_usd IS NOT NULL FROM results
                                    WHERE job_id = OLD.job_id), 0)
    WHERE sweep = OLD.sweep AND arm = OLD.arm
      AND (passed, sub_calls, unparseable) = (SELECT passed, sub_calls, detail = 'unparseable'
                                              FROM results WHERE job_id = OLD.job_id);
    DELETE FROM result_buckets WHERE n <= 0;
END;

-- A result edited by hand: out with the old row, in with the new.
CREATE TRIGGER result_buckets_update AFTER UPDATE OF passed, sub_calls, detail, cost_usd
ON results BEGIN
    UPDATE result_buckets
    SET n = n - 1, cost_usd = cost_usd - coalesce(OLD.cost_usd, 0),
        cost_usd_rows = cost_usd_rows - (OLD.cost_usd IS NOT NULL)
    WHERE (sweep, arm) = (SELECT sweep, arm FROM jobs WHERE job_id = OLD.job_id)
      AND passed = OLD.passed AND sub_calls = OLD.sub_calls
      AND unparseable = (OLD.detail = 'unparseable');
    DELETE FROM result_buckets WHERE n <= 0;
    INSERT INTO result_buckets (sweep, arm, passed, sub_calls, unparseable, n, cost_usd,
                                cost_usd_rows, first_started_at, last_completed_at)
    SELECT sweep, arm, NEW.passed, NEW.sub_calls, NEW.detail = 'unparseable', 1,
           coalesce(NEW.cost_usd, 0), NEW.cost_usd IS NOT NULL,
           NEW.completed_at - coalesce(NEW.wall_seconds, 0), NEW.completed_at
    FROM jobs WHERE job_id = NEW.job_id
    ON CONFLICT (sweep, arm, passed, sub_calls, unparseable) DO UPDATE SET
        n = n + 1,
        cost_usd = cost_usd + excluded.cost_usd,
        cost_usd_rows = cost_usd_rows + excluded.cost_usd_rows,
        first_started_at = min(first_started_at, excluded.first_started_at),
        last_completed_at = max(last_completed_at, excluded.last_completed_at);
END;

-- The pace of the last minutes reads only the recent results.
CREATE INDEX results_completed_at ON results (completed_at);
