package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// largePairs is the size of the generated history the report must handle.
const largePairs = 100_000

// TestRenderLarge renders a generated 100k-op run once (10k under -race)
// and checks the embedded timeline stays compact. The time is logged, not
// asserted: the machine is shared.
func TestRenderLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-op render skipped with -short")
	}
	n := largePairs
	if raceEnabled {
		n = largePairs / 10
	}
	dir := t.TempDir()
	ops := genRun(t, dir, genOpts{Seed: 7, Pairs: n, Concurrency: 10, OpGap: time.Millisecond})
	began := time.Now()
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	elapsed := time.Since(began)
	html, err := os.ReadFile(filepath.Join(dir, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	td := timelineFromHTML(t, string(html))
	if got, want := len(td.P), n; got != want {
		t.Fatalf("timeline ops: got %d, want %d", got, want)
	}
	sizes := map[string]int64{}
	for _, name := range []string{reportFile, latencySVG, rateSVG, historyFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sizes[name] = st.Size()
	}
	t.Logf("rendered %d ops (%d history lines, %d bytes) in %v: report.html %d bytes (%.1f bytes/op), latency.svg %d, rate.svg %d",
		n, len(ops), sizes[historyFile], elapsed.Round(time.Millisecond), sizes[reportFile],
		float64(sizes[reportFile])/float64(n), sizes[latencySVG], sizes[rateSVG])
	// A DOM element per op would cost hundreds of bytes each; the columnar
	// data should stay well under 40.
	if perOp := float64(sizes[reportFile]) / float64(n); perOp > 40 {
		t.Errorf("report.html is %.1f bytes per op, want at most 40", perOp)
	}
	if sizes[latencySVG] > 4<<20 {
		t.Errorf("latency.svg is %d bytes, want at most 4 MiB (the scatter is thinned)", sizes[latencySVG])
	}
}

func BenchmarkRender100k(b *testing.B) {
	dir := b.TempDir()
	genRun(b, dir, genOpts{Seed: 7, Pairs: largePairs, Concurrency: 10, OpGap: time.Millisecond})
	b.ResetTimer()
	for b.Loop() {
		if err := Render(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}
