package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/recap/recap/app/apptest"
)

// TestNodeClients runs clients/node's suites (node --test) against a
// whole Recap: the client libraries people use, unchanged — openai-node,
// the AI SDK (generateText and streamText on the Responses API),
// LangChain JS on the Responses API, and the MCP TypeScript SDK's OAuth
// flow with dynamic registration. CI installs them (`npm ci` in
// .ci/run); elsewhere the test is skipped when node or clients/node's
// node_modules is missing.
func TestNodeClients(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the real-client suites in clients/node need Node.js 20 or later")
	}
	dir, err := filepath.Abs(filepath.Join("..", "clients", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Skip("clients/node/node_modules is missing: run `npm ci` in clients/node to run the real-client suites")
	}
	e := apptest.Start(t, apptest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RECAP_BASE_URL="+e.Server.URL, "RECAP_API_KEY="+e.Key, "RECAP_VIDEO_URL="+e.Host.PageURL(),
		"NO_COLOR=1", "OPENAI_API_KEY=", "OPENAI_BASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
}
