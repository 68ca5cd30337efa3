package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
)

type reply struct {
	status int
	header http.Header
	body   []byte
}

// opsCall sends a request; auth, when set, decorates it (bearer, basic auth).
func opsCall(t *testing.T, method, url string, auth func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, b}
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth("operator", password) }
}

// createJob submits a batch job through the public jobs API.
func createJob(t *testing.T, e *apptest.Env, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/jobs", strings.NewReader(`{"urls":["`+url+`"]}`))
	req.Header.Set("Authorization", "Bearer "+e.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Data []recap.View }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 202 || len(out.Data) != 1 {
		t.Fatalf("create job: status %d, %v", res.StatusCode, err)
	}
	return out.Data[0].ID
}

type adminJob struct {
	recap.View
	Queue string           `json:"queue"`
	Tasks []recap.TaskView `json:"tasks"`
}

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("status %d, body %s: %v", r.status, r.body, err)
	}
	return v
}

func TestAdminRequiresTheToken(t *testing.T) {
	t.Parallel()
	const token = "operator-secret"
	on := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.AdminToken = token }})
	off := apptest.Start(t, apptest.Options{NoWorker: true})
	paths := []string{"/admin/api/jobs", "/admin/queues", "/admin/queues/api/queues"}
	for _, path := range paths {
		for name, auth := range map[string]func(*http.Request){
			"none": nil, "wrong bearer": bearer("nope"), "wrong basic": basic("nope"), "api key": bearer(on.Key),
		} {
			r := opsCall(t, http.MethodGet, on.Server.URL+path, auth)
			if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s with %s: status %d, WWW-Authenticate %q", path, name, r.status, r.header.Get("WWW-Authenticate"))
			}
		}
		// Without ADMIN_TOKEN the routes do not exist, whatever is sent.
		if r := opsCall(t, http.MethodGet, off.Server.URL+path, bearer(token)); r.status != http.StatusNotFound {
			t.Errorf("%s without ADMIN_TOKEN: status %d", path, r.status)
		}
	}
	if r := opsCall(t, http.MethodGet, on.Server.URL+"/admin/queues", basic(token)); r.status != 200 ||
		!strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("asynqmon UI with basic auth: status %d, %s", r.status, r.header.Get("Content-Type"))
	}
	createJob(t, on, on.Host.PageURL())
	r := opsCall(t, http.MethodGet, on.Server.URL+"/admin/queues/api/queues", bearer(token))
	if r.status != 200 || !strings.Contains(string(r.body), on.Config.QueuePrefix+jobs.QueueBatch) {
		t.Errorf("asynqmon queues: status %d: %s", r.status, r.body)
	}
	if r := opsCall(t, http.MethodGet, on.Server.URL+"/admin/api/jobs", bearer(token)); r.status != 200 {
		t.Errorf("admin API with bearer: status %d: %s", r.status, r.body)
	}
}

