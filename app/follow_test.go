package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/core"
)

// TestLostFinalEvent: a job ends in Postgres but its final event never
// reaches the stream (a Redis failover took it with the old master, or it
// was evicted). A follower does not wait for ever: after an idle
// heartbeat it reads the job row and gets the final event made from it,
// on the events door (SSE) and through a waiting chat completion.
func TestLostFinalEvent(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		fast(c)
		c.Heartbeat = time.Second
	}})
	ctx := context.Background()
	id := e.SubmitBatch(t, "", e.Host.PageURL())[0]
	j := e.WaitJobs(t, 2*time.Minute, id)[0]
	if j.State != recap.StateSucceeded {
		t.Fatalf("job: %s %s %s", j.State, j.ErrorCode, j.ErrorMessage)
	}

	// Take the final event out of the job's stream.
	opt, _ := redis.ParseURL(e.Config.RedisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*events}:"+id).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("stream of job %s: %v %v", id, keys, err)
	}
	last, err := rdb.XRevRangeN(ctx, keys[0], "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		t.Fatalf("last event: %v %v", last, err)
	}
	if !strings.Contains(fmt.Sprint(last[0].Values["e"]), `"type":"result"`) {
		t.Fatalf("last event is not the result: %v", last[0].Values)
	}
	if err := rdb.XDel(ctx, keys[0], last[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.XLen(ctx, keys[0]).Result(); n == 0 {
		t.Fatal("the stream is empty: the test would take the expired-stream path")
	}

	// The events door ends with a result made from the row.
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, e.URL+"/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var typ string
	var final *recap.Event
	for final == nil && sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			typ = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && (typ == recap.EventResult || typ == recap.EventError) {
			final = &recap.Event{}
			if err := json.Unmarshal([]byte(v), final); err != nil {
				t.Fatal(err)
			}
		}
	}
	if final == nil {
		t.Fatalf("the events stream ended without a final event: %v", sc.Err())
	}
	if final.Type != recap.EventResult || final.Result == nil || !strings.Contains(final.Result.Markdown, "[") {
		t.Fatalf("final event from the row: %+v", final)
	}

	// core.Wait, which chat completions, Responses and MCP wait with,
	// returns the result too.
	uc := core.New(core.Config{Store: e.Store, Jobs: e.Deps.Jobs, SyncWait: time.Minute})
	r, err := uc.Wait(rctx, id, time.Second)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if r.Markdown != final.Result.Markdown || r.Model == "" {
		t.Errorf("wait: %+v, want the row's result %+v", r, final.Result)
	}
}
