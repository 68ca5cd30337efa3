package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/recap/recap/jobs"
)

// recordedCodes reads jobs/ and media/ (not their tests) for every code a
// job can be recorded with: the Code* string constants (jobs' and media's
// UpstreamCode ones), string literals given as a Code field or to
// permanent(), and which codes permanent() is called with.
func recordedCodes(t *testing.T) (all map[string]string, permanent map[string]string) {
	t.Helper()
	all, permanent = map[string]string{}, map[string]string{}
	consts := map[string]string{}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, dir := range []string{"../jobs", "../media"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	lit := func(e ast.Expr) (string, bool) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			s, err := strconv.Unquote(bl.Value)
			return s, err == nil
		}
		return "", false
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					if i < len(vs.Values) && strings.HasPrefix(name.Name, "Code") {
						if s, ok := lit(vs.Values[i]); ok {
							consts[name.Name] = s
							all[s] = fset.Position(name.Pos()).String()
						}
					}
				}
			}
			return true
		})
	}
	value := func(e ast.Expr) (string, bool) {
		if s, ok := lit(e); ok {
			return s, true
		}
		if id, ok := e.(*ast.Ident); ok {
			s, ok := consts[id.Name]
			return s, ok
		}
		return "", false
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Code" {
					if s, ok := lit(n.Value); ok {
						all[s] = fset.Position(n.Pos()).String()
					}
				}
			case *ast.CallExpr:
				if fn, ok := n.Fun.(*ast.Ident); ok && fn.Name == "permanent" && len(n.Args) > 0 {
					if s, ok := value(n.Args[0]); ok {
						all[s] = fset.Position(n.Pos()).String()
						permanent[s] = fset.Position(n.Pos()).String()
					}
				}
			}
			return true
		})
	}
	return all, permanent
}

// TestCodeTableCoversRecordedCodes: every code the worker can record on a
// job has a row in the table, marked Job, and is the caller's, the
// site's or a provider's (never a 500) unless it really is Recap's.
func TestCodeTableCoversRecordedCodes(t *testing.T) {
	t.Parallel()
	all, _ := recordedCodes(t)
	if len(all) < 20 {
		t.Fatalf("found only %d codes in jobs/ and media/: the scan is broken", len(all))
	}
	for code, where := range all {
		c, ok := CodeOf(code)
		switch {
		case !ok:
			t.Errorf("%s: code %q has no row in the code table (core/codes.go)", where, code)
		case !c.Job:
			t.Errorf("%s: code %q is recorded on jobs but its row is not marked Job", where, code)
		case c.Kind == KindInternal && code != jobs.CodeInternal:
			t.Errorf("%s: code %q maps to an internal error (500)", where, code)
		}
	}
	for _, c := range Codes() {
		if c.Job {
			if _, ok := all[c.Code]; !ok {
				t.Errorf("row %q is marked Job, but nothing in jobs/ or media/ records it", c.Code)
			}
		}
		if c.Doc == "" {
			t.Errorf("row %q has no docs line", c.Code)
		}
	}
}

// TestPermanentCodesNotRetried: what the worker fails at once (permanent)
// the table tells clients not to retry either.
func TestPermanentCodesNotRetried(t *testing.T) {
	t.Parallel()
	_, perm := recordedCodes(t)
	for code, where := range perm {
		if e := JobError(&jobs.ErrorInfo{Code: code}); e.ShouldRetry() {
			t.Errorf("%s: the worker fails %q at once, but the table says retry", where, code)
		}
	}
}

func TestJobError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code  string
		kind  Kind
		retry bool
	}{
		// An upload that expired after the job was admitted: as at admission.
		{jobs.CodeFileNotFound, KindNotFound, false},
		{jobs.CodeUpstreamBlocked, KindUnavailable, true},
		{jobs.CodeUpstream, KindUpstream, true},
		{jobs.CodeUpstreamRejected, KindUpstream, false},
		{jobs.CodeContextLength, KindInvalid, false},
		{jobs.CodeTranscription, KindUpstream, false},
		{jobs.CodeInsufficientQuota, KindQuota, false},
		{jobs.CodeCanceled, KindCanceled, false},
		{"never_heard_of", KindInternal, true},
	} {
		e := JobError(&jobs.ErrorInfo{Code: tt.code, Message: "m"})
		if e.Kind != tt.kind || e.ShouldRetry() != tt.retry || !e.JobFailed || e.Code != tt.code {
			t.Errorf("%s: %+v (retry %v), want kind %d retry %v", tt.code, e, e.ShouldRetry(), tt.kind, tt.retry)
		}
	}
}
