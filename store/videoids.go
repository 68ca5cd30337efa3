package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ClaimVideo saves a freshly resolved video that yt-dlp names by
// extractorKey + id, unless another URL form already resolved to the
// same id: then v is not saved, v's key becomes an alias of that video
// (VideoAlias, which callers consult before Video), and the owner's key
// is returned. Otherwise v is saved (or refreshed) and v.Key
// is returned. Two forms claiming at once are serialized by the id's
// primary key: the loser's insert waits for the winner's transaction and
// then reads its row.
func (s *Store) ClaimVideo(ctx context.Context, v *Video, extractorKey, id string) (string, error) {
	if len(v.Info) == 0 {
		v.Info = []byte(`{}`)
	}
	owner := v.Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO video_ids (extractor_key, id, video_key) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`,
			extractorKey, id, v.Key); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT video_key FROM video_ids WHERE extractor_key = $1 AND id = $2`, extractorKey, id).
			Scan(&owner); err != nil {
			return err
		}
		if owner == v.Key {
			_, err := tx.Exec(ctx, `INSERT INTO videos (key, url, title, duration, is_live, info, ytdlp_info) VALUES ($1,$2,$3,$4,$5,$6,$7)
				ON CONFLICT (key) DO UPDATE SET url = excluded.url, title = excluded.title, duration = excluded.duration,
				is_live = excluded.is_live, info = excluded.info, ytdlp_info = excluded.ytdlp_info`,
				v.Key, v.URL, v.Title, v.Duration, v.IsLive, v.Info, v.RawInfo)
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO video_aliases (key, video_key) VALUES ($1,$2)
			ON CONFLICT (key) DO UPDATE SET video_key = excluded.video_key`, v.Key, owner)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("claim video: %w", err)
	}
	return owner, nil
}

// VideoAlias returns the key of the video another URL form's key joined
// (see ClaimVideo), or ErrNotFound.
func (s *Store) VideoAlias(ctx context.Context, key string) (string, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT video_key FROM video_aliases WHERE key = $1`, key).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("video alias: %w", err)
	}
	return owner, nil
}

// TranscriptLanguages lists the languages a video has stored whole
// transcripts in ("" for the one detected), sorted; a range's transcript
// is not the video's.
func (s *Store) TranscriptLanguages(ctx context.Context, videoKey string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT language FROM transcripts
		WHERE video_key = $1 AND range_start = 0 AND range_end = 0 ORDER BY language`, videoKey)
	if err != nil {
		return nil, fmt.Errorf("transcript languages: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
