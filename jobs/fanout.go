package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/recap/recap"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// One reader per process follows every job stream its clients follow: a
// single XREAD BLOCK over all their keys, handing each new entry to the
// followers of its stream. A thousand idle SSE clients then hold one Redis
// connection, not a thousand. The XREAD is re-issued whenever the set of
// streams changes: a follower of a stream not in the read, or one that
// needs entries before the read's position (a replay from "0"), wakes the
// reader by adding an entry to the process's own wake stream, which every
// XREAD includes. All keys share one hash tag (see Events.key), so the
// multi-key XREAD is legal on a Redis Cluster.

const (
	// readCount bounds the entries one XREAD returns per stream.
	readCount = 512
	// fanoutBlock is how long one XREAD of the reader blocks.
	fanoutBlock = 10 * time.Second
	// followerBuffer is how many batches a follower may have waiting; a
	// follower further behind (a client reading slowly) leaves the reader
	// and catches up with reads of its own, so it never holds the others up.
	followerBuffer = 64
	// wakeTTL bounds the life of a process's wake stream after its last use.
	wakeTTL = time.Hour
)

// ErrEventsClosed is what Follow returns once Events.Close was called.
var ErrEventsClosed = errors.New("events: closed")

// errLagged tells a follower that the reader let go of it.
var errLagged = errors.New("events: follower fell behind")

// streamID is a parsed Redis stream entry id.
type streamID struct{ ms, seq uint64 }

// parseStreamID accepts "0", "<ms>" and "<ms>-<seq>".
func parseStreamID(s string) (streamID, bool) {
	ms, seq, dash := strings.Cut(s, "-")
	a, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return streamID{}, false
	}
	var b uint64
	if dash {
		if b, err = strconv.ParseUint(seq, 10, 64); err != nil {
			return streamID{}, false
		}
	}
	return streamID{a, b}, true
}

func (a streamID) less(b streamID) bool { return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq }

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// follower is one Follow call attached to the reader.
type follower struct {
	key string
	// last is the id of the last entry handed to ch (the reader's side).
	last streamID
	ch   chan []recap.Event
	// done is closed, after err is set, when the reader lets go of the
	// follower: errLagged, a failed read, or ErrEventsClosed.
	done chan struct{}
	err  error
}

// topic is one followed stream.
type topic struct {
	// cursor is where the next read of the stream starts (entries after it).
	cursor    streamID
	followers map[*follower]struct{}
}

// fanout is the reader and the followers attached to it.
type fanout struct {
	rdb     redis.UniversalClient
	wakeKey string
	buffer  int

	mu     sync.Mutex
	topics map[string]*topic
	// running is set while the reader goroutine runs; exited is closed
	// when it returns.
	running bool
	exited  chan struct{}
	// blocking is set while the reader waits in an XREAD built from the
	// topics as they were; woken once a wake was sent for that XREAD.
	blocking bool
	woken    bool
	closed   bool
	// wakeID is the last wake entry the reader has seen.
	wakeID string
}

func newFanout(rdb redis.UniversalClient, tag string) *fanout {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &fanout{rdb: rdb, wakeKey: tag + ":wake:" + hex.EncodeToString(b), buffer: followerBuffer,
		topics: map[string]*topic{}, wakeID: "0"}
}

// subscribe attaches a follower of key that has seen the entries up to
// last, starting the reader or waking it when its XREAD must change.
func (f *fanout) subscribe(key string, last streamID) (*follower, error) {
	fl := &follower{key: key, last: last, ch: make(chan []recap.Event, f.buffer), done: make(chan struct{})}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrEventsClosed
	}
	t := f.topics[key]
	changed := false
	switch {
	case t == nil:
		t = &topic{cursor: last, followers: map[*follower]struct{}{}}
		f.topics[key] = t
		changed = true
	case last.less(t.cursor):
		t.cursor = last
		changed = true
	}
	t.followers[fl] = struct{}{}
	start, wake := false, false
	if !f.running {
		f.running, f.exited = true, make(chan struct{})
		start = true
	} else if changed && f.blocking && !f.woken {
		f.woken, wake = true, true
	}
	f.mu.Unlock()
	if start {
		go f.run()
	}
	if wake {
		f.wake()
	}
	return fl, nil
}

// unsubscribe detaches a follower (again: harmless).
func (f *fanout) unsubscribe(fl *follower) {
	f.mu.Lock()
	if t := f.topics[fl.key]; t != nil {
		delete(t.followers, fl)
		if len(t.followers) == 0 {
			delete(f.topics, fl.key)
		}
	}
	// With nobody left, wake the reader so that it ends now rather than
	// at the end of its XREAD.
	wake := len(f.topics) == 0 && f.blocking && !f.woken
	if wake {
		f.woken = true
	}
	f.mu.Unlock()
	if wake {
		f.wake()
	}
}

