package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap/mcp"
)

// typeArrays lists the places in a JSON schema whose "type" is an array.
func typeArrays(path string, v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["type"].([]any); ok {
			out = append(out, path)
		}
		for k, c := range v {
			out = append(out, typeArrays(path+"."+k, c)...)
		}
	case []any:
		for i, c := range v {
			out = append(out, typeArrays(fmt.Sprintf("%s[%d]", path, i), c)...)
		}
	}
	return out
}

// TestToolSchemas: every property of every tool's input and output
// schema has one type (tool clients and model providers reject or
// mishandle ["null", "string"]), and summarize_video's start and end are
// typed strings.
func TestToolSchemas(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(mcp.New(mcp.Config{}))
	defer srv.Close()
	ctx := context.Background()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).
		Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]map[string]any{}
	for _, tool := range res.Tools {
		for kind, s := range map[string]any{"input": tool.InputSchema, "output": tool.OutputSchema} {
			b, _ := json.Marshal(s)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if bad := typeArrays("$", m); len(bad) > 0 {
				t.Errorf("%s %s schema has type arrays at %v:\n%s", tool.Name, kind, bad, b)
			}
			schemas[tool.Name+" "+kind] = m
		}
	}
	props, _ := schemas[mcp.ToolSummarize+" input"]["properties"].(map[string]any)
	for _, p := range []string{"start", "end"} {
		ps, _ := props[p].(map[string]any)
		if ps["type"] != "string" || ps["description"] == "" {
			t.Errorf("summarize_video %s: %v", p, ps)
		}
	}
	if out, _ := schemas[mcp.ToolGetJob+" output"]["properties"].(map[string]any); out["finished_at"].(map[string]any)["type"] != "string" {
		t.Errorf("get_job finished_at: %v", out["finished_at"])
	}
}
