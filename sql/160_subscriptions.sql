-- A subscription follows a channel, playlist or feed: a scheduler checks
-- it when next_check_at comes (claiming due rows with FOR UPDATE SKIP
-- LOCKED, so any number of replicas may look), and every entry it has not
-- seen becomes a job. The account's own view: GET /api/v1/subscriptions.
CREATE TABLE IF NOT EXISTS subscriptions (
    id                 uuid        PRIMARY KEY,
    account_id         bigint      NOT NULL REFERENCES accounts(id),
    api_key_id         bigint      NOT NULL REFERENCES api_keys(id),
    url                text        NOT NULL,
    title              text        NOT NULL DEFAULT '',
    interval_seconds   integer     NOT NULL CHECK (interval_seconds > 0),
    first_limit        integer     NOT NULL CHECK (first_limit > 0),
    webhook_url        text        NOT NULL DEFAULT '',
    prompt             text        NOT NULL DEFAULT '',
    language           text        NOT NULL DEFAULT '',
    model              text        NOT NULL DEFAULT '',
    -- active: checked every interval; failing: the last check failed,
    -- checked again after a growing back-off; paused: not checked.
    state              text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failing', 'paused')),
    paused_reason      text        NOT NULL DEFAULT '',
    failures           integer     NOT NULL DEFAULT 0,
    last_error         text        NOT NULL DEFAULT '',
    last_error_code    text        NOT NULL DEFAULT '',
    -- The feed is read with a secret token in its URL; only its hash lives here.
    feed_token_sha256  bytea       NOT NULL UNIQUE,
    checks             bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_checked_at    timestamptz,
    next_check_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (next_check_at) WHERE state <> 'paused';
CREATE INDEX IF NOT EXISTS subscriptions_account ON subscriptions (account_id, created_at DESC, id DESC);

-- Every entry a subscription has seen, once: the row of a new entry is
-- inserted in the transaction that creates its job, so two checkers, a
-- restart or a source that reorders never make a second job for it.
-- job_id is NULL for an entry seen but not summarized (past the first
-- check's limit, or refused by admission: skip_code says why).
CREATE TABLE IF NOT EXISTS subscription_entries (
    subscription_id  uuid        NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    video_key        text        NOT NULL,
    url              text        NOT NULL,
    title            text        NOT NULL DEFAULT '',
    job_id           uuid,
    skip_code        text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (subscription_id, video_key)
);
CREATE INDEX IF NOT EXISTS subscription_entries_jobs ON subscription_entries (subscription_id, created_at DESC) WHERE job_id IS NOT NULL;
