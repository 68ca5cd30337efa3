package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mdLink is a markdown link or image target: ](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// htmlAnchor is an explicit anchor, <a id="name">, which GitHub keeps.
var htmlAnchor = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)

// codeSpan is inline code: a link written inside backticks is an example.
var codeSpan = regexp.MustCompile("`[^`\n]*`")

// anchors returns the heading anchors GitHub gives a markdown file.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
				out[m[1]] = true
			}
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		slug := b.String()
		for i := 1; out[slug]; i++ {
			slug = fmt.Sprintf("%s-%d", b.String(), i)
		}
		out[slug] = true
	}
	return out
}

// withoutFences drops fenced code blocks: a link inside an example (a
// job's markdown, say) is the example's, not the document's.
func withoutFences(md string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(codeSpan.ReplaceAllString(line, "``"))
		}
	}
	return b.String()
}

// TestDocLinks: the README and docs/ link only inside the repository (or
// to the web), and every file and heading they link to exists.
func TestDocLinks(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	repo, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("no docs/*.md: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(withoutFences(string(b)), -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") ||
				strings.Contains(target, "javascript:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Join(filepath.Dir(f), filepath.FromSlash(path))
				abs, err := filepath.Abs(dest)
				if err != nil || !strings.HasPrefix(abs, repo+string(filepath.Separator)) {
					t.Errorf("%s links outside the repository: %s", f, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s links to a missing file: %s", f, target)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			tb, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(tb))[frag] {
				t.Errorf("%s links to a missing heading: %s", f, target)
			}
		}
	}
}

// TestAnchors: the slugs are GitHub's.
func TestAnchors(t *testing.T) {
	t.Parallel()
	got := anchors("# Recap\n## Metrics: `GET /metrics`\n```\n# not a heading\n```\n### Credits, rate limits and sign-in\n## Recap\n<a id=\"tested\"></a>**Tested.**\n")
	for _, want := range []string{"recap", "metrics-get-metrics", "credits-rate-limits-and-sign-in", "recap-1", "tested"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block became a heading")
	}
}
