package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/recap/recap/app"
)

// devDir is dev mode's state directory, under the working directory.
const devDir = ".recap"

// dev runs the API and a worker in one process until ctx ends, on
// embedded Redis and a private Postgres where REDIS_URL and DATABASE_URL
// are unset.
func dev(ctx context.Context, cfg app.Config, stdout, stderr io.Writer) error {
	if os.Getenv("LOG_FORMAT") == "" {
		cfg.LogFormat = "text"
	}
	if os.Getenv("LISTEN_ADDR") == "" {
		// Dev mode prints its key: keep it off the network by default.
		cfg.ListenAddr = "127.0.0.1:8080"
	}
	log := app.NewLogger(cfg, stderr)
	d, err := app.StartDev(ctx, cfg, log, app.DevOptions{Dir: devDir, Out: stdout})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintln(stdout, "Ctrl-C stops it.")
	select {
	case <-ctx.Done():
		log.Info("dev: stopping")
		return nil
	case err := <-d.Err():
		return err
	}
}

// demoCmd parses `api demo [URL]`.
func demoCmd(ctx context.Context, cfg app.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("demo: want at most one URL\n%s", usage)
	}
	o := demoOptions{Dir: devDir, Stdout: stdout, Stderr: stderr}
	if len(args) == 1 {
		o.URL = args[0]
	}
	return demo(ctx, cfg, o)
}
