package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// The watch panel draws, for each session of the watch workload, the
// events it received set against the changes to the keys it watched, so
// that a missed or out-of-order event can be seen. A soak run has
// thousands of sessions' worth of events; these bound what is drawn.
const (
	maxWatchSessions = 6
	maxWatchKeys     = 6
	// maxWatchMarks is spread over the lanes of the whole-run views, per
	// kind of mark (changes, arms, events); flagged marks are always
	// drawn. A lane never gets fewer than minLaneMarks.
	maxWatchMarks = 900
	minLaneMarks  = 20
	// Zoomed views around the flagged ops draw every mark in their window,
	// up to maxZoomMarks of each kind per lane.
	maxWatchZooms = 8
	maxZoomMarks  = 80
	// maxListedLeft bounds the sessions named in a note of what is left out.
	maxListedLeft = 10
)

// The workload's change ops (workload/watch.go): create, write, delete.
const (
	fCreate = "create"
	fDelete = "delete"
)

// parentKey is the key of the watched znodes' parent, whose child watches
// fire on their creates and deletes.
const parentKey = "/"

type watchView struct {
	ID         string // element id: "watch", or "watch-<workload>" in a test of several
	Workload   string
	Verdict    checker.Verdict // "" when results.json has no watch result for it
	CheckPanel string          // the watch checker's panel, "" without a result
	Flagged    int             // ops the checker cited that are watch ops of this workload
	Sessions   []watchSessionView
	Zooms      []watchZoomView
	Left       []string // what the panel leaves out, and why
}

type watchSessionView struct {
	ID                    string
	Session               string
	Procs                 string
	Nodes                 string
	Arms, Events, Flagged int
	SVG                   template.HTML
}

type watchZoomView struct {
	Session        string
	SessionID      string // the session's whole-run view, "" when not drawn
	StartS, EndS   string
	StartUS, EndUS int64
	Keys           string
	Ops            []int64
	Says           []string // what the checker says of this session
	SVG            template.HTML
}

// watchMark is one thing drawn on a lane: a change, an arm or an event
// (an instant), or a session state drawn across every lane.
type watchMark struct {
	from, to int64 // ns since the start; equal for an instant
	f        string
	typ      string // created, changed, ...; for arms the kind; for changes the completion type
	op       int64  // the op index a reader looks up (the completion's)
	pair     int    // its pair, for the title: formatted only when drawn
	flagged  bool
	armed    int // arms: 1 armed, 0 read without a watch, -1 failed (maybe armed)
}

type watchSession struct {
	id      string
	procs   map[history.Process]bool
	nodes   map[string]bool
	arms    map[string][]watchMark // by key
	events  map[string][]watchMark
	states  []watchMark
	flagged []watchMark // flagged marks of this session, for the zoomed views
	nArms   int
	nEvents int
}

func newWatchSession(id string) *watchSession {
	return &watchSession{id: id, procs: map[history.Process]bool{}, nodes: map[string]bool{},
		arms: map[string][]watchMark{}, events: map[string][]watchMark{}}
}

