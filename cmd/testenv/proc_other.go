//go:build !linux

package main

import "syscall"

// childAttr puts redis-server in its own process group: a terminal's
// Ctrl-C reaches the tests, and testenv stops it after them.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// commandAttr leaves the command in the terminal's process group.
func commandAttr() *syscall.SysProcAttr { return nil }
