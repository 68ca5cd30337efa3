package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// standInYtDlp writes a yt-dlp stand-in: it runs the real yt-dlp and, for
// a metadata run (--dump-json), reports extractorKey and id in place of
// what the generic extractor found, as a site's own extractor would for
// two URL forms of one video. Other runs (downloads from the kept info
// JSON) go to the real yt-dlp unchanged. It returns its path and a
// counter of runs.
func standInYtDlp(t *testing.T, extractorKey, id string) (string, func() int) {
	t.Helper()
	real, err := exec.LookPath("yt-dlp")
	if err != nil {
		t.Skip("yt-dlp not installed")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "yt-dlp")
	body := `#!/bin/sh
echo run >> '` + log + `'
case " $* " in
*" --dump-json "*)
	out=$('` + real + `' "$@") || { rc=$?; printf '%s\n' "$out"; exit $rc; }
	printf '%s\n' "$out" | sed -e 's/"extractor_key": "[^"]*"/"extractor_key": "` + extractorKey + `"/' \
		-e 's/"id": "[^"]*"/"id": "` + id + `"/'
	exit 0;;
esac
exec '` + real + `' "$@"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() int {
		data, _ := os.ReadFile(log)
		return bytes.Count(data, []byte("run\n"))
	}
}

func withYtDlp(t *testing.T, bin string) func(*jobs.WorkerConfig) {
	return func(c *jobs.WorkerConfig) {
		m, err := media.New(media.Config{TempDir: t.TempDir(), YtDlpPath: bin})
		if err != nil {
			t.Fatal(err)
		}
		c.Media = m
	}
}

func runStages(t *testing.T, w *jobs.Worker, id string, types ...string) {
	t.Helper()
	for _, typ := range types {
		if err := run(w, id, typ); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
}

// TestSameExtractorIDJoins: two URL forms on different hosts that yt-dlp
// names by the same BiliBili id, resolved at the same moment, end on one
// video: the second job reuses the first one's transcript (no second
// speech-to-text, no second transcript) and summary (no second model
// call), and a third form arriving afterwards is a free full cache hit.
func TestSameExtractorIDJoins(t *testing.T) {
	t.Parallel()
	bin, runs := standInYtDlp(t, "BiliBili", "BV1xx411c7mD")
	w, b := setup(t, withYtDlp(t, bin))
	h2, h3 := mediatest.NewHost(t), mediatest.NewHost(t)
	j1, j2 := b.newJob(t, b.host.NoSubsPageURL()), b.newJob(t, h2.NoSubsPageURL())
	if j1.VideoKey == j2.VideoKey {
		t.Fatalf("both URL forms have key %s before resolve", j1.VideoKey)
	}
	// Both forms resolve at once: one owns the id, the other joins it.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{j1.ID, j2.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(w, id, jobs.TypeResolve)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
	}
	j1, j2 = mustJob(t, b.store, j1.ID), mustJob(t, b.store, j2.ID)
	if j1.VideoKey != j2.VideoKey {
		t.Fatalf("jobs resolved to keys %s and %s, want one video", j1.VideoKey, j2.VideoKey)
	}
	if n := runs(); n != 2 {
		t.Fatalf("%d yt-dlp runs for two resolves", n)
	}
	runStages(t, w, j1.ID, jobs.TypeTranscript, jobs.TypeSummary)
	stt, chats := b.fake.TranscriptionCalls(), b.fake.ChatCalls()
	if stt == 0 || chats == 0 {
		t.Fatalf("the first job made %d speech-to-text and %d model calls", stt, chats)
	}
	runStages(t, w, j2.ID, jobs.TypeTranscript, jobs.TypeSummary)
	j1, j2 = mustJob(t, b.store, j1.ID), mustJob(t, b.store, j2.ID)
	if j1.State != recap.StateSucceeded || j2.State != recap.StateSucceeded {
		t.Fatalf("states %s (%s) and %s (%s)", j1.State, j1.ErrorMessage, j2.State, j2.ErrorMessage)
	}
	if n := b.fake.TranscriptionCalls() - stt; n != 0 {
		t.Fatalf("the joined job made %d speech-to-text calls", n)
	}
	if n := b.fake.ChatCalls() - chats; n != 0 {
		t.Fatalf("the joined job made %d model calls", n)
	}
	if *j2.TranscriptID != *j1.TranscriptID || *j2.SummaryID != *j1.SummaryID {
		t.Fatalf("joined job has transcript %d summary %d, the first %d and %d",
			*j2.TranscriptID, *j2.SummaryID, *j1.TranscriptID, *j1.SummaryID)
	}
	var count int
	if err := b.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM transcripts WHERE video_key = $1`, j1.VideoKey).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Fatalf("%d transcripts of the video", count)
	}

	// A third form after the fact: the summary cache applies, free.
	j3 := b.newJob(t, h3.NoSubsPageURL())
	runStages(t, w, j3.ID, jobs.TypeResolve, jobs.TypeTranscript, jobs.TypeSummary)
	j3 = mustJob(t, b.store, j3.ID)
	if j3.State != recap.StateSucceeded || j3.VideoKey != j1.VideoKey || *j3.SummaryID != *j1.SummaryID {
		t.Fatalf("third form: state %s key %s summary %v", j3.State, j3.VideoKey, j3.SummaryID)
	}
	if j3.CostSeconds != 0 {
		t.Fatalf("a full cache hit through a third URL form cost %d s", j3.CostSeconds)
	}
	if n := b.fake.TranscriptionCalls() - stt; n != 0 {
		t.Fatalf("the third form made %d speech-to-text calls", n)
	}
	// And the third form again: its key is an alias now, no yt-dlp at all.
	before := runs()
	j4 := b.newJob(t, h3.NoSubsPageURL())
	runStages(t, w, j4.ID, jobs.TypeResolve)
	if j4 = mustJob(t, b.store, j4.ID); j4.VideoKey != j1.VideoKey || runs() != before {
		t.Fatalf("repeat of a joined form: key %s, %d more yt-dlp runs", j4.VideoKey, runs()-before)
	}
}

// TestGenericIDsNeverJoin: the generic extractor names a direct media
// file by its file name, so /clip.webm on two hosts has the same
// extractor_key + id; they are two videos all the same.
func TestGenericIDsNeverJoin(t *testing.T) {
	t.Parallel()
	w, b := setup(t, nil)
	data, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.webm"))
	if err != nil {
		t.Fatal(err)
	}
	h2 := mediatest.NewHost(t)
	mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	var keys []string
	for _, h := range []*mediatest.Host{b.host, h2} {
		h.Serve("/clip.webm", mediatest.BytesHandler("clip.webm", "video/webm", data, mod))
		j := b.newJob(t, h.URL("/clip.webm"))
		runStages(t, w, j.ID, jobs.TypeResolve)
		j = mustJob(t, b.store, j.ID)
		v, err := b.store.Video(context.Background(), j.VideoKey)
		if err != nil {
			t.Fatal(err)
		}
		var info media.Info
		if err := json.Unmarshal(v.Info, &info); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ExtractorKey+" "+info.ID)
		keys = append(keys, j.VideoKey)
	}
	if ids[0] != ids[1] || ids[0] != "Generic clip" {
		t.Fatalf("the generic extractor named the files %q and %q; the test needs the same id", ids[0], ids[1])
	}
	if keys[0] == keys[1] {
		t.Fatalf("two files on different hosts joined as %s", keys[0])
	}
}
