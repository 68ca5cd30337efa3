package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/recap/recap"
	"github.com/redis/go-redis/v9"
)

// EventsConfig configures the event streams.
type EventsConfig struct {
	Redis redis.UniversalClient
	// Prefix namespaces the stream keys (default "recap:"). Every key is
	// "{<Prefix>events}:<job id>": one hash tag, so one XREAD may name many
	// streams on a Redis Cluster.
	Prefix string
	// TTL is how long a stream lives after its job ended (default 24h).
	TTL time.Duration
	// MaxLen caps a stream's length as a safety net (default 100000).
	MaxLen int64
}

// Events publishes and reads per-job Redis Streams. Any API replica can
// follow any job, and a reader resumes from any entry id. The followers of
// one Events share one reader (see fanout.go).
type Events struct {
	rdb    redis.UniversalClient
	prefix string
	tag    string
	ttl    time.Duration
	maxLen int64
	fan    *fanout
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
	tag := "{" + cfg.Prefix + "events}"
	return &Events{rdb: cfg.Redis, prefix: cfg.Prefix, tag: tag, ttl: cfg.TTL, maxLen: cfg.MaxLen, fan: newFanout(cfg.Redis, tag)}
}

// key is a job's stream. The hash tag puts every stream (and the readers'
// wake streams) in one cluster slot: the price is that one node holds all
// event streams, the gain one XREAD per process for all its followers.
func (e *Events) key(jobID string) string { return e.tag + ":" + jobID }

// Close lets go of every follower (their Follow returns ErrEventsClosed)
// and stops the shared reader. Publish and Read still work.
func (e *Events) Close() { e.fan.close() }

// Publish appends an event to the job's stream and returns its id. A
// terminal event also starts the stream's expiry.
func (e *Events) Publish(ctx context.Context, jobID string, ev recap.Event) (string, error) {
	ttl := e.ttl
	if !ev.Terminal() {
		// A stream of a job that never ends (a lost worker the sweeper has not
		// reached yet) must not live forever either.
		ttl = 7 * e.ttl
	}
	return e.publish(ctx, jobID, ev, ttl)
}

// publish appends ev to a stream that expires ttl after this event.
func (e *Events) publish(ctx context.Context, jobID string, ev recap.Event, ttl time.Duration) (string, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	key := e.key(jobID)
	pipe := e.rdb.TxPipeline()
	add := pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: e.maxLen, Approx: true, Values: []any{"e", data}})
	pipe.Expire(ctx, key, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return add.Val(), nil
}

// deleteStream removes a stream whose one reader has read it (a
// playlist expansion's reply).
func (e *Events) deleteStream(ctx context.Context, id string) error {
	return e.rdb.Del(ctx, e.key(id)).Err()
}

// PublishAll appends the same event to many jobs' streams in one round
// trip (a batch's "queued"). It returns one error per job, nil where the
// event was published.
func (e *Events) PublishAll(ctx context.Context, jobIDs []string, ev recap.Event) ([]error, error) {
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
func (e *Events) Read(ctx context.Context, jobID, afterID string, block time.Duration) ([]recap.Event, error) {
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
	var out []recap.Event
	for _, s := range res {
		for _, m := range s.Messages {
			if ev, ok := decodeEvent(m); ok {
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

// Follow calls fn for every event after afterID ("" or "0" = from the
// start, "$" = only new ones) until a terminal event, an error from fn, or
// ctx ends. idle is called whenever nothing arrived within every (for SSE
// keep-alives); it may be nil. Followers share the process's one reader;
// a follower that falls behind catches up with reads of its own.
func (e *Events) Follow(ctx context.Context, jobID, afterID string, every time.Duration, idle func() error, fn func(recap.Event) error) error {
	if every <= 0 {
		every = 15 * time.Second
	}
	last, err := e.position(ctx, jobID, afterID)
	if err != nil {
		return err
	}
	key := e.key(jobID)
	for {
		fl, err := e.fan.subscribe(key, last)
		if err != nil {
			return err
		}
		ended, err := drain(ctx, fl, &last, every, idle, fn)
		e.fan.unsubscribe(fl)
		if ended || !errors.Is(err, errLagged) {
			return err
		}
		// The reader let go of this follower: read on alone up to the end
		// of the stream, then join the reader again.
		for {
			evs, err := e.Read(ctx, jobID, last.String(), -1)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			for _, ev := range evs {
				last, _ = parseStreamID(ev.ID)
				if err := fn(ev); err != nil {
					return err
				}
				if ev.Terminal() {
					return nil
				}
			}
			if len(evs) < readCount {
				break
			}
		}
	}
}

// position parses where a follower starts; "$" is the stream's last entry.
func (e *Events) position(ctx context.Context, jobID, afterID string) (streamID, error) {
	switch afterID {
	case "", "0":
		return streamID{}, nil
	case "$":
		res, err := e.rdb.XRevRangeN(ctx, e.key(jobID), "+", "-", 1).Result()
		if err != nil {
			return streamID{}, fmt.Errorf("read events: %w", err)
		}
		if len(res) == 0 {
			return streamID{}, nil
		}
		afterID = res[0].ID
	}
	id, ok := parseStreamID(afterID)
	if !ok {
		return streamID{}, fmt.Errorf("read events: invalid stream id %q", afterID)
	}
	return id, nil
}

// drain hands a follower's events to fn, calling idle when nothing came
// within every. ended reports that Follow is over (a terminal event, an
// error from fn or idle, ctx); otherwise err says why the reader let go.
func drain(ctx context.Context, fl *follower, last *streamID, every time.Duration, idle func() error, fn func(recap.Event) error) (ended bool, err error) {
	hand := func(evs []recap.Event) (bool, error) {
		for _, ev := range evs {
			*last, _ = parseStreamID(ev.ID)
			if err := fn(ev); err != nil {
				return true, err
			}
			if ev.Terminal() {
				return true, nil
			}
		}
		return false, nil
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case evs := <-fl.ch:
			if ended, err := hand(evs); ended {
				return true, err
			}
			t.Reset(every)
		case <-fl.done:
			// What the reader handed over before it let go comes first
			// (it hands nothing more once done is closed).
			for len(fl.ch) > 0 {
				if ended, err := hand(<-fl.ch); ended {
					return true, err
				}
			}
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return !errors.Is(fl.err, errLagged), fl.err
		case <-t.C:
			if err := ctx.Err(); err != nil {
				return true, err
			}
			if idle != nil {
				if err := idle(); err != nil {
					return true, err
				}
			}
			t.Reset(every)
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}
