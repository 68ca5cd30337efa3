package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"
)

// A stream (GET /jobs/{id}/events, a completion or response with
// "stream": true) holds a connection for as long as its job runs, so each
// API key may hold only so many at once, across every API replica. Each
// open stream is a lease in a Redis sorted set per key, scored by its
// expiry: the replica serving it pushes the expiry forward on a heartbeat
// and removes the lease when the stream ends. A replica that dies leaves
// leases that simply expire, so a crash cannot lock a key out for good.

// ErrTooManyStreams is what StreamLimiter.Acquire returns for a key at its cap.
var ErrTooManyStreams = errors.New("too many concurrent streams")

// Stream lease defaults.
const (
	DefaultStreamLeaseTTL = 60 * time.Second
	// streamRetryAfter is the Retry-After of a refused stream: streams end
	// when their jobs do, which is not known; a few seconds is a fair wait.
	streamRetryAfter = 5
)

// StreamLimiterConfig configures a StreamLimiter.
type StreamLimiterConfig struct {
	Redis redis.UniversalClient
	// Prefix namespaces the lease keys ("<Prefix>streams:<key id>").
	Prefix string
	// Max is the cap per API key; 0 or less means no cap.
	Max int
	// TTL is how long a lease outlives its last heartbeat (default 60s);
	// heartbeats come every TTL/3.
	TTL time.Duration
}

// StreamLimiter caps each API key's concurrent streams across every API
// replica sharing one Redis.
type StreamLimiter struct {
	rdb    redis.UniversalClient
	prefix string
	max    int
	ttl    time.Duration

	mu      sync.Mutex
	leases  map[*StreamLease]struct{}
	beating bool
}

// NewStreamLimiter returns a limiter; it keeps no goroutine while no
// stream is open.
func NewStreamLimiter(cfg StreamLimiterConfig) *StreamLimiter {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultStreamLeaseTTL
	}
	return &StreamLimiter{rdb: cfg.Redis, prefix: cfg.Prefix, max: cfg.Max, ttl: cfg.TTL, leases: map[*StreamLease]struct{}{}}
}

// StreamLease is one open stream's slot.
type StreamLease struct {
	l    *StreamLimiter
	key  string
	id   string
	once sync.Once
}

// acquireScript drops expired leases, then adds one unless the key is at
// its cap. KEYS[1] the key's set; ARGV now (ms), expiry (ms), cap, lease
// id, ttl (ms). It returns 1 when the lease was added.
var acquireScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

func (l *StreamLimiter) key(keyID int64) string {
	return l.prefix + "streams:" + strconv.FormatInt(keyID, 10)
}

// Acquire takes one of the key's stream slots: ErrTooManyStreams when
// they are all taken. Release the lease when the stream ends.
func (l *StreamLimiter) Acquire(ctx context.Context, keyID int64) (*StreamLease, error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	ls := &StreamLease{l: l, key: l.key(keyID), id: hex.EncodeToString(b)}
	now := time.Now()
	ok, err := acquireScript.Run(ctx, l.rdb, []string{ls.key},
		now.UnixMilli(), now.Add(l.ttl).UnixMilli(), l.max, ls.id, l.ttl.Milliseconds()).Int()
	if err != nil {
		return nil, err
	}
	if ok != 1 {
		return nil, ErrTooManyStreams
	}
	l.mu.Lock()
	l.leases[ls] = struct{}{}
	start := !l.beating
	l.beating = true
	l.mu.Unlock()
	if start {
		go l.heartbeat()
	}
	return ls, nil
}

// Release gives the slot back (once; later calls do nothing).
func (ls *StreamLease) Release() {
	ls.once.Do(func() {
		l := ls.l
		l.mu.Lock()
		delete(l.leases, ls)
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Should this fail, the lease expires after its TTL.
		_ = l.rdb.ZRem(ctx, ls.key, ls.id).Err()
	})
}

