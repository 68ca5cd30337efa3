package app

import (
	"io"
	"net/http"
	"time"
)

// The API's HTTP server must cut off clients that send slowly (a request
// body trickled a byte every few seconds holds a connection and a
// goroutine for ever) while its streams run for hours and its uploads may
// be large. net/http's ReadTimeout bounds the whole request read, so it
// would cut a large upload on a modest link as surely as a trickle, and
// WriteTimeout would end every stream. Neither is set. Instead each
// request body gets a read deadline of its own, through
// http.ResponseController: BodyTimeout to start with, pushed back by one
// second for every MinBodyRate bytes that arrive, so a body must keep
// coming at that rate on average. Once a body has been read to its end
// the deadline no longer matters (net/http lifts it for its background
// read of the connection), so a stream that follows may take as long as
// it takes. ReadHeaderTimeout bounds the headers; IdleTimeout the wait
// for a kept-alive connection's next request.

// Defaults of the HTTP server's time-outs (HTTP_* settings).
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 30 * time.Second
	DefaultMinBodyRate   = 1024 // bytes a second
	DefaultIdleTimeout   = 120 * time.Second
)

// HTTPTimeouts bound how slowly a client may send.
type HTTPTimeouts struct {
	// Header bounds reading a request's headers.
	Header time.Duration
	// Body is how long a request body may take before it must arrive at
	// MinBodyRate; every MinBodyRate bytes received buy one more second.
	Body        time.Duration
	MinBodyRate int
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
}

func (t HTTPTimeouts) withDefaults() HTTPTimeouts {
	if t.Header <= 0 {
		t.Header = DefaultHeaderTimeout
	}
	if t.Body <= 0 {
		t.Body = DefaultBodyTimeout
	}
	if t.MinBodyRate <= 0 {
		t.MinBodyRate = DefaultMinBodyRate
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// NewHTTPServer returns the API's server on addr with the time-outs
// above (zero fields take the defaults).
func NewHTTPServer(addr string, h http.Handler, t HTTPTimeouts) *http.Server {
	t = t.withDefaults()
	return &http.Server{
		Addr:              addr,
		Handler:           BodyDeadlines(h, t.Body, t.MinBodyRate),
		ReadHeaderTimeout: t.Header,
		IdleTimeout:       t.Idle,
	}
}

// BodyDeadlines gives each request body a read deadline: timeout from the
// start of the request, pushed back by one second for every minRate bytes
// read, and lifted at the body's end. A request without a body gets none.
// It must wrap the handler the server calls directly, so that the
// ResponseController reaches the connection.
func BodyDeadlines(h http.Handler, timeout time.Duration, minRate int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		b := &deadlineBody{rc: rc, rc0: r.Body, deadline: time.Now().Add(timeout), perByte: time.Second / time.Duration(minRate)}
		if err := rc.SetReadDeadline(b.deadline); err != nil {
			// Not a connection of net/http's server (a test recorder):
			// nothing to bound.
			h.ServeHTTP(w, r)
			return
		}
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// deadlineBody moves the read deadline as the body arrives.
type deadlineBody struct {
	rc       *http.ResponseController
	rc0      io.ReadCloser
	deadline time.Time
	perByte  time.Duration
	done     bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc0.Read(p)
	if b.done {
		return n, err
	}
	if err == io.EOF {
		// The whole body is in. net/http lifts the deadline itself as it
		// starts its background read; lifting it here too does not depend
		// on that.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		return n, err
	}
	if n > 0 {
		b.deadline = b.deadline.Add(time.Duration(n) * b.perByte)
		_ = b.rc.SetReadDeadline(b.deadline)
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.rc0.Close() }
