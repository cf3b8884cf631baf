package bench

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

	"github.com/zabcheck/zabcheck/docker"
)

const (
	plotW = 9 * vg.Inch
	plotH = 4 * vg.Inch
)

// dbColors keep each target's colour across every plot.
var dbColors = map[string]color.RGBA{
	docker.DBZabnode:   {R: 0x2b, G: 0x83, B: 0xba, A: 0xff},
	docker.DBZooKeeper: {R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
}

// otherColor draws a registered target that has no colour of its own yet,
// rather than leaving it transparent.
var otherColor = color.RGBA{R: 0x66, G: 0x66, B: 0x66, A: 0xff}

func colorOf(db string) color.RGBA {
	if c, ok := dbColors[db]; ok {
		return c
	}
	return otherColor
}

// nodeDashes tell cluster sizes apart on the CDF plots.
var nodeDashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)}}

func label(t TargetSummary) string { return t.DB + " " + strconv.Itoa(t.Nodes) + "n" }

func drawSVG(p *plot.Plot) ([]byte, error) {
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	c := vgsvg.New(plotW, plotH)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write svg: %w", err)
	}
	return buf.Bytes(), nil
}

// throughputPlot draws grouped bars: write and read throughput for each
// target and cluster size.
func throughputPlot(targets []TargetSummary) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Throughput (ops/s; closed loop, unlimited rate)"
	p.Y.Label.Text = "ops/s"
	p.Legend.Top = true
	names := []string{"write", "read"}
	p.NominalX(names...)
	n := len(targets)
	top := 0.0
	for _, t := range targets {
		top = max(top, deref(t.WriteOpsPerSec), deref(t.ReadOpsPerSec))
	}
	// Headroom keeps the legend (top right) off the bars.
	p.Y.Min, p.Y.Max = 0, max(top, 1)*1.35
	w := vg.Points(min(40, 300/float64(max(n, 1))))
	for i, t := range targets {
		vals := plotter.Values{deref(t.WriteOpsPerSec), deref(t.ReadOpsPerSec)}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, fmt.Errorf("plot throughput: %w", err)
		}
		c := colorOf(t.DB)
		if t.Nodes > 3 {
			c = lighten(c) // larger clusters lighter, same hue
		}
		b.Color = c
		b.LineStyle.Width = vg.Points(0.5)
		b.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		p.Legend.Add(label(t), b)
	}
	return drawSVG(p)
}

// lighten mixes c halfway with white; an alpha would be mistaken for a
// premultiplied colour and render grey.
func lighten(c color.RGBA) color.RGBA {
	return color.RGBA{R: c.R + (0xff-c.R)/2, G: c.G + (0xff-c.G)/2, B: c.B + (0xff-c.B)/2, A: 0xff}
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// cdfPlot draws one latency CDF per target and cluster size, latency on a
// log axis, so that medians and tails both stay readable.
func cdfPlot(title string, targets []TargetSummary, get func(TargetSummary) []CDFPoint) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "percent of ok operations"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(10)
	p.Legend.YOffs = vg.Points(20)
	sizes := map[int]int{}
	drawn := false
	for _, t := range targets {
		if _, ok := sizes[t.Nodes]; !ok {
			sizes[t.Nodes] = len(sizes)
		}
		pts := get(t)
		if len(pts) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(pts))
		for _, c := range pts {
			xys = append(xys, plotter.XY{X: math.Max(c.Ms, 1e-3), Y: c.Pct})
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", title, err)
		}
		l.LineStyle = draw.LineStyle{Color: colorOf(t.DB), Width: vg.Points(1.5), Dashes: nodeDashes[sizes[t.Nodes]%len(nodeDashes)]}
		p.Add(l)
		p.Legend.Add(label(t), l)
		drawn = true
	}
	if !drawn {
		// An empty log axis cannot be drawn; give it a range.
		p.X.Min, p.X.Max = 0.1, 1000
	}
	p.Add(plotter.NewGrid())
	return drawSVG(p)
}

// failoverPlot draws every measured trial per target as a point, with the
// median as a bar.
func failoverPlot(targets []TargetSummary) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Leader failover: kill to first acknowledged write (ms)"
	p.Y.Label.Text = "ms"
	var names []string
	for i, t := range targets {
		names = append(names, label(t))
		if len(t.FailoverMs) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(t.FailoverMs))
		for j, v := range t.FailoverMs {
			xys[j] = plotter.XY{X: float64(i), Y: v}
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("plot failover: %w", err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colorOf(t.DB), Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(s)
		if t.FailoverMedianMs != nil {
			m, err := plotter.NewLine(plotter.XYs{{X: float64(i) - 0.25, Y: *t.FailoverMedianMs}, {X: float64(i) + 0.25, Y: *t.FailoverMedianMs}})
			if err != nil {
				return nil, fmt.Errorf("plot failover: %w", err)
			}
			m.LineStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(2)}
			p.Add(m)
		}
	}
	if len(names) == 0 {
		names = []string{"(no targets)"}
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return drawSVG(p)
}
