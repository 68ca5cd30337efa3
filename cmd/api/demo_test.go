package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/recap/recap/app"
)

// TestDemoSummarizesTheSampleTalk runs `api demo` as on a fresh machine:
// no DATABASE_URL, no REDIS_URL, no LLM, no URL.
func TestDemoSummarizesTheSampleTalk(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "recap-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // reachable by the postgres account
		t.Fatal(err)
	}
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.TempDir = t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := demo(context.Background(), cfg, demoOptions{Dir: dir + "/.recap", Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	for _, stage := range []string{"• Resolving the video", "• Getting the transcript", "• Summarizing", "Done in"} {
		if !strings.Contains(stderr.String(), stage) {
			t.Errorf("progress lacks %q:\n%s", stage, stderr.String())
		}
	}
	for _, ts := range []string{"[00:01]", "[00:08]", "[00:14]"} {
		if !strings.Contains(stdout.String(), ts) {
			t.Errorf("summary lacks %s:\n%s", ts, stdout.String())
		}
	}
}
