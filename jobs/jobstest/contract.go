package jobstest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// StoreDriver is a jobs.Store under test, with the two set-up calls the
// contract needs that jobs.Store does not offer.
type StoreDriver struct {
	Store jobs.Store
	// NewAccount returns a new account holding seconds of credit.
	NewAccount func(t testing.TB, seconds int64) int64
	// Balance returns an account's available and held seconds.
	Balance func(t testing.TB, accountID int64) (available, held int64)
}

// FakeDriver returns a StoreDriver over a fresh in-memory Store.
func FakeDriver(testing.TB) *StoreDriver {
	s := NewStore()
	var next atomic.Int64
	return &StoreDriver{
		Store: s,
		NewAccount: func(_ testing.TB, seconds int64) int64 {
			id := next.Add(1)
			s.Grant(id, seconds)
			return id
		},
		Balance: func(_ testing.TB, accountID int64) (int64, int64) { return s.Balance(accountID) },
	}
}

// RunStoreContract checks that a jobs.Store behaves as the stages rely
// on, in the style of River's riverdrivertest: store.Store (on Postgres)
// and the in-memory Store both run it, so a stage test on the fake proves
// something about the real thing. newDriver is called once per subtest
// and must return an isolated store.
func RunStoreContract(t *testing.T, newDriver func(t *testing.T) *StoreDriver) {
	t.Helper()
	ctx := context.Background()

	// setup returns a fresh driver and an account with 100 seconds.
	setup := func(t *testing.T) (*StoreDriver, int64) {
		t.Helper()
		t.Parallel()
		d := newDriver(t)
		return d, d.NewAccount(t, 100)
	}
	newJob := func(t *testing.T, d *StoreDriver, account int64, edit func(*recap.Job)) *recap.Job {
		t.Helper()
		j := &recap.Job{AccountID: account, URL: "https://example.test/v", VideoKey: "generic:" + uuid.NewString(), Model: "m"}
		if edit != nil {
			edit(j)
		}
		if err := d.Store.CreateJob(ctx, j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		return j
	}
	// video saves a video a transcript can belong to.
	video := func(t *testing.T, d *StoreDriver, key string) {
		t.Helper()
		if err := d.Store.SaveVideo(ctx, &store.Video{Key: key, URL: "https://example.test/" + key}); err != nil {
			t.Fatalf("SaveVideo: %v", err)
		}
	}
	get := func(t *testing.T, d *StoreDriver, id string) *recap.Job {
		t.Helper()
		j, err := d.Store.Job(ctx, id)
		if err != nil {
			t.Fatalf("Job(%s): %v", id, err)
		}
		return j
	}
	start := func(t *testing.T, d *StoreDriver, id, state string) (store.Attempt, bool) {
		t.Helper()
		a, ok, err := d.Store.StartStage(ctx, id, state)
		if err != nil {
			t.Fatalf("StartStage(%s): %v", state, err)
		}
		return a, ok
	}
	finish := func(t *testing.T, d *StoreDriver, id string, o store.Outcome) bool {
		t.Helper()
		ok, err := d.Store.Finish(ctx, id, o)
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		return ok
	}
	balance := func(t *testing.T, d *StoreDriver, account, wantAvail, wantHeld int64) {
		t.Helper()
		if a, h := d.Balance(t, account); a != wantAvail || h != wantHeld {
			t.Fatalf("balance = %d available, %d held; want %d, %d", a, h, wantAvail, wantHeld)
		}
	}

	t.Run("CreateJobRoundTrip", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, func(j *recap.Job) {
			j.Prompt, j.AudioLanguage, j.OutputLanguage = "p", "en", "de"
			j.Images = []string{"https://example.test/a.png"}
			j.History = []recap.Message{{Role: "user", Content: "hi"}}
			j.Stream, j.Refresh, j.Frames, j.TokenPrice = true, true, true, 0.5
			j.WebhookURL, j.RequestHash = "https://example.test/hook", "h1"
		})
		if _, err := uuid.Parse(j.ID); err != nil || len(j.ID) != 36 {
			t.Fatalf("ID %q is not a UUID", j.ID)
		}
		if j.State != recap.StateQueued || j.CreatedAt.IsZero() || j.UpdatedAt.IsZero() {
			t.Fatalf("created job: state %q, created %v, updated %v", j.State, j.CreatedAt, j.UpdatedAt)
		}
		if j.Kind != recap.KindSummary || j.Queue != jobs.QueueInteractive {
			t.Fatalf("defaults: kind %q queue %q", j.Kind, j.Queue)
		}
		got := get(t, d, j.ID)
		if got.URL != j.URL || got.VideoKey != j.VideoKey || got.Model != "m" || got.Prompt != "p" || got.AccountID != acct ||
			got.AudioLanguage != "en" || got.OutputLanguage != "de" || !got.Stream || !got.Refresh || !got.Frames ||
			got.TokenPrice != 0.5 || got.WebhookURL != j.WebhookURL || got.RequestHash != "h1" || got.Kind != recap.KindSummary ||
			!reflect.DeepEqual(got.Images, j.Images) || !reflect.DeepEqual(got.History, j.History) || got.State != recap.StateQueued {
			t.Fatalf("Job = %+v, created %+v", got, j)
		}
	})

	t.Run("CreateJobs", func(t *testing.T) {
		d, acct := setup(t)
		list := []*recap.Job{{AccountID: acct, URL: "u1"}, {AccountID: acct, URL: "u2", Kind: recap.KindAnswer, Queue: jobs.QueueBatch}}
		if err := d.Store.CreateJobs(ctx, list); err != nil {
			t.Fatal(err)
		}
		if list[0].ID == "" || list[0].ID == list[1].ID {
			t.Fatalf("ids %q %q", list[0].ID, list[1].ID)
		}
		for _, j := range list {
			got := get(t, d, j.ID)
			if got.URL != j.URL || got.Kind != j.Kind || got.Queue != j.Queue || got.State != recap.StateQueued {
				t.Fatalf("Job = %+v, created %+v", got, j)
			}
		}
		if err := d.Store.CreateJobs(ctx, nil); err != nil {
			t.Fatalf("no jobs: %v", err)
		}
	})

	t.Run("JobNotFound", func(t *testing.T) {
		d, _ := setup(t)
		for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
			if _, err := d.Store.Job(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Job(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})

	t.Run("StartStageCountsAttempts", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		if a, ok := start(t, d, j.ID, recap.StateResolving); !ok || a.N != 1 || a.LastErrorCode != "" {
			t.Fatalf("first run = %+v, %v", a, ok)
		}
		if err := d.Store.FailAttempt(ctx, j.ID, "upstream_error", "boom"); err != nil {
			t.Fatal(err)
		}
		a, ok := start(t, d, j.ID, recap.StateResolving)
		if !ok || a.N != 2 || a.LastErrorCode != "upstream_error" || a.LastError != "boom" {
			t.Fatalf("retry = %+v, %v", a, ok)
		}
		if got := get(t, d, j.ID); got.State != recap.StateResolving {
			t.Fatalf("state %q", got.State)
		}
		// The next stage starts its own count, without the last stage's error.
		if a, ok := start(t, d, j.ID, recap.StateTranscribing); !ok || a.N != 1 || a.LastErrorCode != "" || a.LastError != "" {
			t.Fatalf("next stage = %+v, %v", a, ok)
		}
		// A stage may be skipped (a cached transcript).
		if a, ok := start(t, d, newJob(t, d, acct, nil).ID, recap.StateSummarizing); !ok || a.N != 1 {
			t.Fatalf("skip to summarizing = %+v, %v", a, ok)
		}
	})

	t.Run("StartStageNeverMovesBack", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		start(t, d, j.ID, recap.StateTranscribing)
		for _, st := range []string{recap.StateResolving} {
			if a, ok := start(t, d, j.ID, st); ok || a != (store.Attempt{}) {
				t.Fatalf("StartStage(%s) after transcribing = %+v, %v", st, a, ok)
			}
		}
		if got := get(t, d, j.ID); got.State != recap.StateTranscribing {
			t.Fatalf("state moved back to %q", got.State)
		}
		if a, ok := start(t, d, j.ID, recap.StateTranscribing); !ok || a.N != 2 {
			t.Fatalf("the count survived a refused start: %+v, %v", a, ok)
		}
	})

	t.Run("StartStageRefusesNonStages", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		for _, st := range []string{recap.StateQueued, recap.StateSucceeded, "nonsense"} {
			if _, ok, err := d.Store.StartStage(ctx, j.ID, st); err == nil || ok {
				t.Errorf("StartStage(%q) = %v, %v; want an error", st, ok, err)
			}
		}
		if _, ok := start(t, d, uuid.NewString(), recap.StateResolving); ok {
			t.Error("a missing job started a stage")
		}
	})

	t.Run("RefundAttempt", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		start(t, d, j.ID, recap.StateResolving)
		start(t, d, j.ID, recap.StateResolving)
		// A refund names the stage it refunds: another stage's is ignored.
		if err := d.Store.RefundAttempt(ctx, j.ID, recap.StateTranscribing); err != nil {
			t.Fatal(err)
		}
		if err := d.Store.RefundAttempt(ctx, j.ID, recap.StateResolving); err != nil {
			t.Fatal(err)
		}
		if a, _ := start(t, d, j.ID, recap.StateResolving); a.N != 2 {
			t.Fatalf("after a refund the third run is attempt %d, want 2", a.N)
		}
	})

	t.Run("FinishOnce", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		start(t, d, j.ID, recap.StateSummarizing)
		if !finish(t, d, j.ID, store.Outcome{State: recap.StateSucceeded, ResultMarkdown: "# done", ResultModel: "m",
			PromptTokens: 10, CompletionTokens: 5}) {
			t.Fatal("Finish refused a running job")
		}
		if finish(t, d, j.ID, store.Outcome{State: recap.StateFailed, ErrorCode: "x", ErrorMessage: "late"}) {
			t.Fatal("a job ended twice")
		}
		got := get(t, d, j.ID)
		if got.State != recap.StateSucceeded || got.ResultMarkdown != "# done" || got.ResultModel != "m" || got.ErrorCode != "" ||
			got.PromptTokens != 10 || got.CompletionTokens != 5 || got.FinishedAt == nil || got.Progress != 100 {
			t.Fatalf("finished job = %+v", got)
		}
		for _, st := range []string{recap.StateResolving, recap.StateSummarizing} {
			if _, ok := start(t, d, j.ID, st); ok {
				t.Fatalf("an ended job started %s", st)
			}
		}
		if finish(t, d, uuid.NewString(), store.Outcome{State: recap.StateCanceled}) {
			t.Fatal("a missing job ended")
		}
	})

	t.Run("FinishFailure", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		start(t, d, j.ID, recap.StateResolving)
		if err := d.Store.SetProgress(ctx, j.ID, 40); err != nil {
			t.Fatal(err)
		}
		if !finish(t, d, j.ID, store.Outcome{State: recap.StateFailed, ErrorCode: "video_unavailable", ErrorMessage: "gone"}) {
			t.Fatal("Finish refused")
		}
		got := get(t, d, j.ID)
		if got.State != recap.StateFailed || got.ErrorCode != "video_unavailable" || got.ErrorMessage != "gone" || got.Progress != 40 {
			t.Fatalf("failed job = %+v", got)
		}
	})

	t.Run("FinishRefusesRunningStates", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		for _, st := range []string{recap.StateQueued, recap.StateSummarizing, ""} {
			if ok, err := d.Store.Finish(ctx, j.ID, store.Outcome{State: st}); err == nil || ok {
				t.Errorf("Finish(%q) = %v, %v; want an error", st, ok, err)
			}
		}
		if got := get(t, d, j.ID); got.State != recap.StateQueued {
			t.Fatalf("state %q", got.State)
		}
	})

	t.Run("FailAttemptAfterEndIgnored", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		start(t, d, j.ID, recap.StateResolving)
		finish(t, d, j.ID, store.Outcome{State: recap.StateCanceled})
		if err := d.Store.FailAttempt(ctx, j.ID, "x", "y"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, d, j.ID); got.State != recap.StateCanceled {
			t.Fatalf("state %q", got.State)
		}
	})

	t.Run("JobUpdates", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		video(t, d, j.VideoKey)
		tr := &recap.Transcript{VideoKey: j.VideoKey, Language: "en", Source: "subtitles"}
		if err := d.Store.SaveTranscript(ctx, tr); err != nil {
			t.Fatal(err)
		}
		if err := d.Store.SetProgress(ctx, j.ID, 12.5); err != nil {
			t.Fatal(err)
		}
		if err := d.Store.SetVideo(ctx, j.ID, "generic:other", "A title", 90.5); err != nil {
			t.Fatal(err)
		}
		if err := d.Store.SetTranscript(ctx, j.ID, tr.ID); err != nil {
			t.Fatal(err)
		}
		got := get(t, d, j.ID)
		if got.Progress != 12.5 || got.VideoKey != "generic:other" || got.Title != "A title" || got.Duration != 90.5 ||
			got.TranscriptID == nil || *got.TranscriptID != tr.ID || got.UpdatedAt.Before(j.UpdatedAt) {
			t.Fatalf("updated job = %+v", got)
		}
	})

	t.Run("HoldCapture", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		if err := d.Store.Hold(ctx, acct, j.ID, 30); err != nil {
			t.Fatal(err)
		}
		balance(t, d, acct, 70, 30)
		if got := get(t, d, j.ID); got.CostSeconds != 30 {
			t.Fatalf("cost %d, want 30", got.CostSeconds)
		}
		// One hold per job: a retry's second hold changes nothing.
		if err := d.Store.Hold(ctx, acct, j.ID, 50); err != nil {
			t.Fatal(err)
		}
		balance(t, d, acct, 70, 30)
		finish(t, d, j.ID, store.Outcome{State: recap.StateSucceeded})
		balance(t, d, acct, 70, 0)
		if got := get(t, d, j.ID); got.CostSeconds != 30 {
			t.Fatalf("cost %d, want 30", got.CostSeconds)
		}
		// A hold for an ended job is never placed: nothing would settle it.
		if err := d.Store.Hold(ctx, acct, j.ID, 10); err != nil {
			t.Fatal(err)
		}
		balance(t, d, acct, 70, 0)
	})

	t.Run("HoldRelease", func(t *testing.T) {
		d, acct := setup(t)
		for _, st := range []string{recap.StateFailed, recap.StateCanceled} {
			j := newJob(t, d, acct, nil)
			if err := d.Store.Hold(ctx, acct, j.ID, 40); err != nil {
				t.Fatal(err)
			}
			balance(t, d, acct, 60, 40)
			finish(t, d, j.ID, store.Outcome{State: st})
			balance(t, d, acct, 100, 0)
		}
		// A job that ends without a hold settles nothing.
		finish(t, d, newJob(t, d, acct, nil).ID, store.Outcome{State: recap.StateSucceeded})
		balance(t, d, acct, 100, 0)
	})

	t.Run("HoldInsufficient", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, nil)
		if err := d.Store.Hold(ctx, acct, j.ID, 101); !errors.Is(err, store.ErrInsufficientCredits) {
			t.Fatalf("Hold over the balance = %v, want ErrInsufficientCredits", err)
		}
		balance(t, d, acct, 100, 0)
		if got := get(t, d, j.ID); got.CostSeconds != 0 {
			t.Fatalf("cost %d after a refused hold", got.CostSeconds)
		}
		if err := d.Store.Hold(ctx, acct, j.ID, 100); err != nil {
			t.Fatalf("Hold of the whole balance: %v", err)
		}
		balance(t, d, acct, 0, 100)
	})

	t.Run("TokenPricedCapture", func(t *testing.T) {
		d, acct := setup(t)
		j := newJob(t, d, acct, func(j *recap.Job) { j.TokenPrice = 2 })
		if err := d.Store.Hold(ctx, acct, j.ID, 60); err != nil {
			t.Fatal(err)
		}
		// 4,500 tokens at 2 s per 1,000: 9 s of the 60 held; the rest goes back.
		finish(t, d, j.ID, store.Outcome{State: recap.StateSucceeded, PromptTokens: 4000, CompletionTokens: 500})
		balance(t, d, acct, 91, 0)
		if got := get(t, d, j.ID); got.CostSeconds != 9 {
			t.Fatalf("cost %d, want 9", got.CostSeconds)
		}
	})

	t.Run("WithLock", func(t *testing.T) {
		d, _ := setup(t)
		var inside, most atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := d.Store.WithLock(ctx, "video:contract", func(context.Context) error {
					n := inside.Add(1)
					if n > most.Load() {
						most.Store(n)
					}
					time.Sleep(5 * time.Millisecond)
					inside.Add(-1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if most.Load() != 1 {
			t.Fatalf("%d holders of one lock at once", most.Load())
		}
		want := errors.New("inner")
		if err := d.Store.WithLock(ctx, "video:contract", func(context.Context) error { return want }); !errors.Is(err, want) {
			t.Fatalf("WithLock = %v, want fn's error", err)
		}
		// Another key is not blocked by a held one.
		err := d.Store.WithLock(ctx, "a", func(ctx context.Context) error {
			return d.Store.WithLock(ctx, "b", func(context.Context) error { return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Videos", func(t *testing.T) {
		d, _ := setup(t)
		if _, err := d.Store.Video(ctx, "generic:none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing video: %v", err)
		}
		v := &store.Video{Key: "generic:v1", URL: "https://example.test/v1", Title: "One", Duration: 61, RawInfo: []byte(`{"id":"v1"}`)}
		if err := d.Store.SaveVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.CreatedAt.IsZero() {
			t.Fatal("SaveVideo set no CreatedAt")
		}
		got, err := d.Store.Video(ctx, v.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != v.URL || got.Title != "One" || got.Duration != 61 || got.IsLive || !jsonEqual(got.Info, `{}`) ||
			!jsonEqual(got.RawInfo, `{"id":"v1"}`) {
			t.Fatalf("Video = %+v (info %s)", got, got.Info)
		}
		// Saving again refreshes what resolve learned; the row keeps its age.
		first := got.CreatedAt
		v2 := &store.Video{Key: v.Key, URL: v.URL, Title: "One, renamed", Duration: 62, IsLive: true, Info: json.RawMessage(`{"a": 1}`)}
		if err := d.Store.SaveVideo(ctx, v2); err != nil {
			t.Fatal(err)
		}
		got, _ = d.Store.Video(ctx, v.Key)
		if got.Title != "One, renamed" || got.Duration != 62 || !got.IsLive || !jsonEqual(got.Info, `{"a":1}`) || got.RawInfo != nil ||
			!got.CreatedAt.Equal(first) {
			t.Fatalf("refreshed Video = %+v (info %s), first created %v", got, got.Info, first)
		}
		if err := d.Store.SetVideoDuration(ctx, v.Key, 63.5); err != nil {
			t.Fatal(err)
		}
		if got, _ = d.Store.Video(ctx, v.Key); got.Duration != 63.5 {
			t.Fatalf("duration %v", got.Duration)
		}
		if err := d.Store.SetVideoDuration(ctx, "generic:none", 1); err != nil {
			t.Fatalf("duration of a missing video: %v", err)
		}
	})

	t.Run("ClaimVideo", func(t *testing.T) {
		d, _ := setup(t)
		a := &store.Video{Key: "youtube:abc", URL: "https://youtu.be/abc", Title: "A", Duration: 10}
		owner, err := d.Store.ClaimVideo(ctx, a, "Youtube", "abc")
		if err != nil || owner != a.Key {
			t.Fatalf("first claim = %q, %v", owner, err)
		}
		if got, err := d.Store.Video(ctx, a.Key); err != nil || got.Title != "A" || !jsonEqual(got.Info, `{}`) {
			t.Fatalf("claimed video = %+v, %v", got, err)
		}
		// Another URL form of the same video joins the owner.
		b := &store.Video{Key: "generic:xyz", URL: "https://mirror.test/abc", Title: "B"}
		if owner, err = d.Store.ClaimVideo(ctx, b, "Youtube", "abc"); err != nil || owner != a.Key {
			t.Fatalf("second claim = %q, %v", owner, err)
		}
		if got, err := d.Store.VideoAlias(ctx, b.Key); err != nil || got != a.Key {
			t.Fatalf("VideoAlias = %q, %v", got, err)
		}
		if _, err := d.Store.Video(ctx, b.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the alias was saved as a video: %v", err)
		}
		if _, err := d.Store.VideoAlias(ctx, a.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the owner has an alias: %v", err)
		}
		// The owner claiming again refreshes its row.
		a.Title = "A2"
		if owner, err = d.Store.ClaimVideo(ctx, a, "Youtube", "abc"); err != nil || owner != a.Key {
			t.Fatalf("owner's claim = %q, %v", owner, err)
		}
		if got, _ := d.Store.Video(ctx, a.Key); got.Title != "A2" {
			t.Fatalf("title %q", got.Title)
		}
	})

	t.Run("Transcripts", func(t *testing.T) {
		d, _ := setup(t)
		if _, err := d.Store.Transcript(ctx, 987654); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing transcript: %v", err)
		}
		if _, err := d.Store.LatestTranscript(ctx, "generic:t", "en"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing latest transcript: %v", err)
		}
		// A transcript belongs to a video saved before it.
		if err := d.Store.SaveTranscript(ctx, &recap.Transcript{VideoKey: "generic:unknown", Language: "en"}); err == nil {
			t.Fatal("saved a transcript of an unknown video")
		}
		video(t, d, "generic:t")
		segs := []recap.Segment{{Start: 0, End: 1.5, Text: "one"}, {Start: 1.5, End: 3, Text: "two", Speaker: "A"}}
		var saved []*recap.Transcript
		for i, lang := range []string{"en", "en", "de"} {
			tr := &recap.Transcript{VideoKey: "generic:t", Language: lang, Source: "speech_to_text", Segments: segs[:1+i%2], Duration: 3}
			if err := d.Store.SaveTranscript(ctx, tr); err != nil {
				t.Fatal(err)
			}
			if tr.ID == 0 || tr.CreatedAt.IsZero() {
				t.Fatalf("saved transcript %+v", tr)
			}
			saved = append(saved, tr)
		}
		got, err := d.Store.Transcript(ctx, saved[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.VideoKey != "generic:t" || got.Language != "en" || got.Source != "speech_to_text" || got.Duration != 3 ||
			!reflect.DeepEqual(got.Segments, segs) {
			t.Fatalf("Transcript = %+v", got)
		}
		if got, err := d.Store.LatestTranscript(ctx, "generic:t", "en"); err != nil || got.ID != saved[1].ID {
			t.Fatalf("LatestTranscript(en) = %+v, %v; want id %d", got, err, saved[1].ID)
		}
		if got, err := d.Store.LatestTranscript(ctx, "generic:t", "de"); err != nil || got.ID != saved[2].ID {
			t.Fatalf("LatestTranscript(de) = %+v, %v", got, err)
		}
		if _, err := d.Store.LatestTranscript(ctx, "generic:t", "fr"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LatestTranscript(fr) = %v", err)
		}
	})

	t.Run("Chunks", func(t *testing.T) {
		d, _ := setup(t)
		c0 := store.Chunk{Index: 0, Offset: 0, Duration: 120, Segments: []recap.Segment{{Start: 1, End: 2, Text: "a"}}}
		c1 := store.Chunk{Index: 1, Offset: 120, Duration: 60, Segments: []recap.Segment{{Start: 121, End: 125, Text: "b"}}}
		for _, c := range []store.Chunk{c0, c1, {Index: 0, Offset: 9, Duration: 9}} {
			if err := d.Store.SaveChunk(ctx, "generic:c", "en", recap.Range{}, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Store.SaveChunk(ctx, "generic:c", "de", recap.Range{}, c1); err != nil {
			t.Fatal(err)
		}
		got, err := d.Store.Chunks(ctx, "generic:c", "en", recap.Range{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, map[int]store.Chunk{0: c0, 1: c1}) {
			t.Fatalf("Chunks = %+v (the first save of a chunk wins)", got)
		}
		if err := d.Store.DeleteChunks(ctx, "generic:c", "en", recap.Range{}); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Store.Chunks(ctx, "generic:c", "en", recap.Range{}); err != nil || len(got) != 0 {
			t.Fatalf("Chunks after delete = %+v, %v", got, err)
		}
		if got, _ := d.Store.Chunks(ctx, "generic:c", "de", recap.Range{}); len(got) != 1 {
			t.Fatalf("another language's chunks went too: %+v", got)
		}
		// A range's chunks are its own: never the whole video's, nor
		// deleted with them.
		part := recap.Range{Start: 30, End: 90}
		if err := d.Store.SaveChunk(ctx, "generic:c", "de", part, c0); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.Store.Chunks(ctx, "generic:c", "de", recap.Range{}); !reflect.DeepEqual(got, map[int]store.Chunk{1: c1}) {
			t.Fatalf("the whole video's chunks hold a range's: %+v", got)
		}
		if err := d.Store.DeleteChunks(ctx, "generic:c", "de", recap.Range{}); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.Store.Chunks(ctx, "generic:c", "de", part); !reflect.DeepEqual(got, map[int]store.Chunk{0: c0}) {
			t.Fatalf("the range's chunks = %+v", got)
		}
	})

	t.Run("SummaryCache", func(t *testing.T) {
		d, _ := setup(t)
		video(t, d, "generic:s")
		tr := &recap.Transcript{VideoKey: "generic:s", Language: "en", Source: "subtitles"}
		other := &recap.Transcript{VideoKey: "generic:s", Language: "en", Source: "subtitles"}
		for _, x := range []*recap.Transcript{tr, other} {
			if err := d.Store.SaveTranscript(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Store.FindSummary(ctx, tr.ID, "ph", "m", "en"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("empty cache: %v", err)
		}
		if _, err := d.Store.Summary(ctx, 987654); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing summary: %v", err)
		}
		sm := &store.Summary{TranscriptID: tr.ID, PromptHash: "ph", Model: "m", OutputLanguage: "en", Markdown: "v1",
			Chapters: []recap.Chapter{{Start: 0, End: 5, Title: "Intro"}}, PromptTokens: 7, CompletionTokens: 3, Truncated: true}
		g := store.SummaryGrounding{Highlights: []recap.Highlight{{Start: 1, Text: "x", Source: recap.Source{Start: 0, End: 2, Text: "y"}}},
			Counts: &recap.Grounding{Checked: 2, Repaired: 1}}
		if err := d.Store.SaveGroundedSummary(ctx, sm, g); err != nil {
			t.Fatal(err)
		}
		if sm.ID == 0 || sm.CreatedAt.IsZero() {
			t.Fatalf("saved summary %+v", sm)
		}
		got, err := d.Store.FindSummary(ctx, tr.ID, "ph", "m", "en")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != sm.ID || got.Markdown != "v1" || !reflect.DeepEqual(got.Chapters, sm.Chapters) || got.PromptTokens != 7 ||
			got.CompletionTokens != 3 || !got.Truncated || !reflect.DeepEqual(got.Highlights, g.Highlights) ||
			!reflect.DeepEqual(got.Grounding, g.Counts) {
			t.Fatalf("FindSummary = %+v", got)
		}
		// Every part of the key counts.
		for _, k := range [][4]any{{other.ID, "ph", "m", "en"}, {tr.ID, "ph2", "m", "en"}, {tr.ID, "ph", "m2", "en"}, {tr.ID, "ph", "m", "de"}} {
			if _, err := d.Store.FindSummary(ctx, k[0].(int64), k[1].(string), k[2].(string), k[3].(string)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindSummary%v = %v, want ErrNotFound", k, err)
			}
		}
		// A refresh replaces the cached summary under the same key and id.
		again := &store.Summary{TranscriptID: tr.ID, PromptHash: "ph", Model: "m", OutputLanguage: "en", Markdown: "v2"}
		if err := d.Store.SaveGroundedSummary(ctx, again, store.SummaryGrounding{}); err != nil {
			t.Fatal(err)
		}
		if again.ID != sm.ID {
			t.Fatalf("a refresh got id %d, the cached summary has %d", again.ID, sm.ID)
		}
		for _, get := range []func() (*store.Summary, error){
			func() (*store.Summary, error) { return d.Store.FindSummary(ctx, tr.ID, "ph", "m", "en") },
			func() (*store.Summary, error) { return d.Store.Summary(ctx, sm.ID) },
		} {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if got.Markdown != "v2" || len(got.Chapters) != 0 || got.Truncated || len(got.Highlights) != 0 || got.Grounding != nil {
				t.Fatalf("refreshed summary = %+v", got)
			}
		}
	})

	t.Run("StaleJobs", func(t *testing.T) {
		d, acct := setup(t)
		var ids []string
		for range 5 {
			ids = append(ids, newJob(t, d, acct, nil).ID)
		}
		finish(t, d, ids[4], store.Outcome{State: recap.StateCanceled})
		if got, err := d.Store.StaleJobs(ctx, time.Now().Add(-time.Hour), store.StaleCursor{}, 10); err != nil || len(got) != 0 {
			t.Fatalf("jobs updated just now are stale: %d, %v", len(got), err)
		}
		before := time.Now().Add(time.Hour)
		var seen []recap.Job
		var cur store.StaleCursor
		for page := 0; ; page++ {
			got, err := d.Store.StaleJobs(ctx, before, cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 2 || page > 3 {
				t.Fatalf("page %d has %d jobs", page, len(got))
			}
			if len(got) == 0 {
				break
			}
			seen = append(seen, got...)
			last := got[len(got)-1]
			cur = store.StaleCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
		}
		var gotIDs []string
		for i, j := range seen {
			gotIDs = append(gotIDs, j.ID)
			if i > 0 && staleOrder(seen[i-1], j) >= 0 {
				t.Fatalf("pages out of order at %d: %v", i, gotIDs)
			}
		}
		slices.Sort(gotIDs)
		want := slices.Clone(ids[:4])
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("stale jobs %v, want the four running ones %v", gotIDs, want)
		}
		// No limit means a default page, not an empty one.
		if got, err := d.Store.StaleJobs(ctx, before, store.StaleCursor{}, 0); err != nil || len(got) != 4 {
			t.Fatalf("StaleJobs(limit 0) = %d jobs, %v", len(got), err)
		}
	})
}

// staleOrder compares jobs in StaleJobs' order: by UpdatedAt, then ID.
func staleOrder(a, b recap.Job) int {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func jsonEqual(raw []byte, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
