package media

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WorkDir is one worker process's scratch directory: every per-job and
// per-call temporary directory lives inside it. The worker removes its
// own on shutdown; one killed outright (SIGKILL, OOM, power loss) leaves
// it behind, and the next worker sharing the parent removes it at start.
// Ownership is an flock held on a file inside, which the kernel releases
// when the process dies, so a live worker's directory is never taken.
type WorkDir struct {
	path string
	lock *os.File
}

const workDirPrefix = "recap-worker-"

// ClaimWorkDir creates a scratch directory under parent (default
// os.TempDir()) and removes those of dead workers.
func ClaimWorkDir(parent string) (*WorkDir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	SweepWorkDirs(parent)
	dir, err := os.MkdirTemp(parent, workDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("work dir: lock: %w", err)
	}
	return &WorkDir{path: dir, lock: f}, nil
}

// Path is the directory.
func (w *WorkDir) Path() string { return w.path }

// Close removes the directory and everything in it.
func (w *WorkDir) Close() error {
	err := os.RemoveAll(w.path)
	w.lock.Close()
	return err
}

// SweepWorkDirs removes the scratch directories under parent whose worker
// is gone, and reports how many it removed.
func SweepWorkDirs(parent string) int {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workDirPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			// Being created this instant, or a crash between mkdir and open:
			// only the latter is still lockless a minute on.
			if info, serr := e.Info(); serr == nil && time.Since(info.ModTime()) > time.Minute {
				if os.RemoveAll(dir) == nil {
					n++
				}
			}
			continue
		}
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if os.RemoveAll(dir) == nil {
				n++
			}
		}
		f.Close()
	}
	return n
}
