package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

const jobColumns = `id, account_id, coalesce(api_key_id, 0), kind, queue, url, video_key, prompt, model,
	audio_language, output_language, images, history, stream, refresh, webhook_url, request_hash,
	state, progress, error_code, error_message, cost_seconds, duration, title, transcript_id, summary_id,
	result_markdown, result_model, prompt_tokens, completion_tokens,
	created_at, updated_at, resolved_at, transcribed_at, finished_at, token_price, frames, frame_count, frames_note,
	range_start, range_end`

func scanJob(row pgx.Row) (*recap.Job, error) {
	var j recap.Job
	var images, history []byte
	var progress, tokenPrice float32
	err := row.Scan(&j.ID, &j.AccountID, &j.APIKeyID, &j.Kind, &j.Queue, &j.URL, &j.VideoKey, &j.Prompt, &j.Model,
		&j.AudioLanguage, &j.OutputLanguage, &images, &history, &j.Stream, &j.Refresh, &j.WebhookURL, &j.RequestHash,
		&j.State, &progress, &j.ErrorCode, &j.ErrorMessage, &j.CostSeconds, &j.Duration, &j.Title, &j.TranscriptID, &j.SummaryID,
		&j.ResultMarkdown, &j.ResultModel, &j.PromptTokens, &j.CompletionTokens,
		&j.CreatedAt, &j.UpdatedAt, &j.ResolvedAt, &j.TranscribedAt, &j.FinishedAt, &tokenPrice, &j.Frames, &j.FrameCount, &j.FramesNote,
		&j.Range.Start, &j.Range.End)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	j.Progress, j.TokenPrice = float64(progress), float64(tokenPrice)
	if err := json.Unmarshal(images, &j.Images); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(history, &j.History); err != nil {
		return nil, err
	}
	return &j, nil
}

// rowQuerier is what both the pool and a transaction offer, so a write
// can run alone or inside an idempotent request's transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CreateJob inserts a queued job and sets its ID and timestamps.
func (s *Store) CreateJob(ctx context.Context, j *recap.Job) error {
	return createJobs(ctx, s.pool, []*recap.Job{j})
}

// CreateJobs inserts queued jobs in one statement (all or none) and sets
// their IDs and timestamps: a batch of a thousand URLs costs one round
// trip, not a thousand.
func (s *Store) CreateJobs(ctx context.Context, list []*recap.Job) error {
	return createJobs(ctx, s.pool, list)
}

// rowsQuerier is the pool or a transaction, for statements that return
// many rows.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// FillDefaults gives a new job what it was created without: the summary
// kind and the interactive queue. createJobs applies it, and so do the
// in-memory fakes.
func FillDefaults(j *recap.Job) {
	if j.Kind == "" {
		j.Kind = recap.KindSummary
	}
	if j.Queue == "" {
		j.Queue = "interactive"
	}
}

