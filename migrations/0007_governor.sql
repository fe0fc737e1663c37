-- sweepq schema, version 7: the rate-limit governor's shared state (sweepq/governor.py).
--
-- Every `sweepq work` process on one database paces its calls from these rows, each
-- read and written in one short transaction per admission or settlement.
--
-- governor_models: one row per model id. `mode` is how calls to it are admitted:
-- 'probe' (nothing learned yet: one call at a time until a response tells the limits),
-- 'headers' (paced from the anthropic-ratelimit-* headers), 'aimd' (no headers: an
-- additive-increase/multiplicative-decrease window of calls in flight; NULL = no cap).
CREATE TABLE governor_models (
    model           TEXT PRIMARY KEY,
    mode            TEXT NOT NULL DEFAULT 'probe' CHECK (mode IN ('probe', 'headers', 'aimd')),
    aimd_window     REAL,                       -- aimd: calls in flight allowed (NULL: no cap)
    admitted        INTEGER NOT NULL DEFAULT 0, -- calls admitted, all processes
    refusals        INTEGER NOT NULL DEFAULT 0, -- 429s met by those calls
    last_slot_at    REAL,                       -- the latest admission time handed out
    interval_ewma   REAL,                       -- smoothed seconds between admissions (the pace)
    updated_at      REAL NOT NULL
) STRICT;

-- governor_limits: one token bucket per model and limit, as the headers describe it.
-- `level` is what the bucket holds at `level_at` after every admission so far (negative:
-- owed by calls admitted at future slots); it refills at limit_per_minute / 60 a second
-- up to `capacity`.
CREATE TABLE governor_limits (
    model             TEXT NOT NULL REFERENCES governor_models (model) ON DELETE CASCADE,
    resource          TEXT NOT NULL CHECK (resource IN ('requests', 'input_tokens', 'output_tokens')),
    limit_per_minute  REAL NOT NULL CHECK (limit_per_minute > 0),
    capacity          REAL NOT NULL,
    level             REAL NOT NULL,
    level_at          REAL NOT NULL,
    PRIMARY KEY (model, resource)
) STRICT;

-- governor_grants: calls admitted and not yet settled (in flight, or waiting for their
-- slot). A row whose lease has passed belongs to a process that died: it is dropped and
-- its output reservation given back by the next admission.
CREATE TABLE governor_grants (
    grant_id          INTEGER PRIMARY KEY,
    model             TEXT NOT NULL,
    owner             TEXT NOT NULL,
    requests          REAL NOT NULL,
    input_tokens      REAL NOT NULL,
    output_tokens     REAL NOT NULL,
    slot_at           REAL NOT NULL,
    lease_expires_at  REAL NOT NULL
) STRICT;
CREATE INDEX governor_grants_model ON governor_grants (model, lease_expires_at);
