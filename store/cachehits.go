package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// Cache hits are the hot path of the API: a popular video's summary is
// asked for again and again, and each answer must still be recorded as a
// job (the caller gets its id, lists it, audits it). One statement per hit
// makes Postgres the bottleneck, so concurrent hits are combined by a
// combiner (combiner.go) into shared statements.

// cacheHit is one pending CreateJobFromCache call.
type cacheHit struct {
	j          *recap.Job
	promptHash string
	sm         *Summary
	err        error
}

// CreateJobFromCache answers j from the summary cache: when a summary
// exists for j's video, audio language, range, prompt (promptHash), model and
// output language, it records j as a succeeded, free job pointing at that
// summary and returns the summary; otherwise it returns ErrNotFound and
// writes nothing.
//
// Lookup and insert are one statement, shared with the other cache hits
// arriving at the same moment (see combiner), sent in one pipeline with
// SET LOCAL synchronous_commit = off: the record of a free cache hit need
// not wait for its WAL flush (a crash can lose the last milliseconds of
// such records, never work or money).
func (s *Store) CreateJobFromCache(ctx context.Context, j *recap.Job, promptHash string) (*Summary, error) {
	h := &cacheHit{j: j, promptHash: promptHash}
	if err := s.hits.do(ctx, h); err != nil {
		return nil, fmt.Errorf("job from cache: %w", err)
	}
	if h.err != nil {
		return nil, h.err
	}
	return h.sm, nil
}

// execHits looks up and records a batch of cache hits in one statement.
// When the statement fails and the batch has more than one hit, each is
// retried alone, so one bad row cannot fail its neighbours.
func (s *Store) execHits(ctx context.Context, batch []*cacheHit) {
	err := s.execHitsOnce(ctx, batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].err = fmt.Errorf("job from cache: %w", err)
		return
	}
	for _, h := range batch {
		if err := s.execHitsOnce(ctx, []*cacheHit{h}); err != nil {
			h.err = fmt.Errorf("job from cache: %w", err)
		}
	}
}

const hitsSQL = `WITH req AS (
	SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::boolean[], $13::text[], $14::text[], $15::text[],
		$16::float8[], $17::float8[])
		AS r(id, account_id, api_key_id, queue, url, video_key, prompt, model, audio_language, output_language,
			images, stream, webhook_url, request_hash, prompt_hash, range_start, range_end)
), wanted AS (
	-- A batch is mostly one popular video asked for again and again: each
	-- summary and video is looked up once per distinct key, not per row.
	-- A URL form that joined another video (video_aliases, by yt-dlp's
	-- extractor key and id) is answered from that video's summaries.
	SELECT DISTINCT r.video_key AS req_key, coalesce(a.video_key, r.video_key) AS video_key,
		r.audio_language, r.range_start, r.range_end, r.prompt_hash, r.model, r.output_language
	FROM req r LEFT JOIN video_aliases a ON a.key = r.video_key
), found AS (
	SELECT w.*, s.*, coalesce(v.title, '') AS v_title, coalesce(v.duration, 0) AS v_duration
	FROM wanted w CROSS JOIN LATERAL (
		SELECT s.id AS s_id, s.transcript_id AS s_transcript_id, s.prompt_hash AS s_prompt_hash, s.model AS s_model,
			s.output_language AS s_output_language, s.markdown AS s_markdown, s.chapters AS s_chapters,
			s.prompt_tokens AS s_prompt_tokens, s.completion_tokens AS s_completion_tokens,
			s.truncated AS s_truncated, s.created_at AS s_created_at
		FROM summaries s JOIN transcripts t ON t.id = s.transcript_id
		WHERE t.video_key = w.video_key AND t.language = w.audio_language
			AND t.range_start = w.range_start AND t.range_end = w.range_end AND s.prompt_hash = w.prompt_hash
			AND s.model = w.model AND s.output_language = w.output_language
		ORDER BY t.created_at DESC, s.created_at DESC LIMIT 1) s
	LEFT JOIN videos v ON v.key = w.video_key
), hit AS (
	SELECT r.*, f.video_key AS canon_key, f.s_id, f.s_transcript_id, f.s_model, f.s_prompt_tokens, f.s_completion_tokens,
		f.v_title, f.v_duration
	FROM req r JOIN found f ON f.req_key = r.video_key AND f.audio_language = r.audio_language
		AND f.range_start = r.range_start AND f.range_end = r.range_end
		AND f.prompt_hash = r.prompt_hash AND f.model = r.model AND f.output_language = r.output_language
), ins AS (
	INSERT INTO jobs (id, account_id, api_key_id, kind, queue, url, video_key, prompt, model,
		audio_language, output_language, images, stream, refresh, webhook_url, request_hash, state, progress,
		transcript_id, summary_id, result_model, prompt_tokens, completion_tokens, resolved_at, transcribed_at, finished_at,
		title, duration, range_start, range_end)
	SELECT h.id, h.account_id, h.api_key_id, 'summary', h.queue, h.url, h.canon_key, h.prompt, h.model,
		h.audio_language, h.output_language, h.images::jsonb, h.stream, false, h.webhook_url, h.request_hash, 'succeeded', 100,
		h.s_transcript_id, h.s_id, h.s_model, h.s_prompt_tokens, h.s_completion_tokens, now(), now(), now(),
		h.v_title, h.v_duration, h.range_start, h.range_end
	FROM hit h
	RETURNING id, state, created_at, updated_at, title, duration, summary_id, video_key
), first AS (
	-- Each summary's text is sent back once; its other rows share it.
	SELECT DISTINCT ON (summary_id) id FROM ins ORDER BY summary_id, id
)
SELECT ins.id, ins.state, ins.created_at, ins.updated_at, ins.title, ins.duration, ins.video_key,
	f.s_id, f.s_transcript_id, f.s_prompt_hash, f.s_model, f.s_output_language,
	CASE WHEN first.id IS NULL THEN NULL ELSE f.s_markdown END, CASE WHEN first.id IS NULL THEN NULL ELSE f.s_chapters END,
	f.s_prompt_tokens, f.s_completion_tokens, f.s_truncated, f.s_created_at
FROM ins JOIN (SELECT DISTINCT ON (s_id) * FROM found) f ON f.s_id = ins.summary_id
	LEFT JOIN first ON first.id = ins.id`

