package report

import (
	"sort"
	"strings"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// fault is one nemesis fault as shown in the report: from the completion of
// its start to the completion of its stop (or the end of the history).
type fault struct {
	ID       int64
	Kind     string
	Shape    string
	Targets  []string
	Commands []string
	Error    string
	Start    int64 // ns since the test started
	End      int64
	Open     bool // never stopped: in force until the end of the history
	StartOp  int64
	StopOp   int64 // -1 when never stopped
}

// Row is the nemesis timeline row the fault is drawn on.
func (f fault) Row() string {
	if len(f.Targets) == 0 {
		return f.Kind
	}
	return f.Kind + " " + strings.Join(f.Targets, ",")
}

// faultsFromHistory pairs nemesis start and stop completions by id. A start
// without a stop lasts to the end of the history. Values that do not follow
// the contract are shown under their f rather than dropped, so a nemesis bug
// is visible in the report.
func faultsFromHistory(ops []history.Op) []fault {
	var end int64
	if len(ops) > 0 {
		end = ops[len(ops)-1].Time
	}
	var faults []fault
	open := map[int64]int{} // id -> index in faults
	for _, op := range ops {
		if !op.IsNemesis() || op.Type == history.Invoke {
			continue
		}
		v, hasID, _ := op.NemesisValue() // a malformed value still yields an unnamed fault
		errText := v.Error
		if errText == "" {
			errText = op.Error
		}
		switch op.F {
		case history.FStart:
			f := fault{Kind: v.Fault, Shape: v.Shape, Targets: v.Targets, Commands: v.Commands,
				Error: errText, Start: op.Time, End: end, Open: true, StartOp: op.Index, StopOp: -1, ID: -1}
			if f.Kind == "" {
				f.Kind = "unknown"
			}
			if hasID {
				f.ID = int64(v.ID)
				open[f.ID] = len(faults)
			}
			faults = append(faults, f)
		case history.FStop:
			if !hasID {
				continue
			}
			i, ok := open[int64(v.ID)]
			if !ok {
				continue
			}
			delete(open, int64(v.ID))
			faults[i].End, faults[i].Open, faults[i].StopOp = op.Time, false, op.Index
			if errText != "" {
				if faults[i].Error != "" {
					faults[i].Error += "; "
				}
				faults[i].Error += "stop: " + errText
			}
			if len(v.Commands) > 0 {
				faults[i].Commands = append(faults[i].Commands, v.Commands...)
			}
		}
	}
	return faults
}

// faultsFromPerf is the fallback when the history is missing: the checker's
// fault intervals.
func faultsFromPerf(p *checker.Perf) []fault {
	if p == nil {
		return nil
	}
	fs := make([]fault, 0, len(p.Faults))
	for i, f := range p.Faults {
		fs = append(fs, fault{ID: int64(i), Kind: f.Fault, Targets: f.Targets, Start: f.Start, End: f.End, StartOp: -1, StopOp: -1})
	}
	return fs
}

// faultKinds lists the kinds in a stable order for colours and legends.
func faultKinds(fs []fault) []string {
	seen := map[string]bool{}
	var kinds []string
	for _, f := range fs {
		if !seen[f.Kind] {
			seen[f.Kind] = true
			kinds = append(kinds, f.Kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// faultPalette colours fault kinds, in faultKinds order. Colours are light so
// that shaded plots stay readable.
var faultPalette = []string{"#f4a582", "#92c5de", "#c2a5cf", "#fddb7f", "#a6dba0", "#d9d9d9", "#f1b6da", "#80cdc1"}

func faultColor(kinds []string, kind string) string {
	i := sort.SearchStrings(kinds, kind)
	return faultPalette[i%len(faultPalette)]
}

// StartUS and EndUS are the interval in microseconds, the timeline's unit.
func (f fault) StartUS() int64 { return f.Start / 1000 }

// EndUS: see StartUS.
func (f fault) EndUS() int64 { return f.End / 1000 }
