package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// debPkg is what the slim build needs of one Packages stanza.
type debPkg struct {
	Name     string
	Version  string
	Filename string // relative to the mirror's root
	SHA256   string
	Size     int64
	// Depends holds Pre-Depends then Depends: one entry per comma-separated
	// group, each the names of its alternatives in order, versions and
	// architecture qualifiers dropped (the index has one version of each
	// package, so there is nothing to choose between).
	Depends  [][]string
	Provides []string
}

// debIndex is a parsed Packages file: packages by name, and for each
// virtual (provided) name the packages that provide it.
type debIndex struct {
	Pkgs      map[string]debPkg
	Providers map[string][]string
}

// parsePackages reads a Packages file. It keeps the first stanza of a
// name (a few, such as linux-doc, appear twice in bookworm; none the
// slim image needs) and only the fields the build uses, since the file is
// some 50 MB for 60,000 packages.
func parsePackages(r io.Reader) (debIndex, error) {
	idx := debIndex{Pkgs: map[string]debPkg{}, Providers: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var cur debPkg
	var pre, deps string
	flush := func() error {
		if cur.Name == "" {
			cur, pre, deps = debPkg{}, "", ""
			return nil
		}
		if cur.Filename == "" || cur.SHA256 == "" {
			return fmt.Errorf("parse Packages: %s has no Filename or SHA256", cur.Name)
		}
		cur.Depends = append(parseDepends(pre), parseDepends(deps)...)
		if _, dup := idx.Pkgs[cur.Name]; !dup {
			idx.Pkgs[cur.Name] = cur
			for _, v := range cur.Provides {
				idx.Providers[v] = append(idx.Providers[v], cur.Name)
			}
		}
		cur, pre, deps = debPkg{}, "", ""
		return nil
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if err := flush(); err != nil {
				return idx, err
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // a continuation: only Description has them here
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Filename":
			cur.Filename = v
		case "SHA256":
			cur.SHA256 = v
		case "Size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return idx, fmt.Errorf("parse Packages: %s: bad Size %q", cur.Name, v)
			}
			cur.Size = n
		case "Pre-Depends":
			pre = v
		case "Depends":
			deps = v
		case "Provides":
			for _, g := range parseDepends(v) {
				cur.Provides = append(cur.Provides, g...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return idx, fmt.Errorf("parse Packages: %w", err)
	}
	if err := flush(); err != nil {
		return idx, err
	}
	return idx, nil
}

// parseDepends splits a relationship field ("a (>= 1) | b:any, c
// [amd64]") into groups of alternative names.
func parseDepends(field string) [][]string {
	var out [][]string
	for _, group := range strings.Split(field, ",") {
		var alts []string
		for _, alt := range strings.Split(group, "|") {
			alt = strings.TrimSpace(alt)
			if i := strings.IndexAny(alt, " (<["); i >= 0 {
				alt = alt[:i]
			}
			alt, _, _ = strings.Cut(alt, ":")
			if alt != "" {
				alts = append(alts, alt)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// resolution is the closure of the slim image's packages.
type resolution struct {
	Pkgs []debPkg // sorted by name
	// Skipped names each dependency group that was left unmet, and why:
	// an excluded package, or a virtual name no chosen package provides.
	Skipped []string
}

// resolve takes roots and everything they depend on, recursively: for a
// group of alternatives, one already chosen (or provided by a chosen
// package) if any, else the first that is a real package. A group of
// virtual names only (base-files' "awk") is skipped: what asks for a
// capability that way is, in the packages of this image, a maintainer
// script, and maintainer scripts are not run. Excluded names are never
// taken, whoever depends on them, and a group that names one is left
// unmet rather than met by a later alternative (debconf | debconf-2.0).
func resolve(idx debIndex, roots, exclude []string) (resolution, error) {
	chosen := map[string]bool{}
	var queue []string
	var res resolution
	for _, r := range roots {
		if _, ok := idx.Pkgs[r]; !ok {
			return res, fmt.Errorf("resolve: root package %s is not in the index", r)
		}
		if !chosen[r] {
			chosen[r] = true
			queue = append(queue, r)
		}
	}
	provided := func(name string) bool {
		for _, p := range idx.Providers[name] {
			if chosen[p] {
				return true
			}
		}
		return false
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, group := range idx.Pkgs[name].Depends {
			if slices.ContainsFunc(group, func(a string) bool { return chosen[a] || provided(a) }) {
				continue
			}
			if i := slices.IndexFunc(group, func(a string) bool { return slices.Contains(exclude, a) }); i >= 0 {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s -> %s: excluded", name, group[i]))
				continue
			}
			pick := ""
			for _, a := range group {
				if _, ok := idx.Pkgs[a]; ok {
					pick = a
					break
				}
			}
			if pick == "" {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s -> %s: virtual", name, strings.Join(group, " | ")))
				continue
			}
			chosen[pick] = true
			queue = append(queue, pick)
		}
	}
	for n := range chosen {
		res.Pkgs = append(res.Pkgs, idx.Pkgs[n])
	}
	slices.SortFunc(res.Pkgs, func(a, b debPkg) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// releaseSHA256 returns the SHA256 and size that a Release file's
// "SHA256:" section lists for path (such as main/binary-amd64/Packages.gz)
// and checks that the file is for codename.
func releaseSHA256(release, codename, path string) (string, int64, error) {
	inSHA, gotCodename := false, ""
	sum, size := "", int64(-1)
	for _, line := range strings.Split(release, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			k, v, _ := strings.Cut(line, ":")
			inSHA = k == "SHA256"
			if k == "Codename" {
				gotCodename = strings.TrimSpace(v)
			}
			continue
		}
		if !inSHA {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == path {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return "", 0, fmt.Errorf("release: bad size for %s: %q", path, f[1])
			}
			sum, size = f[0], n
		}
	}
	if gotCodename != codename {
		return "", 0, fmt.Errorf("release: codename %q, want %q", gotCodename, codename)
	}
	if sum == "" {
		return "", 0, fmt.Errorf("release: no SHA256 for %s", path)
	}
	return sum, size, nil
}
