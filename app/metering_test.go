package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
)

// followUpBody is a follow-up question about page's video.
func followUpBody(page, question string) string {
	b, _ := json.Marshal(map[string]any{"messages": []map[string]any{
		{"role": "user", "content": page}, {"role": "assistant", "content": "A summary [00:01]."},
		{"role": "user", "content": question}}})
	return string(b)
}

// TestTokensArePriced: follow-up questions about a transcribed video and
// questions about images are priced by the model tokens they use: the most
// they can use is held when they are admitted, and what the provider
// reported is charged out of it; the rest goes back. A balance below the
// hold is refused before any model call.
func TestTokensArePriced(t *testing.T) {
	t.Parallel()
	const price = 5 // credit seconds per 1,000 tokens
	e := apptest.Start(t, apptest.Options{Minutes: 10, Configure: func(c *app.Config) {
		fast(c)
		c.PricePer1KTokens = price
	}})
	ctx := context.Background()
	page := e.Host.PageURL()
	// The video's summary first: priced by its duration.
	res, body := call(t, "POST", e.URL+"/chat/completions", e.Key, chatBody(page, "Summarize"))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("summary: %d %s", res.StatusCode, body)
	}
	image, _ := json.Marshal(map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{
		{"type": "text", "text": "What is in this picture?"},
		{"type": "image_url", "image_url": map[string]string{"url": "data:image/png;base64,iVBORw0KGgo="}}}}}})
	for name, req := range map[string]string{
		"follow-up": followUpBody(page, "Now write me an essay about it."),
		"image":     string(image),
	} {
		before, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		res, body := call(t, "POST", e.URL+"/chat/completions", e.Key, req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", name, res.StatusCode, body)
		}
		id := res.Header.Get("X-Recap-Job-Id")
		j, err := e.Store.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.TokenPrice != price || j.PromptTokens == 0 {
			t.Fatalf("%s: job priced at %v per 1k tokens, %d prompt tokens", name, j.TokenPrice, j.PromptTokens)
		}
		var held, refund int64
		if err := e.Store.Pool().QueryRow(ctx, `SELECT
			(SELECT held_delta FROM ledger_entries WHERE job_id = $1 AND kind = 'hold'),
			(SELECT balance_delta FROM ledger_entries WHERE job_id = $1 AND kind = 'capture')`, id).Scan(&held, &refund); err != nil {
			t.Fatalf("%s: ledger: %v", name, err)
		}
		want := store.TokenCharge(price, j.PromptTokens, j.CompletionTokens, held)
		if held-refund != want || j.CostSeconds != want {
			t.Errorf("%s: held %d, refunded %d, cost %d; want a charge of %d for %d+%d tokens", name, held, refund, j.CostSeconds, want,
				j.PromptTokens, j.CompletionTokens)
		}
		after, _ := e.Store.Balance(ctx, e.KeyRow.AccountID)
		if before.Available-after.Available != want {
			t.Errorf("%s: the balance went from %d to %d, want a charge of %d", name, before.Available, after.Available, want)
		}
	}
	e.CheckInvariants(t)

	// A key whose balance is below the hold: refused, no model call.
	_, poor := e.NewKey(t, "poor", 0)
	row, _ := e.Store.KeyBySecret(ctx, poor)
	if err := e.Store.Grant(ctx, row.AccountID, 3, "test"); err != nil {
		t.Fatal(err)
	}
	calls := len(e.Fake.Requests())
	res, body = call(t, "POST", e.URL+"/chat/completions", poor, followUpBody(page, "And another essay."))
	if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "insufficient_quota" {
		t.Fatalf("poor key: %d %s", res.StatusCode, body)
	}
	if n := len(e.Fake.Requests()); n != calls {
		t.Fatalf("the provider was called %d times for a refused request", n-calls)
	}
}

// TestConcurrentAdmission: a key with one minute of credit sends twenty
// chat completions for different new videos at once. Admission takes the
// account's lock, so exactly one job is admitted (the others get
// insufficient_quota) and yt-dlp runs for that one only.
func TestConcurrentAdmission(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 1, NoLLM: true, Configure: func(c *app.Config) {
		fast(c)
		c.SyncWait = 2 * time.Minute
	}})
	const n = 20
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not call: t.Fatal is for the test's own goroutine.
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/chat/completions",
				strings.NewReader(chatBody(fmt.Sprintf("%s?v=%d", e.Host.PageURL(), i), "Summarize")))
			req.Header.Set("Authorization", "Bearer "+e.Key)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body) //nolint:errcheck
			res.Body.Close()
			codes[i] = res.StatusCode
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	if ok != 1 || refused != n-1 {
		t.Fatalf("status codes %v: want one 200 and %d 429", codes, n-1)
	}
	if jobs := countRows(t, e, `SELECT count(*) FROM jobs WHERE account_id = $1`, e.KeyRow.AccountID); jobs != 1 {
		t.Fatalf("%d jobs admitted", jobs)
	}
	if hits := e.Host.Hits(mediatest.PagePath); hits > 3 {
		t.Fatalf("the video page was fetched %d times for one admitted job", hits)
	}
}
