-- Clients that registered themselves (RFC 7591 dynamic registration,
-- POST /api/auth/register), such as MCP clients connecting for the first
-- time: always public (no secret, PKCE required). used_at is when a client
-- was first issued tokens. A registered client never used within a day of
-- registering (store.UnusedClientTTL) is invalid, and is deleted, with its
-- unredeemed codes, by a later registration: registering costs nothing, so
-- abandoned registrations must not pile up.
ALTER TABLE oauth_clients
    ADD COLUMN registered boolean NOT NULL DEFAULT false,
    ADD COLUMN used_at    timestamptz;

CREATE INDEX oauth_clients_unused ON oauth_clients (created_at) WHERE registered AND used_at IS NULL;
