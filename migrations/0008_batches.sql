-- sweepq schema, version 8: Message Batches (sweepq/batch.py).
--
-- batches: one row per batch this database prepared. The row and its requests are
-- committed before the batch is submitted ('prepared'), its API id right after
-- ('submitted'); a process killed in between finds the batch again by listing recent
-- batches and matching `batch_key`, which is in every custom_id of the batch.
CREATE TABLE batches (
    batch_key     TEXT PRIMARY KEY,            -- ours: 'sq' + 10 hex, in every custom_id
    batch_id      TEXT UNIQUE,                 -- the API's msgbatch_…, NULL until known
    sweep         TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    owner         TEXT NOT NULL,               -- the worker that prepared it
    state         TEXT NOT NULL DEFAULT 'prepared'
                  CHECK (state IN ('prepared', 'submitted', 'ingested', 'abandoned')),
    requests      INTEGER NOT NULL CHECK (requests > 0),
    bytes         INTEGER NOT NULL,
    processing    INTEGER NOT NULL DEFAULT 0,  -- request_counts at the latest poll
    succeeded     INTEGER NOT NULL DEFAULT 0,
    errored       INTEGER NOT NULL DEFAULT 0,
    canceled      INTEGER NOT NULL DEFAULT 0,
    expired       INTEGER NOT NULL DEFAULT 0,
    price_factor  REAL NOT NULL DEFAULT 0.5,   -- the batch price: this times the live price
    created_at    REAL NOT NULL,               -- prepared
    submitted_at  REAL,
    expires_at    REAL,                        -- the API's: 24 h after creation
    polled_at     REAL,
    ended_at      REAL,                        -- processing ended (the API's ended_at)
    ingested_at   REAL
) STRICT;
CREATE INDEX batches_open ON batches (sweep, state) WHERE state IN ('prepared', 'submitted');

-- batch_requests: which job and call each custom_id is, and what became of it.
CREATE TABLE batch_requests (
    custom_id     TEXT PRIMARY KEY,
    batch_key     TEXT NOT NULL REFERENCES batches (batch_key) ON DELETE CASCADE,
    job_id        INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    call_index    INTEGER NOT NULL,
    model         TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    outcome       TEXT CHECK (outcome IN ('succeeded', 'errored', 'expired', 'canceled')),
    error         TEXT
) STRICT;
CREATE INDEX batch_requests_batch ON batch_requests (batch_key, outcome);
CREATE INDEX batch_requests_job ON batch_requests (job_id);
