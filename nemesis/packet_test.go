package nemesis

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNetemAvailable(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{Delay, Duplicate, Reorder} {
		t.Run(name+"/without netem", func(t *testing.T) {
			c := newFake(3, 0)
			c.netem = false
			f, err := NewFault(name, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			err = f.Available(ctx, c)
			if !errors.Is(err, ErrNetemUnsupported) {
				t.Fatalf("got %v, want ErrNetemUnsupported", err)
			}
			if !strings.Contains(err.Error(), "netem is not supported by this kernel") {
				t.Errorf("error %q does not say netem is unsupported", err)
			}
			if left := c.leftovers(); len(left) > 0 {
				t.Errorf("probe left %q", left)
			}
		})
		t.Run(name+"/with netem", func(t *testing.T) {
			c := newFake(3, 0)
			f, err := NewFault(name, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Available(ctx, c); err != nil {
				t.Fatalf("available: %v", err)
			}
			if left := c.leftovers(); len(left) > 0 {
				t.Errorf("probe left %q", left)
			}
		})
	}
	t.Run("schedule check", func(t *testing.T) {
		c := newFake(3, 0)
		c.netem = false
		cfg := DefaultConfig()
		cfg.Faults = []string{Kill, Delay}
		s, err := NewSchedule(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Check(ctx, c)
		if !errors.Is(err, ErrNetemUnsupported) || !strings.Contains(err.Error(), "fault delay unavailable") {
			t.Errorf("got %v, want delay unavailable because of netem", err)
		}
	})
	t.Run("other tc error", func(t *testing.T) {
		c := newFake(3, 0)
		c.noTC = true
		f, _ := NewFault(Delay, DefaultConfig())
		err := f.Available(ctx, c)
		if err == nil || errors.Is(err, ErrNetemUnsupported) {
			t.Errorf("got %v, want a probe error that does not blame netem", err)
		}
	})
}

func TestPacketFaults(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	for _, tc := range []struct{ fault, shape string }{
		{Packet, ShapeLoss},
		{Packet, ShapeBandwidth},
		{Delay, ""},
		{Duplicate, ""},
		{Reorder, ""},
	} {
		name := "packet-" + tc.shape
		if tc.fault != Packet {
			name = "netem-" + tc.fault
		}
		t.Run(name, func(t *testing.T) {
			c := newFake(3, 0)
			f, err := NewFault(tc.fault, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Available(ctx, c); err != nil {
				t.Fatalf("available: %v", err)
			}
			c.takeLog()
			a, err := f.Inject(ctx, c, Plan{Shape: tc.shape, Targets: []string{"n1", "n3"}})
			if err != nil {
				t.Fatalf("inject: %v", err)
			}
			if len(c.leftovers()) == 0 {
				t.Fatal("inject left no trace in the fake")
			}
			var b strings.Builder
			b.WriteString("# " + name + " on n1 n3\n## inject\n")
			for _, cmd := range a.Commands {
				b.WriteString(cmd + "\n")
			}
			h, err := f.Heal(ctx, c, a)
			if err != nil {
				t.Fatalf("heal: %v", err)
			}
			b.WriteString("## heal\n")
			for _, cmd := range h.Commands {
				b.WriteString(cmd + "\n")
			}
			if left := c.leftovers(); len(left) > 0 {
				t.Errorf("after heal: %q", left)
			}
			golden(t, name+".txt", b.String())
		})
	}
}
