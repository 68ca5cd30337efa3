package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/summarize/summarizetest"
)

// TestModelErrorNotCharged: a model that answers nothing, or only moments
// the transcript does not hold, fails the job as model_error (a 502 to a
// chat completion, never a 200 with empty content), at once (no retries),
// and the caller is not charged: its hold is released, the balance whole.
func TestModelErrorNotCharged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, reply string }{
		{"empty reply", ""},
		{"all unsupported", "## Overview\n\n## Highlights\n- [00:40] A dragon sings opera on the moon\n- **00:50** – Aliens land in the parking lot\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := apptest.Start(t, apptest.Options{Configure: fast})
			e.Fake.SetScript(func(summarizetest.ChatRequest) (string, bool) { return tc.reply, true })
			ctx := context.Background()

			var raw *http.Response
			resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()), option.WithMaxRetries(0), option.WithResponseInto(&raw))
			var apiErr *openai.Error
			if !asAPIError(err, &apiErr) {
				t.Fatalf("reply %+v, err %v; want an API error", resp, err)
			}
			if apiErr.StatusCode != http.StatusBadGateway || apiErr.Code != recap.CodeModelError {
				t.Fatalf("status %d code %q message %q; want 502 %s", apiErr.StatusCode, apiErr.Code, apiErr.Message, recap.CodeModelError)
			}
			j, err := e.Store.Job(ctx, raw.Header.Get("X-Recap-Job-Id"))
			if err != nil {
				t.Fatal(err)
			}
			if j.State != recap.StateFailed || j.ErrorCode != recap.CodeModelError || j.SummaryID != nil {
				t.Fatalf("job %s %s %q (summary %v), want failed %s with no summary", j.State, j.ErrorCode, j.ErrorMessage, j.SummaryID, recap.CodeModelError)
			}
			e.CheckInvariants(t, j.ID)
			if k := e.LedgerKinds(t, j.ID); k["hold"] != 1 || k["release"] != 1 || k["capture"] != 0 {
				t.Errorf("ledger %v, want one hold and one release", k)
			}
			bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
			if err != nil || bal.Available != 600*60 || bal.Held != 0 || bal.UsedThisMonth != 0 {
				t.Errorf("balance %+v %v, want everything back", bal, err)
			}
			// Permanent: the summary stage ran once, one model call.
			if n := e.Fake.ChatCalls(); n != 1 {
				t.Errorf("%d model calls, want 1 (no retries)", n)
			}
			if n, err := e.Store.Attempts(ctx, j.ID); err != nil || n != 1 {
				t.Errorf("%d summary attempts (%v), want 1", n, err)
			}
		})
	}
}
