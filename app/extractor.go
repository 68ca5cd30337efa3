package app

import (
	"context"
	"time"

	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
)

// startExtractor starts the warm yt-dlp pool in pool mode
// (EXTRACTOR_MODE), falling back to a yt-dlp process per run when no
// pool process can start (no interpreter, no yt_dlp module), logs which
// mode the worker runs and exports it with the pool's series.
func startExtractor(cfg Config, d *Deps, mc *media.Client) {
	if cfg.ExtractorMode != media.ExtractorPool {
		d.Log.Info("media: yt-dlp runs as a process per run", "extractor_mode", "cli")
		d.Metrics.WatchExtractor("cli", nil)
		return
	}
	size := cfg.ExtractorPool
	if size <= 0 {
		size = media.DefaultPoolSize(cfg.WorkerConcurrency + cfg.BatchConcurrency)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := mc.StartPool(ctx, media.PoolConfig{Size: size, Python: cfg.ExtractorPython, RequestTimeout: cfg.ExtractorTimeout,
		MaxRequests: cfg.ExtractorMaxRequests, MaxRSS: cfg.ExtractorMaxRSS, Observe: d.Metrics.ObserveExtraction})
	if err != nil {
		d.Log.Warn("media: the warm yt-dlp pool did not start; yt-dlp runs as a process per run", "extractor_mode", "cli", "err", err)
		d.Metrics.WatchExtractor("cli", nil)
		return
	}
	d.Log.Info("media: yt-dlp runs in a warm pool", "extractor_mode", "pool", "size", size, "python", pool.Python())
	d.Metrics.WatchExtractor("pool", func() metrics.ExtractorStats {
		s := pool.Stats()
		return metrics.ExtractorStats{Size: s.Size, Live: s.Live, Busy: s.Busy, Restarts: s.Restarts, Crashes: s.Crashes, RSS: s.RSS}
	})
}
