// Package coretest runs core's use cases without infrastructure: an
// in-memory core.Store with the admission, credit and summary-cache rules
// of store.Store, and a Queue that records what it was asked to start, so
// admission, credits and caches are tested in milliseconds. The
// end-to-end tests in app keep covering the wiring.
package coretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/internal/fake"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Store is an in-memory core.Store. It implements what summary requests
// use: balances, admission (AdmitJob's MinPrice and Hold rules), jobs,
// attaching to a running job by request hash, and the summary cache.
// The rest of core.Store is the embedded nil interface: calling it
// panics, which tells a test it needs a real store (storetest) instead.
type Store struct {
	core.Store
	fake.Recorder // Fail and Calls: failures to inject, calls counted

	mu        sync.Mutex
	balance   map[int64]int64
	held      map[int64]int64
	jobs      map[string]*recap.Job
	order     []string // job ids in creation order
	summaries []cached
}

// cached is a summary with the key the cache finds it by.
type cached struct {
	videoKey, language, promptHash, model, outputLanguage string
	rng                                                   recap.Range // zero: the whole video
	sm                                                    *store.Summary
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{balance: map[int64]int64{}, held: map[int64]int64{}, jobs: map[string]*recap.Job{}}
}

var _ core.Store = (*Store)(nil)

// Grant credits an account.
func (s *Store) Grant(accountID, seconds int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance[accountID] += seconds
}

// AddSummary puts a finished summary in the cache under its key, as a
// job that summarized the video would have, and returns it.
func (s *Store) AddSummary(videoKey, language, promptHash, model, outputLanguage, markdown string) *store.Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm := &store.Summary{ID: int64(len(s.summaries) + 1), TranscriptID: int64(len(s.summaries) + 1), PromptHash: promptHash,
		Model: model, OutputLanguage: outputLanguage, Markdown: markdown, CreatedAt: time.Now()}
	s.summaries = append(s.summaries, cached{videoKey: videoKey, language: language, promptHash: promptHash, model: model,
		outputLanguage: outputLanguage, sm: sm})
	return sm
}

// Jobs returns copies of the stored jobs in creation order.
func (s *Store) Jobs() []recap.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]recap.Job, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.jobs[id])
	}
	return out
}

// SetState moves a job to a state, as a worker would (a terminal state
// releases nothing: use it for jobs without holds).
func (s *Store) SetState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id].State = state
}

// SetCost prices a job, as the resolve stage does when it places its hold.
func (s *Store) SetCost(id string, seconds int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id].CostSeconds = seconds
}

// Balance returns an account's position: Unpriced counts its running
// summary jobs with no price yet, as store.Store's does.
func (s *Store) Balance(_ context.Context, accountID int64) (*store.Balance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Balance"); err != nil {
		return nil, err
	}
	return &store.Balance{AccountID: accountID, Available: s.balance[accountID], Held: s.held[accountID],
		Unpriced: s.unpriced(accountID)}, nil
}

// unpriced counts an account's running summary jobs not priced yet; s.mu is held.
func (s *Store) unpriced(accountID int64) int64 {
	var n int64
	for _, j := range s.jobs {
		if j.AccountID == accountID && store.Unpriced(j) {
			n++
		}
	}
	return n
}

// CreateJobs stores queued jobs.
func (s *Store) CreateJobs(_ context.Context, list []*recap.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("CreateJobs"); err != nil {
		return err
	}
	for _, j := range list {
		s.create(j)
	}
	return nil
}

// create stores j as a new queued job; s.mu is held.
func (s *Store) create(j *recap.Job) {
	store.FillDefaults(j)
	now := time.Now()
	j.ID, j.State, j.CreatedAt, j.UpdatedAt = uuid.NewString(), recap.StateQueued, now, now
	c := *j
	s.jobs[j.ID] = &c
	s.order = append(s.order, j.ID)
}

// AdmitJob creates a job once its admission holds, with store.Store's
// rules: MinPrice must be covered beside MinPrice for each unpriced
// running job; a Hold is placed at once. A *store.QuotaError otherwise.
func (s *Store) AdmitJob(_ context.Context, j *recap.Job, a store.Admission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("AdmitJob"); err != nil {
		return err
	}
	if err := a.Check(s.balance[j.AccountID], s.unpriced(j.AccountID)); err != nil {
		return err
	}
	s.create(j)
	if a.Hold > 0 {
		s.balance[j.AccountID] -= a.Hold
		s.held[j.AccountID] += a.Hold
		s.jobs[j.ID].CostSeconds, j.CostSeconds = a.Hold, a.Hold
	}
	return nil
}

// Job returns a job by id.
func (s *Store) Job(_ context.Context, id string) (*recap.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Job"); err != nil {
		return nil, err
	}
	j, ok := s.jobs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *j
	return &c, nil
}

// AccountJob returns a job only if it belongs to the account.
func (s *Store) AccountJob(ctx context.Context, accountID int64, id string) (*recap.Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.AccountID != accountID {
		return nil, store.ErrNotFound
	}
	return j, nil
}

// AccountJobs returns the account's jobs among ids.
func (s *Store) AccountJobs(ctx context.Context, accountID int64, ids []string) ([]recap.Job, error) {
	var out []recap.Job
	for _, id := range ids {
		j, err := s.AccountJob(ctx, accountID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *j)
	}
	return out, nil
}

