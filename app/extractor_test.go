package app_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// poolPIDs are the live warm yt-dlp processes this test process started
// for the environment whose scratch space is under dir.
func poolPIDs(t *testing.T, dir string) []int {
	t.Helper()
	var out []int
	for _, c := range children(os.Getpid()) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if strings.Contains(string(cmdline), "recap-extractor-") && strings.Contains(string(cmdline), dir) {
			out = append(out, c)
		}
	}
	return out
}

// kill -9 of the warm yt-dlp processes in the middle of a batch costs no
// job anything: the requests they were serving go to other processes (or
// their stages retry), and every job succeeds.
func TestExtractorPoolKilledMidBatch(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		fast(c)
		c.ExtractorMode, c.ExtractorPool = media.ExtractorPool, 3
	}})
	page := mediatest.PageHandler(mediatest.Title, mediatest.MediaPath[1:], mediatest.SubtitlePath[1:])
	var hits, kills atomic.Int64
	e.Host.Serve("/killer.html", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The third page request finds the pool busy: every process goes.
		if hits.Add(1) == 3 {
			for _, pid := range poolPIDs(t, e.Config.TempDir) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					kills.Add(1)
				}
			}
			<-r.Context().Done()
			return
		}
		page.ServeHTTP(w, r)
	}))
	urls := make([]string, 8)
	for i := range urls {
		urls[i] = e.Host.URL("/killer.html?v=" + strconv.Itoa(i))
	}
	ids := e.SubmitBatch(t, "", urls...)
	for _, j := range e.WaitJobs(t, 3*time.Minute, ids...) {
		if j.State != recap.StateSucceeded {
			t.Errorf("job %s: %s %s %q", j.ID, j.State, j.ErrorCode, j.ErrorMessage)
		}
	}
	e.CheckInvariants(t, ids...)
	if kills.Load() == 0 {
		t.Fatal("no pool process was killed: the test proved nothing")
	}
	t.Logf("killed %d pool processes mid-batch", kills.Load())
}

// The worker says how it runs yt-dlp, and a pool that cannot start (no
// such interpreter) leaves it running yt-dlp as a process per run, where
// jobs succeed.
func TestWorkerExtractorMode(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: fast})
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"EXTRACTOR_MODE=cli"}, "extractor_mode=cli"},
		{[]string{"EXTRACTOR_MODE=pool"}, "extractor_mode=pool"},
		{[]string{"EXTRACTOR_MODE=pool", "EXTRACTOR_PYTHON=/nonexistent/python3"}, "extractor_mode=cli"},
	} {
		w := e.StartWorkerProcess(t, tc.env...)
		apptest.Poll(t, 2*time.Minute, tc.want, func() bool { return strings.Contains(w.Log(), tc.want) })
		if tc.env[len(tc.env)-1] == "EXTRACTOR_PYTHON=/nonexistent/python3" {
			if !strings.Contains(w.Log(), "did not start") {
				t.Errorf("the fallback is not explained:\n%s", w.Log())
			}
			ids := e.SubmitBatch(t, "", e.Host.PageURL()+"?fallback=1")
			if j := e.WaitJobs(t, 2*time.Minute, ids...)[0]; j.State != recap.StateSucceeded {
				t.Errorf("job on the fallback worker: %s %q", j.State, j.ErrorMessage)
			}
		}
		_ = w.Cmd.Process.Signal(syscall.SIGTERM)
		_ = w.Wait(t, time.Minute)
	}
}
