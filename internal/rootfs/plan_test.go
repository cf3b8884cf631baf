package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMergedPath(t *testing.T) {
	cases := []struct{ arch, in, want string }{
		{"amd64", "bin/dash", "usr/bin/dash"},
		{"amd64", "bin", "usr/bin"},
		{"amd64", "lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2"},
		{"arm64", "lib64/x", "lib64/x"},
		{"amd64", "sbin/ip", "usr/sbin/ip"},
		{"amd64", "usr/bin/tar", "usr/bin/tar"},
		{"amd64", "binutils/x", "binutils/x"},
		{"amd64", "etc/bin/x", "etc/bin/x"},
	}
	for _, tc := range cases {
		if got := mergedPath(tc.in, tc.arch); got != tc.want {
			t.Errorf("mergedPath(%q, %s) = %q, want %q", tc.in, tc.arch, got, tc.want)
		}
	}
}

// The plan holds what the harness relies on: merged /usr, /bin/sh, the
// nft variant of iptables, root in /etc/passwd.
func TestSlimFixupsPlan(t *testing.T) {
	links := map[string]string{}
	files := map[string]string{}
	for _, f := range slimFixups("amd64") {
		switch {
		case f.Link != "":
			links[f.Path] = f.Link
		case !f.Dir:
			files[f.Path] = f.Data
		}
	}
	for path, target := range map[string]string{
		"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64",
		"usr/bin/sh":                 "dash",
		"usr/sbin/iptables":          "/etc/alternatives/iptables",
		"etc/alternatives/iptables":  "/usr/sbin/iptables-nft",
		"etc/alternatives/ip6tables": "/usr/sbin/ip6tables-nft",
		"var/run":                    "/run",
	} {
		if links[path] != target {
			t.Errorf("link %s -> %q, want %q", path, links[path], target)
		}
	}
	if !strings.HasPrefix(files["etc/passwd"], "root:x:0:0:") || !strings.Contains(files["etc/group"], "\nstaff:x:50:\n") {
		t.Errorf("accounts:\n%s\n%s", files["etc/passwd"], files["etc/group"])
	}
	for _, f := range slimFixups("arm64") {
		if f.Path == "lib64" {
			t.Error("arm64 plan links lib64")
		}
	}
}

// applyFixups replaces an empty directory, a file or another link with a
// link, keeps a link that is already right, and refuses to hide files.
func TestApplyFixups(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "usr", "bin", "dash"), "")
	writeFile(t, filepath.Join(dir, "etc", "old"), "x")
	for _, d := range []string{"var/run", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("elsewhere", filepath.Join(dir, "usr", "sbin", "iptables")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	err = applyFixups(root, []fixup{
		{Path: "usr/bin", Dir: true, Mode: 0o755},
		{Path: "bin", Link: "usr/bin"},
		{Path: "var/run", Link: "/run"},
		{Path: "etc/old", Link: "new"},
		{Path: "usr/sbin/iptables", Link: "/etc/alternatives/iptables"},
		{Path: "etc/alternatives/iptables", Link: "/usr/sbin/iptables-nft"},
		{Path: "run/lock", Dir: true, Mode: os.ModeSticky | 0o777},
		{Path: "etc/passwd", Data: "root:x:0:0::/root:/bin/sh\n", Mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"bin": "usr/bin", "var/run": "/run", "etc/old": "new",
		"usr/sbin/iptables": "/etc/alternatives/iptables", "etc/alternatives/iptables": "/usr/sbin/iptables-nft"} {
		if got, err := os.Readlink(filepath.Join(dir, path)); got != want || err != nil {
			t.Errorf("%s -> %q, %v; want %q", path, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "run", "lock")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("run/lock: %v, %v; want drwxrwxrwt", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc", "passwd")); string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("etc/passwd = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "dash")); err != nil {
		t.Errorf("bin/dash through the link: %v", err)
	}
	// A directory with files in it is not replaced.
	if err := applyFixups(root, []fixup{{Path: "usr", Link: "elsewhere"}}); err == nil {
		t.Error("a link replaced a directory that has files")
	}
}
