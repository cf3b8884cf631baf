package report

import (
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/checker"
)

func TestCoverageTable(t *testing.T) {
	cov := &checker.Coverage{
		Nodes: map[string]map[string]int64{
			"n2": {"elections": 2, "diff": 1, "snap": 0, "trunc": 0, "custom": 7},
			"n1": {"elections": 3, "diff": 0, "snap": 1, "trunc": 0, "proposals_dropped": 2},
		},
	}
	v := newCoverageView(cov)
	if got := strings.Join(v.Nodes, ","); got != "n1,n2" {
		t.Errorf("nodes = %s, want n1,n2", got)
	}
	var keys []string
	for _, r := range v.Rows {
		keys = append(keys, r.Key)
	}
	if got, want := strings.Join(keys, ","), "elections,diff,trunc,snap,proposals_dropped,custom"; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
	byKey := map[string]coverageRow{}
	for _, r := range v.Rows {
		byKey[r.Key] = r
	}
	if r := byKey["elections"]; r.Total != 5 || r.Missed || strings.Join(r.Counts, ",") != "3,2" {
		t.Errorf("elections row = %+v", r)
	}
	if r := byKey["trunc"]; r.Total != 0 || !r.Missed {
		t.Errorf("trunc row = %+v, want flagged as never reached", r)
	}
	if r := byKey["proposals_dropped"]; strings.Join(r.Counts, ",") != "2,–" || r.Missed {
		t.Errorf("proposals_dropped row = %+v, want n2 shown as not counted", r)
	}
	if newCoverageView(nil) != nil || newCoverageView(&checker.Coverage{}) != nil {
		t.Error("a run without coverage gets a table")
	}

	out, err := buildReport(run{Dir: "run", HasSummary: true, Summary: checker.Summary{Verdict: checker.Valid, Coverage: cov}})
	if err != nil {
		t.Fatal(err)
	}
	html := string(out.files[reportFile])
	for _, want := range []string{`id="coverage-table"`, `href="#coverage"`, `<tr class="missed"><td class="mono">trunc</td>`, "never reached"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
