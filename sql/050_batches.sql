-- A batch is the jobs one playlist, channel or feed was expanded into
-- (POST /api/v1/jobs {"playlist": URL}); job_ids keeps the playlist's
-- order. Its owner reads it back with GET /api/v1/batches/{id}.
CREATE TABLE IF NOT EXISTS batches (
    id          uuid        PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES accounts(id),
    api_key_id  bigint      REFERENCES api_keys(id),
    source_url  text        NOT NULL DEFAULT '',
    title       text        NOT NULL DEFAULT '',
    entries     integer     NOT NULL DEFAULT 0,
    job_ids     uuid[]      NOT NULL CHECK (cardinality(job_ids) BETWEEN 1 AND 1000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS batches_account_created ON batches (account_id, created_at DESC);
-- A replayed request (same Idempotency-Key) finds its batch by its first job.
CREATE INDEX IF NOT EXISTS batches_first_job ON batches (account_id, (job_ids[1]));
