package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// hitLog writes the job rows of cache hits answered from memory behind
// the answers: a reply does not wait for its row, which is copied in with
// every other row of the same few milliseconds (Config.WriteBehind). One
// COPY of a hundred rows costs Postgres a fraction of twenty COPYs of
// five, and no request waits a round trip for it.
//
// What this gives up: a process killed outright (SIGKILL, OOM, power)
// loses the rows of the last window, the records of free answers already
// given; no work and no credit. Close (a graceful shutdown) writes them
// all first. Reads of jobs through this Store wait for the rows pending
// when they start (sync), so a client reading its job back through the
// same process always finds it.
type hitLog struct {
	st     *Store
	window time.Duration
	log    *slog.Logger

	mu      sync.Mutex
	pending []*hitRecord
	// appended counts rows handed in, written the rows whose COPY ended
	// (in the table, or given up on); changed is closed and replaced each
	// time written moves.
	appended, written uint64
	changed           chan struct{}
	hurry             bool
	closed            bool
	// deadline is how long Close keeps trying when Postgres is away.
	deadline time.Time

	wake chan struct{}
	done chan struct{}
	once sync.Once

	refused, lost atomic.Uint64
}

// WriteBehindStats counts the job rows of cache hits written behind the
// answers (Config.WriteBehind).
type WriteBehindStats struct {
	// Pending rows are handed in and not written yet.
	Pending uint64
	// Refused rows were refused by Postgres (an account deleted since)
	// and dropped; Lost rows could not be written before Close gave up
	// (Postgres away at shutdown).
	Refused, Lost uint64
}

// WriteBehindStats reports the rows written behind the answers; zero when
// rows are written before their answers return.
func (s *Store) WriteBehindStats() WriteBehindStats {
	l := s.behind
	if l == nil {
		return WriteBehindStats{}
	}
	l.mu.Lock()
	pending := l.appended - l.written
	l.mu.Unlock()
	return WriteBehindStats{Pending: pending, Refused: l.refused.Load(), Lost: l.lost.Load()}
}

// Rows held pending before writers wait for the flusher (backpressure,
// when Postgres cannot keep up or is away), and the most one COPY takes.
const (
	hitLogMaxPending = 50_000
	hitLogMaxCopy    = 2_000
)

func newHitLog(st *Store, window time.Duration, log *slog.Logger) *hitLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &hitLog{st: st, window: window, log: log, changed: make(chan struct{}), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// add queues r to be written. It returns at once, unless so many rows are
// pending that it must wait for them to be written first.
func (l *hitLog) add(ctx context.Context, r *hitRecord) error {
	l.once.Do(func() { go l.run() })
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("store closed")
	}
	l.pending = append(l.pending, r)
	l.appended++
	seq, full := l.appended, len(l.pending) >= hitLogMaxPending
	l.mu.Unlock()
	l.poke()
	if full {
		return l.waitFor(ctx, seq)
	}
	return nil
}

func (l *hitLog) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// sync waits until every row handed in before it was called is written.
func (l *hitLog) sync(ctx context.Context) error {
	l.mu.Lock()
	seq := l.appended
	if l.written >= seq {
		l.mu.Unlock()
		return nil
	}
	l.hurry = true
	l.mu.Unlock()
	l.poke()
	return l.waitFor(ctx, seq)
}

func (l *hitLog) waitFor(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		if l.written >= seq {
			l.mu.Unlock()
			return nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run is the flusher: woken by the first row of a window, it lets the
// window's rows gather, then copies everything pending in.
func (l *hitLog) run() {
	defer close(l.done)
	retry := 50 * time.Millisecond
	for range l.wake {
		l.mu.Lock()
		hurry, closed := l.hurry, l.closed
		l.mu.Unlock()
		if !hurry && !closed {
			l.gather()
		}
		for {
			l.mu.Lock()
			n := min(len(l.pending), hitLogMaxCopy)
			batch := l.pending[:n:n]
			l.pending = l.pending[n:]
			if len(l.pending) == 0 {
				l.pending, l.hurry = nil, false
			}
			closed := l.closed
			l.mu.Unlock()
			if n == 0 {
				if closed {
					return
				}
				break
			}
			rest, err := l.write(batch)
			l.mu.Lock()
			l.written += uint64(n - len(rest))
			l.broadcast()
			l.mu.Unlock()
			if err != nil {
				// Postgres is away: keep the rows, in order, and try again.
				l.mu.Lock()
				l.pending = append(rest, l.pending...)
				giveUp := l.closed && time.Now().After(l.deadline)
				l.mu.Unlock()
				if giveUp {
					l.log.Error("cache hits: job rows not written at shutdown", "rows", len(l.pending), "err", err)
					l.mu.Lock()
					l.lost.Add(uint64(len(l.pending)))
					l.written += uint64(len(l.pending))
					l.pending = nil
					l.broadcast()
					l.mu.Unlock()
					return
				}
				l.log.Warn("cache hits: writing job rows failed; retrying", "rows", len(rest), "err", err)
				time.Sleep(retry)
				retry = min(2*retry, 2*time.Second)
				continue
			}
			retry = 50 * time.Millisecond
		}
	}
}

// gather lets a window's rows arrive, unless a sync or Close asks for
// them sooner.
func (l *hitLog) gather() {
	t := time.NewTimer(l.window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-l.wake:
			l.mu.Lock()
			now := l.hurry || l.closed
			l.mu.Unlock()
			if now {
				return
			}
		}
	}
}

// broadcast wakes the waiters of written; l.mu is held.
func (l *hitLog) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// write copies batch in and returns the rows still to be written. A row
// Postgres refuses (an account deleted since) is dropped alone, with a log
// line; any other failure leaves the rows not yet written to be tried
// again.
func (l *hitLog) write(batch []*hitRecord) ([]*hitRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), combineTimeout)
	defer cancel()
	err := l.st.copyRecords(ctx, batch)
	var pg *pgconn.PgError
	if err == nil {
		return nil, nil
	}
	if !errors.As(err, &pg) {
		return batch, err
	}
	for i, r := range batch {
		if err := l.st.copyRecords(ctx, []*hitRecord{r}); err != nil {
			if !errors.As(err, &pg) {
				return batch[i:], err
			}
			l.refused.Add(1)
			l.log.Error("cache hits: job row refused", "err", err)
		}
	}
	return nil, nil
}

// close writes what is pending (trying for up to 5 s while Postgres is
// away) and stops the flusher.
func (l *hitLog) close() {
	l.mu.Lock()
	started := l.closed
	l.closed = true
	l.deadline = time.Now().Add(5 * time.Second)
	l.mu.Unlock()
	if started {
		return
	}
	l.once.Do(func() { go l.run() })
	l.poke()
	<-l.done
}
