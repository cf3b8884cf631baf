package rootfs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlimRunsTheHarnessCommands builds the slim root file system from
// the host's mirror and runs, chrooted into it, the commands the harness
// and its integration tests exec in a zabnode container. It needs root
// and the mirror, and runs in fresh network, mount and pid namespaces:
// the rules and qdiscs it adds never touch the host's network.
func TestSlimRunsTheHarnessCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads packages from the Debian mirror")
	}
	if err := CheckSlim(); err != nil {
		t.Skipf("cannot build here: %v", err)
	}
	for _, tool := range []string{"unshare", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	mirror, err := Mirror("")
	if err != nil {
		t.Skipf("no mirror: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = httpGet(pctx, mirror+"/dists/"+Suite+"/Release", io.Discard)
	pcancel()
	if err != nil {
		t.Skipf("mirror unreachable: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "slim")
	start := time.Now()
	if err := BuildSlim(ctx, dir, mirror, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		t.Fatal(err)
	}
	t.Logf("BuildSlim took %v", time.Since(start).Round(time.Millisecond))
	if !SlimReady(dir) {
		t.Fatal("a finished build is not SlimReady")
	}
	script := `set -e
iptables -w -A INPUT -p tcp --dport 2888 -m statistic --mode random --probability 0.5 -j DROP
iptables -w -S
readlink -f /usr/sbin/iptables
ip link set lo up
tc qdisc add dev lo root handle 10: tbf rate 1mbit burst 32kbit latency 400ms
tc qdisc show dev lo
tc qdisc del dev lo root handle 10:
ps -e
timeout 1 true
timeout 1 sleep 5 || echo "timeout status $?"
tar --version | head -n 1
kill -0 1
echo from-sh; bash -c 'echo bash $BASH_VERSION'
hostname
id -un
mkdir -p /data/x && rm -rf /data
tar -C / -cf - etc/debian_version | tar -tf -
ls -ld /bin /sbin /lib /lib64 /bin/sh /tmp /var/run
`
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--pid", "--fork",
		"--mount-proc="+filepath.Join(dir, "proc"), "--", "chroot", dir, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	t.Logf("chroot output:\n%s", out)
	if err != nil {
		t.Fatalf("commands in the slim root file system: %v", err)
	}
	for _, want := range []string{
		"-A INPUT -p tcp -m tcp --dport 2888 -m statistic --mode random --probability 0.5",
		"/usr/sbin/xtables-nft-multi",
		"qdisc tbf 10: root",
		"timeout status 124",
		"tar (GNU tar)",
		"from-sh", "bash 5.",
		"\nroot\n",
		"etc/debian_version",
		"/bin -> usr/bin", "/lib64 -> usr/lib64", "/bin/sh -> dash", "/var/run -> /run",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
