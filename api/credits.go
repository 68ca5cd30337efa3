package api

import (
	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"math"
	"net/http"
)

// scopeFor is the scope a request needs: read for the GET routes, write
// for everything that creates or changes (completions, jobs, cancellation).
func scopeFor(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return recap.ScopeRead
	}
	return recap.ScopeWrite
}

// requireScope refuses a request its key or token has no scope for.
func (s *Server) requireScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := core.CheckScope(caller(r), scopeFor(r), "this request"); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// meReply is GET /api/v1/me. Minutes are media minutes; the *_seconds
// fields give the exact values.
type meReply struct {
	Object               string   `json:"object"`
	KeyID                int64    `json:"key_id"`
	KeyName              string   `json:"key_name"`
	KeyPrefix            string   `json:"key_prefix"`
	Scopes               []string `json:"scopes"`
	RateLimitRPM         int      `json:"rate_limit_rpm"`
	BalanceMinutes       float64  `json:"balance_minutes"`
	HeldMinutes          float64  `json:"held_minutes"`
	UsedThisMonthMinutes float64  `json:"used_this_month_minutes"`
	BalanceSeconds       int64    `json:"balance_seconds"`
	HeldSeconds          int64    `json:"held_seconds"`
	UsedThisMonthSeconds int64    `json:"used_this_month_seconds"`
	Limits               meLimits `json:"limits"`
}

// meLimits is the cap on the account's running jobs (all of its keys
// together): past it, further jobs wait their turn (0 = no cap).
type meLimits struct {
	MaxActiveJobs int `json:"max_active_jobs"`
	ActiveJobs    int `json:"active_jobs"`
	WaitingJobs   int `json:"waiting_jobs"`
}

func minutes(sec int64) float64 { return math.Round(float64(sec)/60*100) / 100 }

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	k := caller(r)
	bal, err := s.core.Account(r.Context(), k)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	lim, err := s.core.AccountLimits(r.Context(), k)
	if err != nil {
		// The balance is what /me is for: answer it without the use.
		s.log.Warn("me: account slots unavailable", "account_id", k.AccountID, "err", err)
	}
	rpm := k.RPM
	if rpm <= 0 && s.cfg.Limiter != nil {
		rpm = s.cfg.Limiter.defaultRPM
	}
	writeJSON(w, http.StatusOK, meReply{Object: "me", KeyID: k.ID, KeyName: k.Name, KeyPrefix: k.Prefix, Scopes: scopes,
		RateLimitRPM:   rpm,
		BalanceMinutes: minutes(bal.Available), HeldMinutes: minutes(bal.Held), UsedThisMonthMinutes: minutes(bal.UsedThisMonth),
		BalanceSeconds: bal.Available, HeldSeconds: bal.Held, UsedThisMonthSeconds: bal.UsedThisMonth,
		Limits: meLimits{MaxActiveJobs: lim.MaxActiveJobs, ActiveJobs: lim.ActiveJobs, WaitingJobs: lim.WaitingJobs}})
}
