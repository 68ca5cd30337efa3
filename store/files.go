package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// File is an uploaded audio or video file.
type File struct {
	ID        string
	AccountID int64
	APIKeyID  int64
	Filename  string
	Purpose   string
	Bytes     int64
	// SHA256 is the hex digest of the content.
	SHA256 string
	// MediaKind is "audio" or "video", decided by probing the content.
	MediaKind string
	Format    string
	Duration  float64
	// Subtitles marks a file with a subtitle stream of its own.
	Subtitles bool
	BlobKey   string
	CreatedAt time.Time
	// ExpiresAt is nil for a file that never expires.
	ExpiresAt *time.Time
}

// VideoKey is the canonical key of a file's content: uploads of the same
// bytes are one video, with one transcript.
func (f *File) VideoKey() string { return "file:" + f.SHA256 }

const fileColumns = `id, account_id, coalesce(api_key_id, 0), filename, purpose, bytes, sha256, media_kind, format, duration,
	subtitles, blob_key, created_at, expires_at`

func scanFile(row pgx.Row) (*File, error) {
	var f File
	err := row.Scan(&f.ID, &f.AccountID, &f.APIKeyID, &f.Filename, &f.Purpose, &f.Bytes, &f.SHA256, &f.MediaKind, &f.Format,
		&f.Duration, &f.Subtitles, &f.BlobKey, &f.CreatedAt, &f.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &f, err
}

// CreateFile records an uploaded file whose bytes are stored.
func (s *Store) CreateFile(ctx context.Context, f *File) error {
	var keyID *int64
	if f.APIKeyID != 0 {
		keyID = &f.APIKeyID
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO files (id, account_id, api_key_id, filename, purpose, bytes, sha256, media_kind,
		format, duration, subtitles, blob_key, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING created_at`,
		f.ID, f.AccountID, keyID, f.Filename, f.Purpose, f.Bytes, f.SHA256, f.MediaKind, f.Format, f.Duration, f.Subtitles,
		f.BlobKey, f.ExpiresAt).Scan(&f.CreatedAt)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	return nil
}

// File returns a file that has not expired, by id, whoever owns it (the
// stages read the file of a job they run).
func (s *Store) File(ctx context.Context, id string) (*File, error) {
	f, err := scanFile(s.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files
		WHERE id = $1 AND (expires_at IS NULL OR expires_at > now())`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("file: %w", err)
	}
	return f, err
}

// AccountFile returns a file only if it belongs to the account and has
// not expired; anyone else's file is ErrNotFound.
func (s *Store) AccountFile(ctx context.Context, accountID int64, id string) (*File, error) {
	f, err := s.File(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.AccountID != accountID {
		return nil, ErrNotFound
	}
	return f, nil
}

// FileFilter selects an account's files, newest first.
type FileFilter struct {
	AccountID int64
	Purpose   string
	// After is the id of the last file of the previous page.
	After string
	Limit int
	// Ascending lists oldest first.
	Ascending bool
}

// ListFiles returns an account's files that have not expired.
func (s *Store) ListFiles(ctx context.Context, f FileFilter) ([]File, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	cmp, order := "<", "DESC"
	if f.Ascending {
		cmp, order = ">", "ASC"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM files
		WHERE account_id = $1 AND (expires_at IS NULL OR expires_at > now()) AND ($2 = '' OR purpose = $2)
		AND ($3 = '' OR (created_at, id) `+cmp+` (SELECT created_at, id FROM files WHERE id = $3 AND account_id = $1))
		ORDER BY created_at `+order+`, id `+order+` LIMIT $4`, f.AccountID, f.Purpose, f.After, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		fl, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("list files: %w", err)
		}
		out = append(out, *fl)
	}
	return out, rows.Err()
}

// DeleteFile removes the account's file and returns it (for its blob);
// ErrNotFound when the account has no such file.
func (s *Store) DeleteFile(ctx context.Context, accountID int64, id string) (*File, error) {
	f, err := scanFile(s.pool.QueryRow(ctx, `DELETE FROM files WHERE id = $1 AND account_id = $2 RETURNING `+fileColumns, id, accountID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("delete file: %w", err)
	}
	return f, err
}

// DeleteExpiredFiles removes up to limit files whose time is up and
// returns them, so their blobs can be removed too.
func (s *Store) DeleteExpiredFiles(ctx context.Context, limit int) ([]File, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM files WHERE id IN (
		SELECT id FROM files WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+fileColumns, limit)
	if err != nil {
		return nil, fmt.Errorf("delete expired files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		fl, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("delete expired files: %w", err)
		}
		out = append(out, *fl)
	}
	return out, rows.Err()
}
