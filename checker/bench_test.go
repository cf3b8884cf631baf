package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// largeConfig is the benchmark's history: 100k operations over 10 keys by
// 30 processes, 2% indeterminate. Each key's history is ~10k operations;
// no key rotation is assumed.
var largeConfig = genConfig{Ops: 100_000, Keys: 10, Processes: 30, InfoRate: 0.02, Seed: 1}

// largeTimeout bounds the checker on this history only against a hang:
// its speed is BenchmarkLinearizable's business (go test -bench), since a
// timed unit test fails on a loaded machine rather than on a slow checker.
const largeTimeout = 5 * time.Minute

func largeHistory(tb testing.TB, stale bool) []history.Op {
	tb.Helper()
	ops := generateRegister(largeConfig)
	if stale {
		if _, ok := injectStaleRead(ops); !ok {
			tb.Fatal("no read to make stale")
		}
	}
	return ops
}

// TestLinearizable100k checks the verdicts on the large history: valid as
// generated, invalid with one stale read injected.
func TestLinearizable100k(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large timing test: run without -short and without -race")
	}
	for _, tt := range []struct {
		name  string
		stale bool
		want  Verdict
	}{{"correct", false, Valid}, {"one stale read", true, Invalid}} {
		t.Run(tt.name, func(t *testing.T) {
			ops := largeHistory(t, tt.stale)
			opts := Options{ReadMode: ReadSync, Timeout: largeTimeout, OutDir: t.TempDir()}
			start := time.Now()
			r := checkLinearizable(context.Background(), inputFor(ops, opts))
			took := time.Since(start)
			t.Logf("%d history ops: %s in %s: %s", len(ops), r.Verdict, took, r.Explanation)
			if got, want := r.Verdict, tt.want; got != want {
				t.Fatalf("verdict %s, want %s", got, want)
			}
			if tt.stale && !strings.Contains(r.Explanation, "Stale read") {
				t.Errorf("explanation does not name the stale read: %s", r.Explanation)
			}
		})
	}
}

func benchmarkLinearizable(b *testing.B, stale bool, want Verdict) {
	ops := largeHistory(b, stale)
	in := inputFor(ops, Options{ReadMode: ReadSync, Timeout: time.Minute})
	b.ResetTimer()
	for range b.N {
		if r := checkLinearizable(context.Background(), in); r.Verdict != want {
			b.Fatalf("verdict %s, want %s: %s", r.Verdict, want, r.Explanation)
		}
	}
}

// BenchmarkLinearizable100k: go test -run '^$' -bench Linearizable100k ./checker/
func BenchmarkLinearizable100k(b *testing.B) { benchmarkLinearizable(b, false, Valid) }

func BenchmarkLinearizable100kStaleRead(b *testing.B) { benchmarkLinearizable(b, true, Invalid) }

// BenchmarkCheck100k is the whole Check (every register check and perf).
func BenchmarkCheck100k(b *testing.B) {
	ops := largeHistory(b, false)
	opts := Options{Workloads: judge("register"), ReadMode: ReadSync, Timeout: time.Minute}
	b.ResetTimer()
	for range b.N {
		if s := Check(context.Background(), ops, opts); s.Verdict == Invalid {
			b.Fatalf("verdict %s: %+v", s.Verdict, s.Checks)
		}
	}
}
