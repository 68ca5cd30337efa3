package core

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Job returns the caller's job; anyone else's is KindNotFound.
func (s *Service) Job(ctx context.Context, c *recap.Caller, id string) (*recap.Job, error) {
	return s.cfg.Store.AccountJob(ctx, c.AccountID, id)
}

// View renders a job as clients see it, with its summary when it has one.
func (s *Service) View(ctx context.Context, j *recap.Job) (recap.View, error) {
	var sm *store.Summary
	if j.SummaryID != nil {
		var err error
		if sm, err = s.cfg.Store.Summary(ctx, *j.SummaryID); err != nil {
			return recap.View{}, err
		}
	}
	return jobs.ViewOf(j, sm), nil
}

// JobView is Job then View.
func (s *Service) JobView(ctx context.Context, c *recap.Caller, id string) (recap.View, error) {
	j, err := s.Job(ctx, c, id)
	if err != nil {
		return recap.View{}, err
	}
	return s.View(ctx, j)
}

// Cancel ends the caller's queued or running job as canceled and returns
// it as it is now; a job that had ended is returned unchanged.
func (s *Service) Cancel(ctx context.Context, c *recap.Caller, id string) (recap.View, error) {
	j, err := s.Job(ctx, c, id)
	if err != nil {
		return recap.View{}, err
	}
	if _, err := s.cfg.Jobs.Cancel(ctx, j); err != nil {
		return recap.View{}, err
	}
	return s.JobView(ctx, c, id)
}

// ListRequest pages through the caller's jobs, newest first.
type ListRequest struct {
	Caller *recap.Caller
	// State filters by state ("" for all).
	State string
	// Limit is the page size, 1 to 100 (0: 20).
	Limit int
	// Cursor is a page's NextCursor.
	Cursor string
}

// Page is one page of jobs.
type Page struct {
	Jobs       []recap.View
	HasMore    bool
	NextCursor string
}

// ListJobs returns a page of the caller's jobs.
func (s *Service) ListJobs(ctx context.Context, r ListRequest) (*Page, error) {
	f := store.JobFilter{AccountID: r.Caller.AccountID, State: r.State, Limit: 20}
	if f.State != "" && !ValidState(f.State) {
		return nil, Invalid("invalid_state", "state", "'state' must be one of queued, resolving, transcribing, summarizing, succeeded, failed, canceled.")
	}
	pg, err := readPage(r.Limit, r.Cursor)
	if err != nil {
		return nil, err
	}
	f.Limit, f.BeforeTime, f.BeforeID = pg.limit, pg.beforeTime, pg.beforeID
	list, err := s.cfg.Store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	p := &Page{HasMore: len(list) == f.Limit, Jobs: make([]recap.View, 0, len(list))}
	if p.HasMore {
		list = list[:f.Limit-1]
	}
	for i := range list {
		v, err := s.View(ctx, &list[i])
		if err != nil {
			return nil, err
		}
		p.Jobs = append(p.Jobs, v)
	}
	if p.HasMore {
		p.NextCursor = EncodeCursor(&list[len(list)-1])
	}
	return p, nil
}

// ValidState reports whether s names a job state.
func ValidState(s string) bool {
	switch s {
	case recap.StateQueued, recap.StateResolving, recap.StateTranscribing, recap.StateSummarizing,
		recap.StateSucceeded, recap.StateFailed, recap.StateCanceled:
		return true
	}
	return false
}

// EncodeCursor is the page cursor that continues after j.
func EncodeCursor(j *recap.Job) string {
	return base64.RawURLEncoding.EncodeToString([]byte(j.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + j.ID))
}

// page is a listing's checked paging: one row more than asked (to tell
// whether there is a next page) before an optional cursor.
type page struct {
	limit      int
	beforeTime *time.Time
	beforeID   string
}

// readPage checks a listing's limit (1 to 100, default 20) and cursor,
// for every listing paged like jobs.
func readPage(limit int, cursor string) (page, error) {
	p := page{limit: 20}
	if limit != 0 {
		if limit < 1 || limit > 100 {
			return page{}, Invalid("invalid_limit", "limit", "'limit' must be an integer from 1 to 100.")
		}
		p.limit = limit
	}
	if cursor != "" {
		t, id, ok := DecodeCursor(cursor)
		if !ok {
			return page{}, Invalid("invalid_cursor", "cursor", "'cursor' is not a cursor this API returned.")
		}
		p.beforeTime, p.beforeID = &t, id
	}
	p.limit++ // one more tells whether there is a next page
	return p, nil
}

// DecodeCursor reads a cursor EncodeCursor made.
func DecodeCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, id, err == nil
}

// EventsFrom is where a caller's job event stream starts.
type EventsFrom struct {
	Job *recap.Job
	// Expired is set when the job ended long ago and its stream is gone:
	// the door answers with View instead.
	Expired bool
	View    recap.View
}

