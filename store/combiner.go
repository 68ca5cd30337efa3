package store

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// combiner runs concurrent calls of one kind as shared statements: the
// first caller to find no flush running becomes the flusher and executes
// everything pending in one go; callers arriving meanwhile queue up for
// the next flush, which a finishing flusher starts at once. There is no
// timer: an idle server answers a lone call with one round trip, a busy
// one amortizes each round trip over all the calls that arrived during
// the previous one. It serves the hot, contended writes: cache-hit jobs,
// and holds on one account's row.
type combiner[T any] struct {
	// exec runs a batch and records each item's outcome in the item.
	exec func(ctx context.Context, batch []T)
	// inFlightMax caps the batches running at once (default
	// combineMaxInFlight).
	inFlightMax int

	mu       sync.Mutex
	pending  []pendingItem[T]
	inFlight int
}

type pendingItem[T any] struct {
	item T
	done chan struct{}
}

const (
	combineMaxBatch    = 256
	combineMaxInFlight = 2
	combineTimeout     = 10 * time.Second
)

// do runs item in a batch shared with the items pending at the time, and
// returns when the batch has run or ctx ends.
func (c *combiner[T]) do(ctx context.Context, item T) error {
	p := pendingItem[T]{item: item, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, p)
	var batch []pendingItem[T]
	if c.inFlight < cmp.Or(c.inFlightMax, combineMaxInFlight) {
		c.inFlight++
		batch = c.take()
	}
	c.mu.Unlock()
	if batch != nil {
		c.flush(ctx, batch, true)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		// The item may still run in the batch it is part of.
		return ctx.Err()
	}
}

// take removes up to combineMaxBatch pending items; c.mu is held.
func (c *combiner[T]) take() []pendingItem[T] {
	n := min(len(c.pending), combineMaxBatch)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return batch
}

// flush executes batch, then whatever queued up meanwhile, holding one
// in-flight slot. A caller flushing inline hands the follow-up flushes to
// a goroutine, so its own reply is not held back by later arrivals.
func (c *combiner[T]) flush(ctx context.Context, batch []pendingItem[T], inline bool) {
	ctx = context.WithoutCancel(ctx)
	for {
		items := make([]T, len(batch))
		for i, p := range batch {
			items[i] = p.item
		}
		fctx, cancel := context.WithTimeout(ctx, combineTimeout)
		c.exec(fctx, items)
		cancel()
		for _, p := range batch {
			close(p.done)
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.inFlight--
			c.mu.Unlock()
			return
		}
		batch = c.take()
		c.mu.Unlock()
		if inline {
			go c.flush(ctx, batch, false)
			return
		}
	}
}
