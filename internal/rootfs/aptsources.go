package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Source is one (type, URI, suites, components) entry of an apt source
// list, whichever format it came from.
type Source struct {
	Type       string // "deb" or "deb-src"
	URI        string
	Suites     []string
	Components []string
}

// parseOneLineSources parses the classic one-line format
// ("deb [opts] uri suite [component...]").
func parseOneLineSources(data string) []Source {
	var out []Source
	for _, line := range strings.Split(data, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		if typ != "deb" && typ != "deb-src" {
			continue
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		out = append(out, Source{Type: typ, URI: f[0], Suites: []string{f[1]}, Components: f[2:]})
	}
	return out
}

// parseDeb822Sources parses the deb822 format (*.sources): stanzas of
// "Field: value" lines separated by blank lines, with folded continuation
// lines and "Enabled: no" stanzas skipped.
func parseDeb822Sources(data string) []Source {
	var out []Source
	for _, stanza := range deb822Stanzas(data) {
		if strings.EqualFold(stanza["enabled"], "no") {
			continue
		}
		uris := strings.Fields(stanza["uris"])
		suites := strings.Fields(stanza["suites"])
		comps := strings.Fields(stanza["components"])
		for _, typ := range strings.Fields(stanza["types"]) {
			for _, uri := range uris {
				out = append(out, Source{Type: typ, URI: uri, Suites: suites, Components: comps})
			}
		}
	}
	return out
}

// deb822Stanzas splits data into stanzas of lower-cased field names.
func deb822Stanzas(data string) []map[string]string {
	var stanzas []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			stanzas = append(stanzas, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
			// Comments do not end a stanza.
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return stanzas
}

// debianSuites are suite names that identify a Debian archive (as opposed
// to third-party repositories such as a vendor's "nodistro" or
// "cloud-sdk-bookworm").
var debianSuites = map[string]bool{
	"bookworm": true, "trixie": true, "forky": true, "bullseye": true, "buster": true,
	"sid": true, "stable": true, "testing": true, "unstable": true, "oldstable": true,
}

// PickMirror chooses the mirror debootstrap should use: the first binary
// source that serves a Debian release suite with the main component.
func PickMirror(sources []Source) (string, error) {
	for _, s := range sources {
		if s.Type != "deb" || !slices.Contains(s.Components, "main") {
			continue
		}
		for _, suite := range s.Suites {
			if debianSuites[suite] {
				return strings.TrimRight(s.URI, "/"), nil
			}
		}
	}
	return "", errors.New("no Debian archive (a deb source with a release suite and component main) in the apt sources")
}

// HostAptSources reads the host's apt source lists under root ("/" on a
// real machine): sources.list and sources.list.d/*.list in the one-line
// format, sources.list.d/*.sources in deb822.
func HostAptSources(root string) ([]Source, error) {
	dir := filepath.Join(root, "etc", "apt")
	var out []Source
	if data, err := os.ReadFile(filepath.Join(dir, "sources.list")); err == nil {
		out = append(out, parseOneLineSources(string(data))...)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sources.list.d"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, "sources.list.d", name)
		switch filepath.Ext(name) {
		case ".sources":
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read apt sources: %w", err)
			}
			out = append(out, parseDeb822Sources(string(data))...)
		case ".list":
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read apt sources: %w", err)
			}
			out = append(out, parseOneLineSources(string(data))...)
		}
	}
	return out, nil
}
