-- sweepq schema 0011 (issue 23's import): an imported file
-- keeps its own spelling.
--
-- A historical file is exported byte for byte after `sweepq import`, whatever its
-- formatting (CRLF, `1` or `2.50` for wall_seconds, raw UTF-8 or \u escapes, key
-- order, keys sweepq does not know): the line is stored as it was read, with its line
-- end and any blank lines before it, and `export` writes it back verbatim. NULL for a
-- result sweepq made (and for an imported row `import --lenient` had to change):
-- `export` builds that line from the columns, as before.
ALTER TABLE results ADD COLUMN line TEXT;
-- export asks whether a sweep has any: a sweep sweepq ran has none, and answers at once.
CREATE INDEX results_lines ON results (job_id) WHERE line IS NOT NULL;

-- The file's `_meta` line as read (NULL: the sweep's own, rebuilt from its columns).
ALTER TABLE sweeps ADD COLUMN meta_line TEXT;
