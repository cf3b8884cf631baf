package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/runner"
)

func TestRotationTriesEveryCellBeforeRepeating(t *testing.T) {
	cells := huntCells([]string{"register", "set", "lock"}, []string{"kill", "partition"}, []string{"steady", "storm"})
	if len(cells) != 3*3*2 {
		t.Fatalf("%d cells, want 3 workloads × (2 faults + their mix) × 2 modes", len(cells))
	}
	deal := func(seed int64, n int) []huntRun {
		r := newRotation(seed, cells)
		var out []huntRun
		for range n {
			out = append(out, r.next())
		}
		return out
	}
	a := deal(7, 2*len(cells))
	if b := deal(7, 2*len(cells)); !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different rotations")
	}
	if c := deal(8, 2*len(cells)); reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 give the same rotation")
	}
	for round := range 2 {
		seen := map[string]bool{}
		for _, r := range a[round*len(cells) : (round+1)*len(cells)] {
			seen[r.Cell.String()+strings.Join(r.Cell.Nemesis, ",")] = true
		}
		if len(seen) != len(cells) {
			t.Errorf("round %d tried %d distinct cells of %d", round, len(seen), len(cells))
		}
	}
	if slices.Equal(cellNames(a[:len(cells)]), cellNames(a[len(cells):])) {
		t.Error("the second round repeats the first one's order")
	}
	seeds := map[int64]bool{}
	for _, r := range a {
		if r.Seed <= 0 || seeds[r.Seed] {
			t.Errorf("run seed %d is not positive or repeats", r.Seed)
		}
		seeds[r.Seed] = true
	}
}

func cellNames(runs []huntRun) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Cell.String()+strings.Join(r.Cell.Nemesis, ","))
	}
	return out
}

// testFromCommand parses a zabcheck test command line with the test
// command's own flags, without running anything.
func testFromCommand(t *testing.T, line string) runner.Test {
	t.Helper()
	args := shellWords(t, line)
	if len(args) < 2 || args[0] != "zabcheck" || args[1] != "test" {
		t.Fatalf("%q is not a zabcheck test command", line)
	}
	app := newApp(io.Discard, io.Discard)
	var got runner.Test
	for _, c := range app.Commands {
		if c.Name == "test" {
			c.Action = func(c *cli.Context) error {
				var err error
				got, err = testFromFlags(c)
				return err
			}
		}
	}
	if err := app.RunContext(context.Background(), args); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return got
}

