package recap_test

import (
	"slices"
	"testing"

	"github.com/recap/recap"
)

func TestMayStart(t *testing.T) {
	t.Parallel()
	q, r, tr, s := recap.StateQueued, recap.StateResolving, recap.StateTranscribing, recap.StateSummarizing
	for _, tt := range []struct {
		from, stage string
		want        bool
	}{
		{q, r, true}, {q, s, true}, {r, r, true}, {r, tr, true}, {tr, s, true}, {s, s, true},
		{tr, r, false}, {s, tr, false}, {q, q, false}, {r, q, false},
		{recap.StateSucceeded, r, false}, {recap.StateFailed, s, false}, {recap.StateCanceled, tr, false},
		{q, recap.StateSucceeded, false}, {q, "nonsense", false}, {"nonsense", r, false},
	} {
		if got := recap.MayStart(tt.from, tt.stage); got != tt.want {
			t.Errorf("MayStart(%q, %q) = %v, want %v", tt.from, tt.stage, got, tt.want)
		}
	}
	if got := recap.StatesBefore(tr); !slices.Equal(got, []string{q, r, tr}) {
		t.Errorf("StatesBefore(transcribing) = %v", got)
	}
	if got := recap.StatesBefore(q); got != nil {
		t.Errorf("StatesBefore(queued) = %v", got)
	}
}
