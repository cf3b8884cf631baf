// Package checker decides whether a history could have come from a correct
// system. It reads only a history (and, for targets that write them, the
// replicas' state dumps), so a stored run can be re-checked without Docker.
//
// The checkers are values in a registry (registry.go), each judging one
// property. Check runs, for each workload of the test, the checkers that
// workload names on its own ops, the checkers that judge every workload
// (stats), then the cluster's checkers (recovery, replicas) on the whole
// history; the worst verdict wins, as in Jepsen's compose.
package checker

// Verdict is a checker's conclusion, as in Jepsen.
type Verdict string

const (
	// Valid: a correct system could have produced the history.
	Valid Verdict = "valid"
	// Invalid: no correct system could have; Explanation says why.
	Invalid Verdict = "invalid"
	// Unknown: the checker could not decide (it timed out, or lacked data).
	Unknown Verdict = "unknown"
)

// rank orders verdicts for composition: invalid beats unknown, unknown beats
// valid (Jepsen's compose).
func (v Verdict) rank() int {
	switch v {
	case Valid:
		return 0
	case Unknown:
		return 1
	case Invalid:
		return 2
	}
	return 1 // an unrecognised verdict is not evidence of validity
}

// Worst combines verdicts the way Jepsen's compose checker does.
func Worst(vs ...Verdict) Verdict {
	w := Valid
	for _, v := range vs {
		if v.rank() > w.rank() {
			w = v
		}
	}
	return w
}

// ExitCode maps a verdict to Jepsen's exit codes: 0 valid, 1 invalid,
// 2 unknown.
func (v Verdict) ExitCode() int {
	switch v {
	case Valid:
		return 0
	case Invalid:
		return 1
	}
	return 2
}

// Result is one checker's verdict.
type Result struct {
	// Name of the checker: "linearizable", "monotonic-reads", "set",
	// "lock", "recovery", "replicas", "stats", ...
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Explanation is for people: a few sentences that point at the anomaly
	// (key, ops involved by index, the value no linearization allows).
	Explanation string `json:"explanation"`
	// Ops lists the indexes of the history ops the explanation refers to.
	Ops []int64 `json:"ops,omitempty"`
	// Files produced by the checker, relative to the run directory (for
	// example porcupine's visualisation).
	Files []string `json:"files,omitempty"`
	// Details holds checker-specific data (counts, lost elements, ...).
	Details map[string]any `json:"details,omitempty"`
	// Liveness is the liveness check's timeline (judged stretches,
	// progress, stalls), typed so that the report can draw it.
	Liveness *Liveness `json:"liveness,omitempty"`
}

// Summary is the content of results.json.
type Summary struct {
	Verdict Verdict `json:"verdict"`
	// Workloads has one section per workload of the test, each with the
	// verdicts of the checkers that judge that workload's ops alone.
	Workloads []WorkloadSummary `json:"workloads,omitempty"`
	// Checks are the checks of the whole cluster (recovery, replicas,
	// stats, ...), whatever ran on it. Results written before workloads
	// had sections hold every check here.
	Checks []Result `json:"checks"`
	// Skipped lists the checks a bare history (Options.Bare) cannot
	// feed, and why. They do not count towards the verdict.
	Skipped []Skip `json:"skipped,omitempty"`
	Perf    *Perf  `json:"perf,omitempty"`
	// Coverage is how often the run took each protocol path, read from
	// the nodes' artifacts by their target (the runner fills it in; no
	// checker judges it). nil when the target counts none.
	Coverage *Coverage `json:"coverage,omitempty"`
	// Instruments lists failures of the harness's own instruments during
	// the run, one line each (a lazyfs that died took its node down and
	// lost its unsynced writes: a power loss nobody scheduled). The
	// verdict stands, since a correct system survives that, but the run
	// says so.
	Instruments []string `json:"instruments,omitempty"`
}

// Coverage counts the protocol paths a run reached (elections, DIFF, TRUNC,
// SNAP, ...): a valid verdict means little if no run took the path where
// the bug hides. Every target reports at least "elections", "diff",
// "trunc" and "snap"; sync modes are counted on the learner, so Total
// counts each sync once.
type Coverage struct {
	Nodes map[string]map[string]int64 `json:"nodes"` // node -> counter -> count, over every restart
	Total map[string]int64            `json:"total"` // summed over the nodes
	// Error says which artifacts could not be read; the counts are then
	// a lower bound.
	Error string `json:"error,omitempty"`
}

// Skip is a check left out of a bare history's verdict.
type Skip struct {
	Name     string `json:"name"`
	Workload string `json:"workload,omitempty"` // "" for cluster checks
	Reason   string `json:"reason"`
}

// WorkloadSummary is one workload's section of results.json.
type WorkloadSummary struct {
	Name    string   `json:"name"`
	Verdict Verdict  `json:"verdict"`
	Checks  []Result `json:"checks"`
}

// AllChecks lists every check of s: each workload's, named
// "<workload>/<check>" when the test ran more than one workload, then the
// cluster's.
func (s Summary) AllChecks() []Result {
	var out []Result
	for _, w := range s.Workloads {
		for _, r := range w.Checks {
			if len(s.Workloads) > 1 {
				r.Name = w.Name + "/" + r.Name
			}
			out = append(out, r)
		}
	}
	return append(out, s.Checks...)
}

// Perf is performance data for the report: counts, latency quantiles and
// throughput per time bucket, and the intervals in which faults were in
// force. Times are nanoseconds since the test started.
type Perf struct {
	BucketNanos int64                     `json:"bucket_nanos"`
	Buckets     []Bucket                  `json:"buckets"`
	Counts      map[string]map[string]int `json:"counts"`  // f -> type (ok/fail/info) -> count
	Latency     map[string]Quantiles      `json:"latency"` // f -> quantiles over the whole run, ok ops only
	Faults      []FaultInterval           `json:"faults"`
}

// Bucket aggregates completions whose completion time falls in
// [Start, Start+BucketNanos).
type Bucket struct {
	Start     int64          `json:"start"`
	Completed map[string]int `json:"completed"` // type (ok/fail/info) -> count
	Latency   Quantiles      `json:"latency"`   // of ok ops completed in the bucket
}

// Quantiles of latencies in nanoseconds.
type Quantiles struct {
	N   int   `json:"n"`
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// FaultInterval is one nemesis fault from its start to its stop (End is the
// end of the history when it was never stopped).
type FaultInterval struct {
	Fault   string   `json:"fault"`
	Start   int64    `json:"start"`
	End     int64    `json:"end"`
	Targets []string `json:"targets,omitempty"`
	// ID pairs the start with its stop in the history; Commands are what
	// the nemesis ran, for tooltips.
	ID       int      `json:"id"`
	Commands []string `json:"commands,omitempty"`
	// Open is true when the fault was never stopped (End is then the end
	// of the history).
	Open bool `json:"open,omitempty"`
}
