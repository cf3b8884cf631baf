package main

import (
	"strings"
	"testing"
)

// zabcheck coverage-gate passes runs that reached every required path
// between them, and fails, naming it, a set that never reached SNAP.
func TestCoverageGateCommand(t *testing.T) {
	code, out, stderr := runCLI(t, "coverage-gate", "--db", "zabnode", "testdata/coverage/pass")
	if code != exitValid || !strings.Contains(out, "coverage gate: passed: 2 runs") {
		t.Errorf("pass: exit %d, stdout:\n%s\nstderr: %s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "coverage-gate", "--format", "markdown", "testdata/coverage/missing-snap")
	if code != exitInvalid || !strings.Contains(out, "| snap | 0 | 0 of 1 | **never reached** |") || !strings.Contains(out, "never reached snap.") {
		t.Errorf("missing snap: exit %d, stdout:\n%s", code, out)
	}
	code, _, _ = runCLI(t, "coverage-gate", "testdata/coverage/pass", "testdata/coverage/missing-snap")
	if code != exitValid {
		t.Errorf("both sets together: exit %d, want %d", code, exitValid)
	}
	code, out, _ = runCLI(t, "list", "--names", "required-coverage")
	if code != exitValid || strings.Fields(out)[3] != "snap" {
		t.Errorf("list --names required-coverage: exit %d, %q", code, out)
	}
}
