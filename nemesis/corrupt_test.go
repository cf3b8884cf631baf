package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// atRestFake adds files at rest to fakeCluster: a node whose file was
// flipped refuses to start until it is wiped.
type atRestFake struct {
	*fakeCluster
	damaged  map[string]string // node -> what Corrupt did
	noFile   bool              // Corrupt finds nothing to damage
	repairs  bool              // a damaged node starts anyway (it repaired)
	wiped    []string
	watched  []string
	refusals int
}

func newAtRestFake() *atRestFake {
	return &atRestFake{fakeCluster: newFake(3, 0), damaged: map[string]string{}}
}

func (f *atRestFake) Corrupt(_ context.Context, node, prefix, mode string, seed uint64) (string, error) {
	if f.state[node] != "stopped" {
		return "", fmt.Errorf("%s is running", node)
	}
	if f.noFile {
		return "", errors.New("corrupt n1: no file to corrupt: no snapshot.<hex zxid> in /data/version-2")
	}
	f.damaged[node] = fmt.Sprintf(`{"file":"%s1","mode":"%s","seed":%d}`, prefix, mode, seed)
	return f.damaged[node], nil
}

func (f *atRestFake) Wipe(_ context.Context, node string) error {
	if f.state[node] != "stopped" {
		return fmt.Errorf("%s is running", node)
	}
	delete(f.damaged, node)
	f.wiped = append(f.wiped, node)
	return nil
}

func (f *atRestFake) StartWatched(ctx context.Context, node string) (string, error) {
	f.watched = append(f.watched, node)
	if err := f.Start(ctx, node); err != nil {
		return "", err
	}
	if _, bad := f.damaged[node]; bad && !f.repairs {
		f.state[node] = "stopped"
		f.refusals++
		return "INFO starting\nERROR open log: version-2/log.1 is corrupt at offset 12; refusing to guess", nil
	}
	return "", nil
}

func TestCorruptShapesParse(t *testing.T) {
	for _, tc := range []struct {
		shape, prefix, mode string
		seed                uint64
		bad                 bool
	}{
		{"log.flip:7", "log.", "flip", 7, false},
		{"snapshot.truncate:18446744073709551615", "snapshot.", "truncate", 1<<64 - 1, false},
		{"log.melt:1", "", "", 0, true},
		{"wal.flip:1", "", "", 0, true},
		{"log.flip", "", "", 0, true},
		{"log.flip:x", "", "", 0, true},
	} {
		p, m, s, err := parseCorruptShape(tc.shape)
		if (err != nil) != tc.bad || (!tc.bad && (p != tc.prefix || m != tc.mode || s != tc.seed)) {
			t.Errorf("parseCorruptShape(%q) = %q %q %d %v", tc.shape, p, m, s, err)
		}
	}
}

// TestCorruptRoundsAreOneNodeAndParse: every drawn round damages one
// node (a minority) with a shape Inject accepts.
func TestCorruptRoundsAreOneNodeAndParse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = []string{Corrupt}
	cfg.Seed = 5
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r := s.round()
		if len(r) != 2 || r[0].Fault != Corrupt || (r[0].Target != TargetOne && r[0].Target != TargetLeader) {
			t.Fatalf("round %+v", r)
		}
		if _, _, _, err := parseCorruptShape(r[0].Kind); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorruptRefusingNodeIsWipedAndRestarted: the node is down while its
// file is damaged; it refuses on start, is wiped, and runs again, and the
// commands say so.
func TestCorruptRefusingNodeIsWipedAndRestarted(t *testing.T) {
	ctx := context.Background()
	f := newAtRestFake()
	a, err := corruptFault{}.Inject(ctx, f, Plan{Shape: "log.flip:3", Targets: []string{"n2"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.state["n2"] != "stopped" || f.damaged["n2"] == "" {
		t.Fatalf("after inject: state %s, damaged %q", f.state["n2"], f.damaged["n2"])
	}
	if want := []string{"n2: version-2/log.1"}; !slices.Equal(a.Damaged, want) {
		t.Fatalf("damaged %q, want %q: the history must name the file for the on-disk check", a.Damaged, want)
	}
	h, err := corruptFault{}.Heal(ctx, f, a)
	if err != nil {
		t.Fatal(err)
	}
	if f.refusals != 1 || len(f.wiped) != 1 || f.state["n2"] != "running" {
		t.Fatalf("refusals %d, wiped %v, state %s", f.refusals, f.wiped, f.state["n2"])
	}
	cmds := strings.Join(h.Commands, "\n")
	if !strings.Contains(cmds, "refused its data") || !strings.Contains(cmds, "refusing to guess") || !strings.Contains(cmds, "wipe") {
		t.Fatalf("heal commands do not tell the refusal:\n%s", cmds)
	}
}

// TestCorruptRepairingNodeIsNotWiped: a node that starts on its damaged
// file keeps it; only the checkers can tell whether it served damage.
func TestCorruptRepairingNodeIsNotWiped(t *testing.T) {
	ctx := context.Background()
	f := newAtRestFake()
	f.repairs = true
	a, err := corruptFault{}.Inject(ctx, f, Plan{Shape: "log.truncate:3", Targets: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (corruptFault{}).Heal(ctx, f, a); err != nil {
		t.Fatal(err)
	}
	if len(f.wiped) != 0 || f.state["n1"] != "running" {
		t.Fatalf("wiped %v, state %s", f.wiped, f.state["n1"])
	}
}

// TestCorruptWithoutAFileIsAKill: no snapshot yet is not an error; the
// round becomes a kill and says so.
func TestCorruptWithoutAFileIsAKill(t *testing.T) {
	f := newAtRestFake()
	f.noFile = true
	a, err := corruptFault{}.Inject(context.Background(), f, Plan{Shape: "snapshot.flip:1", Targets: []string{"n3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(a.Commands, "\n"), "nothing to corrupt") || f.state["n3"] != "stopped" {
		t.Fatalf("commands %q, state %s", a.Commands, f.state["n3"])
	}
}

func TestCorruptNeedsAtRestAndThreeNodes(t *testing.T) {
	if err := (corruptFault{}).Available(context.Background(), newFake(3, 0)); err == nil {
		t.Fatal("a cluster without files at rest is available")
	}
	small := &atRestFake{fakeCluster: newFake(1, 0)}
	if err := (corruptFault{}).Available(context.Background(), small); err == nil {
		t.Fatal("one node is available")
	}
	if err := (corruptFault{}).Available(context.Background(), newAtRestFake()); err != nil {
		t.Fatal(err)
	}
}