func createJobs(ctx context.Context, q rowsQuerier, list []*recap.Job) error {
	n := len(list)
	if n == 0 {
		return nil
	}
	var (
		ids, kinds, queues, urls, videoKeys = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		prompts, models, audio, output      = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		images, history, webhooks, hashes   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		accounts                            = make([]int64, n)
		keys                                = make([]*int64, n)
		streams, refresh, frames            = make([]bool, n), make([]bool, n), make([]bool, n)
		tokenPrices                         = make([]float32, n)
		rangeStarts, rangeEnds              = make([]float64, n), make([]float64, n)
	)
	byID := make(map[string]*recap.Job, n)
	for i, j := range list {
		FillDefaults(j)
		ids[i] = uuid.NewString()
		byID[ids[i]] = j
		accounts[i] = j.AccountID
		if j.APIKeyID != 0 {
			keys[i] = &j.APIKeyID
		}
		kinds[i], queues[i], urls[i], videoKeys[i] = j.Kind, j.Queue, j.URL, j.VideoKey
		prompts[i], models[i], audio[i], output[i] = j.Prompt, j.Model, j.AudioLanguage, j.OutputLanguage
		im, _ := json.Marshal(nonNil(j.Images))
		hi, _ := json.Marshal(nonNilMsgs(j.History))
		images[i], history[i], webhooks[i], hashes[i] = string(im), string(hi), j.WebhookURL, j.RequestHash
		streams[i], refresh[i], frames[i] = j.Stream, j.Refresh, j.Frames
		tokenPrices[i] = float32(j.TokenPrice)
		rangeStarts[i], rangeEnds[i] = j.Range.Start, j.Range.End
	}
	rows, err := q.Query(ctx, `INSERT INTO jobs (id, account_id, api_key_id, kind, queue, url, video_key, prompt, model,
		audio_language, output_language, images, history, stream, refresh, webhook_url, request_hash, token_price, frames,
		range_start, range_end)
		SELECT id, account_id, api_key_id, kind, queue, url, video_key, prompt, model,
			audio_language, output_language, images::jsonb, history::jsonb, stream, refresh, webhook_url, request_hash, token_price, frames,
			range_start, range_end
		FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::boolean[], $16::text[], $17::text[], $18::real[],
			$19::boolean[], $20::float8[], $21::float8[])
			AS r(id, account_id, api_key_id, kind, queue, url, video_key, prompt, model,
				audio_language, output_language, images, history, stream, refresh, webhook_url, request_hash, token_price, frames,
				range_start, range_end)
		RETURNING id, state, created_at, updated_at`,
		ids, accounts, keys, kinds, queues, urls, videoKeys, prompts, models, audio, output, images, history,
		streams, refresh, webhooks, hashes, tokenPrices, frames, rangeStarts, rangeEnds)
	if err != nil {
		return fmt.Errorf("create jobs: %w", err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id, state string
		var created, updated time.Time
		if err := rows.Scan(&id, &state, &created, &updated); err != nil {
			return fmt.Errorf("create jobs: %w", err)
		}
		j := byID[id]
		if j == nil {
			return fmt.Errorf("create jobs: unexpected id %s", id)
		}
		j.ID, j.State, j.CreatedAt, j.UpdatedAt = id, state, created, updated
		seen++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("create jobs: %w", err)
	}
	if seen != n {
		return fmt.Errorf("create jobs: %d of %d inserted", seen, n)
	}
	return nil
}

// Job returns a job by id.
func (s *Store) Job(ctx context.Context, id string) (*recap.Job, error) {
	if err := s.syncHits(ctx); err != nil {
		return nil, err
	}
	if !validUUID(id) {
		return nil, ErrNotFound
	}
	for {
		j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("job: %w", err)
		}
		if err == nil || !s.awaitHitRow(ctx, id) {
			return j, err
		}
	}
}

// awaitHitRow is for a job id not found: when it may be a cache hit's
// row that another API process is still writing behind its answer (a
// time-ordered id, UUIDv7, from the last second: only those rows get
// one), it waits a little and reports whether to look again.
func (s *Store) awaitHitRow(ctx context.Context, id string) bool {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return false
	}
	sec, nsec := u.Time().UnixTime()
	if time.Since(time.Unix(sec, nsec)) > hitRowWait {
		return false
	}
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// hitRowWait is how long after its answer a cache hit's job row may still
// be on its way from another API process (its write-behind window, and
// retries while Postgres is slow).
const hitRowWait = time.Second

// AccountJob returns a job only if it belongs to the account; anyone
// else's job is ErrNotFound, indistinguishable from a missing one.
func (s *Store) AccountJob(ctx context.Context, accountID int64, id string) (*recap.Job, error) {
	j, err := s.Job(ctx, id) // which waits for rows written behind
	if err != nil {
		return nil, err
	}
	if j.AccountID != accountID {
		return nil, ErrNotFound
	}
	return j, nil
}

