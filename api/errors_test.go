package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// TestStatusTable: every kind has a status, and no code of the table is
// a 500 but Recap's own.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	for _, k := range core.Kinds() {
		if _, ok := kindStatus[k]; !ok {
			t.Errorf("kind %d has no status in kindStatus", k)
		}
	}
	for _, c := range core.Codes() {
		if st, _ := statusOf(c.Kind); st == http.StatusInternalServerError && c.Code != recap.CodeInternal {
			t.Errorf("code %q is a 500", c.Code)
		}
	}
}

// docsErrorTable reads docs/api.md's error table: code → status.
func docsErrorTable(t *testing.T) (map[string]int, map[int]bool) {
	t.Helper()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### Errors\n")
	if !ok {
		t.Fatal("docs/api.md has no ### Errors section")
	}
	sec, _, _ = strings.Cut(sec, "\n### ")
	row := regexp.MustCompile(`^\| (\d{3}) \| ([^|]*) \|`)
	code := regexp.MustCompile("`([a-z_]+)`")
	codes, statuses := map[string]int{}, map[int]bool{}
	for line := range strings.SplitSeq(sec, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		st, _ := strconv.Atoi(m[1])
		statuses[st] = true
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			if prev, dup := codes[c[1]]; dup && prev != st {
				t.Errorf("docs list %q as both %d and %d", c[1], prev, st)
			}
			codes[c[1]] = st
		}
	}
	return codes, statuses
}

// TestDocsErrorTable: docs/api.md's error table and the code table agree:
// every code of one is in the other with the same status, and every
// status the API sends is listed.
func TestDocsErrorTable(t *testing.T) {
	t.Parallel()
	docs, statuses := docsErrorTable(t)
	table := map[string]bool{}
	for _, c := range core.Codes() {
		table[c.Code] = true
		st, _ := statusOf(c.Kind)
		switch got, ok := docs[c.Code]; {
		case !ok:
			t.Errorf("code %q (%d) is missing from docs/api.md's error table", c.Code, st)
		case got != st:
			t.Errorf("docs/api.md lists %q as %d; the table says %d", c.Code, got, st)
		}
	}
	for c, st := range docs {
		if !table[c] {
			t.Errorf("docs/api.md lists %q (%d), which the code table lacks", c, st)
		}
	}
	var sent []int
	for _, k := range core.Kinds() {
		st, _ := statusOf(k)
		if !slices.Contains(sent, st) {
			sent = append(sent, st)
		}
	}
	for _, st := range sent {
		if !statuses[st] {
			t.Errorf("the API sends %d, which docs/api.md's error table does not list", st)
		}
	}
	for st := range statuses {
		if !slices.Contains(sent, st) {
			t.Errorf("docs/api.md lists %d, which no kind maps to", st)
		}
	}
}

// TestErrorShapes: one writer, the shape of the path: the seed's under
// /api/v1, OpenAI's elsewhere; x-should-retry on every error.
func TestErrorShapes(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		path  string
		err   error
		seed  bool
		code  string
		retry string
	}{
		{"/api/v1/chat/completions", core.JobError(&recap.ErrorInfo{Code: recap.CodeInsufficientQuota, Message: "no credit"}), true, "insufficient_quota", "false"},
		{"/v1/chat/completions", core.JobError(&recap.ErrorInfo{Code: recap.CodeInsufficientQuota, Message: "no credit"}), false, "insufficient_quota", "false"},
		{"/api/v1/responses", core.JobError(&recap.ErrorInfo{Code: recap.CodeUpstreamRejected, Message: "the LLM said 400"}), true, "upstream_rejected", "false"},
		{"/v1/responses", core.JobError(&recap.ErrorInfo{Code: recap.CodeUpstream, Message: "the LLM said 503"}), false, "upstream_error", "true"},
		{"/api/v1/jobs", badRequest("invalid_limit", "limit", "bad limit"), true, "invalid_limit", "false"},
		{"/v1/models", errUnauthorized, false, "invalid_api_key", "false"},
		{"/api/v1x", errUnauthorized, false, "invalid_api_key", "false"},
		{"/v1/chat/completions", &Error{Status: 429, Type: "requests", Code: "rate_limit_exceeded", Message: "slow down"}, false, "rate_limit_exceeded", "true"},
		{"/api/v1/chat/completions", errors.New("boom"), true, "internal_error", "true"},
	} {
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequest(http.MethodPost, tc.path, nil), tc.err)
		if got := rec.Header().Get("X-Should-Retry"); got != tc.retry {
			t.Errorf("%s %s: x-should-retry %q, want %q", tc.path, tc.code, got, tc.retry)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		if tc.seed {
			var e struct {
				Error string  `json:"error"`
				Code  string  `json:"code"`
				Type  string  `json:"type"`
				Param *string `json:"param"`
			}
			_, hasParam := raw["param"]
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" || e.Code != tc.code || e.Type == "" || !hasParam {
				t.Errorf("%s: %s, want the seed's shape with code %s", tc.path, rec.Body, tc.code)
			}
			continue
		}
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Message == "" || e.Error.Code == nil || *e.Error.Code != tc.code || len(raw) != 1 {
			t.Errorf("%s: %s, want OpenAI's shape with code %s", tc.path, rec.Body, tc.code)
		}
	}
}
