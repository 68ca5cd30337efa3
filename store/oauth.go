package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// Prefixes of OAuth2 secrets, so the auth middleware can tell an access
// token from an API key and secret scanners can recognize each kind.
const (
	AccessTokenPrefix  = "rcpat_"
	RefreshTokenPrefix = "rcprt_"
	ClientIDPrefix     = "rcpc_"
	ClientSecretPrefix = "rcpcs_"
)

// OAuth2 sentinel errors; the token endpoint maps each to an RFC 6749 error.
var (
	// ErrInvalidGrant means a code or refresh token is unknown, expired,
	// already used, or was issued to another client.
	ErrInvalidGrant = errors.New("invalid grant")
	// ErrInvalidScope means a refresh asked for more than was granted.
	ErrInvalidScope = errors.New("invalid scope")
)

// OAuthClient is a registered OAuth2 client application.
type OAuthClient struct {
	ID           string
	Name         string
	RedirectURIs []string
	// Confidential clients have a secret and must authenticate at the
	// token endpoint; public ones rely on PKCE alone.
	Confidential bool
	// Registered clients registered themselves (RFC 7591): public, and
	// unverified by the operator.
	Registered bool
	// UsedAt is when the client was first issued tokens.
	UsedAt    *time.Time
	CreatedAt time.Time
	RevokedAt *time.Time

	secretHash []byte
}

// UnusedClientTTL is how long a self-registered client stays valid
// without being used (issued tokens). After that it is unknown: its
// authorization requests are refused, and the next registration deletes
// it.
const UnusedClientTTL = 24 * time.Hour

// RegisterOAuthClient adds a self-registered public client (RFC 7591),
// first deleting the registrations left unused for UnusedClientTTL.
// The caller has validated the name and redirect URIs.
func (s *Store) RegisterOAuthClient(ctx context.Context, name string, redirectURIs []string) (*OAuthClient, error) {
	id, err := randomToken(ClientIDPrefix, 16)
	if err != nil {
		return nil, fmt.Errorf("register oauth client: %w", err)
	}
	c := &OAuthClient{ID: id, Name: name, RedirectURIs: redirectURIs, Registered: true}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Unused means no token was issued, so only unredeemed codes
		// refer to these clients.
		if _, err := tx.Exec(ctx, `WITH stale AS (
				SELECT id FROM oauth_clients WHERE registered AND used_at IS NULL AND created_at < now() - $1::interval),
			codes AS (DELETE FROM oauth_codes WHERE client_id IN (SELECT id FROM stale))
			DELETE FROM oauth_clients WHERE id IN (SELECT id FROM stale)`, UnusedClientTTL); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO oauth_clients (id, name, redirect_uris, registered) VALUES ($1,$2,$3,true) RETURNING created_at`,
			id, name, redirectURIs).Scan(&c.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("register oauth client: %w", err)
	}
	return c, nil
}

// CheckSecret reports whether secret is the client's secret; a public
// client has none and accepts only the empty secret.
func (c *OAuthClient) CheckSecret(secret string) bool {
	if !c.Confidential {
		return secret == ""
	}
	return subtle.ConstantTimeCompare(HashSecret(secret), c.secretHash) == 1
}

func randomToken(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateOAuthClient registers a client and returns it with its secret
// (empty for a public client). The secret is shown once, never stored.
func (s *Store) CreateOAuthClient(ctx context.Context, name string, redirectURIs []string, confidential bool) (*OAuthClient, string, error) {
	if name == "" || len(redirectURIs) == 0 {
		return nil, "", errors.New("create oauth client: a name and at least one redirect URI are required")
	}
	id, err := randomToken(ClientIDPrefix, 16)
	if err != nil {
		return nil, "", fmt.Errorf("create oauth client: %w", err)
	}
	c := &OAuthClient{ID: id, Name: name, RedirectURIs: redirectURIs, Confidential: confidential}
	secret := ""
	var hash []byte
	if confidential {
		if secret, err = randomToken(ClientSecretPrefix, 32); err != nil {
			return nil, "", fmt.Errorf("create oauth client: %w", err)
		}
		hash = HashSecret(secret)
	}
	if err := s.pool.QueryRow(ctx, `INSERT INTO oauth_clients (id, name, redirect_uris, secret_sha256) VALUES ($1,$2,$3,$4) RETURNING created_at`,
		id, name, redirectURIs, hash).Scan(&c.CreatedAt); err != nil {
		return nil, "", fmt.Errorf("create oauth client: %w", err)
	}
	c.secretHash = hash
	return c, secret, nil
}

const clientColumns = `id, name, redirect_uris, secret_sha256, registered, used_at, created_at, revoked_at`

func scanClient(row pgx.Row) (*OAuthClient, error) {
	var c OAuthClient
	if err := row.Scan(&c.ID, &c.Name, &c.RedirectURIs, &c.secretHash, &c.Registered, &c.UsedAt, &c.CreatedAt, &c.RevokedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	c.Confidential = c.secretHash != nil
	return &c, nil
}

// OAuthClient returns an active client; unknown and revoked clients are
// both ErrNotFound, and so is a registered client unused for
// UnusedClientTTL.
func (s *Store) OAuthClient(ctx context.Context, id string) (*OAuthClient, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oauth_clients WHERE id = $1 AND revoked_at IS NULL
		AND NOT (registered AND used_at IS NULL AND created_at < now() - $2::interval)`, id, UnusedClientTTL))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("oauth client: %w", err)
	}
	return c, err
}

