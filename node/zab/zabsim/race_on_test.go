//go:build race

package zabsim

const raceEnabled = true
