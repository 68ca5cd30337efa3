package media_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap/media"
)

func TestWorkDir(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	live, err := media.ClaimWorkDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(live.Path(), "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A worker that died holding a directory: a shell locks one the way
	// ClaimWorkDir does and is killed.
	cmd := exec.Command("sh", "-c", `d="$1/recap-worker-999-dead"; mkdir "$d" && exec 9>"$d/.lock" && flock 9 && echo data > "$d/audio.webm" && kill -9 $$`, "sh", parent)
	_ = cmd.Run() // killed on purpose
	dead := filepath.Join(parent, "recap-worker-999-dead")
	if _, err := os.Stat(filepath.Join(dead, "audio.webm")); err != nil {
		t.Fatalf("setup: %v", err)
	}

	if n := media.SweepWorkDirs(parent); n != 1 {
		t.Errorf("SweepWorkDirs removed %d, want 1 (the dead worker's)", n)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead worker's dir survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(live.Path(), "x")); err != nil {
		t.Errorf("live worker's dir was swept: %v", err)
	}
	// A second worker in the same process does not take the first one's.
	other, err := media.ClaimWorkDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path()); err != nil {
		t.Errorf("claiming a second dir swept the first: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(other.Path()), "recap-worker-") {
		t.Errorf("unexpected name %s", other.Path())
	}
	for _, w := range []*media.WorkDir{live, other} {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(w.Path()); !os.IsNotExist(err) {
			t.Errorf("Close left %s", w.Path())
		}
	}
}