func (s *watchSession) keys() []string {
	var ks []string
	for k := range s.arms {
		ks = append(ks, k)
	}
	for k := range s.events {
		if _, ok := s.arms[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// watchResult finds the watch checker's result for the ops tagged tag,
// and the id of its panel.
func watchResult(s checker.Summary, tag string) (checker.Result, string, bool) {
	for _, w := range s.Workloads {
		if w.Name != tag && (tag != "" || len(s.Workloads) != 1) {
			continue
		}
		for _, r := range w.Checks {
			if r.Name == "watch" {
				return r, "panel-" + w.Name + "/watch", true
			}
		}
	}
	if len(s.Workloads) == 0 {
		for _, r := range s.Checks {
			if r.Name == "watch" {
				return r, "panel-watch", true
			}
		}
	}
	return checker.Result{}, "", false
}

// watchViews finds the workloads whose ops include watch arms or events
// and lays out a panel for each. pairs are the client pairs.
func watchViews(pairs []history.Pair, s checker.Summary, faults []fault, end int64) []watchView {
	tags := map[string]bool{}
	for _, p := range pairs {
		if p.Invoke.F == history.FWatchArm || p.Invoke.F == history.FWatchEvent {
			tags[p.Invoke.Workload] = true
		}
	}
	var out []watchView
	for _, tag := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, watchViewOf(pairs, s, tag, len(tags) > 1 || tag != "", faults, end))
	}
	return out
}

func watchViewOf(pairs []history.Pair, s checker.Summary, tag string, tagged bool, faults []fault, end int64) watchView {
	v := watchView{ID: "watch", Workload: tag}
	if tagged {
		v.ID = "watch-" + tag
	}
	flagged := map[int64]bool{}
	var explanation string
	if r, panel, ok := watchResult(s, tag); ok {
		v.Verdict, v.CheckPanel, explanation = r.Verdict, panel, r.Explanation
		for _, i := range r.Ops {
			flagged[i] = true
		}
	}
	changes := map[string][]watchMark{}
	sessions := map[string]*watchSession{}
	session := func(id string) *watchSession {
		if sessions[id] == nil {
			sessions[id] = newWatchSession(id)
		}
		return sessions[id]
	}
	for pi, p := range pairs {
		inv, done := p.Invoke, p.Complete
		if inv.Workload != tag {
			continue
		}
		at := done.Index
		if at < 0 {
			at = inv.Index
		}
		isFlagged := flagged[at] || flagged[inv.Index]
		switch inv.F {
		case fCreate, history.FWrite, fDelete:
			if done.Type == history.Fail {
				continue // surely no change
			}
			m := watchMark{from: inv.Time, to: done.Time, f: inv.F, typ: string(done.Type), op: at, pair: pi, flagged: isFlagged}
			changes[inv.Key] = append(changes[inv.Key], m)
		case history.FWatchArm:
			id := inv.Session
			if done.Type == history.OK {
				id = done.Session
			}
			if id == "" {
				continue
			}
			var kind history.WatchArm
			_ = json.Unmarshal(inv.Value, &kind) // an undecodable kind is drawn as ""
			m := watchMark{from: inv.Time, to: done.Time, f: inv.F, typ: kind.Kind, op: at, pair: pi, flagged: isFlagged, armed: -1}
			var got history.WatchArm
			if done.Type == history.OK && json.Unmarshal(done.Value, &got) == nil {
				m.armed = 0
				if got.Armed != nil && *got.Armed {
					m.armed = 1
				}
			}
			ws := session(id)
			ws.procs[inv.Process] = true
			if done.Node != "" {
				ws.nodes[done.Node] = true
			}
			ws.arms[inv.Key] = append(ws.arms[inv.Key], m)
			ws.nArms++
			if m.flagged {
				ws.flagged = append(ws.flagged, m)
			}
		case history.FWatchEvent:
			if done.Type != history.OK || done.Session == "" {
				continue
			}
			var ev history.WatchEvent
			if json.Unmarshal(done.Value, &ev) != nil {
				continue
			}
			m := watchMark{from: done.Time, to: done.Time, f: inv.F, typ: ev.Type, op: at, pair: pi, flagged: isFlagged}
			ws := session(done.Session)
			ws.procs[inv.Process] = true
			if done.Node != "" {
				ws.nodes[done.Node] = true
			}
			switch {
			case consumesKey(ev.Type):
				if done.Key == "" {
					continue // a path the workload does not watch
				}
				ws.events[done.Key] = append(ws.events[done.Key], m)
				ws.nEvents++
			default:
				ws.states = append(ws.states, m)
			}
			if m.flagged {
				ws.flagged = append(ws.flagged, m)
			}
		}
	}
	// The parent's child watches fire on every create and delete.
	for k, cs := range changes {
		if k == parentKey {
			continue
		}
		for _, c := range cs {
			if c.f != history.FWrite {
				changes[parentKey] = append(changes[parentKey], c)
			}
		}
	}
	for k := range changes {
		slices.SortFunc(changes[k], func(a, b watchMark) int { return cmp.Compare(a.from, b.from) })
	}

	all := make([]*watchSession, 0, len(sessions))
	for _, ws := range sessions {
		v.Flagged += len(ws.flagged)
		all = append(all, ws)
	}
	// The sessions the checker flagged first, then the busiest.
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if len(a.flagged) != len(b.flagged) {
			return len(a.flagged) > len(b.flagged)
		}
		if a.nArms+a.nEvents != b.nArms+b.nEvents {
			return a.nArms+a.nEvents > b.nArms+b.nEvents
		}
		return a.id < b.id
	})
	shown := all
	if len(all) > maxWatchSessions {
		shown = all[:maxWatchSessions]
		var names []string
		for _, ws := range all[maxWatchSessions:min(len(all), maxWatchSessions+maxListedLeft)] {
			names = append(names, ws.id)
		}
		more := ""
		if n := len(all) - maxWatchSessions - len(names); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		v.Left = append(v.Left, fmt.Sprintf("%d of %d sessions are drawn (those the checker flagged first, then the busiest); not drawn: %s%s.",
			maxWatchSessions, len(all), strings.Join(names, ", "), more))
	}
	lanes := 0
	for _, ws := range shown {
		lanes += min(len(ws.keys()), maxWatchKeys)
	}
	perLane := max(minLaneMarks, maxWatchMarks/max(lanes, 1))
	kinds := faultKinds(faults)
	drawn := map[string]string{}
	var thinned, total int
	for i, ws := range shown {
		keys := ws.keys()
		if len(keys) > maxWatchKeys {
			v.Left = append(v.Left, fmt.Sprintf("Session %s: %d of its %d keys are drawn (%s not).", ws.id, maxWatchKeys, len(keys), strings.Join(keys[maxWatchKeys:], ", ")))
			keys = keys[:maxWatchKeys]
		}
		sv := watchSessionView{ID: v.ID + "-s" + strconv.Itoa(i), Session: ws.id, Procs: procList(ws.procs), Nodes: strings.Join(sortedKeys(ws.nodes), ", "),
			Arms: ws.nArms, Events: ws.nEvents, Flagged: len(ws.flagged)}
		drawn[ws.id] = sv.ID
		var n, t int
		sv.SVG, n, t = watchSVG(pairs, ws, keys, changes, 0, end, perLane, faults, kinds)
		thinned, total = thinned+n, total+t
		v.Sessions = append(v.Sessions, sv)
	}
	if thinned < total {
		v.Left = append(v.Left, fmt.Sprintf("The whole-run views draw %d of %d marks, evenly thinned per lane; every flagged mark is drawn, and the zoomed views draw all of theirs.", thinned, total))
	}
	v.Zooms, v.Left = watchZooms(pairs, all, drawn, changes, end, faults, kinds, v.Left)
	for i := range v.Zooms {
		v.Zooms[i].Says = sessionLines(explanation, v.Zooms[i].Session)
	}
	return v
}

