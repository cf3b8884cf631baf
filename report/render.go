package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// maxRefOps bounds the table of ops cited by checkers.
const maxRefOps = 1000

// maxNodeFiles bounds the files listed per node directory.
const maxNodeFiles = 50

// Set reads and checker details can be huge; the page shows a prefix and
// the files hold the rest.
const (
	maxShownValue   = 2000
	maxShownDetails = 20000
)

// clip shortens s to n bytes (on a rune boundary), saying how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes in all)", len(s))
}

// run is everything read from a run directory.
type run struct {
	Dir        string
	Info       TestInfo
	InfoRaw    []byte
	HasInfo    bool
	Summary    checker.Summary
	HasSummary bool
	Ops        []history.Op
	HasHistory bool
	// streamed is set when loadRun read the history as a stream: Ops
	// then holds only the nemesis's ops, and the client pairs (compact),
	// the end and the counts were gathered on the way, so that a history
	// of millions of ops is never held whole.
	streamed *streamedHistory
}

type streamedHistory struct {
	pairs               pairList // client pairs, in invocation order
	end                 int64
	entries, clientInvs int
	nemesisInvs         int
}

// loadRun reads a run directory. Missing files are tolerated (an interrupted
// run still deserves a report); malformed ones are errors naming the file.
func loadRun(dir string) (run, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return run{}, fmt.Errorf("open run: %w", err)
	}
	if !st.IsDir() {
		return run{}, fmt.Errorf("open run: %s is not a directory", dir)
	}
	r := run{Dir: dir}
	r.Info, r.InfoRaw, err = ReadTestInfo(dir)
	switch {
	case err == nil:
		r.HasInfo = true
	case !errors.Is(err, fs.ErrNotExist):
		return run{}, err
	}
	r.Summary, r.HasSummary, err = readSummary(dir)
	if err != nil {
		return run{}, err
	}
	r.Ops, r.streamed, err = streamHistory(filepath.Join(dir, historyFile))
	switch {
	case err == nil:
		r.HasHistory = true
	case !errors.Is(err, fs.ErrNotExist):
		return run{}, fmt.Errorf("read history: %w", err)
	}
	if !r.HasInfo && !r.HasSummary && !r.HasHistory {
		return run{}, fmt.Errorf("open run: %s has none of %s, %s, %s", dir, testFile, historyFile, resultsFile)
	}
	return r, nil
}

