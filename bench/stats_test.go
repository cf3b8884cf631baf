package bench

import (
	"math"
	"testing"
	"time"
)

func msList(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestQuantile(t *testing.T) {
	// 1..100 ms shuffled: the nearest-rank quantiles are exact.
	var s []int
	for i := 100; i >= 1; i-- {
		s = append(s, i)
	}
	sorted := sortedCopy(msList(s...))
	cases := []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond}, {0.01, time.Millisecond}, {0.5, 50 * time.Millisecond},
		{0.501, 51 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := quantile(sorted, tc.q); got != tc.want {
			t.Errorf("q=%v: got %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("empty: got %v, want 0", got)
	}
}

func TestSummarize(t *testing.T) {
	in := msList(5, 1, 3, 2, 4)
	got := summarize(in)
	want := Latency{N: 5, Mean: 3, P50: 3, P90: 5, P99: 5, P999: 5, Max: 5}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if in[0] != 5*time.Millisecond {
		t.Error("summarize sorted the caller's slice")
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("empty: got %+v, want zero", got)
	}
}

func TestCDF(t *testing.T) {
	var in []time.Duration
	for i := 1; i <= 1000; i++ {
		in = append(in, time.Duration(i)*time.Millisecond)
	}
	pts := cdf(in)
	if len(pts) != len(cdfPcts) {
		t.Fatalf("got %d points, want %d", len(pts), len(cdfPcts))
	}
	for i, p := range pts {
		if i > 0 && (p.Pct <= pts[i-1].Pct || p.Ms < pts[i-1].Ms) {
			t.Fatalf("point %d %+v does not follow %+v", i, p, pts[i-1])
		}
	}
	want := map[float64]float64{0: 1, 50: 500, 99: 990, 99.9: 999, 100: 1000}
	for _, p := range pts {
		if w, ok := want[p.Pct]; ok && p.Ms != w {
			t.Errorf("pct %v: got %v ms, want %v", p.Pct, p.Ms, w)
		}
	}
	if cdf(nil) != nil {
		t.Error("empty: want no points")
	}
}

func TestRatio(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	nan := math.NaN()
	cases := []struct {
		name string
		a, b *float64
		want *float64
	}{
		{"both", f(300), f(200), f(1.5)},
		{"below one", f(1), f(4), f(0.25)},
		{"missing zabnode", nil, f(2), nil},
		{"missing zookeeper", f(2), nil, nil},
		{"zero denominator", f(2), f(0), nil},
		{"nan", &nan, f(1), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ratio(tc.a, tc.b)
			switch {
			case got == nil && tc.want == nil:
			case got == nil || tc.want == nil:
				t.Fatalf("got %v, want %v", got, tc.want)
			case math.Abs(*got-*tc.want) > 1e-12:
				t.Fatalf("got %v, want %v", *got, *tc.want)
			}
		})
	}
}

func TestMedianMeanMax(t *testing.T) {
	if got, ok := median([]float64{3, 1, 2}); !ok || got != 2 {
		t.Errorf("odd: got %v", got)
	}
	if got, ok := median([]float64{4, 1, 3, 2}); !ok || got != 2.5 {
		t.Errorf("even: got %v", got)
	}
	if _, ok := median(nil); ok {
		t.Error("empty median: want !ok")
	}
	if got, _ := mean([]float64{1, 2, 6}); got != 3 {
		t.Errorf("mean: got %v, want 3", got)
	}
	if got, _ := maxOf([]float64{1, 7, 6}); got != 7 {
		t.Errorf("max: got %v, want 7", got)
	}
	if ptr(maxOf(nil)) != nil {
		t.Error("max of nothing: want nil")
	}
}
