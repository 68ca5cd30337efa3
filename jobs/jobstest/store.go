// Package jobstest runs jobs' stages without infrastructure, as
// rivertest.Worker does for River: in-memory fakes of the store, the
// media tools, the queue and the event stream, so a stage's logic is
// tested in milliseconds. The end-to-end tests in jobs keep covering the
// wiring to Postgres, Redis, yt-dlp and ffmpeg.
package jobstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/fake"
	"github.com/recap/recap/store"
)

// Store is an in-memory jobs.Store with the semantics the stages rely on:
// stage attempts counted per state, one terminal state per job, holds
// placed once per job and settled by Finish, and a failure to inject per
// method. It passes RunStoreContract, as store.Store does.
type Store struct {
	fake.Recorder // Fail and Calls: failures to inject, calls counted

	mu          sync.Mutex
	jobs        map[string]*recap.Job
	attempts    map[string]*store.Attempt
	balance     map[int64]int64
	held        map[string]int64 // by job: the hold not settled yet
	captured    map[string]int64
	videos      map[string]*store.Video
	videoIDs    map[string]string // extractor_key NUL id → owner key
	aliases     map[string]string // joined key → owner key
	transcripts []*recap.Transcript
	summaries   []*store.Summary
	chunks      map[string]map[int]store.Chunk
	locks       map[string]*sync.Mutex
	now         func() time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{jobs: map[string]*recap.Job{}, attempts: map[string]*store.Attempt{}, balance: map[int64]int64{},
		held: map[string]int64{}, captured: map[string]int64{}, videos: map[string]*store.Video{},
		chunks: map[string]map[int]store.Chunk{}, locks: map[string]*sync.Mutex{},
		now: time.Now}
}

// Grant credits an account.
func (s *Store) Grant(accountID, seconds int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance[accountID] += seconds
}

// Balance returns an account's available seconds and what its jobs hold.
func (s *Store) Balance(accountID int64) (available, held int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.held {
		if s.jobs[id].AccountID == accountID {
			held += n
		}
	}
	return s.balance[accountID], held
}

// Captured returns what a job was charged.
func (s *Store) Captured(jobID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.captured[jobID]
}

// CreateJob stores a queued job and sets its ID and timestamps.
func (s *Store) CreateJob(ctx context.Context, j *recap.Job) error {
	return s.CreateJobs(ctx, []*recap.Job{j})
}

// CreateJobs stores queued jobs.
func (s *Store) CreateJobs(_ context.Context, list []*recap.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("CreateJobs"); err != nil {
		return err
	}
	for _, j := range list {
		store.FillDefaults(j)
		j.ID, j.State = uuid.NewString(), recap.StateQueued
		j.CreatedAt, j.UpdatedAt = s.now(), s.now()
		s.jobs[j.ID] = cloneJob(j)
	}
	return nil
}

// Job returns a copy of a job.
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
	return cloneJob(j), nil
}

// cloneJob copies a job and its slices, so no caller shares the stored one's.
func cloneJob(j *recap.Job) *recap.Job {
	c := *j
	c.Images, c.History = slices.Clone(j.Images), slices.Clone(j.History)
	return &c
}

// Finish ends a job once and settles its hold: capture on success (a
// token-priced job's tokens only, the rest released), release otherwise.
func (s *Store) Finish(_ context.Context, id string, o store.Outcome) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Finish"); err != nil {
		return false, err
	}
	if !recap.Terminal(o.State) {
		return false, fmt.Errorf("finish job: %q is not a terminal state", o.State)
	}
	j, ok := s.jobs[id]
	if !ok || recap.Terminal(j.State) {
		return false, nil
	}
	j.State, j.ErrorCode, j.ErrorMessage = o.State, o.ErrorCode, o.ErrorMessage
	if o.SummaryID != nil {
		j.SummaryID = o.SummaryID
	}
	j.ResultMarkdown, j.ResultModel = o.ResultMarkdown, o.ResultModel
	j.PromptTokens, j.CompletionTokens = o.PromptTokens, o.CompletionTokens
	if o.State == recap.StateSucceeded {
		j.Progress = 100
	}
	now := s.now()
	j.FinishedAt, j.UpdatedAt = &now, now
	if n, ok := s.held[id]; ok {
		delete(s.held, id)
		switch {
		case o.State != recap.StateSucceeded:
			s.balance[j.AccountID] += n
		case j.TokenPrice > 0:
			c := store.TokenCharge(j.TokenPrice, o.PromptTokens, o.CompletionTokens, n)
			s.captured[id], j.CostSeconds = c, c
			s.balance[j.AccountID] += n - c
		default:
			s.captured[id] = n
		}
	}
	return true, nil
}

