package media

import "syscall"

// sysProcAttr puts a subprocess in its own process group (so one kill
// reaches everything it spawned) and has the kernel kill it when the
// worker dies, even by SIGKILL, so no yt-dlp outlives its worker.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
