package devstack

import "syscall"

// pgSysProcAttr runs postgres in its own process group, so a terminal's
// Ctrl-C reaches only Recap (which then stops postgres in order), and has
// the kernel stop it should Recap die without cleaning up.
func pgSysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
}
