package report

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/checker"
)

// livenessView is one liveness result drawn as a timeline: the faults,
// the stretches the check judged, progress per bucket and the stalls.
type livenessView struct {
	ID       string
	Workload string // "" for a test of one workload in an old results.json
	Verdict  checker.Verdict
	What     string
	Window   string
	Grace    string
	SVG      template.HTML
	Stalls   []stallView
}

type stallView struct {
	checker.Stall
	StartS, EndS, DurS string
	// StartUS and EndUS are in the process timeline's unit: a click on a
	// stall zooms it there, as a click on a fault bar does.
	StartUS, EndUS int64
}

// SVG geometry, in user units: the figure scales to the page's width.
const (
	lvWidth   = 1000.0
	lvFaultH  = 14.0 // fault band at the top
	lvJudgedY = 16.0 // judged band below it
	lvJudgedH = 6.0
	lvBarTop  = 26.0 // progress bars fill lvBarTop..lvBarBot
	lvBarBot  = 96.0
	lvHeight  = 112.0 // room for the axis labels
)

// livenessViews finds every liveness result that carries a timeline.
func livenessViews(s checker.Summary, faults []fault, end int64) []livenessView {
	var out []livenessView
	add := func(workload string, r checker.Result) {
		if r.Name != "liveness" || r.Liveness == nil {
			return
		}
		lv := r.Liveness
		v := livenessView{ID: "liveness-" + workload, Workload: workload, Verdict: r.Verdict, What: lv.What,
			Window: time.Duration(lv.Window).String(), Grace: time.Duration(lv.Grace).String()}
		if workload == "" {
			v.ID = "liveness"
		}
		for _, st := range lv.Stalls {
			v.Stalls = append(v.Stalls, stallView{Stall: st, StartS: fmtSecs(st.Start), EndS: fmtSecs(st.End), DurS: fmtSecs(st.End - st.Start),
				StartUS: st.Start / 1000, EndUS: st.End / 1000})
		}
		v.SVG = livenessSVG(lv, faults, end)
		out = append(out, v)
	}
	for _, w := range s.Workloads {
		for _, r := range w.Checks {
			add(w.Name, r)
		}
	}
	for _, r := range s.Checks {
		add("", r)
	}
	return out
}

// livenessSVG draws lv over the run [0, end]: faults shaded at the top,
// judged stretches as a green band, progress as bars, and each stall as a
// red box over the whole height, with a tooltip saying who waited. Every
// value placed in the markup is a number or escaped text.
func livenessSVG(lv *checker.Liveness, faults []fault, end int64) template.HTML {
	end = max(end, 1)
	x := func(t int64) float64 { return min(max(float64(t)/float64(end)*lvWidth, 0), lvWidth) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="liveness-timeline" viewBox="0 0 %s %s" preserveAspectRatio="none" role="img" aria-label="%s over time, with faults and stalls">`,
		f(lvWidth), f(lvHeight), esc(lv.What))
	kinds := faultKinds(faults)
	for _, ft := range faults {
		fmt.Fprintf(&b, `<rect class="fault" x="%s" y="0" width="%s" height="%s" fill="%s"><title>%s %s–%s s</title></rect>`,
			f(x(ft.Start)), f(max(x(ft.End)-x(ft.Start), 0.5)), f(lvFaultH), faultColor(kinds, ft.Kind),
			esc(ft.Row()), fmtSecs(ft.Start), fmtSecs(ft.End))
	}
	for _, j := range lv.Judged {
		fmt.Fprintf(&b, `<rect class="judged" x="%s" y="%s" width="%s" height="%s" fill="#a6dba0"><title>judged %s–%s s</title></rect>`,
			f(x(j.Start)), f(lvJudgedY), f(x(j.End)-x(j.Start)), f(lvJudgedH), fmtSecs(j.Start), fmtSecs(j.End))
	}
	peak := 1
	for _, n := range lv.Progress {
		peak = max(peak, n)
	}
	for i, n := range lv.Progress {
		if n == 0 {
			continue
		}
		t := int64(i) * lv.BucketNanos
		h := float64(n) / float64(peak) * (lvBarBot - lvBarTop)
		fmt.Fprintf(&b, `<rect class="progress" x="%s" y="%s" width="%s" height="%s" fill="#2b83ba"><title>%d %s at %s s</title></rect>`,
			f(x(t)), f(lvBarBot-h), f(max(x(t+lv.BucketNanos)-x(t), 0.5)), f(h), n, esc(lv.What), fmtSecs(t))
	}
	fmt.Fprintf(&b, `<line x1="0" y1="%s" x2="%s" y2="%s" stroke="#333" stroke-width="0.5"/>`, f(lvBarBot), f(lvWidth), f(lvBarBot))
	for i := 0; i <= 5; i++ {
		t := end * int64(i) / 5
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 5:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="9" text-anchor="%s">%s s</text>`, f(x(t)), f(lvHeight-4), anchor, strconv.FormatFloat(float64(t)/1e9, 'f', 1, 64))
	}
	for _, st := range lv.Stalls {
		fmt.Fprintf(&b, `<rect class="stall" x="%s" y="0" width="%s" height="%s" fill="#d7191c" fill-opacity="0.25" stroke="#d7191c" data-start="%d" data-end="%d"><title>stall %s–%s s: %s</title></rect>`,
			f(x(st.Start)), f(max(x(st.End)-x(st.Start), 1)), f(lvBarBot), st.Start/1000, st.End/1000, fmtSecs(st.Start), fmtSecs(st.End), esc(st.Waiting))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from numbers and escaped text only
}