func (s *Store) execHitsOnce(ctx context.Context, batch []*cacheHit) error {
	n := len(batch)
	var (
		ids                                                  = make([]string, n)
		accounts                                             = make([]int64, n)
		keys                                                 = make([]*int64, n)
		queues, urls, videoKeys, prompts, models, audioLangs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		outLangs, images, webhooks, hashes, promptHashes     = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		streams                                              = make([]bool, n)
		rangeStarts, rangeEnds                               = make([]float64, n), make([]float64, n)
	)
	byID := make(map[string]*cacheHit, n)
	for i, h := range batch {
		j := h.j
		ids[i] = uuid.NewString()
		byID[ids[i]] = h
		accounts[i] = j.AccountID
		if j.APIKeyID != 0 {
			keys[i] = &j.APIKeyID
		}
		queues[i], urls[i], videoKeys[i], prompts[i], models[i] = j.Queue, j.URL, j.VideoKey, j.Prompt, j.Model
		audioLangs[i], outLangs[i], webhooks[i], hashes[i], promptHashes[i] = j.AudioLanguage, j.OutputLanguage, j.WebhookURL, j.RequestHash, h.promptHash
		im, _ := json.Marshal(nonNil(j.Images))
		images[i] = string(im)
		streams[i] = j.Stream
		rangeStarts[i], rangeEnds[i] = j.Range.Start, j.Range.End
	}
	found := make(map[*cacheHit]bool, n)
	texts := map[int64]*Summary{}
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(hitsSQL, ids, accounts, keys, queues, urls, videoKeys, prompts, models, audioLangs, outLangs,
		images, streams, webhooks, hashes, promptHashes, rangeStarts, rangeEnds).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				id, state, title string
				videoKey         string
				created, updated time.Time
				duration         float64
				sm               Summary
				markdown         *string
				chapters         []byte
			)
			if err := rows.Scan(&id, &state, &created, &updated, &title, &duration, &videoKey,
				&sm.ID, &sm.TranscriptID, &sm.PromptHash, &sm.Model, &sm.OutputLanguage, &markdown, &chapters,
				&sm.PromptTokens, &sm.CompletionTokens, &sm.Truncated, &sm.CreatedAt); err != nil {
				return err
			}
			h := byID[id]
			if h == nil {
				return fmt.Errorf("unexpected job id %s", id)
			}
			if markdown != nil { // the first row of its summary carries the text
				sm.Markdown = *markdown
				if err := json.Unmarshal(chapters, &sm.Chapters); err != nil {
					return err
				}
				texts[sm.ID] = &sm
			}
			j := h.j
			j.ID, j.State, j.CreatedAt, j.UpdatedAt, j.Title, j.Duration = id, state, created, updated, title, duration
			j.VideoKey = videoKey // the joined video's, for a URL form that joined one
			j.TranscriptID, j.SummaryID = &sm.TranscriptID, &sm.ID
			j.ResultModel, j.Progress = sm.Model, 100
			h.sm = &sm
			found[h] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Rows without the text share their summary's first row's.
		for h := range found {
			if t := texts[h.sm.ID]; t != nil && t != h.sm {
				h.sm.Markdown, h.sm.Chapters = t.Markdown, t.Chapters
			}
		}
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, h := range batch {
		if !found[h] {
			h.err = ErrNotFound
		}
	}
	return nil
}
