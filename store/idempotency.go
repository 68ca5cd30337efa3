package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// ErrIdempotencyReused means an Idempotency-Key was sent before, within
// its lifetime, with a different request.
var ErrIdempotencyReused = errors.New("idempotency key reused with a different request")

// JobTx creates jobs inside an idempotent request's transaction, so the
// jobs and the key that names them commit together or not at all.
type JobTx struct{ tx pgx.Tx }

// CreateJob is Store.CreateJob inside the transaction.
func (t *JobTx) CreateJob(ctx context.Context, j *recap.Job) error {
	return createJobs(ctx, t.tx, []*recap.Job{j})
}

// CreateJobs is Store.CreateJobs inside the transaction.
func (t *JobTx) CreateJobs(ctx context.Context, list []*recap.Job) error {
	return createJobs(ctx, t.tx, list)
}

// CreateCachedJob records a job answered from the summary cache inside
// the transaction.
func (t *JobTx) CreateCachedJob(ctx context.Context, j *recap.Job, sm *Summary) error {
	return createCachedJob(ctx, t.tx, j, sm)
}

// Idempotent runs create at most once per account and key while the key
// lives (ttl), and returns the ids of the jobs it made.
//
// The key's row is inserted in the transaction create runs in. A
// concurrent request with the same key blocks on the row's unique index
// until that transaction ends: after a commit it replays the jobs
// (replayed is true), after a rollback (create failed) it claims the key
// itself. The same key with another requestHash is ErrIdempotencyReused.
// create must only write through tx: work outside the transaction (such
// as enqueueing) belongs after Idempotent returns.
func (s *Store) Idempotent(ctx context.Context, accountID int64, key string, requestHash []byte, ttl time.Duration,
	create func(ctx context.Context, tx *JobTx) ([]string, error)) (jobIDs []string, replayed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		jobIDs, replayed = nil, false
		var claimed bool
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys (account_id, key, request_sha256, expires_at)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4))
			ON CONFLICT (account_id, key) DO UPDATE
				SET request_sha256 = EXCLUDED.request_sha256, job_ids = '{}', created_at = now(), expires_at = EXCLUDED.expires_at
				WHERE idempotency_keys.expires_at <= now()
			RETURNING true`, accountID, key, requestHash, ttl.Seconds()).Scan(&claimed)
		if errors.Is(err, pgx.ErrNoRows) {
			// A live row exists; its transaction has committed (or we would
			// still be waiting), so this statement sees it.
			var hash []byte
			var ids []string
			if err := tx.QueryRow(ctx, `SELECT request_sha256, job_ids::text[] FROM idempotency_keys WHERE account_id = $1 AND key = $2`,
				accountID, key).Scan(&hash, &ids); err != nil {
				return err
			}
			if !bytes.Equal(hash, requestHash) {
				return ErrIdempotencyReused
			}
			jobIDs, replayed = ids, true
			return nil
		}
		if err != nil {
			return err
		}
		ids, err := create(ctx, &JobTx{tx: tx})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE idempotency_keys SET job_ids = $3::uuid[] WHERE account_id = $1 AND key = $2`,
			accountID, key, ids); err != nil {
			return err
		}
		jobIDs = ids
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrIdempotencyReused) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("idempotent: %w", err)
	}
	if !replayed {
		// Each new key clears a few expired ones, so the table stays about
		// a day of keys without a separate job.
		_, _ = s.PurgeIdempotencyKeys(ctx, 100)
	}
	return jobIDs, replayed, nil
}

// PurgeIdempotencyKeys deletes up to limit expired idempotency keys, the
// oldest first, and reports how many went. Expired keys are reclaimed on
// reuse anyway; this only keeps the table small.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE (account_id, key) IN (
		SELECT account_id, key FROM idempotency_keys WHERE expires_at <= now()
		ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`, limit)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}

// AccountJobs returns the account's jobs with these ids, in the order of
// ids; ids of other accounts' jobs are left out.
func (s *Store) AccountJobs(ctx context.Context, accountID int64, ids []string) ([]recap.Job, error) {
	if err := s.syncHits(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE account_id = $1 AND id = ANY($2::uuid[])`, accountID, ids)
	if err != nil {
		return nil, fmt.Errorf("account jobs: %w", err)
	}
	defer rows.Close()
	byID := map[string]recap.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("account jobs: %w", err)
		}
		byID[j.ID] = *j
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("account jobs: %w", err)
	}
	out := make([]recap.Job, 0, len(ids))
	for _, id := range ids {
		if j, ok := byID[id]; ok {
			out = append(out, j)
		}
	}
	return out, nil
}
