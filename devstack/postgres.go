package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means the PostgreSQL server binaries were not found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH, in /usr/lib/postgresql/*/bin " +
	"or Homebrew's opt/postgresql@*/bin: install them (Debian/Ubuntu: sudo apt-get install postgresql; " +
	"macOS: brew install postgresql@16), or set DATABASE_URL to a server you already run")

// pgPort names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
const pgPort = 5432

// pgUser is the cluster's superuser; only the socket's owner can connect.
const pgUser = "recap"

// PGCluster is a private PostgreSQL cluster run from the machine's own
// binaries, reachable only through a Unix socket in its directory.
type PGCluster struct {
	// Dir holds the data directory (data/), the socket and postgres.log.
	Dir string
	// SocketDir holds the Unix socket (Dir unless that path is too long).
	SocketDir string
	// URL connects to the "recap" database.
	URL string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string
	tmpSock bool
}

// pgAccount is who runs initdb and postgres: PostgreSQL refuses root, so
// root hands the cluster to the postgres system user (or nobody).
type pgAccount struct {
	name     string
	uid, gid uint32
	cred     *syscall.Credential // nil: run as ourselves
}

func pgRunAs() (pgAccount, error) {
	if os.Geteuid() != 0 {
		return pgAccount{name: "current user", uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return pgAccount{name: name, uid: uint32(uid), gid: uint32(gid),
			cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
	}
	return pgAccount{}, errors.New("postgres refuses to run as root, and neither a 'postgres' nor a 'nobody' account exists to run it as: create one (useradd --system postgres) or set DATABASE_URL")
}

var pgVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// findPGBin returns a directory holding initdb and postgres, preferring
// the major version that made an existing data directory.
func findPGBin(version string) (string, error) {
	var dirs []string
	if version != "" {
		dirs = append(dirs, "/usr/lib/postgresql/"+version+"/bin", "/usr/pgsql-"+version+"/bin",
			"/opt/homebrew/opt/postgresql@"+version+"/bin", "/usr/local/opt/postgresql@"+version+"/bin")
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, g := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin"} {
		m, _ := filepath.Glob(g)
		// Newest major version first.
		sort.Slice(m, func(i, j int) bool { return majorOf(m[i]) > majorOf(m[j]) })
		dirs = append(dirs, m...)
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func majorOf(path string) int {
	m := regexp.MustCompile(`(\d+)`).FindString(path)
	n, _ := strconv.Atoi(m)
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// reachable reports whether the account can walk down to dir: every
// existing ancestor must grant it search permission.
func reachable(dir string, a pgAccount) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil {
			sys, ok := st.Sys().(*syscall.Stat_t)
			if ok {
				mode := st.Mode().Perm()
				var bit fs.FileMode = 0o001
				switch {
				case uint32(sys.Uid) == a.uid:
					bit = 0o100
				case uint32(sys.Gid) == a.gid:
					bit = 0o010
				}
				if mode&bit == 0 {
					return false
				}
			}
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// PGOptions tunes a cluster started by StartPGWith; zero values keep
// StartPG's settings.
type PGOptions struct {
	// MaxConnections is the server's max_connections (default 200).
	MaxConnections int
}

// StartPG starts (creating it on first use) a private cluster under dir.
// Its files belong to the account running it; when that account cannot
// reach dir (a checkout under /root), the cluster lives in the system's
// temporary directory instead, under a name derived from dir.
func StartPG(ctx context.Context, dir string, log *slog.Logger) (*PGCluster, error) {
	return StartPGWith(ctx, dir, log, PGOptions{})
}

// StartPGWith is StartPG with options (cmd/testenv raises max_connections
// for the end-to-end tests).
func StartPGWith(ctx context.Context, dir string, log *slog.Logger, opt PGOptions) (*PGCluster, error) {
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = 200
	}
	acct, err := pgRunAs()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(abs, "pg")
	if acct.cred != nil && !reachable(abs, acct) {
		sum := sha256.Sum256([]byte(abs))
		alt := filepath.Join(os.TempDir(), "recap-pg-"+hex.EncodeToString(sum[:6]))
		log.Info("dev: the postgres account cannot reach the state directory; keeping the cluster in the temporary directory",
			"dir", abs, "cluster", alt, "account", acct.name)
		base = alt
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("dev postgres: %w", err)
	}
	data := filepath.Join(base, "data")
	version := ""
	if b, err := os.ReadFile(filepath.Join(data, "PG_VERSION")); err == nil {
		version = strings.TrimSpace(string(b))
	}
	bin, err := findPGBin(version)
	if err != nil {
		return nil, err
	}
	if version != "" {
		out, _ := exec.Command(filepath.Join(bin, "postgres"), "-V").Output()
		if m := pgVersionRE.FindSubmatch(out); m != nil && string(m[1]) != version {
			return nil, fmt.Errorf("dev postgres: the cluster in %s was made by PostgreSQL %s but only %s is installed: install PostgreSQL %s, or delete %s to start afresh",
				data, version, m[1], version, base)
		}
	}
	c := &PGCluster{Dir: base, SocketDir: base, logPath: filepath.Join(base, "postgres.log"), exited: make(chan struct{})}
	// A Unix socket path is limited to about 100 bytes.
	if len(c.SocketDir)+len("/.s.PGSQL.5432") > 100 {
		s, err := os.MkdirTemp("", "recap-pgsock-")
		if err != nil {
			return nil, fmt.Errorf("dev postgres: %w", err)
		}
		c.SocketDir, c.tmpSock = s, true
	}
	if acct.cred != nil {
		for _, d := range []string{base, c.SocketDir} {
			if err := chownTree(d, acct); err != nil {
				return nil, fmt.Errorf("dev postgres: hand %s to %s: %w", d, acct.name, err)
			}
		}
	}
	if version == "" {
		log.Info("dev: creating a PostgreSQL cluster", "dir", data, "bin", bin)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", pgUser, "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
		cmd.Dir = base
		cmd.Env = pgEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(data)
			return nil, fmt.Errorf("dev postgres: initdb: %w\n%s", err, out)
		}
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dev postgres: %w", err)
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", c.SocketDir, "-p", strconv.Itoa(pgPort),
		"-c", "listen_addresses=", "-c", "max_connections="+strconv.Itoa(opt.MaxConnections))
	c.cmd.Dir = base
	c.cmd.Env = pgEnv()
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = pgSysProcAttr(acct.cred)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("dev postgres: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	q := url.Values{"host": {c.SocketDir}, "port": {strconv.Itoa(pgPort)}, "sslmode": {"disable"}}
	admin := (&url.URL{Scheme: "postgres", User: url.User(pgUser), Path: "/postgres", RawQuery: q.Encode()}).String()
	c.URL = (&url.URL{Scheme: "postgres", User: url.User(pgUser), Path: "/recap", RawQuery: q.Encode()}).String()
	if err := c.ready(ctx, admin); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// pgEnv keeps the caller's environment minus what would point libpq or
// the server elsewhere, with a locale every system has.
func pgEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func chownTree(root string, a pgAccount) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(a.uid), int(a.gid))
	})
}

// ready waits until the server accepts connections, then creates the
// recap database if it is missing.
func (c *PGCluster) ready(ctx context.Context, adminURL string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, adminURL)
		cancel()
		if err == nil {
			defer conn.Close(context.WithoutCancel(ctx))
			var exists bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'recap')`).Scan(&exists); err != nil {
				return fmt.Errorf("dev postgres: %w", err)
			}
			if !exists {
				if _, err := conn.Exec(ctx, `CREATE DATABASE recap`); err != nil {
					return fmt.Errorf("dev postgres: %w", err)
				}
			}
			return nil
		}
		last = err
		select {
		case <-c.exited:
			return fmt.Errorf("dev postgres: the server exited (%v); its log %s ends with:\n%s", c.waitErr, c.logPath, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("dev postgres: not accepting connections after 60s (%v); see %s", last, c.logPath)
}

func (c *PGCluster) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	s := strings.Join(lines, "\n")
	if bytes.Contains(b, []byte("lock file")) && bytes.Contains(b, []byte("already exists")) {
		s += "\n(another Recap dev instance seems to use " + c.Dir + ")"
	}
	return s
}

// Stop shuts the server down (fast: running queries are canceled) and
// waits for it, killing it after 30 seconds.
func (c *PGCluster) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if c.tmpSock {
		os.RemoveAll(c.SocketDir)
	}
}
