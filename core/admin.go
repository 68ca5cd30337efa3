package core

// The operators' actions (the admin routes): any account's jobs, with
// their tasks in the queue, retried or canceled.

import (
	"context"
	"errors"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// AdminQueue is what the operators' actions need of the queue beyond
// Queue (a *jobs.Client).
type AdminQueue interface {
	Tasks(j *recap.Job) ([]recap.TaskView, error)
	Retry(ctx context.Context, j *recap.Job) (string, *recap.Job, error)
}

// AdminJob is a job as operators see it: the client's view plus who owns
// it, its queue and its tasks in the queue.
type AdminJob struct {
	recap.View
	AccountID int64
	APIKeyID  int64
	Kind      string
	Queue     string
	// Tasks are the stage tasks the queue still holds (never nil).
	Tasks []recap.TaskView
}

// AdminListRequest pages through every account's jobs, newest first.
// The door checks State (ValidState) and Limit (1 to 500).
type AdminListRequest struct {
	State     string
	AccountID int64
	Limit     int
	// Cursor is a page's NextCursor.
	Cursor string
}

// AdminPage is one page of jobs for operators.
type AdminPage struct {
	Jobs       []AdminJob
	HasMore    bool
	NextCursor string
}

// AdminRetried is what AdminRetry did (Action: run_now, requeued or
// resubmitted) and the job that will run; RetryOf is the failed or
// canceled job a resubmitted one repeats ("" when the job itself runs).
type AdminRetried struct {
	Action  string
	Job     AdminJob
	RetryOf string
}

// AdminListJobs returns a page of any account's jobs.
func (s *Service) AdminListJobs(ctx context.Context, r AdminListRequest) (*AdminPage, error) {
	f := store.JobFilter{State: r.State, AccountID: r.AccountID, Limit: r.Limit}
	if r.Cursor != "" {
		t, id, ok := DecodeCursor(r.Cursor)
		if !ok {
			return nil, Invalid("invalid_cursor", "cursor", "'cursor' is not a cursor this API returned.")
		}
		f.BeforeTime, f.BeforeID = &t, id
	}
	f.Limit++
	list, err := s.cfg.Store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	p := &AdminPage{HasMore: len(list) == f.Limit}
	if p.HasMore {
		list = list[:f.Limit-1]
	}
	p.Jobs = make([]AdminJob, 0, len(list))
	for i := range list {
		aj, err := s.adminView(ctx, &list[i])
		if err != nil {
			return nil, err
		}
		p.Jobs = append(p.Jobs, aj)
	}
	if p.HasMore {
		p.NextCursor = EncodeCursor(&list[len(list)-1])
	}
	return p, nil
}

// AdminJob returns any account's job.
func (s *Service) AdminJob(ctx context.Context, id string) (*AdminJob, error) {
	j, err := s.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	aj, err := s.adminView(ctx, j)
	if err != nil {
		return nil, err
	}
	return &aj, nil
}

// AdminRetry runs a job again: an unfinished job's waiting or lost stage
// now, a failed or canceled job as a new job (see jobs.Client.Retry). A
// job with nothing to retry is KindConflict not_retryable.
func (s *Service) AdminRetry(ctx context.Context, id string) (*AdminRetried, error) {
	j, err := s.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.cfg.Admin == nil {
		return nil, errors.New("retry: no admin queue configured")
	}
	action, nj, err := s.cfg.Admin.Retry(ctx, j)
	if errors.Is(err, jobs.ErrNotRetryable) {
		return nil, &Error{Kind: KindConflict, Code: "not_retryable", Message: err.Error()}
	}
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("admin retry", "job_id", j.ID, "video_key", j.VideoKey, "action", action, "new_job_id", nj.ID)
	if nj, err = s.cfg.Store.Job(ctx, nj.ID); err != nil {
		return nil, err
	}
	aj, err := s.adminView(ctx, nj)
	if err != nil {
		return nil, err
	}
	out := &AdminRetried{Action: action, Job: aj}
	if action == jobs.RetryResubmitted {
		out.RetryOf = j.ID
	}
	return out, nil
}

// AdminCancel ends any account's queued or running job as canceled; a job
// that had ended is KindConflict job_finished.
func (s *Service) AdminCancel(ctx context.Context, id string) (*AdminJob, error) {
	j, err := s.cfg.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.cfg.Jobs.Cancel(ctx, j)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Kind: KindConflict, Code: "job_finished", Message: "The job already ended (" + j.State + ")."}
	}
	s.cfg.Logger.Info("admin cancel", "job_id", j.ID, "video_key", j.VideoKey)
	if j, err = s.cfg.Store.Job(context.WithoutCancel(ctx), j.ID); err != nil {
		return nil, err
	}
	aj, err := s.adminView(ctx, j)
	if err != nil {
		return nil, err
	}
	return &aj, nil
}

// adminView renders a job for operators: its tasks are asked of the
// queue while it runs or a webhook may still be delivered.
func (s *Service) adminView(ctx context.Context, j *recap.Job) (AdminJob, error) {
	v, err := s.View(ctx, j)
	if err != nil {
		return AdminJob{}, err
	}
	aj := AdminJob{View: v, AccountID: j.AccountID, APIKeyID: j.APIKeyID, Kind: j.Kind, Queue: j.Queue, Tasks: []recap.TaskView{}}
	if !recap.Terminal(j.State) || j.WebhookURL != "" {
		if s.cfg.Admin == nil {
			return AdminJob{}, errors.New("tasks: no admin queue configured")
		}
		tasks, err := s.cfg.Admin.Tasks(j)
		if err != nil {
			return AdminJob{}, err
		}
		if tasks != nil {
			aj.Tasks = tasks
		}
	}
	return aj, nil
}
