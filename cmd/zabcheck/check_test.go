package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/node/storage"
)

// Every history file in testdata goes through the real check command. Its
// name says the verdict: <model>-ok.<ext> exits 0, and
// <model>.<check>.<anomaly>-bad.<ext> exits 1 with that check invalid and
// its explanation naming the anomaly (dashes read as spaces).
func TestCheckHistoryFiles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*-*.*"))
	if err != nil || len(paths) < 8 {
		t.Fatalf("found %d fixtures (%v), want at least 8", len(paths), err)
	}
	formats := map[string]bool{}
	for _, path := range paths {
		name := filepath.Base(path)
		ext := filepath.Ext(name)
		base := strings.TrimSuffix(name, ext)
		formats[ext] = true
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runCLI(t, "check", path)
			switch {
			case strings.HasSuffix(base, "-ok"):
				if code != exitValid || !strings.Contains(out, "verdict: valid") {
					t.Fatalf("exit %d, want %d\n%s%s", code, exitValid, out, stderr)
				}
			case strings.HasSuffix(base, "-bad"):
				parts := strings.Split(strings.TrimSuffix(base, "-bad"), ".")
				if len(parts) != 3 {
					t.Fatalf("name %s: want <model>.<check>.<anomaly>-bad", name)
				}
				check, anomaly := parts[1], strings.ReplaceAll(parts[2], "-", " ")
				if code != exitInvalid {
					t.Fatalf("exit %d, want %d\n%s%s", code, exitInvalid, out, stderr)
				}
				line := check + " is invalid: "
				i := strings.Index(out, line)
				if i < 0 || !strings.Contains(strings.ToLower(out[i:]), anomaly) {
					t.Fatalf("output does not say %q naming %q:\n%s", line, anomaly, out)
				}
			default:
				t.Fatalf("name %s: want -ok or -bad before the extension", name)
			}
			// What a file cannot hold is skipped, and said to be.
			if !regexp.MustCompile(`(?m)^replicas +skipped +needs`).MatchString(out) {
				t.Errorf("output does not list replicas as skipped:\n%s", out)
			}
			if !strings.Contains(out, "model ") {
				t.Errorf("output does not say which model judged the history:\n%s", out)
			}
		})
	}
	if !formats[".edn"] || !formats[".jsonl"] {
		t.Errorf("want fixtures in both formats, got %v", formats)
	}
}

// A history.jsonl with no test.json beside it is a bare history: checked,
// and nothing is written into its directory.
func TestCheckBareHistoryJSONL(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "register-ok.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history.jsonl")
	os.WriteFile(path, b, 0o644)
	code, out, stderr := runCLI(t, "check", path)
	if code != exitValid || !regexp.MustCompile(`(?m)^final-reads +valid`).MatchString(out) {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("check wrote files beside a bare history: %v", entries)
	}
}

// --model overrides the inference; a model whose checks find nothing to
// judge gives unknown (exit 2), not valid.
func TestCheckModelFlag(t *testing.T) {
	code, out, _ := runCLI(t, "check", "--model", "queue", filepath.Join("testdata", "set-ok.edn"))
	if code != exitUnknown || !strings.Contains(out, "queue is unknown") {
		t.Fatalf("set history as a queue: exit %d, want %d\n%s", code, exitUnknown, out)
	}
	code, out, _ = runCLI(t, "check", "--model", "total-queue", filepath.Join("testdata", "queue-ok.edn"))
	if code != exitValid {
		t.Fatalf("Jepsen's name total-queue: exit %d\n%s", code, out)
	}
}

