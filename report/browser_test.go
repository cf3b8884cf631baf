package report

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
)

// chromiumTimeout bounds one chromium invocation; the machine is shared.
const chromiumTimeout = 90 * time.Second

// findChromium returns Debian's chromium, installing it when running as
// root in CI, or skips the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 || os.Getenv("CI") == "" {
		t.Skip("chromium not installed (apt-get install -y chromium); the browser test installs it itself only as root with CI set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"install", "-y", "-qq", "chromium"}, {"update", "-qq"}, {"install", "-y", "-qq", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err == nil && args[0] == "install" {
			break
		}
		if err != nil {
			t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 5))
		}
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium could not be installed with apt-get")
	}
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// chromium runs headless chromium on url with extra args. Background
// networking is off and a dead loopback proxy catches anything that is not
// loopback, so the test sends no traffic off the machine.
func chromium(t *testing.T, bin, profile, url string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), chromiumTimeout)
	defer cancel()
	args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile,
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
		"--disable-client-side-phishing-detection", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--proxy-server=http://127.0.0.1:9", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, lastLines(errb.String(), 20))
	}
	return out.String(), errb.String()
}

// consoleErrors picks page errors from chromium's log.
func consoleErrors(stderr string) []string {
	var errs []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "CONSOLE") && (strings.Contains(l, "Uncaught") || strings.Contains(l, "Error")) {
			errs = append(errs, l)
		}
	}
	return errs
}

var drawnRe = regexp.MustCompile(`<canvas id="timeline"[^>]*data-drawn="(\d+)"`)

func TestBrowserRendersPages(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	bin := findChromium(t)
	results, _ := resultsTree(t)
	// A run of two workloads: the op link selects a set op, whose
	// description names its workload.
	const multiRel = "multi/20261125T110000.000"
	multi := filepath.Join(results, filepath.FromSlash(multiRel))
	copyDir(t, filepath.Join("testdata", "multi"), multi)
	if err := Render(multi, nil); err != nil {
		t.Fatal(err)
	}
	// A watch run: its panel's SVG must not upset the page's script.
	const watchRel = "watch/20261125T120000.000"
	watchSrc, _, _ := watchRun(t)
	watchDir := filepath.Join(results, filepath.FromSlash(watchRel))
	copyDir(t, watchSrc, watchDir)
	if err := Render(watchDir, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newTestServer(t, results).Handler()) // binds 127.0.0.1
	defer srv.Close()
	shots := os.Getenv("ZABCHECK_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	// The fixture's linearizability check cites a read's completion; a link
	// to it must select the read's pair (invoked at or before it).
	var sum checker.Summary
	b, err := os.ReadFile(filepath.Join(results, filepath.FromSlash(runRel), resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil || len(sum.Checks) == 0 || len(sum.Checks[0].Ops) == 0 {
		t.Fatalf("fixture results cite no op: %v", err)
	}
	cited := sum.Checks[0].Ops[len(sum.Checks[0].Ops)-1]
	pages := []struct {
		name, url  string
		wantDrawn  bool
		wantInPage string
	}{
		{"index", srv.URL + "/", false, runRel},
		{"report", srv.URL + "/runs/" + runRel + "/", true, `id="overall-verdict"`},
		{"report-file", "file://" + filepath.ToSlash(filepath.Join(results, filepath.FromSlash(runRel), reportFile)), true, `id="overall-verdict"`},
		{"report-op-link", srv.URL + "/runs/" + runRel + "/#op-" + strconv.FormatInt(cited, 10), true, `id="tl-selected" class="mono" data-op="`},
		{"report-workloads", srv.URL + "/runs/" + multiRel + "/#op-15", true, "· workload set · node n1</div>"},
		{"report-watch", srv.URL + "/runs/" + watchRel + "/#watch", true, `<svg class="watch-timeline"`},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			dom, stderr := chromium(t, bin, profile, p.url, "--dump-dom")
			if !strings.Contains(dom, p.wantInPage) {
				t.Fatalf("DOM lacks %q; chromium log:\n%s", p.wantInPage, lastLines(stderr, 20))
			}
			if !strings.Contains(dom, `id="js-status" data-state="ok"`) {
				m := regexp.MustCompile(`(?s)<ul id="js-errors">(.*?)</ul>`).FindStringSubmatch(dom)
				t.Errorf("page script did not finish cleanly; recorded errors: %v", m)
			}
			if errs := consoleErrors(stderr); len(errs) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
			}
			if p.wantDrawn {
				m := drawnRe.FindStringSubmatch(dom)
				if m == nil {
					t.Fatal("timeline canvas was not drawn")
				}
				if n, _ := strconv.Atoi(m[1]); n == 0 {
					t.Error("timeline drew no operations")
				}
			}
			if p.name == "report-op-link" {
				m := regexp.MustCompile(`id="tl-selected" class="mono" data-op="(\d+)">Selected: op (\d+)`).FindStringSubmatch(dom)
				if m == nil || m[1] == "" {
					t.Fatalf("#op-%d selected nothing", cited)
				}
				if n, _ := strconv.ParseInt(m[1], 10, 64); n > cited || n < cited-40 {
					t.Errorf("#op-%d selected op %d, want the invocation of op %d", cited, n, cited)
				}
				w := regexp.MustCompile(`data-window="(\d+)-(\d+)"`).FindStringSubmatch(dom)
				if w == nil {
					t.Fatal("timeline window not recorded")
				}
				lo, _ := strconv.Atoi(w[1])
				hi, _ := strconv.Atoi(w[2])
				if hi-lo >= 3_000_000 {
					t.Errorf("timeline window %d-%dµs is not zoomed on the op", lo, hi)
				}
			}
			shot := filepath.Join(shots, p.name+".png")
			chromium(t, bin, profile, p.url, "--screenshot="+shot, "--window-size=1400,2200")
			st, err := os.Stat(shot)
			if err != nil || st.Size() == 0 {
				t.Fatalf("no screenshot at %s: %v", shot, err)
			}
			t.Logf("screenshot: %s", shot)
		})
	}
}
