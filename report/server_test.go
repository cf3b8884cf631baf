package report

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
)

const (
	runRel = "register/20261125T100000.000"
	secret = "TOP-SECRET-CONTENT"
)

// resultsTree builds <tmp>/results with one rendered fixture run, latest
// symlinks (relative and absolute) inside, and a secret file and directory
// outside reachable only through symlinks that escape.
func resultsTree(t *testing.T) (results, outside string) {
	t.Helper()
	base := t.TempDir()
	results = filepath.Join(base, "results")
	outside = filepath.Join(base, "outside")
	run := filepath.Join(results, filepath.FromSlash(runRel))
	copyDir(t, filepath.Join("testdata", "run1"), run)
	if err := Render(run, nil); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(outside, 0o755))
	must(os.WriteFile(filepath.Join(base, "secret.txt"), []byte(secret), 0o644))
	must(os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644))
	must(os.WriteFile(filepath.Join(outside, testFile), []byte(`{"name":"outside"}`), 0o644))
	must(os.Symlink(runRel, filepath.Join(results, "latest")))
	must(os.Symlink(run, filepath.Join(results, "register", "latest")))       // absolute, inside
	must(os.Symlink("../../../secret.txt", filepath.Join(run, "escape.txt"))) // file outside
	must(os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(run, "abs-escape.txt")))
	must(os.Symlink(outside, filepath.Join(results, "evil"))) // directory outside
	return results, outside
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func newTestServer(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := NewServer(dir, nil)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}

func TestServerRefusesTraversal(t *testing.T) {
	results, _ := resultsTree(t)
	h := newTestServer(t, results).Handler()
	tests := []struct{ name, target string }{
		{"dotdot", "/runs/../secret.txt"},
		{"dotdot deep", "/runs/register/../../secret.txt"},
		{"encoded dotdot", "/runs/%2e%2e/secret.txt"},
		{"encoded dotdot upper", "/runs/register/%2E%2E/%2E%2E/secret.txt"},
		{"encoded slash", "/runs/register/..%2f..%2fsecret.txt"},
		{"backslash", "/runs/register\\..\\..\\secret.txt"},
		{"encoded backslash", "/runs/register%5c..%5c..%5csecret.txt"},
		{"absolute", "/runs//etc/passwd"},
		{"absolute to secret", "/runs/" + filepath.ToSlash(filepath.Dir(results)) + "/secret.txt"},
		{"dot segment", "/runs/./register/../../secret.txt"},
		{"nul", "/runs/register%00/../../secret.txt"},
		{"symlinked file outside", "/runs/" + runRel + "/escape.txt"},
		{"absolute symlink outside", "/runs/" + runRel + "/abs-escape.txt"},
		{"symlinked dir outside", "/runs/evil/secret.txt"},
		{"symlinked dir outside listing", "/runs/evil/?list=1"},
		{"zip outside", "/zip/evil"},
		{"zip dotdot", "/zip/../outside"},
		{"zip encoded", "/zip/%2e%2e/outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.target)
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
				t.Errorf("GET %s: status %d, want 404 or 403", tt.target, rec.Code)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("GET %s leaked the secret", tt.target)
			}
		})
	}
}

// TestServerRawTraversal sends paths over a real connection, so that no
// client library cleans them first.
func TestServerRawTraversal(t *testing.T) {
	results, _ := resultsTree(t)
	srv := httptest.NewServer(newTestServer(t, results).Handler())
	defer srv.Close()
	for _, p := range []string{"/runs/../../secret.txt", "/runs/%2e%2e/%2e%2e/secret.txt", "/../secret.txt", "/runs/evil/secret.txt"} {
		t.Run(p, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", p)
			b, err := io.ReadAll(conn)
			if err != nil {
				t.Fatal(err)
			}
			resp := string(b)
			if !strings.HasPrefix(resp, "HTTP/1.1 404") && !strings.HasPrefix(resp, "HTTP/1.1 403") && !strings.HasPrefix(resp, "HTTP/1.1 400") {
				t.Errorf("GET %s: got %q", p, strings.SplitN(resp, "\r\n", 2)[0])
			}
			if strings.Contains(resp, secret) {
				t.Errorf("GET %s leaked the secret", p)
			}
		})
	}
}

