package core

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// MinPrice is the smallest price of a video, in credit seconds: jobs are
// priced in whole minutes, rounded up.
const MinPrice = 60

// SummarizeRequest asks for a video's summary, or (FollowUp) for an answer
// to a question about a video summarized before. Doors fill it from their
// wire format; Submit validates it.
type SummarizeRequest struct {
	Caller *recap.Caller
	// URL is the video ("" for a request about images only). An uploaded
	// file's id ("file-…") or inline content (a data: URL) stands for a
	// file instead (a `file` content part).
	URL string
	// FileID names an uploaded file of the caller's to summarize instead
	// of a URL (the same as URL holding the id).
	FileID string
	// Param names where the URL came from, for errors ("messages", "input").
	Param string
	// Prompt is the caller's instruction, or the follow-up question.
	Prompt         string
	Model          string
	AudioLanguage  string
	OutputLanguage string
	// Images are image URLs (http(s) or data:image/) sent with the prompt.
	Images []string
	// FollowUp asks a question about the video with History as context.
	FollowUp bool
	History  []recap.Message
	// Refresh skips the caches.
	Refresh bool
	// Stream tells the job the caller follows it live.
	Stream      bool
	Idempotency Idempotency
	// Format asks for the summary as JSON (nil: markdown).
	Format *ResponseFormat
	// Start and End ask for part of the video only, as the caller sent
	// them (ParseTime: seconds, or "[h:]mm:ss"); absent, the whole video.
	// Validate reads them into rng.
	Start, End json.RawMessage
	rng        recap.Range
	// Frames asks for a JPEG at each highlight's moment, as the caller
	// sent it (ParseFrames: a boolean); Validate reads it into frames.
	Frames json.RawMessage
	frames bool
}

// Submission is how a request is being answered.
type Submission struct {
	// Job is the job that answers (a new one, the running one the same
	// request attached to, or the record of a cache hit).
	Job *recap.Job
	// Model is the model name replies carry.
	Model string
	// Result is set when the answer is ready: a summary from the cache, or
	// a replayed request whose job has succeeded.
	Result *recap.Result
	// CacheHit marks a Result from the summary cache.
	CacheHit bool
	// Failed is set for a replayed request whose job failed.
	Failed *Error
	// Replayed marks an answer to a repeated Idempotency-Key.
	Replayed bool
}

// plan is what a summary request will do: answer from the summary cache,
// attach to the same request's running job, or (neither set) start a new
// job.
type plan struct {
	cached *store.Summary
	attach *recap.Job
	// admit is what a new job needs of the balance.
	admit store.Admission
}

func (r *SummarizeRequest) param() string {
	if r.Param == "" {
		return "messages"
	}
	return r.Param
}

// Validate checks what the doors' parsers cannot know about: text limits
// and characters (no NUL reaches Postgres), languages, URL syntax. It
// touches no network and no database; Submit calls it first.
func (r *SummarizeRequest) Validate() error {
	p := r.param()
	if r.FileID != "" && r.URL == "" {
		r.URL = r.FileID
	}
	if r.Caller == nil {
		return &Error{Kind: KindInternal, Code: "internal_error", Message: "The request has no caller."}
	}
	if err := CheckText(p, r.Prompt); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(r.Prompt); n > MaxPromptRunes {
		return Invalid("prompt_too_long", p, "The prompt is %d characters long; the limit is %d.", n, MaxPromptRunes)
	}
	if err := r.checkFormat(); err != nil {
		return err
	}
	var err error
	if r.rng, r.frames, err = parseExtras(r.Start, r.End, r.Frames); err != nil {
		return err
	}
	if r.frames && (r.URL == "" || IsFileRef(r.URL) || IsFileData(r.URL) || r.FollowUp) {
		return Invalid(CodeInvalidFrames, "frames", "'frames' applies to the summary of a video URL.")
	}
	if !r.rng.IsZero() && (r.URL == "" || IsFileRef(r.URL) || IsFileData(r.URL)) {
		return Invalid(recap.CodeInvalidRange, "start", "'start' and 'end' apply to a video URL; summarize an uploaded file whole.")
	}
	for _, f := range []struct{ name, v string }{{"audio_language", r.AudioLanguage}, {"output_language", r.OutputLanguage}} {
		if err := CheckLanguage(f.name, f.v); err != nil {
			return err
		}
	}
	r.AudioLanguage, r.OutputLanguage = NormLang(r.AudioLanguage), NormLang(r.OutputLanguage)
	if r.URL != "" && !IsFileRef(r.URL) && !IsFileData(r.URL) {
		if err := CheckURLSyntax(r.URL, p, false); err != nil {
			return err
		}
		if err := CheckNotPlaylist(r.URL, p); err != nil {
			return err
		}
	}
	if len(r.Images) > MaxImages {
		return Invalid("too_many_images", p, "The message holds %d images; the limit is %d.", len(r.Images), MaxImages)
	}
	for _, im := range r.Images {
		if err := CheckURLSyntax(im, p, true); err != nil {
			return err
		}
	}
	if r.URL == "" && len(r.Images) == 0 {
		return Invalid("missing_video_url", p, "No video URL found: send a 'video_url' part, or put an http(s) URL of a video in the message text.")
	}
	total := 0
	for i, m := range r.History {
		if err := CheckText(fmt.Sprintf("%s[%d].content", p, i), m.Content); err != nil {
			return err
		}
		total += utf8.RuneCountInString(m.Content)
	}
	if total > MaxHistoryRunes {
		return Invalid("conversation_too_long", p, "The conversation is %d characters long; the limit is %d.", total, MaxHistoryRunes)
	}
	return nil
}

