package media_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// Close kills every running subprocess's group and waits for it, so a
// worker that shuts down leaves no yt-dlp behind; later calls fail.
func TestCloseKillsSubprocesses(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	started := make(chan struct{})
	var once sync.Once
	path := "/hang-" + t.Name() + ".webm"
	b.host.Serve(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/webm")
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		once.Do(func() { close(started) })
		<-r.Context().Done()
	}))
	errc := make(chan error, 1)
	go func() {
		_, err := c.DownloadAudio(context.Background(), b.host.URL(path), nil, b.dir, nil)
		errc <- err
	}()
	<-started
	if len(mediatest.Processes(path)) == 0 {
		t.Fatal("no yt-dlp process found while it downloads")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if pids := mediatest.Processes(path); len(pids) != 0 {
		t.Fatalf("processes %v survived Close", pids)
	}
	if err := <-errc; err == nil {
		t.Fatal("DownloadAudio succeeded across Close")
	}
	if _, err := c.Resolve(context.Background(), b.host.PageURL()); !errors.Is(err, media.ErrClosed) {
		t.Fatalf("Resolve after Close = %v, want ErrClosed", err)
	}
}
