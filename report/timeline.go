package report

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zabcheck/zabcheck/history"
)

// Type codes in the timeline data; the page's JS uses the same numbers.
const (
	codeOK   = 0
	codeFail = 1
	codeInfo = 2
)

func typeCode(t history.Type) int {
	switch t {
	case history.OK:
		return codeOK
	case history.Fail:
		return codeFail
	}
	return codeInfo
}

// timelineData is the compact, column-oriented form of a history that the
// report's canvas draws. One entry per operation in each array, in
// invocation order; times are microseconds since the test started; starts
// and indexes are delta-encoded because that keeps most numbers to a few
// digits. Strings are interned in tables and referenced by position.
type timelineData struct {
	End   int64    `json:"end"`   // µs, the last op's time
	Rows  []string `json:"rows"`  // row labels (processes sharing a row)
	Procs [][2]int `json:"procs"` // [process, row]
	Fs    []string `json:"fs"`
	Keys  []string `json:"keys"`  // "" first: no key
	Nodes []string `json:"nodes"` // "" first: no node
	Errs  []string `json:"errs"`  // "" first: no error
	P     []int    `json:"p"`     // process
	S     []int64  `json:"s"`     // invoke time, delta from the previous op's
	D     []int64  `json:"d"`     // latency
	Y     []int    `json:"y"`     // type code of the completion
	F     []int    `json:"f"`
	K     []int    `json:"k"`
	N     []int    `json:"n"`
	E     []int    `json:"e"`
	I     []int64  `json:"i"` // invoke index, delta from the previous op's
	// Vals are shown values (the read's result, the write's argument),
	// shortened; V indexes them, 0 when absent or past the budget.
	Vals []string `json:"vals"`
	V    []int    `json:"v"`
	// Refs maps op indexes the checkers cite (invocations or completions)
	// to the invoke index of their pair, so links can find the bar.
	Refs map[string]int64 `json:"refs"`
	// Workloads name the workloads of a history that ran several, and
	// RowWorkloads gives each row's (an index into Workloads); both are
	// absent for a history of one workload.
	Workloads    []string `json:"workloads,omitempty"`
	RowWorkloads []int    `json:"row_workloads,omitempty"`
	// Faults are [start µs, end µs, kind index, open 0/1, row label index].
	Faults     [][5]int64 `json:"faults"`
	FaultKinds []string   `json:"fault_kinds"`
	FaultColor []string   `json:"fault_colors"`
	FaultRows  []string   `json:"fault_rows"`
	// Windows, in a history too long for one page, cut the ops into
	// windows of consecutive invocations, each in a file of its own; the
	// page holds Window's, and loads the others when asked.
	Windows []timelineWindow `json:"windows,omitempty"`
	Window  int              `json:"window"`
}

