package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/recap/recap"
)

// SummaryGrounding is a summary's highlights and grounding counts; Counts
// is nil when the summary was not grounded.
type SummaryGrounding struct {
	Highlights []recap.Highlight
	Counts     *recap.Grounding
}

// SaveGroundedSummary is SaveSummary with the summary's highlights and
// grounding counts, written in the same statement so a summary is never
// seen without them (a regenerated one replaces all three).
func (s *Store) SaveGroundedSummary(ctx context.Context, sm *Summary, g SummaryGrounding) error {
	ch, err := json.Marshal(sm.Chapters)
	if err != nil {
		return err
	}
	if sm.Chapters == nil {
		ch = []byte("[]")
	}
	hl, err := json.Marshal(g.Highlights)
	if err != nil {
		return err
	}
	if g.Highlights == nil {
		hl = []byte("[]")
	}
	var counts []byte // SQL NULL when not grounded
	if g.Counts != nil {
		if counts, err = json.Marshal(g.Counts); err != nil {
			return err
		}
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO summaries (transcript_id, prompt_hash, model, output_language, markdown, chapters,
			prompt_tokens, completion_tokens, truncated, highlights, grounding)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
		ON CONFLICT (transcript_id, prompt_hash, model, output_language) DO UPDATE SET markdown = excluded.markdown,
		chapters = excluded.chapters, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
		truncated = excluded.truncated, highlights = excluded.highlights, grounding = excluded.grounding, created_at = now()
		RETURNING id, created_at`,
		sm.TranscriptID, sm.PromptHash, sm.Model, sm.OutputLanguage, sm.Markdown, ch, sm.PromptTokens, sm.CompletionTokens, sm.Truncated,
		hl, counts,
	).Scan(&sm.ID, &sm.CreatedAt)
	if err != nil {
		return fmt.Errorf("save grounded summary: %w", err)
	}
	return nil
}

// SummaryGroundingOf returns the highlights and grounding counts of
// summary id (no highlights and nil counts for one saved without them).
func (s *Store) SummaryGroundingOf(ctx context.Context, id int64) (*SummaryGrounding, error) {
	var hl, counts []byte
	err := s.pool.QueryRow(ctx, `SELECT highlights, grounding FROM summaries WHERE id = $1`, id).Scan(&hl, &counts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("summary grounding: %w", err)
	}
	g := &SummaryGrounding{Highlights: []recap.Highlight{}}
	if err := json.Unmarshal(hl, &g.Highlights); err != nil {
		return nil, fmt.Errorf("summary highlights: %w", err)
	}
	if counts != nil {
		g.Counts = &recap.Grounding{}
		if err := json.Unmarshal(counts, g.Counts); err != nil {
			return nil, fmt.Errorf("summary grounding counts: %w", err)
		}
	}
	return g, nil
}
