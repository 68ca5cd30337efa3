package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// SecretPrefix starts every API key secret, so leaked keys are easy to
// recognize by secret scanners.
const SecretPrefix = "rcp_"

// NewKey describes a key to create.
type NewKey struct {
	Name string
	// Seconds of media credited to the key's new account.
	Seconds int64
	// RPM is the per-key request rate limit; 0 uses the server default.
	RPM    int
	Scopes []string
}

// HashSecret returns the stored form of a secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateKey creates an account with its initial grant and a key for it,
// and returns the key and its secret. The secret is not stored anywhere.
func (s *Store) CreateKey(ctx context.Context, nk NewKey) (*recap.Caller, string, error) {
	if nk.Name == "" {
		return nil, "", errors.New("create key: name is required")
	}
	if nk.Seconds < 0 {
		return nil, "", errors.New("create key: credits must not be negative")
	}
	if len(nk.Scopes) == 0 {
		nk.Scopes = []string{recap.ScopeRead, recap.ScopeWrite}
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("create key: %w", err)
	}
	secret := SecretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	k := &recap.Caller{Name: nk.Name, Prefix: secret[:len(SecretPrefix)+6], Scopes: nk.Scopes, RPM: nk.RPM}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO accounts (name) VALUES ($1) RETURNING id`, nk.Name).Scan(&k.AccountID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO api_keys (account_id, name, prefix, secret_sha256, scopes, rpm)
			VALUES ($1,$2,$3,$4,$5,$6) RETURNING id, created_at`,
			k.AccountID, k.Name, k.Prefix, HashSecret(secret), k.Scopes, k.RPM).Scan(&k.ID, &k.CreatedAt); err != nil {
			return err
		}
		if nk.Seconds > 0 {
			return grantTx(ctx, tx, k.AccountID, nk.Seconds, "initial grant")
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("create key: %w", err)
	}
	return k, secret, nil
}

const keyColumns = `id, account_id, name, prefix, scopes, rpm, created_at, revoked_at`

func scanKey(row pgx.Row) (*recap.Caller, error) {
	var k recap.Caller
	if err := row.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Scopes, &k.RPM, &k.CreatedAt, &k.RevokedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &k, nil
}

// KeyBySecret finds the active key whose secret this is. Unknown and
// revoked keys both return ErrNotFound, so callers cannot tell them apart.
func (s *Store) KeyBySecret(ctx context.Context, secret string) (*recap.Caller, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE secret_sha256 = $1 AND revoked_at IS NULL`, HashSecret(secret)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("key by secret: %w", err)
	}
	return k, err
}

// Key returns a key by id.
func (s *Store) Key(ctx context.Context, id int64) (*recap.Caller, error) {
	return scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]recap.Caller, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []recap.Caller
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// RevokeKey revokes a key; revoking twice is not an error.
func (s *Store) RevokeKey(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
