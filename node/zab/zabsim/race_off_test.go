//go:build !race

package zabsim

const raceEnabled = false