// StartStage moves a job into a stage's state and counts the attempt,
// unless it has ended or is past that stage.
func (s *Store) StartStage(_ context.Context, id, state string) (store.Attempt, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("StartStage"); err != nil {
		return store.Attempt{}, false, err
	}
	if recap.StageRank(state) <= 0 {
		return store.Attempt{}, false, fmt.Errorf("start stage: %q is not a stage state", state)
	}
	j, ok := s.jobs[id]
	if !ok || !recap.MayStart(j.State, state) {
		return store.Attempt{}, false, nil
	}
	a := s.attempts[id]
	if a == nil || j.State != state {
		a = &store.Attempt{}
		s.attempts[id] = a
	}
	a.N++
	j.State, j.UpdatedAt = state, s.now()
	return *a, true, nil
}

// FailAttempt records why the current stage's run failed.
func (s *Store) FailAttempt(_ context.Context, id, code, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("FailAttempt"); err != nil {
		return err
	}
	if a := s.attempts[id]; a != nil && !recap.Terminal(s.jobs[id].State) {
		a.LastErrorCode, a.LastError = code, msg
	}
	return nil
}

// RefundAttempt takes back an interrupted run's attempt.
func (s *Store) RefundAttempt(_ context.Context, id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("RefundAttempt"); err != nil {
		return err
	}
	if a := s.attempts[id]; a != nil && a.N > 0 && s.jobs[id].State == state {
		a.N--
	}
	return nil
}

// Attempts returns the runs the job's current stage has had.
func (s *Store) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.attempts[id]; a != nil {
		return a.N
	}
	return 0
}

// SetProgress records a job's progress.
func (s *Store) SetProgress(_ context.Context, id string, pct float64) error {
	return s.update("SetProgress", id, func(j *recap.Job) { j.Progress = pct })
}

// SetVideo records what resolve learned on the job.
func (s *Store) SetVideo(_ context.Context, id, videoKey, title string, duration float64) error {
	return s.update("SetVideo", id, func(j *recap.Job) { j.VideoKey, j.Title, j.Duration = videoKey, title, duration })
}

// SetTranscript links a job to its transcript.
func (s *Store) SetTranscript(_ context.Context, id string, transcriptID int64) error {
	return s.update("SetTranscript", id, func(j *recap.Job) { j.TranscriptID = &transcriptID })
}

func (s *Store) update(method, id string, fn func(*recap.Job)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter(method); err != nil {
		return err
	}
	j, ok := s.jobs[id]
	if !ok {
		return store.ErrNotFound
	}
	fn(j)
	j.UpdatedAt = s.now()
	return nil
}

// Hold reserves seconds for a running job, once per job.
func (s *Store) Hold(_ context.Context, accountID int64, jobID string, seconds int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Hold"); err != nil {
		return err
	}
	j, ok := s.jobs[jobID]
	if !ok || recap.Terminal(j.State) {
		return nil
	}
	if _, ok := s.held[jobID]; ok {
		return nil
	}
	if s.balance[accountID] < seconds {
		return store.ErrInsufficientCredits
	}
	s.balance[accountID] -= seconds
	s.held[jobID] = seconds
	j.CostSeconds = seconds
	return nil
}

// WithLock runs fn holding a lock on key.
func (s *Store) WithLock(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	if err := s.Enter("WithLock"); err != nil {
		s.mu.Unlock()
		return err
	}
	l := s.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[key] = l
	}
	s.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	return fn(ctx)
}

// SaveVideo inserts or replaces a video.
func (s *Store) SaveVideo(_ context.Context, v *store.Video) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SaveVideo"); err != nil {
		return err
	}
	s.saveVideo(v)
	return nil
}

// saveVideo inserts or refreshes a video; a refreshed one keeps its
// CreatedAt. s.mu is held.
func (s *Store) saveVideo(v *store.Video) {
	if len(v.Info) == 0 {
		v.Info = json.RawMessage(`{}`)
	}
	v.CreatedAt = s.now()
	if old, ok := s.videos[v.Key]; ok {
		v.CreatedAt = old.CreatedAt
	}
	c := *v
	c.Info, c.RawInfo = slices.Clone(v.Info), slices.Clone(v.RawInfo)
	s.videos[v.Key] = &c
}