// ActiveJobByHash returns the account's newest job with this request hash
// that is still running (queued, resolving, transcribing or summarizing),
// so a repeated request can attach to it; finished jobs are left to the
// caches.
func (s *Store) ActiveJobByHash(ctx context.Context, accountID int64, hash string) (*recap.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE account_id = $1 AND request_hash = $2 AND state NOT IN ('succeeded','failed','canceled')
		ORDER BY created_at DESC LIMIT 1`, accountID, hash))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("active job: %w", err)
	}
	return j, err
}

// Advance moves a running job to a new non-terminal state. It reports
// false (and changes nothing) when the job is already terminal.
func (s *Store) Advance(ctx context.Context, id, state string) (bool, error) {
	col := ""
	switch state {
	case recap.StateTranscribing:
		col = ", resolved_at = coalesce(resolved_at, now())"
	case recap.StateSummarizing:
		col = ", transcribed_at = coalesce(transcribed_at, now())"
	}
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET state = $2, updated_at = now()`+col+`
		WHERE id = $1 AND state NOT IN ('succeeded','failed','canceled')`, id, state)
	if err != nil {
		return false, fmt.Errorf("advance job: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetProgress records a stage's progress in percent.
func (s *Store) SetProgress(ctx context.Context, id string, pct float64) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET progress = $2, updated_at = now() WHERE id = $1`, id, pct)
	return err
}

// SetVideo records what the resolve stage learned about the job's video.
func (s *Store) SetVideo(ctx context.Context, id, videoKey, title string, duration float64) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET video_key = $2, title = $3, duration = $4, updated_at = now() WHERE id = $1`,
		id, videoKey, title, duration)
	if err != nil {
		return fmt.Errorf("set job video: %w", err)
	}
	return nil
}

