package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeLog(t *testing.T, dir, node, log string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, node), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, node, CollectLogFile), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Only lazyfs's own failures count: its error line, or a panic whose
// trace runs through its code. The node's panic and lazyfs's ordinary
// lines are not failures.
func TestLazyFSFailuresNamesOnlyLazyFS(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "n1", `2026-12-06T03:00:00Z time=x level=INFO msg="lazyfs serving" mount=/lazy
2026-12-06T03:00:05Z time=x level=ERROR msg="lazyfs failed" err="serve: read /dev/fuse: no such device"
`)
	writeLog(t, dir, "n2", `2026-12-06T03:00:00Z time=x level=INFO msg="lazyfs serving" mount=/lazy
2026-12-06T03:00:03Z panic: runtime error: index out of range [3] with length 3
2026-12-06T03:00:03Z
2026-12-06T03:00:03Z goroutine 12 [running]:
2026-12-06T03:00:03Z github.com/zabcheck/zabcheck/lazyfs.(*Model).Write(...)
2026-12-06T03:00:03Z 	github.com/zabcheck/zabcheck/lazyfs/model.go:210 +0x1a4
`)
	writeLog(t, dir, "n3", `2026-12-06T03:00:03Z panic: zabnode: impossible zxid
2026-12-06T03:00:03Z goroutine 1 [running]:
2026-12-06T03:00:03Z github.com/zabcheck/zabcheck/node/zab.(*Node).Step(...)
2026-12-06T03:00:03Z time=x level=INFO msg="lazyfs: node exited" status=2
`)
	writeLog(t, dir, "n4", "")
	writeLog(t, dir, "n5", `2026-12-06T03:00:03Z SIGABRT: abort
2026-12-06T03:00:03Z PC=0x47a1c1 m=0 sigcode=0
2026-12-06T03:00:03Z goroutine 1 [syscall]:
2026-12-06T03:00:03Z main.runNode({0xc000120000, 0x3, 0x3})
2026-12-06T03:00:03Z 	github.com/zabcheck/zabcheck/cmd/lazyfs/supervise.go:88 +0x1c5
`)
	got, err := LazyFSFailures(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !strings.HasPrefix(got[0], "n1: ") || !strings.Contains(got[0], "no such device") ||
		!strings.HasPrefix(got[1], "n2: lazyfs panic: runtime error") || got[2] != "n5: lazyfs SIGABRT: abort" {
		t.Fatalf("LazyFSFailures = %q", got)
	}
}
