//go:build race

package booker_test

const raceEnabled = true