// ClaimVideo saves v unless another key already owns extractorKey + id;
// then v's key becomes an alias of the owner (see store.Store.ClaimVideo).
func (s *Store) ClaimVideo(_ context.Context, v *store.Video, extractorKey, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("ClaimVideo"); err != nil {
		return "", err
	}
	if s.videoIDs == nil {
		s.videoIDs, s.aliases = map[string]string{}, map[string]string{}
	}
	idKey := extractorKey + "\x00" + id
	owner, ok := s.videoIDs[idKey]
	if !ok {
		owner = v.Key
		s.videoIDs[idKey] = owner
	}
	if owner != v.Key {
		s.aliases[v.Key] = owner
		return owner, nil
	}
	s.saveVideo(v)
	return owner, nil
}

// VideoAlias returns the owner a key joined, or store.ErrNotFound.
func (s *Store) VideoAlias(_ context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("VideoAlias"); err != nil {
		return "", err
	}
	if o, ok := s.aliases[key]; ok {
		return o, nil
	}
	return "", store.ErrNotFound
}

// Video returns a video by key.
func (s *Store) Video(_ context.Context, key string) (*store.Video, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Video"); err != nil {
		return nil, err
	}
	v, ok := s.videos[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *v
	return &c, nil
}

// SetVideoDuration records a measured duration.
func (s *Store) SetVideoDuration(_ context.Context, key string, d float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SetVideoDuration"); err != nil {
		return err
	}
	if v, ok := s.videos[key]; ok {
		v.Duration = d
	}
	return nil
}

// SaveTranscript stores a transcript and sets its ID.
func (s *Store) SaveTranscript(_ context.Context, t *recap.Transcript) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SaveTranscript"); err != nil {
		return err
	}
	if _, ok := s.videos[t.VideoKey]; !ok {
		return fmt.Errorf("save transcript: %w: video %q", errUnknownVideo, t.VideoKey)
	}
	t.ID, t.CreatedAt = int64(len(s.transcripts)+1), s.now()
	c := *t
	s.transcripts = append(s.transcripts, &c)
	return nil
}

// LatestTranscript returns a video's newest whole transcript in a language.
func (s *Store) LatestTranscript(_ context.Context, videoKey, language string) (*recap.Transcript, error) {
	return s.latestTranscript("LatestTranscript", videoKey, language, recap.Range{})
}

// LatestRangeTranscript returns the newest transcript of a video's range
// in a language.
func (s *Store) LatestRangeTranscript(_ context.Context, videoKey, language string, r recap.Range) (*recap.Transcript, error) {
	return s.latestTranscript("LatestRangeTranscript", videoKey, language, r)
}

func (s *Store) latestTranscript(method, videoKey, language string, r recap.Range) (*recap.Transcript, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter(method); err != nil {
		return nil, err
	}
	for _, t := range slices.Backward(s.transcripts) {
		if t.VideoKey == videoKey && t.Language == language && t.Range == r {
			c := *t
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

// Transcript returns a transcript by ID.
func (s *Store) Transcript(_ context.Context, id int64) (*recap.Transcript, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Transcript"); err != nil {
		return nil, err
	}
	if id < 1 || int(id) > len(s.transcripts) {
		return nil, store.ErrNotFound
	}
	c := *s.transcripts[id-1]
	return &c, nil
}

// chunkKey is what a video's range's chunks are kept by.
func chunkKey(videoKey, language string, r recap.Range) string {
	return fmt.Sprintf("%s\x00%s\x00%v\x00%v", videoKey, language, r.Start, r.End)
}

// SaveChunk keeps a transcribed chunk (the first save wins).
func (s *Store) SaveChunk(_ context.Context, videoKey, language string, r recap.Range, c store.Chunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SaveChunk"); err != nil {
		return err
	}
	m := s.chunks[chunkKey(videoKey, language, r)]
	if m == nil {
		m = map[int]store.Chunk{}
		s.chunks[chunkKey(videoKey, language, r)] = m
	}
	if _, ok := m[c.Index]; !ok {
		m[c.Index] = c
	}
	return nil
}

// Chunks returns the stored chunks of a video's range and language.
func (s *Store) Chunks(_ context.Context, videoKey, language string, r recap.Range) (map[int]store.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Chunks"); err != nil {
		return nil, err
	}
	out := map[int]store.Chunk{}
	for i, c := range s.chunks[chunkKey(videoKey, language, r)] {
		out[i] = c
	}
	return out, nil
}