func TestAdminAPISteersJobs(t *testing.T) {
	t.Parallel()
	const token = "operator-secret"
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.AdminToken = token }})
	root := e.Server.URL + "/admin/api/jobs"
	id := createJob(t, e, e.Host.PageURL())
	queue := e.Config.QueuePrefix + jobs.QueueBatch
	task := jobs.TaskID(id, jobs.TypeResolve)
	auth := bearer(token)

	list := decode[struct{ Data []adminJob }](t, opsCall(t, http.MethodGet, root+"?state=queued", auth))
	if len(list.Data) != 1 || list.Data[0].ID != id || len(list.Data[0].Tasks) != 1 ||
		list.Data[0].Tasks[0].State != "pending" || list.Data[0].Tasks[0].Type != jobs.TypeResolve {
		t.Fatalf("queued jobs: %+v", list.Data)
	}
	if r := opsCall(t, http.MethodGet, root+"?state=succeeded", auth); len(decode[struct{ Data []adminJob }](t, r).Data) != 0 {
		t.Errorf("succeeded jobs: %s", r.body)
	}
	if r := opsCall(t, http.MethodGet, root+"?state=bogus", auth); r.status != 400 {
		t.Errorf("bad state: status %d", r.status)
	}

	type retried struct {
		Action  string   `json:"action"`
		Job     adminJob `json:"job"`
		RetryOf string   `json:"retry_of"`
	}
	retry := func(wantStatus int) retried {
		t.Helper()
		r := opsCall(t, http.MethodPost, root+"/"+id+"/retry", auth)
		if r.status != wantStatus {
			t.Fatalf("retry: status %d, want %d: %s", r.status, wantStatus, r.body)
		}
		return decode[retried](t, r)
	}
	// A pending stage is already on its way.
	if r := opsCall(t, http.MethodPost, root+"/"+id+"/retry", auth); r.status != http.StatusConflict || !strings.Contains(string(r.body), "not_retryable") {
		t.Fatalf("retry of a pending job: status %d: %s", r.status, r.body)
	}
	// An archived stage runs again now.
	if err := e.Deps.Inspector.ArchiveTask(queue, task); err != nil {
		t.Fatal(err)
	}
	if got := retry(200); got.Action != jobs.RetryRunNow || got.Job.Tasks[0].State != "pending" {
		t.Fatalf("retry of an archived stage: %+v", got)
	}
	// A lost stage is enqueued again.
	if err := e.Deps.Inspector.DeleteTask(queue, task); err != nil {
		t.Fatal(err)
	}
	if got := retry(200); got.Action != jobs.RetryRequeued || len(got.Job.Tasks) != 1 || got.Job.Tasks[0].State != "pending" {
		t.Fatalf("retry of a lost stage: %+v", got)
	}
	// Cancel ends it once and removes its task.
	c := decode[adminJob](t, opsCall(t, http.MethodPost, root+"/"+id+"/cancel", auth))
	if c.State != "canceled" || len(c.Tasks) != 0 {
		t.Fatalf("cancel: %+v", c)
	}
	if r := opsCall(t, http.MethodPost, root+"/"+id+"/cancel", auth); r.status != http.StatusConflict {
		t.Errorf("second cancel: status %d", r.status)
	}
	// A canceled job is resubmitted as a new one.
	got := retry(http.StatusCreated)
	if got.Action != jobs.RetryResubmitted || got.RetryOf != id || got.Job.ID == id || got.Job.State != "queued" ||
		got.Job.URL != e.Host.PageURL() || len(got.Job.Tasks) != 1 || got.Job.Tasks[0].State != "pending" {
		t.Fatalf("retry of a canceled job: %+v", got)
	}
	if r := opsCall(t, http.MethodGet, root+"/"+got.Job.ID, auth); r.status != 200 {
		t.Errorf("get the new job: status %d", r.status)
	}
	if r := opsCall(t, http.MethodGet, root+"/00000000-0000-0000-0000-000000000000", auth); r.status != 404 {
		t.Errorf("unknown job: status %d", r.status)
	}
}

