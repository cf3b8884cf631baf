package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Target is one system under test: the image it runs, the zoo.cfg lines it
// needs, what it supports and which artifacts it leaves. Each target is a
// value in its own file (target_<name>.go) and a row of the targets table;
// the CLI's help and validation, the benchmark and the cluster read them
// from there, so adding a target touches nothing else.
type Target struct {
	// Name is the --db value and Config.DB.
	Name string
	// Summary is one line for --help.
	Summary string
	// Image is the entry of the images table the nodes run (ImageZabnode,
	// ImageZooKeeper); BuildOptions.Images takes it as it is.
	Image string
	// FromSource says the image holds a binary built from this
	// repository, so outside a source checkout it cannot be rebuilt
	// (CanBuild) and the existing image is used as it is.
	FromSource bool
	// Entrypoint is the image's ENTRYPOINT (TestEntrypointsMatchDockerfiles
	// keeps them equal): with a lazy fs the container runs lazyfs, which
	// starts it on the mount.
	Entrypoint []string
	// ZooCfg holds the lines this target adds to zoo.cfg after the core
	// keys both targets share (see renderZooCfg).
	ZooCfg []string
	// ExtraKeys are the zoo.cfg keys only this target reads. Config.Extra
	// may set them for this target and no other (another would silently
	// ignore, say, a seeded bug). Keys named Name+"." that are not listed
	// are refused as typos. Keys no target claims (minSessionTimeout, ...)
	// go to any target.
	ExtraKeys []string
	// SeededBugKey is the Extra key that turns on seeded bugs (a comma
	// list of bug names), "" when Capabilities.SeededBugs is false.
	SeededBugKey string
	// ProfileKey is the Extra key whose value host:port makes a node
	// serve Go's profiles (/debug/pprof/) there, "" when the target
	// cannot. `zabcheck bench --profile` sets it to ":"+ProfilePort.
	ProfileKey string
	// OptIn targets run only when named: they are left out of a
	// benchmark's default targets (DefaultTargetNames).
	OptIn bool
	// Capabilities say which faults and checks the target supports.
	Capabilities Capabilities
	// DataFormat names the reader of the data directories Collect copies
	// (package ondisk: "zabnode", "zookeeper"); "" when none reads them.
	DataFormat string
	// Durable is what makes every acknowledged write fsynced on this
	// target, so a benchmark compares the targets at equal durability.
	Durable Durability
	// collect saves the target's own artifacts of node n into dir (Collect
	// has written the log, zoo.cfg and data directory already). The
	// artifacts are best effort: it logs what it could not fetch. nil: none.
	collect func(ctx context.Context, c *Cluster, n *node, dir string)
	// readCoverage reads the counts of protocol paths from what Collect
	// saved of one node in nodeDir (see Coverage); nil when
	// Capabilities.Coverage is false.
	readCoverage func(nodeDir string) (map[string]int64, error)
}

// Capabilities is what a target supports beyond the client protocol.
type Capabilities struct {
	SeededBugs bool // seeded bugs behind an Extra key (the runner's --bug)
	Failpoints bool // SetFailpoint and Failpoints work (the crash-* faults)
	StateDump  bool // Collect writes CollectDumpFile for every node
	Coverage   bool // ReadCoverage counts the protocol paths the nodes took
	LazyFS     bool // the data directory can sit on a lazy fs that loses unsynced writes
}

// Durability is how a target is configured to fsync before it acknowledges.
type Durability struct {
	Extra map[string]string // Config.Extra keys to add; nil when the default already does
	Note  string            // the setting in words, for reports
}

// targets is the registry: every --db value, in the order help lists them.
var targets = []Target{zabnodeTarget, zookeeperTarget, zookeeper39Target}

// ErrUnknownTarget is what LookupTarget answers for a name not in the
// registry.
var ErrUnknownTarget = errors.New("unknown target")

// Targets returns the registry, in the order help lists it.
func Targets() []Target { return slices.Clone(targets) }

// TargetNames returns the names of the registered targets, in order.
func TargetNames() []string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	return names
}

// DefaultTargetNames returns the names of the targets that are not
// opt-in, in order: what a benchmark compares unless told otherwise.
func DefaultTargetNames() []string {
	var names []string
	for _, t := range targets {
		if !t.OptIn {
			names = append(names, t.Name)
		}
	}
	return names
}

// LookupTarget returns the target called name. Its error wraps
// ErrUnknownTarget and lists the known names.
func LookupTarget(name string) (Target, error) {
	for _, t := range targets {
		if t.Name == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownTarget, name, strings.Join(TargetNames(), ", "))
}

// Tag returns the tag of the target's image.
func (t Target) Tag() string {
	if s, ok := imageSpecFor(t.Image); ok {
		return s.Tag
	}
	return ""
}

// CanBuild reports whether BuildImages can build the target's image from
// the checkout at root: always for an image made from packages; for one
// built from source only when root holds that source.
func (t Target) CanBuild(root string) bool {
	s, ok := imageSpecFor(t.Image)
	if !ok {
		return false
	}
	if !t.FromSource {
		return true
	}
	for _, b := range s.Binaries {
		if !hasSource(root, b) {
			return false
		}
	}
	return true
}

// checkExtra refuses an Extra key another target owns, and a key in this
// target's own namespace that it does not read.
func (t Target) checkExtra(key string) error {
	for _, o := range targets {
		if o.Name != t.Name && (slices.Contains(o.ExtraKeys, key) || strings.HasPrefix(key, o.Name+".")) {
			return fmt.Errorf("config: Extra key %q is %s's; %s would ignore it", key, o.Name, t.Name)
		}
	}
	if strings.HasPrefix(key, t.Name+".") && !slices.Contains(t.ExtraKeys, key) {
		known := "none"
		if len(t.ExtraKeys) > 0 {
			known = strings.Join(t.ExtraKeys, ", ")
		}
		return fmt.Errorf("config: Extra key %q: %s reads no such key (its own keys: %s)", key, t.Name, known)
	}
	return nil
}

// targetsWith lists the names of the targets for which has is true, for
// error messages ("targets with failpoints: zabnode").
func targetsWith(has func(Capabilities) bool) string {
	var names []string
	for _, t := range targets {
		if has(t.Capabilities) {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
