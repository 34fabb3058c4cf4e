//go:build !linux

package guard

import "time"

// threadCPUTimeWorks: no thread CPU time on this platform.
const threadCPUTimeWorks = false

// threadCPUTime is not measured on this platform: the hashing CPU budget
// counts wall time instead.
func threadCPUTime() (time.Duration, bool) { return 0, false }
