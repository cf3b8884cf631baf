package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"15", 15 * time.Second},
		{"0", 0},
		{"0.5", 500 * time.Millisecond},
		{"60s", time.Minute},
		{"1m30s", 90 * time.Second},
		{"250ms", 250 * time.Millisecond},
	} {
		got, err := parseSeconds(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "-5", "-1s", "soon", "15x", "1.2.3", "1e400", "."} {
		if got, err := parseSeconds(in); err == nil {
			t.Errorf("parseSeconds(%q) = %v, want an error", in, got)
		}
	}
}

// Every duration flag of every command takes bare seconds, as Jepsen's
// do: `--time-limit 15` is 15 s. The commands' actions are replaced, so
// nothing starts.
func TestDurationFlagsTakeSeconds(t *testing.T) {
	n := 0
	for _, cmd := range newApp(nil, nil).Commands {
		for _, f := range cmd.Flags {
			g, ok := f.(*cli.GenericFlag)
			if !ok {
				continue
			}
			if _, ok := g.Value.(*seconds); !ok {
				continue
			}
			n++
			t.Run(cmd.Name+"/"+g.Name, func(t *testing.T) {
				app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
				var got time.Duration
				for _, c := range app.Commands {
					c.Action = func(c *cli.Context) error { got = c.Duration(g.Name); return nil }
				}
				if err := app.RunContext(context.Background(), []string{"zabcheck", cmd.Name, "--" + g.Name, "15"}); err != nil {
					t.Fatal(err)
				}
				if got != 15*time.Second {
					t.Fatalf("--%s 15: got %v, want 15s", g.Name, got)
				}
			})
		}
	}
	if n < 10 {
		t.Errorf("found %d duration flags, want every one of test, check, bench and detect (at least 10)", n)
	}
	for _, cmd := range newApp(nil, nil).Commands {
		for _, f := range cmd.Flags {
			if _, ok := f.(*cli.DurationFlag); ok {
				t.Errorf("%s --%s is a cli.DurationFlag, which refuses bare seconds", cmd.Name, f.Names()[0])
			}
		}
	}
}

// The default still shows in the help.
func TestDurationHelpShowsDefault(t *testing.T) {
	code, out, _ := runCLI(t, "test", "--help")
	if code != 0 || !bytes.Contains([]byte(out), []byte("--time-limit value")) || !bytes.Contains([]byte(out), []byte("(default: 1m0s)")) {
		t.Fatalf("test --help: code %d, output %q", code, out)
	}
}