// Submit decides how a summary (or follow-up) request is answered and
// starts that: from the summary cache (recorded as a job of its own), by
// attaching to the same request's running job, or by a new job. An
// Idempotency-Key repeated with the same request answers with the first
// request's job; with another request, KindConflict.
func (s *Service) Submit(ctx context.Context, r SummarizeRequest) (*Submission, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	model, err := s.ResolveModel(r.Model)
	if err != nil {
		return nil, err
	}
	key := r.Caller
	j := &recap.Job{AccountID: key.AccountID, APIKeyID: key.ID, Kind: "summary", Queue: jobs.QueueInteractive, URL: r.URL, Prompt: r.Prompt,
		Model: model, AudioLanguage: r.AudioLanguage, OutputLanguage: r.OutputLanguage, Images: r.Images,
		Stream: r.Stream, Refresh: r.Refresh, Frames: r.frames}
	if err := r.applyFormat(model, j); err != nil {
		return nil, err
	}
	if r.FollowUp {
		j.Kind = "answer"
		j.History = append(j.History, r.History...)
	}
	if IsFileRef(r.URL) || IsFileData(r.URL) {
		if err := s.fileJob(ctx, &r, j); err != nil {
			return nil, err
		}
	} else if r.URL != "" {
		if j.VideoKey, err = videoKey(r.URL, r.param()); err != nil {
			return nil, err
		}
		if err := s.applyRange(ctx, r.rng, j); err != nil {
			return nil, err
		}
	}
	for _, im := range r.Images {
		if strings.HasPrefix(im, "data:") {
			continue
		}
		if err := s.admit(ctx, im, r.param(), purposeImage); err != nil {
			return nil, err
		}
	}
	j.RequestHash = requestHash(j)
	sub := &Submission{Model: ReplyModel(r.Model, model)}
	idem := r.Idempotency.Key
	// Without an Idempotency-Key a cache hit is answered and recorded in one
	// statement; with one, the plan only reads, and is carried out by the
	// request that claims the key.
	pl, planErr := s.plan(ctx, key, j, r.param(), idem == "")
	if idem != "" {
		// The plan is made before the key is claimed, so that a replay is
		// never refused for what happened since (a balance the first
		// request spent); it is carried out only by the claiming request.
		ids, again, err := s.cfg.Store.Idempotent(ctx, key.AccountID, idem, r.Idempotency.Digest, s.cfg.IdempotencyTTL,
			func(ctx context.Context, tx *store.JobTx) ([]string, error) {
				if planErr != nil {
					return nil, planErr
				}
				var err error
				switch {
				case pl.cached != nil:
					err = tx.CreateCachedJob(ctx, j, pl.cached)
				case pl.attach != nil:
					j = pl.attach
				default:
					err = tx.AdmitJob(ctx, j, pl.admit)
				}
				if err != nil {
					return nil, quotaError(err)
				}
				return []string{j.ID}, nil
			})
		if err != nil {
			return nil, err
		}
		if again {
			return s.replay(ctx, key, ids, sub)
		}
		if pl.cached == nil && pl.attach == nil {
			if err := s.cfg.Jobs.Start(ctx, j); err != nil {
				return nil, err
			}
		}
	} else {
		if planErr != nil {
			return nil, planErr
		}
		switch {
		case pl.cached != nil: // recorded by plan
		case pl.attach != nil:
			j = pl.attach
		default:
			// Admitted under the account's lock (the balance covers the
			// smallest price beside the unpriced jobs, or the token hold is
			// placed), then started.
			if err := s.cfg.Store.AdmitJob(ctx, j, pl.admit); err != nil {
				return nil, quotaError(err)
			}
			if err := s.cfg.Jobs.Start(ctx, j); err != nil {
				return nil, err
			}
		}
	}
	sub.Job = j
	if sm := pl.cached; sm != nil {
		sub.CacheHit = true
		sub.Result = &recap.Result{Markdown: sm.Markdown, Model: sm.Model, PromptTokens: sm.PromptTokens,
			CompletionTokens: sm.CompletionTokens, Cached: true, Truncated: sm.Truncated}
	}
	return sub, nil
}

