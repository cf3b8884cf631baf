package report

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// multiRun copies testdata/multi: a test of two workloads side by side,
// register (valid) and set (invalid, citing ops 3 and 15), with cluster
// checks recovery, replicas and stats.
func multiRun(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "multi")
	copyDir(t, filepath.Join("testdata", "multi"), dir)
	return dir
}

func renderHTML(t *testing.T, dir string) string {
	t.Helper()
	if err := Render(dir, nil); err != nil {
		t.Fatalf("Render: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the HTML of the element with the given id up to its
// </section>; workload sections nest nothing.
func section(t *testing.T, html, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<section[^>]* id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</section>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no section %q", id)
	}
	return m[0]
}

// checkRow returns the verdict shown in the row with the given id.
func checkRow(html, id string) (verdict string, ok bool) {
	m := regexp.MustCompile(`(?s)<tr class="check" id="` + regexp.QuoteMeta(id) + `">.*?class="verdict v-\w+">(\w+)<`).FindStringSubmatch(html)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func TestRenderWorkloadSections(t *testing.T) {
	html := renderHTML(t, multiRun(t))

	if !strings.Contains(html, `id="overall-verdict">invalid<`) {
		t.Error("overall verdict invalid not shown")
	}
	t.Run("workload verdicts", func(t *testing.T) {
		for _, tt := range []struct{ workload, verdict string }{{"register", "valid"}, {"set", "invalid"}} {
			sec := section(t, html, "workload-"+tt.workload)
			want := `<h3>Workload ` + tt.workload + ` <span class="verdict v-` + tt.verdict + `">` + tt.verdict + `</span></h3>`
			if !strings.Contains(sec, want) {
				t.Errorf("section %s: no heading %q", tt.workload, want)
			}
			if !strings.Contains(sec, `data-verdict="`+tt.verdict+`"`) {
				t.Errorf("section %s: data-verdict is not %s", tt.workload, tt.verdict)
			}
		}
	})
	t.Run("checks in their sections", func(t *testing.T) {
		tests := []struct{ section, row, verdict string }{
			{"workload-register", "check-register/linearizable", "valid"},
			{"workload-register", "check-register/monotonic-reads", "valid"},
			{"workload-set", "check-set/set", "invalid"},
			{"workload-set", "check-set/monotonic-reads", "valid"},
			{"cluster-checks", "check-recovery", "valid"},
			{"cluster-checks", "check-replicas", "unknown"},
			{"cluster-checks", "check-stats", "valid"},
		}
		for _, tt := range tests {
			got, ok := checkRow(section(t, html, tt.section), tt.row)
			if !ok || got != tt.verdict {
				t.Errorf("%s in %s: got verdict %q (found %v), want %q", tt.row, tt.section, got, ok, tt.verdict)
			}
		}
		if strings.Contains(section(t, html, "workload-register"), "check-set/") {
			t.Error("the set workload's checks appear in register's section")
		}
	})
	t.Run("order", func(t *testing.T) {
		cluster := strings.Index(html, `id="cluster-checks"`)
		reg := strings.Index(html, `id="workload-register"`)
		set := strings.Index(html, `id="workload-set"`)
		if !(0 <= cluster && cluster < reg && reg < set) {
			t.Errorf("sections at %d (cluster), %d (register), %d (set); want the cluster first, then workloads in results.json's order", cluster, reg, set)
		}
	})
	t.Run("cited ops", func(t *testing.T) {
		sec := section(t, html, "workload-set")
		for _, op := range []string{"3", "15"} {
			if !strings.Contains(sec, `href="#op-`+op+`" data-op="`+op+`"`) {
				t.Errorf("set section: no link to op %s", op)
			}
			if !strings.Contains(html, `<tr id="op-`+op+`">`) {
				t.Errorf("no row for cited op %s", op)
			}
		}
	})
	t.Run("files from results", func(t *testing.T) {
		for _, want := range []string{
			`<a href="linearizability-register.html">register/linearizable: linearizability-register.html</a></li>`,
			`<a href="set-lost.txt">set/set: set-lost.txt</a> <span class="muted">(missing)</span>`,
		} {
			if !strings.Contains(html, want) {
				t.Errorf("files section lacks %s", want)
			}
		}
	})
	t.Run("settings", func(t *testing.T) {
		if !strings.Contains(html, `<td>workloads</td><td>register, set (sync reads)</td>`) {
			t.Error("the settings table does not list both workloads")
		}
	})
	t.Run("timeline rows", func(t *testing.T) {
		td := timelineFromHTML(t, html)
		if got, want := td.Workloads, []string{"register", "set"}; !slices.Equal(got, want) {
			t.Errorf("timeline workloads: got %v, want %v", got, want)
		}
		if got, want := td.Rows, []string{"register p 0", "register p 1", "set p 2", "set p 3"}; !slices.Equal(got, want) {
			t.Errorf("timeline rows: got %v, want %v", got, want)
		}
	})
}

// TestRenderOldResults: a results.json written before workloads had
// sections (every check in checks) renders as one table, as it did.
func TestRenderOldResults(t *testing.T) {
	html := renderHTML(t, fixtureRun(t))
	for _, absent := range []string{`id="cluster-checks"`, `class="workload"`, `id="workload-summary"`} {
		if strings.Contains(html, absent) {
			t.Errorf("old-format results render with %s", absent)
		}
	}
	for _, tt := range []struct{ row, verdict string }{
		{"check-linearizable", "invalid"}, {"check-monotonic-reads", "valid"}, {"check-replicas", "unknown"}, {"check-stats", "valid"},
	} {
		if got, ok := checkRow(html, tt.row); !ok || got != tt.verdict {
			t.Errorf("%s: got verdict %q (found %v), want %q", tt.row, got, ok, tt.verdict)
		}
	}
	if !strings.Contains(html, `<td>workload</td><td>register (sync reads)</td>`) {
		t.Error("the settings table does not show the one workload")
	}
	if td := timelineFromHTML(t, html); td.Workloads != nil || !strings.HasPrefix(td.Rows[0], "p ") {
		t.Errorf("a one-workload timeline names workloads: %v, rows %v", td.Workloads, td.Rows)
	}
}

func TestVerdictViews(t *testing.T) {
	sum := checker.Summary{
		Workloads: []checker.WorkloadSummary{
			{Name: "a", Verdict: checker.Valid, Checks: []checker.Result{{Name: "x", Verdict: checker.Valid, Ops: []int64{9, 2}}}},
			{Name: "b", Checks: []checker.Result{{Name: "x", Verdict: checker.Invalid, Ops: []int64{2, 2, 5}}}},
			{Name: "c", Verdict: checker.Valid},
		},
		Checks: []checker.Result{{Name: "y", Verdict: checker.Unknown, Ops: []int64{7}}},
	}
	cluster, workloads, refs := verdictViews(run{Dir: t.TempDir(), Summary: sum})
	type row struct{ id, name, verdict string }
	var got []row
	for _, c := range cluster {
		got = append(got, row{c.ID, c.Name, string(c.Verdict)})
	}
	for _, w := range workloads {
		got = append(got, row{w.ID, w.Name, string(w.Verdict)})
		for _, c := range w.Checks {
			got = append(got, row{c.ID, c.Name, string(c.Verdict)})
		}
	}
	want := []row{
		{"check-y", "y", "unknown"},
		{"workload-a", "a", "valid"},
		{"check-a/x", "x", "valid"},
		{"workload-b", "b", "unknown"}, // no verdict in the file: shown as unknown, never valid
		{"check-b/x", "x", "invalid"},
		{"workload-c", "c", "valid"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("views:\n got %v\nwant %v", got, want)
	}
	if want := []int64{2, 5, 7, 9}; !slices.Equal(refs, want) {
		t.Errorf("cited ops: got %v, want %v", refs, want)
	}
	if got, want := workloads[1].Checks[0].Ops, []int64{2, 5}; !slices.Equal(got, want) {
		t.Errorf("op links of b/x: got %v, want %v (one link per op)", got, want)
	}
}

func TestWorkloadNames(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"register", []string{"register"}},
		{"register,set,lock", []string{"register", "set", "lock"}},
		{" register , set ,", []string{"register", "set"}},
	}
	for _, tt := range tests {
		if got := (TestInfo{Workload: tt.in}).WorkloadNames(); !slices.Equal(got, tt.want) {
			t.Errorf("WorkloadNames(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRunWorkloads(t *testing.T) {
	sections := checker.Summary{Workloads: []checker.WorkloadSummary{
		{Name: "set", Verdict: checker.Invalid}, {Name: "lock"}, {Name: "register", Verdict: checker.Valid},
	}}
	tests := []struct {
		name string
		info TestInfo
		sum  checker.Summary
		want []RunWorkload
	}{
		{"old run", TestInfo{Workload: "register"}, checker.Summary{}, []RunWorkload{{"register", ""}}},
		{"sections", TestInfo{Workload: "register,set"}, sections,
			[]RunWorkload{{"register", checker.Valid}, {"set", checker.Invalid}, {"lock", checker.Unknown}}},
		{"no test.json", TestInfo{}, sections,
			[]RunWorkload{{"set", checker.Invalid}, {"lock", checker.Unknown}, {"register", checker.Valid}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runWorkloads(tt.info, tt.sum); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIndexListsWorkloads(t *testing.T) {
	results, _ := resultsTree(t)
	copyDir(t, filepath.Join("testdata", "multi"), filepath.Join(results, "multi", "20261125T110000.000"))
	h := newTestServer(t, results).Handler()
	rec := get(t, h, "/")
	if rec.Code != 200 {
		t.Fatalf("index: status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<div class="workload" data-workload="register">register <span class="verdict small v-valid">valid</span></div>` +
			`<div class="workload" data-workload="set">set <span class="verdict small v-invalid">invalid</span></div>`,
		`<td class="workloads"><div class="workload" data-workload="register">register</div></td>`, // the old fixture run
	} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	// Filtering by a workload that is not the first finds the run.
	rec = get(t, h, "/?q=set")
	if body := rec.Body.String(); !strings.Contains(body, "multi/20261125T110000.000") || strings.Contains(body, runRel) {
		t.Errorf("filter q=set: want the multi run only")
	}
}

// TestTimelineWorkloadRows: rows never mix workloads, and a process keeps
// one row.
func TestTimelineWorkloadRows(t *testing.T) {
	pair := func(p history.Process, w string, from, to int64) history.Pair {
		return history.Pair{Invoke: history.Op{Process: p, Time: from, Type: history.Invoke, Workload: w},
			Complete: history.Op{Process: p, Time: to, Type: history.OK, Workload: w}}
	}
	pairs := []history.Pair{
		pair(0, "set", 0, 10), pair(1, "register", 0, 10), pair(2, "set", 11, 20), pair(3, "register", 5, 20),
	}
	procRow, rowWorkload, workloads := assignWorkloadRows(pairs)
	if want := []string{"register", "set"}; !slices.Equal(workloads, want) {
		t.Fatalf("workloads: got %v, want %v", workloads, want)
	}
	// register: 1 and 3 overlap (two rows); set: 2 follows 0 (one row).
	if got, want := rowWorkload, []int{0, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("row workloads: got %v, want %v", got, want)
	}
	if got, want := map[int]int{1: procRow[1], 3: procRow[3], 0: procRow[0], 2: procRow[2]}, map[int]int{1: 0, 3: 1, 0: 2, 2: 2}; !maps.Equal(got, want) {
		t.Errorf("rows: got %v, want %v", got, want)
	}
	if _, rw, w := assignWorkloadRows(pairs[:1]); rw != nil || w != nil {
		t.Errorf("one workload: got rows %v workloads %v, want none", rw, w)
	}
}
