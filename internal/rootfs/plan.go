package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// mergedDirs are the top-level directories that bookworm's merged /usr
// makes symlinks into usr/ (what debootstrap sets up by default): amd64's
// ELF interpreter is /lib64/ld-linux-x86-64.so.2, other architectures
// have no /lib64.
func mergedDirs(arch string) []string {
	if arch == "amd64" {
		return []string{"bin", "sbin", "lib", "lib64"}
	}
	return []string{"bin", "sbin", "lib"}
}

// mergedPath maps a path inside a package to where it lives on a merged
// /usr system: bin/dash is usr/bin/dash. Extracting there directly, rather
// than through the symlinks, keeps every write a plain one inside the root.
func mergedPath(name, arch string) string {
	first, _, _ := strings.Cut(name, "/")
	for _, d := range mergedDirs(arch) {
		if first == d {
			return "usr/" + name
		}
	}
	return name
}

// fixup is one thing that a skipped maintainer script (or debootstrap's
// own set-up) would have made in the root file system.
type fixup struct {
	Path string // relative to the root
	// Link is the symlink's target; when empty the fixup writes Data.
	Link string
	Data string
	Mode fs.FileMode // of a file, or of a directory Dir makes
	Dir  bool        // make a directory (Mode) instead
}

// alternatives are the iptables package's update-alternatives: each
// postinst installs the legacy (priority 10) and nft (20) variants, and
// the higher one wins in auto mode, so a fresh Debian uses iptables-nft
// (xtables-nft-multi), which is what the harness expects in the images.
// Each entry is a master or slave link, its alternative's name and the
// chosen target.
var alternatives = [][3]string{
	{"usr/sbin/iptables", "iptables", "/usr/sbin/iptables-nft"},
	{"usr/sbin/iptables-restore", "iptables-restore", "/usr/sbin/iptables-nft-restore"},
	{"usr/sbin/iptables-save", "iptables-save", "/usr/sbin/iptables-nft-save"},
	{"usr/sbin/ip6tables", "ip6tables", "/usr/sbin/ip6tables-nft"},
	{"usr/sbin/ip6tables-restore", "ip6tables-restore", "/usr/sbin/ip6tables-nft-restore"},
	{"usr/sbin/ip6tables-save", "ip6tables-save", "/usr/sbin/ip6tables-nft-save"},
	{"usr/sbin/arptables", "arptables", "/usr/sbin/arptables-nft"},
	{"usr/sbin/arptables-restore", "arptables-restore", "/usr/sbin/arptables-nft-restore"},
	{"usr/sbin/arptables-save", "arptables-save", "/usr/sbin/arptables-nft-save"},
	{"usr/sbin/ebtables", "ebtables", "/usr/sbin/ebtables-nft"},
	{"usr/sbin/ebtables-restore", "ebtables-restore", "/usr/sbin/ebtables-nft-restore"},
	{"usr/sbin/ebtables-save", "ebtables-save", "/usr/sbin/ebtables-nft-save"},
}

// slimFixups lists, in order, what the slim build does after unpacking.
// The accounts are base-passwd's fixed ids (its passwd.master and
// group.master) that anything in this image may look up: root, the
// system groups that own files in the packages (staff owns /var/local)
// and nobody. No ld.so.cache: glibc's loader searches the multiarch
// library directories, where every library of these packages is,
// without one (the chroot test proves the binaries run).
func slimFixups(arch string) []fixup {
	var out []fixup
	for _, d := range mergedDirs(arch) {
		out = append(out, fixup{Path: "usr/" + d, Dir: true, Mode: 0o755}, fixup{Path: d, Link: "usr/" + d})
	}
	// base-files' postinst turns these two directories into links.
	out = append(out,
		fixup{Path: "run/lock", Dir: true, Mode: fs.ModeSticky | 0o777},
		fixup{Path: "var/run", Link: "/run"},
		fixup{Path: "var/lock", Link: "/run/lock"},
		// dash ships this link in bookworm; its postinst would make it
		// if not, so make sure.
		fixup{Path: "usr/bin/sh", Link: "dash"},
	)
	for _, a := range alternatives {
		out = append(out,
			fixup{Path: "etc/alternatives/" + a[1], Link: a[2]},
			fixup{Path: a[0], Link: "/etc/alternatives/" + a[1]})
	}
	out = append(out,
		fixup{Path: "etc/passwd", Mode: 0o644, Data: "root:x:0:0:root:/root:/bin/bash\n" +
			"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
			"bin:x:2:2:bin:/bin:/usr/sbin/nologin\n" +
			"sys:x:3:3:sys:/dev:/usr/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		fixup{Path: "etc/group", Mode: 0o644, Data: "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n" +
			"disk:x:6:\nmail:x:8:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65534:\n"},
		fixup{Path: "etc/shadow", Mode: 0o640, Data: "root:*:19000:0:99999:7:::\n"},
		// libc-bin's postinst writes the same from its own copy.
		fixup{Path: "etc/nsswitch.conf", Mode: 0o644, Data: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"},
	)
	return out
}

// applyFixups makes each fixup in root. A link replaces a file, a link
// or an empty directory in its place (base-files ships var/run as a
// directory; a package's own link may already be there).
func applyFixups(root *os.Root, fixups []fixup) error {
	for _, f := range fixups {
		if err := applyFixup(root, f); err != nil {
			return fmt.Errorf("fixup %s: %w", f.Path, err)
		}
	}
	return nil
}

func applyFixup(root *os.Root, f fixup) error {
	if dir := path.Dir(f.Path); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch {
	case f.Dir:
		if err := root.MkdirAll(f.Path, f.Mode.Perm()); err != nil {
			return err
		}
		return root.Chmod(f.Path, f.Mode)
	case f.Link != "":
		if fi, err := root.Lstat(f.Path); err == nil {
			if fi.Mode()&fs.ModeSymlink != 0 {
				if cur, err := root.Readlink(f.Path); err == nil && cur == f.Link {
					return nil
				}
			}
			// Remove fails on a directory that is not empty: the plan
			// would be hiding files, which is a bug to report.
			if err := root.Remove(f.Path); err != nil {
				return err
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return root.Symlink(f.Link, f.Path)
	default:
		if err := root.WriteFile(f.Path, []byte(f.Data), f.Mode); err != nil {
			return err
		}
		return root.Chmod(f.Path, f.Mode)
	}
}