// watchZooms draws a short window around each flagged op, per session,
// windows that overlap merged, so that the changes and events near an
// anomaly can be told apart.
func watchZooms(pairs []history.Pair, all []*watchSession, drawn map[string]string, changes map[string][]watchMark, end int64, faults []fault, kinds []string, left []string) ([]watchZoomView, []string) {
	pad := min(max(end/50, 250_000_000), 3_000_000_000)
	var zooms []watchZoomView
	skipped := 0
	for _, ws := range all {
		fl := slices.Clone(ws.flagged)
		slices.SortFunc(fl, func(a, b watchMark) int { return cmp.Compare(a.from, b.from) })
		for i := 0; i < len(fl); {
			from, to := fl[i].from-pad, fl[i].to+pad
			ops := []int64{fl[i].op}
			j := i + 1
			for ; j < len(fl) && fl[j].from-pad <= to; j++ {
				to = max(to, fl[j].to+pad)
				ops = append(ops, fl[j].op)
			}
			from, to = max(from, 0), min(to, max(end, fl[j-1].to))
			if len(zooms) == maxWatchZooms {
				skipped++
				i = j
				continue
			}
			keys := map[string]bool{}
			for _, m := range fl[i:j] {
				for k, ms := range ws.arms {
					if slices.ContainsFunc(ms, func(x watchMark) bool { return x.op == m.op }) {
						keys[k] = true
					}
				}
				for k, ms := range ws.events {
					if slices.ContainsFunc(ms, func(x watchMark) bool { return x.op == m.op }) {
						keys[k] = true
					}
				}
			}
			ks := sortedKeys(keys)
			if len(ks) == 0 {
				ks = ws.keys() // a flagged session state: every lane
			}
			ks = ks[:min(len(ks), maxWatchKeys)]
			svg, _, _ := watchSVG(pairs, ws, ks, changes, from, to, maxZoomMarks, faults, kinds)
			slices.Sort(ops)
			zooms = append(zooms, watchZoomView{Session: ws.id, SessionID: drawn[ws.id], StartS: fmtSecs(from), EndS: fmtSecs(to),
				StartUS: from / 1000, EndUS: to / 1000, Keys: strings.Join(ks, ", "), Ops: slices.Compact(ops), SVG: svg})
			i = j
		}
	}
	if skipped > 0 {
		left = append(left, fmt.Sprintf("%d more windows around flagged ops are not zoomed; the cited-ops table lists every op.", skipped))
	}
	return zooms, left
}