// ActiveJobByHash returns the account's newest running job with this
// request hash.
func (s *Store) ActiveJobByHash(_ context.Context, accountID int64, hash string) (*recap.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("ActiveJobByHash"); err != nil {
		return nil, err
	}
	for i := len(s.order) - 1; i >= 0; i-- {
		j := s.jobs[s.order[i]]
		if j.AccountID == accountID && j.RequestHash == hash && !recap.Terminal(j.State) {
			c := *j
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

// Summary returns a summary by id.
func (s *Store) Summary(_ context.Context, id int64) (*store.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Summary"); err != nil {
		return nil, err
	}
	for _, c := range s.summaries {
		if c.sm.ID == id {
			sm := *c.sm
			return &sm, nil
		}
	}
	return nil, store.ErrNotFound
}

// find returns the newest cached summary under a key; s.mu is held.
func (s *Store) find(videoKey, language string, r recap.Range, promptHash, model, outputLanguage string) (*store.Summary, bool) {
	for i := len(s.summaries) - 1; i >= 0; i-- {
		c := s.summaries[i]
		if c.videoKey == videoKey && c.language == language && c.rng == r && c.promptHash == promptHash && c.model == model &&
			c.outputLanguage == outputLanguage {
			sm := *c.sm
			return &sm, true
		}
	}
	return nil, false
}

// CachedSummary returns a cached summary of a video.
func (s *Store) CachedSummary(_ context.Context, videoKey, language string, r recap.Range, promptHash, model, outputLanguage string) (*store.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("CachedSummary"); err != nil {
		return nil, err
	}
	if sm, ok := s.find(videoKey, language, r, promptHash, model, outputLanguage); ok {
		return sm, nil
	}
	return nil, store.ErrNotFound
}

// CreateJobFromCache answers j from the cache and records it as a
// succeeded, free job of its own; store.ErrNotFound (nothing recorded) on
// a miss.
func (s *Store) CreateJobFromCache(_ context.Context, j *recap.Job, promptHash string) (*store.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("CreateJobFromCache"); err != nil {
		return nil, err
	}
	sm, ok := s.find(j.VideoKey, j.AudioLanguage, j.Range, promptHash, j.Model, j.OutputLanguage)
	if !ok {
		return nil, store.ErrNotFound
	}
	s.create(j)
	now := time.Now()
	j.State, j.SummaryID, j.FinishedAt, j.Progress = recap.StateSucceeded, &sm.ID, &now, 100
	c := *j
	s.jobs[j.ID] = &c
	return sm, nil
}

// Queue is a core.Queue that records the jobs it is asked to start.
type Queue struct {
	mu      sync.Mutex
	started []string
	// StartErr, when set, is what Start returns.
	StartErr error
}

var _ core.Queue = (*Queue)(nil)

// Started returns the ids of the jobs started, in order.
func (q *Queue) Started() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.started...)
}

// Submit creates nothing (the store did) and starts j.
func (q *Queue) Submit(ctx context.Context, j *recap.Job) error { return q.Start(ctx, j) }

// Start records j as started.
func (q *Queue) Start(_ context.Context, j *recap.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.StartErr != nil {
		return q.StartErr
	}
	q.started = append(q.started, j.ID)
	return nil
}

// StartAll starts each job.
func (q *Queue) StartAll(ctx context.Context, list []*recap.Job) {
	for _, j := range list {
		_ = q.Start(ctx, j)
	}
}

// Cancel reports the job canceled.
func (q *Queue) Cancel(context.Context, *recap.Job) (bool, error) { return true, nil }

// Refuse does nothing.
func (q *Queue) Refuse(context.Context, []*recap.Job, string, string) {}

// Events returns nil: no event bus.
func (q *Queue) Events() *jobs.Events { return nil }

// Bundle is what New's Service runs on.
type Bundle struct {
	Store *Store
	Queue *Queue
	// Caller is a key of account 1, which holds Seconds of credit.
	Caller *recap.Caller
}

// New returns a Service over fresh fakes with the account of b.Caller
// holding seconds of credit; edit may change the config first. The
// network policy allows private addresses, so loopback URLs need no DNS.
func New(seconds int64, edit func(*core.Config)) (*core.Service, *Bundle) {
	b := &Bundle{Store: NewStore(), Queue: &Queue{},
		Caller: &recap.Caller{ID: 1, AccountID: 1, Name: "test", Scopes: []string{recap.ScopeRead, recap.ScopeWrite}}}
	b.Store.Grant(b.Caller.AccountID, seconds)
	cfg := core.Config{Store: b.Store, Jobs: b.Queue, Policy: core.Policy{AllowPrivate: true}, DefaultModel: "fake-model"}
	if edit != nil {
		edit(&cfg)
	}
	return core.New(cfg), b
}

// VideoURL returns a distinct loopback video URL for n.
func VideoURL(n int) string { return fmt.Sprintf("http://127.0.0.1:9/video-%d.mp4", n) }

// Video reports no video as known: the fake resolves nothing, so a
// range is checked against the video's length only by the worker.
func (s *Store) Video(_ context.Context, key string) (*store.Video, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Video"); err != nil {
		return nil, err
	}
	return nil, store.ErrNotFound
}
