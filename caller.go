package recap

import (
	"slices"
	"time"
)

// Scopes a key or an OAuth2 token holds.
const (
	// ScopeRead reads: jobs, transcripts, summaries, credits, models.
	ScopeRead = "read"
	// ScopeWrite spends credit: summaries, answers, uploads, subscriptions.
	ScopeWrite = "write"
)

// Scopes are every scope, in the order they are shown.
var Scopes = []string{ScopeRead, ScopeWrite}

// Caller is who makes a request: an API key (or the key an OAuth2 token
// was issued for), as stored — never the secret.
type Caller struct {
	ID        int64
	AccountID int64
	Name      string
	Prefix    string
	Scopes    []string
	RPM       int
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Can reports whether the caller holds scope. A nil caller holds none.
func (c *Caller) Can(scope string) bool {
	return c != nil && slices.Contains(c.Scopes, scope)
}
