package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/recap/recap"
)

// ErrNotRetryable means a job has nothing to retry: it succeeded, or its
// stage is already queued or running.
var ErrNotRetryable = errors.New("not retryable")

// What Retry did.
const (
	// RetryRunNow moved a stage waiting for its retry back-off (or archived)
	// to the front of its queue.
	RetryRunNow = "run_now"
	// RetryRequeued enqueued the stage of an unfinished job whose task was
	// lost.
	RetryRequeued = "requeued"
	// RetryResubmitted created a new job with the failed or canceled job's
	// request; the old job keeps its history and its settled credits.
	RetryResubmitted = "resubmitted"
)

// Tasks returns the stage tasks of a job that asynq still holds (finished
// stage tasks are not kept).
func (c *Client) Tasks(j *recap.Job) ([]recap.TaskView, error) {
	if c.cfg.Inspector == nil {
		return nil, errors.New("tasks: no asynq inspector configured")
	}
	var out []recap.TaskView
	for _, t := range append(stages[:len(stages):len(stages)], &webhookTask) {
		ti, err := c.cfg.Inspector.GetTaskInfo(c.q.queueName(j, t), TaskID(j.ID, t.typ))
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tasks: %w", err)
		}
		tv := recap.TaskView{ID: ti.ID, Type: ti.Type, Queue: ti.Queue, State: ti.State.String(), Retried: ti.Retried,
			MaxRetry: ti.MaxRetry, LastError: ti.LastErr}
		if !ti.LastFailedAt.IsZero() {
			t := ti.LastFailedAt
			tv.LastFailedAt = &t
		}
		if !ti.NextProcessAt.IsZero() {
			t := ti.NextProcessAt
			tv.NextProcessAt = &t
		}
		out = append(out, tv)
	}
	return out, nil
}

// Retry acts on a job an operator wants to see run again. An unfinished
// job's stage waiting for its back-off runs now, and a lost one is
// enqueued again; a failed or canceled job is resubmitted as a new job
// (the ledger allows one hold per job, so the old one cannot be reused).
// It returns what it did and the job that will run.
func (c *Client) Retry(ctx context.Context, j *recap.Job) (string, *recap.Job, error) {
	switch j.State {
	case recap.StateSucceeded:
		return "", nil, fmt.Errorf("job %s succeeded: %w", j.ID, ErrNotRetryable)
	case recap.StateFailed, recap.StateCanceled:
		nj := &recap.Job{AccountID: j.AccountID, APIKeyID: j.APIKeyID, Kind: j.Kind, Queue: j.Queue, URL: j.URL,
			VideoKey: j.VideoKey, Prompt: j.Prompt, Model: j.Model, AudioLanguage: j.AudioLanguage, Range: j.Range,
			OutputLanguage: j.OutputLanguage, Images: j.Images, History: j.History, Refresh: j.Refresh,
			WebhookURL: j.WebhookURL, RequestHash: j.RequestHash}
		if err := c.Submit(ctx, nj); err != nil {
			return "", nil, err
		}
		return RetryResubmitted, nj, nil
	}
	tasks, err := c.Tasks(j)
	if err != nil {
		return "", nil, err
	}
	for _, t := range tasks {
		if t.Type == TypeWebhook {
			continue
		}
		switch t.State {
		case "pending", "active":
			return "", nil, fmt.Errorf("job %s: stage %s is already %s: %w", j.ID, t.Type, t.State, ErrNotRetryable)
		case "retry", "scheduled", "archived":
			if err := c.cfg.Inspector.RunTask(t.Queue, t.ID); err != nil {
				return "", nil, fmt.Errorf("retry: %w", err)
			}
			return RetryRunNow, j, nil
		}
	}
	if err := c.q.enqueue(ctx, j, stagesFrom(j.State)[0]); err != nil {
		return "", nil, err
	}
	return RetryRequeued, j, nil
}
