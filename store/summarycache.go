package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/recap/recap"
)

// SummaryChannel is the Postgres channel new summaries and joined URL forms
// are announced on (triggers of sql/140_summary_notify.sql).
const SummaryChannel = "recap_summaries"

// SummaryCacheConfig configures a SummaryCache. Its TTL also bounds how
// long a video's title or length changed by a later resolve takes to show
// in cache hits; a new summary drops its video's answers when it commits.
type SummaryCacheConfig = CacheConfig

// SummaryCacheStats counts cache-hit lookups (Misses were asked of
// Postgres, found or not).
type SummaryCacheStats = CacheStats

// SummaryCache answers cache hits (Store.CreateJobFromCache) from summaries
// held in memory, so that a popular video asked for again and again costs
// Postgres only the insert of each answer's job row, combined with the
// other answers of the moment into one COPY. Summaries never change: a
// new one for the same video (a refresh) and a URL form joining a video
// are announced by triggers on SummaryChannel, and the cache drops that
// video's entries when they commit, on every API replica. Entries are
// served only while the listening connection is up: without it every
// lookup goes to Postgres, as without a cache.
//
// Every answer is still recorded as its job: the cache saves the lookup,
// never the record. With Config.WriteBehind the record follows the answer
// by at most that window (see hitLog); without it, it precedes it.
type SummaryCache struct {
	memo[hitKey, hitEntry]
}

// hitKey is what a cache hit is looked up by: the request's video key
// (before aliases), audio language, range, prompt, model and output
// language.
type hitKey struct {
	videoKey, audioLanguage, promptHash, model, outputLanguage string
	rng                                                        recap.Range
}

// hitEntry is a found answer: the summary, and the video it belongs to
// (the request's key, or the video that URL form joined).
type hitEntry struct {
	sm       *Summary
	videoKey string
	title    string
	duration float64
}

// NewSummaryCache returns a cache that serves from memory once Run listens.
func NewSummaryCache(cfg SummaryCacheConfig) *SummaryCache {
	c := &SummaryCache{}
	c.init(cfg, 10_000)
	return c
}

// CreateJobFromCache is Store.CreateJobFromCache, looking the summary up in
// memory when it can be. A hit from memory is recorded as j by one COPY
// shared with the hits of the moment: written behind the answer with
// Config.WriteBehind, else before it returns. A miss asks Postgres, which
// looks up and records in one statement, and keeps what it found.
func (c *SummaryCache) CreateJobFromCache(ctx context.Context, j *recap.Job, promptHash string) (*Summary, error) {
	k := hitKey{j.VideoKey, j.AudioLanguage, promptHash, j.Model, j.OutputLanguage, j.Range}
	now := time.Now()
	e, ok, t := c.get(k, now)
	if ok {
		if err := c.st.recordHit(ctx, j, e, now); err != nil {
			return nil, err
		}
		sm := *e.sm
		return &sm, nil
	}
	sm, err := c.st.CreateJobFromCache(ctx, j, promptHash)
	if err != nil {
		return sm, err
	}
	kept := *sm
	c.put(k, hitEntry{sm: &kept, videoKey: j.VideoKey, title: j.Title, duration: j.Duration}, t, now)
	return sm, nil
}

// drop forgets the entries of one video (by the request's key or the
// video's), or every entry for "*".
func (c *SummaryCache) drop(videoKey string) {
	if videoKey == "*" {
		c.reset(true, nil)
		return
	}
	c.reset(true, func(k hitKey, e hitEntry) bool { return k.videoKey == videoKey || e.videoKey == videoKey })
}

// Run listens on SummaryChannel until ctx ends, re-opening the connection
// after a failure. ready, if not nil, is closed the first time the cache
// listens.
func (c *SummaryCache) Run(ctx context.Context, ready chan<- struct{}) {
	c.listen(ctx, ready, "recap-summary-cache", SummaryChannel, c.drop)
}

// hitRecord is one pending recordHit call.
type hitRecord struct {
	row []any
	err error
}

// hitColumns are the columns a cache hit's job row is copied in with.
var hitColumns = []string{"id", "account_id", "api_key_id", "kind", "queue", "url", "video_key", "prompt", "model",
	"audio_language", "output_language", "images", "stream", "webhook_url", "request_hash", "state", "progress",
	"transcript_id", "summary_id", "result_model", "prompt_tokens", "completion_tokens",
	"created_at", "updated_at", "resolved_at", "transcribed_at", "finished_at", "title", "duration", "range_start", "range_end"}

// recordHit records j as a succeeded, free job answered by e, as
// CreateJobFromCache's statement does (written behind, with
// Config.WriteBehind), and fills in j as that does.
func (s *Store) recordHit(ctx context.Context, j *recap.Job, e hitEntry, now time.Time) error {
	// Time-ordered ids (UUIDv7) are appended at the right edge of the
	// primary key's index, instead of touching a random page per row.
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("job from cache: %w", err)
	}
	// Postgres keeps microseconds: the reply shows what a read will.
	now = now.Truncate(time.Microsecond)
	var key any
	if j.APIKeyID != 0 {
		key = j.APIKeyID
	}
	images := []byte("[]")
	if len(j.Images) > 0 {
		images, _ = json.Marshal(j.Images)
	}
	sm := e.sm
	r := &hitRecord{row: []any{pgtype.UUID{Bytes: id, Valid: true}, j.AccountID, key, "summary", j.Queue, j.URL, e.videoKey, j.Prompt, j.Model,
		j.AudioLanguage, j.OutputLanguage, images, j.Stream, j.WebhookURL, j.RequestHash, recap.StateSucceeded, float64(100),
		sm.TranscriptID, sm.ID, sm.Model, sm.PromptTokens, sm.CompletionTokens,
		now, now, now, now, now, e.title, e.duration, j.Range.Start, j.Range.End}}
	if s.behind != nil {
		if err := s.behind.add(ctx, r); err != nil {
			return fmt.Errorf("job from cache: %w", err)
		}
	} else if err := s.records.do(ctx, r); err != nil {
		return fmt.Errorf("job from cache: %w", err)
	}
	if r.err != nil {
		return fmt.Errorf("job from cache: %w", r.err)
	}
	j.ID, j.State, j.CreatedAt, j.UpdatedAt, j.Title, j.Duration = id.String(), recap.StateSucceeded, now, now, e.title, e.duration
	j.VideoKey = e.videoKey
	tid, sid := sm.TranscriptID, sm.ID
	j.TranscriptID, j.SummaryID = &tid, &sid
	j.ResultModel, j.Progress = sm.Model, 100
	return nil
}

// execRecords copies a batch of cache hits' job rows in. When the COPY is
// refused and the batch has more than one row, each is copied alone, so
// one bad row (an account deleted meanwhile) cannot fail its neighbours.
func (s *Store) execRecords(ctx context.Context, batch []*hitRecord) {
	err := s.copyRecords(ctx, batch)
	if err == nil {
		return
	}
	var pg *pgconn.PgError
	if len(batch) == 1 || !errors.As(err, &pg) {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	for _, r := range batch {
		r.err = s.copyRecords(ctx, []*hitRecord{r})
	}
}

func (s *Store) copyRecords(ctx context.Context, batch []*hitRecord) error {
	rows := make([][]any, len(batch))
	for i, r := range batch {
		rows[i] = r.row
	}
	n, err := s.recPool.CopyFrom(ctx, pgx.Identifier{"jobs"}, hitColumns, pgx.CopyFromRows(rows))
	if err == nil && n != int64(len(rows)) {
		err = fmt.Errorf("%d of %d job rows copied", n, len(rows))
	}
	return err
}
