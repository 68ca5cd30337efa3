package app

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/recap/recap/blob"
	"github.com/recap/recap/core"
)

// filePurgeInterval is how often an API process deletes expired uploads.
const filePurgeInterval = 10 * time.Minute

// openBucket opens BLOB_URL once per process; both the API and the worker
// of a one-process dev server share it. Closed with d.Close.
func (d *Deps) openBucket(ctx context.Context, cfg Config) (*blob.Bucket, error) {
	d.bucketOnce.Do(func() {
		d.bucket, d.bucketErr = blob.Open(ctx, cfg.BlobURL)
		if d.bucketErr == nil {
			b := d.bucket
			d.closers = append(d.closers, b.Close)
		}
	})
	return d.bucket, d.bucketErr
}

// filesConfig is the use cases' upload configuration, or the zero value
// (uploads off, with a clear error) when the bucket cannot be opened.
func filesConfig(cfg Config, d *Deps) core.FilesConfig {
	b, err := d.openBucket(context.Background(), cfg)
	if err != nil {
		d.Log.Error("file uploads are off: BLOB_URL could not be opened", "err", err)
		return core.FilesConfig{}
	}
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = filepath.Join(cfg.DataDir, "uploads")
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		d.Log.Error("file uploads are off: no directory for uploads", "dir", tmp, "err", err)
		return core.FilesConfig{}
	}
	return core.FilesConfig{Store: d.Store, Bucket: b, MaxBytes: cfg.MaxUploadBytes, TTL: cfg.FileTTL, TempDir: tmp,
		FFprobePath: cfg.FFprobePath, FFmpegPath: cfg.FFmpegPath}
}

// workerFiles is what the stages read uploaded files with.
func workerFiles(cfg Config, d *Deps) (*core.WorkerFiles, error) {
	b, err := d.openBucket(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &core.WorkerFiles{Store: d.Store, Bucket: b, FFprobePath: cfg.FFprobePath, FFmpegPath: cfg.FFmpegPath}, nil
}

// startFilePurge deletes expired uploads every filePurgeInterval until
// d.Close.
func startFilePurge(d *Deps, uc *core.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(filePurgeInterval)
		defer t.Stop()
		for {
			if n, err := uc.PurgeExpiredFiles(ctx); err != nil && ctx.Err() == nil {
				d.Log.Warn("purge expired files", "err", err)
			} else if n > 0 {
				d.Log.Info("purged expired files", "files", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	// Stopped before the bucket it uses is closed.
	d.closers = append([]func() error{func() error {
		cancel()
		<-done
		return nil
	}}, d.closers...)
}
