-- Admission counts an account's running summary jobs that are not priced
-- yet (store.Balance.Unpriced); this keeps that count off the account's
-- finished jobs.
CREATE INDEX IF NOT EXISTS jobs_unpriced ON jobs (account_id)
    WHERE kind = 'summary' AND cost_seconds = 0 AND state NOT IN ('succeeded','failed','canceled');
