package core

import (
	"fmt"

	"github.com/recap/recap"
)

// CheckScope is the one scope check: nil when caller holds scope, else an
// insufficient_scope error (an invalid_api_key one when there is no
// caller). what names the action in the message ("this request", "this
// tool", "fetching it is billed and").
func CheckScope(c *recap.Caller, scope, what string) error {
	if c == nil {
		return &Error{Kind: KindUnauthorized, Code: "invalid_api_key", Message: "This call carries no API key."}
	}
	if !c.Can(scope) {
		return &Error{Kind: KindForbidden, Code: "insufficient_scope",
			Message: fmt.Sprintf("This key or token lacks the '%s' scope %s needs.", scope, what)}
	}
	return nil
}
