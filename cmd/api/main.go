// Command api serves Recap's HTTP API and holds the admin subcommands:
//
//	api                                   serve the API (LISTEN_ADDR)
//	api migrate                           apply database migrations
//	api keys create --name N --minutes M  create a key; prints the secret last
//	api keys list | api keys revoke ID
//	api credits grant --key ID --minutes M
//	api oauth-clients create --name N --redirect-uri URI [--confidential]
//	api oauth-clients list | api oauth-clients revoke ID
//	api dev                               API + worker in one process (embedded Redis, private Postgres)
//	api healthcheck                       exit 0 when this host's API answers /healthz (container HEALTHCHECK)
//	api demo [URL]                        summarize a video (default: the sample talk) with progress bars
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/recap/recap"
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
		app.TuneGC(os.Getenv)
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
	case "oauth-clients":
		return oauthClients(ctx, cfg, args, stdout)
	case "healthcheck":
		return app.Probe(ctx, cfg.ListenAddr, "/healthz")
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
  api keys create --name NAME --minutes N [--rpm N] [--scopes read,write]
                                                   create a key (secret printed once, last line)
  api keys list                                    list keys
  api keys revoke ID                               revoke a key
  api credits grant --key ID --minutes N           add credits to a key's account
  api oauth-clients create --name N --redirect-uri URI [--redirect-uri URI2] [--confidential]
                                                   register an OAuth2 client (secret printed once)
  api oauth-clients list                           list OAuth2 clients
  api oauth-clients revoke ID                      revoke a client and its tokens
  api healthcheck                                  exit 0 when the API on LISTEN_ADDR answers /healthz (container HEALTHCHECK)
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
	// Slow senders are cut off (request bodies have a deadline), while
	// streams live as long as their jobs: see app.NewHTTPServer.
	srv := app.NewHTTPServer(cfg.ListenAddr, app.NewAPI(cfg, d), cfg.HTTP)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("api listening", "addr", cfg.ListenAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let requests in flight finish; streams still open
	// after the time-out are cut (clients resume with Last-Event-ID).
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return nil
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
		scopes := fs.String("scopes", "read,write", "comma-separated scopes: read, write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var sc []string
		for _, s := range strings.Split(*scopes, ",") {
			switch s = strings.TrimSpace(s); s {
			case "":
			case recap.ScopeRead, recap.ScopeWrite:
				sc = append(sc, s)
			default:
				return fmt.Errorf("keys create: unknown scope %q (want read, write)", s)
			}
		}
		if len(sc) == 0 {
			return errors.New("keys create: --scopes must name at least one scope")
		}
		if *name == "" {
			return errors.New("keys create: --name is required")
		}
		if *minutes < 0 || *rpm < 0 {
			return errors.New("keys create: --minutes and --rpm must not be negative")
		}
		k, secret, err := st.CreateKey(ctx, store.NewKey{Name: *name, Seconds: *minutes * 60, RPM: *rpm, Scopes: sc})
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

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// checkRedirectURI accepts absolute https URIs, and http only on loopback
// (native apps and development, RFC 8252 §7.3); no fragments.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("redirect URI %q must be an absolute URL without a fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("redirect URI %q: http is allowed only on localhost; use https", raw)
	}
	return fmt.Errorf("redirect URI %q must use https (or http on localhost)", raw)
}

func oauthClients(ctx context.Context, cfg app.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("oauth-clients: want create, list or revoke")
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("oauth-clients create", flag.ContinueOnError)
		name := fs.String("name", "", "client name shown on the consent page")
		var uris repeated
		fs.Var(&uris, "redirect-uri", "redirect URI (repeatable); matched exactly")
		confidential := fs.Bool("confidential", false, "issue a client secret (server-side apps); public clients use PKCE alone")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *name == "" || len(uris) == 0 {
			return errors.New("oauth-clients create: --name and --redirect-uri are required")
		}
		for _, u := range uris {
			if err := checkRedirectURI(u); err != nil {
				return fmt.Errorf("oauth-clients create: %w", err)
			}
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		c, secret, err := st.CreateOAuthClient(ctx, *name, uris, *confidential)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created OAuth2 client %q\nclient_id: %s\n", c.Name, c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret (shown once):\n%s\n", secret)
		}
		return nil
	case "list":
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		cs, err := st.ListOAuthClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tREDIRECT_URIS\tCREATED\tREVOKED")
		for _, c := range cs {
			typ, rev := "public", "-"
			if c.Confidential {
				typ = "confidential"
			}
			if c.RevokedAt != nil {
				rev = c.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, typ, strings.Join(c.RedirectURIs, " "), c.CreatedAt.Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return errors.New("oauth-clients revoke: want a client ID")
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RevokeOAuthClient(ctx, args[1]); err != nil {
			return fmt.Errorf("oauth-clients revoke %s: %w", args[1], err)
		}
		fmt.Fprintf(stdout, "revoked OAuth2 client %s and its tokens\n", args[1])
		return nil
	}
	return fmt.Errorf("oauth-clients: unknown subcommand %q", args[0])
}
