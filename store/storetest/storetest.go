// Package storetest gives each test its own freshly migrated Postgres
// schema on the machine's real database, so tests run in parallel without
// seeing each other's rows.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/recap/recap/store"
)

// DefaultURL is used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the test database URL.
func BaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewURL creates an empty schema and returns a connection URL whose
// search_path points at it. The schema is dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := BaseURL()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("storetest: postgres at %s: %v (start it, or set TEST_DATABASE_URL)", base, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
	})
	return withSearchPath(t, base, schema)
}

func withSearchPath(t testing.TB, base, schema string) string {
	if strings.Contains(base, "://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema+",public")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return base + " search_path=" + schema + ",public"
}

// New returns a migrated Store on a private schema, closed when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	s, _ := NewWithURL(t)
	return s
}

// NewWithURL is New that also returns the schema's connection URL, for
// tests that start whole processes against it.
func NewWithURL(t testing.TB) (*store.Store, string) {
	t.Helper()
	u := NewURL(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: u, MaxConns: 32})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return s, u
}

// CheckLedger fails the test when any account's balance or held amount
// differs from the sum of its ledger entries, or a job was settled twice.
func CheckLedger(t testing.TB, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	drift, err := s.LedgerDrift(ctx)
	if err != nil {
		t.Fatalf("ledger drift: %v", err)
	}
	if len(drift) > 0 {
		t.Fatalf("ledger drift on accounts %v", drift)
	}
	var twice int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT job_id FROM ledger_entries
		WHERE kind IN ('capture','release') GROUP BY job_id HAVING count(*) > 1) x`).Scan(&twice); err != nil {
		t.Fatalf("ledger check: %v", err)
	}
	if twice > 0 {
		t.Fatalf("%d jobs settled more than once", twice)
	}
}
