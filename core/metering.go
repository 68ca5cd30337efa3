package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// Metering prices the requests that call a model without a video to
// transcribe (a follow-up question about a transcribed video, a question
// about images) by the model tokens they use. The most the request can
// use is held when it is admitted, before any model call; when it ends,
// the tokens the provider reported are charged out of the hold and the
// rest goes back (store.TokenCharge).
type Metering struct {
	// PricePer1K is the credit, in media seconds, of 1,000 tokens
	// (prompt and completion alike; PRICE_PER_1K_TOKENS, default 2).
	PricePer1K float64
	// MaxTokens caps the estimate a hold is made from: the most tokens
	// one request can send and receive (LLM_CONTEXT_TOKENS and the
	// history and answer beside it; default 20,000).
	MaxTokens int
}

func (m Metering) withDefaults() Metering {
	if m.PricePer1K <= 0 {
		m.PricePer1K = 2
	}
	if m.MaxTokens <= 0 {
		m.MaxTokens = 20000
	}
	return m
}

// Token estimate parts: an image as a model counts it at high detail, and
// the room left for the answer.
const (
	imageTokens  = 1500
	answerTokens = 4096
)

// estimateTokens is a generous count of the tokens texts take: a token
// per three bytes of ASCII, one per other character (CJK text runs about
// one token a character).
func estimateTokens(texts ...string) int {
	n := 0
	for _, t := range texts {
		ascii := 0
		for i := 0; i < len(t); {
			if t[i] < utf8.RuneSelf {
				ascii++
				i++
				continue
			}
			_, size := utf8.DecodeRuneInString(t[i:])
			i += size
			n++
		}
		n += (ascii + 2) / 3
	}
	return n
}

// tokenHold prices a job the model answers without a video to
// transcribe; ok is false for a job priced by its media instead.
func (s *Service) tokenHold(ctx context.Context, j *recap.Job) (hold int64, ok bool, err error) {
	texts := []string{j.Prompt}
	for _, m := range j.History {
		texts = append(texts, m.Content)
	}
	switch {
	case j.URL == "" && len(j.Images) > 0: // a question about images
	case j.Kind == "answer" && j.VideoKey != "" && !j.Refresh:
		// A follow-up is priced by tokens when the video's transcript is
		// stored (no media work); else, or when it asks for the video to be
		// fetched again (refresh), by the video, as a summary is.
		t, err := s.cfg.Store.LatestRangeTranscript(ctx, j.VideoKey, j.AudioLanguage, j.Range)
		if errors.Is(err, store.ErrNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		for _, sg := range t.Segments {
			texts = append(texts, sg.Text)
		}
	default:
		return 0, false, nil
	}
	m := s.cfg.Metering
	n := min(estimateTokens(texts...)+len(j.Images)*imageTokens+answerTokens, m.MaxTokens+len(j.Images)*imageTokens+answerTokens)
	return max(1, int64(math.Ceil(float64(n)/1000*m.PricePer1K))), true, nil
}

// admission is what creating j needs of the balance, and j's token price
// when it is priced by tokens.
func (s *Service) admission(ctx context.Context, j *recap.Job) (store.Admission, error) {
	hold, byTokens, err := s.tokenHold(ctx, j)
	if err != nil {
		return store.Admission{}, err
	}
	if byTokens {
		j.TokenPrice = s.cfg.Metering.PricePer1K
		return store.Admission{Hold: hold}, nil
	}
	return store.Admission{MinPrice: MinPrice}, nil
}

// quotaError explains a refused admission.
func quotaError(err error) error {
	var q *store.QuotaError
	if !errors.As(err, &q) {
		return err
	}
	if q.Hold == 0 {
		return InsufficientQuota(fmt.Sprintf("Your balance of %d s cannot cover one more video: %d of your jobs are not priced yet "+
			"and each takes at least %d s. Wait for them to finish, or ask the operator to grant more minutes.", q.Available, q.Unpriced, MinPrice))
	}
	return InsufficientQuota(fmt.Sprintf("This request may use up to %d s of credit (model tokens at the operator's rate) and your balance is %d s. "+
		"Ask the operator to grant more minutes.", q.Hold, q.Available))
}
