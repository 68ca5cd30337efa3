package mcp

import (
	"context"
	"encoding/json"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// Subscription tool names.
const (
	ToolSubscribe         = "subscribe"
	ToolListSubscriptions = "list_subscriptions"
	ToolUnsubscribe       = "unsubscribe"
)

// addSubscriptionTools registers the subscription tools: the same use
// cases as /api/v1/subscriptions, with the same scopes.
func addSubscriptionTools(srv *sdk.Server, t *tools) {
	sdk.AddTool(srv, &sdk.Tool{Name: ToolSubscribe, Title: "Subscribe to a channel, playlist or feed",
		Description: "Follow a channel, playlist or podcast feed: every new video is summarized as it appears (the first check summarizes up to 'limit' newest). " +
			"Returns the subscription with feed_url, an Atom feed of its summaries readable without a key (a path on this server; shown once). Costs credit per video summarized.",
		InputSchema: toolSchema[SubscribeInput](), OutputSchema: nullableSchema[core.Subscription]()},
		t.subscribe)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolListSubscriptions, Title: "List subscriptions",
		Description:  "The caller's subscriptions, newest first, with their state (active, failing, paused), last check and last error.",
		OutputSchema: nullableSchema[SubscriptionsOutput]()},
		t.listSubscriptions)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolUnsubscribe, Title: "Unsubscribe",
		Description: "Delete a subscription by id: it is never checked again. The jobs it made stay.",
		InputSchema: toolSchema[UnsubscribeInput](), OutputSchema: toolSchema[UnsubscribeOutput]()},
		t.unsubscribe)
}

// SubscribeInput is subscribe's input.
type SubscribeInput struct {
	URL             string `json:"url" jsonschema:"the channel, playlist or feed URL (http or https)"`
	IntervalSeconds *int   `json:"interval_seconds,omitempty" jsonschema:"how often to check, in seconds; default 3600 (never below the server's floor)"`
	Limit           *int   `json:"limit,omitempty" jsonschema:"how many of the newest entries the first check summarizes (1-100); default 10"`
	Webhook         string `json:"webhook,omitempty" jsonschema:"a URL that receives each new summary's job object, signed"`
	Prompt          string `json:"prompt,omitempty" jsonschema:"what to focus on, or how to write each summary"`
	Language        string `json:"language,omitempty" jsonschema:"language code of the summaries, e.g. en or zh-Hans"`
}

// SubscriptionsOutput is list_subscriptions' structured output.
type SubscriptionsOutput struct {
	Subscriptions []*core.Subscription `json:"subscriptions"`
	HasMore       bool                 `json:"has_more"`
}

// UnsubscribeInput is unsubscribe's input.
type UnsubscribeInput struct {
	ID string `json:"id" jsonschema:"the subscription id"`
}

// UnsubscribeOutput is unsubscribe's structured output.
type UnsubscribeOutput struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func jsonResult(v any) *sdk.CallToolResult {
	b, _ := json.MarshalIndent(v, "", "  ")
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}
}

func (t *tools) subscribe(ctx context.Context, req *sdk.CallToolRequest, in SubscribeInput) (*sdk.CallToolResult, core.Subscription, error) {
	k, denied := t.need(req, recap.ScopeWrite)
	if denied != nil {
		return denied, core.Subscription{}, nil
	}
	sub, err := t.cfg.Core.Subscribe(ctx, core.SubscribeRequest{Caller: k, URL: in.URL, IntervalSeconds: in.IntervalSeconds,
		Limit: in.Limit, Webhook: in.Webhook, Prompt: in.Prompt, Language: in.Language})
	if err != nil {
		return toolError(err), core.Subscription{}, nil
	}
	sub.FeedURL = sub.FeedPath // relative to the server this MCP endpoint is on
	return jsonResult(sub), *sub, nil
}

func (t *tools) listSubscriptions(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, SubscriptionsOutput, error) {
	k, denied := t.need(req, recap.ScopeRead)
	if denied != nil {
		return denied, SubscriptionsOutput{}, nil
	}
	p, err := t.cfg.Core.ListSubscriptions(ctx, core.SubscriptionListRequest{Caller: k, Limit: 100})
	if err != nil {
		return toolError(err), SubscriptionsOutput{}, nil
	}
	out := SubscriptionsOutput{Subscriptions: p.Subscriptions, HasMore: p.HasMore}
	return jsonResult(out), out, nil
}

func (t *tools) unsubscribe(ctx context.Context, req *sdk.CallToolRequest, in UnsubscribeInput) (*sdk.CallToolResult, UnsubscribeOutput, error) {
	k, denied := t.need(req, recap.ScopeWrite)
	if denied != nil {
		return denied, UnsubscribeOutput{}, nil
	}
	id := strings.TrimSpace(in.ID)
	if err := t.cfg.Core.Unsubscribe(ctx, k, id); err != nil {
		return toolError(err), UnsubscribeOutput{}, nil
	}
	out := UnsubscribeOutput{ID: id, Deleted: true}
	return jsonResult(out), out, nil
}
