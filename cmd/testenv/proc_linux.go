package main

import "syscall"

// childAttr puts redis-server in its own process group (a terminal's
// Ctrl-C reaches the tests, and testenv stops it after them) and has the
// kernel stop it should testenv die without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// commandAttr leaves the command in the terminal's process group, and
// has the kernel stop it should testenv die: its services are gone then.
func commandAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
