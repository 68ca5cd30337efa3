package jobs

import (
	"context"
	"fmt"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
)

// JobStore is what the client needs from persistence.
type JobStore interface {
	CreateJob(ctx context.Context, j *recap.Job) error
	CreateJobs(ctx context.Context, list []*recap.Job) error
	Job(ctx context.Context, id string) (*recap.Job, error)
	Finish(ctx context.Context, id string, o store.Outcome) (bool, error)
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Store  JobStore
	Asynq  Enqueuer
	Events *Events
	// Inspector, when set, lets Cancel stop a running stage.
	Inspector *asynq.Inspector
	// QueuePrefix namespaces the queue names (tests use it for isolation).
	QueuePrefix string
	Timeouts    Timeouts
	MaxRetry    int
	// Metrics counts canceled jobs; nil records nothing.
	Metrics *metrics.Metrics
}

// Client submits and cancels jobs; the API uses it.
type Client struct {
	cfg ClientConfig
	q   queueing
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	q := newQueueing(cfg.Asynq, cfg.QueuePrefix, cfg.Timeouts, cfg.MaxRetry)
	cfg.Timeouts, cfg.MaxRetry = q.timeouts, q.maxRetry
	return &Client{cfg: cfg, q: q}
}

// Events returns the event streams.
func (c *Client) Events() *Events { return c.cfg.Events }

// Submit stores a new job, announces it and enqueues its first stage.
// When the enqueue fails, the job is failed at once so nothing stays
// accepted but unqueued.
func (c *Client) Submit(ctx context.Context, j *recap.Job) error {
	if err := c.cfg.Store.CreateJob(ctx, j); err != nil {
		return err
	}
	return c.Start(ctx, j)
}

// Start announces and enqueues a job already stored (by Submit, or in an
// idempotent request's transaction). When the enqueue fails, the job is
// failed at once so nothing stays accepted but unqueued.
func (c *Client) Start(ctx context.Context, j *recap.Job) error {
	if _, err := c.cfg.Events.Publish(ctx, j.ID, recap.Event{Type: recap.EventState, State: recap.StateQueued}); err != nil {
		c.abandon(ctx, j.ID, err)
		return err
	}
	if err := c.Enqueue(ctx, j, TypeResolve); err != nil {
		c.abandon(ctx, j.ID, err)
		return err
	}
	return nil
}

// SubmitAll stores many jobs in one statement (all or none), then starts
// them as StartAll does.
func (c *Client) SubmitAll(ctx context.Context, list []*recap.Job) error {
	if err := c.cfg.Store.CreateJobs(ctx, list); err != nil {
		return err
	}
	c.StartAll(ctx, list)
	return nil
}

// startParallel bounds the enqueues StartAll runs at once.
const startParallel = 8

// StartAll announces stored jobs in one round trip and enqueues them a
// few at a time. A job whose announcement or enqueue fails is failed at
// once (its State and error set on it), as Start does; the others go on.
func (c *Client) StartAll(ctx context.Context, list []*recap.Job) {
	ids := make([]string, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	errs, err := c.cfg.Events.PublishAll(ctx, ids, recap.Event{Type: recap.EventState, State: recap.StateQueued})
	if err != nil {
		errs = make([]error, len(list))
		for i := range errs {
			errs[i] = err
		}
	}
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	for i, j := range list {
		if errs[i] == nil {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = c.Enqueue(ctx, j, TypeResolve)
			}()
		}
	}
	wg.Wait()
	for i, j := range list {
		if errs[i] != nil {
			c.abandon(ctx, j.ID, errs[i])
			j.State, j.ErrorCode, j.ErrorMessage = recap.StateFailed, recap.CodeInternal, "could not queue the job: "+errs[i].Error()
		}
	}
}

// Refuse ends stored jobs that will not run as failed with code and msg,
// without queueing them (a batch larger than its balance covers): their
// rows and events say why, and no download is started for them.
func (c *Client) Refuse(ctx context.Context, list []*recap.Job, code, msg string) {
	ctx = context.WithoutCancel(ctx)
	for _, j := range list {
		if ok, _ := c.cfg.Store.Finish(ctx, j.ID, store.Outcome{State: recap.StateFailed, ErrorCode: code, ErrorMessage: msg}); ok {
			c.cfg.Events.Publish(ctx, j.ID, recap.Event{Type: recap.EventError, State: recap.StateFailed, Error: &recap.ErrorInfo{Code: code, Message: msg}}) //nolint:errcheck
			c.cfg.Metrics.JobFinished(recap.StateFailed, code)
		}
		j.State, j.ErrorCode, j.ErrorMessage = recap.StateFailed, code, msg
	}
}

func (c *Client) abandon(ctx context.Context, id string, cause error) {
	ctx = context.WithoutCancel(ctx)
	msg := "could not queue the job: " + cause.Error()
	if ok, _ := c.cfg.Store.Finish(ctx, id, store.Outcome{State: recap.StateFailed, ErrorCode: recap.CodeInternal, ErrorMessage: msg}); ok {
		c.cfg.Events.Publish(ctx, id, recap.Event{Type: recap.EventError, State: recap.StateFailed, Error: &recap.ErrorInfo{Code: recap.CodeInternal, Message: msg}}) //nolint:errcheck
	}
}

// Enqueue enqueues one stage of a job. A stage already queued (same task
// id) is not an error: that is the dedupe working.
func (c *Client) Enqueue(ctx context.Context, j *recap.Job, typ string) error {
	t := taskOf(typ)
	if t == nil {
		return fmt.Errorf("enqueue: unknown task type %q", typ)
	}
	return c.q.enqueue(ctx, j, t)
}

// Cancel ends a queued or running job as canceled, removes its queued
// tasks and asks the worker running it to stop. It reports false when
// the job had already ended.
func (c *Client) Cancel(ctx context.Context, j *recap.Job) (bool, error) {
	ok, err := c.cfg.Store.Finish(ctx, j.ID, store.Outcome{State: recap.StateCanceled, ErrorCode: recap.CodeCanceled, ErrorMessage: "the job was canceled"})
	if err != nil || !ok {
		return ok, err
	}
	c.cfg.Metrics.JobFinished(recap.StateCanceled, recap.CodeCanceled)
	c.cfg.Events.Publish(ctx, j.ID, recap.Event{Type: recap.EventError, State: recap.StateCanceled, Error: &recap.ErrorInfo{Code: recap.CodeCanceled, Message: "the job was canceled"}}) //nolint:errcheck
	if err := enqueueWebhook(ctx, c.q, j); err != nil {
		return true, err
	}
	if c.cfg.Inspector != nil {
		for _, t := range stages {
			id := TaskID(j.ID, t.typ)
			_ = c.cfg.Inspector.DeleteTask(c.q.queueName(j, t), id)
			_ = c.cfg.Inspector.CancelProcessing(id)
		}
	}
	return true, nil
}