// metricValue returns the value of the series whose line starts with
// prefix (name and labels), or -1 when there is none.
func metricValue(body, prefix string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func TestMetricsAfterJobs(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.NoSubsPageURL())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.URL("/gone.html"))); err == nil {
		t.Fatal("a missing page was summarized")
	}
	// The first video again: a summary-cache hit, answered by the API.
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL())); err != nil {
		t.Fatal(err)
	}
	// A stage's duration is recorded when its handler returns, which can be
	// after the client got its answer: stopping the worker waits for that.
	e.Worker.Stop()
	r := opsCall(t, http.MethodGet, e.Server.URL+"/metrics", nil)
	if r.status != 200 {
		t.Fatalf("/metrics: status %d", r.status)
	}
	body := string(r.body)
	p := e.Config.QueuePrefix
	atLeast := map[string]float64{
		`recap_http_requests_total{code="200",method="POST",route="/v1/chat/completions"}`:                 2,
		`recap_http_request_duration_seconds_count{method="POST",route="/v1/chat/completions"}`:            3,
		`recap_stage_duration_seconds_count{outcome="ok",stage="media:resolve"}`:                           2,
		`recap_stage_duration_seconds_count{outcome="ok",stage="media:transcript"}`:                        2,
		`recap_stage_duration_seconds_count{outcome="ok",stage="summary:generate"}`:                        2,
		`recap_stage_duration_seconds_count{outcome="failed",stage="media:resolve"}`:                       1,
		`recap_jobs_finished_total{code="",state="succeeded"}`:                                             3,
		`recap_cache_hits_total{cache="summary"}`:                                                          1,
		`recap_jobs_finished_total{code="video_unavailable",state="failed"}`:                               1,
		`recap_media_failures_total{cause="unavailable",tool="yt-dlp"}`:                                    1,
		`recap_llm_calls_total{outcome="200"}`:                                                             2,
		`recap_llm_call_duration_seconds_count`:                                                            2,
		`recap_llm_tokens_total{kind="prompt",model="fake-model"}`:                                         1,
		`recap_llm_tokens_total{kind="completion",model="fake-model"}`:                                     1,
		`recap_stt_calls_total{outcome="200"}`:                                                             1,
		`recap_stt_call_duration_seconds_count`:                                                            1,
		`recap_stt_audio_seconds_total`:                                                                    10,
		`recap_jobs{state="queued"}`:                                                                       0,
		`recap_queue_tasks{queue="` + p + `interactive",state="pending"}`:                                  0,
		`recap_queue_latency_seconds{queue="` + p + `batch"}`:                                              0,
		`recap_credits_held_seconds`:                                                                       0,
		`recap_credits_seconds_total{kind="hold"}`:                                                         120,
		`recap_credits_seconds_total{kind="capture"}`:                                                      120,
		`recap_source_up{source="postgres"}`:                                                               1,
		`recap_source_up{source="redis"}`:                                                                  1,
		`recap_http_request_duration_seconds_bucket{method="POST",route="/v1/chat/completions",le="+Inf"}`: 3,
	}
	for series, min := range atLeast {
		if v := metricValue(body, series); v < min {
			t.Errorf("%s = %v, want at least %v", series, v, min)
		}
	}
	// Unknown paths share one label value, so probes cannot grow the series.
	opsCall(t, http.MethodGet, e.Server.URL+"/no/such/path", nil)
	body = string(opsCall(t, http.MethodGet, e.Server.URL+"/metrics", nil).body)
	if metricValue(body, `recap_http_requests_total{code="200",method="GET",route="/metrics"}`) != 1 {
		t.Error("the first scrape was not counted")
	}
	if metricValue(body, `recap_http_requests_total{code="404",method="GET",route="unmatched"}`) != 1 ||
		regexp.MustCompile(`route="/no/such`).MatchString(body) {
		t.Error("an unmatched path got its own route label")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	if r := opsCall(t, http.MethodGet, e.Server.URL+"/healthz", nil); r.status != 200 {
		t.Errorf("/healthz: %d", r.status)
	}
	type ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	got := decode[ready](t, opsCall(t, http.MethodGet, e.Server.URL+"/readyz", nil))
	if got.Status != "ready" || got.Checks["postgres"] != "ok" || got.Checks["redis"] != "ok" || got.Checks["migrations"] != "ok" {
		t.Fatalf("/readyz: %+v", got)
	}
	// A migration not applied makes the replica unready.
	if _, err := e.Store.Pool().Exec(context.Background(), `DELETE FROM schema_migrations WHERE name = '001_init.sql'`); err != nil {
		t.Fatal(err)
	}
	r := opsCall(t, http.MethodGet, e.Server.URL+"/readyz", nil)
	got = decode[ready](t, r)
	if r.status != http.StatusServiceUnavailable || got.Status != "unavailable" || !strings.Contains(got.Checks["migrations"], "001_init.sql") {
		t.Fatalf("/readyz with a pending migration: %d %+v", r.status, got)
	}
}

// TestBatchPool gives batch jobs their own pool: both queues are served.
func TestBatchPool(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.WorkerConcurrency, c.BatchConcurrency, c.TranscriptConcurrency = 1, 1, 1
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := createJob(t, e, e.Host.PageURL())
	resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, resp.Choices[0].Message.Content)
	var last recap.Event
	if err := e.Deps.Events.Follow(ctx, id, "0", time.Second, nil, func(ev recap.Event) error { last = ev; return nil }); err != nil {
		t.Fatal(err)
	}
	if last.Type != recap.EventResult {
		t.Fatalf("the batch job ended with %+v", last)
	}
	checkSummary(t, last.Result.Markdown)
}

// promtoolCheck runs `promtool check metrics` over a scrape, when promtool
// is installed (.ci/run installs it).
func promtoolCheck(t *testing.T, what string, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Logf("promtool not installed: %s not checked with it", what)
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}