// SetTranscript links the job to its transcript.
func (s *Store) SetTranscript(ctx context.Context, id string, transcriptID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET transcript_id = $2, updated_at = now() WHERE id = $1`, id, transcriptID)
	if err != nil {
		return fmt.Errorf("set job transcript: %w", err)
	}
	return nil
}

// Outcome is how a job ended.
type Outcome struct {
	State            string // succeeded, failed or canceled
	ErrorCode        string
	ErrorMessage     string
	SummaryID        *int64
	ResultMarkdown   string
	ResultModel      string
	PromptTokens     int
	CompletionTokens int
}

// Finish moves a job to its terminal state and settles its credit hold in
// the same transaction: capture on success, release otherwise. It reports
// false when the job had already ended, so each job ends exactly once.
func (s *Store) Finish(ctx context.Context, id string, o Outcome) (bool, error) {
	if !recap.Terminal(o.State) {
		return false, fmt.Errorf("finish job: %q is not a terminal state", o.State)
	}
	ended, err := s.finish(ctx, id, o)
	if err != nil {
		return false, fmt.Errorf("finish job: %w", err)
	}
	return ended, nil
}

// finish ends the job and settles its hold in one transaction whose last
// statement, the update of the account row, goes out with the COMMIT in
// one round trip: the many jobs of one account's batch all update that
// row, and its lock is then held for no client round trip.
func (s *Store) finish(ctx context.Context, id string, o Outcome) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		}
	}()
	var tokenPrice float32
	err = tx.QueryRow(ctx, `UPDATE jobs SET state = $2, error_code = $3, error_message = $4,
		summary_id = coalesce($5, summary_id), result_markdown = $6, result_model = $7,
		prompt_tokens = $8, completion_tokens = $9, progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END,
		finished_at = now(), updated_at = now()
		WHERE id = $1 AND state NOT IN ('succeeded','failed','canceled')
		RETURNING token_price`,
		id, o.State, o.ErrorCode, o.ErrorMessage, o.SummaryID, o.ResultMarkdown, o.ResultModel, o.PromptTokens, o.CompletionTokens).Scan(&tokenPrice)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the deferred rollback ends the transaction
	}
	if err != nil {
		return false, err
	}
	// A job priced by tokens pays for the tokens it used out of its hold
	// and gets the rest back.
	var charge func(held int64) int64
	if tokenPrice > 0 {
		charge = func(held int64) int64 {
			return TokenCharge(float64(tokenPrice), o.PromptTokens, o.CompletionTokens, held)
		}
	}
	upd, err := settleEntryCharge(ctx, tx, id, o.State == recap.StateSucceeded, charge)
	if err != nil {
		return false, err
	}
	b := &pgx.Batch{}
	if upd != nil {
		b.Queue(upd.sql, upd.args...)
	}
	b.Queue(`COMMIT`)
	// The COMMIT goes through the connection, past the pgx.Tx; the
	// connection is idle again when it is released.
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return false, err
	}
	committed = true
	return true, nil
}

// JobFilter selects an account's jobs for listing.
type JobFilter struct {
	AccountID int64 // 0 = every account (admin)
	State     string
	Limit     int
	// Before is the cursor: jobs strictly older than (CreatedAt, ID).
	BeforeTime *time.Time
	BeforeID   string
}

// ListJobs returns jobs newest first.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) ([]recap.Job, error) {
	if err := s.syncHits(ctx); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE ($1 = 0 OR account_id = $1) AND ($2 = '' OR state = $2)`
	args := []any{f.AccountID, f.State, f.Limit}
	if f.BeforeTime != nil && validUUID(f.BeforeID) {
		q += ` AND (created_at, id) < ($4, $5)`
		args = append(args, *f.BeforeTime, f.BeforeID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $3`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []recap.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// UnfinishedJobs returns non-terminal jobs not updated since before, oldest
// first: candidates for the reconciler and the sweeper.
func (s *Store) UnfinishedJobs(ctx context.Context, before time.Time, limit int) ([]recap.Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE state NOT IN ('succeeded','failed','canceled') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("unfinished jobs: %w", err)
	}
	defer rows.Close()
	var out []recap.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, rows.Err()
}

// Touch bumps a job's updated_at so the sweeper sees it as alive.
func (s *Store) Touch(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET updated_at = now() WHERE id = $1`, id)
	return err
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMsgs(s []recap.Message) []recap.Message {
	if s == nil {
		return []recap.Message{}
	}
	return s
}

// createCachedJob records a job answered entirely from the summary cache
// (born succeeded, free, never queued) in an idempotent request's
// transaction (JobTx), which also records the Idempotency-Key. Requests
// without a key use CreateJobFromCache.
func createCachedJob(ctx context.Context, q rowQuerier, j *recap.Job, sm *Summary) error {
	images, _ := json.Marshal(nonNil(j.Images))
	var keyID any
	if j.APIKeyID != 0 {
		keyID = j.APIKeyID
	}
	err := q.QueryRow(ctx, `INSERT INTO jobs (id, account_id, api_key_id, kind, queue, url, video_key, prompt, model,
		audio_language, output_language, images, stream, refresh, webhook_url, request_hash, state, progress,
		transcript_id, summary_id, result_model, prompt_tokens, completion_tokens, resolved_at, transcribed_at, finished_at,
		title, duration, range_start, range_end)
		SELECT gen_random_uuid(), $1,$2,'summary',$3,$4,$5,$6,$7,$8,$9,$10,$11,false,$12,$13,'succeeded',100,$14,$15,$16,$17,$18,now(),now(),now(),
		coalesce(v.title, ''), coalesce(v.duration, 0), $19, $20
		FROM (SELECT 1) one LEFT JOIN videos v ON v.key = $5
		RETURNING id, state, created_at, updated_at, title, duration`,
		j.AccountID, keyID, j.Queue, j.URL, j.VideoKey, j.Prompt, j.Model, j.AudioLanguage, j.OutputLanguage, images, j.Stream,
		j.WebhookURL, j.RequestHash, sm.TranscriptID, sm.ID, sm.Model, sm.PromptTokens, sm.CompletionTokens, j.Range.Start, j.Range.End,
	).Scan(&j.ID, &j.State, &j.CreatedAt, &j.UpdatedAt, &j.Title, &j.Duration)
	if err != nil {
		return fmt.Errorf("create cached job: %w", err)
	}
	j.TranscriptID, j.SummaryID = &sm.TranscriptID, &sm.ID
	j.ResultModel, j.Progress = sm.Model, 100
	return nil
}