// sessionLines picks out of the watch checker's explanation the anomalies
// it lists for session s: each begins "session <id>: " (checker/watch.go)
// and runs to the next one, or to the count of those not listed.
func sessionLines(explanation, s string) []string {
	var out []string
	start := "session " + s + ": "
	for rest := explanation; ; {
		i := strings.Index(rest, start)
		if i < 0 {
			return out
		}
		rest = rest[i:]
		end := len(rest)
		if j := strings.Index(rest[len(start):], " session "); j >= 0 {
			end = len(start) + j
		}
		if j := strings.Index(rest[:end], " ("); j >= 0 && strings.HasSuffix(rest[:end], "not listed)") {
			end = j
		}
		out = append(out, rest[:end])
		rest = rest[end:]
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func procList(ps map[history.Process]bool) string {
	ids := make([]int, 0, len(ps))
	for p := range ps {
		ids = append(ids, int(p))
	}
	sort.Ints(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

// inWindow keeps the marks that overlap [from, to], then at most n of
// them, evenly spread, plus every flagged one. It returns how many it
// kept of how many overlapped.
func inWindow(ms []watchMark, from, to int64, n int) ([]watchMark, int) {
	var in []watchMark
	for _, m := range ms {
		if m.to >= from && m.from <= to {
			in = append(in, m)
		}
	}
	if len(in) <= n {
		return in, len(in)
	}
	out := make([]watchMark, 0, n)
	step := float64(len(in)) / float64(n)
	next := 0.0
	for i, m := range in {
		if m.flagged || float64(i) >= next {
			out = append(out, m)
		}
		if float64(i) >= next {
			next += step
		}
	}
	return out, len(in)
}

// watchTitle says what a mark is, for its tooltip.
func watchTitle(p history.Pair, m watchMark) string {
	inv, done := p.Invoke, p.Complete
	switch m.f {
	case history.FWatchArm:
		state := string(done.Type)
		var got history.WatchArm
		if done.Type == history.OK && json.Unmarshal(done.Value, &got) == nil {
			state = "no znode"
			if got.Exists != nil && *got.Exists {
				state = "mzxid 0x" + strconv.FormatInt(got.Mzxid, 16) + ", pzxid 0x" + strconv.FormatInt(got.Pzxid, 16)
			}
			if m.armed == 0 {
				state += ", no watch set"
			}
		}
		return fmt.Sprintf("op %d: %s watch on %s (%s), %s–%s s, process %s", m.op, m.typ, inv.Key, state, fmtSecs(inv.Time), fmtSecs(done.Time), inv.Process)
	case history.FWatchEvent:
		var ev history.WatchEvent
		_ = json.Unmarshal(done.Value, &ev) // decoded once already
		if consumesKey(ev.Type) {
			zx := ""
			if ev.Zxid > 0 {
				zx = ", zxid 0x" + strconv.FormatInt(ev.Zxid, 16)
			}
			return fmt.Sprintf("op %d: event %s on %s%s at %s s from %s", m.op, ev.Type, done.Key, zx, fmtSecs(done.Time), done.Node)
		}
		t := fmt.Sprintf("op %d: session %s at %s s (%s)", m.op, ev.Type, fmtSecs(done.Time), done.Node)
		if ev.Type == "dropped" {
			t += fmt.Sprintf(": %d events lost", ev.Dropped)
		}
		return t
	}
	what := inv.F + " " + inv.Key
	if inv.F == history.FWrite {
		what += " = " + clip(string(inv.Value), 40)
	}
	return fmt.Sprintf("op %d: %s, %s, %s–%s s, process %s", m.op, what, done.Type, fmtSecs(inv.Time), fmtSecs(done.Time), inv.Process)
}

// consumesKey says whether an event of type typ is about a znode (rather
// than the session's state).
func consumesKey(typ string) bool {
	switch typ {
	case "created", "changed", "deleted", "children":
		return true
	}
	return false
}

// Watch SVG geometry, in user units; the figure keeps its aspect ratio.
const (
	wsWidth  = 1000.0
	wsLabelW = 70.0 // key labels on the left
	wsLaneH  = 30.0
	wsAxisH  = 16.0
)

// watchSVG draws one session over [from, to]: a lane per key, each with
// the changes to the key (bars from invoke to completion; faint when
// indeterminate), the session's arms on it (a line from invoke to
// completion, solid when the read set a watch) and the events it received
// (dots); flagged marks are ringed in red and link to the op. Session
// states cross every lane; faults shade the background. Colours come from
// the classes (report.css), which keeps a mark short. It returns how many
// marks it drew of how many fell in the window. Every value placed in the
// markup is a number, a class name of ours, or escaped text.
func watchSVG(pairs []history.Pair, ws *watchSession, keys []string, changes map[string][]watchMark, from, to int64, perKind int, faults []fault, kinds []string) (template.HTML, int, int) {
	to = max(to, from+1)
	plotW := wsWidth - wsLabelW
	x := func(t int64) float64 {
		return wsLabelW + min(max(float64(t-from)/float64(to-from)*plotW, 0), plotW)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	esc := template.HTMLEscapeString
	lanesH := wsLaneH * float64(len(keys))
	height := lanesH + wsAxisH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="watch-timeline" viewBox="0 0 %s %s" role="img" aria-label="session %s: watch events against changes, %s–%s s">`,
		f(wsWidth), f(height), esc(ws.id), fmtSecs(from), fmtSecs(to))
	for _, ft := range faults {
		if ft.End < from || ft.Start > to {
			continue
		}
		fmt.Fprintf(&b, `<rect class="fault" x="%s" y="0" width="%s" height="%s" fill="%s" fill-opacity="0.35"><title>%s %s–%s s</title></rect>`,
			f(x(ft.Start)), f(max(x(ft.End)-x(ft.Start), 0.5)), f(lanesH), faultColor(kinds, ft.Kind), esc(ft.Row()), fmtSecs(ft.Start), fmtSecs(ft.End))
	}
	// mark writes one element: el is its opening tag's name and
	// attributes, up to the class, which mark completes.
	mark := func(m watchMark, el, class, attrs string) {
		if m.flagged {
			fmt.Fprintf(&b, `<a href="#op-%d" data-op="%d">`, m.op, m.op)
			class += " flagged"
		}
		name, _, _ := strings.Cut(el, " ")
		fmt.Fprintf(&b, `<%s class="%s" %s data-op="%d"><title>%s</title></%s>`, el, class, attrs, m.op, esc(watchTitle(pairs[m.pair], m)), name)
		if m.flagged {
			b.WriteString(`</a>`)
		}
	}
	drawnN, totalN := 0, 0
	for i, k := range keys {
		y := float64(i) * wsLaneH
		fmt.Fprintf(&b, `<g class="lane" data-key="%s"><line class="sep" x1="%s" y1="%s" x2="%s" y2="%s"/><text x="2" y="%s" class="key">%s</text>`,
			esc(k), f(wsLabelW), f(y+wsLaneH), f(wsWidth), f(y+wsLaneH), f(y+wsLaneH/2+3), esc(k))
		cs, n := inWindow(changes[k], from, to, perKind)
		drawnN, totalN = drawnN+len(cs), totalN+n
		for _, m := range cs {
			class := "change c-" + m.f
			if m.typ != string(history.OK) {
				class += " maybe"
			}
			mark(m, "rect", class, fmt.Sprintf(`x="%s" y="%s" width="%s" height="8"`, f(x(m.from)), f(y+2), f(max(x(m.to)-x(m.from), 1.5))))
		}
		as, n := inWindow(ws.arms[k], from, to, perKind)
		drawnN, totalN = drawnN+len(as), totalN+n
		for _, m := range as {
			class := "arm"
			switch m.armed {
			case 0:
				class += " unset"
			case -1:
				class += " failed"
			}
			mark(m, "path", class, fmt.Sprintf(`d="M%s %sH%sv-4v8"`, f(x(m.from)), f(y+15), f(x(m.to))))
		}
		es, n := inWindow(ws.events[k], from, to, perKind)
		drawnN, totalN = drawnN+len(es), totalN+n
		for _, m := range es {
			r := "3.5"
			if m.flagged {
				r = "5"
			}
			mark(m, "circle", "event e-"+m.typ, fmt.Sprintf(`cx="%s" cy="%s" r="%s"`, f(x(m.from)), f(y+24), r))
		}
		b.WriteString(`</g>`)
	}
	for _, m := range ws.states {
		if m.from < from || m.from > to {
			continue
		}
		typ := m.typ
		if !slices.Contains([]string{"connected", "disconnected", "expired"}, typ) {
			typ = "other"
		}
		mark(m, "line", "state s-"+typ, fmt.Sprintf(`x1="%s" y1="0" x2="%s" y2="%s"`, f(x(m.from)), f(x(m.from)), f(lanesH)))
	}
	for i := 0; i <= 5; i++ {
		t := from + (to-from)*int64(i)/5
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 5:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" class="axis" text-anchor="%s">%s s</text>`, f(x(t)), f(height-4), anchor, fmtSecs(t))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), drawnN, totalN // built above from numbers, our class names and escaped text only
}
