package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// CORSConfig lets browser pages of other origins call the API.
type CORSConfig struct {
	// Origins are the allowed origins (CORS_ORIGINS), e.g.
	// "https://app.example.com"; "*" allows any origin, without
	// credentials. Empty turns CORS off.
	Origins []string
}

// corsExposed are the response headers a page may read: the job id, the
// retry hints and the rate-limit budget.
var corsExposed = strings.Join([]string{"X-Recap-Job-Id", "Retry-After", "Idempotent-Replayed", "X-Should-Retry",
	"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"}, ", ")

// corsAllowedHeaders are the request headers a page may send.
const corsAllowedHeaders = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, Mcp-Session-Id, Mcp-Protocol-Version, OpenAI-Beta, X-Stainless-Retry-Count"

type cors struct {
	any     bool
	origins []string
}

func newCORS(cfg CORSConfig) *cors {
	c := &cors{}
	for _, o := range cfg.Origins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		switch o {
		case "":
		case "*":
			c.any = true
		default:
			c.origins = append(c.origins, strings.ToLower(o))
		}
	}
	if !c.any && len(c.origins) == 0 {
		return nil
	}
	return c
}

// handle sets the CORS headers of a request from an allowed origin and
// answers its preflight (an OPTIONS with Access-Control-Request-Method)
// for every route the router serves. It reports whether it answered.
// A request from any other origin gets no CORS header: the browser then
// keeps the page from reading the reply.
func (c *cors) handle(w http.ResponseWriter, r *http.Request, router *mux.Router) bool {
	if c == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := c.any || slices.Contains(c.origins, strings.ToLower(origin))
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !allowed {
		if preflight {
			w.WriteHeader(http.StatusNoContent)
			return true
		}
		return false
	}
	if c.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposed)
		return false
	}
	want := strings.ToUpper(strings.TrimSpace(r.Header.Get("Access-Control-Request-Method")))
	rr := r.Clone(r.Context())
	rr.Method = want
	var m mux.RouteMatch
	if !router.Match(rr, &m) || m.MatchErr != nil {
		// Not a route, or not with that method: no permission granted.
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Allow-Credentials")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
