package report

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// stallRun writes a lock run whose history stalls for 25s after a healed
// kill, checked with a 10s window: results.json carries the stall.
func stallRun(t *testing.T) (string, checker.Summary) {
	t.Helper()
	var ops []history.Op
	now := int64(0)
	add := func(typ history.Type, p history.Process, f string, dt time.Duration, v any) {
		now += int64(dt)
		op := history.Op{Index: int64(len(ops)), Time: now, Type: typ, Process: p, F: f}
		if v != nil {
			op.Value = history.MustValue(v)
		}
		ops = append(ops, op)
	}
	grant := func(p history.Process) {
		add(history.Invoke, p, history.FAcquire, time.Millisecond, nil)
		add(history.OK, p, history.FAcquire, time.Second, nil)
		add(history.Invoke, p, history.FRelease, 10*time.Millisecond, nil)
		add(history.OK, p, history.FRelease, time.Millisecond, nil)
	}
	add(history.Invoke, history.Nemesis, history.FStart, time.Second, history.NemesisValue{ID: 1, Fault: "kill", Targets: []string{"n1"}})
	add(history.OK, history.Nemesis, history.FStart, 10*time.Millisecond, history.NemesisValue{ID: 1, Fault: "kill", Targets: []string{"n1"}})
	add(history.Invoke, history.Nemesis, history.FStop, 3*time.Second, history.NemesisValue{ID: 1, Fault: "kill", Targets: []string{"n1"}})
	add(history.OK, history.Nemesis, history.FStop, 10*time.Millisecond, history.NemesisValue{ID: 1, Fault: "kill", Targets: []string{"n1"}})
	for range 6 {
		grant(0)
	}
	for p := history.Process(10); p < 15; p++ {
		add(history.Invoke, p, history.FAcquire, time.Millisecond, nil)
		add(history.Info, p, history.FAcquire, 5*time.Second, nil)
	}
	for range 6 {
		grant(1)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, op := range ops {
		line, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, historyFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := checker.Check(context.Background(), ops, checker.Options{
		Workloads:      []checker.WorkloadChecks{{Name: "lock", Checks: []string{"lock", "liveness"}}},
		LivenessWindow: 10 * time.Second, LivenessGrace: 2 * time.Second,
	})
	if err := checker.WriteSummary(filepath.Join(dir, resultsFile), sum); err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

// A run with a stall shows the liveness timeline with the stall marked
// where the checker put it, the fault shaded, and the stall's row.
func TestRenderLivenessStallMarked(t *testing.T) {
	dir, sum := stallRun(t)
	var stall checker.Stall
	for _, r := range sum.AllChecks() {
		if r.Name == "liveness" && r.Liveness != nil && len(r.Liveness.Stalls) == 1 {
			stall = r.Liveness.Stalls[0]
		}
	}
	if stall.End == 0 {
		t.Fatalf("the fixture has no stall: %+v", sum.AllChecks())
	}
	html := renderHTML(t, dir)
	sec := section(t, html, "liveness")
	if !strings.Contains(sec, `id="liveness-lock"`) || !strings.Contains(sec, `data-verdict="invalid"`) {
		t.Errorf("no invalid liveness timeline for workload lock:\n%s", sec)
	}
	// In µs, the process timeline's unit: a click zooms it on the stall.
	start, end := strconv.FormatInt(stall.Start/1000, 10), strconv.FormatInt(stall.End/1000, 10)
	box := regexp.MustCompile(`<rect class="stall"[^>]*data-start="` + start + `" data-end="` + end + `"><title>stall [0-9.]+–[0-9.]+ s: processes 10, `)
	if !box.MatchString(sec) {
		t.Errorf("no stall box from %s to %s in the SVG:\n%s", start, end, sec)
	}
	if !strings.Contains(sec, `<tr class="stall" data-start="`+start+`"`) || !strings.Contains(sec, "kept trying to acquire") {
		t.Errorf("no stall row:\n%s", sec)
	}
	if !strings.Contains(sec, `<rect class="fault"`) || !strings.Contains(sec, `<rect class="judged"`) || !strings.Contains(sec, `<rect class="progress"`) {
		t.Errorf("the timeline lacks faults, judged stretches or progress:\n%s", sec)
	}
	if !strings.Contains(html, `<a href="#liveness">Liveness</a>`) {
		t.Error("no table-of-contents link to the liveness section")
	}
}

// A run without a liveness result has no liveness section.
func TestRenderNoLivenessSection(t *testing.T) {
	html := renderHTML(t, fixtureRun(t))
	if strings.Contains(html, `id="liveness"`) {
		t.Error("a run without liveness results shows a liveness section")
	}
}
