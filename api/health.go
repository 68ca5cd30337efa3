package api

import (
	"context"
	"net/http"
	"time"
)

// Check is one readiness probe: Fn returns nil when its dependency works.
// Details, when set, adds what it returns under "details" in the reply
// (information for the operator, such as cookie expiries), which never
// makes the replica unready; a Check with Details and no Fn is not
// listed under "checks".
type Check struct {
	Name    string
	Fn      func(ctx context.Context) error
	Details func(ctx context.Context) any
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
		details := map[string]any{}
		status, code := "ready", http.StatusOK
		for _, c := range checks {
			if c.Details != nil {
				details[c.Name] = c.Details(ctx)
			}
			if c.Fn == nil {
				continue
			}
			if err := c.Fn(ctx); err != nil {
				results[c.Name] = err.Error()
				status, code = "unavailable", http.StatusServiceUnavailable
				continue
			}
			results[c.Name] = "ok"
		}
		reply := map[string]any{"status": status, "checks": results}
		if len(details) > 0 {
			reply["details"] = details
		}
		writeJSON(w, code, reply)
	})
}
