-- sweepq schema, version 3: every claim asks whether a pause is open, so index the open
-- ones. Without this the claim scanned the whole pauses history (a long sweep that
-- keeps meeting rate limits writes hundreds of pause rows).
CREATE INDEX pauses_open ON pauses (resume_at) WHERE cleared_at IS NULL;
