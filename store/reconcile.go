package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// StaleCursor is where a page of StaleJobs ended; the zero value starts
// from the beginning.
type StaleCursor struct {
	UpdatedAt time.Time
	ID        string
}

// StaleJobs returns up to limit non-terminal jobs not updated since
// before, oldest first, strictly after the cursor: the reconciler walks
// them all in pages without seeing one twice.
func (s *Store) StaleJobs(ctx context.Context, before time.Time, after StaleCursor, limit int) ([]recap.Job, error) {
	if limit <= 0 {
		limit = 500
	}
	q := `SELECT ` + jobColumns + ` FROM jobs
		WHERE state NOT IN ('succeeded','failed','canceled') AND updated_at < $1`
	args := []any{before, limit}
	if after.ID != "" {
		q += ` AND (updated_at, id) > ($3, $4)`
		args = append(args, after.UpdatedAt, after.ID)
	}
	q += ` ORDER BY updated_at, id LIMIT $2`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("stale jobs: %w", err)
	}
	defer rows.Close()
	var out []recap.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("stale jobs: %w", err)
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// Attempt is one run of a job's stage as StartStage recorded it.
type Attempt struct {
	// N counts the runs of this stage, this one included (1 on the first).
	N int
	// LastErrorCode and LastError are the previous failed run's cause.
	LastErrorCode string
	LastError     string
}

// StartStage moves a job into a stage's state (resolving, transcribing or
// summarizing) and counts one more attempt at it, in one statement. The
// count lives here, not in Redis, so a Redis that lost its queues cannot
// grant a failing stage a fresh retry budget. It reports false, changing
// nothing, when the job has ended or is already past that stage (a
// duplicate task of an earlier stage must not move a job backwards).
func (s *Store) StartStage(ctx context.Context, id, state string) (Attempt, bool, error) {
	from := recap.StatesBefore(state)
	if len(from) == 0 {
		return Attempt{}, false, fmt.Errorf("start stage: %q is not a stage state", state)
	}
	var a Attempt
	err := s.pool.QueryRow(ctx, `UPDATE jobs SET
			attempts = CASE WHEN state = $2 THEN attempts + 1 ELSE 1 END,
			attempt_error_code = CASE WHEN state = $2 THEN attempt_error_code ELSE '' END,
			attempt_error = CASE WHEN state = $2 THEN attempt_error ELSE '' END,
			resolved_at = CASE WHEN $2 = 'transcribing' THEN coalesce(resolved_at, now()) ELSE resolved_at END,
			transcribed_at = CASE WHEN $2 = 'summarizing' THEN coalesce(transcribed_at, now()) ELSE transcribed_at END,
			state = $2, updated_at = now()
		WHERE id = $1 AND state = ANY($3)
		RETURNING attempts, attempt_error_code, attempt_error`, id, state, from).Scan(&a.N, &a.LastErrorCode, &a.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attempt{}, false, nil
	}
	if err != nil {
		return Attempt{}, false, fmt.Errorf("start stage: %w", err)
	}
	return a, true, nil
}

// FailAttempt records why a run of the job's current stage failed and
// will be retried.
func (s *Store) FailAttempt(ctx context.Context, id, code, msg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET attempt_error_code = $2, attempt_error = $3
		WHERE id = $1 AND state NOT IN ('succeeded','failed','canceled')`, id, code, msg)
	if err != nil {
		return fmt.Errorf("fail attempt: %w", err)
	}
	return nil
}

// RefundAttempt takes back the attempt StartStage counted for a run that
// was interrupted through no fault of the job (a worker shutting down, a
// lost lease): a rolling restart must not use up a stage's attempts.
func (s *Store) RefundAttempt(ctx context.Context, id, state string) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET attempts = attempts - 1
		WHERE id = $1 AND state = $2 AND attempts > 0`, id, state)
	if err != nil {
		return fmt.Errorf("refund attempt: %w", err)
	}
	return nil
}

// Attempts returns how many runs the job's current stage has had.
func (s *Store) Attempts(ctx context.Context, id string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT attempts FROM jobs WHERE id = $1`, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("attempts: %w", err)
	}
	return n, nil
}
