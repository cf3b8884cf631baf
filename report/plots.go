package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// maxScatter bounds the points of the raw latency plot so that the SVG of a
// 100k-op run stays near 1 MB; beyond it each type is thinned by the same
// fraction, so the mix of ok, fail and info stays true.
const maxScatter = 12000

// Plot size, wide because time runs along x.
const (
	plotW = 11 * vg.Inch
	plotH = 4 * vg.Inch
)

// typeColors colour completions the same way in plots and the timeline.
var typeColors = map[history.Type]color.RGBA{
	history.OK:   {R: 0x2b, G: 0x83, B: 0xba, A: 0xff},
	history.Fail: {R: 0xd7, G: 0x19, B: 0x1c, A: 0xff},
	history.Info: {R: 0xfd, G: 0xae, B: 0x61, A: 0xff},
}

// plotInput is what both plots need.
type plotInput struct {
	Pairs  pairList // client ops only
	Perf   *checker.Perf
	Faults []fault
	End    int64 // ns
}

// plotNote says how the scatter was thinned, for the report.
type plotNote struct {
	Shown, Total int
}

type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// latencyPlot draws the raw latency of every completion over invoke time,
// the per-bucket p50/p95/p99 of ok ops from the checker's perf data, and the
// fault intervals.
func latencyPlot(in plotInput) ([]byte, plotNote, error) {
	p := plot.New()
	p.Title.Text = "Latency (ms, log scale) by invoke time"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true

	byType := map[history.Type]plotter.XYs{}
	total := 0
	err := in.Pairs.each(maxWindowPairs, func(_ int, ps []history.Pair) error {
		for _, pr := range ps {
			t := pr.Complete.Type
			if t != history.OK && t != history.Fail {
				t = history.Info
			}
			lat := float64(pr.Complete.Time-pr.Invoke.Time) / 1e6
			byType[t] = append(byType[t], plotter.XY{X: secs(pr.Invoke.Time), Y: max(lat, 1e-3)})
			total++
		}
		return nil
	})
	if err != nil {
		return nil, plotNote{}, fmt.Errorf("plot latency: %w", err)
	}
	note := plotNote{Total: total}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	var series []plot.Plotter
	var legends []legendEntry
	keep := 1.0
	if total > maxScatter {
		keep = float64(maxScatter) / float64(total)
	}
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		pts := thin(byType[t], int(math.Ceil(float64(len(byType[t]))*keep)))
		if len(pts) == 0 {
			continue
		}
		note.Shown += len(pts)
		for _, xy := range pts {
			ymin, ymax = min(ymin, xy.Y), max(ymax, xy.Y)
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, note, fmt.Errorf("plot latency: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: typeColors[t], Radius: vg.Points(1.2), Shape: draw.BoxGlyph{}}
		series = append(series, s)
		legends = append(legends, legendEntry{string(t), s})
	}
	if in.Perf != nil && in.Perf.BucketNanos > 0 {
		half := in.Perf.BucketNanos / 2
		for _, q := range []struct {
			name  string
			get   func(checker.Quantiles) int64
			color color.RGBA
			dash  []vg.Length
		}{
			{"p50", func(q checker.Quantiles) int64 { return q.P50 }, color.RGBA{A: 0xff}, nil},
			{"p95", func(q checker.Quantiles) int64 { return q.P95 }, color.RGBA{R: 0x54, G: 0x27, B: 0x88, A: 0xff}, []vg.Length{vg.Points(4), vg.Points(2)}},
			{"p99", func(q checker.Quantiles) int64 { return q.P99 }, color.RGBA{R: 0x99, G: 0x00, B: 0x00, A: 0xff}, []vg.Length{vg.Points(1), vg.Points(2)}},
		} {
			var pts plotter.XYs
			for _, b := range in.Perf.Buckets {
				if b.Latency.N == 0 {
					continue
				}
				y := max(float64(q.get(b.Latency))/1e6, 1e-3)
				pts = append(pts, plotter.XY{X: secs(b.Start + half), Y: y})
				ymin, ymax = min(ymin, y), max(ymax, y)
			}
			if len(pts) == 0 {
				continue
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, note, fmt.Errorf("plot latency quantiles: %w", err)
			}
			l.LineStyle = draw.LineStyle{Color: q.color, Width: vg.Points(1.5), Dashes: q.dash}
			series = append(series, l)
			legends = append(legends, legendEntry{q.name, l})
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 0.1, 1000 // no data: an empty but valid log axis
	}
	// Headroom above the data keeps the legend (top right) off the points.
	ymin, ymax = ymin/1.5, ymax*8
	if err := addFaultShading(p, in.Faults, ymin, ymax); err != nil {
		return nil, note, err
	}
	p.Add(series...)
	for _, l := range legends {
		p.Legend.Add(l.name, l.thumb)
	}
	p.Y.Min, p.Y.Max = ymin, ymax
	p.X.Min, p.X.Max = 0, max(secs(in.End), 1e-3)
	b, err := drawSVG(p)
	return b, note, err
}

// ratePlot draws completions per second by type from the checker's buckets
// (or from the history when results.json has no perf data), with faults.
func ratePlot(in plotInput) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Throughput (completions per second)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "ops/s"
	p.Legend.Top = true
	buckets, width, err := rateBuckets(in)
	if err != nil {
		return nil, fmt.Errorf("plot rate: %w", err)
	}
	ymax := 1.0
	var lines []*plotter.Line
	var names []string
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		pts := make(plotter.XYs, 0, len(buckets))
		nonzero := false
		for _, b := range buckets {
			y := float64(b.Completed[string(t)]) / secs(width)
			nonzero = nonzero || y > 0
			pts = append(pts, plotter.XY{X: secs(b.Start + width/2), Y: y})
			ymax = max(ymax, y)
		}
		if !nonzero {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("plot rate: %w", err)
		}
		l.LineStyle = draw.LineStyle{Color: typeColors[t], Width: vg.Points(1.5)}
		lines = append(lines, l)
		names = append(names, string(t))
	}
	ymax *= 1.6 // room for the legend
	if err := addFaultShading(p, in.Faults, 0, ymax); err != nil {
		return nil, err
	}
	for i, l := range lines {
		p.Add(l)
		p.Legend.Add(names[i], l)
	}
	p.Y.Min, p.Y.Max = 0, ymax
	p.X.Min, p.X.Max = 0, max(secs(in.End), 1e-3)
	return drawSVG(p)
}