// JobEvents prepares following the caller's job from an event id ("0":
// from the start).
func (s *Service) JobEvents(ctx context.Context, c *recap.Caller, id, after string) (*EventsFrom, error) {
	j, err := s.Job(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !ValidEventID(after) {
		return nil, Invalid("invalid_event_id", "Last-Event-ID", "Last-Event-ID must be an event id this API sent.")
	}
	out := &EventsFrom{Job: j}
	// A job that ended long ago may have an expired stream: then its final
	// state comes from the job row.
	if recap.Terminal(j.State) {
		evs, err := s.Events().Read(ctx, j.ID, "0", -1)
		if err == nil && len(evs) == 0 {
			if out.View, err = s.View(ctx, j); err == nil {
				out.Expired = true
			}
		}
	}
	return out, nil
}

// ValidEventID reports whether id is "0" or a Redis stream entry id.
func ValidEventID(id string) bool {
	if id == "0" {
		return true
	}
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// Transcript formats.
const (
	FormatJSON = "json"
	FormatSRT  = "srt"
	FormatVTT  = "vtt"
	FormatTXT  = "txt"
)

// Transcript returns the transcript of the caller's job, to be written
// in format (checked here).
func (s *Service) Transcript(ctx context.Context, c *recap.Caller, id, format string) (*recap.Job, *recap.Transcript, error) {
	j, err := s.Job(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckTranscriptFormat(format); err != nil {
		return nil, nil, err
	}
	if j.TranscriptID == nil {
		return nil, nil, NotFound("transcript_not_ready", "Job %s has no transcript (state %s).", j.ID, j.State)
	}
	t, err := s.cfg.Store.Transcript(ctx, *j.TranscriptID)
	if err != nil {
		return nil, nil, err
	}
	return j, t, nil
}

// CheckTranscriptFormat refuses a format FormatTranscript cannot write.
func CheckTranscriptFormat(format string) error {
	switch format {
	case FormatJSON, FormatSRT, FormatVTT, FormatTXT:
		return nil
	}
	return Invalid("invalid_format", "format", "'format' must be json, srt, vtt or txt.")
}

// FormatTranscript writes a transcript as srt, vtt or txt and returns the
// text and its content type.
func FormatTranscript(t *recap.Transcript, format string) (string, string) {
	var b strings.Builder
	switch format {
	case FormatSRT:
		for i, sg := range t.Segments {
			fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, recap.ClockMillis(sg.Start, ","), recap.ClockMillis(sg.End, ","), SpokenText(sg))
		}
		return b.String(), "application/x-subrip; charset=utf-8"
	case FormatVTT:
		cues := make([]vttCue, len(t.Segments))
		for i, sg := range t.Segments {
			cues[i] = vttCue{Start: sg.Start, End: sg.End, Voice: sg.Speaker, Text: sg.Text}
		}
		writeVTT(&b, cues)
		return b.String(), "text/vtt; charset=utf-8"
	}
	for _, sg := range t.Segments {
		fmt.Fprintf(&b, "[%s] %s\n", recap.Clock(sg.Start), SpokenText(sg))
	}
	return b.String(), "text/plain; charset=utf-8"
}

// SpokenText is a segment's text, prefixed "Alice: " when its speaker is
// known, as the transcript exports and the model's prompt show it.
func SpokenText(sg recap.Segment) string {
	if sp := speakerName(sg.Speaker); sp != "" {
		return sp + ": " + sg.Text
	}
	return sg.Text
}

// speakerName is a speaker label on one line, without characters that
// would end a WebVTT voice tag.
func speakerName(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer(">", "", "<", "", "&", "").Replace(s)), " ")
}

// Account is the caller's balance.
func (s *Service) Account(ctx context.Context, c *recap.Caller) (*store.Balance, error) {
	return s.cfg.Store.Balance(ctx, c.AccountID)
}

// Limits is the cap on an account's running stages and its use of it.
type Limits struct {
	// MaxActiveJobs is how many of the account's jobs run a stage at once
	// across all workers (0: no cap); the others wait for a slot.
	MaxActiveJobs int
	// ActiveJobs run a stage now; WaitingJobs were put back for want of a
	// slot and have not run since.
	ActiveJobs, WaitingJobs int
}

// AccountLimits returns the caller's account's cap on running stages and
// its use. With no cap, the use is not tracked: it is zero.
func (s *Service) AccountLimits(ctx context.Context, c *recap.Caller) (Limits, error) {
	if s.cfg.Slots == nil || s.cfg.Slots.Max() <= 0 {
		return Limits{}, nil
	}
	l := Limits{MaxActiveJobs: s.cfg.Slots.Max()}
	u, err := s.cfg.Slots.Usage(ctx, c.AccountID)
	if err != nil {
		return l, err
	}
	l.ActiveJobs, l.WaitingJobs = u.Active, u.Waiting
	return l, nil
}

// TranscriptByURL returns the newest transcript of a video in a language
// ("" for the one detected), as any caller may have made it: transcripts,
// like summaries, are shared by everyone who asks for the same video.
func (s *Service) TranscriptByURL(ctx context.Context, rawURL, language string) (*recap.Transcript, error) {
	if err := CheckURLSyntax(rawURL, "url", false); err != nil {
		return nil, err
	}
	if err := CheckLanguage("language", language); err != nil {
		return nil, err
	}
	key, err := videoKey(rawURL, "url")
	if err != nil {
		return nil, err
	}
	t, err := s.cfg.Store.LatestTranscript(ctx, key, NormLang(language))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, NotFound("transcript_not_ready", "There is no transcript of %s yet: summarize it first.", truncate(rawURL, 100))
		}
		return nil, err
	}
	return t, nil
}
