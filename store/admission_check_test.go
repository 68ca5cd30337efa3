package store_test

import (
	"errors"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// TestAdmissionCheck: the admission rule the store (under the account's
// lock) and the fakes both apply.
func TestAdmissionCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		a                 store.Admission
		balance, unpriced int64
		ok                bool
	}{
		{"nothing asked", store.Admission{}, 0, 5, true},
		{"min price covered", store.Admission{MinPrice: 60}, 60, 0, true},
		{"min price short", store.Admission{MinPrice: 60}, 59, 0, false},
		{"unpriced jobs keep theirs aside", store.Admission{MinPrice: 60}, 119, 1, false},
		{"room beside one unpriced job", store.Admission{MinPrice: 60}, 120, 1, true},
		{"hold covered", store.Admission{Hold: 30}, 30, 9, true},
		{"hold short", store.Admission{Hold: 30}, 29, 0, false},
	}
	for _, tt := range tests {
		err := tt.a.Check(tt.balance, tt.unpriced)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check(%d, %d) = %v", tt.name, tt.balance, tt.unpriced, err)
		}
		if err != nil && !errors.Is(err, store.ErrInsufficientCredits) {
			t.Errorf("%s: %v is not ErrInsufficientCredits", tt.name, err)
		}
	}
	running := &recap.Job{Kind: recap.KindSummary, State: recap.StateResolving}
	priced := &recap.Job{Kind: recap.KindSummary, State: recap.StateResolving, CostSeconds: 60}
	done := &recap.Job{Kind: recap.KindSummary, State: recap.StateSucceeded}
	answer := &recap.Job{Kind: recap.KindAnswer, State: recap.StateQueued}
	if !store.Unpriced(running) || store.Unpriced(priced) || store.Unpriced(done) || store.Unpriced(answer) {
		t.Error("Unpriced counts the wrong jobs")
	}
}
