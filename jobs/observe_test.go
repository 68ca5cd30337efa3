package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap/media"
)

// TestStageConcurrencyCap runs more tasks than a stage's cap and checks
// that no more than the cap run at once, that the cap is reached, and that
// an uncapped stage is not held back.
func TestStageConcurrencyCap(t *testing.T) {
	t.Parallel()
	const limit, tasks = 2, 6
	w := &Worker{cfg: WorkerConfig{StageConcurrency: map[string]int{TypeTranscript: limit}}}
	var mu sync.Mutex
	running, most := 0, 0
	entered := make(chan struct{}, tasks)
	release := make(chan struct{})
	h := w.limit()(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}))
	run := func(typ string, n int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if err := h.ProcessTask(context.Background(), asynq.NewTask(typ, nil)); err != nil {
					t.Error(err)
				}
			})
		}
		return &wg
	}
	capped := run(TypeTranscript, tasks)
	for range limit {
		<-entered
	}
	// Every further task enters only when one leaves.
	for range tasks - limit {
		release <- struct{}{}
		<-entered
	}
	for range limit {
		release <- struct{}{}
	}
	capped.Wait()
	if most != limit {
		t.Fatalf("at most %d ran at once, want %d", most, limit)
	}
	// An uncapped stage: all three enter before any leaves.
	most = 0
	free := run(TypeResolve, 3)
	for range 3 {
		<-entered
	}
	close(release)
	free.Wait()
	if most != 3 {
		t.Fatalf("uncapped stage: at most %d at once, want 3", most)
	}
}

func TestStageCapWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: WorkerConfig{StageConcurrency: map[string]int{TypeSummary: 1}}}
	hold := make(chan struct{})
	inside := make(chan struct{})
	h := w.limit()(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		inside <- struct{}{}
		<-hold
		return nil
	}))
	done := make(chan error, 1)
	go func() { done <- h.ProcessTask(context.Background(), asynq.NewTask(TypeSummary, nil)) }()
	<-inside
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.ProcessTask(ctx, asynq.NewTask(TypeSummary, nil)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a task waiting for a slot of a canceled context: %v", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMediaCause(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		fmt.Errorf("resolve: %w: HTTP Error 404", media.ErrUnavailable): "unavailable",
		fmt.Errorf("resolve: %w", media.ErrUnsupported):                 "unsupported",
		fmt.Errorf("resolve: %w", media.ErrURLNotAllowed):               "url_not_allowed",
		fmt.Errorf("probe: %w", context.DeadlineExceeded):               "timeout",
		errors.New("ffmpeg: exit status 1"):                             "other",
	} {
		if got := mediaCause(err); got != want {
			t.Errorf("mediaCause(%v) = %s, want %s", err, got, want)
		}
	}
}
