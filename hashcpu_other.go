//go:build !linux

package guard

import "time"

// threadCPUTime is not measured on this platform: the hashing CPU budget
// counts wall time instead.
func threadCPUTime() (time.Duration, bool) { return 0, false }
