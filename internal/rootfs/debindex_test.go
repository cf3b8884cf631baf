package rootfs

import (
	"reflect"
	"strings"
	"testing"
)

// A hand-written index in the shape of bookworm's: versions, arch
// qualifiers, alternatives, a virtual package, a long Description.
const testPackages = `Package: iptables
Version: 1.8.9-2
Installed-Size: 2408
Depends: libxtables12 (= 1.8.9-2), netbase (>= 6.0), libc6 (>= 2.34)
Description: administration tools for packet filtering and NAT
 iptables/ip6tables - administration tools for IPv4/IPv6 packet
 filtering and NAT.
Filename: pool/main/i/iptables/iptables_1.8.9-2_amd64.deb
Size: 360192
SHA256: aaaa

Package: libxtables12
Version: 1.8.9-2
Pre-Depends: libc6:any (>= 2.34)
Filename: pool/main/i/iptables/libxtables12_1.8.9-2_amd64.deb
Size: 30000
SHA256: bbbb

Package: libc6
Version: 2.36-9+deb12u14
Depends: libgcc-s1
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2757936
SHA256: cccc

Package: libgcc-s1
Version: 12.2.0-14
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14_amd64.deb
Size: 49000
SHA256: dddd

Package: gcc-12-base
Version: 12.2.0-14
Filename: pool/main/g/gcc-12/gcc-12-base_12.2.0-14_amd64.deb
Size: 37000
SHA256: eeee

Package: netbase
Version: 6.4
Filename: pool/main/n/netbase/netbase_6.4_all.deb
Size: 12800
SHA256: ffff

Package: base-files
Version: 12.4+deb12u11
Pre-Depends: awk
Filename: pool/main/b/base-files/base-files_12.4+deb12u11_amd64.deb
Size: 70936
SHA256: 1111

Package: mawk
Version: 1.3.4.20200120-3.1
Provides: awk
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 110000
SHA256: 2222

Package: dash
Version: 0.5.12-2
Depends: debianutils (>= 5.6-0.1), dpkg (>= 1.19.1)
Pre-Depends: libc6 (>= 2.34)
Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb
Size: 91848
SHA256: 3333

Package: debianutils
Version: 5.7-0.5~deb12u1
Filename: pool/main/d/debianutils/debianutils_5.7-0.5~deb12u1_amd64.deb
Size: 102588
SHA256: 4444

Package: dpkg
Version: 1.21.22
Filename: pool/main/d/dpkg/dpkg_1.21.22_amd64.deb
Size: 1567804
SHA256: 5555

Package: iproute2
Version: 6.1.0-3
Depends: debconf (>= 0.5) | debconf-2.0, libc6 (>= 2.34), libcap2-bin | nonexistent
Filename: pool/main/i/iproute2/iproute2_6.1.0-3_amd64.deb
Size: 1045828
SHA256: 6666

Package: debconf
Version: 1.5.82
Filename: pool/main/d/debconf/debconf_1.5.82_all.deb
Size: 121212
SHA256: 7777

Package: libcap2-bin
Version: 1:2.66-4
Filename: pool/main/libc/libcap2/libcap2-bin_2.66-4_amd64.deb
Size: 35220
SHA256: 8888

Package: procps
Version: 2:4.0.2-3
Depends: libc6 (>= 2.34), sysvinit-utils | init-system-helpers
Filename: pool/main/p/procps/procps_4.0.2-3_amd64.deb
Size: 708712
SHA256: 9999

Package: init-system-helpers
Version: 1.65.2
Filename: pool/main/i/init-system-helpers/init-system-helpers_1.65.2_all.deb
Size: 40000
SHA256: abab

Package: netbase
Version: 99
Filename: pool/main/n/netbase/netbase_99_all.deb
Size: 1
SHA256: dup
`

func TestParsePackages(t *testing.T) {
	idx, err := parsePackages(strings.NewReader(testPackages))
	if err != nil {
		t.Fatal(err)
	}
	ipt := idx.Pkgs["iptables"]
	want := debPkg{Name: "iptables", Version: "1.8.9-2", Filename: "pool/main/i/iptables/iptables_1.8.9-2_amd64.deb",
		SHA256: "aaaa", Size: 360192, Depends: [][]string{{"libxtables12"}, {"netbase"}, {"libc6"}}}
	if !reflect.DeepEqual(ipt, want) {
		t.Errorf("iptables = %+v\nwant %+v", ipt, want)
	}
	// Pre-Depends come first, and ":any" is dropped.
	if got := idx.Pkgs["dash"].Depends; !reflect.DeepEqual(got, [][]string{{"libc6"}, {"debianutils"}, {"dpkg"}}) {
		t.Errorf("dash depends = %v", got)
	}
	if got := idx.Pkgs["iproute2"].Depends[0]; !reflect.DeepEqual(got, []string{"debconf", "debconf-2.0"}) {
		t.Errorf("iproute2's first group = %v", got)
	}
	if got := idx.Providers["awk"]; !reflect.DeepEqual(got, []string{"mawk"}) {
		t.Errorf("providers of awk = %v", got)
	}
	// The first of two stanzas of a name wins.
	if got := idx.Pkgs["netbase"].Version; got != "6.4" {
		t.Errorf("netbase version %s, want the first stanza's 6.4", got)
	}
}

