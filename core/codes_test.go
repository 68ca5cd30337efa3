package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/recap/recap"
)

// recordedCodes reads jobs/ and media/ (not their tests) for every code a
// job can be recorded with: the recap.Code* constants (codes.go at the
// root) they use, string literals given as a Code field or to
// permanent(), and which codes permanent() is called with.
func recordedCodes(t *testing.T) (all map[string]string, permanent map[string]string) {
	t.Helper()
	all, permanent = map[string]string{}, map[string]string{}
	consts := map[string]string{}
	var files []*ast.File
	fset := token.NewFileSet()
	nouns, err := parser.ParseFile(fset, "../codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
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
	ast.Inspect(nouns, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if i < len(vs.Values) && strings.HasPrefix(name.Name, "Code") {
					if s, ok := lit(vs.Values[i]); ok {
						consts[name.Name] = s
					}
				}
			}
		}
		return true
	})
	if len(consts) < 20 {
		t.Fatalf("found only %d codes in codes.go: the scan is broken", len(consts))
	}
	value := func(e ast.Expr) (string, bool) {
		if s, ok := lit(e); ok {
			return s, true
		}
		if sel, ok := e.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "recap" {
				s, ok := consts[sel.Sel.Name]
				return s, ok
			}
		}
		return "", false
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if s, ok := value(n); ok {
					all[s] = fset.Position(n.Pos()).String()
				}
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
		case c.Kind == KindInternal && code != recap.CodeInternal:
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
		if e := JobError(&recap.ErrorInfo{Code: code}); e.ShouldRetry() {
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
		{recap.CodeFileNotFound, KindNotFound, false},
		{recap.CodeUpstreamBlocked, KindUnavailable, true},
		{recap.CodeUpstream, KindUpstream, true},
		{recap.CodeUpstreamRejected, KindUpstream, false},
		{recap.CodeContextLength, KindInvalid, false},
		{recap.CodeTranscription, KindUpstream, false},
		{recap.CodeInsufficientQuota, KindQuota, false},
		{recap.CodeCanceled, KindCanceled, false},
		{"never_heard_of", KindInternal, true},
	} {
		e := JobError(&recap.ErrorInfo{Code: tt.code, Message: "m"})
		if e.Kind != tt.kind || e.ShouldRetry() != tt.retry || !e.JobFailed || e.Code != tt.code {
			t.Errorf("%s: %+v (retry %v), want kind %d retry %v", tt.code, e, e.ShouldRetry(), tt.kind, tt.retry)
		}
	}
}

// TestEveryNounCodeHasARow: each code the nouns' package names (codes.go)
// has a row in the code table, so a new code cannot skip the docs.
func TestEveryNounCodeHasARow(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "../codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			bl, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			code, _ := strconv.Unquote(bl.Value)
			n++
			if _, ok := CodeOf(code); !ok {
				t.Errorf("recap.%s (%q) has no row in core's code table", name.Name, code)
			}
		}
		return true
	})
	if n < 20 {
		t.Fatalf("read only %d codes from codes.go", n)
	}
}
