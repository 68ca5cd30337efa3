package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/recap/recap/devstack"
	"github.com/recap/recap/store"
)

// DevOptions configure the one-process dev mode.
type DevOptions struct {
	// Dir holds dev mode's state: the Postgres cluster (pg/) and the key
	// (dev-key). Default ".recap" in the working directory.
	Dir string
	// Out receives the lines meant for the person who started it (the key
	// and a curl line); nil discards them.
	Out io.Writer
	// Minutes of credit a new dev key gets (default 6000).
	Minutes int64
}

// Dev is a running one-process Recap: the API and a worker, on the
// configured Postgres and Redis or, where those are unset, on a private
// Postgres cluster and an embedded Redis.
type Dev struct {
	Config Config
	Deps   *Deps
	Worker *WorkerHandle
	// URL is the API's root (http://host:port); Key the dev key's secret.
	URL string
	Key string
	// KeyFile is where the key is kept between runs.
	KeyFile string

	// Redis is the embedded Redis and PG the private cluster; nil when
	// REDIS_URL or DATABASE_URL were given.
	Redis *miniredis.Miniredis
	PG    *devstack.PGCluster

	srv      *http.Server
	serveErr chan error
}

// StartDev starts dev mode. With REDIS_URL unset it embeds miniredis; with
// DATABASE_URL unset it runs a private cluster from the machine's
// PostgreSQL binaries under Dir. It creates a key on first start, keeps it
// in Dir, and prints it with a ready-to-paste curl line.
func StartDev(ctx context.Context, cfg Config, log *slog.Logger, opts DevOptions) (d *Dev, err error) {
	if opts.Dir == "" {
		opts.Dir = ".recap"
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Minutes <= 0 {
		opts.Minutes = 6000
	}
	// Not private: the postgres account must reach pg/ inside it (which is;
	// so is the key file).
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	d = &Dev{KeyFile: filepath.Join(opts.Dir, "dev-key"), serveErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if cfg.RedisURL == "" {
		if d.Redis, err = devstack.StartRedis(); err != nil {
			return nil, err
		}
		cfg.RedisURL = "redis://" + d.Redis.Addr() + "/0"
		log.Info("dev: embedded Redis (in memory)", "addr", d.Redis.Addr())
	}
	if cfg.DatabaseURL == "" {
		if d.PG, err = devstack.StartPG(ctx, opts.Dir, log); err != nil {
			return nil, err
		}
		cfg.DatabaseURL = d.PG.URL
		log.Info("dev: private PostgreSQL", "dir", d.PG.Dir)
	}
	d.Config = cfg
	if d.Deps, err = Connect(ctx, cfg, log); err != nil {
		return nil, err
	}
	if d.Redis != nil {
		// The embedded Redis starts empty: queue again the stage of every job
		// a previous run left unfinished.
		d.requeue(ctx, log)
	}
	if d.Worker, err = StartWorker(cfg, d.Deps); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("dev: listen on %s: %w", cfg.ListenAddr, err)
	}
	d.URL = "http://" + displayAddr(ln.Addr())
	d.srv = &http.Server{Handler: NewAPI(cfg, d.Deps), ReadHeaderTimeout: 10 * time.Second}
	go func() { d.serveErr <- d.srv.Serve(ln) }()
	created, err := d.ensureKey(ctx, opts.Minutes)
	if err != nil {
		return nil, err
	}
	d.printWelcome(opts.Out, created)
	log.Info("dev: ready", "url", d.URL)
	return d, nil
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (d *Dev) requeue(ctx context.Context, log *slog.Logger) {
	list, err := d.Deps.Store.UnfinishedJobs(ctx, time.Now(), 10000)
	if err != nil {
		log.Warn("dev: list unfinished jobs", "err", err)
		return
	}
	for i := range list {
		j := &list[i]
		if _, _, err := d.Deps.Jobs.Retry(ctx, j); err != nil {
			log.Warn("dev: requeue", "job_id", j.ID, "video_key", j.VideoKey, "err", err)
			continue
		}
		log.Info("dev: requeued unfinished job", "job_id", j.ID, "video_key", j.VideoKey, "state", j.State)
	}
}

// ensureKey reuses the key kept in KeyFile while it still works, else
// creates one; it reports whether it created one.
func (d *Dev) ensureKey(ctx context.Context, minutes int64) (bool, error) {
	if b, err := os.ReadFile(d.KeyFile); err == nil {
		secret := strings.TrimSpace(string(b))
		k, err := d.Deps.Store.KeyBySecret(ctx, secret)
		if err == nil {
			d.Key = secret
			bal, err := d.Deps.Store.Balance(ctx, k.AccountID)
			if err == nil && bal.Available < minutes*60/10 {
				if err := d.Deps.Store.Grant(ctx, k.AccountID, minutes*60, "dev mode top-up"); err != nil {
					return false, err
				}
			}
			return false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	_, secret, err := d.Deps.Store.CreateKey(ctx, store.NewKey{Name: "dev", Seconds: minutes * 60})
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(d.KeyFile, []byte(secret+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("dev: keep the key: %w", err)
	}
	d.Key = secret
	return true, nil
}

func (d *Dev) printWelcome(w io.Writer, created bool) {
	infra := []string{}
	if d.Redis != nil {
		infra = append(infra, "embedded Redis")
	}
	if d.PG != nil {
		infra = append(infra, "PostgreSQL in "+d.PG.Dir)
	}
	summarizer := "LLM " + d.Config.LLMModel
	if d.Config.LLMBaseURL == "" {
		summarizer = "offline summarizer recap-extractive (set LLM_BASE_URL for an LLM)"
	}
	fmt.Fprintf(w, "Recap dev mode: API and worker on %s\n", d.URL)
	if len(infra) > 0 {
		fmt.Fprintf(w, "  services: %s\n", strings.Join(infra, ", "))
	}
	fmt.Fprintf(w, "  summaries: %s\n", summarizer)
	state := "kept in"
	if created {
		state = "created, saved in"
	}
	fmt.Fprintf(w, "  API key (%s %s): %s\n\n", state, d.KeyFile, d.Key)
	fmt.Fprintf(w, "Try it:\n  curl -N %s/api/v1/chat/completions -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"model\":\"bibigpt\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"https://www.youtube.com/watch?v=jNQXAC9IVRw\"}]}'\n\n",
		d.URL, d.Key)
	if d.Config.AdminToken != "" {
		fmt.Fprintf(w, "Queues: %s/admin/queues (ADMIN_TOKEN)  Metrics: %s/metrics\n", d.URL, d.URL)
	} else {
		fmt.Fprintf(w, "Metrics: %s/metrics  (set ADMIN_TOKEN for the queue dashboard at /admin/queues)\n", d.URL)
	}
}

// Close stops the API, then the worker (running stages finish or go back
// to the queue), then the connections, Postgres and the embedded Redis.
func (d *Dev) Close() {
	if d.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d.srv.Shutdown(ctx) //nolint:errcheck
		cancel()
	}
	if d.Worker != nil {
		d.Worker.Stop()
	}
	if d.Deps != nil {
		d.Deps.Close()
	}
	if d.PG != nil {
		d.PG.Stop()
	}
	if d.Redis != nil {
		d.Redis.Close()
	}
}

// Err returns a channel that receives the HTTP server's error should it
// stop serving on its own.
func (d *Dev) Err() <-chan error { return d.serveErr }
