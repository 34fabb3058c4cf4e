//go:build race

package guard

// raceEnabled is true under -race, which adds allocations of its own.
const raceEnabled = true
