//go:build race

package report

// raceEnabled: the race detector slows rendering about 15 times, so the
// large-history test shrinks under it (CI runs with -race).
const raceEnabled = true
