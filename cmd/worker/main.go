// Command worker runs Recap's pipeline stages from the asynq queues:
// yt-dlp, ffmpeg, speech-to-text and the LLM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/recap/recap/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := app.Load(os.Getenv)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stderr)
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := app.StartWorker(cfg, d)
	if err != nil {
		return err
	}
	log.Info("worker started", "concurrency", cfg.WorkerConcurrency)
	<-ctx.Done()
	log.Info("worker stopping: finishing running stages", "timeout", cfg.ShutdownTimeout)
	w.Stop()
	log.Info("worker stopped")
	return nil
}
