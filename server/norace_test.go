//go:build !race

package server_test

// raceEnabled: the tests run with the race detector.
const raceEnabled = false