// heartbeat pushes the expiry of every open lease forward, one pipeline
// per beat, until none is left. A lease Redis lost (a flush) is added
// again, so the count stays true.
func (l *StreamLimiter) heartbeat() {
	every := l.ttl / 3
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		<-t.C
		l.mu.Lock()
		if len(l.leases) == 0 {
			l.beating = false
			l.mu.Unlock()
			return
		}
		live := make([]*StreamLease, 0, len(l.leases))
		for ls := range l.leases {
			live = append(live, ls)
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		exp := float64(time.Now().Add(l.ttl).UnixMilli())
		pipe := l.rdb.Pipeline()
		keys := map[string]bool{}
		for _, ls := range live {
			pipe.ZAdd(ctx, ls.key, redis.Z{Score: exp, Member: ls.id})
			keys[ls.key] = true
		}
		for k := range keys {
			pipe.PExpire(ctx, k, l.ttl)
		}
		_, _ = pipe.Exec(ctx)
		cancel()
		// A lease released while the pipeline ran was just added back:
		// remove it again.
		l.mu.Lock()
		var gone []*StreamLease
		for _, ls := range live {
			if _, ok := l.leases[ls]; !ok {
				gone = append(gone, ls)
			}
		}
		l.mu.Unlock()
		for _, ls := range gone {
			_ = l.rdb.ZRem(context.Background(), ls.key, ls.id).Err()
		}
		t.Reset(every)
	}
}

// tooManyStreams is the 429 of a key at its cap.
func tooManyStreams(max int) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: "requests", Code: "too_many_streams",
		Message: "This key already has " + strconv.Itoa(max) + " streams open, the most allowed at once. " +
			"Close one, or retry once one has ended.",
		Header: http.Header{"Retry-After": {strconv.Itoa(streamRetryAfter)}}}
}

// limitStreams holds a stream slot of the caller's key for as long as the
// wrapped handler runs; past the cap it answers 429 too_many_streams.
// When Redis fails the stream goes ahead: an outage of the limiter must
// not take the streams down with it.
func (s *Server) limitStreams(l *StreamLimiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := caller(r)
		if l == nil || l.max <= 0 || k == nil {
			next.ServeHTTP(w, r)
			return
		}
		lease, err := l.Acquire(r.Context(), k.ID)
		switch {
		case errors.Is(err, ErrTooManyStreams):
			s.writeError(w, r, tooManyStreams(l.max))
			return
		case err != nil:
			s.log.Warn("stream limiter unavailable; stream allowed", "key_id", k.ID, "err", err)
		default:
			defer lease.Release()
		}
		next.ServeHTTP(w, r)
	})
}

// limitStreamBodies is limitStreams for routes that stream only when the
// JSON body says "stream": true (completions, responses): it reads the
// body (at most MaxBodyBytes, as the handler would), hands it on intact,
// and takes a slot before the handler creates any job.
func (s *Server) limitStreamBodies(l *StreamLimiter, next http.Handler) http.Handler {
	limited := s.limitStreams(l, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		r.Body.Close()
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		if err == nil && wantsStream(body) {
			limited.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errReader replays a body read's error (nil: a plain EOF) to the handler.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// wantsStream reports whether a JSON request body asks for a stream. A
// body that does not parse is the handler's to refuse.
func wantsStream(body []byte) bool {
	if !bytes.Contains(body, []byte(`"stream"`)) {
		return false
	}
	var v struct {
		Stream bool `json:"stream"`
	}
	return json.Unmarshal(body, &v) == nil && v.Stream
}

// LimitStreams caps each key's concurrent streams on the streaming routes
// of every base path: job events always, completions and responses when
// they stream, and MCP tool calls. Call it once, after New.
func (s *Server) LimitStreams(l *StreamLimiter) {
	if l == nil || l.max <= 0 {
		return
	}
	_ = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil || route.GetHandler() == nil {
			return nil
		}
		methods, _ := route.GetMethods()
		switch {
		case strings.HasSuffix(path, "/jobs/{id}/events") && slices.Contains(methods, http.MethodGet):
			route.Handler(s.limitStreams(l, route.GetHandler()))
		case (strings.HasSuffix(path, "/chat/completions") || strings.HasSuffix(path, "/responses")) && slices.Contains(methods, http.MethodPost):
			route.Handler(s.limitStreamBodies(l, route.GetHandler()))
		}
		return nil
	})
	if s.mcp != nil {
		s.mcp = s.limitMCPCalls(l, s.mcp)
	}
}
