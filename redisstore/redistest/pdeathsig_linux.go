package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill cmd when the test binary dies, so that a
// crashed or killed test run leaves no redis-server behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
