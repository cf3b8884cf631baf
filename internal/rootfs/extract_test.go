package rootfs

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tarOf builds a data tar the way dpkg-deb prints one ("./" names),
// owned by the test's user so that it runs without root too.
func tarOf(t *testing.T, entries []tar.Header, bodies map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h.Size = int64(len(bodies[h.Name]))
		h.Uid, h.Gid = os.Getuid(), os.Getgid()
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1672924800, 0)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(bodies[h.Name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// An older link where a file lands: replaced, as dpkg does.
	if err := os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "usr", "bin", "dash")); err != nil {
		t.Fatal(err)
	}
	data := tarOf(t, []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/dash", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "./bin/sh", Typeflag: tar.TypeSymlink, Linkname: "dash", Mode: 0o777},
		{Name: "./usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755},
		{Name: "./sbin/ip", Typeflag: tar.TypeLink, Linkname: "./bin/dash"},
		{Name: "./usr/share/doc/dash/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/share/doc/dash/copyright", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./usr/share/doc/dash/changelog.gz", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./usr/share/man/man1/dash.1.gz", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./var/tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
	}, map[string]string{"./bin/dash": "ELF", "./usr/share/doc/dash/copyright": "GPL", "./usr/share/doc/dash/changelog.gz": "x", "./usr/share/man/man1/dash.1.gz": "x"})
	if err := extractTar(root, bytes.NewReader(data), "amd64"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usr", "bin", "dash")); string(b) != "ELF" || err != nil {
		t.Errorf("usr/bin/dash = %q, %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "usr", "bin", "dash")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 ||
		!fi.ModTime().Equal(time.Unix(1672924800, 0)) {
		t.Errorf("usr/bin/dash: %v, %v", fi, err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "usr", "bin", "sh")); got != "dash" {
		t.Errorf("usr/bin/sh -> %q", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "usr", "bin", "su")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("usr/bin/su lost its setuid bit: %v, %v", fi, err)
	}
	a, _ := os.Stat(filepath.Join(dir, "usr", "bin", "dash"))
	b, err := os.Stat(filepath.Join(dir, "usr", "sbin", "ip"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("usr/sbin/ip is not a hard link of usr/bin/dash: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "var", "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("var/tmp lost its sticky bit: %v, %v", fi, err)
	}
	for path, want := range map[string]bool{"usr/share/doc/dash/copyright": true, "usr/share/doc/dash/changelog.gz": false,
		"usr/share/man/man1/dash.1.gz": false, "bin": false, "sbin": false} {
		if _, err := os.Lstat(filepath.Join(dir, path)); (err == nil) != want {
			t.Errorf("%s exists %v, want %v", path, err == nil, want)
		}
	}
}

func TestExtractTarRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"dot-dot":       {{Name: "./../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"inner dot-dot": {{Name: "./usr/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute":      {{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		// A link out of the root, then a file through it: the write must
		// not follow the link to the host.
		"through a link": {
			{Name: "./usr/escape", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "./usr/escape/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		},
		"device": {{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666}},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if err := extractTar(root, bytes.NewReader(tarOf(t, entries, nil)), "amd64"); err == nil {
				t.Error("accepted")
			}
			if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
				t.Error("wrote outside the root")
			}
			if _, err := os.Lstat("/tmp/evil"); err == nil {
				t.Error("wrote /tmp/evil on the host")
			}
		})
	}
}

func TestDropped(t *testing.T) {
	for name, want := range map[string]bool{
		"usr/share/doc/dash":              false,
		"usr/share/doc/dash/copyright":    false,
		"usr/share/doc/dash/changelog.gz": true,
		"usr/share/doc/dash/examples/x":   true,
		"usr/share/man/man1/dash.1.gz":    true,
		"usr/share/locale/de/LC_MESSAGES": true,
		"usr/share/debianutils/shells.d":  false,
		"usr/bin/man":                     false,
	} {
		if got := dropped(name); got != want {
			t.Errorf("dropped(%q) = %v, want %v", name, got, want)
		}
	}
}
