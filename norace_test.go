//go:build !race

package guard

// jwtRaceEnabled is true under -race, which adds allocations of its own.
const jwtRaceEnabled = false
