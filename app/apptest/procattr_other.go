//go:build !linux

package apptest

import "syscall"

// sysProcAttr puts a server the test started in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
