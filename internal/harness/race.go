//go:build race

package harness

// raceEnabled says the tests run with the race detector: the binaries
// are built with it too.
const raceEnabled = true