// DeleteChunks drops the stored chunks of a video's range and language.
func (s *Store) DeleteChunks(_ context.Context, videoKey, language string, r recap.Range) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("DeleteChunks"); err != nil {
		return err
	}
	delete(s.chunks, chunkKey(videoKey, language, r))
	return nil
}

// FindSummary returns a cached summary.
func (s *Store) FindSummary(_ context.Context, transcriptID int64, promptHash, model, outputLanguage string) (*store.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("FindSummary"); err != nil {
		return nil, err
	}
	for _, sm := range slices.Backward(s.summaries) {
		if sm.TranscriptID == transcriptID && sm.PromptHash == promptHash && sm.Model == model && sm.OutputLanguage == outputLanguage {
			c := *sm
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

// SaveSummary stores a summary and sets its ID; one cached under the
// same key (transcript, prompt hash, model, output language) is replaced
// and keeps its ID, as a refresh does in store.Store.
func (s *Store) SaveSummary(_ context.Context, sm *store.Summary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SaveSummary"); err != nil {
		return err
	}
	var old *store.Summary
	if i := slices.IndexFunc(s.summaries, func(o *store.Summary) bool {
		return o.TranscriptID == sm.TranscriptID && o.PromptHash == sm.PromptHash && o.Model == sm.Model && o.OutputLanguage == sm.OutputLanguage
	}); i >= 0 {
		old = s.summaries[i]
		// SaveSummary leaves a cached summary's grounding as it was.
		sm.Highlights, sm.Grounding = old.Highlights, old.Grounding
	}
	s.putSummary(sm, old)
	return nil
}

// putSummary stores sm in old's place (nil: as a new summary). s.mu is held.
func (s *Store) putSummary(sm, old *store.Summary) {
	sm.CreatedAt = s.now()
	if old != nil {
		sm.ID = old.ID
	} else {
		sm.ID = int64(len(s.summaries) + 1)
	}
	c := *sm
	c.Chapters, c.Highlights = slices.Clone(sm.Chapters), slices.Clone(sm.Highlights)
	if old != nil {
		s.summaries[old.ID-1] = &c
		return
	}
	s.summaries = append(s.summaries, &c)
}

// SaveGroundedSummary stores a summary with its highlights and counts,
// replacing all three of one cached under the same key.
func (s *Store) SaveGroundedSummary(_ context.Context, sm *store.Summary, g store.SummaryGrounding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("SaveGroundedSummary"); err != nil {
		return err
	}
	sm.Highlights, sm.Grounding = g.Highlights, g.Counts
	i := slices.IndexFunc(s.summaries, func(o *store.Summary) bool {
		return o.TranscriptID == sm.TranscriptID && o.PromptHash == sm.PromptHash && o.Model == sm.Model && o.OutputLanguage == sm.OutputLanguage
	})
	var old *store.Summary
	if i >= 0 {
		old = s.summaries[i]
	}
	s.putSummary(sm, old)
	return nil
}

// Summary returns a summary by ID.
func (s *Store) Summary(_ context.Context, id int64) (*store.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("Summary"); err != nil {
		return nil, err
	}
	if id < 1 || int(id) > len(s.summaries) {
		return nil, store.ErrNotFound
	}
	c := *s.summaries[id-1]
	return &c, nil
}

// StaleJobs returns non-terminal jobs not updated since before, oldest
// first, after the cursor.
func (s *Store) StaleJobs(_ context.Context, before time.Time, after store.StaleCursor, limit int) ([]recap.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Enter("StaleJobs"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 500
	}
	var out []recap.Job
	for _, j := range s.jobs {
		if recap.Terminal(j.State) || !j.UpdatedAt.Before(before) {
			continue
		}
		if j.UpdatedAt.Before(after.UpdatedAt) || (j.UpdatedAt.Equal(after.UpdatedAt) && j.ID <= after.ID) {
			continue
		}
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b recap.Job) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// errUnknownVideo is the fake's foreign-key violation: a transcript
// belongs to a video saved before it.
var errUnknownVideo = errors.New("no such video")

// ErrInjected is a ready-made failure for Fail.
var ErrInjected = errors.New("jobstest: injected failure")
