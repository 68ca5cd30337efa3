package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// Batch is the jobs one playlist, channel or feed was expanded into, in
// the playlist's order.
type Batch struct {
	ID        string
	AccountID int64
	APIKeyID  int64
	// SourceURL is the playlist's URL as the caller sent it; Title its
	// title as the site gave it.
	SourceURL string
	Title     string
	// Entries is how many entries the site reports (0 when unknown); the
	// batch holds at most the limit asked for.
	Entries   int
	JobIDs    []string
	CreatedAt time.Time
}

// CreateBatch inserts a batch's jobs and the batch naming them in one
// transaction (all or none), setting the IDs and timestamps of both.
func (s *Store) CreateBatch(ctx context.Context, b *Batch, list []*recap.Job) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return createBatch(ctx, tx, b, list) })
}

// CreateBatch is Store.CreateBatch inside an idempotent request's
// transaction.
func (t *JobTx) CreateBatch(ctx context.Context, b *Batch, list []*recap.Job) error {
	return createBatch(ctx, t.tx, b, list)
}

func createBatch(ctx context.Context, tx pgx.Tx, b *Batch, list []*recap.Job) error {
	if len(list) == 0 {
		return errors.New("create batch: no jobs")
	}
	if err := createJobs(ctx, tx, list); err != nil {
		return err
	}
	b.ID = uuid.NewString()
	b.JobIDs = make([]string, len(list))
	for i, j := range list {
		b.JobIDs[i] = j.ID
	}
	var key *int64
	if b.APIKeyID != 0 {
		key = &b.APIKeyID
	}
	err := tx.QueryRow(ctx, `INSERT INTO batches (id, account_id, api_key_id, source_url, title, entries, job_ids)
		VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[]) RETURNING created_at`,
		b.ID, b.AccountID, key, b.SourceURL, b.Title, b.Entries, b.JobIDs).Scan(&b.CreatedAt)
	if err != nil {
		return fmt.Errorf("create batch: %w", err)
	}
	return nil
}

const batchColumns = `id, account_id, coalesce(api_key_id, 0), source_url, title, entries, job_ids::text[], created_at`

func scanBatch(row pgx.Row) (*Batch, error) {
	var b Batch
	err := row.Scan(&b.ID, &b.AccountID, &b.APIKeyID, &b.SourceURL, &b.Title, &b.Entries, &b.JobIDs, &b.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	return &b, nil
}

// AccountBatch returns the account's batch with this id; another
// account's batch, or an id that is not a UUID, is ErrNotFound.
func (s *Store) AccountBatch(ctx context.Context, accountID int64, id string) (*Batch, error) {
	if !validUUID(id) {
		return nil, ErrNotFound
	}
	return scanBatch(s.pool.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = $1 AND account_id = $2`, id, accountID))
}

// AccountBatchOf returns the account's batch whose first job is jobID
// (how a replayed request finds the batch it made), or ErrNotFound.
func (s *Store) AccountBatchOf(ctx context.Context, accountID int64, jobID string) (*Batch, error) {
	if !validUUID(jobID) {
		return nil, ErrNotFound
	}
	return scanBatch(s.pool.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE account_id = $1 AND job_ids[1] = $2::uuid`,
		accountID, jobID))
}