// wake makes the reader's XREAD return. Should it fail, the reader picks
// the change up at the end of its XREAD (fanoutBlock) instead.
func (f *fanout) wake() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := f.rdb.Pipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: f.wakeKey, MaxLen: 16, Approx: true, Values: []any{"w", 1}})
	pipe.Expire(ctx, f.wakeKey, wakeTTL)
	_, _ = pipe.Exec(ctx)
}

// drop lets go of a follower; f.mu is held.
func (f *fanout) drop(t *topic, fl *follower, err error) {
	delete(t.followers, fl)
	if len(t.followers) == 0 && f.topics[fl.key] == t {
		delete(f.topics, fl.key)
	}
	fl.err = err
	close(fl.done)
}

// close lets go of every follower with ErrEventsClosed and waits for the
// reader to end.
func (f *fanout) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for _, t := range f.topics {
		for fl := range t.followers {
			f.drop(t, fl, ErrEventsClosed)
		}
	}
	wake := f.blocking && !f.woken
	f.woken = f.woken || wake
	exited := f.exited
	running := f.running
	f.mu.Unlock()
	if wake {
		f.wake()
	}
	if running {
		<-exited
	}
}

// run is the reader: one XREAD over every followed stream and the wake
// stream, its entries handed to the followers, until nobody follows.
func (f *fanout) run() {
	var snap map[string]streamID
	for {
		f.mu.Lock()
		if len(f.topics) == 0 || f.closed {
			f.running = false
			close(f.exited)
			f.mu.Unlock()
			return
		}
		n := len(f.topics)
		keys := make([]string, 0, n+1)
		ids := make([]string, 0, n+1)
		snap = make(map[string]streamID, n)
		for key, t := range f.topics {
			keys = append(keys, key)
			ids = append(ids, t.cursor.String())
			snap[key] = t.cursor
		}
		keys = append(keys, f.wakeKey)
		ids = append(ids, f.wakeID)
		f.blocking, f.woken = true, false
		f.mu.Unlock()

		res, err := f.rdb.XRead(context.Background(), &redis.XReadArgs{
			Streams: append(keys, ids...), Block: fanoutBlock, Count: readCount}).Result()

		f.mu.Lock()
		f.blocking = false
		if err != nil && !errors.Is(err, redis.Nil) {
			// Each follower learns of the failure, as it did when it read
			// alone; the reader ends with nobody left to serve.
			for _, t := range f.topics {
				for fl := range t.followers {
					f.drop(t, fl, err)
				}
			}
			f.mu.Unlock()
			continue
		}
		for _, s := range res {
			if len(s.Messages) == 0 {
				continue
			}
			lastID := s.Messages[len(s.Messages)-1].ID
			if s.Stream == f.wakeKey {
				f.wakeID = lastID
				continue
			}
			f.deliver(s.Stream, snap[s.Stream], s.Messages)
		}
		f.mu.Unlock()
	}
}

// deliver hands entries read after from to the stream's followers; f.mu
// is held. A follower that needs entries before from (it came while the
// XREAD ran, to replay from further back) gets nothing now: the topic's
// cursor went back for it and the next read starts there.
func (f *fanout) deliver(key string, from streamID, msgs []redis.XMessage) {
	t := f.topics[key]
	if t == nil {
		return // nobody follows it any more
	}
	evs := make([]recap.Event, 0, len(msgs))
	ids := make([]streamID, 0, len(msgs))
	for _, m := range msgs {
		id, ok := parseStreamID(m.ID)
		if !ok {
			continue
		}
		ev, ok := decodeEvent(m)
		if !ok {
			continue
		}
		evs, ids = append(evs, ev), append(ids, id)
	}
	lastID, _ := parseStreamID(msgs[len(msgs)-1].ID)
	for fl := range t.followers {
		if fl.last.less(from) {
			continue
		}
		i := 0
		for i < len(ids) && !fl.last.less(ids[i]) {
			i++
		}
		if i < len(evs) {
			select {
			case fl.ch <- evs[i:len(evs):len(evs)]:
			default:
				f.drop(t, fl, errLagged)
				continue
			}
		}
		// Everything up to lastID is handed over or is not an event.
		if fl.last.less(lastID) {
			fl.last = lastID
		}
	}
	if !t.cursor.less(from) && t.cursor.less(lastID) {
		t.cursor = lastID
	}
}

// decodeEvent turns a stream entry into an Event; false for an entry that
// is not one (nothing Recap wrote).
func decodeEvent(m redis.XMessage) (recap.Event, bool) {
	var ev recap.Event
	raw, _ := m.Values["e"].(string)
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return recap.Event{}, false
	}
	ev.ID = m.ID
	return ev, true
}
