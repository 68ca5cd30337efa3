package media

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// jailer starts subprocesses in network namespaces of their own. A new
// namespace has nothing but a loopback interface: the jailer brings it up
// and, for yt-dlp, listens on it at the egress proxy's own address, so the
// --proxy URL is the same inside and out and the proxy serves the
// listener. Nothing else is reachable from inside: no route leaves the
// namespace, and other 127.0.0.0/8 addresses are the namespace's own,
// where nothing listens.
//
// The namespace is made on a goroutine locked to its OS thread: the thread
// unshares its network namespace, creates the listener (a socket belongs
// to the namespace it was created in, for good), forks the child (which
// inherits the thread's namespace), and returns to the worker's namespace
// with setns before it is unlocked. Should that return fail, the thread
// stays locked and ends with its goroutine, and the child with it (its
// parent-death signal is tied to that thread): nothing runs half-confined.
//
// With userNS the child also gets a user namespace of its own (the same
// uid and gid mapped to themselves), so even as root it holds no
// capability over the worker's namespaces: it cannot configure its
// namespace's interfaces or setns its way back out.
type jailer struct {
	userNS bool
}

// errNoIsolation wraps the reason a namespace could not be made.
var errNoIsolation = errors.New("network isolation unavailable")

// newJailer checks that namespaces can be made here by starting bin
// (a harmless "-version" run) in one, with a user namespace when the
// system allows that too.
func newJailer(bin string) (*jailer, error) {
	var firstErr error
	for _, userNS := range []bool{true, false} {
		j := &jailer{userNS: userNS}
		cmd := exec.Command(bin, "-hide_banner", "-version")
		cmd.SysProcAttr = sysProcAttr()
		ln, err := j.start(cmd, "127.0.0.1:0", func(c *exec.Cmd) error { return c.Start() })
		if err == nil {
			ln.Close()
			err = cmd.Wait()
		}
		if err == nil {
			return j, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, fmt.Errorf("%w: %v", errNoIsolation, firstErr)
}

// start makes a namespace, listens in it on listen unless that is empty,
// and starts cmd inside it with startFn (which must call cmd.Start).
func (j *jailer) start(cmd *exec.Cmd, listen string, startFn func(*exec.Cmd) error) (net.Listener, error) {
	if j.userNS {
		attr := cmd.SysProcAttr
		if attr == nil {
			attr = &syscall.SysProcAttr{}
			cmd.SysProcAttr = attr
		}
		uid, gid := os.Getuid(), os.Getgid()
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = uid == 0
	}
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ln, err, back := enterAndStart(cmd, listen, startFn)
		if back {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread is in the child's namespace: it stays locked
		// and ends with this goroutine.
		done <- result{ln, err}
	}()
	r := <-done
	return r.ln, r.err
}

// enterAndStart runs on a locked thread. back reports whether the thread
// is in its original namespace again.
func enterAndStart(cmd *exec.Cmd, listen string, startFn func(*exec.Cmd) error) (ln net.Listener, err error, back bool) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoIsolation, err), true
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("%w: unshare: %v", errNoIsolation, err), true
	}
	ln, err = jailSetup(listen)
	if err == nil {
		if err = startFn(cmd); err != nil && ln != nil {
			ln.Close()
			ln = nil
		}
	}
	if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
		// The child, if started, dies with this thread (Pdeathsig).
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("%w: setns back: %v", errNoIsolation, serr), false
	}
	return ln, err, true
}

// jailSetup brings the new namespace's loopback up and listens on it.
func jailSetup(listen string) (net.Listener, error) {
	if err := loopbackUp(); err != nil {
		return nil, fmt.Errorf("%w: loopback: %v", errNoIsolation, err)
	}
	if listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen: %v", errNoIsolation, err)
	}
	return ln, nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