// ListOAuthClients returns every client, oldest first.
func (s *Store) ListOAuthClients(ctx context.Context) ([]OAuthClient, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientColumns+` FROM oauth_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list oauth clients: %w", err)
	}
	defer rows.Close()
	var out []OAuthClient
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list oauth clients: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// RevokeOAuthClient revokes a client and, with it, every token it holds.
func (s *Store) RevokeOAuthClient(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_clients SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("revoke oauth client: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = now() WHERE client_id = $1 AND revoked_at IS NULL`, id)
		return err
	})
}

// AuthCode is an authorization code's grant: who approved what for whom.
type AuthCode struct {
	ID                  int64
	ClientID            string
	APIKeyID            int64
	RedirectURI         string
	Scopes              []string
	CodeChallenge       string
	CodeChallengeMethod string
	ExpiresAt           time.Time
}

// CreateAuthCode stores a new code's grant and returns the code, which is
// stored only as its SHA-256.
func (s *Store) CreateAuthCode(ctx context.Context, c AuthCode) (string, error) {
	code, err := randomToken("", 32)
	if err != nil {
		return "", fmt.Errorf("create auth code: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO oauth_codes (code_sha256, client_id, api_key_id, redirect_uri, scopes,
		code_challenge, code_challenge_method, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		HashSecret(code), c.ClientID, c.APIKeyID, c.RedirectURI, c.Scopes, c.CodeChallenge, c.CodeChallengeMethod, c.ExpiresAt); err != nil {
		return "", fmt.Errorf("create auth code: %w", err)
	}
	return code, nil
}

// RedeemAuthCode marks a code used and returns its grant. An unknown or
// expired code is ErrInvalidGrant; so is a code used before, and then
// every token issued from it is revoked (RFC 6749 §4.1.2), since one of
// the two users of the code is not who it was issued to.
func (s *Store) RedeemAuthCode(ctx context.Context, code string) (*AuthCode, error) {
	var c AuthCode
	reused := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		h := HashSecret(code)
		err := tx.QueryRow(ctx, `UPDATE oauth_codes SET used_at = now()
			WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > now()
			RETURNING id, client_id, api_key_id, redirect_uri, scopes, code_challenge, code_challenge_method, expires_at`, h).
			Scan(&c.ID, &c.ClientID, &c.APIKeyID, &c.RedirectURI, &c.Scopes, &c.CodeChallenge, &c.CodeChallengeMethod, &c.ExpiresAt)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var id int64
		err = tx.QueryRow(ctx, `SELECT id FROM oauth_codes WHERE code_sha256 = $1 AND used_at IS NOT NULL`, h).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidGrant
		}
		if err != nil {
			return err
		}
		reused = true
		_, err = tx.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = now() WHERE grant_id = $1 AND revoked_at IS NULL`, id)
		return err
	})
	if errors.Is(err, ErrInvalidGrant) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("redeem auth code: %w", err)
	}
	if reused {
		return nil, ErrInvalidGrant
	}
	return &c, nil
}

// TokenPair is what the token endpoint hands out. The secrets exist only
// here: the database keeps their SHA-256.
type TokenPair struct {
	Access           string
	Refresh          string
	Scopes           []string
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
}

func newPair(scopes []string, accessTTL, refreshTTL time.Duration) (*TokenPair, error) {
	access, err := randomToken(AccessTokenPrefix, 32)
	if err != nil {
		return nil, err
	}
	refresh, err := randomToken(RefreshTokenPrefix, 32)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &TokenPair{Access: access, Refresh: refresh, Scopes: scopes,
		AccessExpiresAt: now.Add(accessTTL), RefreshExpiresAt: now.Add(refreshTTL)}, nil
}

func insertPair(ctx context.Context, tx pgx.Tx, grantID int64, clientID string, keyID int64, p *TokenPair) error {
	_, err := tx.Exec(ctx, `INSERT INTO oauth_tokens (grant_id, client_id, api_key_id, scopes, access_sha256, access_expires_at,
		refresh_sha256, refresh_expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		grantID, clientID, keyID, p.Scopes, HashSecret(p.Access), p.AccessExpiresAt, HashSecret(p.Refresh), p.RefreshExpiresAt)
	return err
}

