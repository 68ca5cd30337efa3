package store

import (
	"context"
	"fmt"
	"time"
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
func (s *Store) StaleJobs(ctx context.Context, before time.Time, after StaleCursor, limit int) ([]Job, error) {
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
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("stale jobs: %w", err)
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}
