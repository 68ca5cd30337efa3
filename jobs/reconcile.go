package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// Postgres is the source of truth for jobs; Redis only carries the next
// step of each. The reconciler repairs the difference: a job that is not
// terminal, has not changed for a while and has no task in any asynq state
// (Redis restarted without persistence, a key evicted, a crash between a
// commit and an enqueue) gets its stage enqueued again under the same task
// id, so a duplicate is impossible. It is also the sweeper: a job whose
// stage gave up (an archived task, when the handler could not record the
// failure) or that has been active far longer than its stage may run is
// failed, which releases its credit hold exactly once.
//
// Redis may lose everything at once (FLUSHDB, a restart without
// persistence). asynq's clients remember that they registered their queues
// and never do it again, so without help the inspector would answer "queue
// not found" for every task from then on: each pass re-registers the
// queues. Tasks that were active when the data went are still running on
// their workers, which report them in their heartbeats; a pass does not
// requeue a job until the heartbeats had time to come back after a loss,
// and never requeues a job whose stage a worker reports running. A
// requeued task starts again at zero retries, but the stage counts its
// attempts in Postgres (Store.StartStage), which keeps the budget.

// ReconcileStats counts what one pass did.
type ReconcileStats struct {
	// Checked is the number of stale jobs examined.
	Checked int
	// Requeued jobs had no task and got their stage enqueued again.
	Requeued int
	// Failed jobs were stuck and are now failed.
	Failed int
}

// stuckAfter is how long a job may go without an update while its stage
// task is active before the sweeper calls it stuck: asynq enforces the
// stage time-out and recovers tasks of dead workers well within this.
func (w *Worker) stuckAfter(t *task) time.Duration {
	return time.Duration(w.cfg.StuckFactor)*t.timeout(w.cfg.Timeouts) + w.cfg.ReconcileGrace
}

// asynqQueuesKey is the set of queue names asynq's inspector checks
// before it looks a task up (asynq's internal base.AllQueues).
const asynqQueuesKey = "asynq:queues"

// heartbeatsBack is how long after a loss of Redis data the workers'
// heartbeats (every 5 s in asynq) have surely reported their active tasks
// again.
const heartbeatsBack = 11 * time.Second

// pass is the state of one reconcile pass.
type pass struct {
	// lost is when Redis last lost its data, as far as anyone noticed.
	lost time.Time
	// active are the stage tasks workers report running, by task id;
	// loaded on first use.
	active map[string]*asynq.WorkerInfo
}

// registerQueues puts the worker's queues back into asynq's queue set
// (a no-op unless Redis lost it) and returns when Redis was last found
// without its data. A marker key tells: only a loss removes it, and the
// first pass to miss it, in a worker that saw it before, sets it to the
// time of the loss; a worker that never saw it (a new deployment, or a
// worker started after the loss) sets it to zero, "no loss known".
func (w *Worker) registerQueues(ctx context.Context) (time.Time, error) {
	if w.cfg.Events == nil {
		return time.Time{}, nil
	}
	rdb := w.cfg.Events.rdb
	var names []any
	for q := range Queues(w.cfg.QueuePrefix) {
		names = append(names, q)
	}
	marker := w.cfg.Events.prefix + "reconciler:alive"
	var lost int64
	if w.markerSeen.Load() {
		lost = time.Now().UnixMilli()
	}
	pipe := rdb.Pipeline()
	pipe.SAdd(ctx, asynqQueuesKey, names...)
	pipe.SetNX(ctx, marker, lost, 0)
	get := pipe.Get(ctx, marker)
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, fmt.Errorf("register queues: %w", err)
	}
	ms, err := get.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("register queues: %w", err)
	}
	w.markerSeen.Store(true)
	return time.UnixMilli(ms), nil
}

// activeTask returns the worker running a task, if a worker reports one.
func (w *Worker) activeTask(p *pass, id string) (*asynq.WorkerInfo, error) {
	if p.active == nil {
		servers, err := w.cfg.Inspector.Servers()
		if err != nil {
			return nil, err
		}
		p.active = map[string]*asynq.WorkerInfo{}
		for _, s := range servers {
			for _, wi := range s.ActiveWorkers {
				p.active[wi.TaskID] = wi
			}
		}
	}
	return p.active[id], nil
}

