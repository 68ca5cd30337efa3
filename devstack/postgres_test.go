package devstack

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReachable decides where a root-run dev cluster can live: only where
// the postgres account may walk down every directory.
func TestReachable(t *testing.T) {
	t.Parallel()
	other := pgAccount{name: "nobody", uid: 65534, gid: 65534}
	if uint32(os.Geteuid()) == other.uid {
		t.Skip("runs as the account under test")
	}
	base, err := os.MkdirTemp("", "recap-reach-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	open := filepath.Join(base, "open", "state")
	closed := filepath.Join(base, "closed", "state")
	for _, d := range []string{open, closed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(closed), 0o700); err != nil {
		t.Fatal(err)
	}
	if !reachable(open, other) {
		t.Errorf("%s should be reachable", open)
	}
	if reachable(closed, other) {
		t.Errorf("%s is behind a private directory", closed)
	}
	// Its owner can walk in.
	me := pgAccount{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	if !reachable(closed, me) {
		t.Errorf("the owner cannot reach %s", closed)
	}
}