// IssueTokens issues the first access and refresh token of a redeemed code.
func (s *Store) IssueTokens(ctx context.Context, c *AuthCode, accessTTL, refreshTTL time.Duration) (*TokenPair, error) {
	p, err := newPair(c.Scopes, accessTTL, refreshTTL)
	if err != nil {
		return nil, fmt.Errorf("issue tokens: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The client's first tokens make a registered client permanent.
		if _, err := tx.Exec(ctx, `UPDATE oauth_clients SET used_at = now() WHERE id = $1 AND used_at IS NULL`, c.ClientID); err != nil {
			return err
		}
		return insertPair(ctx, tx, c.ID, c.ClientID, c.APIKeyID, p)
	})
	if err != nil {
		return nil, fmt.Errorf("issue tokens: %w", err)
	}
	return p, nil
}

// RefreshTokens rotates a refresh token of clientID: the old pair is
// revoked and a new one issued, with scopes narrowed to the requested
// ones (nil keeps them; asking for more is ErrInvalidScope). An unknown,
// expired or foreign token is ErrInvalidGrant; a token that was already
// rotated is too, and then its whole grant is revoked, because a replayed
// refresh token means it leaked (OAuth 2.0 Security BCP §4.14).
func (s *Store) RefreshTokens(ctx context.Context, refresh, clientID string, scopes []string, accessTTL, refreshTTL time.Duration) (*TokenPair, error) {
	var p *TokenPair
	replayed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		h := HashSecret(refresh)
		var grantID, keyID int64
		var granted []string
		err := tx.QueryRow(ctx, `SELECT grant_id, api_key_id, scopes, revoked_at IS NOT NULL FROM oauth_tokens
			WHERE refresh_sha256 = $1 AND client_id = $2 AND refresh_expires_at > now() FOR UPDATE`, h, clientID).
			Scan(&grantID, &keyID, &granted, &replayed)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidGrant
		}
		if err != nil {
			return err
		}
		if replayed {
			_, err := tx.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = now() WHERE grant_id = $1 AND revoked_at IS NULL`, grantID)
			return err
		}
		if scopes == nil {
			scopes = granted
		}
		for _, sc := range scopes {
			if !slices.Contains(granted, sc) {
				return ErrInvalidScope
			}
		}
		var active bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys k JOIN oauth_clients c ON c.id = $2
			WHERE k.id = $1 AND k.revoked_at IS NULL AND c.revoked_at IS NULL)`, keyID, clientID).Scan(&active); err != nil {
			return err
		}
		if !active {
			return ErrInvalidGrant
		}
		if _, err := tx.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = now() WHERE refresh_sha256 = $1`, h); err != nil {
			return err
		}
		if p, err = newPair(scopes, accessTTL, refreshTTL); err != nil {
			return err
		}
		return insertPair(ctx, tx, grantID, clientID, keyID, p)
	})
	if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrInvalidScope) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("refresh tokens: %w", err)
	}
	if replayed {
		return nil, ErrInvalidGrant
	}
	return p, nil
}

// KeyByAccessToken returns the API key an unexpired, unrevoked access
// token acts for, with Scopes narrowed to what both the token and the key
// allow. Like KeyBySecret, every failure is ErrNotFound.
func (s *Store) KeyByAccessToken(ctx context.Context, token string) (*recap.Caller, error) {
	var tokenScopes []string
	var k recap.Caller
	err := s.pool.QueryRow(ctx, `SELECT k.id, k.account_id, k.name, k.prefix, k.scopes, k.rpm, k.created_at, k.revoked_at, t.scopes
		FROM oauth_tokens t
		JOIN api_keys k ON k.id = t.api_key_id
		JOIN oauth_clients c ON c.id = t.client_id
		WHERE t.access_sha256 = $1 AND t.revoked_at IS NULL AND t.access_expires_at > now()
		  AND k.revoked_at IS NULL AND c.revoked_at IS NULL`, HashSecret(token)).
		Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Scopes, &k.RPM, &k.CreatedAt, &k.RevokedAt, &tokenScopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("key by access token: %w", err)
	}
	var both []string
	for _, sc := range tokenScopes {
		if slices.Contains(k.Scopes, sc) {
			both = append(both, sc)
		}
	}
	k.Scopes = both
	return &k, nil
}

// Kinds of OAuth2 token, as RFC 7009 and RFC 7662 name them.
const (
	TokenAccess  = "access_token"
	TokenRefresh = "refresh_token"
)

// RevokeToken revokes an access or refresh token of clientID (RFC 7009)
// and reports whether it found one. Revoking a refresh token revokes its
// whole grant: every token descended from the same authorization code.
// Revoking an access token revokes its pair, whose refresh token then
// works no more. A token that is unknown, already revoked, or another
// client's is left alone and reported as not found, without an error:
// the endpoint answers the same either way.
func (s *Store) RevokeToken(ctx context.Context, token, clientID string) (bool, error) {
	h := HashSecret(token)
	tag, err := s.pool.Exec(ctx, `WITH t AS (
			SELECT id, grant_id, refresh_sha256 = $1 AS refresh FROM oauth_tokens
			WHERE (access_sha256 = $1 OR refresh_sha256 = $1) AND client_id = $2)
		UPDATE oauth_tokens o SET revoked_at = now() FROM t
		WHERE o.revoked_at IS NULL AND (o.id = t.id OR (t.refresh AND o.grant_id = t.grant_id))`, h, clientID)
	if err != nil {
		return false, fmt.Errorf("revoke token: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// TokenInfo is what introspection says about an active token.
type TokenInfo struct {
	// Kind is TokenAccess or TokenRefresh.
	Kind     string
	ClientID string
	// APIKeyID and KeyName are the key the token acts for.
	APIKeyID int64
	KeyName  string
	// Scopes are what the token allows: its grant narrowed to the key's.
	Scopes    []string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// IsAccess reports whether the token is an access token (else a refresh
// token).
func (t *TokenInfo) IsAccess() bool { return t.Kind == TokenAccess }

// IntrospectToken describes an active token of clientID (RFC 7662). A
// token that is unknown, expired, revoked, another client's, or whose key
// or client was revoked is ErrNotFound: to the caller it is inactive.
func (s *Store) IntrospectToken(ctx context.Context, token, clientID string) (*TokenInfo, error) {
	var ti TokenInfo
	var tokenScopes, keyScopes []string
	err := s.pool.QueryRow(ctx, `SELECT CASE WHEN t.access_sha256 = $1 THEN 'access_token' ELSE 'refresh_token' END,
			t.client_id, k.id, k.name, t.scopes, k.scopes, t.created_at,
			CASE WHEN t.access_sha256 = $1 THEN t.access_expires_at ELSE t.refresh_expires_at END
		FROM oauth_tokens t
		JOIN api_keys k ON k.id = t.api_key_id
		JOIN oauth_clients c ON c.id = t.client_id
		WHERE (t.access_sha256 = $1 OR t.refresh_sha256 = $1) AND t.client_id = $2 AND t.revoked_at IS NULL
		  AND CASE WHEN t.access_sha256 = $1 THEN t.access_expires_at ELSE t.refresh_expires_at END > now()
		  AND k.revoked_at IS NULL AND c.revoked_at IS NULL`, HashSecret(token), clientID).
		Scan(&ti.Kind, &ti.ClientID, &ti.APIKeyID, &ti.KeyName, &tokenScopes, &keyScopes, &ti.IssuedAt, &ti.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("introspect token: %w", err)
	}
	for _, sc := range tokenScopes {
		if slices.Contains(keyScopes, sc) {
			ti.Scopes = append(ti.Scopes, sc)
		}
	}
	return &ti, nil
}
