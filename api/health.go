package api

import (
	"context"
	"net/http"
	"time"
)

// Check is one readiness probe: it returns nil when its dependency works.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// HealthHandler answers /healthz: the process is up and serving HTTP. It
// checks nothing else, so an orchestrator restarts only a stuck process.
func HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// ReadyHandler answers /readyz: 200 when every check passes, else 503,
// with each check's result. Failures say what is wrong but carry no
// connection strings.
func ReadyHandler(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		results := make(map[string]string, len(checks))
		status, code := "ready", http.StatusOK
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				results[c.Name] = err.Error()
				status, code = "unavailable", http.StatusServiceUnavailable
				continue
			}
			results[c.Name] = "ok"
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": results})
	})
}