// Render writes runDir/report.html with latency.svg and rate.svg next to it.
// It reads test.json, history.jsonl and results.json; any of them may be
// missing (the report says so), but a malformed one is an error.
func Render(runDir string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	began := time.Now()
	r, err := loadRun(runDir)
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	out, err := buildReport(r)
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	for name, b := range out.files {
		if err := writeAtomic(filepath.Join(runDir, name), b); err != nil {
			return fmt.Errorf("render report: %w", err)
		}
	}
	entries := len(r.Ops)
	if r.streamed != nil {
		entries = r.streamed.entries
	}
	logger.Info("report written", "path", filepath.Join(runDir, reportFile), "ops", entries,
		"html_bytes", len(out.files[reportFile]), "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// rendered is the files of a report, by name inside the run directory.
type rendered struct {
	files map[string][]byte
}

// buildReport is the pure part of Render: a loaded run in, file contents
// out.
func buildReport(r run) (rendered, error) {
	var pairs pairList
	switch {
	case r.streamed != nil:
		pairs = r.streamed.pairs
	case r.HasHistory:
		// Filter in place: a second slice of 100k pairs costs hundreds of MB.
		all := history.Pairs(r.Ops)
		n := 0
		for _, p := range all {
			if !p.Invoke.IsNemesis() {
				all[n] = p
				n++
			}
		}
		pairs = memPairs(all[:n])
	}
	var end int64
	if r.streamed != nil {
		end = r.streamed.end
	} else if len(r.Ops) > 0 {
		end = r.Ops[len(r.Ops)-1].Time
	}
	var faults []fault
	if r.HasHistory {
		faults = faultsFromHistory(r.Ops)
	} else {
		faults = faultsFromPerf(r.Summary.Perf)
	}
	if end == 0 {
		end = perfEnd(r.Summary.Perf, faults)
	}
	out := rendered{files: map[string][]byte{}}
	in := plotInput{Pairs: pairs, Perf: r.Summary.Perf, Faults: faults, End: end}
	view, err := newView(r, pairs, faults, end)
	if err != nil {
		return rendered{}, err
	}
	if pairs.Len() > 0 || r.Summary.Perf != nil {
		lat, note, err := latencyPlot(in)
		if err != nil {
			return rendered{}, err
		}
		rate, err := ratePlot(in)
		if err != nil {
			return rendered{}, err
		}
		out.files[latencySVG], out.files[rateSVG] = lat, rate
		view.LatencySVG, view.RateSVG = latencySVG, rateSVG
		if note.Shown < note.Total {
			view.PlotNote = fmt.Sprintf("The latency scatter shows %d of %d operations, evenly thinned per type; the quantile lines cover all.", note.Shown, note.Total)
		}
	}
	td, err := timelineWindows(pairs, faults, view.refIndexes, end, out.files, maxWindowPairs)
	if err != nil {
		return rendered{}, err
	}
	tj, err := marshalTimeline(td)
	if err != nil {
		return rendered{}, err
	}
	view.TimelineJSON = template.JS(tj) // json.Marshal escaped <, > and &
	view.TimelineBytes = len(tj)
	html, err := executePage("report.html.tmpl", view)
	if err != nil {
		return rendered{}, err
	}
	out.files[reportFile] = html
	return out, nil
}

// perfEnd estimates the end of a run without a history.
func perfEnd(p *checker.Perf, faults []fault) int64 {
	var end int64
	if p != nil && len(p.Buckets) > 0 {
		end = p.Buckets[len(p.Buckets)-1].Start + p.BucketNanos
	}
	for _, f := range faults {
		end = max(end, f.End)
	}
	return end
}

// writeAtomic replaces path so that a browser or server never sees a half
// written report.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

type reportView struct {
	Title         string
	Dir           string
	Info          TestInfo
	HasInfo       bool
	InfoJSON      string
	Verdict       checker.Verdict
	Notes         []string       // why the report is partial
	Checks        []checkView    // the cluster's, or every check of an old run
	Panels        []checkView    // every check, each in its own panel
	Workloads     []workloadView // one section per workload, when results have them
	Faults        []faultView
	FaultRows     []faultRowView
	FaultLegend   []legendView
	EndSecs       string
	LatencySVG    string
	RateSVG       string
	PlotNote      string
	Counts        []countRow
	Latencies     []latencyRow
	Coverage      *coverageView
	Instruments   []string // failures of the harness's own instruments (a lazyfs that died)
	Liveness      []livenessView
	Watches       []watchView
	RefOps        []refOpView
	RefOpsCut     int
	ClientOps     int
	NemesisOps    int
	Files         []fileLink
	Nodes         []nodeView
	TimelineJSON  template.JS
	TimelineBytes int
	CSS           template.CSS
	JS            template.JS
	refIndexes    []int64
}

type faultView struct {
	fault
	StartS, EndS, DurS string
	Color              string
	Left, Width        string // percent of the run, for the bar
}

type faultRowView struct {
	Label string
	Bars  []faultView
}

type legendView struct{ Name, Color string }

type countRow struct {
	F              string
	OK, Fail, Info int
}

type latencyRow struct {
	F                  string
	N                  int
	P50, P95, P99, Max string
}

type refOpView struct {
	Index, InvokeIndex, CompleteIndex int64
	Process, Type, F, Key, Node       string
	InvokeValue, CompleteValue, Error string
	TimeS, LatencyMS                  string
	Final                             bool
}

type fileLink struct {
	Href, Label, Note string
}

type nodeView struct {
	Name  string
	Href  string
	Files []fileLink
	More  int
}

func fmtSecs(ns int64) string { return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) }
func fmtMS(ns int64) string   { return strconv.FormatFloat(float64(ns)/1e6, 'f', 2, 64) }

func newView(r run, pairs pairList, faults []fault, end int64) (reportView, error) {
	v := reportView{
		Dir:     r.Dir,
		Info:    r.Info,
		HasInfo: r.HasInfo,
		EndSecs: fmtSecs(end),
		CSS:     template.CSS(asset("report.css")),
		JS:      template.JS(asset("report.js")),
	}
	v.Title = r.Info.Name
	if v.Title == "" {
		v.Title = filepath.Base(r.Dir)
	}
	if r.HasInfo {
		var pretty bytes.Buffer
		if json.Indent(&pretty, r.InfoRaw, "", "  ") == nil {
			v.InfoJSON = pretty.String()
		} else {
			v.InfoJSON = string(r.InfoRaw)
		}
	} else {
		v.Notes = append(v.Notes, testFile+" is missing: the run's settings are unknown.")
	}
	if !r.HasHistory {
		v.Notes = append(v.Notes, historyFile+" is missing: no timeline and no raw latencies.")
	}
	switch {
	case !r.HasSummary:
		v.Verdict = Incomplete
		v.Notes = append(v.Notes, resultsFile+" is missing: the checkers did not run (run with zabcheck check to analyse it).")
	case r.Info.Incomplete:
		v.Verdict = Incomplete
		v.Notes = append(v.Notes, fmt.Sprintf("The run was interrupted; the checkers' verdict on what was recorded is %s.", r.Summary.Verdict))
	default:
		v.Verdict = r.Summary.Verdict
	}
	if r.Info.Error != "" {
		v.Notes = append(v.Notes, "Runner error: "+r.Info.Error)
	}
	if r.Info.HealError != "" {
		v.Notes = append(v.Notes, "Final heal error (faults may have outlived the run): "+r.Info.HealError)
	}
	for _, op := range r.Ops {
		if op.Type == history.Invoke {
			if op.IsNemesis() {
				v.NemesisOps++
			} else {
				v.ClientOps++
			}
		}
	}
	if r.streamed != nil {
		v.NemesisOps, v.ClientOps = r.streamed.nemesisInvs, r.streamed.clientInvs
	}
	v.Checks, v.Workloads, v.refIndexes = verdictViews(r)
	v.Faults, v.FaultRows, v.FaultLegend = faultViews(faults, end)
	v.Liveness = livenessViews(r.Summary, faults, end)
	v.Counts, v.Latencies = perfTables(r.Summary.Perf)
	v.Coverage = newCoverageView(r.Summary.Coverage)
	v.Instruments = r.Summary.Instruments
	var err error
	if v.RefOps, v.RefOpsCut, err = refOps(r.Ops, pairs, v.refIndexes); err != nil {
		return v, err
	}
	watched, err := watchPairs(pairs)
	if err != nil {
		return v, err
	}
	v.Watches = watchViews(watched, r.Summary, faults, end)
	v.Panels = checkerPanels(v.Checks, v.Workloads, v.RefOps, v.Liveness, v.Watches)
	v.Files, v.Nodes = runFiles(r)
	return v, nil
}

// watchPairs are the pairs of the workloads that armed watches or saw
// their events: the only ones watchViews draws (none, in most runs).
func watchPairs(pairs pairList) ([]history.Pair, error) {
	if pairs.log == nil {
		return pairs.mem, nil
	}
	tags := map[string]bool{}
	err := pairs.each(maxWindowPairs, func(_ int, ps []history.Pair) error {
		for _, p := range ps {
			if p.Invoke.F == history.FWatchArm || p.Invoke.F == history.FWatchEvent {
				tags[p.Invoke.Workload] = true
			}
		}
		return nil
	})
	if err != nil || len(tags) == 0 {
		return nil, err
	}
	return pairs.filter(func(p history.Pair) bool { return tags[p.Invoke.Workload] })
}

func faultViews(faults []fault, end int64) ([]faultView, []faultRowView, []legendView) {
	kinds := faultKinds(faults)
	var legend []legendView
	for _, k := range kinds {
		legend = append(legend, legendView{Name: k, Color: faultColor(kinds, k)})
	}
	span := float64(max(end, 1))
	var views []faultView
	rowIdx := map[string]int{}
	var rows []faultRowView
	for _, f := range faults {
		fv := faultView{fault: f, StartS: fmtSecs(f.Start), EndS: fmtSecs(f.End), DurS: fmtSecs(f.End - f.Start),
			Color: faultColor(kinds, f.Kind)}
		left := min(max(float64(f.Start)/span*100, 0), 100)
		width := min(max(float64(f.End-f.Start)/span*100, 0.3), 100-left)
		fv.Left, fv.Width = strconv.FormatFloat(left, 'f', 3, 64), strconv.FormatFloat(width, 'f', 3, 64)
		views = append(views, fv)
		i, ok := rowIdx[f.Row()]
		if !ok {
			i = len(rows)
			rowIdx[f.Row()] = i
			rows = append(rows, faultRowView{Label: f.Row()})
		}
		rows[i].Bars = append(rows[i].Bars, fv)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Label < rows[j].Label })
	return views, rows, legend
}

