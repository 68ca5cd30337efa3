-- Every cached answer is recorded as a job row, and at a batch user's
-- rates those inserts are most of what a cached answer costs Postgres.
-- Each foreign key costs a trigger and a row lock on its parent per row:
-- measured here, 50,000 rows with jobs' four foreign keys took 40 µs a row,
-- with two 22 µs, with none 8 µs. The references to transcripts and
-- summaries are dropped: a job only ever points at a transcript or summary
-- it has just read or written, and neither table has a DELETE anywhere in
-- Recap (they are immutable, kept for the caches). The references to
-- accounts and api_keys stay: those rows do change.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_transcript_fk;
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_summary_fk;