func TestServerServesRuns(t *testing.T) {
	results, _ := resultsTree(t)
	h := newTestServer(t, results).Handler()
	tests := []struct {
		name, target string
		status       int
		contains     string
	}{
		{"report of run", "/runs/" + runRel + "/", 200, `id="overall-verdict"`},
		{"run without slash redirects", "/runs/" + runRel, 301, ""},
		{"test.json", "/runs/" + runRel + "/test.json", 200, `"register-zabnode"`},
		{"history", "/runs/" + runRel + "/history.jsonl", 200, `"process":"nemesis"`},
		{"plot", "/runs/" + runRel + "/latency.svg", 200, "<svg"},
		{"node dump", "/runs/" + runRel + "/nodes/n1/dump.json", 200, `"role": "leading"`},
		{"node listing", "/runs/" + runRel + "/nodes/n1/", 200, "zabnode.log"},
		{"run listing", "/runs/" + runRel + "/?list=1", 200, "history.jsonl"},
		{"latest relative symlink", "/runs/latest/test.json", 200, `"register-zabnode"`},
		{"latest absolute symlink inside", "/runs/register/latest/results.json", 200, `"linearizable"`},
		{"missing file", "/runs/" + runRel + "/nope.txt", 404, ""},
		{"file as dir", "/runs/" + runRel + "/test.json/", 404, ""},
		{"unknown route", "/etc/passwd", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.target)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: status %d, want %d", tt.target, rec.Code, tt.status)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("GET %s: body lacks %q", tt.target, tt.contains)
			}
		})
	}
	rec := get(t, h, "/runs/"+runRel+"/history.jsonl")
	if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
		t.Errorf("history content type: got %q, want text/plain", got)
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	prec := httptest.NewRecorder()
	h.ServeHTTP(prec, req)
	if prec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", prec.Code)
	}
}

func TestServerZip(t *testing.T) {
	results, _ := resultsTree(t)
	h := newTestServer(t, results).Handler()
	rec := get(t, h, "/zip/"+runRel)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/zip" {
		t.Errorf("content type %q", got)
	}
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	names := map[string]*zip.File{}
	for _, f := range zr.File {
		names[f.Name] = f
	}
	for _, want := range []string{"test.json", "history.jsonl", "results.json", "report.html", "latency.svg", "nodes/n1/dump.json"} {
		if names["20261125T100000.000/"+want] == nil {
			t.Errorf("zip lacks %s", want)
		}
	}
	for _, bad := range []string{"escape.txt", "abs-escape.txt"} {
		if names["20261125T100000.000/"+bad] != nil {
			t.Errorf("zip includes symlink %s", bad)
		}
	}
	f, err := names["20261125T100000.000/test.json"].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	want, _ := os.ReadFile(filepath.Join(results, filepath.FromSlash(runRel), testFile))
	if !bytes.Equal(got, want) {
		t.Error("zipped test.json differs from the file")
	}
	if rec := get(t, h, "/zip/register"); rec.Code != http.StatusNotFound {
		t.Errorf("zip of a non-run directory: status %d, want 404", rec.Code)
	}
}

