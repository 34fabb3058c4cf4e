//go:build !linux

package redistest

import "os/exec"

// setPdeathsig does nothing here: only Linux kills children with their parent.
func setPdeathsig(*exec.Cmd) {}
