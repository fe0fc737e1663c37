-- sweepq schema, version 6: prompt sets stored with their sweep.
--
-- Every text a built-in arm or the BBH task builder sends, as the TOML the user gave
-- (`sweepq enqueue --prompts [NAME=]FILE`), so jobs, retries and resumes build their
-- requests from here, never from the file again. `sha256` is of the parsed content,
-- so a second enqueue with the same set reformatted is the same sweep. A sweep stored
-- before this migration has no rows: it uses the built-in default set, which is the
-- texts it was enqueued with.
CREATE TABLE prompt_sets (
    sweep       TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (name GLOB '[a-z0-9]*' AND name NOT GLOB '*[^a-z0-9_-]*'),
    text        TEXT NOT NULL,                          -- the TOML, as given
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    created_at  REAL NOT NULL,
    PRIMARY KEY (sweep, name)
) STRICT;
