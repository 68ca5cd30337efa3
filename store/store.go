// Package store keeps everything Recap persists in Postgres: API keys,
// accounts and their credit ledger, jobs, videos, transcripts and
// summaries. Every SQL query of the project lives here.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	recapsql "github.com/recap/recap/sql"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound means the row does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrInsufficientCredits means a hold would take the balance below zero.
	ErrInsufficientCredits = errors.New("insufficient credits")
	// ErrConflict means a uniqueness rule refused the write.
	ErrConflict = errors.New("conflict")
)

// Config configures the connection pool.
type Config struct {
	// URL is a libpq connection string or URL.
	URL string
	// MaxConns caps the pool; 0 keeps pgx's default (max(4, NumCPU)).
	MaxConns int32
	// WriteBehind, when set, answers cache hits from memory (SummaryCache)
	// without waiting for their job rows: the rows of each such window
	// are copied in together (see hitLog). Zero writes each row before
	// its answer returns.
	WriteBehind time.Duration
	// Logger reports rows written behind that fail.
	Logger *slog.Logger
}

// Store is the Postgres-backed persistence layer. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	hits *combiner[*cacheHit]
	// records copies in the job rows of cache hits answered from memory
	// (SummaryCache), on recPool: connections of their own whose commits
	// do not wait for the WAL flush (synchronous_commit = off), as the
	// combined cache-hit statement's do not.
	records *combiner[*hitRecord]
	// behind writes those rows behind the answers instead, when
	// Config.WriteBehind is set.
	behind  *hitLog
	recPool *pgxpool.Pool
	holds   *combiner[*holdReq]
	// locks admits at most half the pool's connections into WithLock:
	// a lock holder keeps one connection and needs another for its work,
	// so unbounded holders could take every connection and wait forever
	// for one more.
	locks chan struct{}
}

// Open connects and pings the database, failing fast with a clear message.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("store: DATABASE_URL is empty")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres unreachable at %s: %w", redact(cfg.URL), err)
	}
	rc := pc.Copy()
	rc.MaxConns = combineMaxInFlight
	rc.MinConns = 0
	rc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	recPool, err := pgxpool.NewWithConfig(ctx, rc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s := &Store{pool: pool, recPool: recPool, locks: make(chan struct{}, max(1, pool.Config().MaxConns/2))}
	s.hits = &combiner[*cacheHit]{exec: s.execHits}
	s.records = &combiner[*hitRecord]{exec: s.execRecords, inFlightMax: 1}
	if cfg.WriteBehind > 0 {
		s.behind = newHitLog(s, cfg.WriteBehind, cfg.Logger)
	}
	s.holds = &combiner[*holdReq]{exec: s.execHolds}
	return s, nil
}

// Close releases the pools.
func (s *Store) Close() {
	if s.behind != nil {
		s.behind.close()
	}
	s.recPool.Close()
	s.pool.Close()
}

// syncHits waits for the job rows of cache hits written behind (when
// they are) that were handed in before it was called: every read of jobs
// starts with it, so a job just answered reads back.
func (s *Store) syncHits(ctx context.Context) error {
	if s.behind == nil {
		return nil
	}
	if err := s.behind.sync(ctx); err != nil {
		return fmt.Errorf("cache hit records: %w", err)
	}
	return nil
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool exposes the pool for test helpers that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrationLock is the advisory lock key serializing concurrent migrators.
const migrationLock = 0x7265636170 // "recap"

// Migrate applies every embedded migration not yet applied, in order, each
// in its own transaction. Concurrent callers serialize on an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(recapsql.Migrations, "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&exists); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if exists {
			continue
		}
		body, err := fs.ReadFile(recapsql.Migrations, name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// Pending reports the embedded migrations not yet applied; /readyz uses it.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	names, err := fs.Glob(recapsql.Migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	applied := map[string]bool{}
	rows, err := s.pool.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return names, nil
		}
		return nil, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		applied[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var pending []string
	for _, n := range names {
		if !applied[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

// WithLock runs fn while holding a session advisory lock on key. The lock
// lives on a dedicated connection, so a crashed worker releases it with
// its connection; concurrent stages for one video serialize here.
func (s *Store) WithLock(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	select {
	case s.locks <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("lock %s: %w", key, ctx.Err())
	}
	defer func() { <-s.locks }()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			// The session may be gone; closing the connection frees the lock.
			conn.Conn().Close(uctx) //nolint:errcheck
		}
	}()
	return fn(ctx)
}

func isCheckViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

// redact hides a password in a connection string for error messages.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return u[:i+3] + cred[:c] + ":***" + rest[at:]
			}
		}
	}
	return u
}
