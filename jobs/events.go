package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types published on a job's stream.
const (
	EventState    = "state"    // the job entered State
	EventProgress = "progress" // Percent and Message of the running stage
	EventPriced   = "priced"   // the credit hold is placed (CostSeconds), or none is needed
	EventDelta    = "delta"    // Text is the next piece of the summary
	EventResult   = "result"   // the job succeeded; Result holds the answer
	EventError    = "error"    // the job failed or was canceled; Error says why
)

// Event is one entry of a job's event stream.
type Event struct {
	// ID is the Redis stream entry id, usable as an SSE id / Last-Event-ID.
	ID          string     `json:"-"`
	Type        string     `json:"type"`
	State       string     `json:"state,omitempty"`
	Percent     float64    `json:"percent,omitempty"`
	Message     string     `json:"message,omitempty"`
	Text        string     `json:"text,omitempty"`
	CostSeconds int64      `json:"cost_seconds,omitempty"`
	Result      *Result    `json:"result,omitempty"`
	Error       *ErrorInfo `json:"error,omitempty"`
}

// Terminal reports whether no event follows this one.
func (e Event) Terminal() bool { return e.Type == EventResult || e.Type == EventError }

// Result is a finished job's answer.
type Result struct {
	Markdown         string    `json:"markdown"`
	Model            string    `json:"model"`
	Chapters         []Chapter `json:"chapters,omitempty"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Cached           bool      `json:"cached,omitempty"`
	Truncated        bool      `json:"truncated,omitempty"`
}

// Chapter is a titled time range of a long video's summary.
type Chapter struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Title string  `json:"title"`
}

// ErrorInfo is why a job ended without a result.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EventsConfig configures the event streams.
type EventsConfig struct {
	Redis redis.UniversalClient
	// Prefix namespaces the stream keys (default "recap:").
	Prefix string
	// TTL is how long a stream lives after its job ended (default 24h).
	TTL time.Duration
	// MaxLen caps a stream's length as a safety net (default 100000).
	MaxLen int64
}

// Events publishes and reads per-job Redis Streams. Any API replica can
// follow any job, and a reader resumes from any entry id.
type Events struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	maxLen int64
}

// NewEvents returns the event streams over a Redis client.
func NewEvents(cfg EventsConfig) *Events {
	if cfg.Prefix == "" {
		cfg.Prefix = "recap:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 100000
	}
	return &Events{rdb: cfg.Redis, prefix: cfg.Prefix, ttl: cfg.TTL, maxLen: cfg.MaxLen}
}

func (e *Events) key(jobID string) string { return e.prefix + "events:" + jobID }

// Publish appends an event to the job's stream and returns its id. A
// terminal event also starts the stream's expiry.
func (e *Events) Publish(ctx context.Context, jobID string, ev Event) (string, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	key := e.key(jobID)
	pipe := e.rdb.TxPipeline()
	add := pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: e.maxLen, Approx: true, Values: []any{"e", data}})
	ttl := e.ttl
	if !ev.Terminal() {
		// A stream of a job that never ends (a lost worker the sweeper has not
		// reached yet) must not live forever either.
		ttl = 7 * e.ttl
	}
	pipe.Expire(ctx, key, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return add.Val(), nil
}

// PublishAll appends the same event to many jobs' streams in one round
// trip (a batch's "queued"). It returns one error per job, nil where the
// event was published.
func (e *Events) PublishAll(ctx context.Context, jobIDs []string, ev Event) ([]error, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	ttl := e.ttl
	if !ev.Terminal() {
		ttl = 7 * e.ttl
	}
	pipe := e.rdb.Pipeline()
	adds := make([]*redis.StringCmd, len(jobIDs))
	for i, id := range jobIDs {
		key := e.key(id)
		adds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: e.maxLen, Approx: true, Values: []any{"e", data}})
		pipe.Expire(ctx, key, ttl)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, below
	errs := make([]error, len(jobIDs))
	for i, a := range adds {
		if a.Err() != nil {
			errs[i] = fmt.Errorf("publish: %w", a.Err())
		}
	}
	return errs, nil
}

// Read returns the events after afterID ("" or "0" = from the start),
// waiting up to block for at least one. It returns no events and no error
// when nothing arrived in time.
func (e *Events) Read(ctx context.Context, jobID, afterID string, block time.Duration) ([]Event, error) {
	if afterID == "" {
		afterID = "0"
	}
	res, err := e.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{e.key(jobID), afterID}, Block: block, Count: 512}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []Event
	for _, s := range res {
		for _, m := range s.Messages {
			var ev Event
			raw, _ := m.Values["e"].(string)
			if err := json.Unmarshal([]byte(raw), &ev); err != nil {
				continue
			}
			ev.ID = m.ID
			out = append(out, ev)
		}
	}
	return out, nil
}

// Follow calls fn for every event after afterID until a terminal event,
// an error from fn, or ctx ends. idle is called whenever nothing arrived
// within every (for SSE keep-alives); it may be nil.
func (e *Events) Follow(ctx context.Context, jobID, afterID string, every time.Duration, idle func() error, fn func(Event) error) error {
	if every <= 0 {
		every = 15 * time.Second
	}
	last := afterID
	for {
		evs, err := e.Read(ctx, jobID, last, every)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if len(evs) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if idle != nil {
				if err := idle(); err != nil {
					return err
				}
			}
			continue
		}
		for _, ev := range evs {
			last = ev.ID
			if err := fn(ev); err != nil {
				return err
			}
			if ev.Terminal() {
				return nil
			}
		}
	}
}
