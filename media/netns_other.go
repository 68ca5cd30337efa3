//go:build !linux

package media

import (
	"errors"
	"net"
	"os/exec"
)

// jailer is Linux-only: elsewhere downloads rely on the protocol
// allow-lists alone.
type jailer struct{}

var errNoIsolation = errors.New("network isolation unavailable")

func newJailer(string) (*jailer, error) {
	return nil, errors.Join(errNoIsolation, errors.New("network namespaces are Linux-only"))
}

func (*jailer) start(*exec.Cmd, string, func(*exec.Cmd) error) (net.Listener, error) {
	return nil, errNoIsolation
}
