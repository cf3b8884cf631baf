package workload

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

func TestReaderSlots(t *testing.T) {
	for _, tc := range []struct {
		name        string
		readers     float64
		concurrency int
		want        int
	}{
		{"none", 0, 12, 0},
		{"half", 0.5, 12, 6},
		{"rounded", 0.3, 12, 4},
		{"at least one", 0.01, 12, 1},
		{"leaves a writer", 0.99, 12, 11},
		{"single slot writes", 0.5, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Readers: tc.readers, Concurrency: tc.concurrency}
			if got := c.ReaderSlots(); got != tc.want {
				t.Errorf("ReaderSlots() = %d, want %d", got, tc.want)
			}
			readers := 0
			for s := range tc.concurrency {
				if c.isReader(s) {
					readers++
				}
			}
			if readers != tc.want {
				t.Errorf("isReader true for %d slots, want %d", readers, tc.want)
			}
		})
	}
}

func TestValidateReaders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		workload string
		readers  float64
		bad      bool
	}{
		{"zero", Register, 0, false},
		{"half", Register, 0.5, false},
		{"set", Set, 0.5, false},
		{"negative", Register, -0.1, true},
		{"all", Register, 1, true},
		{"nan", Register, math.NaN(), true},
		{"lock", Lock, 0.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.workload)
			cfg.Readers = tc.readers
			err := cfg.Validate()
			if (err != nil) != tc.bad {
				t.Fatalf("Validate() = %v, want error %v", err, tc.bad)
			}
			if err != nil && !strings.Contains(err.Error(), "readers") {
				t.Errorf("error %q does not name readers", err)
			}
		})
	}
}

// A reader slot plans reads only and never a key creation; the writer
// slots plan exactly what they plan without readers, so Readers 0 keeps
// every seeded op sequence.
func TestGeneratorReaders(t *testing.T) {
	plans := func(readers float64, slot int) []planned {
		cfg := testConfig(Register)
		cfg.Concurrency, cfg.Readers = 6, readers
		g := newGenerator(cfg, registerWorkload, slot, newKeyBoard(cfg))
		var out []planned
		for range 300 {
			out = append(out, g.next())
		}
		return out
	}
	for slot := range 6 {
		with, without := plans(0.5, slot), plans(0, slot)
		if slot < 3 {
			if !slices.Equal(with, without) {
				t.Errorf("writer slot %d: plans changed by readers", slot)
			}
			continue
		}
		for i, p := range with {
			if p.F != history.FRead || p.NewKey || p.Value != 0 {
				t.Fatalf("reader slot %d op %d: got %+v, want a read of an existing key", slot, i, p)
			}
		}
		if slices.Equal(with, without) {
			t.Errorf("reader slot %d plans as a writer does", slot)
		}
	}
}

func TestRunReadersOnlyRead(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.Concurrency, cfg.Readers, cfg.Keys = 6, 0.5, 2
	// MaxOps is shared by all processes and which process takes each op is
	// up to the scheduler: enough ops that every process gets turns even
	// under -race on a loaded machine (300 once left two writers idle).
	cfg.MaxOps = 3000
	ops := runFake(t, cfg, f, fakeDeps(f))
	reads, nonNull := map[history.Process]int{}, 0
	writers := map[history.Process]bool{}
	for _, op := range ops {
		reader := int(op.Process) >= 3 // no process retires against the fake
		switch {
		case op.Type != history.Invoke:
			if reader && op.Type == history.OK && op.F == history.FRead && string(op.Value) != "null" {
				nonNull++
			}
		case reader && op.F != history.FRead:
			t.Errorf("reader process %d invoked %s (op %d)", op.Process, op.F, op.Index)
		case reader:
			reads[op.Process]++
		case op.F != history.FRead:
			writers[op.Process] = true
		}
	}
	if got, want := len(reads), 3; got != want {
		t.Errorf("reader processes that read: got %d, want %d (%v)", got, want, reads)
	}
	// How many ops each process gets is up to the scheduler (MaxOps is
	// shared), so only check that the writers ran at all; with GOMAXPROCS=1
	// the readers can take most turns.
	if len(writers) == 0 && nonNull > 0 {
		t.Errorf("readers saw written values but no writer wrote")
	}
}

// A reader reads the newest key its group's writers have written, even
// when there are more keys than writers (reader slots then sit in groups
// with no writer), and never goes back to an older key.
func TestGeneratorReadersFollowWriters(t *testing.T) {
	cfg := testConfig(Register)
	cfg.Concurrency, cfg.Readers, cfg.Keys = 6, 0.5, 6
	b := newKeyBoard(cfg)
	readKey := func(slot int) string {
		t.Helper()
		g := newGenerator(cfg, registerWorkload, slot, b)
		var key string
		for i := range 50 {
			p := g.next()
			if i > 0 && p.Key != key {
				t.Fatalf("slot %d moved from key %s to %s with no write", slot, key, p.Key)
			}
			key = p.Key
		}
		return key
	}
	// Writers are slots 0-2, on keys 0-2 first; readers 3-5 follow them.
	for slot, want := range map[int]string{3: "0", 4: "1", 5: "2"} {
		if got := readKey(slot); got != want {
			t.Errorf("reader slot %d before any write: key %s, want %s", slot, got, want)
		}
	}
	b.wrote(12) // group 0's third key
	b.wrote(6)  // a straggler on group 0's second key
	b.wrote(7)
	for slot, want := range map[int]string{3: "12", 4: "7", 5: "2"} {
		if got := readKey(slot); got != want {
			t.Errorf("reader slot %d: key %s, want %s", slot, got, want)
		}
	}
}

// TestRunReadersReadWrittenKeys: every read by a reader process is of a key
// with an acknowledged write before the read was invoked, or of its
// group's first key while the group has none.
func TestRunReadersReadWrittenKeys(t *testing.T) {
	for _, keys := range []int{2, 6} {
		t.Run(fmt.Sprintf("keys %d", keys), func(t *testing.T) {
			f := newFakeZK()
			cfg := testConfig(Register)
			cfg.Concurrency, cfg.Readers, cfg.Keys, cfg.OpsPerKey = 6, 0.5, keys, 10
			cfg.MaxOps = 3000
			ops := runFake(t, cfg, f, fakeDeps(f))
			writerGroups := min(keys, 3)
			written := map[string]bool{}
			reads, nonNull := 0, 0
			for _, op := range ops {
				reader := int(op.Process) >= 3 // no process retires against the fake
				switch {
				case op.Type == history.OK && op.F != history.FRead:
					written[op.Key] = true
				case reader && op.Type == history.Invoke:
					reads++
					k, _ := strconv.Atoi(op.Key)
					if !written[op.Key] && k >= writerGroups {
						t.Fatalf("reader op %d reads key %s, which no write reached yet", op.Index, op.Key)
					}
				case reader && op.Type == history.OK && string(op.Value) != "null":
					nonNull++
				}
			}
			if reads == 0 {
				t.Fatal("the readers never read")
			}
			t.Logf("%d reader reads, %d of them non-null", reads, nonNull)
		})
	}
}
