// Command testenv runs a command — the test suite — with the PostgreSQL
// and Redis the tests need, starting private ones when the machine has
// none running, and stopping them when the command ends (also when it
// fails or is interrupted):
//
//	go run ./cmd/testenv -- go test ./store/ ./jobs/
//	go run ./cmd/testenv -- make test-only        (what `make test` does)
//
// For each service, in order:
//
//   - TEST_DATABASE_URL / TEST_REDIS_URL already set: used as they are.
//   - the tests' default (postgres://postgres@127.0.0.1:5432/test,
//     redis://127.0.0.1:6379/0) accepts a connection: used, and exported.
//   - otherwise a private one is started for the run: a PostgreSQL cluster
//     from the machine's server binaries (devstack's dev-mode manager,
//     Unix socket only, max_connections 500) and a redis-server on a free
//     loopback port, both under one temporary directory removed afterwards.
//
// TESTENV_PROBE_DATABASE_URL and TESTENV_PROBE_REDIS_URL replace the
// defaults probed (e.g. a port nothing listens on, to try the private
// path on a machine whose own services run); TESTENV_KEEP=1 keeps the
// temporary directory (the servers' logs) after the run. A run killed
// outright (SIGKILL) takes its servers with it (Linux) but leaves the
// directory; the next run that starts a server removes it.
//
// The exit status is the command's.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap/devstack"
)

// The tests' own defaults when TEST_DATABASE_URL / TEST_REDIS_URL are
// unset (storetest.DefaultURL, apptest.DefaultRedisURL; main_test.go
// keeps them equal).
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// minConnections is what the end-to-end tests need (API and worker pools
// side by side, a test with 100 concurrent clients).
const minConnections = 500

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testenv: "+format+"\n", args...)
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/testenv -- COMMAND [ARG...]\n"+
			"Runs COMMAND with TEST_DATABASE_URL and TEST_REDIS_URL set, starting a private\n"+
			"PostgreSQL and redis-server for the run when none answers (see its doc comment).")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	// The servers and the command are started from this thread, and the
	// kernel signals them when it exits (Pdeathsig, Linux): keep it alive
	// until run returns.
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// A signal while the services start aborts the start.
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	env := &services{}
	defer env.stop()
	dbURL, err := env.database(ctx)
	if err == nil {
		var redisURL string
		redisURL, err = env.redis(ctx)
		if err == nil {
			os.Setenv("TEST_DATABASE_URL", dbURL)
			os.Setenv("TEST_REDIS_URL", redisURL)
		}
	}
	if err != nil {
		logf("%v", err)
		return 1
	}
	if ctx.Err() != nil {
		return 1
	}
	// From here the command owns the signals: forward them, and stop the
	// services once it has exited.
	cancel()

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = commandAttr()
	if err := cmd.Start(); err != nil {
		logf("%v", err)
		return 1
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		logf("%v", err)
		return 1
	}
}

// services is what this run started, for stop.
type services struct {
	dir   string
	lock  *os.File
	pg    *devstack.PGCluster
	rcmd  *exec.Cmd
	rdone chan struct{}
}

func (s *services) tempDir() (string, error) {
	if s.dir != "" {
		return s.dir, nil
	}
	sweep()
	d, err := os.MkdirTemp("", "recap-testenv-")
	if err != nil {
		return "", err
	}
	// Run as root, devstack hands the cluster to the postgres account,
	// which must be able to walk in.
	if err := os.Chmod(d, 0o755); err != nil {
		os.RemoveAll(d)
		return "", err
	}
	// Held for the run: sweep leaves the directory alone while it is.
	lock, err := os.OpenFile(filepath.Join(d, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(d)
		return "", fmt.Errorf("testenv: lock %s: %w", d, err)
	}
	s.dir, s.lock = d, lock
	return d, nil
}

// sweep removes what runs killed outright (SIGKILL: the kernel stopped
// their servers, nothing removed their files) left in the temporary
// directory: those whose lock no process holds.
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "recap-testenv-*"))
	for _, d := range dirs {
		f, err := os.OpenFile(filepath.Join(d, ".lock"), os.O_RDWR, 0)
		if err != nil {
			continue // another user's, or one being created
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if os.RemoveAll(d) == nil {
				logf("removed %s, left by a run that was killed", d)
			}
		}
		f.Close()
	}
}

func probeEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (s *services) database(ctx context.Context) (string, error) {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		logf("PostgreSQL: TEST_DATABASE_URL as set")
		return u, nil
	}
	probe := probeEnv("TESTENV_PROBE_DATABASE_URL", defaultDatabaseURL)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.Connect(pctx, probe)
	if err == nil {
		var max int
		qerr := conn.QueryRow(pctx, `SELECT current_setting('max_connections')::int`).Scan(&max)
		conn.Close(context.Background())
		cancel()
		logf("PostgreSQL: the running server at %s", redact(probe))
		if qerr == nil && max < minConnections {
			logf("warning: its max_connections is %d; the end-to-end tests need %d "+
				"(ALTER SYSTEM SET max_connections = %d, then restart it)", max, minConnections, minConnections)
		}
		return probe, nil
	}
	cancel()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	logf("PostgreSQL: none usable at %s (%v); starting a private cluster for this run", redact(probe), err)
	dir, err := s.tempDir()
	if err != nil {
		return "", err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pg, err := devstack.StartPGWith(ctx, dir, quiet, devstack.PGOptions{MaxConnections: minConnections})
	if err != nil {
		return "", err
	}
	s.pg = pg
	logf("PostgreSQL: private cluster in %s, max_connections %d", pg.Dir, minConnections)
	return pg.URL, nil
}

func (s *services) redis(ctx context.Context) (string, error) {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		logf("Redis: TEST_REDIS_URL as set")
		return u, nil
	}
	probe := probeEnv("TESTENV_PROBE_REDIS_URL", defaultRedisURL)
	err := pingRedis(ctx, probe, 2*time.Second)
	if err == nil {
		logf("Redis: the running server at %s", redact(probe))
		return probe, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	logf("Redis: none at %s (%v); starting a redis-server for this run", redact(probe), err)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not installed (scripts/test-deps.sh installs it), and nothing answers at %s: %w", redact(probe), err)
	}
	dir, err := s.tempDir()
	if err != nil {
		return "", err
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return "", err
	}
	var last error
	// A free port can be taken between choosing and binding it: try again.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		u, err := s.startRedis(ctx, bin, rdir, port)
		if err == nil {
			return u, nil
		}
		last = err
		if ctx.Err() != nil || s.rcmd != nil {
			break // only a server that exited (port taken) is retried; stop ends the rest
		}
	}
	return "", last
}

func (s *services) startRedis(ctx context.Context, bin, dir string, port int) (string, error) {
	logPath := filepath.Join(dir, "redis.log")
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logPath, "--daemonize", "no")
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.rcmd, s.rdone = cmd, done
	u := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := pingRedis(ctx, u, time.Second)
		if err == nil {
			logf("Redis: private redis-server at %s (pid %d)", u, cmd.Process.Pid)
			return u, nil
		}
		select {
		case <-done:
			s.rcmd, s.rdone = nil, nil
			b, _ := os.ReadFile(logPath)
			return "", fmt.Errorf("redis-server exited on port %d: %s", port, tail(string(b)))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("redis-server on port %d: no answer after 15s (%v); see %s", port, err, logPath)
		}
	}
}

// stop shuts down what this run started and removes its directory.
func (s *services) stop() {
	if s.rcmd != nil {
		_ = s.rcmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.rdone:
		case <-time.After(10 * time.Second):
			_ = s.rcmd.Process.Kill()
			<-s.rdone
		}
		logf("Redis: private redis-server stopped")
	}
	if s.pg != nil {
		s.pg.Stop()
		logf("PostgreSQL: private cluster stopped")
	}
	if s.dir == "" {
		return
	}
	if os.Getenv("TESTENV_KEEP") == "1" {
		os.Remove(filepath.Join(s.dir, ".lock")) // sweep passes it by
		s.lock.Close()
		logf("kept %s", s.dir)
		return
	}
	os.RemoveAll(s.dir)
	// devstack may have put the cluster elsewhere (an unreachable dir).
	if s.pg != nil && s.pg.Dir != "" && filepath.Dir(s.pg.Dir) != s.dir {
		os.RemoveAll(s.pg.Dir)
	}
}

// quietRedis drops go-redis's own log lines (a failed probe is reported once, by testenv).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }

func pingRedis(ctx context.Context, u string, timeout time.Duration) error {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return rdb.Ping(pctx).Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redact hides a password in a URL for the log.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(an unparsable URL)"
}

func tail(s string) string {
	const n = 800
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
