package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// A bare history is one checked without the run directory it came from:
// zabcheck's history.jsonl copied elsewhere, or Jepsen's history.edn. No
// test.json says which workload made it, so a model does: the kind of
// object the ops act on, which names the checkers that judge them.

// Model is a kind of object a bare history's ops act on.
type Model struct {
	Name    string
	Aliases []string // other names --model accepts (Jepsen's)
	Summary string
	// Fs are the op names only this model uses; inference looks for them.
	Fs []string
	// Shares are op names it shares with other models (the session's add
	// and read are a set's too): a history with Fs of this model is not
	// also another's for using them.
	Shares []string
	// Checks are the checkers (ScopeWorkload) that judge its ops.
	Checks []string
	// Keyed models judge each key apart (jepsen.independent); the others
	// judge one object, and refuse ops on several keys.
	Keyed bool
}

// models lists the models a bare history can be judged as. The checks
// match those of the workloads of the same name, so that a run's history
// checked bare is judged as it was in its run, less what the run held.
var models = []Model{
	{Name: "register", Aliases: []string{"linearizable", "cas-register"}, Keyed: true,
		Summary: "a read/write/cas register per key",
		Fs:      []string{history.FWrite, history.FCas}, Checks: []string{"linearizable", "monotonic-reads", "single-system-image", "timeliness", "final-reads"}},
	{Name: "set", Summary: "one set: add, then read the whole set",
		Fs: []string{history.FAdd}, Checks: []string{"set", "monotonic-reads", "final-reads"}},
	{Name: "lock", Summary: "one mutex: acquire and release",
		Fs: []string{history.FAcquire, history.FRelease}, Checks: []string{"lock", "liveness"}},
	{Name: "queue", Aliases: []string{"total-queue"}, Keyed: true,
		Summary: "a queue per key: enqueue, dequeue, drain",
		Fs:      []string{fEnqueue, fDequeue, fDrain}, Checks: []string{"queue", "liveness"}},
	{Name: "session", Summary: "ephemerals under sessions: add, read, close, silence, session events",
		Fs: []string{fClose, fSilence, fSessionEvent}, Shares: []string{history.FAdd, history.FRead}, Checks: []string{"session"}},
}

// Models returns the models a bare history can be judged as.
func Models() []Model { return slices.Clone(models) }

// ModelNames lists the models' names.
func ModelNames() []string {
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = m.Name
	}
	return out
}

