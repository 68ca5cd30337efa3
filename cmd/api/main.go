// Command api serves Recap's HTTP API and holds the admin subcommands:
//
//	api                                   serve the API (LISTEN_ADDR)
//	api migrate                           apply database migrations
//	api keys create --name N --minutes M  create a key; prints the secret last
//	api keys list | api keys revoke ID
//	api credits grant --key ID --minutes M
//	api dev                               API + worker in one process (embedded Redis, private Postgres)
//	api demo [URL]                        summarize a video (default: the sample talk) with progress bars
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := app.Load(os.Getenv)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, stderr)
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "keys":
		return keys(ctx, cfg, args, stdout)
	case "credits":
		return credits(ctx, cfg, args, stdout)
	case "dev":
		return dev(ctx, cfg, stdout, stderr)
	case "demo":
		return demoCmd(ctx, cfg, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  api                                              serve the HTTP API
  api migrate                                      apply database migrations
  api keys create --name NAME --minutes N [--rpm N] create a key (secret printed once, last line)
  api keys list                                    list keys
  api keys revoke ID                               revoke a key
  api credits grant --key ID --minutes N           add credits to a key's account
  api dev                                          API + worker in one process; embedded Redis and a private
                                                   PostgreSQL in .recap/ when REDIS_URL / DATABASE_URL are unset
  api demo [URL]                                   summarize URL (default: the sample talk) in dev mode, with progress`

func openStore(ctx context.Context, cfg app.Config) (*store.Store, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set")
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func serve(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	d, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	srv := &http.Server{Addr: cfg.ListenAddr, Handler: app.NewAPI(cfg, d), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "addr", cfg.ListenAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func keys(ctx context.Context, cfg app.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want create, list or revoke")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
		name := fs.String("name", "", "key name")
		minutes := fs.Int64("minutes", 0, "minutes of media credited")
		rpm := fs.Int("rpm", 0, "requests per minute (0 = RATE_LIMIT_RPM)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *name == "" {
			return errors.New("keys create: --name is required")
		}
		if *minutes < 0 || *rpm < 0 {
			return errors.New("keys create: --minutes and --rpm must not be negative")
		}
		k, secret, err := st.CreateKey(ctx, store.NewKey{Name: *name, Seconds: *minutes * 60, RPM: *rpm})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created key %d (%s) with %d minutes; the secret is shown once:\n%s\n", k.ID, k.Name, *minutes, secret)
		return nil
	case "list":
		ks, err := st.ListKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tBALANCE_MIN\tCREATED\tREVOKED")
		for _, k := range ks {
			bal, err := st.Balance(ctx, k.AccountID)
			if err != nil {
				return err
			}
			rev := "-"
			if k.RevokedAt != nil {
				rev = k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s…\t%.1f\t%s\t%s\n", k.ID, k.Name, k.Prefix, float64(bal.Available)/60, k.CreatedAt.Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return errors.New("keys revoke: want a key ID")
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return fmt.Errorf("keys revoke: %q is not a key ID", args[1])
		}
		if err := st.RevokeKey(ctx, id); err != nil {
			return fmt.Errorf("keys revoke %d: %w", id, err)
		}
		fmt.Fprintf(stdout, "revoked key %d\n", id)
		return nil
	}
	return fmt.Errorf("keys: unknown subcommand %q", args[0])
}

func credits(ctx context.Context, cfg app.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "grant" {
		return errors.New("credits: want grant --key ID --minutes N")
	}
	fs := flag.NewFlagSet("credits grant", flag.ContinueOnError)
	keyID := fs.Int64("key", 0, "key ID")
	minutes := fs.Int64("minutes", 0, "minutes to add")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *keyID <= 0 || *minutes <= 0 {
		return errors.New("credits grant: --key and a positive --minutes are required")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.Key(ctx, *keyID)
	if err != nil {
		return fmt.Errorf("credits grant: key %d: %w", *keyID, err)
	}
	if err := st.Grant(ctx, k.AccountID, *minutes*60, "granted by operator"); err != nil {
		return err
	}
	bal, err := st.Balance(ctx, k.AccountID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "granted %d minutes to key %d; balance %.1f minutes\n", *minutes, *keyID, float64(bal.Available)/60)
	return nil
}
