package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarises the latencies of successful operations, in
// milliseconds.
type Latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// CDFPoint says that Pct percent of operations took at most Ms.
type CDFPoint struct {
	Pct float64 `json:"pct"`
	Ms  float64 `json:"ms"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// quantile returns the nearest-rank q-quantile (0 <= q <= 1) of sorted:
// the smallest sample such that at least q of all samples are <= it. It is
// 0 for no samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps 99.9/100*1000 (999.0000000000001) at rank 999.
	i := int(math.Ceil(q*float64(n)-1e-9)) - 1
	i = max(0, min(i, n-1))
	return sorted[i]
}

// sortedCopy leaves the caller's slice (still being appended to by nobody,
// but owned by the phase) untouched.
func sortedCopy(lat []time.Duration) []time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s
}

// summarize computes the Latency of samples.
func summarize(samples []time.Duration) Latency {
	s := sortedCopy(samples)
	if len(s) == 0 {
		return Latency{}
	}
	var sum float64
	for _, d := range s {
		sum += float64(d)
	}
	return Latency{
		N:    len(s),
		Mean: sum / float64(len(s)) / 1e6,
		P50:  ms(quantile(s, 0.50)),
		P90:  ms(quantile(s, 0.90)),
		P99:  ms(quantile(s, 0.99)),
		P999: ms(quantile(s, 0.999)),
		Max:  ms(s[len(s)-1]),
	}
}

// cdfPcts are the percentiles a CDF keeps: every percent, then finer steps
// in the tail, where the targets differ most.
var cdfPcts = func() []float64 {
	var p []float64
	for i := 0; i <= 99; i++ {
		p = append(p, float64(i))
	}
	return append(p, 99.5, 99.9, 99.99, 100)
}()

// cdf samples the latency distribution at cdfPcts, so that a report (and
// bench.json) can draw it without keeping every sample.
func cdf(samples []time.Duration) []CDFPoint {
	s := sortedCopy(samples)
	if len(s) == 0 {
		return nil
	}
	out := make([]CDFPoint, 0, len(cdfPcts))
	for _, p := range cdfPcts {
		d := s[0]
		if p > 0 {
			d = quantile(s, p/100)
		}
		out = append(out, CDFPoint{Pct: p, Ms: ms(d)})
	}
	return out
}

// ratio is a/b, or nil when it is undefined (a missing figure, or b == 0).
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 || math.IsNaN(*a) || math.IsNaN(*b) {
		return nil
	}
	r := *a / *b
	return &r
}

// median of xs (the mean of the middle two for an even count); ok is false
// for none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func mean(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs)), true
}

func maxOf(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	return slices.Max(xs), true
}

func ptr(x float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &x
}
