package docker

import (
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var targetNameRE = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)

// TestTargetRegistry checks every registered target: it is described, runs
// an image of the images table, renders a sane zoo.cfg and claims only
// capabilities it backs with data.
func TestTargetRegistry(t *testing.T) {
	if len(Targets()) == 0 {
		t.Fatal("no targets registered")
	}
	if got, want := TargetNames(), []string{DBZabnode, DBZooKeeper, DBZooKeeper39}; !slices.Equal(got, want) {
		t.Errorf("TargetNames() = %v, want %v", got, want)
	}
	if got, want := DefaultTargetNames(), []string{DBZabnode, DBZooKeeper}; !slices.Equal(got, want) {
		t.Errorf("DefaultTargetNames() = %v, want %v (3.9 is opt-in)", got, want)
	}
	seen := map[string]bool{}
	for _, tg := range Targets() {
		t.Run(tg.Name, func(t *testing.T) {
			if !targetNameRE.MatchString(tg.Name) || seen[tg.Name] {
				t.Errorf("name %q is not a unique lower-case name", tg.Name)
			}
			seen[tg.Name] = true
			if got, err := LookupTarget(tg.Name); err != nil || got.Name != tg.Name {
				t.Errorf("LookupTarget(%q) = %q, %v", tg.Name, got.Name, err)
			}
			if tg.Summary == "" || strings.ContainsAny(tg.Summary, "\n\r") {
				t.Errorf("summary %q: want one non-empty line", tg.Summary)
			}
			spec, ok := imageSpecFor(tg.Image)
			if !ok {
				t.Fatalf("image %q is not in the images table (%v)", tg.Image, ImageNames())
			}
			if tg.Tag() != spec.Tag || TagFor(tg.Name) != spec.Tag {
				t.Errorf("Tag() = %q, TagFor = %q, want %q", tg.Tag(), TagFor(tg.Name), spec.Tag)
			}
			if tg.FromSource != (len(spec.Binaries) > 0) {
				t.Errorf("FromSource = %v, but image %s builds binaries %q", tg.FromSource, spec.Name, spec.Binaries)
			}
			if !tg.CanBuild("..") {
				t.Errorf("CanBuild(repo root) = false")
			}
			if got := tg.CanBuild(t.TempDir()); got == tg.FromSource {
				t.Errorf("CanBuild(empty dir) = %v, want %v", got, !tg.FromSource)
			}
			for _, k := range tg.ExtraKeys {
				if !strings.HasPrefix(k, tg.Name+".") {
					t.Errorf("own key %q is not named %s.<key>", k, tg.Name)
				}
			}
			if tg.ProfileKey != "" && !slices.Contains(tg.ExtraKeys, tg.ProfileKey) {
				t.Errorf("profile key %q is not one of its own keys %v", tg.ProfileKey, tg.ExtraKeys)
			}
			if tg.Capabilities.SeededBugs != (tg.SeededBugKey != "") || (tg.SeededBugKey != "" && !slices.Contains(tg.ExtraKeys, tg.SeededBugKey)) {
				t.Errorf("SeededBugs %v with seeded-bug key %q (own keys %v)", tg.Capabilities.SeededBugs, tg.SeededBugKey, tg.ExtraKeys)
			}
			if tg.Capabilities.Coverage != (tg.readCoverage != nil) {
				t.Errorf("Coverage %v but readCoverage set: %v", tg.Capabilities.Coverage, tg.readCoverage != nil)
			}
			if tg.Capabilities.StateDump != (tg.collect != nil) {
				t.Errorf("StateDump %v but collect set: %v", tg.Capabilities.StateDump, tg.collect != nil)
			}
			extra := map[string]string{"maxSessionTimeout": "8000"}
			for k, v := range tg.Durable.Extra {
				extra[k] = v
			}
			if tg.Durable.Note == "" {
				t.Error("Durable.Note is empty")
			}
			cfg := Config{DB: tg.Name, Voters: 3, Observers: 1, TestID: "registry", Extra: extra}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate with the target's durable keys: %v", err)
			}
			cfg = cfg.withDefaults()
			nodes := planNodes(cfg.Voters, cfg.Observers, netip.MustParsePrefix("10.213.7.0/24"))
			checkZooCfg(t, renderZooCfg(tg, cfg, nodes, nodes[3]), cfg, true)
			checkZooCfg(t, renderZooCfg(tg, cfg, nodes, nodes[0]), cfg, false)
		})
	}
}

// checkZooCfg: every line is a comment or key=value, no key twice, the core
// keys and every server line present.
func checkZooCfg(t *testing.T, cfg string, c Config, observer bool) {
	t.Helper()
	keys := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(cfg, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || v == "" || strings.ContainsAny(k, " \t") {
			t.Errorf("line %q is not key=value", line)
		}
		if keys[k] {
			t.Errorf("key %q twice", k)
		}
		keys[k] = true
	}
	for k := range coreKeys {
		if want := k != "dataLogDir" && (k != "peerType" || observer); keys[k] != want {
			t.Errorf("core key %q rendered: %v, want %v", k, keys[k], want)
		}
	}
	for i := 1; i <= c.Voters+c.Observers; i++ {
		if !keys["server."+string(rune('0'+i))] {
			t.Errorf("no server.%d line", i)
		}
	}
	for k := range c.Extra {
		if !keys[k] {
			t.Errorf("Extra key %q not rendered", k)
		}
	}
}

func TestLookupTargetUnknown(t *testing.T) {
	_, err := LookupTarget("etcd")
	if !errors.Is(err, ErrUnknownTarget) || !strings.Contains(err.Error(), `"etcd" (known: zabnode, zookeeper, zookeeper-3.9)`) {
		t.Errorf("LookupTarget(etcd) = %v, want ErrUnknownTarget listing the known names", err)
	}
	if TagFor("etcd") != "" {
		t.Errorf("TagFor(etcd) = %q, want \"\"", TagFor("etcd"))
	}
}

// Targets hands out a copy: a caller cannot edit the registry.
func TestTargetsIsACopy(t *testing.T) {
	ts := Targets()
	ts[0].Name = "changed"
	if Targets()[0].Name == "changed" {
		t.Error("Targets() returned the registry itself")
	}
}
