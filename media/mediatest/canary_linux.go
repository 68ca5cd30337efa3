package mediatest

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// watchOpens starts reporting the files opened in dir (inotify IN_OPEN on
// the directory: any process, any path that reaches them, relative or
// absolute).
func watchOpens(t testing.TB, dir string) int {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		t.Skipf("mediatest: inotify: %v", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		syscall.Close(fd)
		t.Skipf("mediatest: inotify watch %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

// opensUntil reads the watch's events in order until sentinel's opening
// and returns the names of the files opened before it.
func opensUntil(t testing.TB, fd int, sentinel string) []string {
	t.Helper()
	var names []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			t.Fatalf("mediatest: read inotify events: %v", err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) == sentinel {
				return names
			}
			if ev.Mask&syscall.IN_ISDIR == 0 {
				names = append(names, string(name))
			}
		}
	}
}

// touchOpen opens and closes path, making an IN_OPEN event.
func touchOpen(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
