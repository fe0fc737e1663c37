-- sweepq schema, version 9: pauses scoped to what ran out.
--
-- pauses.scope: NULL is a queue-wide pause, as every pause was before; otherwise the
-- provider that ran out ('openai', 'gemini', 'local@URL'), or for Claude a model
-- ('model:ID'). A scoped pause holds back only the arms that call it; the claim skips
-- the arms arm_scopes ties to an open scoped pause.
ALTER TABLE pauses ADD COLUMN scope TEXT CHECK (scope IS NULL OR length(scope) > 0);

-- arm_scopes: which arm of a sweep needs which scope, learned when one of its jobs met
-- that scope's failure or pause (arms are code: what they call is known only by running
-- them). Cleared for a sweep when its model map changes.
CREATE TABLE arm_scopes (
    sweep       TEXT NOT NULL REFERENCES sweeps (sweep) ON DELETE CASCADE,
    arm         TEXT NOT NULL,
    scope       TEXT NOT NULL,
    learned_at  REAL NOT NULL,
    PRIMARY KEY (sweep, arm, scope)
) STRICT;
