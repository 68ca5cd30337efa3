-- Idempotency keys: one row per (account, Idempotency-Key header). The row
-- is inserted in the same transaction that creates the request's jobs, so
-- a concurrent duplicate blocks on the unique index until the first
-- request commits and then replays its jobs; a request that fails before
-- committing leaves nothing behind. request_sha256 covers the route and
-- the raw body, so the same key with another request is refused.
CREATE TABLE idempotency_keys (
    account_id      bigint      NOT NULL REFERENCES accounts(id),
    key             text        NOT NULL,
    request_sha256  bytea       NOT NULL,
    job_ids         uuid[]      NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- OAuth2 clients registered by the operator (api oauth-clients create).
-- Public clients (no secret) must use PKCE; every client must anyway.
CREATE TABLE oauth_clients (
    id             text        PRIMARY KEY,
    name           text        NOT NULL,
    redirect_uris  text[]      NOT NULL,
    secret_sha256  bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- Authorization codes, stored as SHA-256 only. used_at makes a code
-- single-use; a second use revokes every token issued from it.
CREATE TABLE oauth_codes (
    id                     bigserial   PRIMARY KEY,
    code_sha256            bytea       NOT NULL UNIQUE,
    client_id              text        NOT NULL REFERENCES oauth_clients(id),
    api_key_id             bigint      NOT NULL REFERENCES api_keys(id),
    redirect_uri           text        NOT NULL,
    scopes                 text[]      NOT NULL,
    code_challenge         text        NOT NULL,
    code_challenge_method  text        NOT NULL CHECK (code_challenge_method = 'S256'),
    expires_at             timestamptz NOT NULL,
    used_at                timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now()
);

-- Access and refresh tokens, stored as SHA-256 only. A refresh rotates the
-- pair: the old row is revoked and a new one shares its grant (the code it
-- descends from), so a replayed refresh token revokes the whole grant.
CREATE TABLE oauth_tokens (
    id                  bigserial   PRIMARY KEY,
    grant_id            bigint      NOT NULL REFERENCES oauth_codes(id),
    client_id           text        NOT NULL REFERENCES oauth_clients(id),
    api_key_id          bigint      NOT NULL REFERENCES api_keys(id),
    scopes              text[]      NOT NULL,
    access_sha256       bytea       NOT NULL UNIQUE,
    access_expires_at   timestamptz NOT NULL,
    refresh_sha256      bytea       UNIQUE,
    refresh_expires_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
