package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/checker"
)

// File names inside a run directory (see results/README.md).
const (
	testFile    = "test.json"
	historyFile = "history.jsonl"
	resultsFile = "results.json"
	reportFile  = "report.html"
	logFile     = "zabcheck.log"
	nodesDir    = "nodes"
	latencySVG  = "latency.svg"
	rateSVG     = "rate.svg"
)

// Incomplete is the index verdict of a run that has no results.json or whose
// test.json says it was interrupted. It is not a checker verdict.
const Incomplete checker.Verdict = "incomplete"

// TestInfo is the decoded test.json the runner writes into each run
// directory. Unknown fields are ignored so that the runner can add settings
// without breaking old reports; durations are kept as raw JSON because the
// runner may write them as strings ("10s") or nanoseconds.
type TestInfo struct {
	Name            string            `json:"name"`
	DB              string            `json:"db"`
	Workload        string            `json:"workload"`
	ReadMode        string            `json:"read_mode"`
	Nodes           json.RawMessage   `json:"nodes"`
	Observers       json.RawMessage   `json:"observers"`
	Nemesis         []string          `json:"nemesis"`
	NemesisInterval json.RawMessage   `json:"nemesis_interval"`
	TimeLimit       json.RawMessage   `json:"time_limit"`
	Concurrency     int               `json:"concurrency"`
	Rate            float64           `json:"rate"`
	Seed            int64             `json:"seed"`
	Bug             json.RawMessage   `json:"bug"`
	Start           time.Time         `json:"start"`
	End             time.Time         `json:"end"`
	Incomplete      bool              `json:"incomplete"`
	Error           string            `json:"error"`
	HealError       string            `json:"heal_error"`
	Images          map[string]string `json:"images"`
	Version         string            `json:"version"`
}

// WorkloadNames lists the test's workloads. The runner writes one name, or
// several separated by commas when workloads ran side by side.
func (t TestInfo) WorkloadNames() []string {
	var names []string
	for _, n := range strings.Split(t.Workload, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// rawText shows a raw JSON setting: strings unquoted, anything else as
// written ("" when absent).
func rawText(r json.RawMessage) string {
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, r) == nil {
		return b.String()
	}
	return string(r)
}

// ReadTestInfo decodes runDir/test.json. raw is the file's bytes, shown
// verbatim in the report so that no setting is lost in decoding.
func ReadTestInfo(runDir string) (info TestInfo, raw []byte, err error) {
	raw, err = os.ReadFile(filepath.Join(runDir, testFile))
	if err != nil {
		return TestInfo{}, nil, fmt.Errorf("read test info: %w", err)
	}
	info, err = decodeTestInfo(raw)
	if err != nil {
		return TestInfo{}, nil, fmt.Errorf("%s: %w", filepath.Join(runDir, testFile), err)
	}
	return info, raw, nil
}

func decodeTestInfo(raw []byte) (TestInfo, error) {
	// nemesis may be a list of fault names or a single string; accept both
	// rather than refusing a run over its shape.
	var loose struct {
		TestInfo
		Nemesis json.RawMessage `json:"nemesis"`
	}
	if err := json.Unmarshal(raw, &loose); err != nil {
		return TestInfo{}, fmt.Errorf("decode test info: %w", err)
	}
	info := loose.TestInfo
	info.Nemesis = nil
	if len(loose.Nemesis) > 0 && string(loose.Nemesis) != "null" {
		var list []string
		if err := json.Unmarshal(loose.Nemesis, &list); err != nil {
			var one string
			if err2 := json.Unmarshal(loose.Nemesis, &one); err2 != nil {
				return TestInfo{}, fmt.Errorf("decode test info: nemesis %s is neither a list of names nor a name", loose.Nemesis)
			}
			if one != "" {
				list = []string{one}
			}
		}
		info.Nemesis = list
	}
	return info, nil
}

// readSummary decodes runDir/results.json. ok is false when the file does
// not exist (the run was interrupted before the checker ran).
func readSummary(runDir string) (s checker.Summary, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(runDir, resultsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return checker.Summary{}, false, nil
	}
	if err != nil {
		return checker.Summary{}, false, fmt.Errorf("read results: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return checker.Summary{}, false, fmt.Errorf("decode %s: %w", filepath.Join(runDir, resultsFile), err)
	}
	return s, true, nil
}
