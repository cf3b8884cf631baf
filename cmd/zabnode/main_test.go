package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=" + dir + "\nserver.1=127.0.0.1:2888:3888\n"
	cases := []struct {
		name, cfg, myid string
		want            []string // substrings of the error
	}{
		{"missing key", "tickTime=100\ndataDir=" + dir + "\nserver.1=127.0.0.1:2888:3888\n", "1", []string{"bad.cfg", "initLimit"}},
		{"bad value", base + "clientPort=99999\n", "1", []string{"bad.cfg", "clientPort"}},
		{"no myid", base, "", []string{"myid"}},
		{"unknown myid", base, "7", []string{"myid", "server.7"}},
		{"unknown seeded bug", base + "zabnode.bug=no-such-bug\n", "1", []string{"zabnode.bug", "no-such-bug"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(filepath.Join(dir, "myid"))
			if tc.myid != "" {
				write("myid", tc.myid)
			}
			err := run(slog.New(slog.DiscardHandler), []string{write("bad.cfg", tc.cfg)})
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		if err := run(slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Fatalf("got %v, want a usage error", err)
		}
	})
}