// LookupModel returns the model called name (or one of its aliases).
func LookupModel(name string) (Model, error) {
	for _, m := range models {
		if m.Name == name || slices.Contains(m.Aliases, name) {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(ModelNames(), ", "))
}

// InferModel names the model of ops from their f values. Reads alone are
// a register's when they return numbers or null, a set's when they return
// lists.
func InferModel(ops []history.Op) (Model, error) {
	fs := map[string]bool{}
	var found []string
	readsLists, readsScalars := false, false
	for _, op := range ops {
		if op.IsNemesis() {
			continue
		}
		fs[op.F] = true
		if op.F == history.FRead && op.Type == history.OK && len(op.Value) > 0 {
			if isList(op.Value) {
				readsLists = true
			} else {
				readsScalars = true
			}
		}
	}
	var cands []Model
	matched := map[string][]string{} // model -> the fs of the history it claims
	for _, m := range models {
		for _, f := range m.Fs {
			if fs[f] {
				matched[m.Name] = append(matched[m.Name], f)
			}
		}
		if len(matched[m.Name]) > 0 {
			cands = append(cands, m)
		}
	}
	// A candidate claimed only by fs another candidate shares is that
	// one's: a session history's adds do not make it a set's.
	shared := func(m, o Model) bool {
		return o.Name != m.Name && len(o.Shares) > 0 &&
			!slices.ContainsFunc(matched[m.Name], func(f string) bool { return !slices.Contains(o.Shares, f) })
	}
	var kept []Model
	for _, m := range cands {
		if !slices.ContainsFunc(cands, func(o Model) bool { return shared(m, o) }) {
			kept = append(kept, m)
		}
	}
	cands = kept
	if len(cands) == 0 && fs[history.FRead] && readsLists != readsScalars {
		name := "register"
		if readsLists {
			name = "set"
		}
		m, _ := LookupModel(name)
		cands = append(cands, m)
	}
	for f := range fs {
		found = append(found, f)
	}
	slices.Sort(found)
	switch len(cands) {
	case 0:
		return Model{}, fmt.Errorf("cannot tell the model from the ops' f values (%s): name one with --model (%s)",
			strings.Join(found, ", "), strings.Join(ModelNames(), ", "))
	case 1:
		return cands[0], nil
	}
	names := make([]string, len(cands))
	for i, m := range cands {
		names[i] = m.Name
	}
	return Model{}, fmt.Errorf("the ops' f values (%s) belong to several models (%s): name one with --model",
		strings.Join(found, ", "), strings.Join(names, ", "))
}

// BareWorkloads says what judges a bare history. A history whose ops name
// their workloads (several ran side by side) is judged per workload, each
// by the model of its name. Otherwise model names the model, or, when
// empty, InferModel picks it. how says which, for the output.
func BareWorkloads(ops []history.Op, model string) (ws []WorkloadChecks, how string, err error) {
	named := map[string]bool{}
	for _, op := range ops {
		if op.Workload != "" {
			named[op.Workload] = true
		}
	}
	if len(named) > 0 {
		if model != "" {
			return nil, "", fmt.Errorf("the ops name their workloads, each judged by its own model: --model does not apply")
		}
		names := make([]string, 0, len(named))
		for n := range named {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			m, err := LookupModel(n)
			if err != nil {
				return nil, "", fmt.Errorf("workload %s: %w", n, err)
			}
			ws = append(ws, WorkloadChecks{Name: n, Checks: m.Checks})
		}
		return ws, "models of the workloads the ops name: " + strings.Join(names, ", "), nil
	}
	var m Model
	if model != "" {
		if m, err = LookupModel(model); err != nil {
			return nil, "", err
		}
		how = "model " + m.Name + " (--model)"
	} else {
		if m, err = InferModel(ops); err != nil {
			return nil, "", err
		}
		how = "model " + m.Name + " (inferred from the ops' f values; --model overrides)"
	}
	if !m.Keyed {
		keys := map[string]bool{}
		for _, op := range ops {
			if !op.IsNemesis() {
				keys[op.Key] = true
			}
		}
		if len(keys) > 1 {
			return nil, "", fmt.Errorf("model %s judges one object, but the ops act on %d keys (jepsen.independent)", m.Name, len(keys))
		}
	}
	return []WorkloadChecks{{Name: m.Name, Checks: m.Checks}}, how, nil
}

// finalReadsBare: the final reads are our final phase's, one per node
// after the heal; a history without any (Jepsen's, or a run cut short)
// has nothing for the check, which would otherwise say unknown.
func finalReadsBare(in checkInput) string {
	for _, op := range in.ops {
		if op.Final {
			return ""
		}
	}
	return "the history has no final reads (ops marked final, one per node after the heal), which only a zabcheck run records"
}

// recoveryBare: the recovery record is in the final heal's value, which
// a zabcheck history holds and a Jepsen one does not.
func recoveryBare(in checkInput) string {
	if recoveryApplies(in.ops) {
		return ""
	}
	return "the history has no final heal with a recovery record, which only a zabcheck run's nemesis writes"
}

// livenessBare: the window and grace come from the run's timing (tick
// time, session timeout), which a bare history does not record.
func livenessBare(in checkInput) string {
	if in.opts.LivenessWindow > 0 {
		return ""
	}
	return "needs the liveness window, which a run derives from its tick time and session timeout (test.json); pass --liveness-window to judge a bare history"
}

// replicasBare: the state dumps are files of the run directory.
func replicasBare(checkInput) string {
	return "needs the replicas' state dumps, which only a run directory holds (nodes/)"
}

// isList says whether a JSON value is an array.
func isList(v json.RawMessage) bool { return len(v) > 0 && v[0] == '[' }