// Bad input exits 254 with one line naming the file and the line.
func TestCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edn := write("history.edn", "{:type :invoke, :f :write, :value 1, :time 1, :process 0}\n"+
		"{:type :ok, :f :write, :value 1, :time 2, :process 0}\n{:type :ok, :f :write, :value 1 :time 3, :process 0\n")
	jsonl := write("broken.jsonl", `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","value":1}`+"\n"+`{"index":1,"time":2,"type":"ok"`+"\n")
	orphan := write("orphan.edn", "{:type :invoke, :f :read, :time 1, :process 0}\n{:type :ok, :f :write, :value 1, :time 2, :process 1}\n")
	mixed := write("mixed.edn", "{:type :invoke, :f :add, :value 1, :time 1, :process 0}\n{:type :ok, :f :add, :value 1, :time 2, :process 0}\n"+
		"{:type :invoke, :f :enqueue, :value 1, :time 3, :process 1}\n{:type :ok, :f :enqueue, :value 1, :time 4, :process 1}\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unclosed EDN map", []string{"check", edn}, []string{edn, "line 3", "never closed"}},
		{"broken JSONL line", []string{"check", jsonl}, []string{jsonl, "line 2"}},
		{"completion without invocation", []string{"check", orphan}, []string{orphan, "line 2", "without an invocation"}},
		{"two models", []string{"check", mixed}, []string{mixed, "--model"}},
		{"unknown model", []string{"check", "--model", "bank", filepath.Join("testdata", "set-ok.edn")}, []string{"--model bank", "unknown model"}},
		{"unknown read mode", []string{"check", "--read-mode", "stale", filepath.Join("testdata", "register-ok.edn")}, []string{"--read-mode", "stale"}},
		{"model on a run directory", []string{"check", "--model", "set", dir}, []string{"--model applies to history files"}},
		{"zero check timeout", []string{"check", "--check-timeout", "0", filepath.Join("testdata", "register-ok.edn")}, []string{"--check-timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.args...)
			if code != exitBadArgs {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitBadArgs, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %q", stderr, w)
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("want one line, got %d: %q", n+1, stderr)
			}
		})
	}
}

// A bare lock history judges liveness only when given a window: without
// one the check is skipped and says how to give it; with one a stall makes
// the verdict invalid.
func TestCheckBareLivenessWindow(t *testing.T) {
	var b strings.Builder
	i, now := 0, int64(0)
	op := func(typ string, p int, f string, dt time.Duration) {
		now += int64(dt)
		fmt.Fprintf(&b, `{"index":%d,"time":%d,"type":%q,"process":%d,"f":%q}`+"\n", i, now, typ, p, f)
		i++
	}
	grant := func(p int) {
		op("invoke", p, "acquire", time.Millisecond)
		op("ok", p, "acquire", time.Second)
		op("invoke", p, "release", 10*time.Millisecond)
		op("ok", p, "release", time.Millisecond)
	}
	for range 5 {
		grant(0)
	}
	for p := 10; p < 15; p++ { // 25s of waiters timing out
		op("invoke", p, "acquire", time.Millisecond)
		op("info", p, "acquire", 5*time.Second)
	}
	for range 5 {
		grant(1)
	}
	path := filepath.Join(t.TempDir(), "lock.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "check", path)
	if code != exitValid || !regexp.MustCompile(`(?m)^liveness +skipped +.*--liveness-window`).MatchString(out) {
		t.Fatalf("without a window: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "check", "--liveness-window", "10", "--liveness-grace", "1", path)
	if code != exitInvalid || !strings.Contains(out, "liveness is invalid: 1 stall") {
		t.Fatalf("with a 10s window: exit %d\n%s%s", code, out, stderr)
	}
}

// check RUN_DIR includes the on-disk check: the nodes' copied data
// directories are read in the target's format, and a hole in one node's
// log makes the run invalid, named by node, file, offset and zxid.
func TestCheckRunDirOnDisk(t *testing.T) {
	dir := t.TempDir()
	meta := `{"name":"t","db":"zabnode","workload":"register","read_mode":"sync","nodes":3,"seed":1,"start":"2026-01-01T00:00:00Z","incomplete":false}`
	hist := `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"r0","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"r0","value":1,"zxid":4294967297}
`
	os.WriteFile(filepath.Join(dir, "test.json"), []byte(meta), 0o644)
	os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(hist), 0o644)
	for node, counters := range map[string][]uint64{"n1": {1, 2, 3}, "n2": {1, 3}, "n3": {1, 2, 3}} {
		st, err := storage.Open(filepath.Join(dir, "nodes", node, "data"), storage.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counters {
			if err := st.Log.Append(storage.Record{Zxid: 1<<32 | c, Data: []byte{byte(c)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Log.Sync(); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	code, out, stderr := runCLI(t, "check", dir)
	want := regexp.MustCompile(`(?m)^on-disk +invalid +1 log gaps\. Log gap on node n2: zxid 0x100000003 \(version-2/log\.0000000100000001 offset 17\)`)
	if code != exitInvalid || !want.MatchString(out) {
		t.Fatalf("exit %d, want %d with a line matching %s\n%s%s", code, exitInvalid, want, out, stderr)
	}
}

// A synthetic run is a run directory: check accepts it, finds it valid
// and writes the report.
func TestSynthRunChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, "synth", "--ops", "5000", "--seed", "3", dir); code != exitValid {
		t.Fatalf("synth: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "check", dir)
	if code != exitValid {
		t.Fatalf("check: exit %d: %s\n%s", code, out, stderr)
	}
	for _, f := range []string{"results.json", "report.html"} {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("check wrote no %s", f)
		}
	}
}
