package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// BatchRequest asks for the summaries of many videos as background jobs.
type BatchRequest struct {
	Caller *recap.Caller
	URLs   []string
	// Files are uploaded files to summarize besides the URLs: file ids
	// ("file-…") or inline content (data: URLs). A URL entry may also be a
	// file id.
	Files          []string
	Prompt         string
	Model          string
	AudioLanguage  string
	OutputLanguage string
	WebhookURL     string
	Refresh        bool
	Idempotency    Idempotency
	// Start and End ask for the same part of every video (see
	// SummarizeRequest); Validate reads them into rng.
	Start, End json.RawMessage
	rng        recap.Range
	// Frames asks for frames of every video (see SummarizeRequest).
	Frames json.RawMessage
	frames bool
	// inTx, when set, runs in the transaction that stores the jobs, after
	// them (a subscription records its entries); its error rolls all back.
	// It needs an Idempotency key, whose transaction it joins.
	inTx func(ctx context.Context, tx *store.JobTx, list []*recap.Job) error
}

// Batch is the jobs a BatchRequest made (or, Replayed, the jobs the first
// request with the same Idempotency-Key made, as they are now).
type Batch struct {
	Jobs     []recap.View
	Replayed bool
}

// CreateJobs validates a batch, checks every URL against the network
// policy and the balance, then stores and queues all its jobs at once. A
// job that could not be queued is already failed, and shown so.
func (s *Service) CreateJobs(ctx context.Context, r BatchRequest) (*Batch, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	model, err := s.ResolveModel(r.Model)
	if err != nil {
		return nil, err
	}
	if err := s.admitWebhook(ctx, r.WebhookURL); err != nil {
		return nil, err
	}
	key := r.Caller
	batch := make([]*recap.Job, 0, len(r.URLs))
	// A batch is mostly many videos of a few sites: each host's addresses
	// are checked once.
	admitted := map[string]bool{}
	for i, u := range append(slices.Clone(r.URLs), r.Files...) {
		u = strings.TrimSpace(u)
		param := batchParam(&r, i)
		var vk, title string
		var err error
		if IsFileRef(u) || IsFileData(u) {
			u, vk, title, err = s.batchFile(ctx, key, u, param)
		} else {
			vk, err = videoKey(u, param)
			host := ""
			if pu, perr := url.Parse(u); perr == nil {
				host = pu.Hostname()
			}
			if err == nil && !admitted[host] {
				if err = s.admit(ctx, u, param, purposeVideo); err == nil && host != "" {
					admitted[host] = true
				}
			}
		}
		if err != nil {
			return nil, err
		}
		j := &recap.Job{AccountID: key.AccountID, APIKeyID: key.ID, Queue: jobs.QueueBatch, URL: u, VideoKey: vk, Title: title,
			Prompt: strings.TrimSpace(r.Prompt), Model: model, AudioLanguage: NormLang(r.AudioLanguage),
			OutputLanguage: NormLang(r.OutputLanguage), WebhookURL: r.WebhookURL, Refresh: r.Refresh, Frames: r.frames}
		if IsFileRef(u) && r.frames {
			return nil, Invalid(CodeInvalidFrames, "frames", "'frames' applies to video URLs; %s is an uploaded file.", param)
		}
		if IsFileRef(u) && !r.rng.IsZero() {
			return nil, Invalid(recap.CodeInvalidRange, "start", "'start' and 'end' apply to video URLs; %s is an uploaded file.", param)
		}
		if err := s.applyRange(ctx, r.rng, j); err != nil {
			return nil, err
		}
		j.RequestHash = requestHash(j)
		batch = append(batch, j)
	}
	return s.startBatch(ctx, r, batch, nil)
}

// Validate checks a batch without the network or the database: counts,
// text, languages and URL syntax.
func (r *BatchRequest) Validate() error {
	if r.Caller == nil {
		return &Error{Kind: KindInternal, Code: "internal_error", Message: "The request has no caller."}
	}
	if n := len(r.URLs) + len(r.Files); n == 0 || n > MaxBatchURLs {
		return Invalid("invalid_urls", "urls", "'urls' and 'files' must hold 1 to %d videos together; they hold %d.", MaxBatchURLs, n)
	}
	if err := CheckText("prompt", r.Prompt); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(r.Prompt); n > MaxPromptRunes {
		return Invalid("prompt_too_long", "prompt", "The prompt is %d characters long; the limit is %d.", n, MaxPromptRunes)
	}
	for _, f := range []struct{ name, v string }{{"audio_language", r.AudioLanguage}, {"output_language", r.OutputLanguage}} {
		if err := CheckLanguage(f.name, f.v); err != nil {
			return err
		}
	}
	if r.WebhookURL != "" {
		if err := CheckURLSyntax(r.WebhookURL, "webhook_url", false); err != nil {
			return err
		}
	}
	for i, u := range append(slices.Clone(r.URLs), r.Files...) {
		if err := checkBatchRef(strings.TrimSpace(u), batchParam(r, i), i >= len(r.URLs)); err != nil {
			return err
		}
	}
	var err error
	if r.rng, r.frames, err = parseExtras(r.Start, r.End, r.Frames); err != nil {
		return err
	}
	if r.frames && len(r.Files) > 0 {
		return Invalid(CodeInvalidFrames, "frames", "'frames' applies to video URLs; uploaded files are summarized without frames.")
	}
	if !r.rng.IsZero() && len(r.Files) > 0 {
		return Invalid(recap.CodeInvalidRange, "start", "'start' and 'end' apply to video URLs; summarize uploaded files whole.")
	}
	return nil
}