// shellWords splits a command line as a POSIX shell would, for the
// quoting shellQuote does: bare words, single-quoted strings and \'.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && !quoted:
			escaped, inWord = true, true
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// The reproduction command, parsed by zabcheck test, gives the very Test
// the hunt ran, name aside.
func TestReproCommandRunsTheSameTest(t *testing.T) {
	for _, tc := range []struct {
		name string
		base runner.Test
		run  huntRun
	}{
		{"defaults", huntBase("zabnode", 5, time.Minute, 10*time.Second, "results"),
			huntRun{Cell: huntCell{Workload: "register", Nemesis: []string{"kill"}, Mode: "steady"}, Seed: 4242}},
		{"storm, mixed faults, odd settings", huntBase("zookeeper", 3, 90*time.Second, 2500*time.Millisecond, "/tmp/hunt's results"),
			huntRun{Cell: huntCell{Workload: "set", Nemesis: []string{"partition", "kill", "leader-partition-then-kill"}, Mode: "storm"}, Seed: 1<<53 - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := huntTest(tc.base, tc.run)
			if err := want.Validate(); err != nil {
				t.Fatal(err)
			}
			line := reproCommand(want)
			got := testFromCommand(t, line)
			got.Name, got.Netem, got.NoFUSE = want.Name, want.Netem, want.NoFUSE
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s\nparses to %+v\nwant       %+v", line, got, want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"kill,partition": "kill,partition",
		"/tmp/a b":       "'/tmp/a b'",
		"it's":           `'it'\''s'`,
		"":               "''",
		"$HOME":          "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// fakeRuns answers each run with the next verdict (or error) in turn and
// records the tests it was given.
type fakeRuns struct {
	verdicts []any // checker.Verdict or error
	ran      []runner.Test
}

func (f *fakeRuns) run(_ context.Context, t runner.Test) (runner.Outcome, error) {
	f.ran = append(f.ran, t)
	v := f.verdicts[min(len(f.ran), len(f.verdicts))-1]
	dir := fmt.Sprintf("results/%s/run%d", t.Name, len(f.ran))
	if err, ok := v.(error); ok {
		return runner.Outcome{Dir: dir, Incomplete: true}, err
	}
	return runner.Outcome{Dir: dir, Verdict: v.(checker.Verdict)}, nil
}

func fakeHunt(f *fakeRuns, budget time.Duration) (huntResult, string) {
	var out bytes.Buffer
	cfg := huntConfig{
		Base:  huntBase("zabnode", 3, 10*time.Second, 10*time.Second, "results"),
		Cells: huntCells([]string{"register", "set"}, []string{"kill", "pause"}, []string{"steady", "storm"}),
		Seed:  99, Budget: budget, Run: f.run, Out: &out,
	}
	res := hunt(context.Background(), cfg)
	res.report(&out, budget)
	return res, out.String()
}

func TestHuntStopsAtTheFirstInvalidRun(t *testing.T) {
	f := &fakeRuns{verdicts: []any{checker.Valid, checker.Unknown, checker.Invalid, checker.Valid}}
	res, out := fakeHunt(f, time.Hour)
	if len(f.ran) != 3 || res.Runs != 3 {
		t.Fatalf("ran %d tests (%d counted), want 3: the hunt goes on past the invalid one", len(f.ran), res.Runs)
	}
	if code, _ := res.exitCode(); code != exitInvalid {
		t.Errorf("exit code %d, want %d", code, exitInvalid)
	}
	found := f.ran[2]
	for _, want := range []string{"reproduce: " + reproCommand(found), "results:   results/" + found.Name + "/run3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(reproCommand(found), fmt.Sprintf("--seed %d", found.Seed)) {
		t.Errorf("reproduction %q lacks the run's seed", reproCommand(found))
	}
}

func TestHuntEndsWhenTheBudgetIsSpent(t *testing.T) {
	f := &fakeRuns{verdicts: []any{checker.Valid}}
	// Room for four runs of 10 s, not five.
	res, out := fakeHunt(f, 49*time.Second)
	if len(f.ran) != 4 || res.TestTime != 40*time.Second {
		t.Fatalf("ran %d tests, %s of test time; want 4 within the 49s budget", len(f.ran), res.TestTime)
	}
	if code, _ := res.exitCode(); code != exitValid || !strings.Contains(out, "every run was valid") {
		t.Errorf("exit code %d, output:\n%s", code, out)
	}
	// The same seed and budget hunt the same tests.
	again := &fakeRuns{verdicts: []any{checker.Valid}}
	fakeHunt(again, 49*time.Second)
	if !reflect.DeepEqual(f.ran, again.ran) {
		t.Error("the same hunt ran different tests")
	}
}

func TestHuntWithAnUnknownRunExitsUnknown(t *testing.T) {
	f := &fakeRuns{verdicts: []any{checker.Valid, checker.Unknown, checker.Valid}}
	res, out := fakeHunt(f, 30*time.Second)
	if code, _ := res.exitCode(); code != exitUnknown || len(f.ran) != 3 {
		t.Fatalf("exit code %d after %d runs, want %d after 3", code, len(f.ran), exitUnknown)
	}
	if !strings.Contains(out, "unknown: "+f.ran[1].Name) || !strings.Contains(out, reproCommand(f.ran[1])) {
		t.Errorf("output does not name the unknown run and its reproduction:\n%s", out)
	}
}

func TestHuntGivesUpOnAFailingHarness(t *testing.T) {
	f := &fakeRuns{verdicts: []any{checker.Valid, errors.New("start cluster: no engine")}}
	res, _ := fakeHunt(f, time.Hour)
	if len(f.ran) != 1+maxHarnessFailuresInARow {
		t.Fatalf("ran %d tests, want 1 valid and %d failures in a row", len(f.ran), maxHarnessFailuresInARow)
	}
	if code, _ := res.exitCode(); code != exitHarness {
		t.Errorf("exit code %d, want %d", code, exitHarness)
	}
}
