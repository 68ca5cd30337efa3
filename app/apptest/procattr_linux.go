package apptest

import "syscall"

// sysProcAttr has the kernel kill a server the test started when the
// test binary dies, even by SIGKILL, so none outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