// Reconcile runs one pass over every non-terminal job not updated within
// the grace period. It needs WorkerConfig.Inspector.
func (w *Worker) Reconcile(ctx context.Context) (ReconcileStats, error) {
	var st ReconcileStats
	if w.cfg.Inspector == nil {
		return st, errors.New("reconcile: no asynq inspector configured")
	}
	lost, err := w.registerQueues(ctx)
	if err != nil {
		return st, fmt.Errorf("reconcile: %w", err)
	}
	p := &pass{lost: lost}
	before := time.Now().Add(-w.cfg.ReconcileGrace)
	var cur store.StaleCursor
	for {
		page, err := w.cfg.Store.StaleJobs(ctx, before, cur, 500)
		if err != nil {
			return st, fmt.Errorf("reconcile: %w", err)
		}
		for i := range page {
			j := &page[i]
			st.Checked++
			if err := w.reconcileJob(ctx, p, j, &st); err != nil {
				// Redis unreachable, most likely: acting on a half-read queue
				// would requeue or fail jobs that are fine. Stop the pass.
				return st, fmt.Errorf("reconcile job %s: %w", j.ID, err)
			}
		}
		if len(page) < 500 {
			return st, nil
		}
		last := page[len(page)-1]
		cur = store.StaleCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
	}
}

func (w *Worker) reconcileJob(ctx context.Context, p *pass, j *recap.Job, st *ReconcileStats) error {
	from := stagesFrom(j.State)
	if len(from) == 0 {
		return nil
	}
	log := w.log.With("job_id", j.ID, "state", j.State)
	// Each stage enqueues the next before it completes, so checking in
	// pipeline order cannot miss a live task that moved on meanwhile.
	for _, t := range from {
		typ, queue := t.typ, w.q.queueName(j, t)
		id := TaskID(j.ID, typ)
		info, err := w.cfg.Inspector.GetTaskInfo(queue, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			// Redis has no record of the task; its worker may still be
			// running it (the record went with a flush).
			wi, err := w.activeTask(p, id)
			if err != nil {
				return err
			}
			if wi == nil {
				continue
			}
			info = &asynq.TaskInfo{ID: id, Queue: queue, Type: typ, State: asynq.TaskStateActive}
		} else if err != nil {
			return err
		}
		switch info.State {
		case asynq.TaskStateCompleted:
			continue
		case asynq.TaskStateArchived:
			code, msg := recap.CodeInternal, fmt.Sprintf("the job's %s stage gave up after %d attempts", typ, info.Retried+1)
			if info.LastErr != "" {
				msg += ": " + info.LastErr
			}
			if strings.Contains(info.LastErr, context.DeadlineExceeded.Error()) {
				// asynq archives a task whose last attempt timed out at the
				// deadline, without waiting for its handler, which may not
				// have recorded the failure yet: the outcome is the one the
				// handler records (see stage), whoever gets there first.
				code, msg = recap.CodeUpstream, fmt.Sprintf("the %s stage timed out on each of its %d attempts", typ, info.Retried+1)
			}
			log.Warn("reconcile: failing job with an archived stage", "stage", typ, "last_err", info.LastErr)
			if w.fail(context.WithoutCancel(ctx), j.ID, &Error{Code: code, Message: msg}) {
				st.Failed++
			}
			return nil
		case asynq.TaskStateActive:
			idle := time.Since(j.UpdatedAt)
			if idle <= w.stuckAfter(t) {
				return nil
			}
			if waiting, err := w.waitingForSlot(ctx, j, typ); err != nil || waiting {
				return err // put back for its account's slot, caught between two checks
			}
			log.Warn("reconcile: failing stuck job", "stage", typ, "idle", idle)
			msg := fmt.Sprintf("the job's %s stage made no progress for %s", typ, idle.Round(time.Second))
			if w.fail(context.WithoutCancel(ctx), j.ID, &Error{Code: recap.CodeInternal, Message: msg}) {
				st.Failed++
			}
			_ = w.cfg.Inspector.CancelProcessing(info.ID)
			return nil
		default: // pending, scheduled, retry, aggregating: it will run
			return nil
		}
	}
	// No task anywhere. Enqueue the stage the state implies, unless the job
	// moved while we looked (then a task exists again, or it ended), or
	// Redis lost its data so recently that the workers may not have
	// reported their active tasks yet.
	if since := time.Since(p.lost); since < heartbeatsBack {
		log.Info("reconcile: waiting for worker heartbeats after a loss of Redis data", "since", since.Round(time.Millisecond))
		return nil
	}
	cur, err := w.cfg.Store.Job(ctx, j.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if recap.Terminal(cur.State) || !cur.UpdatedAt.Equal(j.UpdatedAt) {
		return nil
	}
	if err := w.next(ctx, cur, from[0]); err != nil {
		return err
	}
	log.Warn("reconcile: requeued a job missing from the queue", "stage", from[0].typ)
	st.Requeued++
	return nil
}

// RunReconciler runs a pass at once and then every interval until ctx
// ends. Passes are idempotent, so every worker may run one.
func (w *Worker) RunReconciler(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := w.Reconcile(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Error("reconcile", "err", err, "checked", st.Checked, "requeued", st.Requeued, "failed", st.Failed)
		case st.Requeued > 0 || st.Failed > 0:
			w.log.Info("reconcile", "checked", st.Checked, "requeued", st.Requeued, "failed", st.Failed)
		}
		t.Reset(interval)
	}
}
