package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// exercised returns Metrics with a sample in every series, so gathering
// it lists every family with its labels.
func exercised(t *testing.T) *Metrics {
	t.Helper()
	m := New()
	m.ObserveHTTP("/api/v1/models", http.MethodGet, 200, time.Millisecond)
	m.ObserveStage("media:resolve", "ok", time.Second)
	m.SummaryCacheHit()
	m.JobFinished("failed", "video_unavailable")
	m.MediaFailure("yt-dlp", "unavailable")
	m.Tokens("model", 10, 5)
	m.AudioTranscribed(12)
	m.WatchExtractor("pool", func() ExtractorStats { return ExtractorStats{Size: 2, Live: 1} })
	m.ObserveExtraction("ok", 20*time.Millisecond)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer upstream.Close()
	for _, svc := range []string{ServiceLLM, ServiceSTT} {
		c := &http.Client{Transport: m.Transport(svc, nil)}
		res, err := c.Get(upstream.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	m.Watch("postgres", func(ctx context.Context, s *Stats) error {
		s.ActiveJobs = map[string]int64{"queued": 1}
		s.CreditsHeld = 60
		s.Credits = map[string]int64{"grant": 600, "hold": 60, "capture": 0, "release": 0}
		return nil
	})
	m.Watch("redis", func(ctx context.Context, s *Stats) error {
		s.Queues = []QueueStat{{Queue: "interactive", Pending: 1, Latency: time.Second}}
		return nil
	})
	return m
}

// families gathers the recap_* families: name → label names.
func families(t *testing.T, m *Metrics) map[string][]string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "recap_") {
			continue
		}
		var labels []string
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if !slices.Contains(labels, lp.GetName()) {
					labels = append(labels, lp.GetName())
				}
			}
		}
		sort.Strings(labels)
		out[mf.GetName()] = labels
		if mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(mf.GetName(), "_total") {
			t.Errorf("counter %s does not end in _total", mf.GetName())
		}
	}
	return out
}

// TestLint runs Prometheus' own linter (what `promtool check metrics`
// runs) over every family, and promtool itself when it is installed.
func TestLint(t *testing.T) {
	t.Parallel()
	m := exercised(t)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if len(families(t, m)) < 17 {
		t.Fatalf("only %d recap_ families gathered", len(families(t, m)))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed; linted with client_golang's testutil only")
		return
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = rec.Body
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestCacheHitsByCache: hits are one family labelled by cache, present at
// zero before the first hit.
func TestCacheHitsByCache(t *testing.T) {
	t.Parallel()
	m := New()
	if got := testutil.ToFloat64(m.cacheHits.WithLabelValues(CacheSummary)); got != 0 {
		t.Fatalf("before any hit: %v", got)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_cache_hits_total"); err != nil || n != 1 {
		t.Fatalf("recap_cache_hits_total series before any hit: %d, %v", n, err)
	}
	m.SummaryCacheHit()
	m.SummaryCacheHit()
	want := `# HELP recap_cache_hits_total Requests answered from a cache without the queue, by cache (summary: each also counts as a succeeded job).
# TYPE recap_cache_hits_total counter
recap_cache_hits_total{cache="summary"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "recap_cache_hits_total"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.jobsFinished.WithLabelValues("succeeded", "")); got != 2 {
		t.Fatalf("cache hits counted as %v succeeded jobs, want 2", got)
	}
}

// TestDocsDocumentEveryMetric: the operating guide's metrics section
// (docs/operating.md, "Metrics") names each family and each of its labels.
func TestDocsDocumentEveryMetric(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, labels := range families(t, exercised(t)) {
		i := strings.Index(doc, "`"+name)
		if i < 0 {
			t.Errorf("docs/operating.md does not document %s", name)
			continue
		}
		// The labels are named on the same table row or paragraph.
		end := strings.Index(doc[i:], "\n\n")
		if row := strings.Index(doc[i:], "|\n"); row >= 0 && (end < 0 || row < end) {
			end = row
		}
		para := doc[i:]
		if end >= 0 {
			para = doc[i : i+end]
		}
		for _, l := range labels {
			if !strings.Contains(para, l) {
				t.Errorf("docs/operating.md documents %s without its label %q", name, l)
			}
		}
	}
}

// TestDashboard: every expression of the Grafana dashboard uses series
// and labels the processes export; with promtool installed, each is also
// parsed as PromQL.
func TestDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "recap-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	fams := families(t, exercised(t))
	series := regexp.MustCompile(`(recap_[a-z_]+)(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)
	var exprs []string
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, m := range series.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(name, suffix); ok {
						if _, known := fams[b]; known {
							base = b
						}
					}
				}
				labels, ok := fams[base]
				if !ok {
					t.Errorf("panel %q: no series %s", p.Title, name)
					continue
				}
				used[base] = true
				for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
					if l := lm[1]; l != "job" && l != "le" && !slices.Contains(labels, l) {
						t.Errorf("panel %q: %s has no label %q (it has %v)", p.Title, base, l, labels)
					}
				}
			}
		}
	}
	for name := range fams {
		if !used[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return
	}
	// Grafana's variables replaced, each expression becomes a recording
	// rule that promtool parses.
	var rules bytes.Buffer
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*")
	for i, e := range exprs {
		q, _ := json.Marshal(vars.Replace(e))
		fmt.Fprintf(&rules, "  - record: dashboard:expr%d\n    expr: %s\n", i, q)
	}
	f := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(f, rules.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
