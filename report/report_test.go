package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// copyDir copies a fixture so that rendering never writes into testdata.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func fixtureRun(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run1")
	copyDir(t, filepath.Join("testdata", "run1"), dir)
	return dir
}

// timelineFromHTML extracts and decodes the embedded timeline data.
func timelineFromHTML(t *testing.T, html string) timelineData {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="timeline-data">(.*?)</script>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("report has no timeline-data script")
	}
	var td timelineData
	if err := json.Unmarshal([]byte(m[1]), &td); err != nil {
		t.Fatalf("timeline data is not JSON: %v", err)
	}
	return td
}

func TestRenderFixture(t *testing.T) {
	dir := fixtureRun(t)
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	ops, err := history.ReadFile(filepath.Join(dir, historyFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum checker.Summary
	rb, _ := os.ReadFile(filepath.Join(dir, resultsFile))
	if err := json.Unmarshal(rb, &sum); err != nil {
		t.Fatal(err)
	}

	t.Run("verdicts", func(t *testing.T) {
		if !strings.Contains(html, `id="overall-verdict">invalid<`) {
			t.Error("overall verdict invalid not shown")
		}
		for _, c := range sum.Checks {
			re := regexp.MustCompile(`(?s)id="check-` + regexp.QuoteMeta(c.Name) + `">.*?class="verdict v-` + string(c.Verdict) + `">` + string(c.Verdict) + `<`)
			if !re.MatchString(html) {
				t.Errorf("check %s: verdict %s not shown", c.Name, c.Verdict)
			}
			for _, op := range c.Ops {
				link := `href="#op-` + itoa(op) + `" data-op="` + itoa(op) + `"`
				if !strings.Contains(html, link) {
					t.Errorf("check %s: no link to op %d", c.Name, op)
				}
				if !strings.Contains(html, `id="op-`+itoa(op)+`"`) {
					t.Errorf("check %s: no anchor for op %d", c.Name, op)
				}
			}
		}
		if strings.Contains(html, "<b>not html</b>") || !strings.Contains(html, "&lt;b&gt;not html&lt;/b&gt;") {
			t.Error("explanation is not HTML-escaped")
		}
	})
	t.Run("nemesis timeline", func(t *testing.T) {
		for _, row := range []string{"partition n1,n2", "kill n3", "pause n2"} {
			if !strings.Contains(html, `<div class="faultlabel" title="`+row+`">`) {
				t.Errorf("no nemesis row %q", row)
			}
		}
		if got, want := strings.Count(html, `class="faultbar`), 3; got != want {
			t.Errorf("fault bars: got %d, want %d", got, want)
		}
		if !strings.Contains(html, "never stopped") {
			t.Error("the unstopped pause is not marked")
		}
		if !strings.Contains(html, "iptables -w -A INPUT") {
			t.Error("fault commands not shown")
		}
	})
	t.Run("plots", func(t *testing.T) {
		for _, name := range []string{latencySVG, rateSVG} {
			svg, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("plot %s: %v", name, err)
			}
			if !strings.Contains(string(svg), "<svg") {
				t.Errorf("%s is not SVG", name)
			}
			if !strings.Contains(html, `src="`+name+`"`) {
				t.Errorf("report does not show %s", name)
			}
		}
		lat, _ := os.ReadFile(filepath.Join(dir, latencySVG))
		for _, legend := range []string{"p50", "p95", "p99", "partition", "kill", "pause", "ok", "fail", "info"} {
			if !strings.Contains(string(lat), ">"+legend+"<") {
				t.Errorf("latency plot has no legend entry %q", legend)
			}
		}
	})
	t.Run("process timeline data", func(t *testing.T) {
		td := timelineFromHTML(t, html)
		var invokes, nemesis int // nemesis counts fault starts
		for _, op := range ops {
			if op.Type == history.Invoke {
				if op.IsNemesis() {
					if op.F == history.FStart {
						nemesis++
					}
				} else {
					invokes++
				}
			}
		}
		if got, want := len(td.P), invokes; got != want {
			t.Errorf("timeline ops: got %d, want %d client invocations", got, want)
		}
		if got, want := len(td.Faults), nemesis; got != want {
			t.Errorf("timeline faults: got %d, want %d", got, want)
		}
		// Undo the delta encoding: starts and indexes must match the history.
		first := map[int64]int64{}
		for _, op := range ops {
			if op.Type == history.Invoke && !op.IsNemesis() {
				first[op.Index] = op.Time / 1000
			}
		}
		var s, ix int64
		for i := range td.P {
			s += td.S[i]
			ix += td.I[i]
			want, ok := first[ix]
			if !ok || want != s {
				t.Fatalf("op %d: decoded invoke index %d at %dµs, history has %v at %dµs", i, ix, s, ok, want)
			}
		}
		// Shown values: an ok read shows what it read.
		var i int
		for _, p := range history.Pairs(ops) {
			if p.Invoke.IsNemesis() {
				continue
			}
			if p.Complete.Type == history.OK && p.Invoke.F == history.FRead {
				if got, want := td.Vals[td.V[i]], string(p.Complete.Value); got != want {
					t.Fatalf("op %d: shown value %q, want %q", p.Invoke.Index, got, want)
				}
			}
			i++
		}
		for _, op := range sum.Checks[0].Ops {
			if _, ok := td.Refs[itoa(op)]; !ok {
				t.Errorf("cited op %d missing from timeline refs", op)
			}
		}
		if !strings.Contains(html, `<canvas id="timeline"`) {
			t.Error("no timeline canvas")
		}
	})
	t.Run("links", func(t *testing.T) {
		for _, href := range []string{historyFile, resultsFile, testFile, logFile, "linearizability.html",
			"nodes/n1/dump.json", "nodes/n1/zabnode.log", "nodes/n2/zabnode.log", "nodes/n1/"} {
			if !strings.Contains(html, `href="`+href+`"`) {
				t.Errorf("no link to %s", href)
			}
		}
	})
	t.Run("static", func(t *testing.T) {
		for _, bad := range []string{`src="http`, `href="http`, `src="//`, `@import`, "ZgotmplZ"} {
			if strings.Contains(html, bad) {
				t.Errorf("report contains %q (must open offline, templates must not reject values)", bad)
			}
		}
		if !strings.Contains(html, `id="js-status" data-state="loading"`) {
			t.Error("no JS status marker")
		}
	})
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

func TestRenderIncompleteRun(t *testing.T) {
	dir := fixtureRun(t)
	if err := os.Remove(filepath.Join(dir, resultsFile)); err != nil {
		t.Fatal(err)
	}
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, reportFile))
	html := string(b)
	if !strings.Contains(html, `id="overall-verdict">incomplete<`) {
		t.Error("a run without results.json is not shown as incomplete")
	}
	if !strings.Contains(html, "results.json is missing") {
		t.Error("no note about the missing results.json")
	}
	if td := timelineFromHTML(t, html); len(td.P) == 0 {
		t.Error("timeline is empty although the history exists")
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"missing dir", func(t *testing.T, dir string) { os.RemoveAll(dir) }, "open run"},
		{"empty dir", func(t *testing.T, dir string) {
			for _, f := range []string{testFile, historyFile, resultsFile} {
				os.Remove(filepath.Join(dir, f))
			}
		}, "has none of"},
		{"malformed results", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, resultsFile), []byte("{"), 0o644)
		}, resultsFile},
		{"malformed test.json", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, testFile), []byte(`{"nemesis": 3}`), 0o644)
		}, "nemesis"},
		{"malformed history", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, historyFile), []byte(`{"index":0,"time":0,"type":"ok","process":0,"f":"read"}`+"\n"), 0o644)
		}, "history line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fixtureRun(t)
			tt.setup(t, dir)
			err := Render(dir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render: got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDecodeTestInfo(t *testing.T) {
	tests := []struct {
		name, in    string
		wantNemesis []string
		wantErr     bool
	}{
		{"list", `{"name":"a","nemesis":["kill","pause"],"future":1}`, []string{"kill", "pause"}, false},
		{"single name", `{"nemesis":"partition"}`, []string{"partition"}, false},
		{"none", `{"nemesis":null}`, nil, false},
		{"bad type", `{"nemesis":{"a":1}}`, nil, true},
		{"not json", `{`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTestInfo([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if strings.Join(got.Nemesis, ",") != strings.Join(tt.wantNemesis, ",") {
				t.Errorf("nemesis: got %v, want %v", got.Nemesis, tt.wantNemesis)
			}
		})
	}
	info, err := decodeTestInfo([]byte(`{"start":"2026-11-25T10:00:00.123456789Z","concurrency":5,"incomplete":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Start, time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC); !got.Equal(want) {
		t.Errorf("start: got %v, want %v", got, want)
	}
	if !info.Incomplete || info.Concurrency != 5 {
		t.Errorf("got %+v", info)
	}
	// The runner's shape: counts for nodes, durations as strings, no end.
	info, err = decodeTestInfo([]byte(`{"name":"r","nodes":3,"observers":0,"time_limit":"1m0s","keys":4,"heal_error":"n2 still paused","verdict":"valid"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rawText(info.Nodes)+" "+rawText(info.TimeLimit)+" "+info.HealError, "3 1m0s n2 still paused"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func op(idx, at int64, ty history.Type, p history.Process, f string, v string) history.Op {
	o := history.Op{Index: idx, Time: at, Type: ty, Process: p, F: f}
	if v != "" {
		o.Value = json.RawMessage(v)
	}
	return o
}

func TestFaultsFromHistory(t *testing.T) {
	n := history.Nemesis
	ops := []history.Op{
		op(0, 10, history.Invoke, n, "start", `{"id":1,"fault":"kill","targets":["n1"]}`),
		op(1, 20, history.Info, n, "start", `{"id":1,"fault":"kill","targets":["n1"]}`),
		op(2, 30, history.Invoke, n, "start", `{"id":2,"fault":"partition","targets":["n2","n3"],"error":"iptables failed"}`),
		op(3, 40, history.Info, n, "start", `{"id":2,"fault":"partition","targets":["n2","n3"],"error":"iptables failed"}`),
		op(4, 50, history.Invoke, n, "stop", `{"id":1,"fault":"kill"}`),
		op(5, 60, history.Info, n, "stop", `{"id":1,"fault":"kill"}`),
		op(6, 70, history.Invoke, 0, "read", ``),
		op(7, 90, history.OK, 0, "read", `1`),
	}
	got := faultsFromHistory(ops)
	if len(got) != 2 {
		t.Fatalf("got %d faults, want 2: %+v", len(got), got)
	}
	if f := got[0]; f.Kind != "kill" || f.Start != 20 || f.End != 60 || f.Open || f.StopOp != 5 || f.Row() != "kill n1" {
		t.Errorf("kill: got %+v", f)
	}
	if f := got[1]; f.Kind != "partition" || f.Start != 40 || f.End != 90 || !f.Open || f.Error != "iptables failed" || f.Row() != "partition n2,n3" {
		t.Errorf("partition: got %+v", f)
	}
}

func TestAssignRows(t *testing.T) {
	// Process 0 crashes (info) and 3 takes its slot; 1 and 2 overlap it.
	pair := func(p history.Process, from, to int64, ty history.Type) history.Pair {
		return history.Pair{Invoke: history.Op{Process: p, Time: from, Type: history.Invoke}, Complete: history.Op{Process: p, Time: to, Type: ty}}
	}
	pairs := []history.Pair{
		pair(0, 0, 10, history.Info), pair(1, 1, 5, history.OK), pair(2, 2, 30, history.OK),
		pair(1, 6, 40, history.OK), pair(3, 11, 20, history.OK), pair(3, 21, 25, history.Fail),
	}
	rows := assignRows(pairs)
	if got, want := rows[3], rows[0]; got != want {
		t.Errorf("process 3 row: got %d, want %d (the slot process 0 left)", got, want)
	}
	seen := map[int]bool{}
	for _, p := range []int{0, 1, 2} {
		if seen[rows[p]] {
			t.Errorf("overlapping processes share row %d: %v", rows[p], rows)
		}
		seen[rows[p]] = true
	}
	if got, want := len(seen), 3; got != want {
		t.Errorf("rows: got %d, want %d", got, want)
	}
}

func TestThin(t *testing.T) {
	var pts plotter.XYs
	for i := range 100 {
		pts = append(pts, plotter.XY{X: float64(i)})
	}
	tests := []struct {
		name string
		n    int
		want int
	}{
		{"under the cap", 200, 100},
		{"at the cap", 100, 100},
		{"thinned", 10, 10},
		{"zero keeps all", 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := thin(pts, tt.n)
			if len(got) != tt.want {
				t.Fatalf("got %d points, want %d", len(got), tt.want)
			}
			if tt.n == 10 && (got[0].X != 0 || got[9].X != 90) {
				t.Errorf("thinning is not even: first %v last %v", got[0].X, got[9].X)
			}
		})
	}
}

// TestRenderEscapesHostileValues: history strings end up in the inline
// JSON and in HTML; neither may close the script element or inject markup.
func TestRenderEscapesHostileValues(t *testing.T) {
	dir := t.TempDir()
	evil := `</script><script>alert(1)</script>`
	ops := []history.Op{
		{Index: 0, Time: 0, Type: history.Invoke, Process: 0, F: "write", Key: evil, Value: json.RawMessage(`1`)},
		{Index: 1, Time: 1000, Type: history.Info, Process: 0, F: "write", Key: evil, Error: evil},
		{Index: 2, Time: 2000, Type: history.Invoke, Process: history.Nemesis, F: "start", Value: json.RawMessage(`{"id":0,"fault":"` + `\u003c/script\u003e` + `"}`)},
		{Index: 3, Time: 3000, Type: history.Info, Process: history.Nemesis, F: "start", Value: json.RawMessage(`{"id":0,"fault":"` + `\u003c/script\u003e` + `"}`)},
	}
	var hist []byte
	for _, o := range ops {
		b, _ := json.Marshal(o)
		hist = append(append(hist, b...), '\n')
	}
	os.WriteFile(filepath.Join(dir, historyFile), hist, 0o644)
	sum, _ := json.Marshal(checker.Summary{Verdict: checker.Invalid, Checks: []checker.Result{{Name: evil, Verdict: checker.Invalid, Explanation: evil, Ops: []int64{1}, Files: []string{"../../etc/passwd"}}}})
	os.WriteFile(filepath.Join(dir, resultsFile), sum, 0o644)
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, reportFile))
	html := string(b)
	if strings.Contains(html, "<script>alert(1)") {
		t.Error("a history string injected a script element")
	}
	if got, want := strings.Count(html, "</script>"), 2; got != want {
		t.Errorf("</script> occurs %d times, want %d (data and code elements only)", got, want)
	}
	if strings.Contains(html, `href="../../etc/passwd"`) {
		t.Error("a checker file outside the run directory is linked")
	}
	if td := timelineFromHTML(t, html); td.Keys[td.K[0]] != evil || td.FaultKinds[0] != "</script>" {
		t.Errorf("hostile strings did not survive the round trip: key %q, fault %q", td.Keys[td.K[0]], td.FaultKinds[0])
	}
}

func TestRenderPartialRuns(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string)
		wantOps   bool
		wantPlots bool
		wantNote  string
	}{
		{"no perf in results", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, resultsFile), []byte(`{"verdict":"valid","checks":[{"name":"linearizable","verdict":"valid"}]}`), 0o644)
		}, true, true, ""},
		{"no history", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, historyFile))
		}, false, true, "history.jsonl is missing"},
		{"no test.json", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, testFile))
		}, true, true, "test.json is missing"},
		{"runner error", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, testFile), []byte(`{"name":"x","incomplete":true,"error":"docker went away"}`), 0o644)
		}, true, true, "Runner error: docker went away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fixtureRun(t)
			tt.setup(t, dir)
			if err := Render(dir, nil); err != nil {
				t.Fatalf("Render: %v", err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, reportFile))
			html := string(b)
			td := timelineFromHTML(t, html)
			if got := len(td.P) > 0; got != tt.wantOps {
				t.Errorf("timeline has ops: got %v, want %v", got, tt.wantOps)
			}
			if len(td.Faults) != 3 {
				t.Errorf("faults: got %d, want 3 (from the history or the checker's perf data)", len(td.Faults))
			}
			_, err := os.Stat(filepath.Join(dir, latencySVG))
			if got := err == nil && strings.Contains(html, `src="latency.svg"`); got != tt.wantPlots {
				t.Errorf("plots present: got %v, want %v", got, tt.wantPlots)
			}
			if !strings.Contains(html, tt.wantNote) {
				t.Errorf("report lacks note %q", tt.wantNote)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"long", "abcdefgh", 3, "abc… (8 bytes in all)"},
		{"rune boundary", "aé", 2, "a… (3 bytes in all)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clip(tt.in, tt.n); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A history longer than a window goes out in window files; the page holds
// the window of the first cited op, and every window knows them all.
func TestTimelineWindows(t *testing.T) {
	var pairs []history.Pair
	for i := range 35 {
		inv := history.Op{Index: int64(2 * i), Time: int64(i) * 1000_000, Type: history.Invoke, Process: history.Process(i % 3), F: history.FRead, Key: "k"}
		c := inv
		c.Index, c.Time, c.Type = inv.Index+1, inv.Time+500_000, history.OK
		pairs = append(pairs, history.Pair{Invoke: inv, Complete: c})
	}
	files := map[string][]byte{}
	td, err := timelineWindows(memPairs(pairs), nil, []int64{45}, 40_000_000, files, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 || len(td.Windows) != 4 {
		t.Fatalf("got %d files and %d windows, want 4", len(files), len(td.Windows))
	}
	if td.Window != 2 || len(td.P) != 10 {
		t.Errorf("page holds window %d with %d ops, want window 2 (op 45 is pair 22) with 10", td.Window, len(td.P))
	}
	if w := td.Windows[3]; w.Ops != 5 || w.From != 30_000 || w.File != "timeline-003.json" {
		t.Errorf("last window: %+v", w)
	}
	var last timelineData
	if err := json.Unmarshal(files["timeline-003.json"], &last); err != nil {
		t.Fatal(err)
	}
	if len(last.P) != 5 || last.Window != 3 {
		t.Errorf("timeline-003.json holds %d ops as window %d", len(last.P), last.Window)
	}
	one, err := timelineWindows(memPairs(pairs), nil, nil, 40_000_000, map[string][]byte{}, 100)
	if err != nil || one.Windows != nil || len(one.P) != 35 {
		t.Errorf("a short history got windows: %v %v", one.Windows, err)
	}
}

// A run whose lazyfs died says so at the top of its report.
func TestRenderInstrumentFailure(t *testing.T) {
	dir := fixtureRun(t)
	path := filepath.Join(dir, resultsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["instruments"] = []string{`n2: lazyfs panic: runtime error: index out of range`}
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, reportFile))
	if !strings.Contains(string(html), "instrument failed:</strong> n2: lazyfs panic: runtime error") {
		t.Error("the report does not say that lazyfs died")
	}
	clean := fixtureRun(t)
	if err := Render(clean, nil); err != nil {
		t.Fatal(err)
	}
	if html, _ := os.ReadFile(filepath.Join(clean, reportFile)); strings.Contains(string(html), "instrument failed") {
		t.Error("a run without instrument failures reports one")
	}
}