func TestParsePackagesNeedsFilenameAndSum(t *testing.T) {
	if _, err := parsePackages(strings.NewReader("Package: x\nVersion: 1\n")); err == nil {
		t.Fatal("a stanza without Filename and SHA256 was accepted")
	}
}

func TestParseDepends(t *testing.T) {
	got := parseDepends("a (>= 1:2.0), b:any | c [amd64] <!nocheck>, d|e")
	want := [][]string{{"a"}, {"b", "c"}, {"d", "e"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDepends = %v, want %v", got, want)
	}
	if got := parseDepends(""); got != nil {
		t.Errorf("parseDepends(\"\") = %v", got)
	}
}

func names(pkgs []debPkg) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name)
	}
	return out
}

func TestResolve(t *testing.T) {
	idx, err := parsePackages(strings.NewReader(testPackages))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolve(idx, []string{"iptables", "base-files", "dash", "iproute2", "procps"}, []string{"dpkg", "debconf"})
	if err != nil {
		t.Fatal(err)
	}
	// Transitive (libc6 -> libgcc-s1 -> gcc-12-base, with the cycle back
	// to libc6), sorted; alternatives take the first real package
	// (libcap2-bin; init-system-helpers, since sysvinit-utils is not in
	// the index); excluded ones are skipped even as a first alternative
	// (debconf), and so is a virtual-only group (awk, though mawk
	// provides it).
	want := []string{"base-files", "dash", "debianutils", "gcc-12-base", "init-system-helpers", "iproute2", "iptables",
		"libc6", "libcap2-bin", "libgcc-s1", "libxtables12", "netbase", "procps"}
	if got := names(res.Pkgs); !reflect.DeepEqual(got, want) {
		t.Errorf("packages = %v\nwant %v", got, want)
	}
	wantSkipped := []string{"base-files -> awk: virtual", "dash -> dpkg: excluded", "iproute2 -> debconf: excluded"}
	if !reflect.DeepEqual(res.Skipped, wantSkipped) {
		t.Errorf("skipped = %q\nwant %q", res.Skipped, wantSkipped)
	}
}

// A virtual name is met by a chosen package that provides it.
func TestResolveVirtualMetByAChosenProvider(t *testing.T) {
	idx, err := parsePackages(strings.NewReader(testPackages))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolve(idx, []string{"mawk", "base-files"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Pkgs); !reflect.DeepEqual(got, []string{"base-files", "mawk"}) || len(res.Skipped) != 0 {
		t.Errorf("packages = %v, skipped %v; want base-files and mawk, none skipped", got, res.Skipped)
	}
}

func TestResolveUnknownRoot(t *testing.T) {
	idx, err := parsePackages(strings.NewReader(testPackages))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(idx, []string{"awk"}, nil); err == nil {
		t.Fatal("a virtual root was accepted")
	}
}

func TestReleaseSHA256(t *testing.T) {
	release := `Origin: Debian
Codename: bookworm
MD5Sum:
 a8ed68071e02b40b231febcafb3f55aa 12084798 main/binary-amd64/Packages.gz
SHA256:
 515e692f 50060337 main/binary-amd64/Packages
 6777ea16 12084798 main/binary-amd64/Packages.gz
 9e0b5aab  8790396 main/binary-amd64/Packages.xz
`
	sum, size, err := releaseSHA256(release, "bookworm", "main/binary-amd64/Packages.gz")
	if sum != "6777ea16" || size != 12084798 || err != nil {
		t.Errorf("releaseSHA256 = %q, %d, %v", sum, size, err)
	}
	if _, _, err := releaseSHA256(release, "trixie", "main/binary-amd64/Packages.gz"); err == nil {
		t.Error("another codename was accepted")
	}
	if _, _, err := releaseSHA256(release, "bookworm", "main/binary-arm64/Packages.gz"); err == nil {
		t.Error("a path the Release does not list was accepted")
	}
}
