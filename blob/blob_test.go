package blob_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap/blob"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"mem://", "file://" + filepath.Join(t.TempDir(), "files")} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b, err := blob.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			body := strings.Repeat("recap ", 50000)
			n, err := b.Put(ctx, "files/file-1", "audio/mpeg", strings.NewReader(body))
			if err != nil || n != int64(len(body)) {
				t.Fatalf("put: %d, %v", n, err)
			}
			r, err := b.Open(ctx, "files/file-1")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if string(got) != body {
				t.Fatalf("read %d bytes, want %d", len(got), len(body))
			}
			dir := t.TempDir()
			path, err := b.Download(ctx, "files/file-1", dir, "../../x.mp3")
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(path) != dir {
				t.Fatalf("download escaped its directory: %s", path)
			}
			if fi, _ := os.Stat(path); fi == nil || fi.Size() != int64(len(body)) {
				t.Fatalf("downloaded file: %v", fi)
			}
			// A write that fails midway leaves nothing behind.
			if _, err := b.Put(ctx, "files/broken", "", io.MultiReader(strings.NewReader("abc"), errReader{})); err == nil {
				t.Fatal("put of a failing reader succeeded")
			}
			if ok, err := b.Exists(ctx, "files/broken"); err != nil || ok {
				t.Fatalf("broken write left an object: %v %v", ok, err)
			}
			if err := b.Delete(ctx, "files/file-1"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "files/file-1"); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if _, err := b.Open(ctx, "files/file-1"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("open deleted: %v", err)
			}
		})
	}
}

func TestOpenRefusesNonURL(t *testing.T) {
	t.Parallel()
	if _, err := blob.Open(context.Background(), "just/a/path"); err == nil {
		t.Fatal("a path without a scheme was accepted")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
