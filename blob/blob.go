// Package blob stores uploaded files in a bucket named by a URL, through
// gocloud.dev/blob: file:// (one host, or a volume shared by the API and
// the workers), s3:// (S3, MinIO, R2), gs://, azblob://, and mem:// for
// tests. It imports no other package of Recap.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The drivers a BLOB_URL may name.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// ErrNotFound is returned for a key the bucket does not hold.
var ErrNotFound = errors.New("blob: not found")

// Bucket is a bucket of uploaded files. It is safe for concurrent use.
type Bucket struct {
	b   *blob.Bucket
	url string
}

// Open opens the bucket a URL names. A file:// directory is created when
// missing (fileblob wants it to exist), so the default under the data
// directory works on a fresh host.
func Open(ctx context.Context, rawURL string) (*Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("blob: BLOB_URL %q is not a URL (want file:///dir, s3://bucket, gs://bucket, azblob://container or mem://)", rawURL)
	}
	if u.Scheme == "file" {
		dir := u.Path
		if dir == "" {
			return nil, fmt.Errorf("blob: BLOB_URL %q names no directory", rawURL)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
		// Writes go through a temporary file beside the target and a
		// rename: a crash never leaves half a file under a key.
		if u.Query().Get("no_tmp_dir") == "" && u.Query().Get("create_dir") == "" {
			q := u.Query()
			q.Set("no_tmp_dir", "true")
			u.RawQuery = q.Encode()
		}
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", redact(u), err)
	}
	return &Bucket{b: b, url: redact(u)}, nil
}

// String names the bucket without credentials, for logs.
func (b *Bucket) String() string { return b.url }

// Close releases the bucket.
func (b *Bucket) Close() error { return b.b.Close() }

// Put streams r to key. The object is only visible once r is fully
// written: a failed or canceled write leaves nothing under key.
func (b *Bucket) Put(ctx context.Context, key, contentType string, r io.Reader) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		cancel()  // aborts the write
		w.Close() //nolint:errcheck
		return n, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return n, nil
}

// Open reads key.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("blob: %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return r, nil
}

// Download copies key into a new file in dir and returns its path; name
// is the file's base name (the extension helps ffmpeg's tools and
// speech-to-text services that look at it).
func (b *Bucket) Download(ctx context.Context, key, dir, name string) (string, error) {
	r, err := b.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	path := filepath.Join(dir, filepath.Base(name))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("blob: download %s: %w", key, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("blob: download %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("blob: download %s: %w", key, err)
	}
	return path, nil
}

// Delete removes key; a key already gone is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key is stored.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := b.b.Exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("blob: exists %s: %w", key, err)
	}
	return ok, nil
}

// redact drops credentials a URL may carry in its user info or query.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "secret") || strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "password") {
			q.Set(k, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}
