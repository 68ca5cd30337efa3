package summarize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/recap/recap"
)

// Config configures an LLM client. Zero values take the documented defaults.
type Config struct {
	BaseURL, APIKey, Model string
	// Concurrency is the number of parallel map-phase calls (LLM_CONCURRENCY); default 4.
	Concurrency int
	// ContextTokens is the token budget (see EstimateTokens) for the
	// transcript or partial summaries of one call; default 12000.
	ContextTokens int
	// Timeout bounds one call including its retries; default 5m.
	Timeout time.Duration
	// MaxRetries is how often openai-go retries transient errors; default 2.
	// A negative value disables retries.
	MaxRetries int
	// HTTPClient replaces openai-go's default client (tests, proxies).
	HTTPClient *http.Client
}

// Defaults for Config fields left zero.
const (
	DefaultConcurrency   = 4
	DefaultContextTokens = 12000
	DefaultTimeout       = 5 * time.Minute
	DefaultMaxRetries    = 2
)

// LLM summarizes through an OpenAI-compatible chat completion service.
// It is safe for concurrent use.
type LLM struct {
	cfg    Config
	client openai.Client
}

// New returns an LLM client for cfg, applying defaults to zero fields.
func New(cfg Config) *LLM {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ContextTokens <= 0 {
		cfg.ContextTokens = DefaultContextTokens
	}
	// Below this a window cannot hold a timestamped line plus a few words.
	cfg.ContextTokens = max(cfg.ContextTokens, 64)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	opts := []option.RequestOption{
		option.WithMaxRetries(cfg.MaxRetries),
		// Providers without auth still need a non-empty bearer for openai-go.
		option.WithAPIKey(cmpOr(cfg.APIKey, "none")),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &LLM{cfg: cfg, client: openai.NewClient(opts...)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Model is the model used when a request names none.
func (l *LLM) Model() string { return l.cfg.Model }

// run holds the state shared by the calls of one Summarize or Answer.
type run struct {
	l         *LLM
	model     string
	mu        sync.Mutex
	usage     Usage
	truncated atomic.Bool
	// ground checks the answer's timestamps against the transcript.
	ground *Grounder
	// format is the JSON format the answer must follow (nil: markdown).
	format *Validator
}

func (r *run) add(u openai.CompletionUsage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.usage.Calls++
	r.usage.PromptTokens += int(u.PromptTokens)
	r.usage.CompletionTokens += int(u.CompletionTokens)
}

// call makes one chat completion; it streams when onDelta is not nil.
func (r *run) call(ctx context.Context, msgs []openai.ChatCompletionMessageParamUnion, onDelta func(string)) (string, error) {
	return r.callParams(ctx, openai.ChatCompletionNewParams{Model: r.model, Messages: msgs}, onDelta)
}

// callParams is call with every parameter given.
func (r *run) callParams(ctx context.Context, params openai.ChatCompletionNewParams, onDelta func(string)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.l.cfg.Timeout)
	defer cancel()
	if onDelta == nil {
		resp, err := r.l.client.Chat.Completions.New(ctx, params)
		if err != nil {
			r.add(openai.CompletionUsage{})
			return "", classify(err)
		}
		r.add(resp.Usage)
		if len(resp.Choices) == 0 {
			return "", errors.New("llm: reply has no choices")
		}
		return resp.Choices[0].Message.Content, nil
	}
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := r.l.client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	var b strings.Builder
	var usage openai.CompletionUsage
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Usage.TotalTokens > 0 || chunk.Usage.PromptTokens > 0 {
			usage = chunk.Usage
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 || c.Delta.Content == "" {
				continue
			}
			b.WriteString(c.Delta.Content)
			onDelta(c.Delta.Content)
		}
	}
	r.add(usage)
	if err := stream.Err(); err != nil {
		return b.String(), classify(err)
	}
	return b.String(), nil
}

// classify wraps provider errors, marking those a retry cannot fix: a
// 4xx but 408 (timeout), 409 (conflict: a lock on the provider's side)
// and 429 (rate limit), which may pass.
func classify(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		s := apiErr.StatusCode
		if s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusConflict && s != http.StatusTooManyRequests {
			return fmt.Errorf("llm: %w: %w", ErrPermanent, err)
		}
	}
	return fmt.Errorf("llm: %w", err)
}

// parallel runs f(ctx, i) for i in [0, n) with at most limit at once and
// returns the first error, cancelling the others.
func parallel(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(limit, 1))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
loop:
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}

// window is a run of consecutive transcript lines that fits the budget.
type window struct {
	start, end float64
	text       string // "[mm:ss] text" lines
	tokens     int
}

// splitWindows cuts the transcript into consecutive windows of at most
// budget tokens. Nothing is dropped: a segment too large for one window is
// split into timed pieces, and cut reports that this happened.
func splitWindows(segs []recap.Segment, budget int) (ws []window, cut bool) {
	var cur window
	var b strings.Builder
	flush := func() {
		if cur.tokens > 0 {
			cur.text = b.String()
			ws = append(ws, cur)
		}
		cur, b = window{}, strings.Builder{}
	}
	add := func(s recap.Segment) {
		line := transcriptLine(s) + "\n"
		t := EstimateTokens(line)
		if cur.tokens > 0 && cur.tokens+t > budget {
			flush()
		}
		if cur.tokens == 0 {
			cur.start = s.Start
		}
		cur.end = max(cur.end, s.End, s.Start)
		cur.tokens += t
		b.WriteString(line)
	}
	for _, s := range segs {
		if EstimateTokens(transcriptLine(s)+"\n") <= budget {
			add(s)
			continue
		}
		cut = true
		// Leave room for the timestamp prefix and newline of each piece.
		pieces := splitText(strings.Join(strings.Fields(s.Text), " "), budget-6)
		total := 0
		for _, p := range pieces {
			total += len([]rune(p))
		}
		done := 0
		for _, p := range pieces {
			n := len([]rune(p))
			frac0, frac1 := float64(done)/float64(total), float64(done+n)/float64(total)
			span := s.End - s.Start
			add(recap.Segment{Start: s.Start + span*frac0, End: s.Start + span*frac1, Text: p, Speaker: s.Speaker})
			done += n
		}
	}
	flush()
	return ws, cut
}

// splitText cuts text into pieces of at most limit estimated tokens,
// preferring to break at spaces.
func splitText(text string, limit int) []string {
	limit = max(limit, 1)
	// Costs in sixths of a token, matching EstimateTokens.
	cost := func(r rune) int {
		switch {
		case r < 0x80:
			return 2
		case isCJK(r):
			return 6
		default:
			return 3
		}
	}
	rs := []rune(text)
	var out []string
	for len(rs) > 0 {
		n, c, lastSpace := 0, 0, -1
		for n < len(rs) && c+cost(rs[n]) <= limit*6-6 {
			c += cost(rs[n])
			if rs[n] == ' ' {
				lastSpace = n
			}
			n++
		}
		n = max(n, 1)
		if n < len(rs) && lastSpace > n/2 {
			n = lastSpace + 1
		}
		if p := strings.TrimSpace(string(rs[:n])); p != "" {
			out = append(out, p)
		}
		rs = rs[n:]
	}
	return out
}

// cutTokens shortens s to about limit tokens.
func cutTokens(s string, limit int) string {
	if EstimateTokens(s) <= limit {
		return s
	}
	parts := splitText(s, limit)
	if len(parts) == 0 {
		return ""
	}
	return parts[0] + " …"
}