// TestMetricsPromtool runs the API and a worker as separate processes do
// (each with its own connections and registry), summarizes a video, and
// checks each process's /metrics: the worker's on METRICS_ADDR holds the
// stage, LLM and media series, the API's the HTTP series, and promtool
// accepts both.
func TestMetricsPromtool(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	cfg := e.Config
	cfg.MetricsAddr = "127.0.0.1:0"
	wd, err := app.Connect(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wd.Close)
	ops, err := app.StartOps(cfg, wd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ops.Shutdown(context.Background()) })
	// Not ready until the worker takes tasks.
	if r := opsCall(t, http.MethodGet, "http://"+ops.Addr()+"/readyz", nil); r.status != http.StatusServiceUnavailable ||
		!strings.Contains(string(r.body), `"worker":"not taking tasks"`) {
		t.Fatalf("/readyz before the worker started: %d %s", r.status, r.body)
	}
	w, err := app.StartWorker(cfg, wd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ops.SetAccepting(true)
	if r := opsCall(t, http.MethodGet, "http://"+ops.Addr()+"/readyz", nil); r.status != 200 {
		t.Fatalf("/readyz of a running worker: %d %s", r.status, r.body)
	}

	// The worker says which yt-dlp and JavaScript runtime it runs: in
	// /readyz's details (once it has asked yt-dlp) and as a gauge.
	var tc struct {
		Details struct {
			Ytdlp app.Toolchain `json:"ytdlp"`
		} `json:"details"`
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for tc.Details.Ytdlp.Version == "" {
		r := opsCall(t, http.MethodGet, "http://"+ops.Addr()+"/readyz", nil)
		if err := json.Unmarshal(r.body, &tc); err != nil {
			t.Fatalf("/readyz: %v: %s", err, r.body)
		}
		if tc.Details.Ytdlp.Version != "" {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("/readyz never showed yt-dlp's version: %s", r.body)
		}
	}
	if y := tc.Details.Ytdlp; y.Version < "2025.11.12" || !y.JSRuntimeUsable || !strings.HasPrefix(y.JSRuntime, "deno-") || y.Stale {
		t.Errorf("/readyz ytdlp = %+v: want a current yt-dlp with deno accepted", y)
	}
	gauges := opsCall(t, http.MethodGet, "http://"+ops.Addr()+"/metrics", nil)
	if v := metricValue(string(gauges.body), `recap_ytdlp_js_runtime_info{runtime="`+tc.Details.Ytdlp.JSRuntime+`",usable="true"}`); v != 1 {
		t.Errorf("recap_ytdlp_js_runtime_info = %v", v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, resp.Choices[0].Message.Content)
	// Stage durations are recorded when the handler returns, which may be
	// after the reply: stopping the worker waits for that.
	w.Stop()

	worker := opsCall(t, http.MethodGet, "http://"+ops.Addr()+"/metrics", nil)
	api := opsCall(t, http.MethodGet, e.Server.URL+"/metrics", nil)
	if worker.status != 200 || api.status != 200 {
		t.Fatalf("/metrics: worker %d, api %d", worker.status, api.status)
	}
	for series, want := range map[string]bool{
		`recap_stage_duration_seconds_count{outcome="ok",stage="summary:generate"}`:        true,
		`recap_llm_calls_total{outcome="200"}`:                                             true,
		`recap_jobs_finished_total{code="",state="succeeded"}`:                             true,
		`recap_http_requests_total{code="200",method="POST",route="/v1/chat/completions"}`: false,
	} {
		if got := metricValue(string(worker.body), series) >= 1; got != want {
			t.Errorf("worker /metrics: %s present = %v, want %v", series, got, want)
		}
	}
	for series, want := range map[string]bool{
		`recap_http_requests_total{code="200",method="POST",route="/v1/chat/completions"}`: true,
		`recap_stage_duration_seconds_count{outcome="ok",stage="summary:generate"}`:        false,
	} {
		if got := metricValue(string(api.body), series) >= 1; got != want {
			t.Errorf("api /metrics: %s present = %v, want %v", series, got, want)
		}
	}
	// Both report the cluster-wide series.
	for _, body := range [][]byte{worker.body, api.body} {
		if metricValue(string(body), `recap_source_up{source="redis"}`) != 1 || metricValue(string(body), `recap_cache_hits_total{cache="summary"}`) < 0 {
			t.Errorf("cluster-wide or cache series missing:\n%s", body)
		}
	}
	promtoolCheck(t, "the worker's /metrics", worker.body)
	promtoolCheck(t, "the API's /metrics", api.body)

}

// TestProbe is the images' HEALTHCHECK: `api healthcheck` and `worker
// healthcheck` GET their own /healthz through app.Probe.
func TestProbe(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	ctx := context.Background()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(e.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// A listen address without a host (or an unspecified one) is probed on
	// loopback.
	for _, addr := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if err := app.Probe(ctx, addr, "/healthz"); err != nil {
			t.Errorf("probe %s: %v", addr, err)
		}
	}
	if err := app.Probe(ctx, "127.0.0.1:"+port, "/nope"); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("a 404 passed the probe: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if err := app.Probe(ctx, closed, "/healthz"); err == nil {
		t.Error("a closed port passed the probe")
	}
	if err := app.Probe(ctx, "no-port", "/healthz"); err == nil || !strings.Contains(err.Error(), "listen address") {
		t.Errorf("a malformed address: %v", err)
	}
}

// TestReadyzCookieExpiry: with COOKIES_DIR set, /readyz's details show
// each site's cookie count and earliest expiry (an expired site flagged),
// never a cookie's name or value, and the gauge follows a replaced file
// without a restart.
func TestReadyzCookieExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	soon := time.Now().Add(48 * time.Hour).Unix()
	later := time.Now().Add(90 * 24 * time.Hour).Unix()
	past := time.Now().Add(-time.Hour).Unix()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("bilibili.com.txt", fmt.Sprintf("# Netscape HTTP Cookie File\n"+
		".bilibili.com\tTRUE\t/\tFALSE\t%d\tSESSDATA\tsecret-sess\n"+
		".bilibili.com\tTRUE\t/\tFALSE\t%d\tbili_jct\tsecret-jct\n", later, soon))
	write("youtube.com.txt", fmt.Sprintf(".youtube.com\tTRUE\t/\tTRUE\t%d\tSID\tsecret-sid\n", past))
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.CookiesDir = dir }})
	type ready struct {
		Status  string            `json:"status"`
		Checks  map[string]string `json:"checks"`
		Details struct {
			Cookies map[string]app.CookieDetail `json:"cookies"`
		} `json:"details"`
	}
	r := opsCall(t, http.MethodGet, e.Server.URL+"/readyz", nil)
	got := decode[ready](t, r)
	if r.status != 200 || got.Status != "ready" {
		t.Fatalf("/readyz: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "SESSDATA") {
		t.Fatalf("/readyz shows a cookie: %s", r.body)
	}
	if _, listed := got.Checks["cookies"]; listed {
		t.Fatalf("cookies are a check, not a detail: %s", r.body)
	}
	bili, yt := got.Details.Cookies["bilibili.com"], got.Details.Cookies["youtube.com"]
	if bili.Cookies != 2 || bili.EarliestExpiry == nil || bili.EarliestExpiry.Unix() != soon || bili.Expired {
		t.Fatalf("bilibili.com: %+v (%s)", bili, r.body)
	}
	if yt.Cookies != 1 || yt.EarliestExpiry == nil || yt.EarliestExpiry.Unix() != past || !yt.Expired {
		t.Fatalf("youtube.com: %+v (%s)", yt, r.body)
	}
	// A replaced file shows at the next probe, in the details and the gauge.
	write("youtube.com.txt", fmt.Sprintf(".youtube.com\tTRUE\t/\tTRUE\t%d\tSID\tsecret-sid\n", later))
	got = decode[ready](t, opsCall(t, http.MethodGet, e.Server.URL+"/readyz", nil))
	if yt := got.Details.Cookies["youtube.com"]; yt.EarliestExpiry == nil || yt.EarliestExpiry.Unix() != later || yt.Expired {
		t.Fatalf("replaced youtube.com: %+v", yt)
	}
	body := string(opsCall(t, http.MethodGet, e.Server.URL+"/metrics", nil).body)
	if v := metricValue(body, `recap_cookies_expiry_timestamp_seconds{site="youtube.com"}`); v != float64(later) {
		t.Fatalf("gauge for youtube.com = %v, want %d", v, later)
	}
}
