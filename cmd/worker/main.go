// Command worker runs Recap's pipeline stages from the asynq queues:
// yt-dlp, ffmpeg, speech-to-text and the LLM.
//
//	worker               run the stages; /metrics, /healthz and /readyz on METRICS_ADDR
//	worker healthcheck   exit 0 when this host's worker answers /healthz (container HEALTHCHECK)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/recap/recap/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  worker               run the pipeline stages; /metrics, /healthz and /readyz on METRICS_ADDR (default :9090)
  worker healthcheck   exit 0 when the worker on METRICS_ADDR answers /healthz (for a container HEALTHCHECK)`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := app.Load(getenv)
	if err != nil {
		return err
	}
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "", "serve":
		return serve(ctx, cfg, stderr)
	case "healthcheck":
		return app.Probe(ctx, cfg.MetricsAddr, "/healthz")
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// serve runs the worker until ctx ends (SIGTERM), then drains it.
func serve(ctx context.Context, cfg app.Config, stderr io.Writer) error {
	log := app.NewLogger(cfg, stderr)
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	// The operator routes come up before the worker, so a slow start is
	// alive (/healthz) but not ready (/readyz).
	ops, err := app.StartOps(cfg, d)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ops.Shutdown(sctx)
	}()
	log.Info("worker metrics listening", "addr", ops.Addr())
	w, err := app.StartWorker(cfg, d)
	if err != nil {
		return err
	}
	ops.SetAccepting(true)
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency)
	<-ctx.Done()
	ops.SetAccepting(false)
	log.Info("worker stopping: finishing running stages", "timeout", cfg.ShutdownTimeout)
	w.Stop()
	log.Info("worker stopped")
	return nil
}
