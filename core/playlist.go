package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
	"github.com/recap/recap/textclean"
)

// Playlist limits: how many entries one request expands.
const (
	DefaultPlaylistLimit = 50
	MaxPlaylistLimit     = media.MaxPlaylistEntries
)

// Playlists lists up to limit entries of a playlist, channel, feed or
// multi-part video (a *jobs.Client, whose worker runs yt-dlp). A failure
// the caller caused or the site reported is a *recap.ErrorInfo.
type Playlists interface {
	ExpandPlaylist(ctx context.Context, url string, limit int) (*jobs.Playlist, error)
}

// PlaylistRequest asks for one job per entry of a playlist. The
// embedded BatchRequest gives the jobs' prompt, model, languages, webhook
// and Idempotency-Key; its URLs must be empty.
type PlaylistRequest struct {
	BatchRequest
	// Playlist is the playlist's URL.
	Playlist string
	// Limit is how many entries to expand, 1 to MaxPlaylistLimit; nil
	// means DefaultPlaylistLimit.
	Limit *int
}

// SkippedEntry is a playlist entry no job was made for, and why.
type SkippedEntry struct {
	URL     string `json:"url"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PlaylistBatch is the batch a PlaylistRequest made (or, Replayed, the one
// the first request with the same Idempotency-Key made).
type PlaylistBatch struct {
	ID        string
	SourceURL string
	Title     string
	// Entries is how many entries the site reports (0 when unknown).
	Entries  int
	Jobs     []recap.View
	Skipped  []SkippedEntry
	Replayed bool
}

// CreatePlaylistJobs expands a playlist on a worker and makes one job per
// entry, admitted and priced as any batch (CreateJobs): each entry's
// address is checked against the network policy, the jobs past what the
// balance covers are stored failed, never queued. Entries that cannot be
// admitted, and repeats of one video, are skipped and listed.
func (s *Service) CreatePlaylistJobs(ctx context.Context, r PlaylistRequest) (*PlaylistBatch, error) {
	limit, err := r.validate()
	if err != nil {
		return nil, err
	}
	model, err := s.ResolveModel(r.Model)
	if err != nil {
		return nil, err
	}
	if err := s.admitWebhook(ctx, r.WebhookURL); err != nil {
		return nil, err
	}
	src := strings.TrimSpace(r.Playlist)
	if err := s.admit(ctx, src, "playlist", purposeVideo); err != nil {
		return nil, err
	}
	if s.cfg.Playlists == nil {
		return nil, &Error{Kind: KindInternal, Code: "playlists_unavailable", Message: "This server does not expand playlists."}
	}
	// An empty balance is refused before a worker spends a yt-dlp run on
	// the list; startBatch decides the rest.
	if bal, err := s.cfg.Store.Balance(ctx, r.Caller.AccountID); err != nil {
		return nil, err
	} else if bal.Available <= 0 {
		return nil, errEmptyBalance
	}
	pl, err := s.cfg.Playlists.ExpandPlaylist(ctx, src, limit)
	if err != nil {
		return nil, playlistError(err)
	}
	key := r.Caller
	title := siteText(pl.Title, 300)
	out := &PlaylistBatch{SourceURL: src, Title: title, Entries: pl.Count}
	batch := make([]*recap.Job, 0, len(pl.Entries))
	admitted, seen := map[string]bool{}, map[string]bool{}
	for i, e := range pl.Entries {
		param := "playlist.entries[" + strconv.Itoa(i) + "]"
		vk, err := s.admitEntry(ctx, e.URL, param, admitted)
		if err == nil && seen[vk] {
			err = Invalid("duplicate_entry", param, "The video is already an earlier entry of this playlist.")
		}
		if err != nil {
			ce := As(err)
			out.Skipped = append(out.Skipped, SkippedEntry{URL: e.URL, Code: ce.Code, Message: ce.Message})
			continue
		}
		seen[vk] = true
		j := &recap.Job{AccountID: key.AccountID, APIKeyID: key.ID, Queue: jobs.QueueBatch, URL: e.URL, VideoKey: vk,
			Prompt: strings.TrimSpace(r.Prompt), Model: model, AudioLanguage: NormLang(r.AudioLanguage),
			OutputLanguage: NormLang(r.OutputLanguage), WebhookURL: r.WebhookURL, Refresh: r.Refresh}
		j.RequestHash = requestHash(j)
		batch = append(batch, j)
	}
	if len(batch) == 0 {
		first := out.Skipped[0]
		return nil, Invalid("playlist_empty", "playlist", "None of the playlist's %d entries can be summarized here (the first: %s).",
			len(pl.Entries), first.Message)
	}
	rec := &store.Batch{AccountID: key.AccountID, APIKeyID: key.ID, SourceURL: src, Title: title, Entries: max(pl.Count, 0)}
	b, err := s.startBatch(ctx, r.BatchRequest, batch, rec)
	if err != nil {
		return nil, err
	}
	out.Jobs, out.Replayed = b.Jobs, b.Replayed
	if b.Replayed {
		// The first request's batch, whatever the playlist holds now.
		if len(b.Jobs) == 0 {
			return nil, errNoSuchResource
		}
		first, err := s.cfg.Store.AccountBatchOf(ctx, key.AccountID, b.Jobs[0].ID)
		if err != nil {
			return nil, err
		}
		rec = first
		out.SourceURL, out.Title, out.Entries, out.Skipped = first.SourceURL, first.Title, first.Entries, nil
	}
	out.ID = rec.ID
	return out, nil
}

// admitEntry checks one entry's URL: syntax, canonical key, and where its
// host points (each host once per playlist).
func (s *Service) admitEntry(ctx context.Context, raw, param string, admitted map[string]bool) (string, error) {
	if err := CheckURLSyntax(raw, param, false); err != nil {
		return "", err
	}
	vk, err := videoKey(raw, param)
	if err != nil {
		return "", err
	}
	host := ""
	if u, err := url.Parse(raw); err == nil {
		host = u.Host
	}
	if !admitted[host] {
		if err := s.admit(ctx, raw, param, purposeVideo); err != nil {
			return "", err
		}
		admitted[host] = true
	}
	return vk, nil
}

// validate checks a playlist request without the network and returns its
// limit.
func (r *PlaylistRequest) validate() (int, error) {
	if r.Caller == nil {
		return 0, &Error{Kind: KindInternal, Code: "internal_error", Message: "The request has no caller."}
	}
	if len(r.URLs) > 0 {
		return 0, Invalid("invalid_request", "playlist", "Send either 'urls' or 'playlist', not both.")
	}
	if rng, err := ParseRange("start", "end", r.Start, r.End); err != nil {
		return 0, err
	} else if !rng.IsZero() {
		return 0, Invalid(recap.CodeInvalidRange, "start", "'start' and 'end' apply to videos sent in 'urls', not to a playlist's entries.")
	}
	if frames, err := ParseFrames("frames", r.Frames); err != nil {
		return 0, err
	} else if frames {
		return 0, Invalid(CodeInvalidFrames, "frames", "'frames' applies to videos sent in 'urls', not to a playlist's entries.")
	}
	limit := DefaultPlaylistLimit
	if r.Limit != nil {
		limit = *r.Limit
		if limit < 1 || limit > MaxPlaylistLimit {
			return 0, Invalid("invalid_limit", "limit", "'limit' must be between 1 and %d; it is %d.", MaxPlaylistLimit, limit)
		}
	}
	src := strings.TrimSpace(r.Playlist)
	if err := CheckURLSyntax(src, "playlist", false); err != nil {
		return 0, err
	}
	// The rest as a batch of the one URL.
	br := r.BatchRequest
	br.URLs = []string{src}
	if err := br.Validate(); err != nil {
		return 0, err
	}
	return limit, nil
}

// playlistError turns a failed expansion into the caller's error.
func playlistError(err error) error {
	var pe *recap.ErrorInfo
	switch {
	case errors.As(err, &pe):
		switch pe.Code {
		case recap.CodeNotAPlaylist:
			return &Error{Kind: KindInvalid, Code: pe.Code, Param: "playlist", NoRetry: true,
				Message: "No playlist, channel or feed was found at this URL; send a single video in 'urls' instead."}
		case recap.CodeURLNotAllowed:
			return &Error{Kind: KindInvalid, Code: pe.Code, Param: "playlist", Message: capitalize(pe.Message) + "."}
		}
		e := JobError(pe)
		e.Param = "playlist"
		e.Message = capitalize(pe.Message) + "."
		if e.Kind == KindInternal {
			e.Kind = KindUpstream
		}
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Code: "timeout", Param: "playlist", RetryAfter: 30,
			Message: "No worker listed the playlist in time; try again later."}
	}
	return err
}

// siteText makes text a site sent storable: valid UTF-8 without NUL
// characters, at most n runes.
func siteText(s string, n int) string {
	s = textclean.String(s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// BatchState is a batch as its owner sees it: how many of its jobs are
// in each state, and the jobs in the playlist's order.
type BatchState struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"`
	URL       string         `json:"url"`
	Title     string         `json:"title,omitempty"`
	Entries   int            `json:"entries,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	Total     int            `json:"total"`
	Counts    map[string]int `json:"counts"`
	Jobs      []recap.View   `json:"jobs"`
}

// batchStates are the keys of BatchState.Counts, every one present.
var batchStates = []string{recap.StateQueued, recap.StateResolving, recap.StateTranscribing, recap.StateSummarizing,
	recap.StateSucceeded, recap.StateFailed, recap.StateCanceled}

// GetBatch returns the caller's batch; another account's batch is not
// found.
func (s *Service) GetBatch(ctx context.Context, c *recap.Caller, id string) (*BatchState, error) {
	b, err := s.cfg.Store.AccountBatch(ctx, c.AccountID, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, NotFound("batch_not_found", "No batch %q.", truncate(id, 64))
		}
		return nil, err
	}
	list, err := s.cfg.Store.AccountJobs(ctx, c.AccountID, b.JobIDs)
	if err != nil {
		return nil, err
	}
	out := &BatchState{ID: b.ID, Object: "batch", URL: b.SourceURL, Title: b.Title, Entries: b.Entries, CreatedAt: b.CreatedAt,
		Total: len(list), Counts: make(map[string]int, len(batchStates)), Jobs: make([]recap.View, 0, len(list))}
	for _, st := range batchStates {
		out.Counts[st] = 0
	}
	for i := range list {
		out.Counts[list[i].State]++
		v, err := s.View(ctx, &list[i])
		if err != nil {
			return nil, err
		}
		out.Jobs = append(out.Jobs, v)
	}
	return out, nil
}

// CheckNotPlaylist refuses, without the network, a URL whose shape says
// it is a playlist, a channel or a feed where one video is expected; a
// playlist only resolving finds fails its job with the same code.
func CheckNotPlaylist(rawURL, param string) error {
	if !media.IsPlaylistURL(rawURL) {
		return nil
	}
	return &Error{Kind: KindInvalid, Code: recap.CodePlaylistNotSupported, Param: param, NoRetry: true,
		Message: fmt.Sprintf("%q is a playlist, channel or feed, not one video. Send one video's URL, or summarize every video "+
			`with the jobs API: POST /api/v1/jobs {"playlist": "<URL>", "limit": N}, then GET /api/v1/batches/{id}.`, truncate(rawURL, 100))}
}
