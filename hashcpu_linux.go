//go:build linux

package guard

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUTimeWorks: threadCPUTime reads the thread's CPU time here.
const threadCPUTimeWorks = true

// threadCPUTime is the CPU time the calling OS thread has used
// (CLOCK_THREAD_CPUTIME_ID).
func threadCPUTime() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
