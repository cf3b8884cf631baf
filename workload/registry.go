package workload

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Workload is one kind of client traffic, as a value in the registry: the
// ops its processes invoke, how one is run and recorded, what the final
// phase reads back, and the checkers that judge its ops. Adding a workload
// is one file holding its value plus one entry in registry; the CLI help,
// flag validation, "all" and the nightly matrix read the table.
type Workload struct {
	Name    string
	Summary string
	// Mix is the default op mix: relative weights by f.
	Mix map[string]int
	// ReadOnly is the f a reader slot invokes (see Config.Readers); ""
	// when the workload has no op without effect, so it gets no readers.
	ReadOnly string
	// Keyed workloads spread their ops over register keys that rotate
	// every Config.OpsPerKey ops; their first keys are created at set-up.
	Keyed bool
	// Checks names the checkers (checker.Registry) that judge the
	// workload's ops, besides those that judge every workload.
	Checks []string
	// roamOdd makes processes with odd ids roam over every node whatever
	// Config.Sessions says, so that one run has pinned and roaming
	// sessions.
	roamOdd bool

	// exec invokes one planned op on p and records it; retire is true
	// when p must not invoke again, err reports only a recorder failure.
	exec func(r *runner, ctx context.Context, p *process, op planned) (retire bool, err error)
	// final reads, after the heal, what the workload left on one node,
	// recording each read (keys: the keys a Keyed workload used). nil:
	// nothing to read.
	final func(fr *finalReader, ctx context.Context, keys []string) error
}

// registry lists every workload, in the order help and "all" show them.
var registry = []Workload{registerWorkload, setWorkload, lockWorkload, sequentialWorkload, queueWorkload, sessionWorkload, bankWorkload, watchWorkload}

// Workloads returns the registered workloads.
func Workloads() []Workload { return slices.Clone(registry) }

// Names lists the registered workloads' names.
func Names() []string {
	out := make([]string, len(registry))
	for i, w := range registry {
		out[i] = w.Name
	}
	return out
}

// Lookup returns the workload called name.
func Lookup(name string) (Workload, error) {
	for _, w := range registry {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (known: all, %s)", name, strings.Join(Names(), ", "))
}

// Parse reads a workload selection: "all", or a comma list of names,
// deduplicated in the order given.
func Parse(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "all" {
		return Names(), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("parse workloads %q: empty workload name", s)
		case name == "all":
			return nil, fmt.Errorf("parse workloads %q: all cannot be combined with other workloads", s)
		}
		if _, err := Lookup(name); err != nil {
			return nil, fmt.Errorf("parse workloads %q: %w", s, err)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}
