//go:build race

package checker

// raceEnabled skips the large timing tests: the race detector slows
// porcupine several times over, so their budget would not mean anything.
const raceEnabled = true
