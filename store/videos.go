package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// Video is what the resolve stage learned about a canonical video.
type Video struct {
	Key      string
	URL      string
	Title    string
	Duration float64
	IsLive   bool
	Info     json.RawMessage
	// RawInfo is yt-dlp's own info JSON from the resolve (nil when none),
	// handed back to later yt-dlp runs so they do not extract the page again.
	RawInfo   []byte
	CreatedAt time.Time
}

// Summary is a cached summary of a transcript.
type Summary struct {
	ID               int64
	TranscriptID     int64
	PromptHash       string
	Model            string
	OutputLanguage   string
	Markdown         string
	Chapters         []recap.Chapter
	PromptTokens     int
	CompletionTokens int
	Truncated        bool
	CreatedAt        time.Time
	// Highlights are the summary's timestamped lines with the transcript
	// segments that support them; Grounding the check's counts (nil for a
	// summary saved before grounding, or by the offline summarizer).
	Highlights []recap.Highlight
	Grounding  *recap.Grounding
}

// SaveVideo inserts or refreshes a video.
func (s *Store) SaveVideo(ctx context.Context, v *Video) error {
	if len(v.Info) == 0 {
		v.Info = json.RawMessage(`{}`)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO videos (key, url, title, duration, is_live, info, ytdlp_info) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (key) DO UPDATE SET url = excluded.url, title = excluded.title, duration = excluded.duration,
		is_live = excluded.is_live, info = excluded.info, ytdlp_info = excluded.ytdlp_info RETURNING created_at`,
		v.Key, v.URL, v.Title, v.Duration, v.IsLive, v.Info, v.RawInfo).Scan(&v.CreatedAt)
	if err != nil {
		return fmt.Errorf("save video: %w", err)
	}
	return nil
}

// Video returns a video by canonical key.
func (s *Store) Video(ctx context.Context, key string) (*Video, error) {
	var v Video
	err := s.pool.QueryRow(ctx, `SELECT key, url, title, duration, is_live, info, ytdlp_info, created_at FROM videos WHERE key = $1`, key).
		Scan(&v.Key, &v.URL, &v.Title, &v.Duration, &v.IsLive, &v.Info, &v.RawInfo, &v.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("video: %w", err)
	}
	return &v, nil
}

// SetVideoDuration records a duration measured after download, for media
// whose metadata had none.
func (s *Store) SetVideoDuration(ctx context.Context, key string, d float64) error {
	_, err := s.pool.Exec(ctx, `UPDATE videos SET duration = $2 WHERE key = $1`, key, d)
	return err
}

// SaveTranscript stores a transcript and sets its ID.
func (s *Store) SaveTranscript(ctx context.Context, t *recap.Transcript) error {
	segs, err := json.Marshal(t.Segments)
	if err != nil {
		return fmt.Errorf("save transcript: %w", err)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO transcripts (video_key, language, range_start, range_end, source, segments, duration)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id, created_at`,
		t.VideoKey, t.Language, t.Range.Start, t.Range.End, t.Source, segs, t.Duration).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return fmt.Errorf("save transcript: %w", err)
	}
	return nil
}

const transcriptColumns = `id, video_key, language, range_start, range_end, source, segments, duration, created_at`

func scanTranscript(row pgx.Row) (*recap.Transcript, error) {
	var t recap.Transcript
	var segs []byte
	err := row.Scan(&t.ID, &t.VideoKey, &t.Language, &t.Range.Start, &t.Range.End, &t.Source, &segs, &t.Duration, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	if err := json.Unmarshal(segs, &t.Segments); err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	return &t, nil
}

// LatestTranscript returns the newest transcript of a whole video in a
// language (never one of a range: see LatestRangeTranscript).
func (s *Store) LatestTranscript(ctx context.Context, videoKey, language string) (*recap.Transcript, error) {
	return s.LatestRangeTranscript(ctx, videoKey, language, recap.Range{})
}

// LatestRangeTranscript returns the newest transcript of the range r of a
// video in a language; the zero Range is the whole video's.
func (s *Store) LatestRangeTranscript(ctx context.Context, videoKey, language string, r recap.Range) (*recap.Transcript, error) {
	return scanTranscript(s.pool.QueryRow(ctx, `SELECT `+transcriptColumns+` FROM transcripts
		WHERE video_key = $1 AND language = $2 AND range_start = $3 AND range_end = $4
		ORDER BY created_at DESC, id DESC LIMIT 1`, videoKey, language, r.Start, r.End))
}

// Transcript returns a transcript by id.
func (s *Store) Transcript(ctx context.Context, id int64) (*recap.Transcript, error) {
	return scanTranscript(s.pool.QueryRow(ctx, `SELECT `+transcriptColumns+` FROM transcripts WHERE id = $1`, id))
}

// Chunk is one finished speech-to-text piece of a video's audio.
type Chunk struct {
	Index    int
	Offset   float64
	Duration float64
	Segments []recap.Segment // absolute times
}

// SaveChunk persists a transcribed chunk of the range r of a video (the
// zero Range: the whole video); saving one twice keeps the first.
func (s *Store) SaveChunk(ctx context.Context, videoKey, language string, r recap.Range, c Chunk) error {
	segs, err := json.Marshal(c.Segments)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO transcript_chunks (video_key, language, range_start, range_end, chunk_index, chunk_offset, chunk_duration, segments)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING`, videoKey, language, r.Start, r.End, c.Index, c.Offset, c.Duration, segs)
	if err != nil {
		return fmt.Errorf("save chunk: %w", err)
	}
	return nil
}

// Chunks returns the finished chunks of the transcription of a video's
// range r by index.
func (s *Store) Chunks(ctx context.Context, videoKey, language string, r recap.Range) (map[int]Chunk, error) {
	rows, err := s.pool.Query(ctx, `SELECT chunk_index, chunk_offset, chunk_duration, segments FROM transcript_chunks
		WHERE video_key = $1 AND language = $2 AND range_start = $3 AND range_end = $4`, videoKey, language, r.Start, r.End)
	if err != nil {
		return nil, fmt.Errorf("chunks: %w", err)
	}
	defer rows.Close()
	out := map[int]Chunk{}
	for rows.Next() {
		var c Chunk
		var segs []byte
		if err := rows.Scan(&c.Index, &c.Offset, &c.Duration, &segs); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(segs, &c.Segments); err != nil {
			return nil, err
		}
		out[c.Index] = c
	}
	return out, rows.Err()
}

// DeleteChunks forgets the chunks of a video's range r once its
// transcript is stored.
func (s *Store) DeleteChunks(ctx context.Context, videoKey, language string, r recap.Range) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM transcript_chunks WHERE video_key = $1 AND language = $2
		AND range_start = $3 AND range_end = $4`, videoKey, language, r.Start, r.End)
	return err
}

