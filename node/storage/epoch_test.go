package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenChecksEpochsAgainstLog writes a real data directory whose log
// reaches epoch 9, then damages or rewinds its epoch files the ways an
// operator or a crash could, and reopens it (see CheckEpochsAgainstLog for
// which states are refused and why).
func TestOpenChecksEpochsAgainstLog(t *testing.T) {
	const (
		absent  = -1 // the file is removed
		logLast = 9  // epoch of the last logged zxid
	)
	cases := []struct {
		name              string
		accepted, current int
		snapshotOnly      bool   // the log was emptied by an installed snapshot
		noAccepted        bool   // the seeded bug no-persist-accepted-epoch
		refuse            string // "" opens; else the file the error names
		behind            bool   // opens, logging that currentEpoch is behind
	}{
		{name: "both files missing", accepted: absent, current: absent, refuse: AcceptedEpochFile},
		{name: "acceptedEpoch missing", accepted: absent, current: 9, refuse: AcceptedEpochFile},
		{name: "both missing, snapshot only", accepted: absent, current: absent, snapshotOnly: true, refuse: AcceptedEpochFile},
		{name: "acceptedEpoch older than the log", accepted: 8, current: 8, refuse: AcceptedEpochFile},
		{name: "acceptedEpoch below currentEpoch", accepted: 9, current: 10, refuse: AcceptedEpochFile},
		{name: "currentEpoch missing", accepted: 10, current: absent, behind: true},
		{name: "currentEpoch older than the log", accepted: 10, current: 5, behind: true},
		{name: "in step with the log", accepted: 10, current: 9},
		{name: "seeded bug keeps no acceptedEpoch", accepted: absent, current: absent, noAccepted: true, behind: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			var logs bytes.Buffer
			opts := Options{Logger: testLogger(&logs), NoAcceptedEpoch: tc.noAccepted}
			st, err := Open(dataDir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Epochs.SetAccepted(logLast); err != nil {
				t.Fatal(err)
			}
			if err := st.Log.Commit(rec(3, 1), rec(logLast, 1), rec(logLast, 2)); err != nil {
				t.Fatal(err)
			}
			if tc.snapshotOnly {
				if err := st.InstallSnapshot(zx(logLast, 7), []byte("leader")); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			for file, v := range map[string]int{AcceptedEpochFile: tc.accepted, CurrentEpochFile: tc.current} {
				p := filepath.Join(dataDir, "version-2", file)
				if v == absent {
					if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatal(err)
					}
					continue
				}
				if err := WriteEpoch(p, uint64(v), false); err != nil {
					t.Fatal(err)
				}
			}

			st, err = Open(dataDir, opts)
			if tc.refuse != "" {
				if err == nil {
					st.Close()
					t.Fatal("Open succeeded, want a refusal")
				}
				msg := err.Error()
				if !errors.Is(err, ErrEpochFiles) {
					t.Errorf("error %q does not wrap ErrEpochFiles", msg)
				}
				if want := filepath.Join(dataDir, "version-2", tc.refuse); !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %s", msg, want)
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error spans several lines: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer st.Close()
			// Open rewrites nothing: the files keep what the node promised.
			if a, _ := st.Epochs.Accepted(); tc.accepted != absent && a != uint64(tc.accepted) {
				t.Errorf("acceptedEpoch = %d after Open, want %d", a, tc.accepted)
			}
			if c, _ := st.Epochs.Current(); tc.current != absent && c != uint64(tc.current) {
				t.Errorf("currentEpoch = %d after Open, want %d", c, tc.current)
			}
			if got := strings.Contains(logs.String(), "currentEpoch is older than the log"); got != tc.behind {
				t.Errorf("logged currentEpoch behind = %v, want %v; log:\n%s", got, tc.behind, logs.String())
			}
		})
	}
}

// TestOpenFreshDataDir: a new node has no epoch files and no log, and
// starts at epoch 0.
func TestOpenFreshDataDir(t *testing.T) {
	st, err := Open(t.TempDir(), Options{Logger: testLogger(&bytes.Buffer{})})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, c, err := st.Epochs.Load()
	if err != nil || a != 0 || c != 0 {
		t.Fatalf("Load = %d, %d, %v; want 0, 0, nil", a, c, err)
	}
}
