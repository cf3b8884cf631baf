package docker

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

var entrypointRE = regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])\s*$`)

// TestEntrypointsMatchDockerfiles keeps Target.Entrypoint equal to its
// image's ENTRYPOINT: on a lazy fs, lazyfs starts the target with it.
func TestEntrypointsMatchDockerfiles(t *testing.T) {
	for _, tg := range Targets() {
		spec, _ := imageSpecFor(tg.Image)
		b, err := os.ReadFile(filepath.Join(spec.Dir, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		m := entrypointRE.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no exec-form ENTRYPOINT in %s/Dockerfile", tg.Name, spec.Dir)
		}
		var want []string
		if err := json.Unmarshal(m[1], &want); err != nil {
			t.Fatalf("%s: ENTRYPOINT %s: %v", tg.Name, m[1], err)
		}
		if !slices.Equal(tg.Entrypoint, want) {
			t.Errorf("%s: Entrypoint = %q, Dockerfile says %q", tg.Name, tg.Entrypoint, want)
		}
		if tg.Capabilities.LazyFS && !slices.Contains(spec.Binaries, "lazyfs") {
			t.Errorf("%s claims LazyFS but its image does not carry lazyfs (binaries %q)", tg.Name, spec.Binaries)
		}
		ep := lazyFSEntrypoint(tg, 7)
		if i := slices.Index(ep, "--"); i < 0 || !slices.Equal(ep[i+1:], want) || !slices.Contains(ep, "7") {
			t.Errorf("%s: lazy fs entrypoint %q does not end in -- and the image's entrypoint", tg.Name, ep)
		}
	}
}

func TestLazyFSConfig(t *testing.T) {
	for _, tg := range Targets() {
		cfg := Config{DB: tg.Name, Voters: 3, TestID: "lazy", LazyFS: true}
		if err := cfg.Validate(); (err == nil) != tg.Capabilities.LazyFS {
			t.Errorf("%s: Validate with LazyFS = %v, capability %v", tg.Name, err, tg.Capabilities.LazyFS)
		}
		cfg = cfg.withDefaults()
		nodes := planNodes(3, 0, netip.MustParsePrefix("10.213.7.0/24"))
		zc := renderZooCfg(tg, cfg, nodes, nodes[0])
		if !strings.Contains(zc, "\ndataDir="+LazyFSMount+"\n") {
			t.Errorf("%s: zoo.cfg on a lazy fs has no dataDir=%s:\n%s", tg.Name, LazyFSMount, zc)
		}
		cfg.LazyFS = false
		if zc := renderZooCfg(tg, cfg, nodes, nodes[0]); !strings.Contains(zc, "\ndataDir="+DataVolume+"\n") {
			t.Errorf("%s: zoo.cfg without a lazy fs has no dataDir=%s", tg.Name, DataVolume)
		}
	}
	var hc container.HostConfig
	lazyFSHost(&hc)
	if !slices.Contains(hc.CapAdd, "SYS_ADMIN") || len(hc.Devices) != 1 || hc.Devices[0].PathOnHost != "/dev/fuse" {
		t.Errorf("lazyFSHost: %+v", hc)
	}
}
