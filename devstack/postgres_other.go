//go:build !linux

package devstack

import "syscall"

// pgSysProcAttr runs postgres in its own process group, so a terminal's
// Ctrl-C reaches only Recap, which then stops postgres in order.
func pgSysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
