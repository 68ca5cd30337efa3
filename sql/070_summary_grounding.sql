-- Grounded highlights of a summary: each timestamped line of the markdown
-- with the transcript span that supports it, and how many timestamps the
-- grounding checked, repaired and dropped (NULL: not grounded, e.g. a
-- summary made before grounding existed, or a JSON answer).
ALTER TABLE summaries ADD COLUMN IF NOT EXISTS highlights jsonb NOT NULL DEFAULT '[]';
ALTER TABLE summaries ADD COLUMN IF NOT EXISTS grounding jsonb;
