package api

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// routeUnmatched labels requests no route matched (404s, wrong methods),
// so probing random paths cannot grow the label set.
const routeUnmatched = "unmatched"

// serveObserved serves a request and records it by route template.
func (s *Server) serveObserved(w http.ResponseWriter, r *http.Request) {
	route := routeUnmatched
	var m mux.RouteMatch
	if s.router.Match(r, &m) && m.Route != nil {
		if t, err := m.Route.GetPathTemplate(); err == nil {
			route = t
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	defer func() {
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		s.cfg.Metrics.ObserveHTTP(route, r.Method, code, time.Since(start))
	}()
	s.router.ServeHTTP(sw, r)
}

// statusWriter remembers the status code; it keeps http.Flusher working
// for the SSE streams, and Unwrap lets http.ResponseController reach the
// connection.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
