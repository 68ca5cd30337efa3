package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
)

// serve runs the API's HTTP server (app.NewHTTPServer) on a loopback port
// until the test ends.
func serve(t *testing.T, h http.Handler, to app.HTTPTimeouts) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := app.NewHTTPServer("", h, to)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l) //nolint:errcheck
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String()
}

// A body sent a byte at a time is cut off once it falls behind the
// minimum rate, while a large body that keeps coming is read however long
// it takes (a server-wide ReadTimeout would cut it), and a stream that
// follows a fully read body, or a request without one, goes on far past
// every time-out.
func TestHTTPServerTimeouts(t *testing.T) {
	t.Parallel()
	to := app.HTTPTimeouts{Header: time.Second, Body: time.Second, MinBodyRate: 1024, Idle: time.Second}
	const streamFor = 4 * time.Second // four body time-outs and idle time-outs
	streamErr := make(chan error, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		// Stream for a while, as an SSE relay of a running job does.
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		end := time.After(streamFor)
		for {
			select {
			case <-r.Context().Done():
				streamErr <- fmt.Errorf("%s stream (%d body bytes) canceled: %w", r.Method, len(body), context.Cause(r.Context()))
				return
			case <-end:
				fmt.Fprint(w, "data: end\n\n")
				streamErr <- nil
				return
			case <-tick.C:
				fmt.Fprint(w, ": tick\n\n")
				w.(http.Flusher).Flush()
			}
		}
	})
	addr := serve(t, h, to)

	// The trickle: 100 bytes announced, one sent every 300 ms (a whole body
	// would take 30 s).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	cut := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		// The server's answer or its closing the connection ends the read.
		io.Copy(io.Discard, conn) //nolint:errcheck
		cut <- time.Since(start)
	}()
	sent := 0
	func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for sent < 100 {
			select {
			case d := <-cut:
				cut <- d
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("{")); err != nil {
					return
				}
				sent++
			}
		}
	}()
	select {
	case d := <-cut:
		if sent >= 100 {
			t.Fatalf("the trickled body was read to its end (%s)", d)
		}
		t.Logf("trickled body cut off after %s, %d of 100 bytes", d.Round(time.Millisecond), sent)
	case <-time.After(20 * time.Second):
		t.Fatal("the trickled body was never cut off")
	}

	// 64 KB at 16 KB/s: four times the body time-out, at sixteen times the
	// minimum rate.
	pr, pw := io.Pipe()
	go func() {
		chunk := strings.Repeat(" ", 4<<10)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for range 16 {
			<-tick.C
			if _, err := pw.Write([]byte(chunk)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/upload", pr)
	req.ContentLength = 64 << 10
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a steady large body: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasSuffix(string(b), "data: end\n\n") {
		t.Fatalf("a steady large body: %d %q", res.StatusCode, b)
	}
	if err := <-streamErr; err != nil {
		t.Fatal(err)
	}

	// A POST whose body arrives at once, then a long stream; and a GET.
	post := func() error {
		res, err := http.Post("http://"+addr+"/stream", "application/json", strings.NewReader(`{"stream":true}`))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(string(b), "data: end\n\n") {
			return fmt.Errorf("POST stream ended without its end: %q", b)
		}
		return nil
	}
	get := func() error {
		res, err := http.Get("http://" + addr + "/stream")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(string(b), "data: end\n\n") {
			return fmt.Errorf("GET stream ended without its end: %q", b)
		}
		return nil
	}
	clientErr := make(chan error, 2)
	go func() { clientErr <- post() }()
	go func() { clientErr <- get() }()
	for range 2 {
		if err := <-clientErr; err != nil {
			t.Error(err)
		}
		if err := <-streamErr; err != nil {
			t.Error(err)
		}
	}
}

// The real API behind the real server: a job's event stream outlives the
// body and idle time-outs and still gets the job's end.
func TestHTTPServerKeepsEventStreams(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	addr := serve(t, app.NewAPI(e.Config, e.Deps), app.HTTPTimeouts{Header: time.Second, Body: time.Second, Idle: time.Second})
	vk, err := jobs.VideoKey(e.Host.PageURL())
	if err != nil {
		t.Fatal(err)
	}
	j := &recap.Job{AccountID: e.KeyRow.AccountID, APIKeyID: e.KeyRow.ID, URL: e.Host.PageURL(), VideoKey: vk}
	if err := e.Deps.Jobs.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/jobs/"+j.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("events: %d %s", res.StatusCode, b)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	if ev := <-events; ev != recap.EventState {
		t.Fatalf("first event %q", ev)
	}
	// Well past the body and idle time-outs, the stream is still open:
	// the job's end comes through it.
	time.Sleep(3 * time.Second)
	if _, err := e.Deps.Jobs.Cancel(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-events:
		if !ok || ev != recap.EventError {
			t.Fatalf("after the cancel: %q (stream open: %v)", ev, ok)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the job's end never reached the stream")
	}
}
