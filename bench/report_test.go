package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

func fakeResult(t *testing.T) Result {
	t.Helper()
	fe := &fakeEnv{clk: newFakeClock(), lat: map[string]time.Duration{
		docker.DBZabnode: time.Millisecond, docker.DBZooKeeper: 3 * time.Millisecond,
	}}
	cfg := smallConfig()
	cfg.Rounds = 1
	res, err := run(context.Background(), cfg, fe.env())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func TestWriteReport(t *testing.T) {
	res := fakeResult(t)
	dir := t.TempDir()
	if err := WriteReport(dir, res); err != nil {
		t.Fatalf("WriteReport: %v", err)
	}
	html, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"summary", "throughput", "latency", "failover", "coldstart", "runs", "settings"} {
		if !bytes.Contains(html, []byte(`<section id="`+id+`">`)) {
			t.Errorf("bench.html has no %s section", id)
		}
	}
	for _, s := range []string{"throughput.svg", "write-latency.svg", "read-latency.svg", "failover.svg", "zabnode/zookeeper", "write throughput", "forceSync=yes"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("bench.html does not mention %q", s)
		}
	}
	if bytes.Contains(html, []byte("http://")) || bytes.Contains(html, []byte("https://")) {
		t.Error("bench.html references the network")
	}
	for _, f := range []string{"throughput.svg", "write-latency.svg", "read-latency.svg", "failover.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s: not an SVG (%v)", f, err)
		}
	}
	var back Result
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	if len(back.Rows) != len(res.Rows) || len(back.Targets) != 4 || back.Targets[0].WriteCDF == nil {
		t.Errorf("bench.json lost data: %d rows, %d targets", len(back.Rows), len(back.Targets))
	}
	// A report re-rendered from bench.json alone draws the same sections.
	if err := WriteReport(t.TempDir(), back); err != nil {
		t.Errorf("re-render from bench.json: %v", err)
	}
}

func TestWriteReportEmpty(t *testing.T) {
	r := Result{Settings: settingsOf(DefaultConfig()), Errors: []string{"start cluster: no Docker"}}
	if err := WriteReport(t.TempDir(), r); err != nil {
		t.Fatalf("an empty result must still render: %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	res := fakeResult(t)
	var buf bytes.Buffer
	if err := WriteTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := len(lines), 1+len(res.Rows); got != want {
		t.Fatalf("got %d lines, want %d:\n%s", got, want, out)
	}
	for _, s := range []string{"ZABNODE", "ZOOKEEPER", "ZABNODE/ZOOKEEPER", "write throughput", "3.00x", "0.33x"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	one := res
	one.Settings.DBs = []string{"zookeeper"}
	buf.Reset()
	if err := WriteTable(&buf, one); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "ZABNODE") {
		t.Errorf("a zookeeper-only table has a zabnode column:\n%s", buf.String())
	}
}

func TestMakeDir(t *testing.T) {
	root := t.TempDir()
	t1 := time.Date(2026, 11, 25, 12, 0, 0, 123e6, time.UTC)
	d1, err := MakeDir(root, t1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d1, filepath.Join(root, "bench", "20261125T120000.123"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	d2, err := MakeDir(root, t1.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	link, err := os.Readlink(filepath.Join(root, "bench", "latest"))
	if err != nil || link != filepath.Base(d2) {
		t.Errorf("latest: got %q (%v), want %q", link, err, filepath.Base(d2))
	}
}
