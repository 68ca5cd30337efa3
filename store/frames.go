package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Frame is one picture of a job's video: a JPEG at a highlight's moment,
// numbered from 1 in the order of the highlights.
type Frame struct {
	N     int
	Start float64
	JPEG  []byte
}

// SaveFrames replaces a job's frames with frames and records their count
// and note (why none were made) on the job, in one transaction, so a
// retried frames step leaves exactly one set.
func (s *Store) SaveFrames(ctx context.Context, jobID string, frames []Frame, note string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM job_frames WHERE job_id = $1`, jobID); err != nil {
			return fmt.Errorf("save frames: %w", err)
		}
		for _, f := range frames {
			if _, err := tx.Exec(ctx, `INSERT INTO job_frames (job_id, n, start_seconds, jpeg) VALUES ($1, $2, $3, $4)`,
				jobID, f.N, f.Start, f.JPEG); err != nil {
				return fmt.Errorf("save frames: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET frame_count = $2, frames_note = $3 WHERE id = $1`, jobID, len(frames), note); err != nil {
			return fmt.Errorf("save frames: %w", err)
		}
		return nil
	})
}

// JobFrame returns frame n of a job (ErrNotFound when it has none).
func (s *Store) JobFrame(ctx context.Context, jobID string, n int) (*Frame, error) {
	f := Frame{N: n}
	err := s.pool.QueryRow(ctx, `SELECT start_seconds, jpeg FROM job_frames WHERE job_id = $1 AND n = $2`, jobID, n).Scan(&f.Start, &f.JPEG)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	return &f, nil
}
