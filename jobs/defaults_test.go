package jobs

import (
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// TestStoreDefaultQueue: a job created without a queue goes to the queue
// this package serves interactive work from (store cannot name it).
func TestStoreDefaultQueue(t *testing.T) {
	t.Parallel()
	j := &recap.Job{}
	store.FillDefaults(j)
	if j.Queue != QueueInteractive || j.Kind != recap.KindSummary {
		t.Fatalf("defaults = %q, %q; want %q, %q", j.Kind, j.Queue, recap.KindSummary, QueueInteractive)
	}
}