// startBatch checks the balance, then stores the batch's jobs (under the
// request's Idempotency-Key, when it has one) and queues those it covers.
// rec, when set, is stored with the jobs in the same transaction (a
// playlist's batch record).
func (s *Service) startBatch(ctx context.Context, r BatchRequest, batch []*recap.Job, rec *store.Batch) (*Batch, error) {
	key := r.Caller
	var balErr error
	bal, err := s.cfg.Store.Balance(ctx, key.AccountID)
	switch {
	case err != nil:
		balErr = err
	case bal.Available <= 0:
		balErr = errEmptyBalance
	case bal.Available-MinPrice*bal.Unpriced < MinPrice:
		balErr = InsufficientQuota(fmt.Sprintf("Your balance of %d s cannot cover one more video: %d of your jobs are not priced yet "+
			"and each takes at least %d s.", bal.Available, bal.Unpriced, MinPrice))
	}
	// The jobs past what the balance covers at the smallest price are
	// stored failed, never queued: no download starts that the ledger
	// would refuse afterwards.
	run, refused := batch, []*recap.Job(nil)
	if balErr == nil {
		if covered := bal.Available/MinPrice - bal.Unpriced; covered < int64(len(batch)) {
			run, refused = batch[:covered], batch[covered:]
		}
	}
	start := func() {
		s.cfg.Jobs.Refuse(ctx, refused, recap.CodeInsufficientQuota, fmt.Sprintf(
			"Not started: your balance of %d s covers %d of the %d videos of this batch at the smallest price of %d s each.",
			bal.Available, len(run), len(batch), MinPrice))
	}
	if idem := r.Idempotency.Key; idem != "" {
		// A replay is answered with the first request's jobs as they are
		// now, whatever the balance has become since.
		ids, again, err := s.cfg.Store.Idempotent(ctx, key.AccountID, idem, r.Idempotency.Digest, s.cfg.IdempotencyTTL,
			func(ctx context.Context, tx *store.JobTx) ([]string, error) {
				if balErr != nil {
					return nil, balErr
				}
				create := tx.CreateJobs
				if rec != nil {
					create = func(ctx context.Context, list []*recap.Job) error { return tx.CreateBatch(ctx, rec, list) }
				}
				if err := create(ctx, batch); err != nil {
					return nil, err
				}
				if r.inTx != nil {
					if err := r.inTx(ctx, tx, batch); err != nil {
						return nil, err
					}
				}
				ids := make([]string, 0, len(batch))
				for _, j := range batch {
					ids = append(ids, j.ID)
				}
				return ids, nil
			})
		if err != nil {
			return nil, err
		}
		if again {
			list, err := s.cfg.Store.AccountJobs(ctx, key.AccountID, ids)
			if err != nil {
				return nil, err
			}
			views := make([]recap.View, 0, len(list))
			for i := range list {
				v, err := s.View(ctx, &list[i])
				if err != nil {
					return nil, err
				}
				views = append(views, v)
			}
			return &Batch{Jobs: views, Replayed: true}, nil
		}
		start()
		s.cfg.Jobs.StartAll(ctx, run) // already stored with the key
	} else {
		if balErr != nil {
			return nil, balErr
		}
		create := s.cfg.Store.CreateJobs
		if rec != nil {
			create = func(ctx context.Context, list []*recap.Job) error { return s.cfg.Store.CreateBatch(ctx, rec, list) }
		}
		if err := create(ctx, batch); err != nil {
			return nil, err
		}
		start()
		s.cfg.Jobs.StartAll(ctx, run)
	}
	views := make([]recap.View, 0, len(batch))
	for _, j := range batch {
		views = append(views, jobs.ViewOf(j, nil))
	}
	return &Batch{Jobs: views}, nil
}
