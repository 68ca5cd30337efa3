package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/recap/recap"
)

// task declares one task type's options beside its handler, as River's
// JobArgs do: every enqueue (Client.Enqueue, a stage handing over to the
// next, the reconciler, webhooks) takes them from here. Each stage file
// declares its own (resolveTask, transcriptTask, summaryTask, webhookTask).
type task struct {
	// typ is the asynq task type.
	typ string
	// state is the job state a stage's run moves the job into; empty for a
	// task that is not a pipeline stage.
	state string
	// queue is a fixed queue; empty means the job's own queue (jobQueue).
	queue string
	// timeout bounds one run.
	timeout func(Timeouts) time.Duration
	// maxRetry is a fixed retry budget; 0 means the configured MaxRetry.
	maxRetry int
	// retention keeps a finished task for inspection (0: not kept).
	retention time.Duration
}

// stages are the pipeline's stage tasks, in order.
var stages = []*task{&resolveTask, &transcriptTask, &summaryTask}

// taskOf returns the declaration of a task type (nil for an unknown one).
func taskOf(typ string) *task {
	for _, t := range stages {
		if t.typ == typ {
			return t
		}
	}
	if typ == webhookTask.typ {
		return &webhookTask
	}
	return nil
}

// isStage reports whether a task type is a pipeline stage.
func isStage(typ string) bool {
	t := taskOf(typ)
	return t != nil && t.state != ""
}

// stagesFrom returns the stage a job's state implies, then the stages
// after it, in pipeline order; none for a terminal state.
func stagesFrom(state string) []*task {
	switch state {
	case recap.StateQueued:
		return stages
	}
	for i, t := range stages {
		if t.state == state {
			return stages[i:]
		}
	}
	return nil
}

// jobQueue is a job's queue name before the prefix: its own, or the
// interactive queue when it names none. The one default-queue rule.
func jobQueue(j *recap.Job) string {
	if j.Queue == "" {
		return QueueInteractive
	}
	return j.Queue
}

// defaultMaxRetry is the retry budget of a stage when none is configured.
const defaultMaxRetry = 5

// queueing is what every enqueue needs, with its defaults applied once;
// Client and Worker each hold one.
type queueing struct {
	asynq    Enqueuer
	prefix   string
	timeouts Timeouts
	maxRetry int
}

func newQueueing(cl Enqueuer, prefix string, t Timeouts, maxRetry int) queueing {
	if maxRetry <= 0 {
		maxRetry = defaultMaxRetry
	}
	return queueing{asynq: cl, prefix: prefix, timeouts: t.withDefaults(), maxRetry: maxRetry}
}

// queueName is the full asynq queue a job's task of type t runs in.
func (q queueing) queueName(j *recap.Job, t *task) string {
	if t.queue != "" {
		return q.prefix + t.queue
	}
	return q.prefix + jobQueue(j)
}

// enqueue enqueues a job's task of type t under its task id (one per job
// and type), so a duplicate enqueue (a retry, the reconciler) is refused
// quietly: that is the dedupe working.
func (q queueing) enqueue(ctx context.Context, j *recap.Job, t *task, extra ...asynq.Option) error {
	err := q.enqueueTask(ctx, j, t, extra...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return err
	}
	return nil
}

// enqueueTask is enqueue telling a refused duplicate apart
// (asynq.ErrTaskIDConflict, asynq.ErrDuplicateTask).
func (q queueing) enqueueTask(ctx context.Context, j *recap.Job, t *task, extra ...asynq.Option) error {
	body, _ := json.Marshal(payload{JobID: j.ID})
	maxRetry := t.maxRetry
	if maxRetry == 0 {
		maxRetry = q.maxRetry
	}
	opts := []asynq.Option{
		asynq.TaskID(TaskID(j.ID, t.typ)),
		asynq.Queue(q.queueName(j, t)),
		asynq.MaxRetry(maxRetry),
		asynq.Timeout(t.timeout(q.timeouts)),
	}
	if t.retention > 0 {
		opts = append(opts, asynq.Retention(t.retention))
	}
	opts = append(opts, extra...)
	if _, err := q.asynq.EnqueueContext(ctx, asynq.NewTask(t.typ, body), opts...); err != nil {
		return fmt.Errorf("enqueue %s: %w", t.typ, err)
	}
	return nil
}