// plan decides how to answer j. It writes nothing, except that with
// record a cache hit is recorded as j in the same statement that finds it.
// An empty balance refuses new paid work at once; a URL about to be
// fetched is checked against the network policy.
func (s *Service) plan(ctx context.Context, key *recap.Caller, j *recap.Job, param string, record bool) (plan, error) {
	// A summary made before for the same video, prompt, model and languages
	// answers at once, free, without the queue. A request for frames goes
	// to the worker even so: its summary stage finds the cached summary,
	// then makes the job's frames.
	if !j.Refresh && !j.Frames && j.Kind == "summary" && j.URL != "" {
		var sm *store.Summary
		var err error
		promptHash := jobs.PromptHash(j.Prompt, j.Images)
		if record {
			sm, err = s.cfg.Hits.CreateJobFromCache(ctx, j, promptHash)
		} else {
			sm, err = s.cfg.Store.CachedSummary(ctx, j.VideoKey, j.AudioLanguage, j.Range, promptHash, j.Model, j.OutputLanguage)
		}
		if err == nil {
			return plan{cached: sm}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return plan{}, err
		}
	}
	bal, err := s.cfg.Store.Balance(ctx, key.AccountID)
	if err != nil {
		return plan{}, err
	}
	// Every request that will call a model needs credit: follow-ups and
	// image questions too. A new video needs at least the smallest price
	// beside what the account's unpriced running jobs will take.
	if bal.Available <= 0 {
		return plan{}, errEmptyBalance
	}
	if j.Kind == "summary" && j.URL != "" && bal.Available-MinPrice*bal.Unpriced < MinPrice {
		return plan{}, InsufficientQuota(fmt.Sprintf("Your balance of %d s cannot cover one more video: %d of your jobs are not priced yet "+
			"and each takes at least %d s. Wait for them to finish, or ask the operator to grant more minutes.", bal.Available, bal.Unpriced, MinPrice))
	}
	// The same request again (a client retrying after job_still_running)
	// attaches to the job already running instead of starting another.
	if !j.Refresh {
		prev, err := s.cfg.Store.ActiveJobByHash(ctx, key.AccountID, j.RequestHash)
		if err == nil {
			return plan{attach: prev}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return plan{}, err
		}
	}
	if j.URL != "" && !IsFileRef(j.URL) {
		if err := s.admit(ctx, j.URL, param, purposeVideo); err != nil {
			return plan{}, err
		}
	}
	adm, err := s.admission(ctx, j)
	if err != nil {
		return plan{}, err
	}
	if adm.Hold > bal.Available {
		return plan{}, quotaError(&store.QuotaError{Available: bal.Available, Hold: adm.Hold})
	}
	return plan{admit: adm}, nil
}

// replay answers a repeated idempotent request with the first request's
// job: a finished one with its result or error, a running one to follow.
func (s *Service) replay(ctx context.Context, key *recap.Caller, ids []string, sub *Submission) (*Submission, error) {
	list, err := s.cfg.Store.AccountJobs(ctx, key.AccountID, ids)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("idempotent replay: %d jobs for a completion", len(list))
	}
	j := &list[0]
	sub.Job, sub.Replayed = j, true
	switch j.State {
	case recap.StateSucceeded:
		var sm *store.Summary
		if j.SummaryID != nil {
			if sm, err = s.cfg.Store.Summary(ctx, *j.SummaryID); err != nil {
				return nil, err
			}
		}
		sub.Result = ResultOf(j, sm)
	case recap.StateFailed, recap.StateCanceled:
		sub.Failed = JobError(&recap.ErrorInfo{Code: j.ErrorCode, Message: j.ErrorMessage})
	}
	return sub, nil
}

// ResultOf rebuilds a succeeded job's result from its row, as the job's
// result event carried it, so a replay answers exactly as the first reply
// did even after the event stream has expired.
func ResultOf(j *recap.Job, sm *store.Summary) *recap.Result {
	r := &recap.Result{Markdown: j.ResultMarkdown, Model: j.ResultModel, PromptTokens: j.PromptTokens, CompletionTokens: j.CompletionTokens}
	if sm != nil {
		r.Markdown, r.Model, r.Truncated = sm.Markdown, sm.Model, sm.Truncated
		if j.ResultMarkdown != "" { // the job's own: the summary with its frames
			r.Markdown = j.ResultMarkdown
		}
		r.Chapters = append(r.Chapters, sm.Chapters...)
	}
	return r
}

// requestHash identifies a request for attaching repeats to a running job:
// a SHA-256 of its fields, each length-prefixed (so no two requests share
// an encoding), in hex.
func requestHash(j *recap.Job) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	field := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		io.WriteString(h, s) //nolint:errcheck // a hash never fails
	}
	for _, f := range []string{j.Kind, j.VideoKey, j.URL, j.Prompt, j.Model, j.AudioLanguage, j.OutputLanguage} {
		field(f)
	}
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(j.Images)))])
	for _, im := range j.Images {
		field(im)
	}
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(j.History)))])
	for _, m := range j.History {
		field(m.Role)
		field(m.Content)
	}
	if j.Frames {
		field("frames")
	}
	if !j.Range.IsZero() {
		field("range")
		field(strconv.FormatFloat(j.Range.Start, 'g', -1, 64))
		field(strconv.FormatFloat(j.Range.End, 'g', -1, 64))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