func perfTables(p *checker.Perf) ([]countRow, []latencyRow) {
	if p == nil {
		return nil, nil
	}
	var counts []countRow
	for f, byType := range p.Counts {
		counts = append(counts, countRow{F: f, OK: byType["ok"], Fail: byType["fail"], Info: byType["info"]})
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].F < counts[j].F })
	var lats []latencyRow
	for f, q := range p.Latency {
		lats = append(lats, latencyRow{F: f, N: q.N, P50: fmtMS(q.P50), P95: fmtMS(q.P95), P99: fmtMS(q.P99), Max: fmtMS(q.Max)})
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i].F < lats[j].F })
	return counts, lats
}

// refOps describes the ops the checkers cite, with the other half of their
// pair, so an explanation can be read next to the values involved.
func refOps(ops []history.Op, pairs pairList, refs []int64) ([]refOpView, int, error) {
	if len(refs) == 0 {
		return nil, 0, nil
	}
	cut := 0
	if len(refs) > maxRefOps {
		cut = len(refs) - maxRefOps
		refs = refs[:maxRefOps]
	}
	// Only the cited pairs are kept: a map of every op's index would be
	// hundreds of MB at ten million ops.
	wanted := make(map[int64]bool, len(refs))
	for _, idx := range refs {
		wanted[idx] = true
	}
	byIndex := map[int64]history.Pair{}
	err := pairs.each(maxWindowPairs, func(_ int, ps []history.Pair) error {
		for _, p := range ps {
			if wanted[p.Invoke.Index] {
				byIndex[p.Invoke.Index] = p
			}
			if p.Complete.Index >= 0 && wanted[p.Complete.Index] {
				byIndex[p.Complete.Index] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	nemesis := map[int64]history.Op{}
	for _, op := range ops {
		if op.IsNemesis() {
			nemesis[op.Index] = op
		}
	}
	var views []refOpView
	for _, idx := range refs {
		p, ok := byIndex[idx]
		if !ok {
			if op, isNem := nemesis[idx]; isNem {
				views = append(views, refOpView{Index: idx, InvokeIndex: -1, CompleteIndex: -1, Process: op.Process.String(),
					Type: string(op.Type), F: op.F, InvokeValue: clip(string(op.Value), maxShownValue), Error: op.Error, TimeS: fmtSecs(op.Time)})
				continue
			}
			views = append(views, refOpView{Index: idx, InvokeIndex: -1, CompleteIndex: -1, Error: "not in the history"})
			continue
		}
		node := p.Complete.Node
		if node == "" {
			node = p.Invoke.Node
		}
		views = append(views, refOpView{
			Index: idx, InvokeIndex: p.Invoke.Index, CompleteIndex: p.Complete.Index,
			Process: p.Invoke.Process.String(), Type: string(p.Complete.Type), F: p.Invoke.F, Key: p.Invoke.Key, Node: node,
			InvokeValue: clip(string(p.Invoke.Value), maxShownValue), CompleteValue: clip(string(p.Complete.Value), maxShownValue), Error: p.Complete.Error,
			TimeS: fmtSecs(p.Invoke.Time), LatencyMS: fmtMS(p.Complete.Time - p.Invoke.Time), Final: p.Complete.Final || p.Invoke.Final,
		})
	}
	return views, cut, nil
}

// runFiles lists the run's files worth linking: the harness's own, those
// the checks produced, and each node's directory (state dump, logs).
func runFiles(r run) ([]fileLink, []nodeView) {
	var files []fileLink
	for _, f := range []struct{ name, label string }{
		{historyFile, "history (JSONL)"},
		{resultsFile, "checker results"},
		{testFile, "test settings"},
		{logFile, "harness log"},
	} {
		files = append(files, linkIfExists(r.Dir, f.name, f.label+": "+f.name))
	}
	files = append(files, checkFiles(r)...)
	entries, err := os.ReadDir(filepath.Join(r.Dir, nodesDir))
	if err != nil {
		return files, nil
	}
	var nodes []nodeView
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		nv := nodeView{Name: e.Name(), Href: nodesDir + "/" + e.Name() + "/"}
		sub, err := os.ReadDir(filepath.Join(r.Dir, nodesDir, e.Name()))
		if err == nil {
			// State dumps and logs first: they are what a reader looks for.
			sort.SliceStable(sub, func(i, j int) bool { return fileRank(sub[i].Name()) < fileRank(sub[j].Name()) })
			for _, s := range sub {
				if len(nv.Files) == maxNodeFiles {
					nv.More++
					continue
				}
				name := s.Name()
				href := nv.Href + name
				if s.IsDir() {
					name += "/"
					href += "/"
				}
				nv.Files = append(nv.Files, fileLink{Href: href, Label: name})
			}
		}
		nodes = append(nodes, nv)
	}
	return files, nodes
}

// fileRank puts a node's state dumps (JSON) and then its logs before its
// data files. It goes by extension, not by any target's file names: each
// target names its own artifacts.
func fileRank(name string) int {
	switch filepath.Ext(name) {
	case ".json":
		return 0
	case ".log":
		return 1
	}
	return 2
}

// streamHistory reads the history at path as history.Pairs would pair it,
// keeping the client pairs (compactly, see pairList) and the nemesis's ops
// only.
func streamHistory(path string) ([]history.Op, *streamedHistory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	log := history.NewOpLog()
	var pos [][2]int64
	sh := &streamedHistory{}
	var nemesis []history.Op
	open := map[history.Process]int{}
	err = history.Scan(f, func(op history.Op) error {
		sh.entries++
		sh.end = op.Time
		if op.IsNemesis() {
			// Its own copy of the value: the decoder's would pin a block
			// shared with thousands of client ops' values.
			op.Value = bytes.Clone(op.Value)
			nemesis = append(nemesis, op)
			if op.Type == history.Invoke {
				sh.nemesisInvs++
			}
			return nil
		}
		if op.Type == history.Invoke {
			sh.clientInvs++
			open[op.Process] = len(pos)
			pos = append(pos, [2]int64{log.Append(op), -1})
			return nil
		}
		if i, ok := open[op.Process]; ok {
			pos[i][1] = log.Append(op)
			delete(open, op.Process)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	sh.pairs = pairList{log: log, pos: pos, end: sh.end}
	return nemesis, sh, nil
}