// manyRuns writes n small runs with varied settings and verdicts.
func manyRuns(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		start := base.Add(time.Duration(i) * time.Minute)
		db := []string{"zabnode", "zookeeper"}[i%2]
		run := filepath.Join(dir, "t"+db, start.Format(runDirLayout))
		if err := os.MkdirAll(run, 0o755); err != nil {
			t.Fatal(err)
		}
		info, _ := json.Marshal(map[string]any{"name": "t" + db, "db": db, "workload": []string{"register", "set", "lock"}[i%3],
			"nemesis": []string{"kill"}, "start": start, "incomplete": i%7 == 6})
		if err := os.WriteFile(filepath.Join(run, testFile), info, 0o644); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			continue // no results.json: incomplete
		}
		v := []checker.Verdict{checker.Valid, checker.Invalid, checker.Unknown}[i%3]
		sum, _ := json.Marshal(checker.Summary{Verdict: v, Perf: &checker.Perf{Counts: map[string]map[string]int{"read": {"ok": i}}}})
		if err := os.WriteFile(filepath.Join(run, resultsFile), sum, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var rowRe = regexp.MustCompile(`<tr class="run" data-verdict="([a-z]+)">`)

func TestIndexPagination(t *testing.T) {
	dir := manyRuns(t, 230)
	h := newTestServer(t, dir).Handler()
	tests := []struct {
		target   string
		status   int
		rows     int
		contains string
	}{
		{"/", 200, 100, "page 1 of 3"},
		{"/?page=2", 200, 100, "page 2 of 3"},
		{"/?page=3", 200, 30, "page 3 of 3"},
		{"/?page=9", 200, 30, "page 3 of 3"},
		{"/?page=0", 400, 100, "page must be a positive integer"},
		{"/?page=abc", 400, 100, "page must be a positive integer"},
		{"/?sort=bogus", 400, 100, "sort must be one of"},
		{"/?order=up", 400, 100, "order must be asc or desc"},
		{"/?verdict=maybe", 400, 100, "verdict must be"},
		{"/?q=zookeeper", 200, 100, "115 of 230 runs"},
		{"/?q=zookeeper&page=2", 200, 15, "page 2 of 2"},
		{"/?q=no-such-run", 200, 0, "No runs match"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := get(t, h, tt.target)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			body := rec.Body.String()
			if got := len(rowRe.FindAllString(body, -1)); got != tt.rows {
				t.Errorf("rows: got %d, want %d", got, tt.rows)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestIndexFilterAndSort(t *testing.T) {
	dir := manyRuns(t, 40)
	h := newTestServer(t, dir).Handler()
	for _, v := range []string{"valid", "invalid", "unknown", "incomplete"} {
		t.Run("verdict "+v, func(t *testing.T) {
			body := get(t, h, "/?verdict="+v).Body.String()
			rows := rowRe.FindAllStringSubmatch(body, -1)
			if len(rows) == 0 {
				t.Fatalf("no %s runs listed", v)
			}
			for _, r := range rows {
				if r[1] != v {
					t.Errorf("verdict filter %s listed a %s run", v, r[1])
				}
			}
		})
	}
	t.Run("ops ascending", func(t *testing.T) {
		body := get(t, h, "/?sort=ops&order=asc&verdict=valid").Body.String()
		re := regexp.MustCompile(`<td class="num">(\d+)</td>`)
		prev := -1
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			var n int
			fmt.Sscan(m[1], &n)
			if n < prev {
				t.Fatalf("ops not ascending: %d after %d", n, prev)
			}
			prev = n
		}
		if prev < 0 {
			t.Fatal("no ops column")
		}
	})
	t.Run("sort links keep the filter", func(t *testing.T) {
		body := get(t, h, "/?q=zookeeper").Body.String()
		if !strings.Contains(body, `href="/?q=zookeeper&amp;sort=name&amp;order=asc"`) && !strings.Contains(body, `href="/?order=asc&amp;q=zookeeper&amp;sort=name"`) {
			t.Errorf("name column link does not keep the filter")
		}
	})
}

func TestSelectRuns(t *testing.T) {
	var runs []RunInfo
	for i := range 250 {
		runs = append(runs, RunInfo{Path: fmt.Sprintf("t/%03d", i), Name: fmt.Sprintf("run%03d", i), Ops: 250 - i,
			Time: time.Unix(int64(i), 0), Verdict: []checker.Verdict{checker.Valid, checker.Invalid}[i%2]})
	}
	tests := []struct {
		name      string
		q         indexQuery
		wantFirst string
		wantLen   int
		wantPages int
	}{
		{"newest first", indexQuery{Page: 1, Sort: sortTime, Desc: true}, "run249", 100, 3},
		{"last page", indexQuery{Page: 3, Sort: sortTime, Desc: true}, "run049", 50, 3},
		{"by ops ascending", indexQuery{Page: 1, Sort: sortOps}, "run249", 100, 3},
		{"by name", indexQuery{Page: 1, Sort: sortName}, "run000", 100, 3},
		{"filter", indexQuery{Page: 1, Sort: sortName, Filter: "RUN24"}, "run240", 10, 1},
		{"verdict", indexQuery{Page: 2, Sort: sortName, Verdict: "invalid"}, "run201", 25, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := selectRuns(runs, tt.q)
			if len(got.Runs) != tt.wantLen || got.Pages != tt.wantPages {
				t.Fatalf("got %d runs in %d pages, want %d in %d", len(got.Runs), got.Pages, tt.wantLen, tt.wantPages)
			}
			if got.Runs[0].Name != tt.wantFirst {
				t.Errorf("first: got %s, want %s", got.Runs[0].Name, tt.wantFirst)
			}
		})
	}
}

func TestListRuns(t *testing.T) {
	results, _ := resultsTree(t)
	// A run that never got results and one whose test.json says interrupted.
	for _, name := range []string{"noresults", "interrupted"} {
		dir := filepath.Join(results, name, "20261125T110000.000")
		copyDir(t, filepath.Join("testdata", "run1"), dir)
		if name == "noresults" {
			os.Remove(filepath.Join(dir, resultsFile))
		} else {
			os.WriteFile(filepath.Join(dir, testFile), []byte(`{"name":"interrupted","incomplete":true}`), 0o644)
		}
	}
	runs, err := ListRuns(results)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RunInfo{}
	for _, r := range runs {
		got[r.Path] = r
	}
	if len(runs) != 3 {
		t.Fatalf("got %d runs (%v), want 3: symlinks must not duplicate runs", len(runs), got)
	}
	r := got[runRel]
	if r.Verdict != checker.Invalid || r.DB != "zabnode" || r.Workload != "register" || r.Ops != 150 || !r.HasReport {
		t.Errorf("fixture run: got %+v", r)
	}
	if v := got["noresults/20261125T110000.000"].Verdict; v != Incomplete {
		t.Errorf("run without results: verdict %s, want incomplete", v)
	}
	if v := got["interrupted/20261125T110000.000"].Verdict; v != Incomplete {
		t.Errorf("interrupted run: verdict %s, want incomplete", v)
	}
	if n := got["noresults/20261125T110000.000"].Ops; n != 150 {
		t.Errorf("ops counted from the history: got %d, want 150", n)
	}
	if _, err := ListRuns(filepath.Join(results, "nope")); err == nil {
		t.Error("ListRuns of a missing directory: no error")
	}
}

func TestServeShutsDown(t *testing.T) {
	results, _ := resultsTree(t)
	s := newTestServer(t, results)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveOn(ctx, ln, s, slog.New(slog.DiscardHandler)) }()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/?q=" + url.QueryEscape("register"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), runRel) {
		t.Errorf("index over HTTP: status %d, run listed %v", resp.StatusCode, strings.Contains(string(body), runRel))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveOn: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serveOn did not return after cancel")
	}
}

func TestServeBadArgs(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := Serve(ctx, "127.0.0.1:0", filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("Serve of a missing directory: no error")
	}
	if err := Serve(ctx, "not-an-address", t.TempDir(), nil); err == nil {
		t.Error("Serve on a bad address: no error")
	}
}