// rateBuckets prefers the checker's buckets; without them it counts
// completions per second itself (display only, no verdict depends on it).
func rateBuckets(in plotInput) ([]checker.Bucket, int64, error) {
	if in.Perf != nil && in.Perf.BucketNanos > 0 && len(in.Perf.Buckets) > 0 {
		return in.Perf.Buckets, in.Perf.BucketNanos, nil
	}
	const width = int64(1e9)
	n := int(in.End/width) + 1
	buckets := make([]checker.Bucket, n)
	for i := range buckets {
		buckets[i] = checker.Bucket{Start: int64(i) * width, Completed: map[string]int{}}
	}
	err := in.Pairs.each(maxWindowPairs, func(_ int, ps []history.Pair) error {
		for _, pr := range ps {
			i := int(pr.Complete.Time / width)
			if i >= 0 && i < n {
				t := pr.Complete.Type
				if t != history.OK && t != history.Fail {
					t = history.Info
				}
				buckets[i].Completed[string(t)]++
			}
		}
		return nil
	})
	return buckets, width, err
}

// addFaultShading draws each fault interval as a translucent band, one
// legend entry per fault kind.
func addFaultShading(p *plot.Plot, faults []fault, ymin, ymax float64) error {
	kinds := faultKinds(faults)
	legend := map[string]bool{}
	for _, f := range faults {
		x0, x1 := secs(f.Start), secs(f.End)
		if x1 <= x0 {
			x1 = x0 + 1e-3 // an instantaneous fault is still drawn
		}
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: ymin}, {X: x1, Y: ymin}, {X: x1, Y: ymax}, {X: x0, Y: ymax}})
		if err != nil {
			return fmt.Errorf("plot fault %s: %w", f.Kind, err)
		}
		c := hexColor(faultColor(kinds, f.Kind))
		// NRGBA: color.RGBA is premultiplied, so a plain alpha would darken.
		poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x99}
		poly.LineStyle.Width = 0
		p.Add(poly)
		if !legend[f.Kind] {
			legend[f.Kind] = true
			p.Legend.Add(f.Kind, poly)
		}
	}
	return nil
}

// thin keeps at most n points, evenly spread.
func thin(pts plotter.XYs, n int) plotter.XYs {
	if len(pts) <= n || n <= 0 {
		return pts
	}
	out := make(plotter.XYs, 0, n)
	step := float64(len(pts)) / float64(n)
	for i := 0; i < n; i++ {
		out = append(out, pts[int(float64(i)*step)])
	}
	return out
}

func hexColor(s string) color.RGBA {
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil || len(s) != 7 {
		return color.RGBA{R: 0xcc, G: 0xcc, B: 0xcc, A: 0xff}
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

func drawSVG(p *plot.Plot) ([]byte, error) {
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(1)
	c := vgsvg.New(plotW, plotH)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write svg: %w", err)
	}
	return buf.Bytes(), nil
}
