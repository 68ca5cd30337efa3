//go:build !linux

package media

import "syscall"

// sysProcAttr puts a subprocess in its own process group so one kill
// reaches everything it spawned.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
