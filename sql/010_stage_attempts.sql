-- Attempts at a job's current stage, counted in Postgres because Redis
-- may lose asynq's own retry counts (a FLUSHDB, a restart without
-- persistence): a requeued task then starts again at zero retries, and
-- only this count keeps the job within its attempt budget. attempts is
-- reset to 1 when the job enters a new stage; attempt_error_code and
-- attempt_error hold the last failed attempt's cause, so a job failed for
-- running out of attempts says why.
ALTER TABLE jobs
    ADD COLUMN attempts           integer NOT NULL DEFAULT 0,
    ADD COLUMN attempt_error_code text    NOT NULL DEFAULT '',
    ADD COLUMN attempt_error      text    NOT NULL DEFAULT '';