// timelineWindow is one window's file and span (µs) and op count.
type timelineWindow struct {
	File string `json:"file"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
	Ops  int    `json:"ops"`
}

// maxWindowPairs bounds the ops the page itself carries: at about 30
// bytes an op, a window is a few MB of data the browser parses at once,
// where ten million ops would be hundreds.
const maxWindowPairs = 150_000

// timelineWindows builds the page's timeline: all of pairs when they fit
// in one window; otherwise the window holding the first op a checker
// cites (or the first window), with the others written into files as
// timeline-NNN.json (the same format) for the page to load on demand.
func timelineWindows(pairs pairList, faults []fault, refs []int64, end int64, files map[string][]byte, size int) (timelineData, error) {
	n := pairs.Len()
	if n <= size {
		ps, err := pairs.slice(0, n)
		if err != nil {
			return timelineData{}, err
		}
		return buildTimeline(ps, faults, refs, end), nil
	}
	// A first pass finds the windows' spans and the cited window, which
	// every window's file names; the second builds the windows, one at a
	// time.
	var wins []timelineWindow
	show := -1
	cited := map[int64]bool{}
	for _, r := range refs {
		cited[r] = true
	}
	err := pairs.each(size, func(a int, ps []history.Pair) error {
		to := int64(0)
		for _, p := range ps {
			to = max(to, p.Complete.Time)
			if show < 0 && (cited[p.Invoke.Index] || cited[p.Complete.Index]) {
				show = len(wins)
			}
		}
		wins = append(wins, timelineWindow{File: fmt.Sprintf("timeline-%03d.json", len(wins)),
			From: ps[0].Invoke.Time / 1000, To: to / 1000, Ops: len(ps)})
		return nil
	})
	if err != nil {
		return timelineData{}, err
	}
	show = max(show, 0)
	var page timelineData
	err = pairs.each(size, func(a int, ps []history.Pair) error {
		w := a / size
		td := buildTimeline(ps, faults, refs, end)
		td.Windows, td.Window = wins, w
		b, err := marshalTimeline(td)
		if err != nil {
			return err
		}
		files[wins[w].File] = b
		if w == show {
			page = td
		}
		return nil
	})
	if err != nil {
		return timelineData{}, err
	}
	return page, nil
}

// interner maps strings to dense indexes.
type interner struct {
	idx  map[string]int
	list []string
}

func newInterner(first ...string) *interner {
	in := &interner{idx: map[string]int{}}
	for _, s := range first {
		in.id(s)
	}
	return in
}

func (in *interner) id(s string) int {
	if i, ok := in.idx[s]; ok {
		return i
	}
	in.idx[s] = len(in.list)
	in.list = append(in.list, s)
	return len(in.list) - 1
}

// maxErrLen keeps one long error message from bloating the page.
const maxErrLen = 200

// maxValLen and valBudget bound the shown values: set reads are long and
// each one distinct, and must not bloat a 100k-op page.
const (
	maxValLen = 40
	valBudget = 512 << 10
)

// shownValue is what the tooltip says an op read or wrote.
func shownValue(p history.Pair) string {
	v := p.Invoke.Value
	if p.Complete.Type == history.OK && len(p.Complete.Value) > 0 {
		v = p.Complete.Value
	}
	s := string(v)
	if len(s) > maxValLen {
		cut := maxValLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// buildTimeline converts client pairs (nemesis excluded) and faults into the
// page's data. refs are the op indexes cited by checkers.
func buildTimeline(pairs []history.Pair, faults []fault, refs []int64, end int64) timelineData {
	td := timelineData{End: end / 1000, Refs: map[string]int64{}}
	procRow, rowWorkload, workloads := assignWorkloadRows(pairs)
	fs, keys, nodes, errs, vals := newInterner(), newInterner(""), newInterner(""), newInterner(""), newInterner("")
	valBytes := 0
	n := len(pairs)
	td.P, td.S, td.D, td.Y = make([]int, n), make([]int64, n), make([]int64, n), make([]int, n)
	td.F, td.K, td.N, td.E, td.I = make([]int, n), make([]int, n), make([]int, n), make([]int, n), make([]int64, n)
	td.V = make([]int, n)
	wanted := map[int64]bool{}
	for _, r := range refs {
		wanted[r] = true
	}
	var prevS, prevI int64
	for i, p := range pairs {
		inv, c := p.Invoke, p.Complete
		s := inv.Time / 1000
		td.P[i] = int(inv.Process)
		td.S[i] = s - prevS
		td.D[i] = max(c.Time/1000-s, 0)
		td.Y[i] = typeCode(c.Type)
		td.F[i] = fs.id(inv.F)
		td.K[i] = keys.id(inv.Key)
		node := c.Node
		if node == "" {
			node = inv.Node
		}
		td.N[i] = nodes.id(node)
		e := c.Error
		if len(e) > maxErrLen {
			cut := maxErrLen
			for cut > 0 && !utf8.RuneStart(e[cut]) {
				cut--
			}
			e = e[:cut] + "…"
		}
		td.E[i] = errs.id(e)
		td.I[i] = inv.Index - prevI
		if v := shownValue(p); v != "" {
			if _, seen := vals.idx[v]; seen || valBytes < valBudget {
				valBytes += len(v) + 3
				td.V[i] = vals.id(v)
			}
		}
		prevS, prevI = s, inv.Index
		if wanted[inv.Index] {
			td.Refs[strconv.FormatInt(inv.Index, 10)] = inv.Index
		}
		if c.Index >= 0 && wanted[c.Index] {
			td.Refs[strconv.FormatInt(c.Index, 10)] = inv.Index
		}
	}
	td.Fs, td.Keys, td.Nodes, td.Errs, td.Vals = fs.list, keys.list, nodes.list, errs.list, vals.list
	rows := map[int][]string{}
	procs := make([]int, 0, len(procRow))
	for p := range procRow {
		procs = append(procs, p)
	}
	sort.Ints(procs)
	nrows := 0
	for _, p := range procs {
		r := procRow[p]
		td.Procs = append(td.Procs, [2]int{p, r})
		rows[r] = append(rows[r], strconv.Itoa(p))
		nrows = max(nrows, r+1)
	}
	td.Rows = make([]string, nrows)
	for r := range td.Rows {
		td.Rows[r] = rowLabel(rows[r])
	}
	if workloads != nil {
		td.Workloads, td.RowWorkloads = workloads, rowWorkload
		for r := range td.Rows {
			td.Rows[r] = workloads[rowWorkload[r]] + " " + td.Rows[r]
		}
	}
	kinds := faultKinds(faults)
	td.FaultKinds = kinds
	for _, k := range kinds {
		td.FaultColor = append(td.FaultColor, faultColor(kinds, k))
	}
	frows := newInterner()
	// A list even when empty: the page's script reads its length, and a
	// run without faults must draw too.
	td.Faults = make([][5]int64, 0, len(faults))
	for _, f := range faults {
		open := int64(0)
		if f.Open {
			open = 1
		}
		td.Faults = append(td.Faults, [5]int64{f.Start / 1000, f.End / 1000, int64(sort.SearchStrings(kinds, f.Kind)), open, int64(frows.id(f.Row()))})
	}
	td.FaultRows = frows.list
	return td
}

// rowLabel names a row by its processes, shortened when a worker slot went
// through many processes (each info result retires a process).
func rowLabel(procs []string) string {
	if len(procs) <= 3 {
		return "p " + strings.Join(procs, ",")
	}
	return fmt.Sprintf("p %s,%s…%s (%d)", procs[0], procs[1], procs[len(procs)-1], len(procs))
}

// assignWorkloadRows is assignRows for a history in which several
// workloads ran side by side: each workload gets a block of rows of its own
// (workloads in name order), so that a row never mixes workloads and the
// page can name them. rowWorkload maps each row to its workload's index in
// workloads; both are nil for a history of one workload.
func assignWorkloadRows(pairs []history.Pair) (procRow map[int]int, rowWorkload []int, workloads []string) {
	byWorkload := map[string][]history.Pair{}
	for _, p := range pairs {
		byWorkload[p.Invoke.Workload] = append(byWorkload[p.Invoke.Workload], p)
	}
	if len(byWorkload) < 2 {
		return assignRows(pairs), nil, nil
	}
	for w := range byWorkload {
		workloads = append(workloads, w)
	}
	sort.Strings(workloads)
	procRow = map[int]int{}
	for wi, w := range workloads {
		base, n := len(rowWorkload), 0
		for proc, r := range assignRows(byWorkload[w]) {
			if _, taken := procRow[proc]; !taken { // a process belongs to one workload
				procRow[proc] = base + r
				n = max(n, r+1)
			}
		}
		for range n {
			rowWorkload = append(rowWorkload, wi)
		}
	}
	for i, w := range workloads {
		if w == "" {
			workloads[i] = "(none)" // ops of no workload beside named ones
		}
	}
	return procRow, rowWorkload, workloads
}

// assignRows gives each client process a row such that processes on one row
// never overlap in time. A process retired by an info result is replaced by
// a new one, so rows track worker slots and their number stays near the
// concurrency instead of growing with every crash. Greedy interval
// colouring by first invocation is optimal for intervals.
func assignRows(pairs []history.Pair) map[int]int {
	type span struct {
		proc       int
		start, end int64
	}
	spans := map[int]*span{}
	var order []*span
	for _, p := range pairs {
		proc := int(p.Invoke.Process)
		sp, ok := spans[proc]
		if !ok {
			sp = &span{proc: proc, start: p.Invoke.Time, end: p.Complete.Time}
			spans[proc] = sp
			order = append(order, sp)
		}
		sp.end = max(sp.end, p.Complete.Time)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].start != order[j].start {
			return order[i].start < order[j].start
		}
		return order[i].proc < order[j].proc
	})
	rows := map[int]int{}
	var free []int64 // end time of each row's last span
	for _, sp := range order {
		r := -1
		// First free row; a linear scan is fine, rows ≈ concurrency.
		for i, e := range free {
			if e < sp.start {
				r = i
				break
			}
		}
		if r < 0 {
			r = len(free)
			free = append(free, 0)
		}
		free[r] = sp.end
		rows[sp.proc] = r
	}
	return rows
}

// marshalTimeline encodes the data for a <script type="application/json">
// element. encoding/json escapes <, > and &, so the text cannot end the
// script element early.
func marshalTimeline(td timelineData) ([]byte, error) {
	b, err := json.Marshal(td)
	if err != nil {
		return nil, fmt.Errorf("encode timeline: %w", err)
	}
	return b, nil
}
