package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// timeFormat names run directories: sortable, millisecond precision, and
// free of characters that need quoting in a shell.
const timeFormat = "20060102T150405.000"

// Meta is test.json: the settings plus what happened.
type Meta struct {
	Test
	TimeLimit       string `json:"time_limit"`
	OpTimeout       string `json:"op_timeout"`
	NemesisInterval string `json:"nemesis_interval"`
	// SessionTimeout and LivenessWindow are the values the run used (a
	// default resolved), so that zabcheck check judges liveness as the
	// run did. Runs recorded before them have neither: the defaults then
	// apply.
	SessionTimeout string `json:"session_timeout,omitempty"`
	LivenessWindow string `json:"liveness_window,omitempty"`
	// StalenessBound is the timeliness check's bound as the run used it.
	StalenessBound string     `json:"staleness_bound,omitempty"`
	Start          time.Time  `json:"start"`
	End            *time.Time `json:"end,omitempty"`
	Incomplete     bool       `json:"incomplete"`
	Error          string     `json:"error,omitempty"`
	HealError      string     `json:"heal_error,omitempty"`
	// RecoveryError says the cluster did not recover after the final heal
	// undid every fault; the recovery check's result explains it.
	RecoveryError string            `json:"recovery_error,omitempty"`
	Images        map[string]string `json:"images,omitempty"`
	Version       string            `json:"version"`
	Verdict       string            `json:"verdict,omitempty"`
}

func newMeta(t Test, start time.Time, version string) Meta {
	return Meta{
		Test:            t,
		TimeLimit:       t.TimeLimit.String(),
		OpTimeout:       t.OpTimeout.String(),
		NemesisInterval: t.NemesisInterval.String(),
		SessionTimeout:  t.SessionTimeoutOrDefault().String(),
		LivenessWindow:  t.LivenessWindowOrDefault().String(),
		StalenessBound:  t.StalenessBoundOrDefault().String(),
		Start:           start,
		Incomplete:      true, // until the run finishes, a crash leaves it marked
		Version:         version,
	}
}

// makeRunDir creates results/<test>/<time>/ and points the latest links at
// it.
func makeRunDir(resultsDir, name string, start time.Time) (string, error) {
	testDir := filepath.Join(resultsDir, name)
	dir := filepath.Join(testDir, start.UTC().Format(timeFormat))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	// Relative links keep the results directory movable.
	if err := relink(filepath.Join(testDir, "latest"), filepath.Base(dir)); err != nil {
		return "", err
	}
	if err := relink(filepath.Join(resultsDir, "latest"), filepath.Join(name, filepath.Base(dir))); err != nil {
		return "", err
	}
	return dir, nil
}

// relink atomically replaces the symlink at path with one to target.
func relink(path, target string) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

func writeMeta(dir string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode test.json: %w", err)
	}
	tmp := filepath.Join(dir, "test.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write test.json: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "test.json")); err != nil {
		return fmt.Errorf("write test.json: %w", err)
	}
	return nil
}

// ReadMeta reads a run's test.json.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(dir, "test.json"))
	if err != nil {
		return m, fmt.Errorf("read test.json: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode %s: %w", filepath.Join(dir, "test.json"), err)
	}
	if m.Workload == "" {
		return m, errors.New("decode test.json: no workload")
	}
	for _, d := range []struct {
		name string
		s    string
		to   *time.Duration
	}{{"session_timeout", m.SessionTimeout, &m.Test.SessionTimeout}, {"liveness_window", m.LivenessWindow, &m.Test.LivenessWindow},
		{"staleness_bound", m.StalenessBound, &m.Test.StalenessBound}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v <= 0 {
			return m, fmt.Errorf("decode %s: %s %q: want a positive duration", filepath.Join(dir, "test.json"), d.name, d.s)
		}
		*d.to = v
	}
	return m, nil
}

// WriteStoredMeta writes the test.json of a run whose history was made
// without a cluster (a synthetic soak history), so that Recheck and the
// report take the directory as a stored run. t must be valid.
func WriteStoredMeta(dir string, t Test, start, end time.Time, version string) error {
	m := newMeta(t, start, version)
	m.End = &end
	m.Incomplete = false
	return writeMeta(dir, m)
}
