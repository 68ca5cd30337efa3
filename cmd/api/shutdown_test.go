package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// SIGTERM (ctx cancelled in main) stops intake at once and ends serve
// within the shutdown time-out, even with a completion still waiting for
// its job: nothing keeps the process alive past it.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	st, dbURL := storetest.NewWithURL(t)
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cfg.DatabaseURL, cfg.RedisURL, cfg.ListenAddr = dbURL, apptest.RedisURL(), addr
	cfg.QueuePrefix = "ts" + hex.EncodeToString(b) + ":"
	cfg.AllowPrivateNetworks = true
	cfg.ShutdownTimeout = time.Second
	_, key, err := st.CreateKey(context.Background(), store.NewKey{Name: "t", Seconds: 600})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	base := "http://" + addr + "/api/v1"
	apptest.Poll(t, 30*time.Second, "the API to listen", func() bool {
		res, err := http.Get(base + "/models")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})

	// A completion that waits for its job: no worker runs, so it would wait
	// SYNC_WAIT_SECONDS.
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions",
			strings.NewReader(`{"model":"bibigpt","messages":[{"role":"user","content":"http://127.0.0.1:9/v.mp4"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		if res, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	apptest.Poll(t, 30*time.Second, "the job to be accepted", func() bool {
		var n int
		_ = st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n)
		return n == 1
	})

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after the shutdown time-out")
	}
	if _, err := http.Get(base + "/models"); err == nil {
		t.Fatal("the API still accepts connections after shutdown")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request was left hanging")
	}
}
