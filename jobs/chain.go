package jobs

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hibiken/asynq"
	"github.com/recap/recap"
)

// Chaining (WorkerConfig.ChainStages) is the fast path: a stage that
// finishes hands its job to the next stage in the same worker slot at
// once, instead of enqueueing it and waiting for a worker's next queue
// poll (QUEUE_POLL_MS) — for an uncached video, two hand-offs.
//
// What the queue gave the hand-off is kept:
//   - persistence: each stage still commits its output before the next
//     one starts; a worker that dies mid-chain leaves a job whose state
//     says which stage is due, and the reconciler enqueues it (after
//     ReconcileGrace rather than asynq's lease expiry);
//   - retries: the chained run is the same stage handler, counting its
//     attempt in Postgres; a retryable failure or an interruption enqueues
//     the stage as a task, with asynq's backoff, and asynq takes it from
//     there;
//   - cancellation: the chained run lives under the first task's context,
//     which Client.Cancel stops (CancelProcessing of every stage's id), and
//     a canceled job ends its stage at once as before.
//
// The chained run gets the next stage's own time-out, not what is left of
// the first task's.

type chainKey struct{}

// chainSlot carries the stage a stage's run handed over to.
type chainSlot struct{ next *task }

// handOver marks t as the stage to chain to when the running stage
// permits it, and reports whether it did.
//
// Jobs of the batch queue are not chained: chaining keeps a slot for a
// job's whole pipeline, and a batch of long videos would then hold every
// slot for their whole length, where queued hand-offs free a slot at each
// stage for the interactive queue's higher weight. The fast path is for a
// caller waiting on a completion; a batch loses half a queue poll per
// hand-off.
func (w *Worker) handOver(ctx context.Context, j *recap.Job, t *task) bool {
	slot, ok := ctx.Value(chainKey{}).(*chainSlot)
	if !ok || !w.cfg.ChainStages || w.cfg.StageConcurrency[t.typ] > 0 || j.Queue == QueueBatch {
		// A capped stage waits for its own slots (WorkerConfig.StageConcurrency).
		return false
	}
	slot.next = t
	return true
}

// chainRun carries a finished stage's hand-over out to chained, the
// outermost middleware of a stage run.
type chainRun struct {
	j    *recap.Job
	next *task
}

type chainRunKey struct{}

// chained is the outermost middleware of a stage run: when the stage
// handed its job over, the next stage runs here, after the stage's own
// run has ended and been observed (its duration and outcome in
// recap_stage_duration_seconds are its own, and the next stage gets its
// own), and before asynq hears that the task is done. It counts as
// running for Drain until the chain ends, re-enqueueing included.
func (w *Worker) chained(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.running.Add(1)
		defer w.running.Done()
		r := &chainRun{}
		err := next.ProcessTask(context.WithValue(ctx, chainRunKey{}, r), t)
		if r.next != nil {
			w.runChained(ctx, r.j, r.next)
		}
		return err
	})
}

// deferChain hands the next stage to chained; a run without it (a stage
// handler called directly) runs the next stage at once.
func (w *Worker) deferChain(ctx context.Context, j *recap.Job, t *task) {
	if r, ok := ctx.Value(chainRunKey{}).(*chainRun); ok && r.next == nil {
		r.j, r.next = j, t
		return
	}
	w.runChained(ctx, j, t)
}

// runChained runs the next stage of a job in this slot. A failure that
// asynq would retry, or an interruption, becomes a queued task of that
// stage, so nothing is lost.
func (w *Worker) runChained(ctx context.Context, j *recap.Job, t *task) {
	// Observed like a task asynq ran; its own hand-over runs after it.
	h := w.chained(w.observe(w.handlers[t.typ]))
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout(w.cfg.Timeouts))
	defer cancel()
	// A cancel or shutdown stops the chained run; the first task's own
	// deadline does not.
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	defer stop()
	body, _ := json.Marshal(payload{JobID: j.ID})
	// asynq does not see this run: its failure is recorded as asynq would.
	err := w.Process(cctx, h, asynq.NewTask(t.typ, body))
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		return // done, or ended the job
	}
	bg := context.WithoutCancel(ctx)
	if cur, err2 := w.cfg.Store.Job(bg, j.ID); err2 == nil && recap.Terminal(cur.State) {
		return
	}
	delay := retryDelay(nil)(1, err, nil)
	if errors.Is(ctx.Err(), context.Canceled) {
		delay = 0 // a shutdown: another worker may take it now
	}
	if err2 := w.q.enqueue(bg, j, t, asynq.ProcessIn(delay)); err2 != nil {
		w.logger(ctx, j.ID).Warn("chain: enqueue the stage after a failed run; the reconciler will", "stage", t.typ, "err", err2)
	}
}
