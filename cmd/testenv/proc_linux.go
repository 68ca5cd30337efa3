package main

import "syscall"

// childAttr puts redis-server in its own process group (a terminal's
// Ctrl-C reaches the tests, and testenv stops it after them) and has the
// kernel stop it should testenv die without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