const summaryColumns = `id, transcript_id, prompt_hash, model, output_language, markdown, chapters, prompt_tokens, completion_tokens, truncated, created_at,
	highlights, grounding`

func scanSummary(row pgx.Row) (*Summary, error) {
	var sm Summary
	var ch, hl, counts []byte
	err := row.Scan(&sm.ID, &sm.TranscriptID, &sm.PromptHash, &sm.Model, &sm.OutputLanguage, &sm.Markdown, &ch,
		&sm.PromptTokens, &sm.CompletionTokens, &sm.Truncated, &sm.CreatedAt, &hl, &counts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if err := json.Unmarshal(ch, &sm.Chapters); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if len(hl) > 0 {
		if err := json.Unmarshal(hl, &sm.Highlights); err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
	}
	if len(counts) > 0 {
		sm.Grounding = &recap.Grounding{}
		if err := json.Unmarshal(counts, sm.Grounding); err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
	}
	return &sm, nil
}

// FindSummary returns the cached summary for this transcript, prompt, model
// and output language.
func (s *Store) FindSummary(ctx context.Context, transcriptID int64, promptHash, model, outputLanguage string) (*Summary, error) {
	return scanSummary(s.pool.QueryRow(ctx, `SELECT `+summaryColumns+` FROM summaries
		WHERE transcript_id = $1 AND prompt_hash = $2 AND model = $3 AND output_language = $4`,
		transcriptID, promptHash, model, outputLanguage))
}

// Summary returns a summary by id.
func (s *Store) Summary(ctx context.Context, id int64) (*Summary, error) {
	return scanSummary(s.pool.QueryRow(ctx, `SELECT `+summaryColumns+` FROM summaries WHERE id = $1`, id))
}

// SaveSummary stores a summary (replacing a cached one for the same key,
// which happens on refresh) and sets its ID.
func (s *Store) SaveSummary(ctx context.Context, sm *Summary) error {
	ch, err := json.Marshal(sm.Chapters)
	if err != nil {
		return err
	}
	if sm.Chapters == nil {
		ch = []byte("[]")
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO summaries (transcript_id, prompt_hash, model, output_language, markdown, chapters, prompt_tokens, completion_tokens, truncated)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (transcript_id, prompt_hash, model, output_language) DO UPDATE SET markdown = excluded.markdown,
		chapters = excluded.chapters, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
		truncated = excluded.truncated, created_at = now()
		RETURNING id, created_at`,
		sm.TranscriptID, sm.PromptHash, sm.Model, sm.OutputLanguage, sm.Markdown, ch, sm.PromptTokens, sm.CompletionTokens, sm.Truncated,
	).Scan(&sm.ID, &sm.CreatedAt)
	if err != nil {
		return fmt.Errorf("save summary: %w", err)
	}
	return nil
}

// CachedSummary finds a finished summary of a video (or of its range r)
// for this language, prompt, model and output language, from any of its
// transcripts (newest first): the whole pipeline can then be skipped.
func (s *Store) CachedSummary(ctx context.Context, videoKey, language string, r recap.Range, promptHash, model, outputLanguage string) (*Summary, error) {
	return scanSummary(s.pool.QueryRow(ctx, `SELECT s.id, s.transcript_id, s.prompt_hash, s.model, s.output_language, s.markdown,
		s.chapters, s.prompt_tokens, s.completion_tokens, s.truncated, s.created_at, s.highlights, s.grounding
		FROM summaries s JOIN transcripts t ON t.id = s.transcript_id
		WHERE t.video_key = $1 AND t.language = $2 AND t.range_start = $6 AND t.range_end = $7
			AND s.prompt_hash = $3 AND s.model = $4 AND s.output_language = $5
		ORDER BY t.created_at DESC, s.created_at DESC LIMIT 1`, videoKey, language, promptHash, model, outputLanguage, r.Start, r.End))
}
