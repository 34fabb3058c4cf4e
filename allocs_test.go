package guard

import "testing"

// measureAllocs returns the allocations f makes per call, for the tests
// that hold an allocation budget. It skips under -short and under -race
// (the race detector allocates on its own account), and it reports the
// lowest of three measurements: testing.AllocsPerRun counts every
// allocation in the process, so a background goroutine of an earlier test
// can only add to a count, never take from it.
func measureAllocs(t *testing.T, runs int, f func()) float64 {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are measured in full runs without -race")
	}
	best := testing.AllocsPerRun(runs, f)
	for range 2 {
		best = min(best, testing.AllocsPerRun(runs, f))
	}
	return best
}
