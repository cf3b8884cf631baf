package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/node/storage"
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
			err := run(context.Background(), slog.New(slog.DiscardHandler), []string{write("bad.cfg", tc.cfg)})
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
		if err := run(context.Background(), slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Fatalf("got %v, want a usage error", err)
		}
	})
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeConfig writes a one-server zoo.cfg and myid in a new dataDir and
// returns the config's path and the admin server's address.
func writeConfig(t *testing.T, extra string) (cfgPath, dataDir, admin string) {
	t.Helper()
	dataDir = t.TempDir()
	adminPort := freePort(t)
	cfg := fmt.Sprintf("tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.serverPort=%d\nserver.1=127.0.0.1:%d:%d\n%s",
		dataDir, freePort(t), adminPort, freePort(t), freePort(t), extra)
	cfgPath = filepath.Join(dataDir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir, net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
}

// TestEnableFailpointsFlag: the admin server arms a failpoint only when
// zabnode was started with --enable-failpoints (or the zoo.cfg key), and
// binds loopback when admin.serverAddress is not set.
func TestEnableFailpointsFlag(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		extra string
		want  int
	}{
		{"default refuses", nil, "", http.StatusForbidden},
		{"flag enables", []string{"--enable-failpoints"}, "", http.StatusNoContent},
		{"zoo.cfg key enables", nil, "zabnode.enableFailpoints=true\n", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgPath, _, admin := writeConfig(t, tc.extra)
			// The hang guard only: run returns as soon as ctx is cancelled.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			done := make(chan error, 1)
			go func() { done <- run(ctx, slog.New(slog.DiscardHandler), append(tc.args, cfgPath)) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()
			var code int
			var body string
			for {
				// The admin server is up once New has bound it; until
				// then the dial is refused. Each try is a real request,
				// so this waits on the server, not on a clock.
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+admin+"/failpoints/crash-after-send", strings.NewReader("ACKEPOCH"))
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					code, body = resp.StatusCode, string(b)
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("admin server never answered: %v", err)
				}
				select {
				case err := <-done:
					t.Fatalf("run ended early: %v", err)
				case <-time.After(20 * time.Millisecond): // poll interval
				}
			}
			if code != tc.want {
				t.Fatalf("PUT /failpoints: %d %q, want %d", code, body, tc.want)
			}
			if code == http.StatusForbidden && !strings.Contains(body, "--enable-failpoints") {
				t.Errorf("refusal %q does not say how to enable failpoints", body)
			}
		})
	}
}

// TestRefusesEpochFilesBehindLog: a data directory whose log reaches
// epoch 9 but whose epoch files are gone does not start; the one-line
// error names the missing file.
func TestRefusesEpochFilesBehindLog(t *testing.T) {
	cfgPath, dataDir, _ := writeConfig(t, "")
	st, err := storage.Open(dataDir, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Log.Commit(storage.Record{Zxid: 9<<32 | 1, Data: []byte("txn")}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	err = run(context.Background(), slog.New(slog.DiscardHandler), []string{cfgPath})
	want := filepath.Join(dataDir, "version-2", storage.AcceptedEpochFile)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("run = %v, want one line naming %s", err, want)
	}
}

// TestPprofAddress: zabnode.pprofAddress serves Go's profiles there, and
// nothing is served without it.
func TestPprofAddress(t *testing.T) {
	pprofAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cfgPath, _, _ := writeConfig(t, "zabnode.pprofAddress="+pprofAddr+"\n")
	// The hang guard only: run returns as soon as ctx is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), []string{cfgPath}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/goroutine?debug=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "goroutine profile") {
				t.Fatalf("GET goroutine profile: %d %.200q", resp.StatusCode, b)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pprof endpoint never answered: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

func TestPprofAddressRejectsBadAddress(t *testing.T) {
	cfgPath, _, _ := writeConfig(t, "zabnode.pprofAddress=6060\n")
	err := run(context.Background(), slog.New(slog.DiscardHandler), []string{cfgPath})
	if err == nil || !strings.Contains(err.Error(), "zabnode.pprofAddress") {
		t.Fatalf("run = %v, want an error naming zabnode.pprofAddress", err)
	}
}
